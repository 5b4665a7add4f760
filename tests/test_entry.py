"""How a rule's script runs: the training progress lines people read in the logs and which device a
rule trains on (a GPU rule never falls back to the CPU by itself)."""

from __future__ import annotations

import logging

import pytest

from softlabels.errors import SoftlabelsError
from softlabels.pipeline import entry


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]


def test_epoch_line_is_for_people():
    line = entry.epoch_line(4, 200, {"loss": 0.123456789, "err": 0.0312345, "val_loss": 0.2345678,
                                     "val_acc": 0.91234}, "cuda", 125.0)
    assert line.startswith("epoch 5/200  loss 0.1235  train err 3.12%  val loss 0.2346  val acc 91.23%  cuda")
    assert "2m05s elapsed, ~1h21m left" in line  # 25 s per epoch, 195 epochs to go
    last = entry.epoch_line(9, 10, {"loss": 0.5, "err": 0.25}, "cpu", 42.0)
    assert last == "epoch 10/10  loss 0.5  train err 25.00%  cpu  42s elapsed"  # no validation split: no val


def test_epoch_logger_prints_first_last_every_tenth_and_every_slow_epoch(caplog):
    now = [0.0]
    caplog.set_level(logging.INFO, logger="softlabels")
    on_epoch = entry.epoch_logger(1000, "cpu", clock=lambda: now[0])
    for e in range(1000):
        now[0] += 0.005  # fast epochs: the ~10% steps and the ends only
        on_epoch(e, {"loss": 1.0, "err": 0.5})
    lines = _lines(caplog)
    assert lines[0].startswith("epoch 1/1000") and lines[-1].startswith("epoch 1000/1000") and len(lines) == 11
    caplog.clear()
    now[0] = 0.0
    on_epoch = entry.epoch_logger(50, "cuda", clock=lambda: now[0])
    for e in range(50):
        now[0] += 25.0  # slow epochs (over every_s = 10 s): a line for every epoch
        on_epoch(e, {"loss": 1.0, "err": 0.5})
    stamps = [int(ln.split()[1].split("/")[0]) for ln in _lines(caplog)]
    assert stamps == list(range(1, 51))


LIVE_JOB = r"""
import sys, time
from pathlib import Path
from types import SimpleNamespace
import numpy as np
from softlabels.pipeline import entry
from softlabels.training.methods import make_method
from softlabels.training.trainer import train_mlp

EPOCHS = 6

def job(snk):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12000, 200)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    hp = dict(regime="practical", epochs=EPOCHS, lr=0.01, optimizer="adam", batch_size=256, resampling="none",
              replicates=2, patience=0)
    train_mlp(X, y, make_method({"kind": "hard"}), hp, 64, [0, 1], 0,
              on_epoch=entry.epoch_logger(hp["epochs"], "cpu", every_s=0.0))
    go_on = Path(sys.argv[2])
    for _ in range(600):  # the job is still running while the test reads its log
        if go_on.exists():
            return
        time.sleep(0.1)

entry.run(SimpleNamespace(log=[sys.argv[1]], rule="train_students", threads=1), job)
"""


def test_a_running_jobs_log_shows_its_epochs(tmp_path):
    """The progress lines reach the log file as training goes (a user watching a long job reads them): the
    first epoch's line is there before training ends (each epoch here is about 300 M multiply-adds, more
    than the records may lag behind), and read while the job still runs, the log holds every epoch's line
    with its time left."""
    import subprocess
    import sys
    import time

    log, go_on = tmp_path / "job.log", tmp_path / "go_on"
    proc = subprocess.Popen([sys.executable, "-c", LIVE_JOB, str(log), str(go_on)])
    try:
        deadline = time.monotonic() + 240
        seen: list[list[str]] = []  # the epoch lines at each read that found some
        while time.monotonic() < deadline and proc.poll() is None and (not seen or len(seen[-1]) < 6):
            time.sleep(0.05)
            lines = [ln for ln in (log.read_text().splitlines() if log.exists() else []) if " epoch " in ln]
            if lines:
                seen.append(lines)
        assert proc.poll() is None, "the job ended before its log showed its epochs"
        assert len(seen[0]) < 6, "the first epoch's line came only when training had ended"
        assert [ln.split(" epoch ")[1].split()[0] for ln in seen[-1]] == [f"{k}/6" for k in range(1, 7)]
        assert all("left" in ln for ln in seen[-1][:5])
    finally:
        go_on.touch()
        proc.wait(timeout=60)
    assert proc.returncode == 0


def test_gpu_rules_need_cuda_unless_told_cpu(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SoftlabelsError, match="no CUDA device on this node; set compute.device: cpu"):
        entry.select_device({"device": "auto"}, gpu_rule=True)
    with pytest.raises(SoftlabelsError, match="no CUDA device"):
        entry.select_device({"device": "cuda"})
    assert entry.select_device({"device": "cpu"}, gpu_rule=True) == "cpu"
    assert entry.select_device({"device": "auto"}) == "cpu"  # the MLP rules: CUDA if present, else the CPU
    assert entry.select_device({}) == "cpu"
