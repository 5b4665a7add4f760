"""The claims table: each claim of paper A and paper B that a run tests, the measured effect with an
interval, and a verdict computed by one stated rule (docs/science.md#claims).

Verdict rule: a claim says an effect lies on one side of a threshold (``> 0``, ``< 0``, ``≤ 2``). It is
*supported* when the whole interval lies on that side, *contradicted* when the whole interval lies on
the other side, and *inconclusive* when the interval straddles the threshold (or no interval could be
computed, or it has zero width: the row's note says why). A setting outside a claim's theorem (paper A:
soft labels that are not the kernel-limit teacher's, data without a certified kernel margin) is
reported with its effect but verdict *not tested*.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd

from softlabels.analysis.biasvar import (paired_mean_draws, resample_weights,
                                         seed_shift_draws, seed_shift_estimates)
from softlabels.analysis.calibration import TAU_MAX, TAU_MIN, on_search_bound
from softlabels.registry import METHODS, NO_TEACHER, hard_label_weight

COLUMNS = ["paper", "claim", "experiment", "setting", "effect", "bound", "estimate", "lo", "hi", "claimed", "verdict",
           "n", "interval", "p_value", "p_against", "exact_p", "note"]
#: the ``bound`` column: the estimate is a value, or (censored m*: docs/science.md#a-censoring) only a bound
BOUNDS = ("", "≥", "≤")
VERDICTS = ("supported", "contradicted", "inconclusive", "not tested")
# data kinds of paper A's own experiments (its Table 1 and Figure 1): there the claim is about accuracy
PAPER_A_ACCURACY_KINDS = ("digits", "mnist1d", "mnist", "cifar10-catdog")


def verdict(lo: float, hi: float, claimed: str, threshold: float) -> str:
    """``claimed`` is '>' or '<' (the effect lies above / below ``threshold``)."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    above, below = lo > threshold, hi < threshold
    if claimed == ">":
        return "supported" if above else "contradicted" if below else "inconclusive"
    if claimed == "<":
        return "supported" if below else "contradicted" if above else "inconclusive"
    raise ValueError(f"claimed must be '>' or '<', got {claimed!r}")


def paired_t(diffs: np.ndarray, level: float) -> tuple[float, float, float]:
    """Mean of paired differences with a t-interval (NaN interval for fewer than two pairs)."""
    from scipy import stats

    d = np.asarray(diffs, float)
    m = float(d.mean())
    if len(d) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, len(d) - 1)) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return m, m - half, m + half


def p_from_t_interval(lo: float, hi: float, claimed: str, threshold: float, level: float, df: float
                      ) -> float:
    """The t-test's one-sided p-value toward the claim (null: the effect lies on the unclaimed side of
    ``threshold``) that a t-interval implies: the estimate is its midpoint and the standard error its half-width
    over t_{(1+level)/2, df}. NaN without an interval, with a zero-width one or without degrees of freedom."""
    from scipy import stats

    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi) or not hi > lo or not df > 0:
        return math.nan
    dist = stats.t(df)
    se = (hi - lo) / (2 * float(dist.ppf((1 + level) / 2)))
    z = ((lo + hi) / 2 - threshold) / se
    return float(dist.sf(z) if claimed == ">" else dist.cdf(z))


def p_from_draws(draws: np.ndarray | tuple[np.ndarray, np.ndarray], claimed: str, threshold: float
                 ) -> tuple[float, float]:
    """One-sided p-values toward the claim and against it from the resampling itself (docs/science.md#p-values):
    the fraction of the draws that lie on the null's side of ``threshold`` (toward the claim '>': draws ≤ it;
    against: draws ≥ it), floored at 1/(number of draws), since no resampling can show a smaller one.
    ``draws``: the draws of the effect, or (lower bounds, upper bounds) of each draw where the effect is only
    bounded (censored m*): toward '>' counts the lower bounds, against it the upper ones, so a p-value is small
    only where the bounds decide it. Undefined draws (NaN) count on the null's side of both tests."""
    lo_d, hi_d = (draws if isinstance(draws, tuple) else (draws, draws))
    lo_d, hi_d = np.asarray(lo_d, float), np.asarray(hi_d, float)
    n = len(lo_d)
    if n == 0:
        return math.nan, math.nan
    below = ~(lo_d > threshold)   # lower bound not above the threshold (NaN included)
    above = ~(hi_d < threshold)   # upper bound not below it
    floor = 1.0 / n
    if claimed == ">":
        return max(float(below.mean()), floor), max(float(above.mean()), floor)
    if claimed == "<":
        return max(float(above.mean()), floor), max(float(below.mean()), floor)
    raise ValueError(f"claimed must be '>' or '<', got {claimed!r}")


