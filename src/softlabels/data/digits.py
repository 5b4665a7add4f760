"""The bundled digits task: scikit-learn's 8x8 digits (offline), a small stand-in for paper A's MNIST
task (docs/science.md#16-paper-a-table-1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from softlabels.data.common import Arrays, binary_digit_task, split_arrays


def make_digits(p: dict[str, Any]) -> Arrays:
    """scikit-learn's bundled 8x8 digits (offline), pixels scaled to [0, 1], split 80/10/10 by seed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = binary_digit_task((d.data / 16.0).astype(np.float32), d.target, p["reduced"])
    rng = np.random.default_rng(p["seed"])
    return split_arrays(X, y, tuple(float(f) for f in p["split"]), rng, "digits")
