"""The claims table: each claim of paper A and paper B that a run tests, the measured effect with an
interval, and a verdict computed by one stated rule (docs/science.md#claims).

Verdict rule: a claim says an effect lies on one side of a threshold (``> 0``, ``< 0``, ``≤ 2``). It is
*supported* when the whole interval lies on that side, *contradicted* when the whole interval lies on
the other side, and *inconclusive* when the interval straddles the threshold (or no interval could be
computed: the row's note says why). A claim whose premise the setting does not meet (paper A's bound
needs γ ≤ ε) is reported with its effect but verdict *not tested*.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd

from softlabels.registry import METHODS, NO_TEACHER

COLUMNS = ["paper", "claim", "experiment", "setting", "effect", "estimate", "lo", "hi", "claimed", "verdict",
           "n", "interval", "note"]
VERDICTS = ("supported", "contradicted", "inconclusive", "not tested")
# data kinds of paper A's own experiments (its Table 1 and Figure 1): there the claim is about accuracy
PAPER_A_ACCURACY_KINDS = ("digits", "mnist", "cifar10-catdog")


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


def _row(paper: str, claim: str, experiment: str, setting: str, effect: str, est: float, lo: float, hi: float,
         claimed: str, threshold: float, n: int, interval: str, note: str = "", premise: bool = True) -> dict:
    v = verdict(lo, hi, claimed, threshold) if premise else "not tested"
    if v == "inconclusive" and (math.isnan(lo) or math.isnan(hi)) and not note:
        note = "no interval: too few replicates or data points"
    return {"paper": paper, "claim": claim, "experiment": experiment, "setting": setting, "effect": effect,
            "estimate": est, "lo": lo, "hi": hi, "claimed": f"{claimed} {threshold:g}", "verdict": v, "n": n,
            "interval": interval, "note": note}


# --- paper A: neurons needed ----------------------------------------------------------------------

def m_star(widths: list[int], errs: list[np.ndarray], eps: float) -> float:
    """The smallest width whose mean (over the given replicates) mean-over-iterations error is ≤ ε; NaN if none."""
    for w, e in zip(widths, errs):
        if e.mean() <= eps:
            return float(w)
    return math.nan


def neurons_claims(p: dict[str, Any], curves: dict[tuple, np.ndarray], gammas: dict[str, float],
                   rng: np.random.Generator) -> list[dict]:
    """Soft labels need fewer neurons than hard labels at ε (paper A, Corollary 4 vs Ji–Telgarsky).

    Effect: log2(m*_hard / m*_soft), an unreached m* counted as twice the widest width (so the effect is a
    bound when one arm never reaches ε). Interval: percentile bootstrap over replicates, resampled jointly
    for both arms (replicate r of every method shares its initialisation)."""
    out = []
    kinds = p["method_kinds"]
    groups: dict[tuple, dict[int, np.ndarray]] = {}
    for (exp, ds, t, m, st, w), err in curves.items():
        groups.setdefault((exp, ds, t, m, st), {})[w] = err.mean(axis=1)  # (R,) mean over iterations
    for (exp, ds, t, m, st), by_w in sorted(groups.items()):
        if t == NO_TEACHER or not METHODS[kinds[m]].needs_teacher or p["regimes"].get(st) != "theory":
            continue
        hard = groups.get((exp, ds, NO_TEACHER, p["direct_method"], st))
        if hard is None:
            continue
        widths = sorted(set(by_w) & set(hard))
        if len(widths) < 2:
            continue
        soft_e, hard_e = [by_w[w] for w in widths], [hard[w] for w in widths]
        R = min(len(soft_e[0]), len(hard_e[0]))
        cap = 2.0 * widths[-1]
        gamma = gammas.get(ds, math.nan)
        for eps in p["epsilons"]:
            def effect(idx: np.ndarray) -> float:
                ms = m_star(widths, [e[idx] for e in soft_e], eps)
                mh = m_star(widths, [e[idx] for e in hard_e], eps)
                if math.isnan(ms) and math.isnan(mh):
                    return math.nan
                return math.log2((cap if math.isnan(mh) else mh) / (cap if math.isnan(ms) else ms))

            est = effect(np.arange(R))
            boots = np.array([effect(rng.integers(0, R, R)) for _ in range(p["n_boot"])])
            boots = boots[~np.isnan(boots)]
            if math.isnan(est) or len(boots) < 0.9 * p["n_boot"]:
                lo = hi = math.nan
                note = "neither arm reaches ε at the widths run" if math.isnan(est) else "ε reached in too few resamples"
            else:
                lo, hi = (float(q) for q in np.quantile(boots, [(1 - p["interval"]) / 2, (1 + p["interval"]) / 2]))
                note = ""
            premise = not math.isnan(gamma) and gamma <= eps
            if not premise:
                note = (note + "; " if note else "") + f"γ = {gamma:.3g} > ε: outside the theorem's premise γ ≤ ε"
            out.append(_row("A", "soft labels need fewer neurons than hard labels", exp,
                            f"{ds} (γ {gamma:.3g}), teacher {t}, {m} vs {p['direct_method']}, {st}, ε {eps:g}",
                            "log2(m*_hard / m*_soft)", est, lo, hi, ">", 0.0, R,
                            f"{p['interval']:.0%} bootstrap over replicates", note, premise))
    return out


def slope_claims(p: dict[str, Any], scaling: pd.DataFrame) -> list[dict]:
    """The fitted slope of log m* against log(1/γ) stays within the theory's exponent (2 soft, 4 hard)."""
    out = []
    for _, r in scaling.iterrows():
        bound = r["theory_slope"]
        if pd.isna(bound):
            continue
        lo, hi = float(r["slope_lo"]), float(r["slope_hi"])
        out.append(_row("A", f"m* grows no faster than (1/γ)^{bound:g}", r["experiment"],
                        f"{r['method']} (teacher {r['teacher']}), {r['student']}, ε {r['epsilon']:g}, "
                        f"{int(r['datasets_reached'])} of {int(r['datasets_total'])} data sets reach ε",
                        "slope of log m* on log(1/γ)", float(r["slope"]), lo, hi, "<", float(bound),
                        int(r["datasets_reached"]), f"{p['interval']:.0%} t-interval over data sets",
                        "" if not pd.isna(r["slope"]) else str(r["note"])))
    return out


