"""The margin-controlled synthetic generator (docs/science.md#synthetic-data): points on the unit
sphere labelled by a fixed target function, with the points near its boundary rejected.

The ``kernel`` target (docs/science.md#kernel-target) is a function of paper A's limiting kernel class,
z(x) = E_w[1(wᵀx > 0) v(w)ᵀx] for an explicit map v with ‖v(w)‖ ≤ 1, so rejecting |z| < margin
certifies that the data's margin γ (Assumption 1) is at least the requested margin."""

from __future__ import annotations

from typing import Any

import numpy as np

from softlabels.data.common import POOL, POOL_SIZE, Arrays, split_head
from softlabels.errors import ConfigError


def unit_sphere(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """n points uniform on the unit sphere in R^dim."""
    x = rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def kernel_component(X: np.ndarray, U: np.ndarray, A: np.ndarray) -> np.ndarray:
    """E_w[1(wᵀx > 0) sign(a_jᵀw)] (u_jᵀx) for w ~ N(0, I), every point x (rows of X) and pair (u_j, a_j).

    With θ = ∠(a, x): P(wᵀx > 0, aᵀw > 0) = (π − θ)/(2π) and P(wᵀx > 0) = ½, so
    E[1(wᵀx > 0) sign(aᵀw)] = (π − θ)/(2π) − θ/(2π) = (π − 2θ)/(2π) = arcsin(cos θ)/π.
    Returns an (n, J) array.
    """
    X = np.asarray(X, dtype=np.float64)
    nx = np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
    cos = np.clip((X / nx) @ A.T, -1.0, 1.0)
    return (X @ U.T) * np.arcsin(cos) / np.pi


class TargetFunction:
    """The fixed labelling function f*: a unit linear direction or a small random ReLU network.

    The ReLU target is f*(x) = (1/sqrt(k)) * sum_j c_j relu(v_j . x) - b with c_j = +-1 in equal numbers
    and b its median over the sphere, so the classes are balanced.

    The kernel target is z(x) = E_w[1(wᵀx > 0) v(w)ᵀx] with v(w) = Σ_j c_j u_j sign(a_jᵀw), J = ``hidden``
    pairs of unit vectors with u_j ⟂ a_j, and c_j Gaussian normalised to Σ|c_j| = 1, so ‖v(w)‖ ≤ 1 for
    every w. In closed form z(x) = Σ_j c_j (u_jᵀx)(π − 2∠(a_j, x))/(2π) (``kernel_component``). It has no
    offset (an offset is not of the form E[φ_xᵀv]); u_j ⟂ a_j makes its mean over the sphere exactly 0.
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
        elif kind == "kernel":
            self.A = unit_sphere(rng, hidden, dim)
            U = rng.standard_normal((hidden, dim))
            U -= np.sum(U * self.A, axis=1, keepdims=True) * self.A  # u_j ⟂ a_j: mean of z over the sphere is 0
            self.U = U / np.linalg.norm(U, axis=1, keepdims=True)
            c = rng.standard_normal(hidden)
            self.c = c / np.abs(c).sum()
        else:
            raise ConfigError(f"target must be 'linear', 'relu' or 'kernel', got {kind!r}")

    def v(self, w: np.ndarray) -> np.ndarray:
        """The kernel target's map v(w) = Σ_j c_j u_j sign(a_jᵀw), one row per row of w (norm ≤ 1)."""
        return (np.sign(w @ self.A.T) * self.c) @ self.U

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return x @ self.u
        if self.kind == "kernel":
            return kernel_component(x, self.U, self.A) @ self.c
        return np.maximum(x @ self.V.T, 0.0) @ self.c - self.b


class MultiClassTarget:
    """A fixed C-class labelling function on the sphere: the arg-max of C scores of a small random ReLU network,
    s(x) = relu(V x)ᵀ M + b, V (``hidden`` unit rows), M (hidden × C) Gaussian, and offsets b set so that the
    classes are about equally frequent on the sphere (a few steps of b_c ← b_c − (share_c − 1/C) on 20000
    points of its own stream). Its ``margin`` is the gap between the top two scores (docs/science.md#synthetic-data)."""

    kind = "multiclass"

    def __init__(self, dim: int, classes: int, rng: np.random.Generator, hidden: int = 8):
        self.V = unit_sphere(rng, hidden, dim)
        self.M = rng.standard_normal((hidden, classes)) / np.sqrt(hidden)
        self.b = np.zeros(classes)
        probe = unit_sphere(rng, 20000, dim)
        h = np.maximum(probe @ self.V.T, 0.0) @ self.M
        for _ in range(200):
            share = np.bincount(np.argmax(h + self.b, 1), minlength=classes) / len(probe)
            self.b -= 0.5 * (share - 1.0 / classes) * np.abs(h).mean()

    def scores(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x @ self.V.T, 0.0) @ self.M + self.b

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The gap between the largest and second-largest score (≥ 0): the distance from the class boundary."""
        s = np.sort(self.scores(x), axis=1)
        return s[:, -1] - s[:, -2]


#: the stream of fresh training set r: numpy seed [data seed, FRESH_STREAM, r], apart from the main draw
FRESH_STREAM = 11


def draw_points(f: TargetFunction | MultiClassTarget, rng: np.random.Generator, n: int, dim: int, margin: float) -> np.ndarray:
    """n points uniform on the unit sphere with |f*(x)| >= margin (float32), by rejection from ``rng``."""
    kept: list[np.ndarray] = []
    have, drawn = 0, 0
    while have < n:
        x = unit_sphere(rng, 4096, dim)
        drawn += len(x)
        if f.kind == "kernel":  # test the points as stored, so min |z| >= margin holds for the float32 data
            x = x.astype(np.float32).astype(np.float64)
        x = x[np.abs(f(x)) >= margin]
        kept.append(x)
        have += len(x)
        if drawn >= 2_000_000 and have < n:
            rate = have / drawn
            raise ConfigError(
                f"margin {margin}: only {rate:.2e} of points on the sphere have |f*(x)| >= margin "
                f"for target={f.kind!r}, dim={dim}; ask for a smaller margin"
            )
    return np.concatenate(kept)[:n].astype(np.float32)


def label_points(f: TargetFunction | MultiClassTarget, X: np.ndarray, rng: np.random.Generator, noise: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(f*(x) as float64, labels 1(f*(x) > 0) with each flipped with probability ``noise`` by ``rng``).
    Several classes: the labels are the arg-max class, each replaced with probability ``noise`` by one of the
    other C − 1 classes drawn uniformly, so the Bayes error is ``noise`` (for noise < (C − 1)/C)."""
    fx = f(X.astype(np.float64))
    flip = rng.random(len(X)) < noise
    if isinstance(f, MultiClassTarget):
        C = f.M.shape[1]
        y = np.argmax(f.scores(X.astype(np.float64)), 1).astype(np.int64)
        other = (y + rng.integers(1, C, len(X))) % C
        return fx, np.where(flip, other, y)
    y = (fx > 0).astype(np.int64)
    return fx, np.where(flip, 1 - y, y)


def make_synthetic(p: dict[str, Any]) -> Arrays:
    """Points on the unit sphere labelled by f*, rejecting |f*(x)| < margin, with optional label noise.

    Keys of ``p`` (config ``datasets.<name>``): dim, n_train, n_val, n_test, margin, target,
    target_hidden, classes, label_noise, seed, fresh_sets, fresh_size. ``classes`` C > 2 (target relu only):
    the labels are the arg-max of C scores (``MultiClassTarget``), the margin the gap between the top two. Label noise flips each label (every split) with that
    probability. The kernel target also stores its values z(x) on every split as ``z_<split>`` (float64),
    the logits of the kernel-limit teacher (docs/science.md#kernel-teacher).

    ``fresh_sets`` K > 0 adds the split ``pool``: K more training sets of ``fresh_size`` points each
    (default ``n_train``; smaller where the teacher learns from more data than one student sees), set r
    drawn (points, then label noise) from its own stream [seed, FRESH_STREAM, r] by the same rule as the
    main draw, so the other splits, and set r, do not depend on K (resampling ``fresh``,
    docs/science.md#b-replicates).
    """
    rng = np.random.default_rng(p["seed"])
    dim, margin, noise = p["dim"], p["margin"], p.get("label_noise", 0.0)
    C = p.get("classes", 2)
    if C > 2:
        if p["target"] != "relu":
            raise ConfigError(f"classes {C}: only the relu target has more than two classes, got {p['target']!r}")
        f: TargetFunction | MultiClassTarget = MultiClassTarget(dim, C, rng, p.get("target_hidden", 8))
    else:
        f = TargetFunction(p["target"], dim, rng, p.get("target_hidden", 8))
    X = draw_points(f, rng, p["n_train"] + p.get("n_val", 0) + p["n_test"], dim, margin)
    fx, y = label_points(f, X, rng, noise)
    out = split_head(X, y, p["n_train"], p.get("n_val", 0))
    if p["target"] == "kernel":
        z = split_head(X, fx, p["n_train"], p.get("n_val", 0))
        out.update({f"z_{k[2:]}": v for k, v in z.items() if k.startswith("y_")})
    sets = [np.random.default_rng([p["seed"], FRESH_STREAM, r]) for r in range(p.get("fresh_sets", 0))]
    if sets:
        size = p.get("fresh_size") or p["n_train"]
        X_pool = [draw_points(f, g, size, dim, margin) for g in sets]
        drawn = [label_points(f, x, g, noise) for x, g in zip(X_pool, sets)]
        out[f"X_{POOL}"] = np.concatenate(X_pool)
        out[POOL_SIZE] = np.array(size)
        out[f"y_{POOL}"] = np.concatenate([yr for _, yr in drawn])
        if p["target"] == "kernel":
            out[f"z_{POOL}"] = np.concatenate([fr for fr, _ in drawn])
    return out
