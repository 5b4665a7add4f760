"""`softlabels validate` makes the checks a run makes before any job, on the same plan: outputs that would be one
file, raw_dir folders without their files, maxima; it warns (without refusing) about settings that run but cannot
mean anything; and it counts the jobs of Snakemake's own dry run."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest
from conftest import ROOT, SCHEMA, TINY, micro_config, planned_jobs, snakemake, write_config

from softlabels.errors import ConfigError
from softlabels.pipeline import config as C
from softlabels.pipeline import plan as P

CLASH = (r"config key experiments\.neurons: results/figures/crossover_needed_neurons\.png would be both the crossover "
         r"figure of experiments\.needed_neurons and the crossover_needed figure of experiments\.neurons")


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "softlabels.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _clashing() -> dict:
    """Two experiments with a radius list, named so that one's crossover figure is the other's needed-width
    figure (what Snakemake reported as an AmbiguousRuleException naming no key)."""
    cfg = micro_config()
    cfg["students"]["theory"]["radius"] = [1.0, 4.0]
    e = cfg["experiments"].pop("e")
    cfg["experiments"] = {"neurons": e, "needed_neurons": copy.deepcopy(e)}
    return cfg


def test_outputs_that_would_be_one_file_are_refused_naming_the_key():
    with pytest.raises(ConfigError, match=CLASH):
        P.check_targets(C.validate(_clashing(), SCHEMA))
    ok = _clashing()
    ok["experiments"]["needed"] = ok["experiments"].pop("needed_neurons")
    P.check_targets(C.validate(ok, SCHEMA))


def _mnist(raw_dir) -> dict:
    cfg = micro_config()
    cfg["datasets"]["digits"] = {"kind": "mnist", "raw_dir": str(raw_dir)}
    cfg["experiments"]["m"] = {"datasets": ["digits"], "teachers": ["wide"], "methods": ["hard"],
                               "students": ["theory"]}
    return cfg


def test_a_raw_dir_without_its_files_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"config key datasets\.digits\.raw_dir: '.*nowhere' is not a folder"):
        C.check_raw_dirs(C.validate(_mnist(tmp_path / "nowhere"), SCHEMA))
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "train-images-idx3-ubyte").write_bytes(b"")  # a gunzipped file counts
    with pytest.raises(ConfigError, match=r"datasets\.digits\.raw_dir: '.*raw' lacks \['train-labels-idx1-ubyte\.gz'"):
        C.check_raw_dirs(C.validate(_mnist(tmp_path / "raw"), SCHEMA))
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "raw" / name).write_bytes(b"")
    C.check_raw_dirs(C.validate(_mnist(tmp_path / "raw"), SCHEMA))  # there (their bytes are checked by the job that reads them)


@pytest.mark.parametrize("section,key,value", [("teachers", "wide", {"epochs": 10**12}),
                                               ("students", "theory", {"epochs": 10**7}),
                                               ("students", "theory", {"batch_size": 10**8}),
                                               ("teachers", "wide", {"patience": 10**7})])
def test_maxima(section, key, value):
    cfg = micro_config()
    cfg[section][key].update(value)
    (k, v), = value.items()
    with pytest.raises(ConfigError, match=rf"config key {section}\.{key}\.{k}: {v} is greater than the maximum"):
        C.validate(cfg, SCHEMA)


def test_settings_that_cannot_mean_anything_are_warned_about_by_key():
    cfg = micro_config()
    cfg["datasets"]["easy"]["label_noise"] = 0.5
    cfg["students"]["theory"].update(radius=1e-300)
    cfg["teachers"]["wide"]["batch_size"] = 64  # 48 training points
    cfg["datasets"]["Easy"] = dict(cfg["datasets"]["easy"])
    cfg["experiments"]["e"]["datasets"].append("Easy")
    warnings = C.advisories(C.validate(cfg, SCHEMA))
    expected = [r"datasets\.easy\.label_noise: 0\.5 .* no signal", r"students\.theory\.radius: B = 1e-300 ",
                r"teachers\.wide\.batch_size: 64 is larger than the 48 training points of data set 'easy'",
                r"datasets\.easy: differs from datasets\.Easy only in case"]
    for pattern in expected:
        assert any(re.search(pattern, w) for w in warnings), (pattern, warnings)
    assert len(warnings) == 6  # Easy's label noise and the batch warning for each of the two data sets too
    assert C.advisories(C.validate(micro_config(), SCHEMA)) == []
    for path in [ROOT / "config.yaml", TINY, *sorted((ROOT / "config").glob("*.yaml"))]:
        assert C.advisories(C.load(path, SCHEMA)) == [], path


def test_many_classes_need_the_relu_target_and_their_chance_level_is_theirs():
    cfg = micro_config()
    cfg["datasets"]["easy"].update(classes=10, target="linear")
    with pytest.raises(ConfigError, match=r"datasets\.easy\.classes: 10 classes need target relu"):
        C.validate(cfg, SCHEMA)
    cfg["datasets"]["easy"].update(target="relu", target_hidden=8, label_noise=0.5)
    assert C.advisories(C.validate(cfg, SCHEMA)) == []  # 0.5 is below the 10-class chance level 0.9
    cfg["datasets"]["easy"]["label_noise"] = 0.9
    (w,) = C.advisories(C.validate(cfg, SCHEMA))
    assert "10-class task" in w and "chance level 0.9" in w


def test_validate_lists_the_claims_a_config_tests_and_comparisons_without_partner(capsys):
    from softlabels.cli import main

    assert main(["validate", "--no-dag", str(ROOT / "config" / "paper.yaml")]) == 0
    out = capsys.readouterr().out
    assert "claims this config will test" in out
    wsl = [ln for ln in out.splitlines() if "WSL gives higher test accuracy than KD" in ln]
    assert wsl and all("paperB-" in ln for ln in wsl)
    assert not any(ln.startswith("!") and "WSL" in ln for ln in wsl), wsl  # every CIFAR-100 pair has its KD


@pytest.mark.slow
def test_the_cli_and_the_workflow_refuse_a_clash_and_the_cli_counts_the_dry_runs_jobs(tmp_path):
    path = write_config(tmp_path / "clash", _clashing())
    r = cli("validate", path)
    assert r.returncode == 1 and re.search(CLASH, r.stderr) and "Traceback" not in r.stderr, r.stderr
    proc = snakemake(tmp_path / "clash", "--dry-run", "--configfile", str(path), check=False)
    assert proc.returncode != 0 and re.search(CLASH, proc.stdout + proc.stderr)
    cfg = micro_config()
    cfg["datasets"]["easy"]["label_noise"] = 0.5
    path = write_config(tmp_path / "ok", cfg)
    r = cli("validate", path, cwd=tmp_path / "ok")
    jobs = len(planned_jobs(tmp_path / "ok"))
    assert r.returncode == 0 and f"Snakemake plans {jobs} jobs here" in r.stdout, r.stdout + r.stderr
    assert "softlabels: warning: config key datasets.easy.label_noise" in r.stderr


def test_the_tiny_config_plans_without_a_clash():
    P.check_targets(C.load(TINY, SCHEMA))
