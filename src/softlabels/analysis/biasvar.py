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
