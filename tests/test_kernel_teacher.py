"""Paper A's kernel-limit teacher (docs/science.md#kernel-teacher): logits [0, z] from the kernel target's
values, |z| ≤ ½ and sign z = label; a clear error on other data; and a micro workflow run end to end."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import snakemake, write_config

from softlabels import io
from softlabels.data.synthetic import make_synthetic
from softlabels.errors import ConfigError
from softlabels.pipeline.rules import train_teacher


def _snk(tmp_path, data_params, teacher=None):
    arrays = make_synthetic(data_params)
    io.write_npz(tmp_path / "data.npz", **arrays)
    out = SimpleNamespace(checkpoint=str(tmp_path / "teacher.pt"), logits=str(tmp_path / "logits.npz"),
                          meta=str(tmp_path / "teacher.json"))
    p = {"model": "kernel", "seed": 0, "compute": {"device": "cpu"}, **(teacher or {})}
    return SimpleNamespace(input=SimpleNamespace(data=str(tmp_path / "data.npz")), output=out,
                           params=SimpleNamespace(p=p), wildcards=SimpleNamespace(dataset="k", teacher="kern")), arrays


KERNEL = dict(dim=8, n_train=200, n_val=30, n_test=100, margin=0.005, target="kernel", target_hidden=4,
              label_noise=0.0, seed=2)


def test_kernel_teacher_logits_are_zero_and_z(tmp_path):
    snk, d = _snk(tmp_path, KERNEL)
    train_teacher(snk)
    t = io.read_npz(snk.output.logits)
    assert {k for k in t if k.startswith("logits_")} == {"logits_train", "logits_val", "logits_test"}
    for s in ("train", "val", "test"):
        z = t[f"logits_{s}"]
        assert z.shape == (len(d[f"y_{s}"]), 2) and np.all(z[:, 0] == 0)
        assert np.max(np.abs(z[:, 1])) <= 0.5
        np.testing.assert_array_equal((z[:, 1] > 0).astype(int), d[f"y_{s}"])
        np.testing.assert_allclose(z[:, 1], d[f"z_{s}"], rtol=1e-6)
        p1 = np.exp(z[:, 1]) / (np.exp(z[:, 0]) + np.exp(z[:, 1]))  # softmax of [0, z] is σ(z) for class 1
        np.testing.assert_allclose(p1, 1 / (1 + np.exp(-d[f"z_{s}"])), rtol=1e-6)
    meta = json.loads((tmp_path / "teacher.json").read_text())
    assert meta["accuracy"] == {"train": 1.0, "val": 1.0, "test": 1.0} and meta["max_abs_z"] <= 0.5


def test_kernel_teacher_refuses_other_data(tmp_path):
    snk, _ = _snk(tmp_path, {**KERNEL, "target": "linear"})
    with pytest.raises(ConfigError, match="model kernel needs a data set with target kernel"):
        train_teacher(snk)


def test_kernel_is_a_teacher_only():
    from conftest import SCHEMA, micro_config

    from softlabels.pipeline.config import validate

    cfg = micro_config()
    cfg["teachers"]["kern"] = {"model": "kernel"}
    validate(cfg, SCHEMA)
    cfg["students"]["theory"]["model"] = "kernel"
    with pytest.raises(ConfigError, match="students.theory.model"):
        validate(cfg, SCHEMA)


@pytest.mark.slow
def test_kernel_teacher_workflow_end_to_end(tmp_path):
    """Kernel-target data, the kernel teacher, a KD student at τ = 1, α = 1: every rule runs, margin.json has the
    solved γ above the requested margin, and the teacher's soft labels are σ(z)."""
    cfg = {
        "seed": 0,
        "datasets": {"k": {"kind": "synthetic", "dim": 6, "n_train": 64, "n_test": 100, "margin": 0.01,
                           "target": "kernel", "target_hidden": 3, "seed": 1}},
        "teachers": {"kern": {"model": "kernel"}},
        "methods": {"hard": {"kind": "hard"}, "kd1": {"kind": "kd", "temperature": 1.0, "alpha": 1.0}},
        "students": {"theory": {"regime": "theory", "widths": [4], "replicates": 2, "epochs": 10, "lr": 4.0}},
        "experiments": {"e": {"datasets": ["k"], "teachers": ["kern"], "methods": ["hard", "kd1"],
                              "students": ["theory"]}},
        "tables": {"n_boot": 20},
    }
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "1", "--configfile", str(tmp_path / "config.yaml"))
    res = tmp_path / "results"
    margin = json.loads((res / "data/k/margin.json").read_text())
    assert margin["gamma"] >= 0.01 - 4 * margin["gamma_certificate_se"]
    data = io.read_npz(res / "data/k/data.npz")
    # the teacher's own labels' margin min y·z: at least the requested margin (the rejection step), below γ
    y_pm = np.where(data["y_train"] == 1, 1.0, -1.0)
    assert margin["teacher_margin"] == pytest.approx(float((y_pm * data["z_train"]).min()))
    assert 0.01 <= margin["teacher_margin"] <= margin["gamma"]
    logits = io.read_npz(res / "teachers/k/kern/logits.npz")["logits_train"]  # softmax at τ = 1: σ(z)
    probs = np.exp(logits - np.log(np.exp(logits).sum(1, keepdims=True)))
    np.testing.assert_allclose(probs[:, 1], 1 / (1 + np.exp(-data["z_train"])), rtol=1e-5)
    assert (res / "students/k/kern/kd1/theory/m4/replicates.npz").exists()
    assert (res / "tables/neurons.csv").exists()
