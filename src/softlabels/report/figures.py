"""The figures: seaborn/matplotlib (Agg) plots of the tables and of the training curves (docs/report.md).

Each ``plot_*`` function takes DataFrames shaped like the tables under ``results/tables/`` and
returns a matplotlib Figure; ``softlabels.pipeline.figures`` reads the rule's files, plots and writes
a PNG and an SVG. Panels are chosen with :mod:`softlabels.report.figplan`, the same selection the Snakefile uses
to plan the figures. A figure with nothing to plot raises InputError instead of drawing an empty one.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from softlabels import io  # noqa: E402
from softlabels.errors import InputError  # noqa: E402
from softlabels.report import figplan  # noqa: E402

log = logging.getLogger("softlabels")
NO_TEACHER = figplan.NO_TEACHER
CELL = ["experiment", "dataset", "teacher", "method", "student", "width"]
PAPER_A_SERIES = ("teacher", "hard", "soft")


# --- helpers ---------------------------------------------------------------------------------

def _theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    plt.rcParams["svg.hashsalt"] = "softlabels"  # stable element ids: the same data give the same SVG




def _need(df: pd.DataFrame, what: str) -> pd.DataFrame:
    if df.empty:
        raise InputError(f"figure {what}: no rows to plot")
    return df


def _select(df: pd.DataFrame, keys: set[tuple[Any, ...]], fields: list[str]) -> pd.DataFrame:
    if df.empty:
        return df
    mask = [tuple(r) in keys for r in df[fields].itertuples(index=False, name=None)]
    return df[np.asarray(mask, dtype=bool)]


_VARIANT = re.compile(r"^(?P<base>.+)-T(?P<tau>[0-9][0-9.eE+-]*)$")


class Methods:
    """The config's methods as the figures show them: ONE colour per config method in every figure (a
    fixed palette over the config's method list, in its order, so a figure showing a few methods gives
    them the colours they have everywhere), and names that say what τ is ("kd-tau (τ=1)", not "kd-tau-T1").

    ``variants``: method variant -> {"method": its config method, "temperature": τ or None} (the
    pipeline passes the config's; without it, ``NAME-T<τ>`` is read as NAME at τ)."""

    def __init__(self, variants: dict[str, dict[str, Any]] | None = None) -> None:
        self.variants = dict(variants or {})
        self.order = list(dict.fromkeys(v["method"] for v in self.variants.values()))

    def base(self, m: str) -> str:
        if m in self.variants:
            return str(self.variants[m]["method"])
        v = _VARIANT.match(m)
        return v["base"] if v else m

    def tau(self, m: str) -> float | None:
        if m in self.variants:
            t = self.variants[m].get("temperature")
            return None if t is None else float(t)
        v = _VARIANT.match(m)
        return float(v["tau"]) if v else None

    def name(self, m: str) -> str:
        t = self.tau(m)
        return self.base(m) if t is None else f"{self.base(m)} (τ={t:g})"

    def color(self, m: str) -> Any:
        """The colour of method (variant) ``m``: its config method's place in the config's list."""
        base = self.base(m)
        if base not in self.order:
            self.order.append(base)  # a method the config does not name (unit tests): after the config's
        i = self.order.index(base)
        pal = sns.color_palette("colorblind", 10)
        return pal[i] if i < len(pal) else sns.color_palette("husl", i + 1)[i]


def label(method: str, teacher: str, methods: Methods | None = None) -> str:
    """A cell's legend name: the method (with its τ), and its teacher when it has one."""
    name = (methods or Methods()).name(method)
    return name if teacher == NO_TEACHER else f"{name}, teacher {teacher}"


def _labels(df: pd.DataFrame, methods: Methods) -> pd.Series:
    return pd.Series([label(m, t, methods) for m, t in zip(df["method"], df["teacher"])], index=df.index,
                     dtype=object)


def _teacher_markers(teachers: Iterable[str]) -> dict[str, str]:
    """A marker per teacher (no teacher first): the colour says the method, the marker the teacher."""
    ts = sorted(set(teachers), key=lambda t: (t != NO_TEACHER, t))
    return dict(zip(ts, "osD^vPX" * 3))


def _grid(n: int, ncols: int, w: float = 3.4, h: float = 2.7, sharey: bool = False) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + 0.9), squeeze=False, sharey=sharey,
                             layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _legend(fig: Figure, axes: list[Any], ncol: int = 4, extra: dict[str, Any] | None = None) -> None:
    """One legend for the whole figure, below the panels, from every panel's labelled artists."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if not lab.startswith("_"):
                seen.setdefault(lab, h)
    seen.update(extra or {})
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=min(ncol, len(seen)),
                   frameon=False)


def _log2_axis(ax: Any, values: Iterable[float]) -> None:
    vals = sorted(set(float(v) for v in values))
    ax.set_xscale("log", base=2)
    ax.set_xticks(vals)
    ax.set_xticklabels([f"{v:g}" for v in vals])
    ax.minorticks_off()


def save(fig: Figure, png: str | Path, svg: str | Path) -> None:
    """Write the figure as PNG and SVG, atomically and without timestamps."""
    with io.atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    with io.atomic_path(svg) as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None})
    plt.close(fig)


# --- paper A: accuracy against width, neurons needed ----------------------------------------

def plot_accuracy_width(neurons: pd.DataFrame, methods: Methods | None = None) -> Figure:
    """Test accuracy against width per data set (sorted by margin, easiest first), one line per
    method, the band ± one standard deviation over replicates (table neurons.csv)."""
    df = _select(neurons, figplan.width_sweeps(neurons.to_dict("records")), ["experiment", "dataset", "student"])
    df = _need(df, "accuracy_width (no data set is swept over two or more widths)").copy()
    methods = methods or Methods()
    df["label"] = _labels(df, methods)
    panels = (df.groupby(["experiment", "dataset"], sort=False)["gamma"].first().reset_index()
              .sort_values(["experiment", "gamma"], ascending=[True, False], na_position="last"))
    several_students = bool((df.groupby(["experiment", "dataset"])["student"].nunique() > 1).any())
    _theme()
    fig, axes = _grid(len(panels), 4)
    marks = _teacher_markers(df["teacher"])
    for ax, (_, p) in zip(axes, panels.iterrows()):
        g = df[(df["experiment"] == p["experiment"]) & (df["dataset"] == p["dataset"])]
        for (lab, st, m, t), c in g.groupby(["label", "student", "method", "teacher"], sort=True):
            c = c.sort_values("width")
            x = c["width"].to_numpy(float)
            y, s = 100 * c["test_acc_mean"].to_numpy(float), 100 * c["test_acc_std"].to_numpy(float)
            name = f"{lab}, {st}" if several_students else lab
            ax.plot(x, y, marker=marks[t], ms=4, color=methods.color(m), label=name,
                    ls="-" if st == sorted(g["student"].unique())[0] else "--")
            ax.fill_between(x, np.clip(y - s, 0, 100), np.clip(y + s, 0, 100), color=methods.color(m), alpha=0.2,
                            lw=0)
        _log2_axis(ax, g["width"])
        gamma = p["gamma"]
        ax.set_title(f"{p['dataset']}" + (f"  (γ={gamma:.3g})" if pd.notna(gamma) else "")
                     + (f"\n{p['experiment']}" if panels["experiment"].nunique() > 1 else ""))
        ax.set_xlabel("width m (hidden neurons)")
        ax.set_ylabel("test accuracy (%)")
    fig.suptitle("Test accuracy against width: hard vs soft labels (mean ± std over replicates)")
    _legend(fig, axes)
    return fig


def _num(v: float) -> str:
    return "n/a" if pd.isna(v) else f"{v:.2f}"


def _has_fit(f: pd.Series | None) -> bool:
    """A slope worth drawing: finite, with an interval of positive width (m* equal on every data set,
    e.g. all at the narrowest width, gives a degenerate 0 [0, 0]: that is a floor, not a fit)."""
    if f is None or any(pd.isna(f[k]) for k in ("slope", "slope_lo", "slope_hi")):
        return False
    return bool(f["slope_hi"] - f["slope_lo"] > 1e-9)


def plot_neurons_needed(needed: pd.DataFrame, scaling: pd.DataFrame, neurons: pd.DataFrame,
                        experiments: list[str], methods: Methods | None = None, level: float | None = None) -> Figure:
    """m*(ε) against γ on log-log axes, one panel per (experiment, ε). Filled markers: m* reached
    above the narrowest width; open ▽ at the narrowest width where ε was already reached there (a
    floor: m* ≤ that width); open △ at the widest width where it was not reached (a ceiling: m* is
    larger). Coloured lines: the fitted slope (value and interval in the panel title), only where a
    fit exists and no point of it is a floor (the table's fit reads a floor as a value); grey lines: the bounds' slopes 2 (soft labels) and 4 (hard labels) through the fitted
    points' centre, only in panels with a fit (docs/science.md#a-bounds)."""
    df = needed[needed["experiment"].isin(experiments)]
    df = df[np.isfinite(df["gamma"].to_numpy(float)) & (df["gamma"] > 0)]
    df = _need(df, "neurons_needed (no experiment sweeps width on data sets with a measured margin)").copy()
    methods = methods or Methods()
    df["label"] = _labels(df, methods)
    cell = ["experiment", "dataset", "teacher", "method", "student"]
    widest = neurons.groupby(cell)["width"].max()
    narrowest = neurons.groupby(cell)["width"].min()
    panels = df[["experiment", "epsilon"]].drop_duplicates().sort_values(["experiment", "epsilon"],
                                                                          ascending=[True, False])
    _theme()
    fig, axes = _grid(len(panels), int(panels.groupby("experiment").size().max()), w=3.8, h=3.1)
    labels = sorted(df["label"].unique(), key=lambda n: ("teacher" in n, n))
    marks = dict(zip(labels, "osDvP*"))
    dodge = {lab: 1.0 + 0.025 * (i - (len(labels) - 1) / 2) for i, lab in enumerate(labels)}
    pct = f"{100 * level:g}% " if level else ""
    for ax, (_, p) in zip(axes, panels.iterrows()):
        g = df[(df["experiment"] == p["experiment"]) & (df["epsilon"] == p["epsilon"])]
        notes, centre = [], []
        for (lab, t, m, st), c in g.groupby(["label", "teacher", "method", "student"], sort=True):
            col = methods.color(m)
            key = [(p["experiment"], d, t, m, st) for d in c["dataset"]]
            lo = np.array([narrowest.get(k, np.nan) for k in key], float)
            hi = np.array([widest.get(k, np.nan) for k in key], float)
            ms = c["m_star"].to_numpy(float)
            x = c["gamma"].to_numpy(float) * dodge[lab]
            point = np.isfinite(ms) & (ms > lo)
            floor = np.isfinite(ms) & (ms <= lo)
            ceiling = ~np.isfinite(ms)
            ax.scatter(x[point], ms[point], color=col, marker=marks.get(lab, "o"), s=30, zorder=3, label=lab)
            if floor.any():
                ax.scatter(x[floor], lo[floor], facecolors="none", edgecolors=col, marker="v", s=40, zorder=3,
                           label="floor: m* ≤ narrowest width (open ▽)")
            if ceiling.any():
                ax.scatter(x[ceiling], hi[ceiling], facecolors="none", edgecolors=col, marker="^", s=40, zorder=3,
                           label="ceiling: m* > widest width (open △)")
            fit = scaling[(scaling["experiment"] == p["experiment"]) & (scaling["teacher"] == t)
                          & (scaling["method"] == m) & (scaling["student"] == st)
                          & np.isclose(scaling["epsilon"], p["epsilon"])]
            f = fit.iloc[0] if len(fit) else None
            if floor.any():  # the table's fit took the floors as values; they are bounds: no slope
                notes.append(f"{lab}: no slope (m* ≤ {int(np.nanmin(lo[floor]))} on {floor.sum()} of {len(c)} "
                             "data sets)")
            elif _has_fit(f) and point.sum() >= 2:
                r = c[np.isfinite(ms)]
                gx = np.geomspace(r["gamma"].min(), r["gamma"].max(), 20)
                ax.plot(gx, np.exp(f["intercept"]) * gx ** (-f["slope"]), color=col, lw=1.4, label=f"{lab}: fit")
                notes.append(f"{lab}: slope {_num(f['slope'])} [{_num(f['slope_lo'])}, {_num(f['slope_hi'])}]")
                centre.append(r)
            else:
                notes.append(f"{lab}: no fit (m* above the floor on < 3 data sets)")
        if centre:  # the bounds' steepness, only beside a fitted slope
            ok = pd.concat(centre)
            gc = float(np.exp(np.log(ok["gamma"]).mean()))
            mc = float(np.exp(np.log(ok["m_star"].astype(float)).mean()))
            gx = np.geomspace(g["gamma"].min(), g["gamma"].max(), 20)
            for k, ls in ((2, "--"), (4, ":")):
                ax.plot(gx, mc * (gx / gc) ** (-k), color="0.45", ls=ls, lw=1,
                        label=f"bound's slope {k} ({'soft' if k == 2 else 'hard'} labels)")
        ax.set_xscale("log")
        ax.set_yscale("log", base=2)
        gam = sorted(g["gamma"].unique())
        ax.set_xticks(gam, [f"{v:.3g}" for v in gam], rotation=45)
        ax.xaxis.set_minor_locator(NullLocator())
        ys = sorted(int(v) for v in neurons.loc[neurons["experiment"] == p["experiment"], "width"].unique())
        ax.set_yticks(ys, [str(v) for v in ys])
        ax.set_ylim(ys[0] / 1.5, ys[-1] * 1.5)  # the bounds' lines are clipped to the widths trained
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("margin γ (kernel SVM, an upper bound)")
        ax.set_ylabel("m*(ε): neurons needed")
        several = panels["experiment"].nunique() > 1
        ax.set_title(f"ε = {p['epsilon']:g}" + (f"  ({p['experiment']})" if several else "") + "\n" + "\n".join(notes),
                     fontsize=8)
    fig.suptitle("Neurons needed against the margin:\nfitted slopes of log m* on log 1/γ "
                 f"({pct}t-intervals) and the bounds' slopes")
    _legend(fig, axes, ncol=3)
    return fig


# --- paper B: bias and variance, regularization samples --------------------------------------

def plot_biasvar(biasvar: pd.DataFrame, methods: Methods | None = None, level: float | None = None) -> Figure:
    """Cross-entropy bias and variance per method (its colour) and teacher (the marker) with their
    ``level`` intervals over resampled test points, for the experiments that compare the most methods,
    each at its widest width (docs/science.md#b-ce-decomposition)."""
    keys = figplan.method_comparisons(biasvar.to_dict("records"))
    df = _need(_select(biasvar, keys, ["experiment", "dataset", "student", "width"]), "biasvar").copy()
    groups = sorted(keys)
    methods = methods or Methods()
    teachers = sorted(df["teacher"].unique(), key=lambda t: (t != NO_TEACHER, t))
    tmark = _teacher_markers(teachers)
    terms = [("ce_bias", "bias"), ("ce_variance", "variance")]
    _theme()
    n_methods = df["method"].nunique()
    fig, axes = _grid(2 * len(groups), 2, w=max(3.6, 0.55 * n_methods + 1.5), h=3.0)
    for i, grp in enumerate(groups):
        g = df[(df["experiment"] == grp[0]) & (df["dataset"] == grp[1]) & (df["student"] == grp[2])
               & (df["width"] == grp[3])]
        distilled = set(g.loc[g["teacher"] != NO_TEACHER, "method"])
        order = sorted(g["method"].unique(), key=lambda m: (m in distilled, m))  # teacher-free methods first
        xpos = {m: j for j, m in enumerate(order)}
        for ax, (col, name) in zip(axes[2 * i:2 * i + 2], terms):
            step = 0.7 / max(len(teachers), 1)
            for k, t in enumerate(teachers):
                c = g[g["teacher"] == t]
                if c.empty:
                    continue
                for _, r in c.iterrows():
                    x = xpos[r["method"]] + (k - (len(teachers) - 1) / 2) * step
                    y = float(r[col])
                    err = np.clip([[y - float(r[f"{col}_lo"])], [float(r[f"{col}_hi"]) - y]], 0, None)
                    ax.errorbar([x], [y], yerr=err, fmt=tmark[t], ms=4, capsize=2, color=methods.color(r["method"]), label="_")
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels([methods.name(m) for m in order], rotation=35, ha="right")
            ax.set_ylabel(f"CE {name}")
            ax.set_title(f"{name}: {grp[1]}, {grp[2]} m={grp[3]}")
    pct = f"{100 * level:g}% " if level else ""
    fig.suptitle(f"Bias and variance of the cross-entropy per method ({pct}intervals over resampled test points)")
    style = {("no teacher" if t == NO_TEACHER else f"teacher {t}"):
             Line2D([], [], color="0.3", marker=tmark[t], ls="none") for t in teachers}
    style.update({methods.name(m): Line2D([], [], color=methods.color(m), lw=6)
                  for m in sorted(df["method"].unique(), key=lambda m: (methods.base(m), methods.tau(m) or 0))})
    _legend(fig, axes, extra=style)
    return fig


def _reg_groups(reg: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[Any, ...]]]:
    keys = figplan.temperature_sweeps(reg.to_dict("records"))
    df = _need(_select(reg, keys, ["experiment", "dataset", "student", "width"]), "regularization")
    return df, sorted(keys)


