"""The margin-controlled synthetic generator (docs/science.md#3-synthetic-data): points on the unit
sphere labelled by a fixed target function, with the points near its boundary rejected."""

from __future__ import annotations

from typing import Any

import numpy as np

from softlabels.data.common import Arrays, split_head
from softlabels.errors import ConfigError


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
    return split_head(X, y, p["n_train"], p.get("n_val", 0))
