import copy

import pytest
import yaml
from conftest import ROOT, SCHEMA, TINY

from softlabels.errors import ConfigError
from softlabels.pipeline import config as C


def _tiny():
    return yaml.safe_load(TINY.read_text())


def test_default_and_tiny_configs_validate_with_defaults_filled():
    for path in (ROOT / "config.yaml", TINY):
        cfg = C.load(path, SCHEMA)
        assert cfg["compute"]["device"] == "auto"
        for st in cfg["students"].values():
            assert {"regime", "replicates", "resampling", "epochs", "lr"} <= set(st)
        for ds in cfg["datasets"].values():
            assert "seed" in ds


@pytest.mark.parametrize("mutate,pattern", [
    (lambda c: c["students"]["theory"].update(replicats=3), r"students\.theory.*replicats"),
    (lambda c: c.update(dataset={}), r"dataset"),
    (lambda c: c["methods"].update(bad={"kind": "distill"}), r"methods\.bad\.kind.*'distill'"),
    (lambda c: c["datasets"].update(x={"kind": "imagenet"}), r"datasets\.x\.kind"),
    (lambda c: c["students"]["theory"].update(widths=[2, 3]), r"students\.theory\.widths.*even"),
    (lambda c: c["students"]["practical"].update(widths=[-4]), r"students\.practical\.widths"),
    (lambda c: c["methods"]["kd"].update(temperature=0), r"methods\.kd"),
    (lambda c: c["methods"]["kd"].update(temperature=-1.0), r"methods\.kd"),
    (lambda c: c["students"]["practical"].update(replicates=1), r"students\.practical\.replicates.*at least 2"),
    (lambda c: c["experiments"]["neurons"].update(methods=["hard", "kdd"]), r"experiments\.neurons\.methods.*'kdd'"),
    (lambda c: c["datasets"]["easy"].update(marign=0.3), r"datasets\.easy.*marign"),
    (lambda c: c["teachers"].update(none={}), r"teachers"),
])
def test_bad_config_gives_one_clear_error_naming_the_key(mutate, pattern):
    cfg = _tiny()
    mutate(cfg)
    with pytest.raises(ConfigError, match=pattern):
        C.validate(cfg, SCHEMA)


def test_temperature_sweep_expands_into_variants():
    cfg = C.validate(_tiny(), SCHEMA)
    v = C.method_variants(cfg)
    assert v["kd-tau-T1"]["temperature"] == 1.0 and v["kd-tau-T4"]["temperature"] == 4.0
    assert "kd-tau" not in v
    cells = C.experiment_cells(cfg)["biasvar"]
    assert {c.method for c in cells} >= {"kd-tau-T1", "kd-tau-T4", "hard", "ls"}
    assert all(c.teacher == "none" for c in cells if c.method in ("hard", "ls"))


