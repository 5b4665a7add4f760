"""The tables, as pure functions of loaded results: neurons needed, scaling slopes, bias–variance,
regularization samples, method comparison and the papers' tables with the papers' numbers beside ours
(docs/science.md). ``softlabels.pipeline.tables`` reads the rule's input files and writes what these
return as CSV and Markdown.

Each builder gets ``p`` = the rule's params ({"cells": [cell records], ...table settings}) and the
loaded inputs in the order of ``p["cells"]``; it returns ``Table``s (a frame, a title and a note).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from softlabels.analysis.biasvar import accuracy, paired_mean_draws
from softlabels.registry import METHODS, NO_TEACHER

# Paper A, Table 1 (MNIST, digits > 4 vs rest; accuracies in %).
PAPER_A_TABLE1 = {
    # (reduced, width): (teacher, hard, soft)
    (True, 8): (98.75, 97.19, 97.67), (True, 6): (98.75, 96.84, 97.26), (True, 4): (98.75, 93.04, 95.83),
    (False, 8): (98.34, 95.77, 96.58), (False, 6): (98.34, 95.33, 96.00), (False, 4): (98.34, 88.84, 95.62),
}

# Paper A, Figure 1 (CIFAR-10 cat vs dog, VGG 8+3 -> VGG 2+3; test accuracy %, read off the plot to about ±0.2).
PAPER_A_FIGURE1 = {
    # noise variance: (teacher, hard, soft)
    0.01: (82.5, 74.6, 76.0), 0.03: (78.4, 74.2, 75.1), 0.05: (79.1, 73.7, 74.1),
    0.10: (77.6, 67.2, 74.9), 0.20: (73.4, 62.1, 70.3),
}
PAPER_A_FIGURE1_MODELS = ("vgg8+3", "vgg2+3")

# Paper B, CIFAR-100 (CRD protocol; top-1 %).
PAPER_B_CIFAR100 = {
    # (teacher model, student model): (teacher, student, KD, WSL)
    ("resnet56", "resnet20"): (72.34, 69.06, 70.66, 72.15),
    ("resnet110", "resnet32"): (74.31, 71.14, 73.08, 74.12),
    ("resnet32x4", "resnet8x4"): (79.42, 72.50, 73.33, 76.05),
}



Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Table:
    """A table for people: its rows, a title and the note that says how to read it."""

    frame: pd.DataFrame
    title: str = ""
    notes: str = ""
    # for the HTML page only (the CSV and Markdown keep every column in the frame's order): a column whose
    # value is shown once, as a heading row above its rows (rows of one value kept together, in order of
    # first appearance), and columns shown first, in this order
    group_by: str | None = None
    first: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.frame.columns) == 0:  # an empty table still names its columns: "no rows" is not "broken"
            raise ValueError(f"table {self.title!r} has no columns (build the empty frame with its columns)")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(df: pd.DataFrame, title: str = "", notes: str = "") -> str:
    lines = [f"# {title}", ""] if title else []
    lines.append("| " + " | ".join(map(str, df.columns)) + " |")
    lines.append("|" + "---|" * len(df.columns))
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def _people(v: Any, digits: int = 4) -> str:
    """A value for people: floats to ``digits`` significant digits, missing values as an en dash."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == int(v) and abs(v) < 1e6 or abs(v) >= 10 ** digits:
            return f"{v:.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def _intervals(cols: list[str]) -> dict[str, tuple[str, str]]:
    """Estimate column -> (its _lo, its _hi column): ``x, x_lo, x_hi``, or ``x_more, x_lo, x_hi``
    where the interval columns follow the estimate (bias_shift_vs_direct, bias_shift_lo, ...), or
    ``x, lo, hi`` (the claims table's estimate, lo, hi)."""
    out = {}
    for i, c in enumerate(cols):
        if not c.endswith("_lo") or f"{c[:-3]}_hi" not in cols:
            continue
        stem = c[:-3]
        base = stem if stem in cols else (cols[i - 1] if i and cols[i - 1].startswith(stem) else None)
        if base is not None and base not in out:
            out[base] = (c, f"{stem}_hi")
    if "lo" in cols and "hi" in cols and cols.index("lo") > 0:  # bare lo, hi: the interval of the column before
        base = cols[cols.index("lo") - 1]
        if base not in out and base not in ("hi",):
            out[base] = ("lo", "hi")
    return out


