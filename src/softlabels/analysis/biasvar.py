"""Bias–variance decompositions of R replicates' test predictions (docs/science.md#b-ce-decomposition).

All functions take log-probabilities ``logp`` of shape (R, N, C) (R replicates, N test points) and
labels ``y`` (N,). Per-point terms are returned so that intervals (resampling test points) and paired
comparisons between methods stay possible; ``summarise`` averages them.

- cross-entropy (Heskes 1998; Yang et al. 2020): π̄ = normalise(exp(mean_r log π_r));
  bias = −log π̄_y, variance = mean_r KL(π̄ ‖ π_r), and mean_r CE(π_r, y) = bias + variance exactly;
- 0-1 loss (Domingos 2000): main prediction = the mode; bias = 1(main ≠ y); variance =
  P(pred ≠ main); loss = bias + c·variance with c = 1 on unbiased points and
  c = −P(pred = y | pred ≠ main) on biased ones (−1 for binary tasks);
- squared error of the probability vectors: mean_r ‖π_r − e_y‖² = ‖π̂ − e_y‖² + mean_r ‖π_r − π̂‖²,
  π̂ the arithmetic mean.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import logsumexp

TERMS = ("ce_loss", "ce_bias", "ce_variance", "zo_loss", "zo_bias", "zo_variance", "zo_net_variance",
         "zo_variance_unbiased", "zo_variance_biased", "se_loss", "se_bias", "se_variance")


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return z - logsumexp(z, axis=-1, keepdims=True)


def accuracy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy of each replicate: logits (R, N, C), labels (N,) -> (R,); (N, C) logits give a scalar."""
    return (np.asarray(logits).argmax(-1) == y).mean(-1)