def _constant(draws: np.ndarray | tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether every bootstrap draw gives the same effect (or the same pair of bounds): no sampling variance."""
    parts = draws if isinstance(draws, tuple) else (draws,)
    return all(len(d) and bool(np.all(np.asarray(d) == np.asarray(d)[0])) for d in parts)


def percentile(draws: np.ndarray | tuple[np.ndarray, np.ndarray], level: float) -> tuple[float, float]:
    """The percentile interval of bootstrap draws, or of (lower bounds, upper bounds) per draw: the lower
    quantile of the lower bounds and the upper quantile of the upper ones (±inf where more than the tail's
    share of draws is unbounded on that side). NaN draws: the interval is NaN."""
    lo_d, hi_d = (draws if isinstance(draws, tuple) else (draws, draws))
    lo_d, hi_d = np.asarray(lo_d, float), np.asarray(hi_d, float)
    if not len(lo_d) or np.isnan(lo_d).any() or np.isnan(hi_d).any():
        return math.nan, math.nan
    big = 1e300  # infinite bounds through the quantile's interpolation (inf − inf would give NaN) and back

    def q(d: np.ndarray, at: float) -> float:
        v = float(np.quantile(np.clip(d, -big, big), at))
        return math.copysign(math.inf, v) if abs(v) >= big / 2 else v

    return q(lo_d, (1 - level) / 2), q(hi_d, (1 + level) / 2)


def mcnemar_exact(this_correct: np.ndarray, ref_correct: np.ndarray, claimed: str) -> float:
    """McNemar's exact one-sided test toward the claim ('>': this arm is right more often than the
    reference), pooled over replicates: every (replicate, test point) is one pair of predictions, and
    under the null each discordant pair is equally likely to favour either arm (binomial, p = 1/2).
    NaN when no pair is discordant."""
    from scipy import stats

    a, b = np.asarray(this_correct, bool), np.asarray(ref_correct, bool)
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    n = n01 + n10
    if n == 0:
        return math.nan
    return float(stats.binom.sf(n01 - 1, n, 0.5) if claimed == ">" else stats.binom.cdf(n01, n, 0.5))


IDENTICAL = "both arms make identical predictions on every test point in every replicate; no verdict"
NO_ROOM = "no room for the effect: the hard-label student already matches the teacher"
#: paper B's accuracy claims need a teacher this many points of test accuracy above the direct (hard-label)
#: student of the same setting; below it distillation can only regularise (docs/science.md#b-room)
ROOM_POINTS = 3.0
NO_ROOM_B = "not tested: no room"


def _row(paper: str, claim: str, experiment: str, setting: str, effect: str, est: float, lo: float, hi: float,
         claimed: str, threshold: float, n: int, interval: str, note: str = "", premise: bool = True,
         level: float = 0.95, df: float | None = None, exact_p: float = math.nan, no_verdict: str = "",
         draws: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None, bound: str = "") -> dict:
    """One claims row. Its one-sided p-values toward the claim and against it: from the bootstrap ``draws``
    of the effect (``p_from_draws``), or, for a t-interval (``df`` given), the t-test's (``p_from_t_interval``;
    against it: 1 − p); NaN with neither. ``no_verdict``: a reason the setting can give no verdict whatever
    its interval (inconclusive, noted). ``bound``: '≥' or '≤' where the estimate is only a bound (censored
    m*), '' where it is a value."""
    v = verdict(lo, hi, claimed, threshold) if premise else "not tested"
    if v == "inconclusive" and (math.isnan(lo) or math.isnan(hi)) and not note:
        note = "no interval: too few replicates or data points"
    if draws is not None and v in ("supported", "contradicted") and _constant(draws):
        lo = hi = lo if math.isfinite(lo) else hi  # every resample gives the same effect (or the same bounds)
    if v in ("supported", "contradicted") and lo == hi:  # every resample or replicate agrees exactly
        v = "inconclusive"
        note = (note + "; " if note else "") + ("zero-width interval: the replicates agree exactly, so the "
                                                "interval carries no sampling variance; no verdict")
    if no_verdict and v != "not tested":
        v = "inconclusive"
        note = (note + "; " if note else "") + no_verdict
    if draws is not None and not (math.isnan(lo) or math.isnan(hi)) and hi > lo:
        p_toward, p_against = p_from_draws(draws, claimed, threshold)
    elif df is not None:
        p_toward = p_from_t_interval(lo, hi, claimed, threshold, level, df)
        p_against = 1.0 - p_toward
    else:
        p_toward = p_against = math.nan
    return {"paper": paper, "claim": claim, "experiment": experiment, "setting": setting, "effect": effect,
            "bound": bound, "estimate": est, "lo": lo, "hi": hi, "claimed": f"{claimed} {threshold:g}", "verdict": v,
            "n": n, "interval": interval, "p_value": p_toward, "p_against": p_against, "exact_p": exact_p,
            "note": note}


# --- teacher seeds: settings that differ only in the teacher's seed are one row --------------------

def teacher_seed(p: dict[str, Any], teacher: str) -> tuple[str, int | None]:
    """(base teacher, seed) of a seed teacher (<teacher>-s<k>, ``teachers.<teacher>.seeds``; the params'
    ``teacher_seeds``), (teacher, None) for any other teacher and for 'none'."""
    s = p.get("teacher_seeds", {}).get(teacher)
    return (s["base"], int(s["seed"])) if s else (teacher, None)


def seed_groups(p: dict[str, Any], pairs: list[tuple[tuple, tuple]]) -> list[tuple[tuple, tuple, dict]]:
    """A claim's (cell, reference cell) pairs (keys (experiment, data set, teacher, method, student, width)),
    grouped by teacher seed: pairs that differ only in the seed of their teachers form one group {seed:
    (cell, reference)}; seed k of one teacher pairs with seed k of the other only (and with the one teacher
    of an arm without seeds, e.g. teacher-free hard-label students). A pair without seed teachers is a group
    of its own, {None: pair}. Returns (cell, reference) with base teacher names, and the group, in the order
    of the pairs."""
    groups: dict[tuple, dict] = {}
    for key, ref in pairs:
        (tb, ts), (rb, rs) = teacher_seed(p, key[2]), teacher_seed(p, ref[2])
        if ts is not None and rs is not None and ts != rs:
            continue
        gkey = ((*key[:2], tb, *key[3:]), (*ref[:2], rb, *ref[3:]))
        groups.setdefault(gkey, {})[ts if ts is not None else rs] = (key, ref)
    return [(a, b, g) for (a, b), g in groups.items()]


def seeds_label(seeds: Any) -> str:
    """How a pooled row names its teacher seeds: [0, 1, 2] -> 'seeds 0, 1, 2'."""
    seeds = sorted(seeds)
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(k) for k in seeds)}"


def seed_bootstrap(diffs: dict[int, np.ndarray], n_boot: int, level: float, rng: np.random.Generator
                   ) -> tuple[float, float, float, int, np.ndarray | None]:
    """The mean over teacher seeds of each seed's mean paired difference, with a two-level percentile
    bootstrap interval: ``paired_mean_draws`` with one value per replicate (each of ``n_boot`` draws takes S
    seeds with replacement and one set of R replicate indices with replacement, shared by every drawn seed:
    replicate r of every seed's cells shares its training set and initialisation, so seeds and replicates are
    crossed; the draw's value is the mean over the drawn seeds of the drawn replicates' means). Returns
    (estimate, lo, hi, n, draws), n the number of paired replicates over all seeds; a NaN interval and no
    draws with fewer than 2 of them."""
    arrs = [np.asarray(diffs[k], float) for k in sorted(diffs)]
    n = sum(len(a) for a in arrs)
    est = float(np.mean([a.mean() for a in arrs]))
    if n < 2:
        return est, math.nan, math.nan, n, None
    boots = paired_mean_draws([a[:, None] for a in arrs], n_boot, seed=rng)
    lo, hi = percentile(boots, level)
    return est, lo, hi, n, boots


CROSSED_TEXT = ("{level:.0%} crossed bootstrap: teacher seeds, and replicates (paired) and test points shared by "
                "the seeds")


def seed_interval_text(level: float) -> str:
    return f"{level:.0%} crossed bootstrap: teacher seeds, and replicates (paired) shared by the seeds"


def seed_pooled_row(p: dict[str, Any], diffs: dict[int, np.ndarray], paper: str, claim: str, experiment: str,
                    setting: str, effect: str, claimed: str, threshold: float, **kw: Any) -> dict:
    """One claims row for the settings that differ only in their teacher's seed: the effect is the mean over
    seeds of the paired difference, the interval ``seed_bootstrap``'s (``tables.n_boot`` draws, seeded by the
    run's ``seed``), its p-values from the same draws (as for every bootstrap row), and ``n`` seeds ×
    replicates."""
    rng = np.random.default_rng(p.get("seed", 0))
    est, lo, hi, n, draws = seed_bootstrap(diffs, p["n_boot"], p["interval"], rng)
    return _row(paper, claim, experiment, setting, effect, est, lo, hi, claimed, threshold, n,
                seed_interval_text(p["interval"]), level=p["interval"], draws=draws, **kw)


# --- paper A: neurons needed ----------------------------------------------------------------------

def regime(p: dict[str, Any], student: str) -> str:
    """The training regime a theory-regime student setup stands for, in words (docs/science.md#a-regimes):
    both arms held to one radius B, or each arm at its own theorem's radius (radius auto)."""
    label = p.get("student_setups", {}).get(student, {}).get("radius", "")
    if label == "auto":
        return "each arm at its own theorem's radius"
    return f"both arms at radius B = {label}: a constraint study" if label else "one radius for both arms"


def steps_text(p: dict[str, Any], student: str) -> str:
    """The training budget a theory-regime setup's verdicts were measured at, for the setting: ', T = 800, η = 4'
    ('' where the params do not give it)."""
    st = p.get("student_steps", {}).get(student)
    return f", T = {st['epochs']}, η = {st['lr']:g}" if st else ""


def constraint_note(p: dict[str, Any], student: str, sets: list[str], gammas: dict[str, float]) -> str:
    """For a common radius B (docs/science.md#a-regimes): the hard-label theorem's own radius on these data sets
    (``hard_label_radius`` at each one's solved γ and n, ε the smallest of ``epsilons``, what ``radius: auto``
    gives the hard arm) beside B, since at B far below it the hard arm is held to a ball its theorem does not
    analyse; '' for other setups or without the data sizes."""
    from softlabels.theory.radius import hard_label_radius

    label = p.get("student_setups", {}).get(student, {}).get("radius", "")
    sizes = p.get("data_sizes", {})
    if not label or label == "auto":
        return ""
    radii = [hard_label_radius(gammas[d], sizes[d], min(float(e) for e in p["epsilons"]))
             for d in sets if d in sizes and gammas.get(d, math.nan) > 0]
    if not radii:
        return ""
    return (f"a constraint study: both arms held to B = {label}, while the hard-label theorem's radius on these data "
            f"(radius auto: (√(2 ln(4n/δ)) + ln(4/ε))/(γ/4)) is {min(radii):.0f}–{max(radii):.0f}")


def _premise_note(p: dict[str, Any], ds: str, t: str) -> str:
    """Why a setting lies outside paper A's theorems ('' when it lies inside): the soft labels must be the
    kernel-limit teacher's, and the data set must have a certified kernel margin (docs/science.md#a-regimes)."""
    notes = []
    if p.get("teacher_models", {}).get(t) != "kernel":
        notes.append(f"teacher {t} is not the kernel-limit teacher (its labels are outside the theorem's class)")
    if p.get("data_targets", {}).get(ds) != "kernel":
        notes.append(f"data set {ds} has no certified kernel margin (target is not 'kernel')")
    return "; ".join(notes)


def _soft_arm_note(p: dict[str, Any], t: str, st: str) -> str:
    """Where the soft arm of a regime is the soft arm of another (docs/science.md#a-regimes): at its own theorem's
    radius the kernel-limit teacher's student gets B = 1, so with a B = 1 setup beside it its cells are that
    setup's run (trained once, copied), and only the hard arm differs between the two regimes; '' otherwise."""
    setups = p.get("student_setups", {})
    st_info = setups.get(st, {})
    if st_info.get("radius") != "auto" or p.get("teacher_models", {}).get(t) != "kernel":
        return ""
    sibling = [s for s, v in setups.items() if v.get("setup") == st_info.get("setup") and v.get("radius") == "1"]
    if not sibling:
        return ""
    return (f"the soft arm at its own theorem's radius is B = 1 (the kernel-limit teacher's): its cells are the "
            f"{sibling[0]} run, so only the hard arm differs from the B = 1 rows")


def _own_radius_twin(p: dict[str, Any], t: str, st: str) -> str:
    """The own-radius setup whose soft arm is this B = 1 setup's run (``_soft_arm_note`` from the other side),
    or ''."""
    setups = p.get("student_setups", {})
    base = setups.get(st, {})
    if base.get("radius") != "1":
        return ""
    return next((s for s, v in setups.items() if v.get("setup") == base.get("setup") and v.get("radius") == "auto"
                 and _soft_arm_note(p, t, s)), "")


def _neuron_pairs(p: dict[str, Any], curves: dict[tuple, np.ndarray]) -> dict[tuple, dict[str, Any]]:
    """(experiment, teacher, soft method, student) -> {data set: (widths, soft errors, hard errors)} for every
    theory-regime soft-label arm and its hard-label partner at the same student setup (so the same radius
    regime); errors are per width, each (R,) the mean over iterations of each replicate's 0-1 training error."""
    kinds = p["method_kinds"]
    groups: dict[tuple, dict[int, np.ndarray]] = {}
    for (exp, ds, t, m, st, w), err in curves.items():
        groups.setdefault((exp, ds, t, m, st), {})[w] = err.mean(axis=1)
    out: dict[tuple, dict[str, Any]] = {}
    for (exp, ds, t, m, st), by_w in sorted(groups.items()):
        if t == NO_TEACHER or not METHODS[kinds[m]].needs_teacher or p["regimes"].get(st) != "theory":
            continue
        hard = groups.get((exp, ds, NO_TEACHER, p["direct_method"], st))
        if hard is None:
            continue
        widths = sorted(set(by_w) & set(hard))
        if len(widths) < 2:
            continue
        R = min(len(by_w[widths[0]]), len(hard[widths[0]]))
        out.setdefault((exp, t, m, st), {})[ds] = (widths, [by_w[w][:R] for w in widths],
                                                  [hard[w][:R] for w in widths])
    return out


def m_star_rows(widths: list[int], means: np.ndarray, eps: float) -> np.ndarray:
    """m*(ε) between grid points, for each row of mean errors ``means`` (B, K) over ``widths`` (K): where the
    mean error first falls to ε, log2 m is interpolated linearly in the error between the last width above ε
    and the first at or below it (at the narrowest width: that width; never reached: NaN). On a power-of-two
    grid the plain m* moves in factors of 2, so replicates that differ a little give the same m* and a
    bootstrap interval of zero width; the interpolated one moves with them."""
    means = np.asarray(means, float)
    lw = np.log2(np.asarray(widths, float))
    below = means <= eps
    k = below.argmax(1)
    rows = np.arange(len(means))
    e, e0 = means[rows, k], means[rows, np.maximum(k - 1, 0)]
    frac = np.where(e0 > e, (e0 - eps) / np.where(e0 > e, e0 - e, 1.0), 1.0)
    out = np.where(k == 0, lw[k], lw[np.maximum(k - 1, 0)] + frac * (lw[k] - lw[np.maximum(k - 1, 0)]))
    return np.where(below.any(1), 2.0 ** out, np.nan)


def m_star_interpolated(widths: list[int], errs: list[np.ndarray], eps: float) -> float:
    """``m_star_rows`` of the replicates' mean errors ``errs`` (one (R,) array per width)."""
    return float(m_star_rows(widths, np.array([[float(e.mean()) for e in errs]]), eps)[0])


def m_star_bounds(widths: list[int], means: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The bounds within which the interpolated m*(ε) (``m_star_rows``) is known to lie, for each row of mean
    errors (docs/science.md#a-censoring): [m*, m*] where ε is first reached above the narrowest width; (0, the
    narrowest width] where the narrowest already reaches it; [the widest width, ∞) where no width does
    (censored: the interpolated m* lies beyond the widest width, not at any value)."""
    m = m_star_rows(widths, means, eps)
    floor = np.asarray(means, float)[:, 0] <= eps
    lo = np.where(np.isnan(m), float(widths[-1]), np.where(floor, 0.0, m))
    hi = np.where(np.isnan(m), math.inf, m)
    return lo, hi


def neuron_gaps(widths: list[int], soft_e: list[np.ndarray], hard_e: list[np.ndarray], eps: float,
                weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (lower, upper) on log2(m*_hard / m*_soft) for each row of replicate ``weights`` (B, R) (a resample:
    each replicate's count over R; all replicates: 1/R each), from each arm's ``m_star_bounds`` of its weighted
    mean errors: equal where both arms reach ε above the narrowest width; one end infinite where an arm is
    censored (the hard arm: a lower bound; the soft arm: an upper bound; both: (−∞, ∞))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s_lo, s_hi = m_star_bounds(widths, weights @ np.stack(soft_e, 1), eps)
        h_lo, h_hi = m_star_bounds(widths, weights @ np.stack(hard_e, 1), eps)
        return np.log2(h_lo) - np.log2(s_hi), np.log2(h_hi) - np.log2(s_lo)


def neuron_gap(widths: list[int], soft_e: list[np.ndarray], hard_e: list[np.ndarray], eps: float
               ) -> tuple[float, float]:
    """``neuron_gaps`` over all replicates: (lower, upper) bound of the gap, equal where it is a value."""
    R = len(soft_e[0])
    lo, hi = neuron_gaps(widths, soft_e, hard_e, eps, np.full((1, R), 1.0 / R))
    return float(lo[0]), float(hi[0])


def bounded_estimate(lo: float, hi: float) -> tuple[float, str]:
    """An effect known to lie in [lo, hi] as (estimate, bound): (value, '') where lo = hi; (lo, '≥') or
    (hi, '≤') where one end is infinite; the midpoint of two finite ends; NaN where both are infinite."""
    if lo == hi:
        return lo, ""
    if math.isfinite(lo) and not math.isfinite(hi):
        return lo, "≥"
    if math.isfinite(hi) and not math.isfinite(lo):
        return hi, "≤"
    if math.isfinite(lo) and math.isfinite(hi):
        return (lo + hi) / 2, ""
    return math.nan, ""


def primary_epsilon(p: dict[str, Any]) -> float:
    """The one ε per claim whose rows get a verdict (docs/science.md#a-primary-epsilon): ``tables.primary_epsilon``
    where the config declares one, else the median of ``tables.epsilons`` (the larger of the middle two for an
    even count). The other ε are shown beside it, in the row's note and in neurons_needed.csv, not counted."""
    eps = sorted(float(e) for e in p["epsilons"])
    declared = p.get("primary_epsilon")
    if declared is None:
        return eps[len(eps) // 2]
    if float(declared) not in eps:
        raise ValueError(f"tables.primary_epsilon {declared} is not one of tables.epsilons {eps}")
    return float(declared)


def _fmt_bounded(lo: float, hi: float) -> str:
    est, bound = bounded_estimate(lo, hi)
    return "undefined (neither arm reaches ε)" if math.isnan(est) else f"{bound}{est:+.2f}"


def neurons_claims(p: dict[str, Any], curves: dict[tuple, np.ndarray], gammas: dict[str, float],
                   rng: np.random.Generator) -> list[dict]:
    """Soft labels need fewer neurons than hard labels at ε (paper A, Corollary 4 against Ji–Telgarsky), one
    claim per training regime (the student setup's radius: both arms at one B, or each at its own theorem's).

    One row per data set, at the primary ε (``primary_epsilon``): the ε of one data set are read off the same
    replicates' curves, one finding, so the others are shown in the note, not counted as settings. Effect:
    log2(m*_hard / m*_soft) (``neuron_gap``), a bound where an arm does not reach ε at the widest width
    (censored). Interval: percentile bootstrap over replicates, resampled jointly for both arms (replicate r of
    every method shares its initialisation), of each draw's bounds (``percentile``): conditional on the one
    data draw. p-values from the same draws. Not tested: settings outside the theorems (a teacher other than
    the kernel-limit one, data without a certified kernel margin)."""
    from softlabels.analysis.tables import bound_ratio

    out = []
    eps = primary_epsilon(p)
    others = [e for e in p["epsilons"] if float(e) != eps]
    families = p.get("dataset_draws", {})
    for (exp, t, m, st), by_ds in _neuron_pairs(p, curves).items():
        claim = f"soft labels need fewer neurons than hard labels ({regime(p, st)})"
        # data sets with two or more draws here count each draw once; a single draw is a data set like any other
        size = pd.Series([families[d] for d in by_ds if d in families]).value_counts()
        drawn = {ds: v for ds, v in by_ds.items() if ds in families and size[families[ds]] >= 2}
        out += _neurons_over_draws(p, exp, t, m, st, claim, drawn, gammas, eps, others)
        for ds, (widths, soft_e, hard_e) in sorted(by_ds.items()):
            if ds in drawn:
                continue
            R = len(soft_e[0])
            gamma = gammas.get(ds, math.nan)
            outside = _premise_note(p, ds, t)
            g_lo, g_hi = neuron_gap(widths, soft_e, hard_e, eps)
            est, bound = bounded_estimate(g_lo, g_hi)
            draws = neuron_gaps(widths, soft_e, hard_e, eps, resample_weights(rng.integers(0, R, (p["n_boot"], R)), R))
            lo, hi = percentile(draws, p["interval"])
            notes = []
            if math.isnan(est):
                notes.append("neither arm reaches ε at the widths run: no bound on the gap")
            elif bound:
                notes.append(f"{'the hard' if bound == '≥' else 'the soft'} arm does not reach ε at the widest width "
                             f"({widths[-1]}): its m* is only bounded (> {widths[-1]}), so the effect is a bound")
            notes.append(f"one data draw, {R} initialisations: the interval is conditional on this data set")
            if cn := constraint_note(p, st, [ds], gammas):
                notes.append(cn)
            if shared := _soft_arm_note(p, t, st):
                notes.append(shared)
            notes.append("other ε (not counted): " + ", ".join(
                f"{e:g}: {_fmt_bounded(*neuron_gap(widths, soft_e, hard_e, e))}" for e in others))
            if outside:
                notes.append(outside)
            out.append(_row("A", claim, exp,
                            f"{ds} (γ {gamma:.3g}), teacher {t}, {m} vs {p['direct_method']}, {st}, widths "
                            f"{widths[0]}–{widths[-1]}{steps_text(p, st)}, primary ε {eps:g}, bounds' ratio γ²/(ε ln(1/ε)) "
                            f"{bound_ratio(gamma, eps):.2g}",
                            "log2(m*_hard / m*_soft)", est, lo, hi, ">", 0.0, R,
                            f"{p['interval']:.0%} bootstrap over replicates (one data draw)", "; ".join(notes),
                            premise=not outside, level=p["interval"], draws=draws, bound=bound))
    return out


def _neurons_over_draws(p: dict[str, Any], exp: str, t: str, m: str, st: str, claim: str,
                        by_ds: dict[str, Any], gammas: dict[str, float], eps: float, others: list[float]
                        ) -> list[dict]:
    """The neuron claim's rows for data sets with independent draws (``datasets.<name>.draws``,
    docs/science.md#a-draws): one row per data set, its effect the mean over its draws of each draw's neuron
    gap (a bound where draws are censored), its interval the t-interval over the draws (``bounded_mean``: the
    union over the values censored draws allow), so each draw counts once and the scatter between draws (new
    target function, new points) is in the interval, not only the initialisations' noise."""
    from softlabels.analysis.tables import bound_ratio, bounded_mean

    families: dict[str, list[str]] = {}
    for ds in sorted(by_ds):
        families.setdefault(p["dataset_draws"][ds], []).append(ds)
    out = []
    level = p["interval"]
    for fam, sets in sorted(families.items()):
        gaps = np.array([neuron_gap(*by_ds[d], eps) for d in sets])             # (draws, 2): bounds
        fit = bounded_mean(gaps[:, 0], gaps[:, 1], level, 0.0)
        g = np.array([gammas.get(d, math.nan) for d in sets])
        widths = by_ds[sets[0]][0]
        R = len(by_ds[sets[0]][1][0])
        outside = "; ".join(n for n in (_premise_note(p, d, t) for d in sets) if n)
        notes = [f"{len(sets)} independent draws (own seed, target function and points), {R} initialisations each: "
                 f"the t-interval over draws has {len(sets) - 1} degrees of freedom; per draw: " + ", ".join(
                     f"{d} (γ {gammas.get(d, math.nan):.3g}) {_fmt_bounded(*gaps[i])}" for i, d in enumerate(sets))]
        if fit["censored"]:
            notes.append(f"{fit['censored']} of {len(sets)} draws give a bound (an arm does not reach ε at the widest "
                         f"width, {widths[-1]}): the interval is the union over the values they allow")
        curve = []
        for e in others:
            ge = np.array([neuron_gap(*by_ds[d], e) for d in sets])
            fe = bounded_mean(ge[:, 0], ge[:, 1], level)
            curve.append(f"{e:g}: {fe['bound']}{fe['mean']:+.2f}" if not math.isnan(fe["mean"]) else f"{e:g}: –")
        notes.append("other ε (not counted): " + ", ".join(curve))
        if shared := _soft_arm_note(p, t, st):
            notes.append(shared)
        if cn := constraint_note(p, st, sets, gammas):
            notes.append(cn)
        if outside:
            notes.append(outside)
        gm = float(np.nanmedian(g)) if np.isfinite(g).any() else math.nan
        row = _row("A", claim, exp,
                   f"{fam}: {len(sets)} draws (γ {np.nanmin(g):.3g}–{np.nanmax(g):.3g}), teacher {t}, {m} vs "
                   f"{p['direct_method']}, {st}, widths {widths[0]}–{widths[-1]}{steps_text(p, st)}, primary ε {eps:g}, "
                   f"bounds' ratio "
                   f"γ²/(ε ln(1/ε)) {bound_ratio(gm, eps):.2g} at the median γ",
                   "log2(m*_hard / m*_soft), mean over draws", fit["mean"], fit["lo"], fit["hi"], ">", 0.0,
                   len(sets), f"{level:.0%} t-interval over draws", "; ".join(notes), premise=not outside,
                   level=level, bound=fit["bound"])
        if not (math.isnan(fit["p_above"]) or math.isnan(fit["lo"]) or math.isnan(fit["hi"])) and fit["hi"] > fit["lo"]:
            row["p_value"], row["p_against"] = fit["p_above"], fit["p_below"]
        out.append(row)
    return out


def gap_growth_claims(p: dict[str, Any], curves: dict[tuple, np.ndarray], gammas: dict[str, float],
                      rng: np.random.Generator) -> list[dict]:
    """Paper A's motivating claim: the soft-label advantage grows as the task gets harder (γ shrinks).

    Effect: the OLS slope of the neuron gap log2(m*_hard / m*_soft) on log2(1/γ) across the experiment's data
    sets, per regime, teacher and method, at the primary ε. Interval: the t-interval over data sets (n − 2
    degrees of freedom): each data set is one draw, so the scatter between data sets (and each gap's replicate
    noise) is in its residuals; censored gaps enter as bounds (``bounded_fit``: the union of the t-intervals
    the bounds allow). The unit of evidence is the data set, and ``n`` counts them."""
    from softlabels.analysis.tables import bounded_fit

    out = []
    eps = primary_epsilon(p)
    for (exp, t, m, st), by_ds in _neuron_pairs(p, curves).items():
        sets = sorted(d for d in by_ds if gammas.get(d, math.nan) > 0)
        if len(sets) < 3:
            continue
        x = np.log2(1.0 / np.array([gammas[d] for d in sets]))
        outside = "; ".join(n for n in (_premise_note(p, d, t) for d in sets) if n)
        gaps = np.array([neuron_gap(*by_ds[d], eps) for d in sets])             # (data sets, 2): bounds
        fit = bounded_fit(x, gaps[:, 0], gaps[:, 1], p["interval"], 0.0)
        fams = {p.get("dataset_draws", {}).get(d, d) for d in sets}
        notes = [f"{len(sets)} independent draws of {len(fams)} data sets (own seed and target function each): the "
                 f"t-interval has {len(sets) - 2} degrees of freedom" if len(fams) < len(sets) else
                 f"{len(sets)} data sets, one draw each: the t-interval has {len(sets) - 2} degrees of freedom"]
        if fit["censored"]:
            notes.append(f"{fit['censored']} of {len(sets)} gaps are bounds (an arm does not reach ε at the widest "
                         "width): the interval is the union over the values they allow"
                         + ("" if not math.isnan(fit["slope"]) else "; they pull the slope both ways: no estimate"))
        curve = []
        for e in (e for e in p["epsilons"] if float(e) != eps):
            ge = np.array([neuron_gap(*by_ds[d], e) for d in sets])
            fe = bounded_fit(x, ge[:, 0], ge[:, 1], p["interval"])
            curve.append(f"{e:g}: {fe['bound']}{fe['slope']:+.2f}" if not math.isnan(fe["slope"]) else f"{e:g}: –")
        notes.append("other ε (not counted): " + ", ".join(curve))
        if cn := constraint_note(p, st, sets, gammas):
            notes.append(cn)
        if outside:
            notes.append(outside)
        lo, hi = fit["lo"], fit["hi"]
        row = _row("A", f"the soft-label advantage in neurons grows as γ shrinks ({regime(p, st)})", exp,
                   f"{len(sets)} data sets (γ {min(gammas[d] for d in sets):.3g}–{max(gammas[d] for d in sets):.3g}), "
                   f"teacher {t}, {m} vs {p['direct_method']}, {st}{steps_text(p, st)}, primary ε {eps:g}",
                   "slope of log2(m*_hard / m*_soft) on log2(1/γ)", fit["slope"], lo, hi, ">", 0.0, len(sets),
                   f"{p['interval']:.0%} t-interval over data sets", "; ".join(notes), premise=not outside,
                   level=p["interval"], bound=fit["bound"])
        if not math.isnan(fit["p_above"]) and not (math.isnan(lo) or math.isnan(hi)) and hi > lo:
            row["p_value"], row["p_against"] = fit["p_above"], fit["p_below"]
        out.append(row)
    return out


def slope_claims(p: dict[str, Any], scaling: pd.DataFrame) -> list[dict]:
    """The fitted slope of log m* against log(1/γ) stays within the theory's exponent (2 soft, 4 hard), at the
    primary ε (the other ε in the note, not counted); censored m* enter the scaling table's fit as bounds, and
    its p-values (``bounded_fit``) are the rows'."""
    from softlabels.analysis.tables import TEACHER_MARGIN

    out = []
    eps = primary_epsilon(p)
    for (exp, t, st, m), g in scaling.groupby(["experiment", "teacher", "student", "method"], sort=False):
        # a distilled arm is fitted on its teacher's own margin where the table has that fit (the γ of the
        # soft-label theorem, docs/science.md#a-teacher-margin); its fit on the solved γ goes in the note
        alt = None
        if "margin" in g and (g["margin"] == TEACHER_MARGIN).any():
            alt, g = g[g["margin"] != TEACHER_MARGIN], g[g["margin"] == TEACHER_MARGIN]
        prim = g[np.isclose(g["epsilon"].astype(float), eps)]
        if not len(prim):
            continue
        r = prim.iloc[0]
        bound = r["theory_slope"]
        if pd.isna(bound):
            continue
        lo, hi = float(r["slope_lo"]), float(r["slope_hi"])
        theory = p["regimes"].get(r["student"]) == "theory"
        if theory and _soft_arm_note(p, t, st):
            continue  # the soft arm's own-radius cells are its B = 1 run: one finding, tested once (at B = 1)
        where = f" ({regime(p, r['student'])})" if theory else ""
        notes = [str(r["note"])] if isinstance(r["note"], str) and r["note"] else []
        if theory and (own := _own_radius_twin(p, t, st)):
            notes.append(f"the same cells as the soft arm at its own theorem's radius ({own}), tested once here")
        rest = g[~np.isclose(g["epsilon"].astype(float), eps)]
        notes.append("other ε (not counted): " + ", ".join(
            f"{q['epsilon']:g}: " + (f"{_bound_text(q.get('bound'))}{q['slope']:.2f} [{q['slope_lo']:.2f}, "
                                     f"{q['slope_hi']:.2f}]" if not pd.isna(q["slope"]) else "–")
            for _, q in rest.iterrows()))
        if alt is not None:
            a = alt[np.isclose(alt["epsilon"].astype(float), eps)]
            if len(a) and not pd.isna(a.iloc[0]["slope_lo"]):
                q = a.iloc[0]
                notes.append(f"fitted on the teacher's own margin min y·z; on the solved γ instead: "
                             f"{_bound_text(q.get('bound'))}{q['slope']:.2f} [{q['slope_lo']:.2f}, {q['slope_hi']:.2f}]")
        if not theory:  # the bounds are about the theory regime's students (projected GD near their init)
            notes.append(f"{r['student']} is a practical-regime setup: outside the theorems' setting")
        n_sets = int(r["datasets_total"])
        censored = int(r["datasets_censored"]) if "datasets_censored" in r and not pd.isna(r["datasets_censored"]) else 0
        row = _row("A", f"m* grows no faster than (1/γ)^{bound:g}{where}", exp,
                   f"{m} (teacher {t}), {st}{steps_text(p, st) if theory else ''}, primary ε {eps:g}, "
                   + ("γ = the teacher's margin, " if alt is not None else "")
                   + f"{int(r['datasets_reached'])} of {n_sets} data sets "
                   f"reach ε" + (f", {censored} give a bound" if censored else ""),
                   "slope of log m* on log(1/γ)", float(r["slope"]), lo, hi, "<", float(bound),
                   n_sets, f"{p['interval']:.0%} t-interval over data sets", "; ".join(notes),
                   premise=theory, level=p["interval"], df=n_sets - 2, bound=_bound_text(r.get("bound")))
        if "p_within" in r and not pd.isna(r["p_within"]) and not (math.isnan(lo) or math.isnan(hi)) and hi > lo:
            row["p_value"], row["p_against"] = float(r["p_within"]), float(r["p_beyond"])
        out.append(row)
    return out


def _bound_text(b: Any) -> str:
    """A table's bound column as text ('' for a value; a CSV reads an empty cell back as NaN)."""
    return b if isinstance(b, str) and b in BOUNDS else ""


# --- paired comparisons of test accuracy -------------------------------------------------------------

def _accuracy_claim(p: dict[str, Any], acc: dict[tuple, np.ndarray], paper: str, claim: str,
                    pick: Callable[[tuple], tuple | None], sign: str, preds: dict[tuple, np.ndarray] | None = None,
                    labels: dict[str, np.ndarray] | None = None,
                    room: Callable[[tuple, tuple], str] | None = None) -> list[dict]:
    """For each cell ``pick`` pairs with a reference cell: (this − reference) test accuracy in points,
    paired over replicates (replicate r of every method shares its initialisation and resample). Where
    ``preds`` (each cell's predicted classes, (R, N)) and ``labels`` (each data set's test labels) are given,
    its interval is a bootstrap over replicates (paired) and test points (``_accuracy_bootstrap``), with
    McNemar's exact test on the (replicate, test point) pairs beside it; otherwise a paired t over replicates. Two arms that
    predict the same class everywhere give no verdict; ``room`` names why a setting cannot show the
    effect ('' when it can): it is then not tested. Settings that differ only in their teacher's seed
    (``seed_groups``) are one row (``_pooled_accuracy``)."""
    out = []
    pairs = [(key, ref) for key in sorted(acc) if (ref := pick(key)) is not None and ref in acc]
    for key0, ref0, group in seed_groups(p, pairs):
        if None not in group:  # settings that differ only in their teacher's seed: one pooled row
            out.append(_pooled_accuracy(p, acc, paper, claim, sign, key0, ref0, group, preds, labels, room))
            continue
        key, ref = group[None]
        a, b = acc[key], acc[ref]
        R = min(len(a), len(b))
        exp, ds, t, m, st, w = key
        exact, same, df, draws = math.nan, "", None, None
        if preds is not None and labels is not None and key in preds and ref in preds and ds in labels:
            pa, pb = preds[key][:R], preds[ref][:R]
            exact = mcnemar_exact(pa == labels[ds], pb == labels[ds], sign)
            same = IDENTICAL if np.array_equal(pa, pb) else ""
            est, lo, hi, draws = _accuracy_bootstrap(p, [(pa, pb)], labels[ds])
            interval = f"{p['interval']:.0%} bootstrap over replicates (paired) and test points"
        else:  # per-replicate accuracies only: the test set held fixed
            est, lo, hi = paired_t(100 * (a[:R] - b[:R]), p["interval"])
            interval, df = f"{p['interval']:.0%} paired t over replicates", R - 1
        outside = room(key, ref) if room is not None else ""
        out.append(_row(paper, claim, exp, f"{ds}, teacher {t}, {m} vs {ref[3]} (teacher {ref[2]}), {st}, m={w}",
                        "test accuracy difference (points)", est, lo, hi, sign, 0.0, R, interval, outside,
                        premise=not outside, level=p["interval"], df=df, exact_p=exact, no_verdict=same, draws=draws))
    return out


def _accuracy_bootstrap(p: dict[str, Any], arms: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray
                        ) -> tuple[float, float, float, np.ndarray]:
    """(estimate, lo, hi) of a paired accuracy difference in points, from each teacher seed's predicted
    classes (this arm, reference arm), each (R, N), and the test labels ``y``: the mean over seeds of the mean
    difference in correctness, and a percentile interval of ``paired_mean_draws`` (seeds, paired replicates
    and test points: the test set is a sample too; ``tables.n_boot`` draws seeded by the run's ``seed``), and
    the draws."""
    diffs = [100.0 * ((pa == y).astype(float) - (pb == y)) for pa, pb in arms]
    draws = paired_mean_draws(diffs, p["n_boot"], seed=p.get("seed", 0))
    lo, hi = percentile(draws, p["interval"])
    return float(np.mean([d.mean() for d in diffs])), lo, hi, draws


def _pooled_accuracy(p: dict[str, Any], acc: dict[tuple, np.ndarray], paper: str, claim: str, sign: str,
                     key0: tuple, ref0: tuple, group: dict[int, tuple[tuple, tuple]],
                     preds: dict[tuple, np.ndarray] | None, labels: dict[str, np.ndarray] | None,
                     room: Callable[[tuple, tuple], str] | None) -> dict:
    """``_accuracy_claim``'s row for one setting over its teacher's seeds (``seed_pooled_row``): McNemar's
    exact test on the discordant (seed, replicate, test point) pairs of every seed together; identical
    predictions in every seed give no verdict; not tested when every seed lies outside the claim's premise
    (``room``), else the seeds that do are named in the note."""
    exp, ds, t, m, st, w = key0
    diffs, this_ok, ref_ok, same, outside, arms = {}, [], [], True, {}, []
    for k, (key, ref) in sorted(group.items()):
        R = min(len(acc[key]), len(acc[ref]))
        diffs[k] = 100 * (acc[key][:R] - acc[ref][:R])
        if preds is not None and labels is not None and key in preds and ref in preds and ds in labels:
            pa, pb = preds[key][:R], preds[ref][:R]
            this_ok.append((pa == labels[ds]).ravel())
            ref_ok.append((pb == labels[ds]).ravel())
            arms.append((pa, pb))
            same = same and np.array_equal(pa, pb)
        else:
            same = False
        why = room(key, ref) if room is not None else ""
        if why:
            outside[k] = why
    exact = (mcnemar_exact(np.concatenate(this_ok), np.concatenate(ref_ok), sign)
             if len(this_ok) == len(group) else math.nan)
    premise = len(outside) < len(group)
    note = "; ".join(f"seed {k}: {why}" for k, why in outside.items())
    ref_teacher = ref0[2] + (", same seed" if teacher_seed(p, next(iter(group.values()))[1][2])[1] is not None else "")
    setting = f"{ds}, teacher {t} ({seeds_label(group)}), {m} vs {ref0[3]} (teacher {ref_teacher}), {st}, m={w}"
    effect = "test accuracy difference (points), mean over teacher seeds"
    if len(arms) < len(group):  # per-replicate accuracies only: seeds, then replicates, the test set held fixed
        return seed_pooled_row(p, diffs, paper, claim, exp, setting, effect, sign, 0.0, note=note, premise=premise,
                               exact_p=exact, no_verdict=IDENTICAL if same else "")
    est, lo, hi, draws = _accuracy_bootstrap(p, arms, labels[ds])
    return _row(paper, claim, exp, setting, effect, est, lo, hi, sign, 0.0, sum(len(d) for d in diffs.values()),
                CROSSED_TEXT.format(level=p["interval"]), note, premise=premise, level=p["interval"], exact_p=exact,
                no_verdict=IDENTICAL if same else "", draws=draws)


def _first(p: dict[str, Any], kind: str, **match: Any) -> str | None:
    for m in sorted(p["method_kinds"]):
        if p["method_kinds"][m] == kind and all(p["method_params"][m].get(k) == v for k, v in match.items()):
            return m
    return None


def _kd_partner(p: dict[str, Any], m: str) -> str | None:
    """The KD method that ``m`` (wsl or kd-filtered) is compared with: plain KD with the same temperature, the same
    distillation weight α and the same hard-label weight (docs/science.md#loss-wsl), so that the two losses differ
    only in the per-sample weights on the distillation term. None when the config has no such KD."""
    mp = p["method_params"][m]
    for k in sorted(p["method_kinds"]):
        kp = p["method_params"][k]
        if (p["method_kinds"][k] == "kd" and kp.get("temperature") == mp.get("temperature")
                and kp.get("alpha") == mp.get("alpha")
                and hard_label_weight({**kp, "kind": "kd"}) == hard_label_weight({**mp, "kind": p["method_kinds"][m]})):
            return k
    return None


def accuracy_claims(p: dict[str, Any], acc: dict[tuple, np.ndarray], preds: dict[tuple, np.ndarray] | None = None,
                    labels: dict[str, np.ndarray] | None = None,
                    teachers: dict[tuple[str, str], dict[str, Any]] | None = None) -> list[dict]:
    """The paired accuracy claims (soft vs hard, WSL vs KD, hard filter vs KD). ``preds``: each cell's
    predicted classes (R, N); ``labels``: each data set's test labels (for McNemar's exact test and the
    identical-predictions rule); ``teachers``: (data set, teacher) -> the teacher's record (teacher.json:
    its test accuracy for paper A's no-room rule, its τ* for a method with temperature 'auto')."""
    out = []
    teachers = teachers or {}

    def no_room(key: tuple, ref: tuple) -> str:
        """Paper A: a hard-label student that already matches the teacher (within its own standard error)
        leaves soft labels no accuracy to gain; a temperature 'auto' whose τ* sits on its search bound is no
        chosen temperature (the validation NLL still falls beyond it), so it gives no verdict either."""
        record = teachers.get((key[1], key[2]), {})
        tau = record.get("temperature_nll")
        if p["method_params"][key[3]].get("temperature") == "auto" and tau is not None and on_search_bound(tau):
            return (f"τ* = {tau:g} on its search bound [{TAU_MIN:g}, {TAU_MAX:g}]: the teacher's validation NLL still "
                    "falls beyond it, so 'auto' chose no temperature")
        teacher = record.get("accuracy", {}).get("test")
        hard = np.asarray(acc[ref], float)
        if teacher is None or len(hard) < 2:
            return ""
        se = float(hard.std(ddof=1)) / math.sqrt(len(hard))
        if hard.mean() < teacher - se:
            return ""
        return (f"{NO_ROOM} (hard-label student {100 * hard.mean():.2f} % ± {100 * se:.2f} standard error, "
                f"teacher {100 * teacher:.2f} %)")

    cells = set(acc)
    out += _accuracy_claim(p, acc, "A", SOFT_VS_HARD, lambda key: soft_vs_hard_ref(p, key), ">", preds, labels,
                           no_room)

    def room_b(key: tuple, ref: tuple) -> str:
        return teacher_room(p, acc, teachers, key)

    out += _accuracy_claim(p, acc, "B", WSL_VS_KD, lambda key: wsl_vs_kd_ref(p, key), ">", preds, labels, room_b)
    out += _accuracy_claim(p, acc, "B", FILTER_VS_KD, lambda key: filter_vs_kd_ref(p, key), "<", preds, labels,
                           room_b)
    out += _accuracy_claim(p, acc, "B", LS_DISTILS_WORSE, lambda key: plain_teacher_cell(p, key, cells), "<", preds,
                           labels, lambda key, ref: teacher_room(p, acc, teachers, ref))
    return out


SOFT_VS_HARD = "soft labels give small students higher test accuracy than hard labels"
WSL_VS_KD = "WSL gives higher test accuracy than KD at the same temperature"
FILTER_VS_KD = "removing the regularization samples from KD (the hard filter) lowers test accuracy"


def soft_vs_hard_ref(p: dict[str, Any], key: tuple) -> tuple | None:
    """Paper A's accuracy claim: a KD cell on paper A's own data kinds against the teacher-free direct cell."""
    exp, ds, t, m, st, w = key
    if p["data_kinds"].get(ds) not in PAPER_A_ACCURACY_KINDS or p["method_kinds"][m] != "kd" or t == NO_TEACHER:
        return None
    return (exp, ds, NO_TEACHER, p["direct_method"], st, w)


def wsl_vs_kd_ref(p: dict[str, Any], key: tuple) -> tuple | None:
    """A WSL cell against the KD cell of the same teacher whose loss differs only in the weights (``_kd_partner``)."""
    exp, ds, t, m, st, w = key
    if p["method_kinds"][m] != "wsl":
        return None
    kd = _kd_partner(p, m)
    return (exp, ds, t, kd, st, w) if kd else None


def filter_vs_kd_ref(p: dict[str, Any], key: tuple) -> tuple | None:
    """A hard-filter cell (filter_weight 0) against its KD partner (``_kd_partner``)."""
    exp, ds, t, m, st, w = key
    if p["method_kinds"][m] != "kd-filtered" or p["method_params"][m].get("filter_weight") != 0.0:
        return None
    kd = _kd_partner(p, m)
    return (exp, ds, t, kd, st, w) if kd else None


LS_DISTILS_WORSE = "a label-smoothing teacher distils worse than the plain teacher (KD at the same temperature)"


def plain_teacher_cell(p: dict[str, Any], key: tuple, cells: set[tuple]) -> tuple | None:
    """The cell (among ``cells``) a KD cell (fixed τ) of a label-smoothing teacher is compared with: the same
    method, data set, student setup and width under a teacher without label smoothing that has the same seed
    (the same teacher stream, only the smoothing differs); None for other cells or without such a teacher.
    With several plain teachers, the first by name."""
    exp, ds, t, m, st, w = key
    ls = p.get("teacher_ls", {})
    if (p["method_kinds"].get(m) != "kd" or t == NO_TEACHER or ls.get(t, 0) <= 0
            or isinstance(p["method_params"][m].get("temperature"), str)):
        return None
    seed = teacher_seed(p, t)[1]
    plain = [ref for x in sorted(ls) if ls[x] == 0 and teacher_seed(p, x)[1] == seed
             and (ref := (exp, ds, x, m, st, w)) in cells]
    return plain[0] if plain else None


def teacher_room(p: dict[str, Any], acc: dict[tuple, np.ndarray], teachers: dict[tuple[str, str], dict[str, Any]],
                 key: tuple) -> str:
    """Paper B's accuracy claims need room (docs/science.md#b-room): the teacher of cell ``key`` at least
    ``ROOM_POINTS`` points of test accuracy above the direct (hard-label, teacher-free) student of the same
    data set, student setup and width. '' where it is, or where either is unknown; else the reason, with the gap."""
    exp, ds, t, m, st, w = key
    record = teachers.get((ds, t), {})
    teacher = record.get("accuracy", {}).get("test")
    direct = acc.get((exp, ds, NO_TEACHER, p.get("direct_method"), st, w))
    if teacher is None or direct is None or not len(direct):
        return ""
    gap = 100 * (teacher - float(np.mean(direct)))
    if gap >= ROOM_POINTS:
        return ""
    return (f"{NO_ROOM_B}: teacher {t} {100 * teacher:.2f} % is {gap:+.2f} points from the direct student "
            f"{100 * float(np.mean(direct)):.2f} % (needs ≥ {ROOM_POINTS:g})")


# --- paper B: bias, variance, regularization samples ----------------------------------------------

OTHER_SHIFTS = (("zo", "0-1"), ("se", "squared-error"))


#: how a setting names the training sets its replicates saw (``students.<setup>.resampling``)
RESAMPLING_WORDS = {"bootstrap": "bootstrap resamples", "disjoint": "disjoint parts of the training set",
                    "fresh": "fresh training sets"}

BIASVAR_CLAIMS = (("bias", "KD has a larger bias than direct training", ">"),
                  ("variance", "KD has a smaller variance than direct training", "<"))


def _other_shifts(rows: list[pd.Series], name: str, ce_verdict: str) -> str:
    """The 0-1 and squared-error shifts of the same term beside a CE shift (biasvar.csv's zo_/se_*_shift
    columns, where present), for one setting's rows (one per teacher seed; one without seeds): the shift
    with its interval, or with seeds the mean over seeds and the range of the seeds' intervals; and a warning
    when CE moves but the 0-1 term does not (every 0-1 interval contains 0): then KD changed the confidence
    of the predictions, not the predictions."""
    parts, zo_straddles = [], False
    for prefix, words in OTHER_SHIFTS:
        col = f"{prefix}_{name}_shift_vs_direct"
        if any(col not in r or pd.isna(r[col]) for r in rows):
            continue
        lo = min(float(r[f"{prefix}_{name}_shift_lo"]) for r in rows)
        hi = max(float(r[f"{prefix}_{name}_shift_hi"]) for r in rows)
        mean = float(np.mean([float(r[col]) for r in rows]))
        parts.append(f"{words} {name}: KD − direct {mean:+.3g} [{lo:+.3g}, {hi:+.3g}]" if len(rows) == 1 else
                     f"{words} {name}: KD − direct {mean:+.3g}, mean over seeds (seeds' intervals within "
                     f"[{lo:+.3g}, {hi:+.3g}])")
        if prefix == "zo":
            zo_straddles = all(float(r[f"zo_{name}_shift_lo"]) <= 0 <= float(r[f"zo_{name}_shift_hi"]) for r in rows)
    if parts and zo_straddles and ce_verdict in ("supported", "contradicted"):
        parts.append(f"the CE {name} moves but the 0-1 {name} does not: a change in confidence, not in predictions")
    return "; ".join(parts)


def biasvar_claims(p: dict[str, Any], biasvar: pd.DataFrame, logp: dict[tuple, np.ndarray] | None = None,
                   labels: dict[str, np.ndarray] | None = None) -> list[dict]:
    """KD raises the bias and lowers the variance against direct training (paired over test points).
    The effect is the CE shift unbiased in the number of replicates (docs/science.md#b-unbiased); the raw
    shift, and the 0-1 and squared-error shifts of the same term, are in the note.

    Settings that differ only in their teacher's seed are one row: the mean over seeds of the shift. The
    interval is a percentile bootstrap that follows the design (``seed_shift_draws``: seeds, and one draw of
    replicates and of test points shared by every seed and both arms, since replicate r of every cell trains on
    the same training set from the same initialisation), from each cell's test log-probabilities ``logp``,
    keyed as the cells, and the data sets' test ``labels``; its p-values come from the same draws."""
    out = []
    key_cols = ("experiment", "dataset", "teacher", "method", "student", "width")
    rows = biasvar[biasvar["resampling"] != "none"]  # a variance over training sets needs resampled ones
    by_key = {tuple(r[c] for c in key_cols): r for _, r in rows.iterrows()}
    pairs = [(k, (*k[:2], NO_TEACHER, p["direct_method"], *k[4:])) for k, r in by_key.items()
             if p["method_kinds"].get(r["method"]) == "kd" and r["teacher"] != NO_TEACHER]
    for key0, ref0, group in seed_groups(p, pairs):
        exp, ds, t, m, st, w = key0
        seeds = sorted(group, key=lambda k: -1 if k is None else k)
        r0 = by_key[group[seeds[0]][0]]
        words = RESAMPLING_WORDS.get(r0["resampling"], f"{r0['resampling']} resamples")
        cells = [group[k][0] for k in seeds]
        have = logp is not None and labels is not None and all(c in logp for c in cells) and group[seeds[0]][1] in logp
        if not have and seeds != [None]:
            raise ValueError("biasvar_claims: settings with teacher seeds need the cells' test log-probabilities")
        pooled = seeds != [None]
        setting = (f"{ds}, teacher {t}, " + (f"{seeds_label(seeds)}, " if pooled else "")
                   + f"{m} vs {p['direct_method']}, {st}, m={w}, {words}")
        if have:
            arms = [logp[c] for c in cells]
            ref = logp[group[seeds[0]][1]]
            draws = seed_shift_draws(arms, ref, labels[ds], p["n_boot"], seed=p.get("seed", 0))
            est = seed_shift_estimates(arms, ref, labels[ds])
            R = min([len(ref), *(len(a) for a in arms)])
            n = len(seeds) * R
            interval = (CROSSED_TEXT.format(level=p["interval"]) if pooled else
                        f"{p['interval']:.0%} bootstrap over replicates (paired) and test points")
        else:  # one teacher, no logits: the biasvar table's shift and interval (``paired_shift_intervals``)
            draws, R, n = None, int(r0["replicates"]), int(r0["replicates"])
            interval = f"{p['interval']:.0%} bootstrap over replicates (paired) and test points"
        for name, claim, sign in BIASVAR_CLAIMS:
            col = f"{name}_unbiased" if have or f"{name}_unbiased_shift_vs_direct" in r0 else name
            if have:
                value, (lo, hi), d = est[col], percentile(draws[col], p["interval"]), draws[col]
                raw = est[name]
            else:
                value, lo, hi, d = (float(r0[f"{col}_shift_vs_direct"]), float(r0[f"{col}_shift_lo"]),
                                    float(r0[f"{col}_shift_hi"]), None)
                raw = float(r0[f"{name}_shift_vs_direct"])
            effect = (f"CE {name} unbiased in R: KD − direct" if col != name else f"CE {name}: KD − direct")
            row = _row("B", claim, exp, setting, effect + (", mean over teacher seeds" if pooled else ""), value,
                       lo, hi, sign, 0.0, n, interval, level=p["interval"], draws=d)
            unb = (f"raw shift {raw:+.3g} (over R = {R} replicates the raw variance is biased low by the factor "
                   "(R − 1)/R and the raw bias high by as much, docs/science.md#b-unbiased)" if col != name else "")
            other = _other_shifts([by_key[c] for c in cells], name, row["verdict"])
            row["note"] = "; ".join(x for x in (row["note"], unb, other) if x)
            out.append(row)
    return out


def _tau(t: Any) -> str:
    """A method's temperature for people: 4.0 -> '4'; 'auto' (the teacher's τ* on its validation NLL) stays."""
    return t if isinstance(t, str) else f"{t:g}"


def regularization_claims(p: dict[str, Any], fractions: dict[tuple, np.ndarray]) -> list[dict]:
    """A label-smoothing teacher yields more regularization samples than a plain one, at the same τ.

    Effect: the difference of the fractions at each replicate's kept epoch, paired over student replicates
    (paired t). Teachers with
    seeds: one row per setting, seed k of the LS teacher against seed k of the plain one (``seed_pooled_row``)."""
    out = []
    ls = p["teacher_ls"]
    pairs = []
    for key in sorted(fractions):
        exp, ds, t, m, st, w = key
        if ls.get(t, 0) <= 0 or isinstance(p["method_params"][m].get("temperature"), str):
            continue  # 'auto': each teacher its own τ*, so the two teachers are not compared at the same τ
        pairs += [(key, (exp, ds, x, m, st, w)) for x in sorted(ls) if ls[x] == 0 and (exp, ds, x, m, st, w) in fractions]
    claim, effect = "a label-smoothing teacher yields more regularization samples", "fraction of regularization samples: LS − plain"
    for key0, ref0, group in seed_groups(p, pairs):
        exp, ds, t, m, st, w = key0
        tau = _tau(p["method_params"][m].get("temperature"))
        diffs = {}
        for k, (a, b) in group.items():
            R = min(len(fractions[a]), len(fractions[b]))
            diffs[k] = fractions[a][:R] - fractions[b][:R]
        eps = ls[next(iter(group.values()))[0][2]]
        if None not in group:  # teachers with seeds: seed k of the LS teacher against seed k of the plain one
            out.append(seed_pooled_row(p, diffs, "B", claim, exp,
                                       f"{ds}, {m} (τ {tau}), teacher {t} (ε {eps:g}) vs {ref0[2]}, "
                                       f"{seeds_label(group)} (seed k with seed k), {st}, m={w}",
                                       f"{effect}, mean over teacher seeds", ">", 0.0))
            continue
        est, lo, hi = paired_t(diffs[None], p["interval"])
        R = len(diffs[None])
        out.append(_row("B", claim, exp, f"{ds}, {m} (τ {tau}), teacher {t} (ε {eps:g}) vs {ref0[2]}, {st}, m={w}",
                        effect, est, lo, hi, ">", 0.0, R, f"{p['interval']:.0%} paired t over replicates",
                        level=p["interval"], df=R - 1))
    return out


REG_ACCURACY = ("at a fixed temperature, KD distils worse from teachers that give more regularization samples")


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of the rows of ``a`` and ``b`` (each (k, n): k draws of n paired values; average
    ranks for ties), one value per row; 0 for a row where either side is constant (no order to correlate)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.atleast_2d(a), axis=1), rankdata(np.atleast_2d(b), axis=1)
    ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1.0), 0.0)


def teacher_grid_draws(frac: np.ndarray, acc: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap draws of the rank correlation across teachers between the regularization-sample fraction and
    the test accuracy of their KD students. ``frac`` and ``acc``: (B, S, R), B teachers (one per label-smoothing
    level, say) × S seeds × R student replicates. The design is crossed (docs/science.md#b-room): seed k of every
    teacher comes from the same stream, and replicate r of every cell trains on the same training set from the
    same initialisation, so each draw takes S seed indices with replacement, shared by the B teachers, and one set
    of R replicate indices with replacement, shared by every teacher; each drawn (teacher, seed) is one point of
    the correlation, at the mean of its drawn replicates."""
    B, S, R = frac.shape
    out = np.empty(n_boot)
    for j in range(n_boot):
        si, ri = rng.integers(0, S, S), rng.integers(0, R, R)
        f = frac[:, si][:, :, ri].mean(-1).ravel()
        a = acc[:, si][:, :, ri].mean(-1).ravel()
        out[j] = rank_correlation(f[None], a[None])[0]
    return out


def regularization_accuracy_claims(p: dict[str, Any], acc: dict[tuple, np.ndarray], fractions: dict[tuple, np.ndarray],
                                   teachers: dict[tuple[str, str], dict[str, Any]] | None = None) -> list[dict]:
    """Paper B's headline observation: at a fixed temperature, the more regularization samples a teacher gives its
    KD students (their fraction at the kept epoch), the lower their test accuracy. One setting per (experiment,
    data set, KD method of a fixed τ, student setup, width) with at least 3 teachers: Spearman's rank correlation
    across the teachers (every seed a point) of the mean fraction and the mean accuracy over replicates, claimed
    < 0, with a percentile interval of ``teacher_grid_draws`` (seeds and replicates resampled as crossed factors;
    ``tables.n_boot`` draws seeded by the run's ``seed``) and p-values from the same draws. Not tested (no room)
    when any teacher is less than ``ROOM_POINTS`` above the direct student."""
    out = []
    teachers = teachers or {}
    groups: dict[tuple, dict[str, tuple]] = {}
    for key in sorted(fractions):
        exp, ds, t, m, st, w = key
        if (p["method_kinds"].get(m) != "kd" or t == NO_TEACHER or key not in acc
                or isinstance(p["method_params"][m].get("temperature"), str)):
            continue
        groups.setdefault((exp, ds, m, st, w), {})[t] = key
    for (exp, ds, m, st, w), cells in groups.items():
        if len(cells) < 3:
            continue
        by_base: dict[str, dict[Any, tuple]] = {}
        for t, key in cells.items():
            base, seed = teacher_seed(p, t)
            by_base.setdefault(base, {})[seed] = key
        seed_sets = {tuple(sorted(v, key=lambda k: -1 if k is None else k)) for v in by_base.values()}
        if len(seed_sets) == 1 and None not in next(iter(seed_sets)):  # crossed: every teacher with the same seeds
            seeds = list(next(iter(seed_sets)))
            grid = [[by_base[b][k] for k in seeds] for b in sorted(by_base)]
        else:  # teachers without a common set of seeds: each teacher one point, replicates resampled
            seeds, grid = [], [[key] for _, key in sorted(cells.items())]
        R = min(min(len(fractions[k]), len(acc[k])) for row in grid for k in row)
        frac = np.array([[fractions[k][:R] for k in row] for row in grid], float)
        accs = np.array([[100 * np.asarray(acc[k][:R], float) for k in row] for row in grid], float)
        est = float(rank_correlation(frac.mean(-1).ravel()[None], accs.mean(-1).ravel()[None])[0])
        rng = np.random.default_rng(p.get("seed", 0))
        draws = teacher_grid_draws(frac, accs, p["n_boot"], rng) if R > 1 else None
        lo, hi = percentile(draws, p["interval"]) if draws is not None else (math.nan, math.nan)
        rooms = [why for why in (teacher_room(p, acc, teachers, k) for row in grid for k in row) if why]
        tau = _tau(p["method_params"][m].get("temperature"))
        n_t = frac.shape[0] * frac.shape[1]
        fr, ac = frac.mean(-1).ravel(), accs.mean(-1).ravel()
        note = (f"{n_t} teachers: regularization fraction {fr.min():.3f}–{fr.max():.3f}, KD accuracy "
                f"{ac.min():.2f}–{ac.max():.2f} %")
        if rooms:
            note += "; " + rooms[0] + (f" (and {len(rooms) - 1} more teachers)" if len(rooms) > 1 else "")
        names = sorted({teacher_seed(p, k[2])[0] if seeds else k[2] for row in grid for k in row})
        setting = (f"{ds}, {m} (τ {tau}), teachers {', '.join(names)}" + (f" ({seeds_label(seeds)})" if seeds else "")
                   + f", {st}, m={w}")
        out.append(_row("B", REG_ACCURACY, exp, setting,
                        "Spearman rank correlation across teachers: regularization fraction vs KD test accuracy",
                        est, lo, hi, "<", 0.0, n_t * R,
                        f"{p['interval']:.0%} crossed bootstrap: teacher seeds (shared by the teachers) and "
                        "replicates (shared by every teacher)", note, premise=not rooms, level=p["interval"],
                        draws=draws))
    return out


def claims_table(p: dict[str, Any], curves: dict[tuple, np.ndarray], acc: dict[tuple, np.ndarray],
                 fractions: dict[tuple, np.ndarray], gammas: dict[str, float], scaling: pd.DataFrame,
                 biasvar: pd.DataFrame, preds: dict[tuple, np.ndarray] | None = None,
                 labels: dict[str, np.ndarray] | None = None,
                 teachers: dict[tuple[str, str], dict[str, Any]] | None = None,
                 logp: dict[tuple, np.ndarray] | None = None) -> pd.DataFrame:
    """Every claim the run tests. Cell keys are (experiment, data set, teacher, method, student, width);
    ``curves``: per-replicate 0-1 training error per iteration (R, T); ``acc``: per-replicate test
    accuracy (R,); ``fractions``: per-replicate fraction of regularization samples at the kept epoch (R,); ``preds``:
    per-replicate predicted classes on the test points (R, N) and ``labels`` each data set's test labels
    (McNemar's exact test, identical predictions); ``teachers``: (data set, teacher) -> its teacher.json record;
    ``logp``: per-replicate test log-probabilities (R, N, C) of paper B's cells (bias and variance pooled over
    teacher seeds)."""
    rng = np.random.default_rng(p.get("seed", 0))
    rows = (neurons_claims(p, curves, gammas, rng) + gap_growth_claims(p, curves, gammas, rng)
            + slope_claims(p, scaling) + accuracy_claims(p, acc, preds, labels, teachers)
            + biasvar_claims(p, biasvar, logp, labels) + regularization_claims(p, fractions)
            + regularization_accuracy_claims(p, acc, fractions, teachers))
    return pd.DataFrame(rows, columns=COLUMNS)


# --- the claims a config will test, before any job (``softlabels validate``) ----------------------

PLANNED_COLUMNS = ["paper", "claim", "experiment", "settings", "note"]


def planned_claims(p: dict[str, Any]) -> pd.DataFrame:
    """The claims a run of this config will test, from its plan alone (``p``: the claims table's params): one row
    per (paper, claim, experiment) with the number of settings the claims table will have, found by the same
    pairing rules as the table itself; and a row with 0 settings, and a note, where a config has one side of a
    comparison but not its partner (a WSL or hard-filter method without a KD of the same τ, α and hard-label
    weight; a label-smoothing teacher without a plain one; fewer than 3 teachers for the rank correlation), so
    a user sees before spending compute that a comparison has no partner. Paper A's slope claims (m* against γ,
    from the scaling table) are not listed."""
    keys = sorted(tuple(c[k] for k in ("experiment", "dataset", "teacher", "method", "student", "width"))
                  for c in p["cells"])
    cells = set(keys)
    kinds = p["method_kinds"]
    rows: list[dict] = []

    def add(paper: str, claim: str, exp: str, n: int, note: str = "") -> None:
        rows.append({"paper": paper, "claim": claim, "experiment": exp, "settings": n, "note": note})

    def pairing(paper: str, claim: str, pick: Callable[[tuple], tuple | None], wants: Callable[[tuple], bool],
                missing: Callable[[tuple], str]) -> None:
        by_exp: dict[str, list] = {}
        lonely: dict[str, set] = {}
        for key in keys:
            ref = pick(key)
            if ref is not None and ref in cells:
                by_exp.setdefault(key[0], []).append((key, ref))
            elif wants(key):
                lonely.setdefault(key[0], set()).add(missing(key))
        for exp in sorted(set(by_exp) | set(lonely)):
            n = len(seed_groups(p, by_exp.get(exp, [])))
            add(paper, claim, exp, n, "; ".join(sorted(lonely.get(exp, ()))))

    pairing("A", SOFT_VS_HARD, lambda k: soft_vs_hard_ref(p, k), lambda k: False, lambda k: "")
    pairing("B", WSL_VS_KD, lambda k: wsl_vs_kd_ref(p, k), lambda k: kinds[k[3]] == "wsl",
            lambda k: f"no partner for {k[3]}: no KD method with its τ, α and hard-label weight "
                      f"(docs/science.md#loss-wsl)")
    pairing("B", FILTER_VS_KD, lambda k: filter_vs_kd_ref(p, k),
            lambda k: kinds[k[3]] == "kd-filtered" and p["method_params"][k[3]].get("filter_weight") == 0.0,
            lambda k: f"no partner for {k[3]}: no KD method with its τ, α and hard-label weight")
    ls = p.get("teacher_ls", {})

    def ls_kd(k: tuple) -> bool:
        return (kinds[k[3]] == "kd" and ls.get(k[2], 0) > 0
                and not isinstance(p["method_params"][k[3]].get("temperature"), str))

    pairing("B", LS_DISTILS_WORSE, lambda k: plain_teacher_cell(p, k, cells), ls_kd,
            lambda k: f"no partner for teacher {teacher_seed(p, k[2])[0]}: no teacher without label smoothing "
                      "(of the same seeds) distils with the same method")
    reg_pairs: dict[str, list] = {}
    for k in keys:
        if ls_kd(k) or (ls.get(k[2], 0) > 0 and kinds[k[3]] in ("wsl", "kd-filtered")
                        and not isinstance(p["method_params"][k[3]].get("temperature"), str)):
            reg_pairs.setdefault(k[0], []).extend(
                (k, (k[0], k[1], x, *k[3:])) for x in sorted(ls) if ls[x] == 0 and (k[0], k[1], x, *k[3:]) in cells)
    for exp, pairs in sorted(reg_pairs.items()):
        add("B", "a label-smoothing teacher yields more regularization samples", exp, len(seed_groups(p, pairs)),
            "" if pairs else "no teacher without label smoothing to compare with")
    bv: dict[str, list] = {}
    for k in keys:
        if kinds[k[3]] == "kd" and k[2] != NO_TEACHER and p["resampling"].get(k[4], "none") != "none":
            ref = (k[0], k[1], NO_TEACHER, p["direct_method"], *k[4:])
            if ref in cells:
                bv.setdefault(k[0], []).append((k, ref))
    for exp, pairs in sorted(bv.items()):
        for _, claim, _ in BIASVAR_CLAIMS:
            add("B", claim, exp, len(seed_groups(p, pairs)))
    grid: dict[tuple, set] = {}
    for k in keys:
        if kinds[k[3]] == "kd" and k[2] != NO_TEACHER and not isinstance(p["method_params"][k[3]].get("temperature"), str):
            grid.setdefault((k[0], k[1], k[3], k[4], k[5]), set()).add(k[2])
    for exp in sorted({g[0] for g in grid}):
        sizes = [len(t) for g, t in grid.items() if g[0] == exp]
        n = sum(1 for s in sizes if s >= 3)
        if any(ls.get(t, 0) > 0 for g, ts in grid.items() if g[0] == exp for t in ts) or n:
            add("B", REG_ACCURACY, exp, n, "" if n else f"needs ≥ 3 teachers at one τ, has {max(sizes)}")
    curves = {k: np.zeros((1, 1)) for k in keys}
    for (exp, t, m, st), by_ds in sorted(_neuron_pairs(p, curves).items()):
        add("A", f"soft labels need fewer neurons than hard labels ({regime(p, st)})", exp, len(by_ds))
        add("A", f"the soft-label advantage in neurons grows as γ shrinks ({regime(p, st)})", exp,
            int(len(by_ds) >= 3), "" if len(by_ds) >= 3 else f"needs ≥ 3 data sets, has {len(by_ds)}")
    return pd.DataFrame(rows, columns=PLANNED_COLUMNS)


NOTE = ("Verdict rule: a claim states that its effect lies on one side of a threshold (column claimed). "
        "supported: the whole interval lies on that side; contradicted: the whole interval lies on the other "
        "side; inconclusive: the interval straddles the threshold, has zero width, or none could be computed "
        "(see note); not tested: the setting lies outside the claim's theorem (paper A: a teacher other than the "
        "kernel-limit one, data without a certified kernel margin, or practical-regime students). Paper A's neuron claims name their "
        "training regime: both arms held to one radius B, or each arm at its own theorem's radius "
        "(docs/science.md#a-regimes). Every setting the run has is listed, none dropped; paper A's neuron, gap "
        "and slope claims at one primary ε (the others in the note, not counted; docs/science.md#a-primary-epsilon). "
        "bound: ≥ or ≤ where the estimate is only a bound (an m* not reached at the widest width, "
        "docs/science.md#a-censoring); the interval then runs to ±∞ on the open side and a verdict needs the bound "
        "to decide it. p_value: one-sided, toward the claim; p_against: the opposite claim's (bootstrap rows: the "
        "share of the draws on the null's side, floored at 1/n_boot; t-intervals: the t-test's). exact_p: McNemar's exact one-sided test on the discordant (replicate, test point) pairs, pooled "
        "over replicates, for the paired accuracy claims. Two arms with identical predictions everywhere give no "
        "verdict; paper A's accuracy claim is not tested where the hard-label student already matches the "
        "teacher within its standard error (no room for the effect). Paper B's bias and variance rows test the "
        "shifts unbiased in the number of replicates (docs/science.md#b-unbiased) and note the raw shift and the "
        "0-1 and squared-error shifts beside it; with teacher seeds their bootstrap draws seeds, and one set of "
        "replicates and test points shared by the seeds (crossed, docs/science.md#teacher-seeds). One verdict per claim and experiment: "
        "claims_summary.csv.")


# --- the claims summary: one verdict per claim and experiment ------------------------------------

SUMMARY_COLUMNS = ["paper", "claim", "experiment", "verdict", "settings", "effect", "claimed", "estimate_median",
                   "estimate_lo", "estimate_hi", "holm_supporting", "holm_contradicting", *VERDICTS, "note"]


def holm(p_values: np.ndarray, alpha: float) -> int:
    """How many nulls Holm's step-down procedure rejects at family level ``alpha`` (NaNs are left out)."""
    p = np.sort(np.asarray(p_values, float)[~np.isnan(np.asarray(p_values, float))])
    m = len(p)
    for k, pk in enumerate(p):
        if pk > alpha / (m - k):
            return k
    return m


def pooled_verdict(p_toward: np.ndarray, alpha: float, p_against: np.ndarray | None = None) -> tuple[str, int, int]:
    """The verdict of a claim over several settings (see ``SUMMARY_NOTE``), with the number of settings Holm
    rejects toward the claim and against it. ``p_toward``: each tested setting's one-sided p-value toward
    the claim (NaN where none); ``p_against``: against it (1 − p where not given; a bound's two p-values need
    not sum to 1)."""
    p = np.asarray(p_toward, float)
    q = 1.0 - p if p_against is None else np.asarray(p_against, float)
    toward, against = holm(p, alpha / 2), holm(q, alpha / 2)
    if toward and against:  # the settings disagree: the claim holds in some and fails in others
        return "inconclusive", toward, against
    return ("supported" if toward else "contradicted" if against else "inconclusive"), toward, against


WHY = "why not the majority"  # softlabels.report.summary finds the reason by it


def why_not_majority(v: str, counts: dict[str, int], toward: int, against: int, with_p: int, alpha: float) -> str:
    """Why a pooled verdict differs from the most common verdict of its tested settings, in words ('' where it
    does not): the settings' own verdicts read each interval at level 1 − α, while Holm tests the smallest
    p-value at α/2 over the number of settings with one, so one setting can carry a claim and several can fail
    to."""
    tested = {k: n for k, n in counts.items() if k != "not tested" and n}
    if not tested or v == "not tested":
        return ""
    top = max(tested.values())
    majority = [k for k, n in tested.items() if n == top]
    if v in majority:
        return ""
    total = sum(tested.values())
    own = ", ".join(f"{n} {k}" for k, n in tested.items())
    level = f"{alpha / 2 / max(with_p, 1):.2g}"
    if v == "inconclusive" and toward and against:
        return (f"{WHY} ({own} of {total}): Holm finds settings significant both ways, so no pooled "
                "verdict")
    if v == "inconclusive":
        side = "supported" if counts.get("supported", 0) >= counts.get("contradicted", 0) else "contradicted"
        return (f"{WHY} ({own} of {total}): each {side} setting is {side} by its own interval, at "
                f"level {alpha / 2:g} per side, but Holm must test the smallest of the {with_p} p-values at "
                f"{alpha / 2:g}/{with_p} = {level} (the settings are several looks at related data), and none passes")
    other = "contradicting" if v == "supported" else "supporting"
    return (f"{WHY} ({own} of {total}): one setting significant at Holm's level ({level} for the "
            f"smallest p-value) is enough to carry the claim when none is significant the other way ({other}: "
            f"{against if v == 'supported' else toward}); the settings without a verdict of their own add no evidence "
            "against it")


def summarise(claims: pd.DataFrame, level: float) -> pd.DataFrame:
    """One row per (paper, claim, experiment) of a claims table: the settings, the pooled verdict (Holm
    over the settings' one-sided p-values, ``SUMMARY_NOTE``), the median of the settings' estimates with the
    lowest lower and highest upper end of their intervals, and how many settings got each verdict."""
    rows = []
    alpha = 1.0 - level
    for (paper, claim, exp), g in claims.groupby(["paper", "claim", "experiment"], sort=False):
        counts = {v: int((g["verdict"] == v).sum()) for v in VERDICTS}
        tested = g[g["verdict"] != "not tested"]
        p = pd.to_numeric(tested["p_value"], errors="coerce").to_numpy(float)
        q = (pd.to_numeric(tested["p_against"], errors="coerce").to_numpy(float) if "p_against" in tested
             else np.full(len(p), math.nan))
        q = np.where(np.isnan(q), 1.0 - p, q)  # a row without one (a table from before it): 1 − p
        with_p = int((~np.isnan(p)).sum())
        if not len(tested):
            v, toward, against = "not tested", 0, 0
            note = "every setting lies outside the claim's premise"
        else:
            v, toward, against = pooled_verdict(p, alpha, q)
            note = (f"Holm over the {with_p} tested setting{'' if with_p == 1 else 's'} with a p-value, "
                    f"{alpha / 2:g} per direction"
                    + (f" ({len(tested) - with_p} tested settings have none)" if with_p < len(tested) else ""))
            if toward and against:
                note += (f"; the settings disagree: Holm finds {toward} supporting and {against} contradicting it at the "
                         "same level, so the claim holds in some settings and fails in others (no pooled verdict)")
            why = why_not_majority(v, counts, toward, against, with_p, alpha)
            if why:
                note += "; " + why
        est = pd.to_numeric(g["estimate"], errors="coerce")
        lo, hi = pd.to_numeric(g["lo"], errors="coerce"), pd.to_numeric(g["hi"], errors="coerce")
        rows.append({"paper": paper, "claim": claim, "experiment": exp, "verdict": v, "settings": len(g),
                     "effect": "; ".join(pd.unique(g["effect"].astype(str))),
                     "claimed": "; ".join(pd.unique(g["claimed"].astype(str))),
                     "estimate_median": float(est.median()) if est.notna().any() else math.nan,
                     "estimate_lo": float(lo.min()) if lo.notna().any() else math.nan,
                     "estimate_hi": float(hi.max()) if hi.notna().any() else math.nan,
                     "holm_supporting": toward, "holm_contradicting": against, **counts, "note": note})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def summary_note(level: float) -> str:
    a = 1.0 - level
    return (f"One row per claim and experiment. Settings that share a teacher and a baseline are not independent "
            f"evidence, so the pooled verdict is no vote count. It uses Holm's procedure over the settings' one-sided "
            f"tests at family level α = {a:g} (1 − the interval level), split {a / 2:g} per direction so that one "
            "setting alone gets its own verdict: supported when Holm rejects 'no effect on the claimed side' for at "
            "least one setting and in the opposite direction for none; contradicted when it rejects in the opposite "
            "direction for at least one and toward the claim for none; inconclusive otherwise (also when the "
            "settings disagree: some significant each way); not tested when every setting lies outside the claim's "
            "premise. Holm controls the family-wise error under any dependence between the settings. Each "
            "setting's p-values (claims.csv, p_value toward the claim, p_against against it) are the t-test's for "
            "t-intervals and, for bootstrap intervals, the share of the draws on the null's side, floored at one "
            "over the number of draws. Where the pooled verdict is not the settings' most common one, the note says "
            "why. "
            "Settings without a p-value (no interval, a zero-width one, identical predictions) add no evidence. "
            "estimate_median is the median of the settings' estimates and [lo, hi] the lowest lower and highest "
            "upper end of their intervals: a summary of the spread, not an interval with coverage. The last four "
            "count columns: the settings' own verdicts (claims.csv).")
