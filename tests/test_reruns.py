"""Re-running after config changes: Snakemake's own plan runs only the affected jobs (issue 6)."""

import shutil

import pytest
import yaml
from conftest import micro_config, planned_jobs, snakemake, write_config

from softlabels.io import read_npz

pytestmark = pytest.mark.slow

AGGREGATES = {"all"}  # rules without cell wildcards (tables, figures) may always follow a change


def _edit(run, fn):
    path = run / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    fn(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _cell_jobs(jobs):
    return [(r, w) for r, w in jobs if w]


def test_a_finished_run_has_nothing_to_do(tiny_copy):
    assert planned_jobs(tiny_copy) == []


def test_changing_a_temperature_reruns_only_that_method(tiny_copy):
    _edit(tiny_copy, lambda c: c["methods"]["kd"].update(temperature=3.0))
    jobs = _cell_jobs(planned_jobs(tiny_copy))
    assert jobs
    rules = {r for r, _ in jobs}
    assert rules <= {"soft_labels", "train_students", "bias_variance"}, rules
    for r, w in jobs:
        if r == "soft_labels":
            assert w["temperature"] == "3"
        else:
            assert w["method"] == "kd", (r, w)


def test_adding_a_width_adds_only_that_widths_jobs(tiny_copy):
    _edit(tiny_copy, lambda c: c["students"]["theory"]["widths"].append(4))
    jobs = _cell_jobs(planned_jobs(tiny_copy))
    assert {r for r, _ in jobs} == {"train_students", "bias_variance"}
    assert {w["width"] for _, w in jobs} == {"4"}
    assert len(jobs) == 2 * 3 * 2  # (hard, kd) x 3 data sets x (train, bias-variance)


def test_changing_one_data_set_reruns_only_its_chain(tiny_copy):
    _edit(tiny_copy, lambda c: c["datasets"]["mid"].update(label_noise=0.05))
    jobs = _cell_jobs(planned_jobs(tiny_copy))
    assert {"make_data", "measure_margin", "train_teacher", "soft_labels", "train_students"} <= {r for r, _ in jobs}
    assert {w["dataset"] for _, w in jobs} == {"mid"}


def test_same_config_same_bytes_twice_from_scratch(tmp_path):
    runs = []
    for name in ("a", "b"):
        work = tmp_path / name
        write_config(work, micro_config())
        snakemake(work, "--cores", "2", "--configfile", str(work / "config.yaml"))
        runs.append(work)
    a, b = runs
    files = sorted(p.relative_to(a) for p in (a / "results").rglob("*") if p.suffix in (".npz", ".csv"))
    assert any("replicates.npz" in str(f) for f in files) and any(f.suffix == ".csv" for f in files)
    for f in files:
        if f.suffix == ".csv":
            assert (a / f).read_bytes() == (b / f).read_bytes(), f
        else:
            x, y = read_npz(a / f), read_npz(b / f)
            assert x.keys() == y.keys()
            for k in x:
                assert x[k].tobytes() == y[k].tobytes(), (f, k)
    shutil.rmtree(b)
