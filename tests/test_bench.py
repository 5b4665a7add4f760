"""The benchmark at its smallest size, so that it cannot rot (the pipeline part is left to --quick)."""

import json
from pathlib import Path

import pytest

from softlabels.pipeline.config import validate
from softlabels_bench import bench

FIELDS = {"name", "ours", "peer_or_limit", "ratio", "target", "met"}
ROOT = Path(__file__).resolve().parents[1]


def test_smoke_benchmark_writes_complete_records(tmp_path):
    records = bench.run("smoke", tmp_path, pipeline=False, log=lambda s: None)
    saved = json.loads((tmp_path / "benchmark.json").read_text())
    assert saved["records"] == json.loads(json.dumps(records))
    assert "| measurement |" in (tmp_path / "benchmark.md").read_text()
    for r in records:
        assert FIELDS <= set(r), r["name"]
    loops = [r for r in records if r["name"].startswith("loop ")]
    assert loops and all(r["agree"] for r in loops), [r["note"] for r in loops]
    assert all(r["ratio"] > 0 for r in loops)
    assert any(r["name"].startswith("flops matmul") and r["ours"] > 0 for r in records)
    steps = [r for r in records if r["name"].startswith("theory step d=")]
    assert steps and all("DISAGREE" not in r["note"] and r["ratio"] > 0 for r in steps), [r["note"] for r in steps]
    bound = [r for r in records if r["name"].startswith("theory step vs bound")]
    assert bound and all(0 < r["peer_or_limit"] < r["ours"] for r in bound)  # nothing beats its bound
    from softlabels.training import theory_kernel

    if theory_kernel.load() is not None:  # the compiled step, timed against its PyTorch fallback too
        assert any(r["name"].endswith("vs PyTorch") and "float32 rounding" in r["note"] for r in steps)
        assert all(theory_kernel.NAME in r["note"] for r in bound)
    overhead = next(r for r in records if r["name"].startswith("per-job overhead"))
    assert overhead["ours"] > 0 and "import torch" in overhead["note"]
    memory = next(r for r in records if r["name"].startswith("practical peak memory"))
    assert memory["ours"] > 0 and memory["ratio"] == pytest.approx(1024 / memory["ours"])
    pytest.importorskip("mlxtend")
    bv = {r["name"]: r for r in records if r["name"].startswith("biasvar")}
    assert {"biasvar zo_loss", "biasvar zo_bias", "biasvar zo_variance"} <= set(bv)
    assert all(0 <= bv[k]["ours"] <= 1 and 0 <= bv[k]["peer_or_limit"] <= 1 for k in bv if "zo_" in k)


def test_missed_targets_say_by_how_much():
    r = bench._finish(bench.Record("x", 1.0, 4.0, 4.0, "≥ 10x", None, goal=10.0))
    assert r.met is False and "40% of the target" in r.note


def test_generated_config_is_valid_and_about_the_size_asked():
    cfg = validate(bench.generated_config(10_000), ROOT / "workflow" / "schemas" / "config.schema.yaml")
    cells = len(cfg["datasets"]) * len(cfg["students"]["s"]["widths"]) * 2  # hard and kd
    assert 9_500 <= cells <= 10_500


@pytest.mark.slow
def test_pipeline_measurements_on_the_micro_config(tmp_path):
    """Group 4 end to end on a dozen-job config: a run, its training compute and overhead share, a no-op
    re-run and a small generated dry run, each a complete record."""
    from conftest import micro_config, write_config

    size = bench.Size(widths=(4,), replicates=(2,), epochs=1, repeats=1, bv_rounds=2, bv_epochs=1, bv_width=4,
                      pipeline_configs=(str(write_config(tmp_path / "cfg", micro_config())),), dry_run_cells=100)
    records = {r.name.split(" (")[0]: r for r in bench.measure_pipeline(size, log=lambda s: None)}
    run = records["pipeline run"]
    assert run.ours > 0 and run.target == "" and run.met is None  # the targets are the default run's
    compute = records["pipeline training compute"]
    assert 0 < compute.ours < run.ours * 2  # two cores: at most twice the wall time
    share = records["pipeline overhead share"]
    assert share.ours == pytest.approx(1 - compute.ours / 2 / run.ours)
    assert records["pipeline no-op re-run"].ours < run.ours
    assert records["pipeline other CPU per job"].ours > 0 and records["pipeline torch import"].ours > 0
    dry = next(r for n, r in records.items() if n.startswith("pipeline dry run"))
    assert dry.met is not None and "cells" in dry.note