# --- paired comparisons of test accuracy -------------------------------------------------------------

def _accuracy_claim(p: dict[str, Any], acc: dict[tuple, np.ndarray], paper: str, claim: str,
                    pick: Callable[[tuple], tuple | None], sign: str) -> list[dict]:
    """For each cell ``pick`` pairs with a reference cell: (this − reference) test accuracy in points,
    paired over replicates (replicate r of every method shares its initialisation and resample)."""
    out = []
    for key in sorted(acc):
        ref = pick(key)
        if ref is None or ref not in acc:
            continue
        a, b = acc[key], acc[ref]
        R = min(len(a), len(b))
        est, lo, hi = paired_t(100 * (a[:R] - b[:R]), p["interval"])
        exp, ds, t, m, st, w = key
        out.append(_row(paper, claim, exp, f"{ds}, teacher {t}, {m} vs {ref[3]} (teacher {ref[2]}), {st}, m={w}",
                        "test accuracy difference (points)", est, lo, hi, sign, 0.0, R,
                        f"{p['interval']:.0%} paired t over replicates"))
    return out


def _first(p: dict[str, Any], kind: str, **match: Any) -> str | None:
    for m in sorted(p["method_kinds"]):
        if p["method_kinds"][m] == kind and all(p["method_params"][m].get(k) == v for k, v in match.items()):
            return m
    return None


def accuracy_claims(p: dict[str, Any], acc: dict[tuple, np.ndarray]) -> list[dict]:
    kinds, data_kinds = p["method_kinds"], p["data_kinds"]
    out = []

    def soft_vs_hard(key: tuple) -> tuple | None:
        exp, ds, t, m, st, w = key
        if data_kinds[ds] not in PAPER_A_ACCURACY_KINDS or kinds[m] != "kd" or t == NO_TEACHER:
            return None
        return (exp, ds, NO_TEACHER, p["direct_method"], st, w)

    out += _accuracy_claim(p, acc, "A", "soft labels give small students higher test accuracy than hard labels",
                           soft_vs_hard, ">")

    def wsl_vs_kd(key: tuple) -> tuple | None:
        exp, ds, t, m, st, w = key
        if kinds[m] != "wsl":
            return None
        kd = _first(p, "kd", temperature=p["method_params"][m].get("temperature"))
        return (exp, ds, t, kd, st, w) if kd else None

    out += _accuracy_claim(p, acc, "B", "WSL gives higher test accuracy than KD at the same temperature",
                           wsl_vs_kd, ">")

    def filter_vs_kd(key: tuple) -> tuple | None:
        exp, ds, t, m, st, w = key
        mp = p["method_params"][m]
        if kinds[m] != "kd-filtered" or mp.get("filter_weight") != 0.0:
            return None
        kd = _first(p, "kd", temperature=mp.get("temperature"))
        return (exp, ds, t, kd, st, w) if kd else None

    out += _accuracy_claim(p, acc, "B", "removing the regularization samples from KD (the hard filter) lowers "
                           "test accuracy", filter_vs_kd, "<")
    return out


