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
import math
from typing import Callable, Iterator

import numpy as np

TERMS = ("ce_loss", "ce_bias", "ce_variance", "ce_bias_unbiased", "ce_variance_unbiased", "zo_loss", "zo_bias", "zo_variance", "zo_net_variance",
         "zo_variance_unbiased", "zo_variance_biased", "se_loss", "se_bias", "se_variance")


def log_softmax(z: np.ndarray) -> np.ndarray:
    from scipy.special import logsumexp  # here, not at import: the tables that never call it skip scipy

    z = np.asarray(z, dtype=np.float64)
    return z - logsumexp(z, axis=-1, keepdims=True)


def accuracy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy of each replicate: logits (R, N, C), labels (N,) -> (R,); (N, C) logits give a scalar."""
    return (np.asarray(logits).argmax(-1) == y).mean(-1)


def ce_decomposition(logp: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    from scipy.special import logsumexp

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
    out: dict[str, float] = {t: float(terms[t].mean()) for t in TERMS if t in terms}
    for t in ("ce_loss", "ce_bias", "ce_variance", "ce_bias_unbiased", "ce_variance_unbiased", "zo_loss", "se_loss"):
        if t not in terms:
            continue
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


def unbiased_factor(w_rep: np.ndarray) -> np.ndarray:
    """The factor 1 / (1 − Σ_r w_r²) that makes a variance over replicates with weights ``w_rep`` (rows summing
    to 1) unbiased for the variance over training sets (docs/science.md#b-unbiased): R/(R − 1) for R replicates
    weighted equally; for a bootstrap draw that repeats replicates, the same correction for its distinct
    replicates weighted by their counts (over R). Rows with a single replicate give inf."""
    w = np.atleast_2d(np.asarray(w_rep, dtype=np.float64))
    ss = (w * w).sum(1)
    with np.errstate(divide="ignore"):
        return np.where(ss < 1.0, 1.0 / (1.0 - ss), np.inf)


def unbiased_terms(terms: dict[str, np.ndarray], R: int) -> dict[str, np.ndarray]:
    """``terms`` with the cross-entropy variance and bias unbiased in the number of replicates R
    (docs/science.md#b-unbiased): ce_variance_unbiased = ce_variance · R/(R − 1) and ce_bias_unbiased =
    ce_loss − ce_variance_unbiased (the loss is the mean over replicates, unbiased as it is). NaN for R < 2."""
    f = R / (R - 1.0) if R > 1 else math.nan
    v = np.asarray(terms["ce_variance"], dtype=np.float64) * f
    return {**terms, "ce_variance_unbiased": v, "ce_bias_unbiased": np.asarray(terms["ce_loss"], np.float64) - v}


LEVELS = ("seeds", "replicates", "points")


def hierarchical_draws(S: int, R: int, N: int, n_boot: int, seed: int | np.random.Generator = 0,
                       levels: tuple[str, ...] = LEVELS
                       ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The draws of the bootstrap over teacher seeds, replicates and test points (docs/science.md#b-intervals),
    in chunks of at most 256. The three are **crossed** factors, not nested: replicate r of every teacher
    seed's cell (and of the teacher-free reference) trains on the same training set from the same
    initialisation, and every cell is evaluated on the same test points. So each draw takes S teacher seeds
    with replacement (none drawn when S = 1), **one** set of R replicate indices with replacement shared by
    every drawn seed and both arms of a paired comparison, and N test points with replacement, shared by all
    (the pigeonhole bootstrap of a crossed design, Owen 2007). Yields (seed weights (k, S): how often each seed
    is drawn, over S; replicate weights (k, R); point weights (k, N)), each row summing to 1. ``levels``: the
    factors resampled (the others keep equal weights; ``small_sample_draws`` resamples one at a time to
    measure each one's share). ``seed``: an integer, or a generator to draw from (it is advanced)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, 256):
        k = min(256, n_boot - start)
        w_seed = (resample_weights(rng.integers(0, S, (k, S)), S) if S > 1 and "seeds" in levels
                  else np.full((k, S), 1.0 / S))
        w_rep = (resample_weights(rng.integers(0, R, (k, R)), R) if "replicates" in levels
                 else np.full((k, R), 1.0 / R))
        w_pt = (resample_weights(rng.integers(0, N, (k, N)), N) if "points" in levels
                else np.full((k, N), 1.0 / N))
        yield w_seed, w_rep, w_pt


def expand_draws(draws: np.ndarray, factor: float) -> np.ndarray:
    """``draws`` spread about their (finite) mean by ``factor`` (infinite draws, bounds, stay as they are)."""
    d = np.asarray(draws, dtype=np.float64)
    ok = np.isfinite(d)
    if factor == 1.0 or not ok.any():
        return d
    c = float(d[ok].mean())
    return np.where(ok, c + factor * (d - c), d)


def small_sample_draws(draw: Callable[[tuple[str, ...], int, np.random.Generator], dict[str, np.ndarray]],
                       sizes: dict[str, int], n_boot: int, seed: int | np.random.Generator = 0
                       ) -> dict[str, np.ndarray]:
    """Bootstrap draws of a crossed design, corrected for the bootstrap's small-sample shrinkage and for the
    crossed bootstrap's double count of the interaction (docs/science.md#b-intervals). Resampling n units with
    replacement gives a mean's variance (1 − 1/n) times its unbiased estimate, which matters at 3 seeds or 8
    replicates (a 90 % interval covering about 83 %), while resampling two crossed factors at once counts their
    interaction twice (over-covering). ``draw(levels, k, rng)`` returns k draws of each statistic resampling
    ``levels`` only; the full draws (every level) are spread about their mean so that their variance is
    Σ_l V_l · n_l/(n_l − 1), V_l the variance of the draws that resample level l alone (n_boot/4 of them, at
    least 100) and n_l its number of units (``sizes``): the sum over factors of each one's unbiased share."""
    rng = np.random.default_rng(seed)
    full = draw(LEVELS, n_boot, rng)
    parts = {lv: draw((lv,), max(n_boot // 4, 100), rng) for lv in LEVELS if sizes.get(lv, 1) > 1}
    out = {}
    for name, d in full.items():
        v = {lv: float(np.var(parts[lv][name][np.isfinite(parts[lv][name])])) if np.isfinite(parts[lv][name]).any()
             else 0.0 for lv in parts}
        ok = np.isfinite(d)
        total = float(np.var(d[ok])) if ok.sum() > 1 else 0.0
        factor = math.sqrt(sum(v[lv] * sizes[lv] / (sizes[lv] - 1) for lv in v) / total) if total > 0 else 1.0
        out[name] = expand_draws(d, factor)
    return out


def paired_mean_draws(diffs: list[np.ndarray], n_boot: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Bootstrap draws (n_boot,) of the mean of paired per-(replicate, test point) differences ``diffs`` (one
    (R, N) array per teacher seed, replicate r of both arms in row r; e.g. 100 × (correct_a − correct_b) for
    an accuracy difference in points), by ``hierarchical_draws`` with ``small_sample_draws``' correction: a
    draw's value is the seed-weighted mean of each seed's differences averaged with the draw's replicate
    weights and point weights."""
    S = len(diffs)
    R = min(len(d) for d in diffs)
    D = [np.asarray(d[:R], dtype=np.float64) for d in diffs]
    N = D[0].shape[1]

    def draw(levels: tuple[str, ...], k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        out = [sum(w_seed[:, s] * ((w_rep @ D[s]) * w_pt).sum(1) for s in range(S))
               for w_seed, w_rep, w_pt in hierarchical_draws(S, R, N, k, rng, levels)]
        return {"mean": np.concatenate(out)}

    return small_sample_draws(draw, {"seeds": S, "replicates": R, "points": N}, n_boot, seed)["mean"]


SHIFTS = ("bias", "variance", "bias_unbiased", "variance_unbiased")


def _shifts(bias: np.ndarray, var: np.ndarray, w_rep: np.ndarray) -> dict[str, np.ndarray]:
    """The raw CE bias and variance shifts a − b of draws with replicate weights ``w_rep`` (shared by both arms),
    and the shifts unbiased in the number of replicates (``unbiased_factor``; the bias is the loss, which needs
    no correction, less the corrected variance)."""
    f = unbiased_factor(w_rep)
    return {"bias": bias, "variance": var, "variance_unbiased": var * f, "bias_unbiased": bias + var * (1.0 - f)}


def seed_shift_draws(logp_a: list[np.ndarray], logp_b: np.ndarray, y: np.ndarray, n_boot: int, seed: int = 0
                     ) -> dict[str, np.ndarray]:
    """Bootstrap draws of the CE bias and variance shifts a − b by ``hierarchical_draws``, with
    ``small_sample_draws``' correction (docs/science.md#b-intervals). ``logp_a``: the distilled arm under each of
    S teacher seeds, each (R, N, C); ``logp_b``: the direct arm (R, N, C), teacher-free, paired with every seed's
    arm replicate by replicate (the first min(R) replicates of each are used). A draw's shift is the
    seed-weighted mean of each seed's shift recomputed from the draw's replicates (π̄ over them, the same
    replicates for every seed and the direct arm) and points. Returns ``SHIFTS`` -> (n_boot,): the raw shifts
    and the ones unbiased in R."""
    S = len(logp_a)
    R = min([len(logp_b), *(len(a) for a in logp_a)])
    y = np.asarray(y, dtype=np.int64)
    arms = [_Arm(a[:R], y) for a in logp_a]
    ref = _Arm(logp_b[:R], y)

    def draw(levels: tuple[str, ...], k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {name: [] for name in SHIFTS}
        for w_seed, w_rep, w_pt in hierarchical_draws(S, R, ref.N, k, rng, levels):
            rb, rv = ref.terms(w_rep, w_pt)
            bias, var = np.zeros(len(w_pt)), np.zeros(len(w_pt))
            for s in range(S):
                rows = np.flatnonzero(w_seed[:, s] > 0)
                if len(rows):
                    ab, av = arms[s].terms(w_rep[rows], w_pt[rows])
                    bias[rows] += w_seed[rows, s] * (ab - rb[rows])
                    var[rows] += w_seed[rows, s] * (av - rv[rows])
            for name, v in _shifts(bias, var, w_rep).items():
                out[name].append(v)
        return {name: np.concatenate(v) for name, v in out.items()}

    return small_sample_draws(draw, {"seeds": S, "replicates": R, "points": ref.N}, n_boot, seed)


def seed_shift_estimates(logp_a: list[np.ndarray], logp_b: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The CE bias and variance shifts a − b over all replicates and test points, averaged over the seeds of
    ``logp_a`` (as ``seed_shift_draws``, without resampling): ``SHIFTS`` -> value."""
    R = min([len(logp_b), *(len(a) for a in logp_a)])
    y = np.asarray(y, dtype=np.int64)
    rb, rv = _Arm(logp_b[:R], y).mean_terms()
    terms = [_Arm(a[:R], y).mean_terms() for a in logp_a]
    bias, var = float(np.mean([t[0] - rb for t in terms])), float(np.mean([t[1] - rv for t in terms]))
    return {k: float(v[0]) for k, v in _shifts(np.array([bias]), np.array([var]), np.full((1, R), 1.0 / R)).items()}


def paired_shift_intervals(logp_a: np.ndarray, logp_b: np.ndarray, y: np.ndarray, n_boot: int, level: float,
                           seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the CE bias and variance shifts a − b (docs/science.md#b-intervals) by a two-level
    bootstrap: each draw takes R replicates with replacement, the same indices for both arms (replicate r of a is
    paired with replicate r of b), then N test points with replacement, the same for both arms, and recomputes
    π̄ over the drawn replicates and the mean per-point shift over the drawn points (``seed_shift_draws`` with
    one seed). ``logp_a``, ``logp_b``: log-probabilities (R, N, C) of the two arms (the first min(R_a, R_b)
    replicates are paired); ``y`` (N,). Returns ``SHIFTS`` -> (lo, hi): the raw shifts and the ones unbiased
    in R (docs/science.md#b-unbiased)."""
    return percentile_intervals(seed_shift_draws([logp_a], logp_b, y, n_boot, seed), level)


def percentile_intervals(draws: dict[str, np.ndarray], level: float) -> dict[str, tuple[float, float]]:
    """Each entry's percentile interval at ``level``."""
    q = [(1 - level) / 2, (1 + level) / 2]
    return {name: tuple(float(x) for x in np.quantile(d, q)) for name, d in draws.items()}
