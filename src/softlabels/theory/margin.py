"""The kernel margin γ of a data set (docs/science.md#a-margin, Assumption 1) and the bounds the pipeline reports.

- ``svm_margin``: the hard-margin SVM margin on the limiting kernel H (no intercept, so it is the
  margin of the same function class as γ). Any v with ‖v(z)‖ ≤ 1 has ‖v‖_H ≤ 1, so this is an
  *upper bound* on γ. The solver's dual value also gives a certified upper bound ``svm_margin_upper``
  on the SVM margin itself; the two meet at convergence.
- ``linear_lower_bound``: if the inputs are linearly separable (through the origin) by a unit u with
  margin γ̂, then v ≡ u gives γ ≥ γ̂/2. This is a *lower bound* on γ (0 when not separable).
- γ itself, solved as the Monte-Carlo convex program of Assumption 1 (``softlabels.theory.mc_margin``,
  docs/science.md#a-margin-solve), with its duality gap and a certificate v whose population margin
  gives a (statistical) lower bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize


def _angles(X: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nx = np.linalg.norm(X, axis=1)
    nz = np.linalg.norm(Z, axis=1)
    dot = X @ Z.T
    denom = np.outer(nx, nz)
    cos = np.divide(dot, denom, out=np.ones_like(dot), where=denom > 0)
    return dot, np.arccos(np.clip(cos, -1.0, 1.0))


def limiting_kernel(X: np.ndarray, Z: np.ndarray | None = None) -> np.ndarray:
    """H(x, x') = xᵀx' (π − θ)/(2π): the first layer's kernel with the output layer fixed."""
    X = np.asarray(X, dtype=np.float64)
    Z = X if Z is None else np.asarray(Z, dtype=np.float64)
    dot, theta = _angles(X, Z)
    return dot * (np.pi - theta) / (2 * np.pi)


def ntk_kernel(X: np.ndarray, Z: np.ndarray | None = None) -> np.ndarray:
    """The full two-layer NTK: H plus the degree-1 arc-cosine term ‖x‖‖x'‖(sin θ + (π − θ)cos θ)/(2π)."""
    X = np.asarray(X, dtype=np.float64)
    Z = X if Z is None else np.asarray(Z, dtype=np.float64)
    dot, theta = _angles(X, Z)
    norms = np.outer(np.linalg.norm(X, axis=1), np.linalg.norm(Z, axis=1))
    return limiting_kernel(X, Z) + norms * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)


def max_margin(K: np.ndarray, y: np.ndarray, C: float = 1e8, max_iter: int = 20000) -> dict[str, float]:
    """Hard-margin SVM without intercept on a precomputed kernel, through its dual.

    Solves max_α 1ᵀα − ½ αᵀQα, 0 ≤ α ≤ C, Q = (y yᵀ) ∘ K, with y in {−1, +1}. Returns
    ``margin``: min_i y_i f(x_i)/‖f‖_H of the solution found (a margin that is achieved, ≤ 0 when the
    data are not separated) and ``margin_upper``: 1/sqrt(2·dual) (weak duality: no separator has a
    larger margin). With a large C, the two agree at convergence.
    """
    y = np.where(np.asarray(y) > 0, 1.0, -1.0)
    Q = (y[:, None] * y[None, :]) * np.asarray(K, dtype=np.float64)
    n = len(y)
    scale = max(float(np.max(np.diag(Q))), 1e-12)
    Qs = Q / scale  # better conditioned; α = αs / scale

    def fun(a: np.ndarray) -> tuple[float, np.ndarray]:
        g = Qs @ a
        return 0.5 * a @ g - a.sum(), g - 1.0

    res = minimize(fun, np.zeros(n), jac=True, method="L-BFGS-B", bounds=[(0.0, C * scale)] * n,
                   options={"maxiter": max_iter, "maxfun": 4 * max_iter, "ftol": 1e-15, "gtol": 1e-10})
    alpha = res.x / scale
    f = Q @ alpha
    norm2 = float(alpha @ f)
    if norm2 <= 0:
        return {"margin": 0.0, "margin_upper": float("inf"), "n_support": 0}
    dual = float(alpha.sum() - 0.5 * norm2)
    return {
        "margin": float(np.min(f) / np.sqrt(norm2)),
        "margin_upper": float(1.0 / np.sqrt(2 * dual)) if dual > 0 else float("inf"),
        "n_support": int(np.sum(alpha > 1e-8 * alpha.max())),
    }


