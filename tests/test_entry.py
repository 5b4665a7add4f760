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


def test_epoch_logger_prints_first_last_every_tenth_and_once_a_minute(caplog):
    now = [0.0]
    caplog.set_level(logging.INFO, logger="softlabels")
    on_epoch = entry.epoch_logger(1000, "cpu", clock=lambda: now[0])
    for e in range(1000):
        now[0] += 0.5  # fast epochs: the ~10% steps and the ends only
        on_epoch(e, {"loss": 1.0, "err": 0.5})
    lines = _lines(caplog)
    assert lines[0].startswith("epoch 1/1000") and lines[-1].startswith("epoch 1000/1000") and len(lines) == 11
    caplog.clear()
    now[0] = 0.0
    on_epoch = entry.epoch_logger(50, "cuda", clock=lambda: now[0])
    for e in range(50):
        now[0] += 25.0  # slow epochs: a line at least once a minute
        on_epoch(e, {"loss": 1.0, "err": 0.5})
    stamps = [int(ln.split()[1].split("/")[0]) for ln in _lines(caplog)]
    assert all(b - a <= 3 for a, b in zip(stamps, stamps[1:])) and stamps[-1] == 50


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