def ce_decomposition(logp: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    logp = np.asarray(logp, dtype=np.float64)
    R, N, _ = logp.shape
    mean_log = logp.mean(0)                                   # (N, C)
    log_bar = mean_log - logsumexp(mean_log, axis=-1, keepdims=True)
    pts = np.arange(N)
    loss = -logp[:, pts, y].mean(0)
    bias = -log_bar[pts, y]
    variance = (np.exp(log_bar)[None] * (log_bar[None] - logp)).sum(-1).mean(0)
    return {"ce_loss": loss, "ce_bias": bias, "ce_variance": variance, "log_bar": log_bar}


def zero_one_decomposition(pred: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """Domingos' decomposition from hard predictions ``pred`` (R, N)."""
    R, N = pred.shape
    counts = np.zeros((N, n_classes))
    np.add.at(counts, (np.tile(np.arange(N), R), pred.ravel()), 1.0)
    main = counts.argmax(1)                                   # ties: the smallest class
    pts = np.arange(N)
    loss = 1.0 - counts[pts, y] / R
    bias = (main != y).astype(np.float64)
    variance = 1.0 - counts[pts, main] / R
    off_main = R - counts[pts, main]
    p_y_given_off = np.divide(counts[pts, y], off_main, out=np.zeros(N), where=off_main > 0)
    c = np.where(bias > 0, -p_y_given_off, 1.0)
    return {
        "zo_loss": loss, "zo_bias": bias, "zo_variance": variance, "zo_net_variance": c * variance,
        "zo_variance_unbiased": variance * (bias == 0), "zo_variance_biased": variance * (bias > 0),
    }


def squared_error_decomposition(logp: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    p = np.exp(np.asarray(logp, dtype=np.float64))
    onehot = np.eye(p.shape[-1])[y]
    mean = p.mean(0)
    return {
        "se_loss": ((p - onehot[None]) ** 2).sum(-1).mean(0),
        "se_bias": ((mean - onehot) ** 2).sum(-1),
        "se_variance": ((p - mean[None]) ** 2).sum(-1).mean(0),
    }


def decompose(logits: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Every per-point term of every decomposition, from replicate logits (R, N, C)."""
    logp = log_softmax(logits)
    y = np.asarray(y, dtype=np.int64)
    out = ce_decomposition(logp, y)
    out.update(zero_one_decomposition(logp.argmax(-1), y, logp.shape[-1]))
    out.update(squared_error_decomposition(logp, y))
    return out


@functools.lru_cache(maxsize=4)
def _resamples(N: int, n_boot: int, seed: int) -> tuple[np.ndarray, ...]:
    """The test-point resamples of a bootstrap, in chunks of at most 256 (memory 256·N each). They depend
    on (N, n_boot, seed) alone, so every term and every cell of a table shares one set of draws."""
    rng = np.random.default_rng(seed)
    chunks = tuple(rng.integers(0, N, (min(256, n_boot - s), N)) for s in range(0, n_boot, 256))
    for c in chunks:
        c.setflags(write=False)
    return chunks


def bootstrap_interval(per_point: np.ndarray, n_boot: int, level: float, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean, resampling test points with replacement."""
    means = np.concatenate([per_point[idx].mean(1) for idx in _resamples(len(per_point), n_boot, seed)])
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def summarise(terms: dict[str, np.ndarray], n_boot: int, level: float, seed: int = 0) -> dict[str, float]:
    """Means of each term over test points, with intervals for the cross-entropy terms and the 0-1 loss."""
    out: dict[str, float] = {t: float(terms[t].mean()) for t in TERMS}
    for t in ("ce_loss", "ce_bias", "ce_variance", "zo_loss", "se_loss"):
        out[f"{t}_lo"], out[f"{t}_hi"] = bootstrap_interval(terms[t], n_boot, level, seed)
    return out


def _logsumexp_last(x: np.ndarray) -> np.ndarray:
    """log Σ_c exp(x_c) over the last axis of finite x (faster than scipy's, which also handles ±inf)."""
    if x.shape[-1] == 2:
        return np.logaddexp(x[..., 0], x[..., 1])
    m = x.max(-1)
    return m + np.log(np.exp(x - m[..., None]).sum(-1))


def paired_shift_intervals(logp_a: np.ndarray, logp_b: np.ndarray, y: np.ndarray, n_boot: int, level: float,
                           seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the CE bias and variance shifts a − b (docs/science.md#b-intervals) by a two-level
    bootstrap: each draw takes R replicates with replacement, the same indices for both arms (replicate r of a is
    paired with replicate r of b), then N test points with replacement, the same for both arms, and recomputes
    π̄ over the drawn replicates and the mean per-point shift over the drawn points.

    ``logp_a``, ``logp_b``: log-probabilities (R, N, C) of the two arms (the first min(R_a, R_b) replicates are
    paired); ``y`` (N,). A replicate drawn k times gets weight k/R in the geometric mean, so a draw's mean log
    probabilities are a weighted mean of log π_r, and per point bias = log Z − mean_r log π_r,y and
    variance = −log Z, Z = Σ_c exp(mean_r log π_r,c) (docs/science.md#b-ce-decomposition). Only log Z is not
    linear in the weights; the linear parts are summed over the drawn points by matrix products.
    Returns {"bias": (lo, hi), "variance": (lo, hi)}."""
    R = min(len(logp_a), len(logp_b))
    a = np.asarray(logp_a[:R], dtype=np.float64)
    b = np.asarray(logp_b[:R], dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    N, C = a.shape[1], a.shape[2]
    pts = np.arange(N)
    # log Z = log π_·,0 (mean) + log Σ_c exp(mean (log π_c − log π_0)): the first part is linear
    lin_var = a[:, :, 0] - b[:, :, 0]                                            # (R, N): −variance shift, linear part
    lin_bias = lin_var - (a[:, pts, y] - b[:, pts, y])                           # (R, N): bias shift, linear part
    rel = [(x[:, :, 1:] - x[:, :, :1]).reshape(R, -1) for x in (a, b)]          # (R, N·(C−1))
    rng = np.random.default_rng(seed)
    shifts: dict[str, list[np.ndarray]] = {"bias": [], "variance": []}
    for start in range(0, n_boot, 256):
        k = min(256, n_boot - start)
        reps = rng.integers(0, R, (k, R))
        w_rep = np.zeros((k, R))
        np.add.at(w_rep, (np.repeat(np.arange(k), R), reps.ravel()), 1.0 / R)       # (k, R), rows sum to 1
        draws = rng.integers(0, N, (k, N))
        w_pt = np.bincount((draws + N * np.arange(k)[:, None]).ravel(), minlength=k * N).reshape(k, N) / N
        # Σ_i w_pt,i Σ_r w_rep,r M_r,i for the linear parts, without forming (k, N) products of them
        lin_b = ((w_pt @ lin_bias.T) * w_rep).sum(1)
        lin_v = ((w_pt @ lin_var.T) * w_rep).sum(1)
        log_z_rel = []
        for r in rel:
            d = (w_rep @ r).reshape(k, N, C - 1)
            log_z_rel.append(np.logaddexp(0.0, d[..., 0]) if C == 2 else
                             _logsumexp_last(np.concatenate([np.zeros((k, N, 1)), d], -1)))
        nonlin = (w_pt * (log_z_rel[0] - log_z_rel[1])).sum(1)
        shifts["bias"].append(lin_b + nonlin)
        shifts["variance"].append(-(lin_v + nonlin))
    q = [(1 - level) / 2, (1 + level) / 2]
    out = {}
    for name, s in shifts.items():
        lo, hi = np.quantile(np.concatenate(s), q)
        out[name] = (float(lo), float(hi))
    return out