def test_slices_hold_only_what_the_rule_reads():
    cfg = C.validate(_tiny(), SCHEMA)
    st = C.student_slice(cfg, "theory")
    assert st["widths"] == [2, 8] and st["seed"] == cfg["seed"]  # one MLP job trains all the setup's widths
    cfg2 = copy.deepcopy(cfg)
    cfg2["students"]["theory"]["widths"] = [8, 2, 2]
    assert C.student_slice(cfg2, "theory") == st             # the same widths in another order: the same job
    cfg2["students"]["theory"]["widths"].append(16)
    cfg2["methods"]["kd"]["temperature"] = 3.0
    assert C.student_slice(cfg2, "theory") == {**st, "widths": [2, 8, 16]}
    assert C.student_slice(cfg2, "practical") == C.student_slice(cfg, "practical")  # other setups untouched
    assert C.method_slice(cfg2, "wsl") == C.method_slice(cfg, "wsl")
    assert C.method_slice(cfg2, "kd") != C.method_slice(cfg, "kd")
    assert C.dataset_slice(cfg, "easy") == cfg["datasets"]["easy"]


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        C.load(tmp_path / "nope.yaml", SCHEMA)
    (tmp_path / "bad.yaml").write_text("datasets: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        C.load(tmp_path / "bad.yaml", SCHEMA)


def test_teacher_seeds_expand_into_one_teacher_per_seed_with_its_own_stream():
    from softlabels.pipeline.rules import TEACHER_REPLICATE_ID, teacher_replicate_id

    plain = C.validate(_tiny(), SCHEMA)
    cfg = _tiny()
    cfg["teachers"]["wide"]["seeds"] = [0, 1, 2]
    v = C.validate(cfg, SCHEMA)
    assert sorted(v["teachers"]) == ["wide-ls", "wide-s0", "wide-s1", "wide-s2"]
    assert v["experiments"]["biasvar"]["teachers"] == ["wide-s0", "wide-s1", "wide-s2", "wide-ls"]
    assert v["experiments"]["neurons"]["teachers"] == ["wide-s0", "wide-s1", "wide-s2"]
    assert C.teacher_seeds(v)["wide-s2"] == {"base": "wide", "seed": 2} and C.teacher_seeds(plain) == {}
    slices = {t: C.teacher_slice(v, t) for t in ("wide-s0", "wide-s1", "wide-s2")}
    assert all("seeds" not in s and s["variant_of"] == "wide" for s in slices.values())
    ids = [teacher_replicate_id(s) for s in slices.values()]
    assert len(set(ids)) == 3 and ids[0] == TEACHER_REPLICATE_ID  # every seed its own stream; seed 0 the old one
    # a teacher without seeds keeps its slice and its stream byte for byte
    assert C.teacher_slice(v, "wide-ls") == C.teacher_slice(plain, "wide-ls")
    assert teacher_replicate_id(C.teacher_slice(plain, "wide")) == TEACHER_REPLICATE_ID
    assert set(C.teacher_slice(plain, "wide")) == set(slices["wide-s0"]) - {"seed_offset", "variant_of"}


@pytest.mark.parametrize("mutate,pattern", [
    (lambda c: c["teachers"].update({"wide-s1": {"width": 8}}), r"teachers\.wide-s1: the name 'wide-s1' is given twice"),
    (lambda c: c["teachers"]["wide"].update(seeds=[1, 1]), r"teachers\.wide\.seeds.*listed twice"),
    (lambda c: c["teachers"]["wide"].update(seeds=[]), r"teachers\.wide\.seeds"),
    (lambda c: c["teachers"]["wide"].update(seeds=[-1]), r"teachers\.wide\.seeds"),
])
def test_bad_teacher_seeds_are_refused(mutate, pattern):
    cfg = _tiny()
    cfg["teachers"]["wide"]["seeds"] = [0, 1]
    mutate(cfg)
    with pytest.raises(ConfigError, match=pattern):
        C.validate(cfg, SCHEMA)
    with pytest.raises(ConfigError, match=r"teachers\.k\.seeds: the kernel-limit teacher"):
        C.expand_teacher_seeds({"teachers": {"k": {"model": "kernel", "seeds": [0, 1]}}, "experiments": {}})


def test_dry_run_plans_one_teacher_job_per_seed(tmp_path):
    from conftest import dry_run, micro_config, write_config

    cfg = micro_config()
    cfg["teachers"]["wide"]["seeds"] = [0, 1, 2]
    write_config(tmp_path, cfg)
    jobs = dry_run(tmp_path)
    teachers = sorted(j["wildcards"]["teacher"] for j in jobs if j["rule"] == "train_teacher")
    assert teachers == ["wide-s0", "wide-s1", "wide-s2"]
    kd = sorted(j["wildcards"]["teacher"] for j in jobs
                if j["rule"] == "train_students" and j["wildcards"].get("method") == "kd")
    assert kd == ["wide-s0", "wide-s1", "wide-s2"]


@pytest.mark.parametrize("mutate,pattern", [
    (lambda c: c["datasets"]["noisy"].pop("fresh_sets"),
     r"students\.practical\.resampling: fresh.*'noisy'.*fresh_sets 0: raise datasets\.noisy\.fresh_sets to at least 3"),
    (lambda c: c["datasets"]["noisy"].update(fresh_sets=2), r"fresh_sets 2: raise datasets\.noisy\.fresh_sets to at least 3"),
    (lambda c: c["experiments"]["biasvar"].update(datasets=["digits-r"]), r"'digits-r'.*kind 'digits'.*only synthetic"),
    (lambda c: c["datasets"]["digits-r"].update(fresh_sets=3), r"datasets\.digits-r.*fresh_sets"),
])
def test_fresh_resampling_needs_a_fresh_set_per_replicate(mutate, pattern):
    cfg = _tiny()  # practical: resampling fresh, 3 replicates; noisy: fresh_sets 3
    assert cfg["students"]["practical"]["resampling"] == "fresh" and cfg["datasets"]["noisy"]["fresh_sets"] == 3
    C.validate(copy.deepcopy(cfg), SCHEMA)  # one set per replicate: valid
    mutate(cfg)
    with pytest.raises(ConfigError, match=pattern):
        C.validate(cfg, SCHEMA)


def test_a_distilling_auto_radius_group_waits_for_its_b1_sibling():
    """The auto-radius group of a distilling method names its B = 1 sibling (where the theorem's radius of a
    student of the kernel-limit teacher resolves); teacher-free groups, numeric radii and lists without 1 none."""
    from conftest import micro_config

    from softlabels.pipeline import plan as P

    cfg = micro_config()
    cfg["datasets"]["easy"].update(target="kernel", target_hidden=2, margin=0.02)
    cfg["teachers"] = {"kernel": {"model": "kernel"}}
    cfg["students"]["theory"]["radius"] = [1, 4, "auto"]
    cfg["experiments"]["e"]["teachers"] = ["kernel"]
    full = C.validate(copy.deepcopy(cfg), SCHEMA)
    assert P.auto_radius_sibling(full, "theory-Bauto", "kernel") == "theory-B1"
    assert P.auto_radius_sibling(full, "theory-Bauto", "none") is None
    assert P.auto_radius_sibling(full, "theory-B4", "kernel") is None
    cfg["students"]["theory"]["radius"] = [4, "auto"]
    assert P.auto_radius_sibling(C.validate(copy.deepcopy(cfg), SCHEMA), "theory-Bauto", "kernel") is None


def test_slices_leave_out_the_keys_a_cell_does_not_read():
    """A kernel-limit teacher reads no key; the practical regime no radius; the theory regime (full-batch projected
    gradient descent) no optimizer, momentum, weight decay or batch size; an auto radius reads the smallest ε,
    not the others (docs/development.md's re-run table)."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["teachers"]["kern"] = {"model": "kernel"}
    cfg["students"]["auto"] = {"regime": "theory", "widths": [2], "radius": "auto"}
    before = C.validate(copy.deepcopy(cfg), SCHEMA)
    cfg["teachers"]["kern"].update(epochs=7, lr=0.5, label_smoothing=0.1)
    cfg["students"]["practical"]["radius"] = 2.0
    cfg["students"]["theory"].update(optimizer="sgd", momentum=0.5, weight_decay=0.1, batch_size=4)
    cfg["tables"]["epsilons"] = [0.1]  # the smallest kept
    after = C.validate(copy.deepcopy(cfg), SCHEMA)
    assert C.teacher_slice(after, "kern") == C.teacher_slice(before, "kern") == {"model": "kernel"}
    for st in ("practical", "theory", "auto"):
        assert C.student_slice(after, st) == C.student_slice(before, st), st
    cfg["tables"]["epsilons"] = [0.3]  # the smallest changed: the auto radius's target error
    assert C.student_slice(C.validate(cfg, SCHEMA), "auto")["radius_epsilon"] == 0.3
    assert C.student_slice(before, "auto")["radius_epsilon"] == 0.1
    assert C.student_slice(after, "theory")["lr"] == 4.0 and "batch_size" in C.student_slice(after, "practical")


def test_dataset_draws_expand_into_one_data_set_per_draw_with_its_own_seed():
    plain = C.validate(_tiny(), SCHEMA)
    cfg = _tiny()
    cfg["datasets"]["easy"].update(draws=3, seed=10)
    v = C.validate(cfg, SCHEMA)
    assert v["experiments"]["neurons"]["datasets"] == ["easy-draw0", "easy-draw1", "easy-draw2", "mid", "hard"]
    slices = [C.dataset_slice(v, f"easy-draw{k}") for k in range(3)]
    assert [s["seed"] for s in slices] == [10, 11, 12]
    assert all("draws" not in s and s["draw_of"] == "easy" for s in slices) and [s["draw"] for s in slices] == [0, 1, 2]
    assert C.dataset_draws(v) == {f"easy-draw{k}": "easy" for k in range(3)} and C.dataset_draws(plain) == {}
    # a data set without draws keeps its slice byte for byte
    assert C.dataset_slice(v, "mid") == C.dataset_slice(plain, "mid")


@pytest.mark.parametrize("mutate,pattern", [
    # draws of two data sets sharing a seed would share a target function
    (lambda c: c["datasets"]["mid"].update(draws=2, seed=2), r"experiments\.neurons\.datasets: easy-draw1 and mid-draw0"),
    (lambda c: c["datasets"]["easy"].update(draws=0), r"datasets\.easy\.draws"),
    (lambda c: c["datasets"]["digits-r"].update(draws=2), r"datasets\.digits-r.*draws"),
    (lambda c: c["datasets"].update({"easy-draw1": {"kind": "synthetic", "margin": 0.1}}),
     r"datasets\.easy-draw1: the name 'easy-draw1' is given twice"),
])
def test_bad_dataset_draws_are_refused(mutate, pattern):
    cfg = _tiny()
    cfg["datasets"]["easy"].update(draws=2, seed=1)
    mutate(cfg)
    with pytest.raises(ConfigError, match=pattern):
        C.validate(cfg, SCHEMA)
