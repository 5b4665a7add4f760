"""Data sets: the margin-controlled synthetic generator (SCIENCE §3) and the bundled digits task.

Every builder returns a dict of arrays with ``X_train, y_train, X_test, y_test`` and, where the
data set has one, ``X_val, y_val``. Labels are class indices (0/1 for binary tasks; class 1 is the
theory's y = +1). The same parameters and seed always give the same arrays.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from softlabels.errors import ConfigError

Arrays = dict[str, np.ndarray]

SPLITS = ("train", "val", "test")


def unit_sphere(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """n points uniform on the unit sphere in R^dim."""
    x = rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class TargetFunction:
    """The fixed labelling function f*: a unit linear direction or a small random ReLU network.

    The ReLU target is f*(x) = (1/sqrt(k)) * sum_j c_j relu(v_j . x) - b with c_j = +-1 in equal numbers
    and b its median over the sphere, so the classes are balanced.
    """

    def __init__(self, kind: str, dim: int, rng: np.random.Generator, hidden: int = 8):
        self.kind = kind
        if kind == "linear":
            self.u = unit_sphere(rng, 1, dim)[0]
        elif kind == "relu":
            if hidden % 2:
                raise ConfigError(f"target_hidden must be even, got {hidden}")
            self.V = unit_sphere(rng, hidden, dim)
            self.c = np.concatenate([np.ones(hidden // 2), -np.ones(hidden // 2)]) / np.sqrt(hidden)
            self.b = 0.0
            self.b = float(np.median(self(unit_sphere(rng, 20000, dim))))
        else:
            raise ConfigError(f"target must be 'linear' or 'relu', got {kind!r}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return x @ self.u
        return np.maximum(x @ self.V.T, 0.0) @ self.c - self.b


def make_synthetic(p: dict[str, Any]) -> Arrays:
    """Points on the unit sphere labelled by f*, rejecting |f*(x)| < margin, with optional label noise.

    Keys of ``p`` (config ``datasets.<name>``): dim, n_train, n_val, n_test, margin, target,
    target_hidden, label_noise, seed. Label noise flips each label (every split) with that probability.
    """
    rng = np.random.default_rng(p["seed"])
    dim, margin = p["dim"], p["margin"]
    f = TargetFunction(p["target"], dim, rng, p.get("target_hidden", 8))
    need = p["n_train"] + p.get("n_val", 0) + p["n_test"]
    kept: list[np.ndarray] = []
    have, drawn = 0, 0
    while have < need:
        x = unit_sphere(rng, 4096, dim)
        drawn += len(x)
        x = x[np.abs(f(x)) >= margin]
        kept.append(x)
        have += len(x)
        if drawn >= 2_000_000 and have < need:
            rate = have / drawn
            raise ConfigError(
                f"margin {margin}: only {rate:.2e} of points on the sphere have |f*(x)| >= margin "
                f"for target={p['target']!r}, dim={dim}; ask for a smaller margin"
            )
    X = np.concatenate(kept)[:need].astype(np.float32)
    fx = f(X.astype(np.float64))
    y = (fx > 0).astype(np.int64)
    flip = rng.random(need) < p.get("label_noise", 0.0)
    y = np.where(flip, 1 - y, y)
    return _split(X, y, p["n_train"], p.get("n_val", 0))


def _split(X: np.ndarray, y: np.ndarray, n_train: int, n_val: int) -> Arrays:
    out = {"X_train": X[:n_train], "y_train": y[:n_train]}
    if n_val:
        out["X_val"], out["y_val"] = X[n_train:n_train + n_val], y[n_train:n_train + n_val]
    out["X_test"], out["y_test"] = X[n_train + n_val:], y[n_train + n_val:]
    return out


def binary_digit_task(X: np.ndarray, digits: np.ndarray, reduced: bool) -> tuple[np.ndarray, np.ndarray]:
    """Paper A's task: class 1 is 'digit > 4'; 'reduced' drops the confusable digits 1, 7, 4 and 9."""
    keep = ~np.isin(digits, [1, 7, 4, 9]) if reduced else np.ones(len(digits), bool)
    return X[keep], (digits[keep] > 4).astype(np.int64)


def split_fractions(n: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle range(n) and cut it into train/val/test index sets of the given fractions."""
    perm = rng.permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return [perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]]


def make_digits(p: dict[str, Any]) -> Arrays:
    """scikit-learn's bundled 8x8 digits (offline), pixels scaled to [0, 1], split 80/10/10 by seed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = binary_digit_task((d.data / 16.0).astype(np.float32), d.target, p["reduced"])
    rng = np.random.default_rng(p["seed"])
    idx = split_fractions(len(X), tuple(p["split"]), rng)
    return {f"{a}_{s}": arr[i] for s, i in zip(SPLITS, idx) for a, arr in (("X", X), ("y", y))}


# kind -> builder(params, *raw_files). These two need no raw files; softlabels.realdata adds the
# real-data kinds (mnist, cifar10-catdog, cifar100), whose builders read the raw files they are given.
BUILDERS: dict[str, Callable[..., Arrays]] = {
    "synthetic": make_synthetic,
    "digits": make_digits,
}


def n_classes(arrays: Arrays) -> int:
    return int(max(arrays[k].max() for k in arrays if k.startswith("y_"))) + 1


# Registers the real-data builders in BUILDERS (it imports the helpers above, so it comes last).
from softlabels import realdata as _realdata  # noqa: E402,F401