def _teacher_name(t: str, ls: float) -> str:
    return f"{t} (LS teacher, ε={ls:g})" if ls > 0 else f"{t} (no LS)"


def plot_regularization_temperature(reg: pd.DataFrame, kinds: dict[str, str], methods: Methods | None = None
                                    ) -> Figure:
    """Fraction of training samples that are regularization samples at the end of training against
    τ. Colour: the method (as in every figure); marker and line style: the teacher (with / without
    label smoothing, LS); per teacher a grey line joins the KD-kind points over τ; other distilling
    methods (WSL, filtered KD) are nudged sideways (docs/science.md#b-regularization-samples)."""
    df, groups = _reg_groups(reg)
    df = df.copy()
    methods = methods or Methods()
    df["teacher_name"] = [_teacher_name(t, ls) for t, ls in zip(df["teacher"], df["teacher_label_smoothing"])]
    df["kind"] = [kinds.get(m, m) for m in df["method"]]
    names = sorted(df["teacher_name"].unique(), key=lambda n: ("LS teacher" in n, n))
    tmark = dict(zip(names, "osD^vP"))
    tline = dict(zip(names, ["-", "--", ":", "-."] * 3))
    others = sorted(k for k in df["kind"].unique() if k != "kd")
    nudge = {k: 1.0 + 0.04 * (i + 1) for i, k in enumerate(others)}
    _theme()
    fig, axes = _grid(len(groups), 3, w=6.0 if len(groups) == 1 else 5.0, h=3.4)
    for ax, grp in zip(axes, groups):
        g = df[(df["experiment"] == grp[0]) & (df["dataset"] == grp[1]) & (df["student"] == grp[2])
               & (df["width"] == grp[3])]
        for name, c in g.groupby("teacher_name", sort=True):
            kd = c[c["kind"] == "kd"].groupby("temperature")["fraction_final"].mean()
            if len(kd):
                ax.plot(kd.index, 100 * kd.to_numpy(), color="0.55", ls=tline[name], lw=1, zorder=2,
                        label=f"_KD over τ, {name}")
            for m, o in c.groupby("method"):
                x = o["temperature"] * nudge.get(kinds.get(m, m), 1.0)
                ax.scatter(x, 100 * o["fraction_final"], marker=tmark[name], color=methods.color(m), s=36, zorder=3,
                           label="_")
        _log2_axis(ax, g["temperature"])
        ax.set_xlabel("temperature τ")
        ax.set_ylabel("regularization samples (%)")
        ax.set_title(f"{grp[1]}, {grp[2]} m={grp[3]}" + (f" ({grp[0]})" if len({k[0] for k in groups}) > 1 else ""))
    rule = df["rule"].iloc[0] if "rule" in df else "gt"
    fig.suptitle(f"Regularization samples at the end of training\nagainst τ (rule '{rule}')")
    extra = {methods.base(m): Line2D([], [], color=methods.color(m), marker="o", ls="none")
             for m in sorted(df["method"].unique(), key=methods.base)}
    extra.update({f"teacher {n}; KD over τ": Line2D([], [], color="0.55", ls=tline[n], marker=tmark[n], mfc="0.3",
                                                   mec="0.3") for n in names})
    _legend(fig, axes, ncol=2, extra=extra)
    return fig