#: iterations of the linear SVM behind the bound "half the linear margin": the margin its iterate achieves is a
#: lower bound at any iteration, and on data that are not linearly separable (the digit tasks) the dual never
#: converges, so the default 20000 iterations cost 15-20 s of a margin job for a bound of 0
LINEAR_SVM_ITERATIONS = 500


def kernel_margin_report(X: np.ndarray, y: np.ndarray, max_points: int = 2000, n_directions: int = 4000,
                         max_iter: int = 500, rel_tol: float = 1e-3, fresh_directions: int = 20000,
                         max_work: float = 1e11, max_seconds: float = float("inf")) -> dict[str, Any]:
    """γ of a data set's training inputs: solved (Monte-Carlo program), with an upper bound (SVM on H) and a
    lower bound (the solver's certificate on fresh directions, or half the linear margin if larger).

    Inputs are scaled by 1/max‖x‖ so that ‖x‖ ≤ 1, as the theory assumes. At most ``max_points`` points are
    used (the first ones; the margin of a subset is an upper bound for the full set's).
    """
    from softlabels.theory.mc_margin import solve_mc_margin

    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)[:max_points]
    y = np.asarray(y)[:max_points]
    X = X / np.max(np.linalg.norm(X, axis=1))
    kern = max_margin(limiting_kernel(X), y)
    lin = max_margin(X @ X.T, y, max_iter=LINEAR_SVM_ITERATIONS)
    lower_linear = max(lin["margin"], 0.0) / 2
    mc = solve_mc_margin(X, y, n_directions=n_directions, max_iter=max_iter, rel_tol=rel_tol,
                         fresh_directions=fresh_directions, max_work=max_work, max_seconds=max_seconds)
    lower = max(lower_linear, mc["population_lower"])
    return {
        "gamma": mc["primal"],
        "gamma_is": (f"solved: the margin achieved by the optimal v of the Monte-Carlo program of Assumption 1 "
                     f"({n_directions} Gaussian directions), within gamma_gap of its optimum"),
        "gamma_upper": kern["margin_upper"],
        "gamma_upper_is": "the hard-margin SVM on the limiting kernel H (no intercept), weak-duality value: an upper bound on γ",
        "gamma_lower": lower,
        "gamma_lower_is": ("the larger of: the solver's certificate v(z) = g(z)/‖g(z)‖, an admissible map, evaluated on "
                           f"{fresh_directions} fresh directions (min over points of mean − 3 standard errors: a "
                           "statistical lower bound on γ), and half the linear margin (an exact lower bound)"),
        "gamma_gap": mc["gap"],
        "gamma_mc_dual": mc["dual"],
        "gamma_mc_directions": mc["n_directions"],
        "gamma_mc_iterations": mc["iterations"],
        "gamma_mc_converged": mc["converged"],
        "gamma_mc_seconds": mc["seconds"],
        "gamma_mc_support": mc["n_support"],
        "gamma_certificate": mc["population_min"],
        "gamma_certificate_se": mc["population_se"],
        "gamma_certificate_directions": mc["fresh_directions"],
        "gamma_lower_linear": lower_linear,
        "svm_margin": kern["margin"],
        "svm_margin_upper": kern["margin_upper"],
        "svm_support_vectors": kern["n_support"],
        "linear_margin": lin["margin"],
        "n_points": int(len(y)),
        "input_scale": "x / max‖x‖",
    }