# --- paper B: bias, variance, regularization samples ----------------------------------------------

def biasvar_claims(p: dict[str, Any], biasvar: pd.DataFrame) -> list[dict]:
    """KD raises the bias and lowers the variance against direct training (paired over test points)."""
    out = []
    rows = biasvar[biasvar["resampling"] != "none"]  # a variance over training sets needs resampled ones
    for _, r in rows.iterrows():
        if p["method_kinds"].get(r["method"]) != "kd" or r["teacher"] == NO_TEACHER:
            continue
        setting = (f"{r['dataset']}, teacher {r['teacher']}, {r['method']} vs {p['direct_method']}, {r['student']}, "
                   f"m={r['width']}, {r['resampling']} resamples")
        for name, claim, sign in (("bias", "KD has a larger bias than direct training", ">"),
                                  ("variance", "KD has a smaller variance than direct training", "<")):
            out.append(_row("B", claim, r["experiment"], setting, f"CE {name}: KD − direct",
                            float(r[f"{name}_shift_vs_direct"]), float(r[f"{name}_shift_lo"]),
                            float(r[f"{name}_shift_hi"]), sign, 0.0, int(r["replicates"]),
                            f"{p['interval']:.0%} bootstrap over test points"))
    return out


def _tau(t: Any) -> str:
    """A method's temperature for people: 4.0 -> '4'; 'auto' (the teacher's τ* on its validation NLL) stays."""
    return t if isinstance(t, str) else f"{t:g}"


def regularization_claims(p: dict[str, Any], fractions: dict[tuple, np.ndarray]) -> list[dict]:
    """A label-smoothing teacher yields more regularization samples than a plain one, at the same τ.

    Effect: the difference of the final fractions, paired over student replicates."""
    out = []
    ls = p["teacher_ls"]
    for key in sorted(fractions):
        exp, ds, t, m, st, w = key
        if ls.get(t, 0) <= 0 or isinstance(p["method_params"][m].get("temperature"), str):
            continue  # 'auto': each teacher its own τ*, so the two teachers are not compared at the same τ
        for plain in sorted(x for x in ls if ls[x] == 0 and (exp, ds, x, m, st, w) in fractions):
            a, b = fractions[key], fractions[(exp, ds, plain, m, st, w)]
            R = min(len(a), len(b))
            est, lo, hi = paired_t(a[:R] - b[:R], p["interval"])
            out.append(_row("B", "a label-smoothing teacher yields more regularization samples", exp,
                            f"{ds}, {m} (τ {_tau(p['method_params'][m].get('temperature'))}), teacher {t} "
                            f"(ε {ls[t]:g}) vs {plain}, {st}, m={w}", "fraction of regularization samples: "
                            "LS − plain", est, lo, hi, ">", 0.0, R, f"{p['interval']:.0%} paired t over replicates"))
    return out


def claims_table(p: dict[str, Any], curves: dict[tuple, np.ndarray], acc: dict[tuple, np.ndarray],
                 fractions: dict[tuple, np.ndarray], gammas: dict[str, float], scaling: pd.DataFrame,
                 biasvar: pd.DataFrame) -> pd.DataFrame:
    """Every claim the run tests. Cell keys are (experiment, data set, teacher, method, student, width);
    ``curves``: per-replicate 0-1 training error per iteration (R, T); ``acc``: per-replicate test
    accuracy (R,); ``fractions``: per-replicate final fraction of regularization samples (R,)."""
    rng = np.random.default_rng(p.get("seed", 0))
    rows = (neurons_claims(p, curves, gammas, rng) + slope_claims(p, scaling) + accuracy_claims(p, acc)
            + biasvar_claims(p, biasvar) + regularization_claims(p, fractions))
    return pd.DataFrame(rows, columns=COLUMNS)


NOTE = ("Verdict rule: a claim states that its effect lies on one side of a threshold (column claimed). "
        "supported: the whole interval lies on that side; contradicted: the whole interval lies on the other "
        "side; inconclusive: the interval straddles the threshold, or none could be computed (see note); "
        "not tested: the setting does not meet the claim's premise (paper A's bound needs γ ≤ ε). Every "
        "setting the run has is listed, none dropped.")
