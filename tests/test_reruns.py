"""Re-running after config changes: Snakemake's own plan runs only the affected jobs, as
docs/development.md's table predicts."""

import os
import shutil

import pytest
import yaml
from conftest import TINY, micro_config, planned_jobs, snakemake, write_config

from softlabels.io import read_npz

pytestmark = pytest.mark.slow

AGGREGATES = {"all"}  # rules without cell wildcards (tables, figures) may always follow a change


def _edit(run, fn):
    path = run / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    fn(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _cell_jobs(jobs):
    return [(r, w) for r, w in jobs if w and "dataset" in w]  # per-experiment figures have other wildcards


def test_a_finished_run_has_nothing_to_do(tiny_copy):
    assert planned_jobs(tiny_copy) == []


def test_a_timestamp_or_a_key_a_cell_does_not_read_reruns_nothing(tiny_copy):
    """Every result made older than the rule scripts (what a `git checkout` or a `touch` of a script does to
    their order) and a radius given to a practical setup (which projects nothing): nothing to do. With
    Snakemake's code trigger (the default profile leaves it out) the first re-ran every job."""
    old = 1_000_000_000  # 2001: older than any script
    for p in (tiny_copy / "results").rglob("*"):
        os.utime(p, (old, old), follow_symlinks=False)
    _edit(tiny_copy, lambda c: c["students"]["practical"].update(radius=2.0))
    assert planned_jobs(tiny_copy) == []
    rerun = planned_jobs(tiny_copy, "--rerun-triggers", "mtime", "params", "input", "software-env", "code")
    assert {r for r, _ in rerun} >= {"make_data", "train_students", "claims_table"}


def test_changing_a_temperature_reruns_only_that_methods_groups(tiny_copy):
    _edit(tiny_copy, lambda c: c["methods"]["kd"].update(temperature=3.0))
    jobs = _cell_jobs(planned_jobs(tiny_copy))
    # kd is in the neurons (theory) and paperA-table1 (early) experiments: one job per data set there
    assert sorted((r, w["dataset"], w["teacher"]) for r, w in jobs) == [
        ("train_students", "digits-r", "wide"), ("train_students", "easy", "wide"),
        ("train_students", "hard", "wide"), ("train_students", "mid", "wide")]
    assert all(w["method"] == "kd" for _, w in jobs)
    assert sorted(w["student"] for _, w in jobs) == ["early", "theory", "theory", "theory"]


def test_adding_a_width_reruns_only_that_setups_groups(tiny_copy):
    _edit(tiny_copy, lambda c: c["students"]["theory"]["widths"].append(4))
    jobs = _cell_jobs(planned_jobs(tiny_copy))
    assert {(r, w["student"]) for r, w in jobs} == {("train_students", "theory")}
    assert len(jobs) == 2 * 3  # (hard, kd) x 3 data sets, each job training widths 2, 4 and 8


def test_changing_the_bootstrap_reruns_only_the_tables_that_draw_it(tiny_copy):
    _edit(tiny_copy, lambda c: c["tables"].update(n_boot=60))
    jobs = planned_jobs(tiny_copy)
    assert {r for r, _ in jobs} == {"biasvar_table", "figure_biasvar", "claims_table", "figure_claims_forest",
                                    "paper_a_table1", "all"}


def test_changing_one_data_set_reruns_only_its_chain(tiny_copy):
    _edit(tiny_copy, lambda c: c["datasets"]["mid"].update(label_noise=0.05))
    jobs = _cell_jobs(planned_jobs(tiny_copy))
    assert {"make_data", "measure_margin", "train_teacher", "train_students"} == {r for r, _ in jobs}
    assert {w["dataset"] for _, w in jobs} == {"mid"}


def test_the_tiny_config_has_one_student_job_per_group(tmp_path):
    """51 jobs: no job per width or per cell's bias-variance, no soft-label job (there were 138 before); the
    claims' three forest plots (one per experiment with a teacher) are the three jobs added since 48."""
    write_config(tmp_path, yaml.safe_load(TINY.read_text()))
    jobs = planned_jobs(tmp_path)
    students = [(r, w) for r, w in jobs if r == "train_students"]
    groups = {(w["dataset"], w["teacher"], w["method"], w["student"]) for _, w in students}
    assert len(students) == len(groups) == 18
    assert len(jobs) == 51


def test_a_grouped_job_gives_each_width_the_bytes_of_a_job_of_that_width_alone(tmp_path):
    """Widths [2, 8] in one job equal a width-8 job and a width-2 job, file by file."""
    cells = ("easy/none/hard/theory", "easy/wide/kd/theory")
    runs = {}
    for name, widths in (("both", [2, 8]), ("w8", [8]), ("w2", [2])):
        cfg = micro_config()
        cfg["students"]["theory"]["widths"] = widths
        work = tmp_path / name
        write_config(work, cfg)
        targets = [f"results/students/{c}" for c in cells]  # the student jobs' group folders, no tables
        snakemake(work, *targets, "--cores", "2", "--configfile", str(work / "config.yaml"))
        runs[name] = work
    for width, alone in ((2, "w2"), (8, "w8")):
        for cell in cells:
            for f in ("replicates.npz", "biasvar_points.npz"):
                a = read_npz(runs["both"] / f"results/students/{cell}/m{width}/{f}")
                b = read_npz(runs[alone] / f"results/students/{cell}/m{width}/{f}")
                assert a.keys() == b.keys()
                for k in a:
                    assert a[k].tobytes() == b[k].tobytes(), (cell, width, f, k)


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