HTML_MAX_ROWS = 2000
HTML_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.2em; margin: 0 0 .4em 0; }
p.note { max-width: 70em; color: #444; font-size: .9em; margin: .3em 0 .8em 0; }
table { border-collapse: collapse; font-size: .85em; }
th, td { padding: .25em .6em; border-bottom: 1px solid #ddd; }
td { max-width: 12em; overflow-wrap: break-word; }
td.num { white-space: nowrap; }
th { background: #f0f0f0; border-bottom: 2px solid #999; text-align: left; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
tr:hover td { background: #eef4fb; }
tr.group th { background: #e4ebf3; border-bottom: 1px solid #999; position: static; font-size: 1.05em; }
"""


def html(table: Table, max_rows: int = HTML_MAX_ROWS) -> str:
    """A small self-contained HTML page of the table for the report: its title, its note and the rows,
    numbers to 4 significant digits and each ``x, x_lo, x_hi`` shown as one column ``x [lo, hi]``.
    ``table.first`` columns come first; ``table.group_by``'s value is a heading row above its group."""
    from html import escape

    df = table.frame
    group = table.group_by if table.group_by in df.columns else None
    if group is not None:  # keep each group's rows together, groups in order of first appearance
        order = {v: i for i, v in enumerate(pd.unique(df[group]))}
        df = df.iloc[np.argsort(df[group].map(order).to_numpy(), kind="stable")]
    cols = [str(c) for c in df.columns]
    ivals = _intervals(cols)
    hidden = {c for lo_hi in ivals.values() for c in lo_hi} | ({group} if group else set())
    lead = [c for c in table.first if c in cols and c not in hidden]
    shown = lead + [c for c in cols if c not in hidden and c not in lead]
    numeric = {c for c in cols if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])}

    def cell(row: dict[str, Any], c: str) -> str:
        if c in ivals:
            lo, hi = (row[k] for k in ivals[c])
            text = _people(row[c])
            if not (pd.isna(lo) and pd.isna(hi)):
                text += f" [{_people(lo, 3)}, {_people(hi, 3)}]"
            return text
        return _people(row[c])

    # a column name may break after an underscore (<wbr>), so that a narrow column's header wraps there
    head = "".join(f"<th>{escape(c + (' [lo, hi]' if c in ivals else '')).replace('_', '_<wbr>')}</th>" for c in shown)
    body = []
    records = df.iloc[:max_rows].to_dict("records")
    current: Any = object()
    for row in records:
        if group is not None and row[group] != current:
            current = row[group]
            body.append(f'<tr class="group"><th colspan="{len(shown)}">{escape(_people(current))}</th></tr>')
        tds = "".join(("<td class=\"num\">" if c in numeric else "<td>") + f"{escape(cell(row, c))}</td>" for c in shown)
        body.append(f"<tr>{tds}</tr>")
    more = (f'<p class="note">The first {max_rows} of {len(df)} rows; the CSV of the same name has them all.</p>'
            if len(df) > max_rows else "")
    title = escape(table.title or "table")
    note = f'<p class="note">{escape(table.notes)}</p>' if table.notes else ""
    rows = "\n".join(body) if body else f'<tr><td colspan="{len(shown)}">(no rows)</td></tr>'
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{HTML_STYLE}</style></head>\n<body>\n<h1>{title}</h1>\n{note}\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n{more}\n</body></html>\n")


# --- neurons (paper A, docs/science.md#a-neurons-needed) ----------------------------------

def neuron_rows(cells: list[dict[str, Any]], replicates: list[Arrays], margins: dict[str, dict[str, Any]],
                labels: dict[str, np.ndarray], setups: dict[str, dict[str, str]] | None = None,
                radii: list[float | None] | None = None) -> pd.DataFrame:
    """One row per cell: its student's base setup and radius (``setups``: student -> {setup, radius}, the
    configured radius label; ``radii``: the radius each cell trained with, None outside the theory regime),
    its data set's margins, training error (mean over iterations and final), test accuracy."""
    setups = setups or {}
    radii = radii if radii is not None else [None] * len(cells)
    rows = []
    for cell, r, used in zip(cells, replicates, radii):
        acc = accuracy(r["test_logits"], labels[cell["dataset"]])
        m = margins[cell["dataset"]]
        st = setups.get(cell["student"], {})
        rows.append({
            **cell,
            "setup": st.get("setup", cell["student"]), "radius": st.get("radius", ""),
            "radius_used": math.nan if used is None else float(used),
            "gamma": m.get("gamma"), "gamma_lower": m.get("gamma_lower"), "gamma_upper": m.get("gamma_upper"),
            "teacher_margin": m.get("teacher_margin", math.nan),
            "train_err_mean_iter": float(r["train_err"].mean()),
            "train_err_final": float(r["train_err"][:, -1].mean()),
            "final_train_loss": float(r["train_loss"][:, -1].mean()),
            "test_acc_mean": float(acc.mean()), "test_acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            "replicates": int(r["train_err"].shape[0]),
        })
    return pd.DataFrame(rows)


def bound_ratio(gamma: float, eps: float) -> float:
    """The ratio of paper A's two neuron bounds, soft over hard: (1/(γ²ε)) / (γ⁻⁴ ln(1/ε)) = γ²/(ε ln(1/ε))
    (docs/science.md#a-bounds); below 1 the soft-label bound is the smaller. NaN where undefined."""
    if gamma is None or not gamma > 0 or not 0 < eps < 1:
        return math.nan
    return gamma ** 2 / (eps * math.log(1 / eps))


def neurons_needed(df: pd.DataFrame, epsilons: list[float]) -> pd.DataFrame:
    """m*(ε): the smallest width whose mean-over-iterations training 0-1 error is ≤ ε (the theorems'
    quantity), and beside it the same for the final iterate's error (``m_star_final``)."""
    keys = ["experiment", "dataset", "teacher", "method", "student"]
    extra = [c for c in ("setup", "radius") if c in df.columns]
    rows = []
    for k, g in df.groupby(keys, sort=True):
        g = g.sort_values("width")
        for eps in epsilons:
            ok = g[g["train_err_mean_iter"] <= eps]
            ok_final = g[g["train_err_final"] <= eps]
            floor = len(ok) and ok["width"].iloc[0] == g["width"].iloc[0]
            gamma = g["gamma"].iloc[0]
            widest, narrowest = int(g["width"].max()), int(g["width"].min())
            # the bounds m* is known to lie in (docs/science.md#a-censoring): the grid's m* where it is reached
            # above the narrowest width; at most the narrowest (at least 1 neuron) where that one reaches ε
            # already; at least twice the widest (the next grid width) where no width reaches it: censored
            lo_hi = ((1, narrowest) if floor else (int(ok["width"].iloc[0]),) * 2) if len(ok) else (2 * widest, math.inf)
            rows.append({**dict(zip(keys, k)), **{c: g[c].iloc[0] for c in extra}, "gamma": gamma,
                         **({"teacher_margin": g["teacher_margin"].iloc[0]} if "teacher_margin" in g else {}),
                         "epsilon": eps,
                         "bound_ratio": bound_ratio(gamma, eps),
                         "m_star": int(ok["width"].iloc[0]) if len(ok) else None,
                         "m_star_lo": float(lo_hi[0]), "m_star_hi": float(lo_hi[1]),
                         "reached": ("at the narrowest width (m* ≤ it)" if floor else "yes") if len(ok)
                         else f"not reached (widest {int(g['width'].max())})",
                         "m_star_final": int(ok_final["width"].iloc[0]) if len(ok_final) else None})
    return pd.DataFrame(rows)


def fit_slope(x: np.ndarray, y: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """OLS slope of y on x with a t-interval; NaNs when fewer than 3 points or x has no spread."""
    from scipy import stats

    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return (math.nan,) * 4  # type: ignore[return-value]
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    resid = y - (intercept + slope * x)
    stderr = math.sqrt(float(resid @ resid) / (n - 2) / sxx)
    t = float(stats.t.ppf((1 + level) / 2, n - 2))
    return slope, slope - t * stderr, slope + t * stderr, intercept


#: how far beyond a bound bounded_fit looks for the worst case (log units; the last is "far beyond": an
#: interval end still moving there is taken to run to infinity)
BOUND_STEPS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 1e3)


def bound_grid(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of the values that n quantities known only to lie in [lower_i, upper_i] may take, on a
    grid stepping away from each bound (``BOUND_STEPS``; five points across a finite range; a value: itself):
    (G, n) candidate vectors and, per vector, whether some value sits at the far step (where an interval end
    still moving is taken to run to infinity). What ``bounded_fit`` and ``bounded_mean`` take the union over."""
    from itertools import product

    L, U = np.asarray(lower, float), np.asarray(upper, float)
    steps = np.asarray(BOUND_STEPS)
    cands, far = [], []
    for lo_i, hi_i in zip(L, U):
        if lo_i == hi_i:
            c = np.array([lo_i])
        elif np.isfinite(lo_i) and np.isfinite(hi_i):
            c = np.linspace(lo_i, hi_i, 5)
        elif np.isfinite(lo_i):
            c = lo_i + steps
        elif np.isfinite(hi_i):
            c = hi_i - steps
        else:
            c = np.concatenate([-steps[:0:-1], steps])
        cands.append(c)
        far.append(np.abs(c - (c[0] if np.isfinite(lo_i) or np.isfinite(hi_i) else 0.0)) >= steps[-1])
    idx = np.array(list(product(*(range(len(c)) for c in cands))))              # (G, n)
    Y = np.stack([cands[i][idx[:, i]] for i in range(len(L))], 1)
    is_far = np.stack([far[i][idx[:, i]] for i in range(len(L))], 1).any(1)
    return Y, is_far


def _union_ends(lo_g: np.ndarray, hi_g: np.ndarray, is_far: np.ndarray) -> tuple[float, float]:
    """The union of intervals [lo_g, hi_g] over a ``bound_grid``: an end that still moves at the far step is ±inf."""
    lo = -math.inf if is_far.any() and lo_g[is_far].min() < lo_g[~is_far].min() else float(lo_g[~is_far].min())
    hi = math.inf if is_far.any() and hi_g[is_far].max() > hi_g[~is_far].max() else float(hi_g[~is_far].max())
    return lo, hi


def bounded_mean(lower: np.ndarray, upper: np.ndarray, level: float, threshold: float = math.nan
                 ) -> dict[str, Any]:
    """The mean of n independent draws with its t-interval (n − 1 degrees of freedom) where some draws are known
    only to lie in [lower_i, upper_i] (docs/science.md#a-draws): as ``bounded_fit`` for a slope, the interval is
    the union of the t-intervals over the values the bounds allow, and ``p_below`` / ``p_above`` (toward 'mean <
    threshold' / 'mean > threshold') the largest t-test p-values over them. The estimate is the mean at the
    bounds, '≥' or '≤' where every censored draw is bounded on the same side (NaN where they pull both ways, or
    where a draw is unbounded on both sides). Fewer than 2 draws: NaNs."""
    from scipy import stats

    L, U = np.asarray(lower, float), np.asarray(upper, float)
    n = len(L)
    out = {"mean": math.nan, "bound": "", "lo": math.nan, "hi": math.nan, "p_below": math.nan,
           "p_above": math.nan, "censored": int((L != U).sum()), "n": n}
    if n < 2:
        return out
    Y, is_far = bound_grid(L, U)
    mean = Y.mean(1)
    se = Y.std(1, ddof=1) / math.sqrt(n)
    t = float(stats.t.ppf((1 + level) / 2, n - 1))
    out["lo"], out["hi"] = _union_ends(mean - t * se, mean + t * se, is_far)
    if not math.isnan(threshold):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, (mean - threshold) / se, np.sign(mean - threshold) * np.inf)
        out["p_below"], out["p_above"] = float(stats.t.cdf(z, n - 1).max()), float(stats.t.sf(z, n - 1).max())
    censored = L != U
    up, down = censored & np.isinf(U) & np.isfinite(L), censored & np.isinf(L) & np.isfinite(U)
    fin = censored & np.isfinite(L) & np.isfinite(U)
    anchor = np.where(np.isfinite(L), L, U)
    if not np.isfinite(anchor).all() or fin.any():
        return out
    if not censored.any():
        out["mean"] = float(anchor.mean())
    elif not down.any():
        out.update(mean=float(anchor.mean()), bound="≥")
    elif not up.any():
        out.update(mean=float(anchor.mean()), bound="≤")
    return out


def bounded_fit(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float,
                threshold: float = math.nan) -> dict[str, Any]:
    """The OLS slope of y on x with its t-interval (n − 2 degrees of freedom) where some y are known only to lie
    in [lower_i, upper_i] (a value: lower = upper; a censored m*: one end infinite; docs/science.md#a-censoring).

    The interval is the union of the t-intervals over the values the bounds allow (evaluated on a grid that
    steps away from each bound, ``BOUND_STEPS``; an end still moving at the far step is ±inf): it covers at
    least as often as the t-interval at the true values, so a verdict from it is one the bounds decide. The
    p-values toward 'slope < threshold' (``p_below``) and 'slope > threshold' (``p_above``) are the largest
    t-test p-values over the same grid. The estimate is the slope at the bounds, with ``bound`` '≥' or '≤' where
    every censored value pushes the slope the same way from there (NaN where they pull both ways, or where a
    value is unbounded on both sides). Fewer than 3 points or no spread in x: NaNs."""
    from scipy import stats

    x, L, U = (np.asarray(a, float) for a in (x, lower, upper))
    n = len(x)
    nan = {"slope": math.nan, "bound": "", "lo": math.nan, "hi": math.nan, "intercept": math.nan,
           "p_below": math.nan, "p_above": math.nan, "censored": int((L != U).sum())}
    if n < 3 or np.ptp(x) == 0:
        return nan
    Y, is_far = bound_grid(L, U)
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = (Y - Y.mean(1, keepdims=True)) @ xc / sxx
    icpt = Y.mean(1) - slope * x.mean()
    resid = Y - (icpt[:, None] + slope[:, None] * x[None])
    se = np.sqrt((resid * resid).sum(1) / (n - 2) / sxx)
    t = float(stats.t.ppf((1 + level) / 2, n - 2))
    lo_g, hi_g = slope - t * se, slope + t * se
    lo, hi = _union_ends(lo_g, hi_g, is_far)
    p_below = p_above = math.nan
    if not math.isnan(threshold):
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, (slope - threshold) / se, np.sign(slope - threshold) * np.inf)
        p_below, p_above = float(stats.t.cdf(z, n - 2).max()), float(stats.t.sf(z, n - 2).max())
    censored = L != U
    anchor = np.where(np.isfinite(L), L, U)
    out = {**nan, "lo": lo, "hi": hi, "p_below": p_below, "p_above": p_above}
    if not np.isfinite(anchor).all():
        return out
    c = xc / sxx                                                                   # d slope / d y_i
    up = (np.isinf(U) & (c > 0)) | (np.isinf(L) & (c < 0))                          # moving y_i off its bound raises it
    down = (np.isinf(U) & (c < 0)) | (np.isinf(L) & (c > 0))
    fin = censored & np.isfinite(L) & np.isfinite(U)
    est = float(c @ (anchor - anchor.mean()))
    out["intercept"] = float(anchor.mean() - est * x.mean())
    if not censored.any():
        out["slope"] = est
    elif not fin.any() and (up | ~censored).all():
        out.update(slope=est, bound="≥")
    elif not fin.any() and (down | ~censored).all():
        out.update(slope=est, bound="≤")
    return out


def fit_slope(x: np.ndarray, y: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """OLS slope of y on x with a t-interval; NaNs when fewer than 3 points or x has no spread."""
    f = bounded_fit(x, y, y, level)
    return f["slope"], f["lo"], f["hi"], f["intercept"]


SCALING_COLUMNS = ["experiment", "teacher", "student", "method", "epsilon", "margin", "datasets_total", "datasets_reached",
                   "datasets_censored", "bound", "slope", "slope_lo", "slope_hi", "intercept", "theory_slope",
                   "p_within", "p_beyond", "note"]


def _theory_slope(kind: str) -> float:
    """The exponent of 1/γ in paper A's upper bound for a method kind (NaN where it gives none)."""
    m = METHODS.get(kind)
    return m.theory_slope if m is not None and m.theory_slope is not None else math.nan


#: the ``margin`` of a scaling row fitted on the kernel-limit teacher's own margin (min y·z over training points)
TEACHER_MARGIN = "teacher's margin"


def scaling(needed: pd.DataFrame, kinds: dict[str, str], level: float) -> pd.DataFrame:
    """One slope per (experiment, teacher, student, method, ε) over the data sets with γ > 0: m* where it was
    reached, and where it was not (censored: at least twice the widest width) or was reached at the narrowest
    width already (at most that width), the bounds (``bounded_fit``, docs/science.md#a-censoring). p_within /
    p_beyond: the one-sided p-values of the slope below / above the theory's exponent. A header-only table
    when nothing to fit."""
    keys = SCALING_COLUMNS[:5]
    rows = []
    for k, g0 in needed.groupby(keys, sort=True):
        # every arm against the solved γ; a distilled arm also against its teacher's own margin where the data
        # record one (the kernel-limit teacher: min y·z, docs/science.md#a-teacher-margin), the γ of its theorem
        margins = [("solved γ", "gamma")]
        if (k[1] != NO_TEACHER and "teacher_margin" in g0 and (g0["teacher_margin"].astype(float) > 0).all()
                and METHODS.get(kinds.get(k[3], "")) is not None and METHODS[kinds[k[3]]].needs_teacher):
            margins.append((TEACHER_MARGIN, "teacher_margin"))
        for margin, col in margins:
            rows.append(_scaling_row(k, g0, col, margin, kinds, level))
    return pd.DataFrame(rows, columns=SCALING_COLUMNS)


def _scaling_row(k: tuple, g: pd.DataFrame, col: str, margin: str, kinds: dict[str, str], level: float
                 ) -> dict[str, Any]:
    """One row of ``scaling``: the fit of log m* on log(1/margin) for the group ``k``, the margin the column
    ``col`` of its data sets (the solved γ, or the teacher's own margin)."""
    keys = SCALING_COLUMNS[:5]
    g = g[g[col].astype(float) > 0]
    x = np.log(1.0 / g[col].to_numpy(float))
    if "m_star_lo" in g:
        lo_m, hi_m = g["m_star_lo"].to_numpy(float), g["m_star_hi"].to_numpy(float)
    else:  # a table without the bounds: m* reached, or at most the narrowest width (the censored left out)
        hi_m = g["m_star"].to_numpy(float)
        floor = g["reached"].astype(str).str.startswith("at the narrowest").to_numpy()
        lo_m = np.where(floor, 1.0, hi_m)
    keep = ~np.isnan(lo_m)
    kind = kinds.get(k[3], "")
    theory = _theory_slope(kind)
    fit = bounded_fit(x[keep], np.log(lo_m[keep]), np.log(hi_m[keep]), level, theory)
    reached = int((lo_m == hi_m).sum())
    note = ""
    if math.isnan(fit["lo"]):
        note = "needs >= 3 data sets with distinct γ"
    elif not fit["censored"] and np.ptp(lo_m[keep]) == 0:  # a flat grid: no slope to fit
        fit.update(slope=math.nan, lo=math.nan, hi=math.nan, intercept=math.nan, p_below=math.nan,
                   p_above=math.nan)
        note = "the same m* on every data set: no slope to fit at this grid"
    elif fit["censored"]:
        note = (f"{fit['censored']} of {int(keep.sum())} data sets give only a bound on m* (not reached at the "
                "widest width: m* ≥ twice it; reached at the narrowest: m* ≤ it): the interval is the union over "
                "the values the bounds allow" + ("" if not math.isnan(fit["slope"]) else
                                                  "; the bounds pull the slope both ways: no estimate"))
    return {**dict(zip(keys, k)), "margin": margin, "datasets_total": g["dataset"].nunique(),
            "datasets_reached": reached, "datasets_censored": fit["censored"], "bound": fit["bound"],
            "slope": fit["slope"], "slope_lo": fit["lo"], "slope_hi": fit["hi"], "intercept": fit["intercept"],
            "theory_slope": theory, "p_within": fit["p_below"], "p_beyond": fit["p_above"], "note": note}


def neuron_tables(p: dict[str, Any], replicates: list[Arrays], margins: dict[str, dict[str, Any]],
                  labels: dict[str, np.ndarray], radii: list[float | None] | None = None) -> dict[str, Table]:
    """Paper A's tables: students per width ('neurons'), m*(ε) ('needed') and its slope against 1/γ ('scaling')."""
    df = neuron_rows(p["cells"], replicates, margins, labels, p.get("student_setups"), radii)
    out = {}
    out["neurons"] = Table(df, "Students per width",
                "setup / radius: the student setup and its configured radius B (a radius list makes one setup per "
                "value, docs/science.md#a-regimes); radius_used: the B the cell trained with (under auto, each arm's "
                "own theorem's radius). "
                "train_err_mean_iter: 0-1 training error averaged over iterations and replicates, the theorems' "
                "quantity (docs/science.md#a-neurons-needed); train_err_final: the last iterate's. "
                "gamma: γ solved by the Monte-Carlo program of Assumption 1 (docs/science.md#a-margin-solve); "
                "gamma_lower / gamma_upper: a lower bound (its certificate on fresh directions, or half the linear "
                "margin) and an upper bound (SVM margin on the limiting kernel); teacher_margin: the margin of the "
                "kernel-limit teacher's own labels, min y·z over the training points (docs/science.md#a-teacher-margin; "
                "empty for data without the kernel target).")
    needed = neurons_needed(df, p["epsilons"])
    needed["m_star"] = needed["m_star"].astype("Int64")
    needed["m_star_final"] = needed["m_star_final"].astype("Int64")
    out["needed"] = Table(needed, "Neurons needed m*(ε)",
                "m_star: smallest width whose mean-over-iterations training error is ≤ ε (empty: not reached); "
                "m_star_final: the same for the last iterate's error. bound_ratio: γ²/(ε ln(1/ε)), the soft-label "
                "bound over the hard-label bound (below 1: the soft bound is the smaller; not a premise of either).")
    # a slope needs several margin levels: fit only experiments with at least two data sets
    several = needed.groupby("experiment")["dataset"].transform("nunique") >= 2
    sc = scaling(needed[several], p["method_kinds"], p["interval"])
    out["scaling"] = Table(sc, "Scaling of m* with the margin",
                           f"slope of log m* against log(1/γ) over data sets, {int(p['interval'] * 100)}% "
                           "t-interval; margin: the γ fitted on (the solved γ; for a distilled arm also its "
                           "kernel-limit teacher's own margin, the soft-label theorem's γ); theory_slope is the upper "
                           "bound's exponent (2 soft labels, 4 hard labels). "
                           "A smaller fitted slope means the data beat the bound.")
    return out


# --- bias-variance (paper B, docs/science.md#b-ce-decomposition) ------------------------------

def biasvar_table(p: dict[str, Any], summaries: list[dict[str, Any]], points: list[Arrays],
                  test_logp: list[np.ndarray] | None = None, labels: list[np.ndarray] | None = None) -> Table:
    """Each cell's decomposition (``summaries``), and a distilled student's bias and variance shifts
    against direct training on the same test points (from each cell's per-point terms, ``points``).

    With each cell's per-replicate test log-probabilities ``test_logp`` (R, N, C) and test ``labels``, the
    cross-entropy shifts' intervals of students on resampled training sets (the ones paper B's claims read)
    resample replicates (paired across the two arms) and test points together (docs/science.md#b-intervals);
    without them, for the 0-1 and squared-error shifts, and for students that all train on one training set
    (resampling none), test points only."""
    from softlabels.analysis.biasvar import SHIFTS, bootstrap_interval, paired_shift_intervals

    shift_cache: dict[tuple, dict[str, tuple[float, float]]] = {}

    def shift_interval(i: int, j: int, name: str, d: np.ndarray) -> tuple[float, float]:
        """The interval of cell i's shift against cell j (its direct-training reference)."""
        if (test_logp is None or labels is None or name not in SHIFTS  # 0-1, squared error
                or p["resampling"][p["cells"][i]["student"]] == "none"):  # one training set: no claim reads it
            return bootstrap_interval(d, p["n_boot"], p["interval"])
        if (i, j) not in shift_cache:
            shift_cache[(i, j)] = paired_shift_intervals(test_logp[i], test_logp[j], labels[i], p["n_boot"],
                                                         p["interval"])
        return shift_cache[(i, j)][name]

    key = ("experiment", "dataset", "teacher", "method", "student", "width")
    rows = []
    by_cell, index = {}, {}
    for i, (cell, s, terms) in enumerate(zip(p["cells"], summaries, points)):
        s = {k: v for k, v in s.items() if k != "provenance"}
        rows.append({**cell, "resampling": p["resampling"][cell["student"]], **s})
        by_cell[tuple(cell[k] for k in key)] = terms
        index[tuple(cell[k] for k in key)] = i
    df = pd.DataFrame(rows)
    # Shifts relative to direct training (docs/science.md#b-kd-vs-direct), paired over test points:
    # E[log ȳ_ce,y − log ȳ_kd,y] = bias_kd − bias_ce, and likewise for the variance.
    # The 0-1 (Domingos) and squared-error bias and variance get the same shifts, so that a CE shift that is a
    # change in confidence (the 0-1 terms do not move) is told apart from a change in predictions.
    shifted = [("ce_bias", "bias"), ("ce_variance", "variance")]
    shifted += [(t, n) for t, n in (("ce_bias_unbiased", "bias_unbiased"), ("ce_variance_unbiased", "variance_unbiased"))
                if points and all(t in terms for terms in points)]
    shifted += [(t, t) for t in ("zo_bias", "zo_variance", "se_bias", "se_variance")
                if points and all(t in terms for terms in points)]
    for term, name in shifted:
        shift, lo, hi = [], [], []
        for cell in p["cells"]:
            ref_key = (cell["experiment"], cell["dataset"], NO_TEACHER, p["direct_method"], cell["student"],
                       cell["width"])
            ref = by_cell.get(ref_key)
            if ref is None or cell["teacher"] == NO_TEACHER:
                shift.append(math.nan), lo.append(math.nan), hi.append(math.nan)
                continue
            d = by_cell[tuple(cell[k] for k in key)][term] - ref[term]
            a, b = shift_interval(index[tuple(cell[k] for k in key)], index[ref_key], name, d)
            shift.append(float(d.mean())), lo.append(a), hi.append(b)
        df[f"{name}_shift_vs_direct"], df[f"{name}_shift_lo"], df[f"{name}_shift_hi"] = shift, lo, hi
    cols = ["experiment", "dataset", "teacher", "method", "student", "width", "replicates", "resampling",
            "ce_loss", "ce_loss_lo", "ce_loss_hi", "ce_bias", "ce_bias_lo", "ce_bias_hi",
            "ce_variance", "ce_variance_lo", "ce_variance_hi", "bias_shift_vs_direct", "bias_shift_lo",
            "bias_shift_hi", "variance_shift_vs_direct", "variance_shift_lo", "variance_shift_hi"]
    unbiased = [n for _, n in shifted if n.endswith("_unbiased")]
    cols += [c for n in unbiased for c in (f"ce_{n}", f"ce_{n}_lo", f"ce_{n}_hi", f"{n}_shift_vs_direct",
                                            f"{n}_shift_lo", f"{n}_shift_hi")]
    cols += ["zo_loss", "zo_bias", "zo_variance", "zo_net_variance", "se_loss", "se_bias",
            "se_variance"]
    cols += [f"{n}_shift{x}" for _, n in shifted[2:] if n not in unbiased for x in ("_vs_direct", "_lo", "_hi")]
    return Table(df[cols], "Bias-variance decomposition over replicates",
                "ce_*: cross-entropy loss = bias + variance exactly (normalised geometric mean); bias includes "
                "label noise. zo_*: Domingos 0-1 decomposition (loss = bias + net variance). se_*: squared error "
                f"of probabilities (additive). bias_shift_vs_direct (variance_shift_vs_direct): CE bias (variance) "
                f"minus the '{p['direct_method']}' student's on the same test points; zo_*_shift_vs_direct and "
                "se_*_shift_vs_direct: the same for the 0-1 and squared-error bias and variance (a CE shift without a "
                "0-1 shift is a change in confidence, not in predictions). ce_*_unbiased and *_unbiased_shift_*: the CE "
                "variance unbiased in the number of replicates R (× R/(R − 1)) and the bias as the loss less that "
                "variance (docs/science.md#b-unbiased); paper B's claims read these. Intervals: {int(p['interval'] * 100)}% over resampled "
                "test points; the cross-entropy shifts' intervals of students on resampled training sets resample replicates "
                "(paired across the two arms) and test points together.")


# --- regularization samples ------------------------------------------------------------------

def kept_counts(r: Arrays, rule: str) -> np.ndarray:
    """Each replicate's count of regularization samples (rule ``rule``) at its kept epoch (R,): the epoch early
    stopping selected (``best_epoch``), whose weights the student keeps and is evaluated with; the last
    recorded epoch where the record has no ``best_epoch``."""
    counts = np.asarray(r[f"reg_{rule}"])                  # (R, epochs)
    if "best_epoch" not in r:
        return counts[:, -1]
    best = np.minimum(np.asarray(r["best_epoch"], dtype=np.int64), counts.shape[1] - 1)
    return counts[np.arange(len(counts)), best]


def regularization_table(p: dict[str, Any], replicates: list[Arrays], labels: list[np.ndarray]
                         ) -> tuple[Table, pd.DataFrame]:
    """Regularization samples per cell at the end of training, and per epoch (the second frame)."""
    rows, epochs = [], []
    for cell, r, y in zip(p["cells"], replicates, labels):
        rule = p["rule"]
        counts = r[f"reg_{rule}"]                        # (R, epochs)
        n = r["indices"].shape[1]
        acc = accuracy(r["test_logits"], y)
        rows.append({**cell, "teacher_label_smoothing": p["teacher_ls"][cell["teacher"]],
                     "temperature": p["temperatures"][cell["method"]], "rule": rule,
                     "count_kept": float(kept_counts(r, rule).mean()),
                     "fraction_kept": float(kept_counts(r, rule).mean() / n),
                     "count_final": float(counts[:, -1].mean()), "fraction_final": float(counts[:, -1].mean() / n),
                     "fraction_mean_over_epochs": float(counts.mean() / n),
                     "test_acc_mean": float(acc.mean()), "test_acc_std": float(acc.std(ddof=1))})
        for e, c in enumerate(counts.mean(0)):
            epochs.append({**cell, "rule": rule, "epoch": e, "count": float(c), "fraction": float(c / n)})
    table = Table(pd.DataFrame(rows), "Regularization samples",
                f"rule '{p['rule']}': " + ("p_s^τ(gt) > p_t^τ(gt), i.e. b > −a (paper B)" if p["rule"] == "gt"
                                           else "|b| > |a| (co-authors' later code)")
                + "; counted on each replicate's training set, averaged over replicates. count_kept / fraction_kept: "
                "at each replicate's kept epoch (the one early stopping selected, whose weights the student keeps; "
                "the claims read these); count_final / fraction_final: at the last trained epoch.")
    return table, pd.DataFrame(epochs)


# --- methods side by side --------------------------------------------------------------------

def accuracy_rows(cells: list[dict[str, Any]], test_logits: list[np.ndarray], labels: list[np.ndarray],
                  interval: tuple[float, int] | None = None) -> pd.DataFrame:
    """Per cell: test accuracy (%) mean and std over replicates, and the replicate count; with ``interval``
    (level, n_boot) also the percentile bootstrap interval of the mean (``acc_lo``, ``acc_hi``) that resamples
    replicates and test points (``accuracy_interval``)."""
    rows = []
    for cell, z, y in zip(cells, test_logits, labels):
        acc = accuracy(z, y) * 100
        row = {**cell, "acc": float(acc.mean()), "acc_std": float(acc.std(ddof=1)), "replicates": len(acc)}
        if interval is not None:
            row["acc_lo"], row["acc_hi"] = accuracy_interval(z, y, *interval)
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_interval(logits: np.ndarray, y: np.ndarray, level: float, n_boot: int, seed: int = 0
                      ) -> tuple[float, float]:
    """Percentile bootstrap interval (%) of a cell's mean test accuracy over its replicates (R, N, C)
    logits: each draw resamples the replicates and, shared by them, the test points (the draws of the
    accuracy claims, docs/science.md#b-intervals), so it carries both sources of variance; conservative,
    since the replicates' own noise is counted by both resamplings."""
    correct = (np.asarray(logits).argmax(-1) == y).astype(np.float64) * 100
    draws = paired_mean_draws([correct], n_boot, seed)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def teacher_accuracy(p: dict[str, Any], teachers: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(data set, teacher) -> the teacher's test accuracy (%), from its teacher.json record."""
    return {(c["dataset"], c["teacher"]): t["accuracy"]["test"] * 100 for c, t in zip(p["teacher_cells"], teachers)}


def _acc_of(g: pd.DataFrame, method: str, teacher: str) -> tuple[float, float, int]:
    """Mean and std of one cell's test accuracy (%) over replicates, and the replicate count."""
    c = g[(g["method"] == method) & (g["teacher"] == teacher)]
    if not len(c):
        return math.nan, math.nan, 0
    return float(c["acc"].iloc[0]), float(c["acc_std"].iloc[0]), int(c["replicates"].iloc[0])


def wsl_table(p: dict[str, Any], acc: pd.DataFrame) -> Table:
    """Every method side by side per (experiment, data set, student, width, teacher); ``acc``: ``accuracy_rows``."""
    df = acc
    keys = ["experiment", "dataset", "student", "width"]
    out = []
    for k, g in df.groupby(keys, sort=True):
        teachers = sorted(set(g["teacher"]) - {NO_TEACHER}) or [NO_TEACHER]
        for t in teachers:
            row = dict(zip(keys, k)) | {"teacher": t}
            for _, c in g[g["teacher"].isin([t, NO_TEACHER])].iterrows():
                row[c["method"]] = f"{c['acc']:.2f} ± {c['acc_std']:.2f}"
            row["paper_B"] = ""  # paper B's numbers are for CIFAR-100 / ImageNet pairs only
            out.append(row)
    return Table(pd.DataFrame(out), "Student test accuracy (%) by method",
                "mean ± std over replicates. Teacher-free methods (hard, ls) appear beside every teacher. "
                "paper_B is empty: paper B reports CIFAR-100/ImageNet pairs, not these settings.")


def paper_a_table1(p: dict[str, Any], df: pd.DataFrame, teacher_acc: dict[tuple[str, str], float]) -> Table:
    """Paper A's Table 1 beside ours, one row per (data set, width, teacher, soft-label method); ``df``:
    ``accuracy_rows`` with intervals, ``teacher_acc``: ``teacher_accuracy``."""
    rows = []
    for (ds, st, w), g in df.groupby(["dataset", "student", "width"], sort=True):
        reduced = p["reduced"][ds]
        paper = PAPER_A_TABLE1.get((reduced, int(w)), (math.nan,) * 3)
        hard = _cell_of(g, p["hard"], NO_TEACHER)
        for t in sorted(set(g["teacher"]) - {NO_TEACHER}):
            for m in p["soft_methods"]:
                soft = _cell_of(g, m, t)
                if soft is None:
                    continue
                rows.append({"data": "reduced" if reduced else "all digits", "dataset": ds, "kind": p["kind"][ds],
                             "student": st, "student_neurons": int(w), "teacher": t,
                             "teacher_acc": teacher_acc[(ds, t)], **_arm("hard", hard), "soft_method": m,
                             **_arm("soft", soft), "paper_teacher": paper[0], "paper_hard": paper[1],
                             "paper_soft": paper[2]})
    out = pd.DataFrame(rows).sort_values(["data", "dataset", "student_neurons", "soft_method"],
                                         ascending=[False, True, False, True])
    return Table(out, "Paper A, Table 1: ours beside the paper's",
                f"Ours: test accuracy (%) at the epoch chosen on validation, mean over the replicates, with its "
                f"{p['level']:.0%} percentile bootstrap interval over replicates and test points (_lo, _hi) and "
                f"the std over replicates. soft_method: the soft-label method of the row (a fixed temperature, or "
                f"auto: the teacher's validation-NLL temperature). paper_*: paper A's Table 1, on MNIST; 'kind' "
                f"names our data (mnist: MNIST itself; digits: scikit-learn's 8x8 digits and mnist1d: MNIST-1D, "
                f"stand-ins).")


def _cell_of(g: pd.DataFrame, method: str, teacher: str) -> pd.Series | None:
    c = g[(g["method"] == method) & (g["teacher"] == teacher)]
    return c.iloc[0] if len(c) else None


def _arm(name: str, c: pd.Series | None) -> dict[str, float]:
    """One arm's columns: mean, interval and std of its test accuracy (NaN where the cell is missing)."""
    keys = ("acc", "acc_lo", "acc_hi", "acc_std")
    cols = (name + "_acc", name + "_lo", name + "_hi", name + "_std")
    return {col: (math.nan if c is None else float(c[k])) for col, k in zip(cols, keys)}


# --- the papers' deep-network tables (paper A's Figure 1, paper B's CIFAR-100 pairs) -------------

def _is_own_width(model: dict[str, Any], base_widths: dict[str, int]) -> bool:
    return base_widths.get(model["model"]) == model["width"]


def _method_note(p: dict[str, Any], cols: dict[str, str]) -> str:
    """Which method each column shows, with its settings: "kd_acc: method 'kd' (kd, temperature 4, alpha 1)"."""
    used = []
    for col, key in cols.items():
        if p[key]:
            mp = p["method_params"][p[key]]
            settings = "".join(f", {k} {v:g}" if isinstance(v, (int, float)) else f", {k} {v}"
                               for k, v in mp.items() if k != "kind" and v is not None)
            used.append(f"{col}: method '{p[key]}' ({mp['kind']}{settings})")
    return "; ".join(used)


def paper_a_figure1(p: dict[str, Any], df: pd.DataFrame, teacher_acc: dict[tuple[str, str], float]) -> Table:
    """Paper A's Figure 1: per noise variance, teacher / hard student / soft student test accuracy."""
    rows = []
    for (ds, st, w), g in df.groupby(["dataset", "student", "width"], sort=True):
        var = p["noise_variance"][ds]
        student = {"model": p["student_models"][st], "width": int(w)}
        for t in sorted(set(g["teacher"]) - {NO_TEACHER}):
            hard, hard_std, r_hard = _acc_of(g, p["hard"], NO_TEACHER)
            soft, soft_std, r_soft = _acc_of(g, p["soft"], t)
            teacher = p["teacher_models"][t]
            paper_setting = ((teacher["model"], student["model"]) == PAPER_A_FIGURE1_MODELS
                             and _is_own_width(teacher, p["base_widths"])
                             and _is_own_width(student, p["base_widths"]))
            paper = next((v for k, v in PAPER_A_FIGURE1.items() if paper_setting and math.isclose(k, var)),
                         (math.nan,) * 3)
            rows.append({"noise_variance": var, "dataset": ds, "teacher": t, "teacher_model": teacher["model"],
                         "student": st, "student_model": student["model"], "width": int(w),
                         "teacher_acc": teacher_acc[(ds, t)], "hard_acc": hard, "hard_std": hard_std,
                         "soft_acc": soft, "soft_std": soft_std, "soft_minus_hard": soft - hard,
                         "replicates": min(r_hard, r_soft), "paper_teacher": paper[0], "paper_hard": paper[1],
                         "paper_soft": paper[2], "paper_soft_minus_hard": paper[2] - paper[1]})
    out = pd.DataFrame(rows).sort_values(["teacher", "student", "width", "noise_variance"])
    return Table(out, "Paper A, Figure 1: ours beside the paper's (CIFAR-10 cat vs dog)",
                "Ours: test accuracy (%) at the epoch chosen on validation; students: mean ± std over replicates. "
                "paper_*: paper A's Figure 1 (mean of 10 runs, read off the plot to about ±0.2), shown only for "
                "its setting: its noise variances, teacher vgg8+3 and student vgg2+3 at their own widths. "
                + _method_note(p, {"hard_acc": "hard", "soft_acc": "soft"}) + ".")


def paper_b_cifar100(p: dict[str, Any], df: pd.DataFrame, teacher_acc: dict[tuple[str, str], float]) -> Table:
    """Paper B's CIFAR-100 table: per teacher → student pair, teacher / student / KD / WSL accuracy."""
    rows = []
    for (ds, st, w), g in df.groupby(["dataset", "student", "width"], sort=True):
        student = {"model": p["student_models"][st], "width": int(w)}
        for t in sorted(set(g["teacher"]) - {NO_TEACHER}):
            teacher = p["teacher_models"][t]
            hard, hard_std, _ = _acc_of(g, p["hard"], NO_TEACHER)
            kd, kd_std, _ = _acc_of(g, p["kd"], t)
            wsl, wsl_std, _ = _acc_of(g, p["wsl"], t)
            pair = (teacher["model"], student["model"])
            paper_setting = (pair in PAPER_B_CIFAR100 and _is_own_width(teacher, p["base_widths"])
                             and _is_own_width(student, p["base_widths"]) and not teacher.get("label_smoothing"))
            paper = PAPER_B_CIFAR100[pair] if paper_setting else (math.nan,) * 4
            rows.append({"pair": f"{teacher['model']} -> {student['model']}", "dataset": ds, "teacher": t,
                         "student": st, "width": int(w), "teacher_acc": teacher_acc[(ds, t)],
                         "student_acc": hard, "student_std": hard_std, "kd_acc": kd, "kd_std": kd_std,
                         "wsl_acc": wsl, "wsl_std": wsl_std, "paper_teacher": paper[0], "paper_student": paper[1],
                         "paper_kd": paper[2], "paper_wsl": paper[3]})
    out = pd.DataFrame(rows).sort_values(["dataset", "teacher", "student", "width"])
    return Table(out, "Paper B, CIFAR-100: ours beside the paper's",
                "Ours: top-1 test accuracy (%) at the epoch chosen by each setup's selection rule (never the test "
                "set); students: mean ± std over replicates. paper_*: paper B's table (CRD protocol: 240 epochs, "
                "SGD, WSL τ = 4, α = 2.25), shown only for its pairs at the models' own widths and teachers without label "
                "smoothing; independent "
                "reproductions land 0.1-1.3 points lower. "
                + _method_note(p, {"student_acc": "hard", "kd_acc": "kd", "wsl_acc": "wsl"}) + ".")


# --- teachers (docs/science.md#teachers) ---------------------------------------------------------

TEACHER_COLUMNS = ["dataset", "teacher", "model", "label_smoothing", "train_acc", "val_acc", "test_acc",
                   "train_nll", "val_nll", "test_nll", "test_ece", "temperature_nll", "val_nll_at_tau",
                   "val_nll_at_1", "note"]
#: a teacher has memorised its training labels: training accuracy at least this ...
MEMORISED_TRAIN_ACC = 0.999
#: ... with test accuracy more than this below it, or a training NLL below MEMORISED_TRAIN_NLL
MEMORISED_GAP = 0.10
MEMORISED_TRAIN_NLL = 0.01
MEMORISED_NOTE = "memorised its training labels: its soft labels on the training set are near one-hot"
TAU_BOUND_NOTE = ("τ* on its search bound: the validation NLL still falls beyond it (a validation split the "
                  "teacher separates), so 'temperature: auto' chose no temperature and its claims give no verdict")


def memorisation_note(train_acc: float, test_acc: float, train_nll: float) -> str:
    """The teachers table's note (accuracies as fractions): a teacher that fits its training labels
    (accuracy ≥ 0.999) while its test accuracy is more than 10 points lower, or whose training NLL is
    below 0.01, gives students near one-hot soft labels on the training set."""
    fits = train_acc >= MEMORISED_TRAIN_ACC and train_acc - test_acc > MEMORISED_GAP
    return MEMORISED_NOTE if fits or train_nll < MEMORISED_TRAIN_NLL else ""


def teachers_table(p: dict[str, Any], records: list[dict[str, Any]], logits: list[Arrays],
                   labels: list[Arrays]) -> Table:
    """One row per (data set, teacher) of ``p["teacher_cells"]``: accuracy and NLL per split, test ECE,
    τ* on the validation NLL. ``records``: each teacher's teacher.json; ``logits``: its logits.npz;
    ``labels``: its data set's ``y_<split>`` arrays; all in ``p["teacher_cells"]`` order.
    ``p["teachers"]``: teacher name -> {"model", "label_smoothing"}."""
    from softlabels.analysis.calibration import ECE_BINS, expected_calibration_error, nll, on_search_bound

    rows = []
    for cell, rec, z, y in zip(p["teacher_cells"], records, logits, labels):
        t = p["teachers"][cell["teacher"]]
        row: dict[str, Any] = {"dataset": cell["dataset"], "teacher": cell["teacher"], "model": t["model"],
                               "label_smoothing": float(t["label_smoothing"])}
        for s in ("train", "val", "test"):
            have = f"logits_{s}" in z and f"y_{s}" in y and len(y[f"y_{s}"]) > 0
            row[f"{s}_acc"] = float(accuracy(z[f"logits_{s}"], y[f"y_{s}"])) * 100 if have else math.nan
            row[f"{s}_nll"] = nll(z[f"logits_{s}"], y[f"y_{s}"]) if have else math.nan
        have_test = "logits_test" in z and len(y.get("y_test", ())) > 0
        row["test_ece"] = expected_calibration_error(z["logits_test"], y["y_test"]) if have_test else math.nan
        for k in ("temperature_nll", "val_nll_at_tau", "val_nll_at_1"):
            row[k] = float(rec[k]) if rec.get(k) is not None else math.nan
        notes = [memorisation_note(row["train_acc"] / 100, row["test_acc"] / 100, row["train_nll"])]
        if not math.isnan(row["temperature_nll"]) and on_search_bound(row["temperature_nll"]):
            notes.append(TAU_BOUND_NOTE)
        row["note"] = "; ".join(n for n in notes if n)
        rows.append(row)
    return Table(pd.DataFrame(rows, columns=TEACHER_COLUMNS), "Teachers",
                 "One row per (data set, teacher) that a student distils from. *_acc: accuracy (%) on each split; "
                 "*_nll: mean cross-entropy of softmax(z) on each split (nats); test_ece: expected calibration "
                 f"error of the top-class confidence on the test split ({ECE_BINS} equal-width bins). "
                 "temperature_nll: τ* in [0.01, 100] minimising the validation NLL of softmax(z/τ), what "
                 "'temperature: auto' uses; val_nll_at_tau / val_nll_at_1: the validation NLL at τ* and at 1 "
                 "(empty without a validation split). note: a teacher with training accuracy ≥ 99.9% and test "
                 "accuracy more than 10 points lower, or training NLL < 0.01, has memorised its training labels: "
                 "its soft labels on the training set are near one-hot (docs/science.md#teachers); a τ* on its search bound "
                 "is noted as such.")
