"""A teacher's calibration, from its logits and the labels: the negative log-likelihood of softmax(z/τ),
the temperature τ* that minimises it on the validation split (the ``temperature: auto`` of a distilling
method, docs/science.md#teachers), and the expected calibration error. Pure numpy/scipy, no torch.
"""

from __future__ import annotations

import math

import numpy as np

#: the search range of τ*: the schema's range of a method's temperature (docs/configuration.md)
TAU_MIN, TAU_MAX = 0.01, 100.0
#: log-spaced grid points scanned before the local refinement
TAU_GRID = 64
#: equal-width confidence bins of the expected calibration error
ECE_BINS = 15


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def nll(logits: np.ndarray, y: np.ndarray, tau: float = 1.0) -> float:
    """Mean negative log-likelihood (cross-entropy) of the labels under softmax(logits / τ), in nats."""
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        return math.nan
    lp = _log_softmax(np.asarray(logits, dtype=np.float64) / float(tau))
    return float(-lp[np.arange(len(y)), y].mean()) + 0.0  # + 0.0: no "-0" for a perfect fit


def on_search_bound(tau: float, tau_min: float = TAU_MIN, tau_max: float = TAU_MAX) -> bool:
    """Whether a τ* of ``select_temperature`` sits on its search bound (to rounding: the minimiser returns
    0.010000000000000004 for 0.01): the NLL still fell beyond it, so no temperature was chosen."""
    return tau <= tau_min * (1 + 1e-6) or tau >= tau_max * (1 - 1e-6)


def select_temperature(logits: np.ndarray, y: np.ndarray, tau_min: float = TAU_MIN, tau_max: float = TAU_MAX,
                       grid: int = TAU_GRID) -> tuple[float, float]:
    """τ* = argmin_τ NLL(softmax(logits/τ), y) over [tau_min, tau_max], and the NLL there.

    Deterministic: the best of ``grid`` log-spaced values, then a bounded scalar minimisation in log τ
    between that value's neighbours (the NLL is convex in 1/τ, hence unimodal in log τ). A τ* on the
    boundary means the NLL still falls beyond it (e.g. separable data: it falls as τ → 0)."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        raise ValueError("select_temperature needs at least one labelled point")
    logs = np.linspace(math.log(tau_min), math.log(tau_max), grid)
    values = np.array([nll(z, y, math.exp(s)) for s in logs])
    k = int(np.argmin(values))
    lo, hi = logs[max(k - 1, 0)], logs[min(k + 1, grid - 1)]
    best_log, best = float(logs[k]), float(values[k])
    if hi > lo:
        res = minimize_scalar(lambda s: nll(z, y, math.exp(s)), bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-6})
        if res.fun < best:
            best_log, best = float(res.x), float(res.fun)
    return min(max(math.exp(best_log), tau_min), tau_max), best


def expected_calibration_error(logits: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """The standard ECE of the top-class confidence: the points fall into ``bins`` equal-width confidence
    bins over (0, 1] (bin b holds confidences in (b/bins, (b+1)/bins]); ECE = Σ_b (n_b/n)·|acc_b − conf_b|."""
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        return math.nan
    p = np.exp(_log_softmax(logits))
    conf = p.max(-1)
    correct = (p.argmax(-1) == y).astype(np.float64)
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)