def plot_regularization_epochs(reg: pd.DataFrame, epochs: pd.DataFrame, methods: Methods | None = None) -> Figure:
    """Per-epoch fraction of regularization samples, one line per method, one panel per teacher
    (with / without label smoothing), for the same cells as the temperature figure."""
    df, groups = _reg_groups(reg)
    ep = epochs.merge(df[CELL + ["temperature", "teacher_label_smoothing"]], on=CELL, how="inner")
    ep = _need(ep, "regularization_epochs (no per-epoch counts for the selected cells)")
    panels = ep[["experiment", "dataset", "student", "width", "teacher", "teacher_label_smoothing"]].drop_duplicates()
    panels = panels.sort_values(["experiment", "dataset", "student", "width", "teacher_label_smoothing", "teacher"])
    methods = methods or Methods()
    _theme()
    fig, axes = _grid(len(panels), 2, w=4.2, h=3.0, sharey=True)
    for ax, (_, p) in zip(axes, panels.iterrows()):
        g = ep[(ep["experiment"] == p["experiment"]) & (ep["dataset"] == p["dataset"]) & (ep["student"] == p["student"])
               & (ep["width"] == p["width"]) & (ep["teacher"] == p["teacher"])]
        for m, c in g.groupby("method", sort=True):
            c = c.sort_values("epoch")
            tau = c["temperature"].iloc[0]
            ax.plot(c["epoch"], 100 * c["fraction"], color=methods.color(m), lw=1.2,
                    ls=["-", "--", ":", "-."][sorted(g.loc[g["method"].map(methods.base) == methods.base(m),
                                                         "temperature"].unique()).index(tau) % 4],
                    label=f"{methods.base(m)} (τ={tau:g})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("regularization samples (%)")
        ax.set_title(f"{_teacher_name(p['teacher'], p['teacher_label_smoothing'])}\n{p['dataset']}, {p['student']} "
                     f"m={p['width']}")
    fig.suptitle("Regularization samples per epoch (mean over replicates)")
    _legend(fig, axes, ncol=4)
    return fig


# --- paper A, Figure 1 -----------------------------------------------------------------------

def _noise_column(df: pd.DataFrame) -> str:
    cols = [c for c in df.columns if "noise" in c.lower()]
    if not cols:
        raise InputError(f"figure paperA_figure1: no noise-variance column; found {list(df.columns)}")
    return cols[0]


def plot_paper_a_figure1(df: pd.DataFrame) -> Figure:
    """Paper A's Figure 1 (CIFAR-10 cat vs dog with Gaussian noise of growing variance, one data set
    per variance): teacher, hard- and soft-label student test accuracy against the noise variance,
    ours (solid, band ± std over replicates) beside the paper's (dashed, where the setting is the
    paper's); one panel per teacher, student setup and width (table paperA_figure1.csv)."""
    df = _need(df, "paperA_figure1")
    x = _noise_column(df)
    need = [f"{s}_acc" for s in PAPER_A_SERIES] + [f"paper_{s}" for s in PAPER_A_SERIES]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"figure paperA_figure1: missing columns {missing}; found {list(df.columns)}")
    keys = [c for c in ("teacher", "student", "width") if c in df.columns]
    panels = sorted(df[keys].drop_duplicates().itertuples(index=False, name=None)) if keys else [()]
    pal = dict(zip(PAPER_A_SERIES, sns.color_palette("colorblind", 3)))
    _theme()
    fig, axes = _grid(len(panels), 2, w=6.0, h=3.6)
    for ax, key in zip(axes, panels):
        g = df
        for k, v in zip(keys, key):
            g = g[g[k] == v]
        g = g.sort_values(x)
        for s in PAPER_A_SERIES:
            name = "teacher" if s == "teacher" else f"student, {s} labels"
            ours = g[f"{s}_acc"].to_numpy(float)
            ax.plot(g[x], ours, marker="o", color=pal[s], label=f"ours: {name}")
            if f"{s}_std" in g.columns:
                sd = g[f"{s}_std"].fillna(0).to_numpy(float)
                ax.fill_between(g[x], ours - sd, ours + sd, color=pal[s], alpha=0.2, lw=0)
            if g[f"paper_{s}"].notna().any():
                ax.plot(g[x], g[f"paper_{s}"], marker="x", ls="--", color=pal[s], label=f"paper A: {name}")
        ax.set_xlabel("noise variance")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("CIFAR-10 cat vs dog" + (": " + ", ".join(f"{k} {v}" for k, v in zip(keys, key)) if keys else ""))
    fig.suptitle("Paper A, Figure 1: soft vs hard labels as the noise grows")
    _legend(fig, axes, ncol=2)
    return fig


