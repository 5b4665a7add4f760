"""Paper A's Table 1 layout and the accuracy interval it shows: checked against a brute-force resampling
written here, and for coverage on simulated cells whose true accuracy is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from softlabels.analysis.tables import accuracy_interval, accuracy_rows, paper_a_table1


def _logits(correct: np.ndarray) -> np.ndarray:
    """(R, N, 2) logits whose argmax is class 1 exactly where ``correct`` (labels all 1)."""
    z = np.zeros(correct.shape + (2,))
    z[..., 1] = np.where(correct, 1.0, -1.0)
    return z


def test_interval_matches_a_brute_force_resampling_of_replicates_and_points():
    rng = np.random.default_rng(3)
    correct = rng.random((6, 80)) < np.linspace(0.6, 0.95, 80)  # points of different difficulty
    lo, hi = accuracy_interval(_logits(correct), np.ones(80, int), 0.9, 4000, seed=1)
    brute = []
    for _ in range(4000):  # replicates with replacement, then test points with replacement shared by them
        r = rng.integers(0, 6, 6)
        n = rng.integers(0, 80, 80)
        brute.append(correct[np.ix_(r, n)].mean() * 100)
    b_lo, b_hi = np.quantile(brute, [0.05, 0.95])
    assert abs(lo - b_lo) < 1.0 and abs(hi - b_hi) < 1.0
    assert lo < correct.mean() * 100 < hi


def test_interval_covers_the_true_accuracy():
    """Replicates share test points (drawn from a population of difficulties); the truth is the population
    mean. Nominal 90 % covers at least 90 % within sampling error and is conservative, not wild: resampling
    both replicates and points counts the replicates' own noise twice (here about 1.2x the standard error,
    so about 96 %; 200 simulated cells)."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        ease = rng.beta(4, 1.5, 120)                   # each test point's chance of being right, mean 4/5.5
        correct = rng.random((8, 120)) < ease           # 8 replicates, independent given the points
        lo, hi = accuracy_interval(_logits(correct), np.ones(120, int), 0.9, 400, seed=int(rng.integers(1 << 30)))
        hits += lo <= 100 * 4 / 5.5 <= hi
    assert 0.86 <= hits / 200 <= 0.995


def test_table1_rows_per_soft_method_with_the_papers_numbers():
    rng = np.random.default_rng(0)
    y = np.ones(50, int)
    cells = [{"dataset": "mn", "teacher": t, "method": m, "student": "s", "width": 4}
             for t, m in (("none", "hard"), ("T", "kd1"), ("T", "kd-auto"))]
    logits = [_logits(rng.random((5, 50)) < q) for q in (0.8, 0.9, 0.95)]
    acc = accuracy_rows(cells, logits, [y] * 3, (0.9, 200))
    p = {"reduced": {"mn": False}, "kind": {"mn": "mnist"}, "hard": "hard", "soft_methods": ["kd1", "kd-auto"],
         "level": 0.9}
    t = paper_a_table1(p, acc, {("mn", "T"): 98.0}).frame
    assert list(t.soft_method) == ["kd-auto", "kd1"] and (t.hard_acc == t.hard_acc.iloc[0]).all()
    assert (t.paper_hard == 88.84).all() and (t.paper_soft == 95.62).all() and (t.kind == "mnist").all()
    for arm in ("hard", "soft"):
        assert (t[f"{arm}_lo"] < t[f"{arm}_acc"]).all() and (t[f"{arm}_acc"] < t[f"{arm}_hi"]).all()
    assert math.isclose(t.set_index("soft_method").soft_acc["kd1"], (logits[1].argmax(-1) == 1).mean() * 100)
    assert isinstance(acc, pd.DataFrame) and set(acc.columns) >= {"acc_lo", "acc_hi"}
