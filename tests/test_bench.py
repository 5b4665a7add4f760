"""The benchmark at its smallest size, so that it cannot rot (the pipeline part is left to --quick)."""

import json
from pathlib import Path

import pytest

from softlabels import bench
from softlabels.config import validate

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
    assert 4_000 <= cells <= 5_000  # two jobs per cell (students, bias-variance) plus a few per data set