# --- training curves -------------------------------------------------------------------------

def curve_frame(cells: list[dict[str, Any]], replicates: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Per-epoch training loss and 0-1 error of each replicate of each cell, in long form."""
    parts = []
    for cell, r in zip(cells, replicates):
        R, E = r["train_loss"].shape
        parts.append(pd.DataFrame({**{k: cell[k] for k in CELL}, "replicate": np.repeat(np.arange(R), E),
                                   "epoch": np.tile(np.arange(E), R), "loss": r["train_loss"].ravel(),
                                   "err": r["train_err"].ravel()}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*CELL, "epoch", "loss", "err"])


def hardest_datasets(neurons: pd.DataFrame) -> dict[str, str]:
    """Per experiment, its hardest data set: the smallest measured margin γ, or where no γ is
    defined (multi-class), the lowest mean test accuracy."""
    out = {}
    for exp, g in neurons.groupby("experiment"):
        gam = g.groupby("dataset")["gamma"].first()
        gam = gam[np.isfinite(gam.to_numpy(float))]
        out[str(exp)] = str(gam.idxmin()) if len(gam) else str(g.groupby("dataset")["test_acc_mean"].mean().idxmin())
    return out


def plot_training_curves(curves: pd.DataFrame, hardest: dict[str, str], methods: Methods | None = None) -> Figure:
    """Training curves (mean ± std over replicates) for each experiment's hardest data set, hard vs
    KD, widest width solid and narrowest dashed. Left: each method's training loss divided by its
    mean at the first epoch (methods minimise different objectives, whose levels are not comparable;
    their shapes are); right: the 0-1 training error, comparable across methods."""
    keep = np.array([hardest.get(e) == d for e, d in zip(curves["experiment"], curves["dataset"])], dtype=bool)
    df = _need(curves[keep] if len(curves) else curves, "training_curves").copy()
    methods = methods or Methods()
    df["label"] = _labels(df, methods)
    first = df[df["epoch"] == df["epoch"].min()].groupby(CELL)["loss"].mean().rename("loss0")
    df = df.merge(first, left_on=CELL, right_index=True, how="left")
    df["loss_rel"] = df["loss"] / df["loss0"].where(df["loss0"].abs() > 0)
    rows = sorted(df[["experiment", "dataset"]].drop_duplicates().itertuples(index=False, name=None))
    _theme()
    fig, axes = _grid(2 * len(rows), 2, w=4.4, h=2.8)
    for i, (exp, ds) in enumerate(rows):
        g = df[(df["experiment"] == exp) & (df["dataset"] == ds)]
        widths = sorted(g["width"].unique())
        for ax, (col, name) in zip(axes[2 * i:2 * i + 2], [("loss_rel", "training loss / its first epoch's"),
                                                              ("err", "training 0-1 error")]):
            for (lab, m, st, w), c in g.groupby(["label", "method", "student", "width"], sort=True):
                s = c.groupby("epoch")[col].agg(["mean", "std"]).fillna(0)
                widest = w == widths[-1]  # the legend shows the solid line; the style legend says what dashes are
                ax.plot(s.index, s["mean"], color=methods.color(m), ls="-" if widest else "--", lw=1.2,
                        label=lab if widest else f"_{lab}")
                low = (s["mean"] - s["std"]).clip(lower=0)
                ax.fill_between(s.index, low, s["mean"] + s["std"], color=methods.color(m), alpha=0.15, lw=0)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            m = f"m={widths[-1]}" if len(widths) == 1 else f"m={widths[-1]} solid, m={widths[0]} dashed"
            ax.set_title(f"{ds} ({exp}): {m}")
    fig.suptitle("Training curves of the hardest data set per experiment (mean ± std over replicates);\n"
                 "loss relative to each method's first epoch, since the methods' objectives differ")
    style = {"widest width": Line2D([], [], color="0.3", ls="-"),
             "narrowest width": Line2D([], [], color="0.3", ls="--")}
    _legend(fig, axes, ncol=5, extra=style)
    return fig
