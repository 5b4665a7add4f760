"""Bad input that passed validation and failed later: each is refused by `softlabels validate`
and by the workflow before any job, with a message naming the config key; the job logs are never empty;
`softlabels summary` and `softlabels reference` outside a run or a checkout."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, SCHEMA, micro_config, snakemake, write_config

from softlabels.errors import ConfigError, InputError
from softlabels.pipeline import config as C
from softlabels.pipeline import plan
from softlabels.pipeline.rules import check_classes, split_lines


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "softlabels.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _rename(cfg: dict, section: str, old: str, new: str) -> None:
    cfg[section][new] = cfg[section].pop(old)
    for e in cfg["experiments"].values():
        e[section] = [new if n == old else n for n in e[section]]


def _kernel_teacher(c):
    c["teachers"]["kern"] = {"model": "kernel"}
    c["experiments"]["e"]["teachers"].append("kern")


# (id, how the micro config is spoilt, the phrase the message must hold: it names the key)
CASES = [
    ("name-300", lambda c: _rename(c, "datasets", "easy", "d" * 300),
     r"config key datasets\.d{20}…d{8}: the name is 300 characters long; names may have at most 64"),
    ("name-periodic", lambda c: _rename(c, "students", "theory", "th" + "e" * 25),
     r"config key students\.the+: the name ends in 'e' repeated 20 times or more, which Snakemake refuses"),
    ("epsilons-empty", lambda c: c["tables"].update(epsilons=[]),
     r"config key tables\.epsilons: \[\] should be non-empty"),
    ("epsilons-twice", lambda c: c["tables"].update(epsilons=[0.1, 0.1]),
     r"config key tables\.epsilons: 0\.1 is listed twice"),
    ("widths-twice", lambda c: c["students"]["theory"].update(widths=[4, 4]),
     r"config key students\.theory\.widths: 4 is listed twice"),
    ("experiment-list-twice", lambda c: c["experiments"]["e"].update(methods=["hard", "kd", "hard"]),
     r"config key experiments\.e\.methods: 'hard' is listed twice"),
    ("student-patience", lambda c: c["students"]["theory"].update(patience=5),
     r"config key students\.theory\.patience: 5 asks for early stopping .* data set 'easy' of experiments\.e "
     r"has no validation split \(set n_val > 0\)"),
    ("teacher-patience", lambda c: c["teachers"]["wide"].update(patience=3),
     r"config key teachers\.wide\.patience: 3 .*data set 'easy' of experiments\.e has no validation split"),
    ("relu-odd-hidden", lambda c: c["datasets"]["easy"].update(target="relu", target_hidden=7),
     r"config key datasets\.easy\.target_hidden: .*even number, got 7"),
    ("kernel-teacher-linear-data", _kernel_teacher,
     r"config key experiments\.e: teacher 'kern' \(teachers\.kern\.model: kernel\) needs data sets with the kernel "
     r"target .* data set 'easy' has target 'linear'"),
    ("one-point-split", lambda c: c["datasets"]["easy"].update(n_test=1),
     r"config key datasets\.easy\.n_test: a split of 1 point holds a single class"),
    ("dim-too-large", lambda c: c["datasets"]["easy"].update(dim=200000),
     r"config key datasets\.easy\.dim: 200000 is greater than the maximum of 100000"),
    ("data-memory", lambda c: c["datasets"]["easy"].update(dim=100000, target="relu"),
     r"config key datasets\.easy\.dim: building this data set would need about 29\.8 GiB of memory"),
    ("data-memory-fresh-sets", lambda c: c["datasets"]["easy"].update(dim=1000, n_train=10000, fresh_sets=200),
     r"config key datasets\.easy\.dim: building this data set would need about 22\.6 GiB of memory"),
    ("width-too-large", lambda c: c["students"]["theory"].update(widths=[4, 10_000_000]),
     r"config key students\.theory\.widths\.1: 10000000 is greater than the maximum of 1048576"),
    ("misspelt-key", lambda c: c["datasets"]["easy"].update(margn=c["datasets"]["easy"].pop("margin")),
     r"config key datasets\.easy: unknown key 'margn' \(did you mean 'margin'\?\)"),
    ("teacher-named-none", lambda c: _rename(c, "teachers", "wide", "none"),
     r"config key teachers\.none: 'none' is reserved \(the teacher of teacher-free methods\)"),
]


def _spoilt(mutate) -> dict:
    cfg = copy.deepcopy(micro_config())
    mutate(cfg)
    return cfg


@pytest.mark.parametrize("mutate,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_refuses_it_naming_the_key(mutate, pattern):
    with pytest.raises(ConfigError, match=pattern):
        C.validate(_spoilt(mutate), SCHEMA)


@pytest.mark.slow
@pytest.mark.parametrize("mutate,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_cli_and_the_workflow_refuse_it_before_any_job(mutate, pattern, tmp_path):
    import re

    path = write_config(tmp_path, _spoilt(mutate))
    r = cli("validate", path)
    assert r.returncode == 1 and re.search(pattern, r.stderr) and "Traceback" not in r.stderr, r.stderr
    proc = snakemake(tmp_path, "--dry-run", "--configfile", str(path), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and re.search(pattern, out), out[-3000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_name_check_matches_snakemakes_periodic_wildcard_check():
    from snakemake.io import PeriodicityDetector

    detector = PeriodicityDetector()
    names = ["a" * 19, "a" * 20, "x" + "a" * 19, "x" + "a" * 20, "ab" * 19 + "a", "ab" * 20, "b" + "ab" * 20,
             "abc" * 20, "abc" * 19 + "ab", "kd-" + "1" * 20, "k" * 20 + "x", "easy", "mnist-reduced", "a" * 64]
    for n in names:
        assert (C.periodic_suffix(n) is not None) == (detector.is_periodic(n) is not None), n


def test_paper_scale_configs_stay_valid():
    for path in ("config.yaml", "config/paper.yaml", "config/theory.yaml", "tests/configs/tiny.yaml"):
        C.load(ROOT / path, SCHEMA)


def test_the_deep_keys_of_the_unknown_key_message_are_the_schemas():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert C._DEEP_KEYS == set(schema["$defs"]["deep_training"]["properties"])


def test_a_misspelt_deep_key_names_the_closest_one():
    cfg = micro_config()
    cfg["teachers"]["wide"]["widht"] = 8
    with pytest.raises(ConfigError, match=r"teachers\.wide: unknown key 'widht' \(did you mean 'width'\?\)"):
        C.validate(cfg, SCHEMA)


@pytest.mark.parametrize("content,pattern", [
    (None, r"is a directory; give the config file"),
    (b"seed: 0\n\xff\xfe bad", r"not a text file in UTF-8"),
])
def test_validate_on_a_directory_or_a_binary_file_is_one_line(tmp_path, content, pattern):
    import re

    target = tmp_path / "cfg"
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    r = cli("validate", target)
    assert r.returncode == 1 and re.search(pattern, r.stderr) and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# --- a one-class split, found when the data are built ----------------------------------------

def test_make_data_refuses_a_one_class_split_naming_the_data_set_and_the_size(caplog):
    arrays = {"X_train": np.zeros((2, 3)), "y_train": np.array([1, 1]), "X_test": np.zeros((4, 3)),
              "y_test": np.array([0, 1, 0, 1])}
    with pytest.raises(InputError, match=r"config key datasets\.easy: its train split holds 2 point\(s\), all of "
                                         r"class 1; .* raise datasets\.easy\.n_train"):
        check_classes("easy", {"kind": "synthetic"}, arrays)
    arrays["y_train"] = np.array([0, 1])
    check_classes("easy", {"kind": "synthetic"}, arrays)
    arrays["y_test"] = np.array([1, 1, 1, 1])  # a one-class test split: warned about by name, not refused
    with caplog.at_level("WARNING", logger="softlabels"):
        check_classes("easy", {"kind": "synthetic"}, arrays)
    assert "datasets.easy: its test split holds 4 point(s), all of class 1" in caplog.text
    arrays["y_test"] = np.array([0, 1, 0, 1])
    assert split_lines(arrays)[0] == "train: 2 points, inputs (3,); classes 0: 1 (50.0%), 1: 1 (50.0%)"


@pytest.mark.slow
def test_the_workflow_stops_make_data_on_a_one_class_training_split(tmp_path):
    cfg = micro_config()
    cfg["datasets"]["easy"].update(n_train=2, seed=1)  # seed 1 draws two points of class 0
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", str(tmp_path / "config.yaml"), "--until", "make_data",
                     check=False)
    log = (tmp_path / "logs/make_data/easy.log").read_text()
    assert proc.returncode != 0 and "config key datasets.easy: its train split holds 2 point(s)" in log
    assert "raise datasets.easy.n_train" in proc.stdout + proc.stderr + log
    assert not (tmp_path / "results/data/easy/data.npz").exists()


# --- the logs of a run, and the summary ------------------------------------------------------

@pytest.mark.slow
def test_no_log_of_the_tiny_run_is_empty(tiny_run):
    logs = sorted(p for p in (tiny_run / "logs").rglob("*") if p.is_file())
    assert {p.relative_to(tiny_run / "logs").parts[0] for p in logs} >= {"make_data", "measure_margin", "tables"}
    empty = [str(p.relative_to(tiny_run)) for p in logs if p.stat().st_size == 0]
    assert not empty, f"empty logs: {empty}"
    data_log = next((tiny_run / "logs/make_data").iterdir()).read_text()
    assert "train: " in data_log and "classes 0: " in data_log
    margin_log = next((tiny_run / "logs/measure_margin").iterdir()).read_text()
    assert "margin solver: iteration 1/" in margin_log and "gamma " in margin_log
    assert " rows, " in (tiny_run / "logs/tables/wsl.log").read_text()
    for csv in (tiny_run / "results/tables").glob("*.csv"):  # the .md and .html beside every CSV are outputs
        assert csv.with_suffix(".md").is_file() and csv.with_suffix(".html").is_file()


@pytest.mark.slow
def test_summary_counts_the_configs_targets_and_every_figure(tiny_run):
    cfg = C.load(tiny_run / "config.yaml", SCHEMA)
    planned = set(plan.all_targets(cfg))
    figures = (tiny_run / "results/figures").iterdir()
    built = {str(p.relative_to(tiny_run)) for p in figures if p.suffix in (".png", ".svg")}
    built |= {str(p.relative_to(tiny_run)) for p in (tiny_run / "results/tables").glob("*.csv")}
    # the same targets as the workflow's rule all (regularization_epochs.csv comes with regularization.csv)
    assert planned == built - {"results/tables/regularization_epochs.csv"}
    r = cli("summary", cwd=tiny_run)
    assert r.returncode == 0, r.stderr
    n_fig = sum(t.startswith("results/figures/") for t in planned)
    n_tab = len(planned) - n_fig
    assert f"{len(planned)} of {len(planned)} targets present: {n_tab} tables" in r.stdout
    assert f"{n_fig} figure files" in r.stdout and n_fig > 0


def test_reference_outside_a_checkout_is_one_clear_line(tmp_path):
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "results" / "tables" / "claims_summary.csv").write_text("paper,claim\n")
    r = cli("reference", cwd=tmp_path)
    assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr
