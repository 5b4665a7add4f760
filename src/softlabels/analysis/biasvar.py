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
from typing import Iterator

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
def _resample_counts(N: int, n_boot: int, seed: int) -> np.ndarray:
    """The test-point resamples of a bootstrap as counts (n_boot, N): how often each point is drawn, so that
    a resample's mean of per-point terms is one row of a matrix product over N. They depend on (N, n_boot,
    seed) alone, so every term and every cell of a table shares one set of draws."""
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, N, (min(256, n_boot - s), N)) for s in range(0, n_boot, 256)]
    counts = np.concatenate([resample_counts(d, N) for d in draws]) if draws else np.zeros((0, N))
    counts.setflags(write=False)
    return counts


def bootstrap_interval(per_point: np.ndarray, n_boot: int, level: float, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean, resampling test points with replacement."""
    per_point = np.asarray(per_point, dtype=np.float64)
    means = (_resample_counts(len(per_point), n_boot, seed) @ per_point) / len(per_point)
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


class _Arm:
    """One arm's test log-probabilities (R, N, C), split into what a weighted bootstrap draw needs: the CE
    terms of a draw with replicate weights w (summing to 1) are, per point, log Z = Σ_r w_r log π_r,0 +
    log(1 + Σ_c>0 exp(Σ_r w_r (log π_r,c − log π_r,0))), bias = log Z − Σ_r w_r log π_r,y and
    variance = −log Z (docs/science.md#b-ce-decomposition): only the log(1 + ...) part is not linear in w."""

    def __init__(self, logp: np.ndarray, y: np.ndarray):
        logp = np.asarray(logp, dtype=np.float64)
        self.R, self.N, self.C = logp.shape
        self.lin0 = logp[:, :, 0]                                             # (R, N)
        self.liny = logp[:, np.arange(self.N), y]                             # (R, N)
        self.rel = (logp[:, :, 1:] - logp[:, :, :1]).reshape(self.R, -1)      # (R, N·(C−1))

    def terms(self, w_rep: np.ndarray, w_pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bias, variance) of k draws: replicate weights ``w_rep`` (k, R), point weights ``w_pt`` (k, N),
        each row summing to 1; the point sums are matrix products, never (k, N, R) arrays."""
        k = len(w_rep)
        d = (w_rep @ self.rel).reshape(k, self.N, self.C - 1)
        log1p = (np.logaddexp(0.0, d[..., 0]) if self.C == 2 else
                 _logsumexp_last(np.concatenate([np.zeros((k, self.N, 1)), d], -1)))
        log_z = ((w_pt @ self.lin0.T) * w_rep).sum(1) + (w_pt * log1p).sum(1)
        return log_z - ((w_pt @ self.liny.T) * w_rep).sum(1), -log_z

    def mean_terms(self) -> tuple[float, float]:
        """(bias, variance) over every replicate and test point, unweighted."""
        b, v = self.terms(np.full((1, self.R), 1.0 / self.R), np.full((1, self.N), 1.0 / self.N))
        return float(b[0]), float(v[0])


def resample_counts(draws: np.ndarray, size: int) -> np.ndarray:
    """Bootstrap draws (k, n) of indices in range(size) as counts (k, size): how often each index is drawn."""
    k = len(draws)
    return np.bincount((draws + size * np.arange(k)[:, None]).ravel(), minlength=k * size).reshape(k, size).astype(float)


def resample_weights(draws: np.ndarray, size: int) -> np.ndarray:
    """Bootstrap draws (k, size) of indices in range(size) as weights (k, size): each index's count over size."""
    return resample_counts(draws, size) / size


def hierarchical_draws(S: int, R: int, N: int, n_boot: int, seed: int | np.random.Generator = 0
                       ) -> Iterator[tuple[np.ndarray, list[np.ndarray], np.ndarray]]:
    """The draws of the hierarchical bootstrap (docs/science.md#b-intervals), in chunks of at most 256: each
    draw takes S teacher seeds with replacement (none drawn when S = 1: slot 0 is seed 0), for each slot its
    own R replicate indices with replacement (the same for both arms of a paired comparison), and N test
    points with replacement (the same for every slot and both arms). Yields (pick (k, S): the seed of each
    slot, the slots' replicate weights [(k, R)] * S, the point weights (k, N)), weights summing to 1 per row.
    ``seed``: an integer, or a generator to draw from (it is advanced)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, 256):
        k = min(256, n_boot - start)
        pick = rng.integers(0, S, (k, S)) if S > 1 else np.zeros((k, 1), dtype=np.int64)
        reps = rng.integers(0, R, (k, S, R))
        w_pt = resample_weights(rng.integers(0, N, (k, N)), N)
        yield pick, [resample_weights(reps[:, j], R) for j in range(S)], w_pt


def paired_mean_draws(diffs: list[np.ndarray], n_boot: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Bootstrap draws (n_boot,) of the mean of paired per-(replicate, test point) differences ``diffs`` (one
    (R, N) array per teacher seed, replicate r of both arms in row r; e.g. 100 × (correct_a − correct_b) for
    an accuracy difference in points), by ``hierarchical_draws``: a draw's value is the mean over its slots of
    the drawn seed's differences averaged with the slot's replicate weights and the point weights."""
    S = len(diffs)
    R = min(len(d) for d in diffs)
    D = [np.asarray(d[:R], dtype=np.float64) for d in diffs]
    out = []
    for pick, w_reps, w_pt in hierarchical_draws(S, R, D[0].shape[1], n_boot, seed):
        total = np.zeros(len(w_pt))
        for j, w_rep in enumerate(w_reps):
            for s in range(S):
                rows = np.flatnonzero(pick[:, j] == s)
                if len(rows):
                    total[rows] += ((w_rep[rows] @ D[s]) * w_pt[rows]).sum(1)
        out.append(total / S)
    return np.concatenate(out)


def seed_shift_draws(logp_a: list[np.ndarray], logp_b: np.ndarray, y: np.ndarray, n_boot: int, seed: int = 0
                     ) -> dict[str, np.ndarray]:
    """Bootstrap draws of the CE bias and variance shifts a − b by ``hierarchical_draws``
    (docs/science.md#b-intervals). ``logp_a``: the distilled arm under each of S teacher seeds, each (R, N, C);
    ``logp_b``: the direct arm (R, N, C), teacher-free, paired with every seed's arm replicate by replicate
    (the first min(R) replicates of each are used). A draw's shift is the mean over its slots of the shift
    recomputed from the slot's drawn replicates (π̄ over them) and the drawn points. Returns
    {"bias": (n_boot,), "variance": (n_boot,)}."""
    S = len(logp_a)
    R = min([len(logp_b), *(len(a) for a in logp_a)])
    y = np.asarray(y, dtype=np.int64)
    arms = [_Arm(a[:R], y) for a in logp_a]
    ref = _Arm(logp_b[:R], y)
    out: dict[str, list[np.ndarray]] = {"bias": [], "variance": []}
    for pick, w_reps, w_pt in hierarchical_draws(S, R, ref.N, n_boot, seed):
        k = len(w_pt)
        bias, var = np.zeros(k), np.zeros(k)
        for j, w_rep in enumerate(w_reps):                   # slot j: seed pick[:, j], its own replicate draw
            rb, rv = ref.terms(w_rep, w_pt)
            for s in range(S):
                rows = np.flatnonzero(pick[:, j] == s)
                if len(rows):
                    ab, av = arms[s].terms(w_rep[rows], w_pt[rows])
                    bias[rows] += ab - rb[rows]
                    var[rows] += av - rv[rows]
        out["bias"].append(bias / S)
        out["variance"].append(var / S)
    return {name: np.concatenate(v) for name, v in out.items()}


def seed_shift_estimates(logp_a: list[np.ndarray], logp_b: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The CE bias and variance shifts a − b over all replicates and test points, averaged over the seeds of
    ``logp_a`` (as ``seed_shift_draws``, without resampling)."""
    R = min([len(logp_b), *(len(a) for a in logp_a)])
    y = np.asarray(y, dtype=np.int64)
    rb, rv = _Arm(logp_b[:R], y).mean_terms()
    terms = [_Arm(a[:R], y).mean_terms() for a in logp_a]
    return {"bias": float(np.mean([t[0] - rb for t in terms])), "variance": float(np.mean([t[1] - rv for t in terms]))}


def paired_shift_intervals(logp_a: np.ndarray, logp_b: np.ndarray, y: np.ndarray, n_boot: int, level: float,
                           seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the CE bias and variance shifts a − b (docs/science.md#b-intervals) by a two-level
    bootstrap: each draw takes R replicates with replacement, the same indices for both arms (replicate r of a is
    paired with replicate r of b), then N test points with replacement, the same for both arms, and recomputes
    π̄ over the drawn replicates and the mean per-point shift over the drawn points (``seed_shift_draws`` with
    one seed). ``logp_a``, ``logp_b``: log-probabilities (R, N, C) of the two arms (the first min(R_a, R_b)
    replicates are paired); ``y`` (N,). Returns {"bias": (lo, hi), "variance": (lo, hi)}."""
    return percentile_intervals(seed_shift_draws([logp_a], logp_b, y, n_boot, seed), level)


def percentile_intervals(draws: dict[str, np.ndarray], level: float) -> dict[str, tuple[float, float]]:
    """Each entry's percentile interval at ``level``."""
    q = [(1 - level) / 2, (1 + level) / 2]
    return {name: tuple(float(x) for x in np.quantile(d, q)) for name, d in draws.items()}
