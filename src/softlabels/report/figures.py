"""The figures: seaborn/matplotlib (Agg) plots of the tables and of the training curves (docs/report.md).

Each ``plot_*`` function takes DataFrames shaped like the tables under ``results/tables/`` and
returns a matplotlib Figure; ``softlabels.pipeline.figures`` reads the rule's files, plots and writes
a PNG and an SVG. Panels are chosen with :mod:`softlabels.report.figplan`, the same selection the Snakefile uses
to plan the figures. A figure with nothing to plot raises InputError instead of drawing an empty one.
"""

from __future__ import annotations

import logging
import math
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


def label(method: str, teacher: str) -> str:
    """A cell's legend name: the method, with its teacher in brackets when it has one."""
    return method if teacher == NO_TEACHER else f"{method} ({teacher})"


def _labels(df: pd.DataFrame) -> pd.Series:
    return pd.Series([label(m, t) for m, t in zip(df["method"], df["teacher"])], index=df.index, dtype=object)


def _palette(names: Iterable[str]) -> dict[str, Any]:
    """A colour per legend name, teacher-free methods first, the same order in every figure."""
    names = sorted(set(names), key=lambda n: ("(" in n, n))
    colors = sns.color_palette("colorblind", max(len(names), 1))
    return dict(zip(names, colors))


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

def plot_accuracy_width(neurons: pd.DataFrame) -> Figure:
    """Test accuracy against width per data set (sorted by margin, easiest first), one line per
    method, the band ± one standard deviation over replicates (table neurons.csv)."""
    df = _select(neurons, figplan.width_sweeps(neurons.to_dict("records")), ["experiment", "dataset", "student"])
    df = _need(df, "accuracy_width (no data set is swept over two or more widths)").copy()
    df["label"] = _labels(df)
    panels = (df.groupby(["experiment", "dataset"], sort=False)["gamma"].first().reset_index()
              .sort_values(["experiment", "gamma"], ascending=[True, False], na_position="last"))
    several_students = bool((df.groupby(["experiment", "dataset"])["student"].nunique() > 1).any())
    _theme()
    fig, axes = _grid(len(panels), 4)
    pal = _palette(df["label"])
    for ax, (_, p) in zip(axes, panels.iterrows()):
        g = df[(df["experiment"] == p["experiment"]) & (df["dataset"] == p["dataset"])]
        for (lab, st), c in g.groupby(["label", "student"], sort=True):
            c = c.sort_values("width")
            x = c["width"].to_numpy(float)
            y, s = 100 * c["test_acc_mean"].to_numpy(float), 100 * c["test_acc_std"].to_numpy(float)
            name = f"{lab}, {st}" if several_students else lab
            ax.plot(x, y, marker="o", ms=4, color=pal[lab], label=name,
                    ls="-" if st == sorted(g["student"].unique())[0] else "--")
            ax.fill_between(x, np.clip(y - s, 0, 100), np.clip(y + s, 0, 100), color=pal[lab], alpha=0.2, lw=0)
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


def plot_neurons_needed(needed: pd.DataFrame, scaling: pd.DataFrame, neurons: pd.DataFrame,
                        experiments: list[str]) -> Figure:
    """m*(ε) against γ on log-log axes, one panel per (experiment, ε); filled markers where ε was
    reached, open triangles at the widest width where it was not (m* is larger); coloured lines the
    fitted slope (its value and interval in the panel's title), grey lines the bounds' slopes 2 (soft labels)
    and 4 (hard labels) through the points' centre (docs/science.md#a-bounds)."""
    df = needed[needed["experiment"].isin(experiments)]
    df = df[np.isfinite(df["gamma"].to_numpy(float)) & (df["gamma"] > 0)]
    df = _need(df, "neurons_needed (no experiment sweeps width on data sets with a measured margin)").copy()
    df["label"] = _labels(df)
    widest = neurons.groupby(["experiment", "dataset", "teacher", "method", "student"])["width"].max()
    panels = df[["experiment", "epsilon"]].drop_duplicates().sort_values(["experiment", "epsilon"],
                                                                          ascending=[True, False])
    _theme()
    fig, axes = _grid(len(panels), int(panels.groupby("experiment").size().max()), w=3.8, h=3.1)
    labels = sorted(df["label"].unique(), key=lambda n: ("(" in n, n))
    pal = _palette(labels)
    marks = dict(zip(labels, "osD^vP"))
    dodge = {lab: 1.0 + 0.025 * (i - (len(labels) - 1) / 2) for i, lab in enumerate(labels)}
    for ax, (_, p) in zip(axes, panels.iterrows()):
        g = df[(df["experiment"] == p["experiment"]) & (df["epsilon"] == p["epsilon"])]
        ok = g.dropna(subset=["m_star"])
        notes = []
        for (lab, t, m, st), c in g.groupby(["label", "teacher", "method", "student"], sort=True):
            r = c.dropna(subset=["m_star"])
            ax.scatter(r["gamma"] * dodge[lab], r["m_star"], color=pal[lab], marker=marks.get(lab, "o"), s=30,
                       zorder=3, label=lab)
            nr = c[c["m_star"].isna()]
            if len(nr):
                top = [widest.get((p["experiment"], d, t, m, st), np.nan) for d in nr["dataset"]]
                ax.scatter(nr["gamma"] * dodge[lab], top, facecolors="none", edgecolors=pal[lab], marker="^", s=40,
                           zorder=3, label="not reached: m* > widest width (open ▲)")
            fit = scaling[(scaling["experiment"] == p["experiment"]) & (scaling["teacher"] == t)
                          & (scaling["method"] == m) & (scaling["student"] == st)
                          & np.isclose(scaling["epsilon"], p["epsilon"])]
            if len(fit) and pd.notna(fit["slope"].iloc[0]) and len(r) >= 2:
                f = fit.iloc[0]
                gx = np.geomspace(r["gamma"].min(), r["gamma"].max(), 20)
                ax.plot(gx, np.exp(f["intercept"]) * gx ** (-f["slope"]), color=pal[lab], lw=1.4, label=f"{lab}: fit")
                notes.append(f"{lab}: slope {_num(f['slope'])} [{_num(f['slope_lo'])}, {_num(f['slope_hi'])}]")
            else:
                notes.append(f"{lab}: no fit (m* on < 3 data sets)")
        if len(ok):
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
    fig.suptitle("Neurons needed against the margin: fitted slopes of log m* on log 1/γ and the bounds' slopes")
    _legend(fig, axes, ncol=3)
    return fig


# --- paper B: bias and variance, regularization samples --------------------------------------

def plot_biasvar(biasvar: pd.DataFrame) -> Figure:
    """Cross-entropy bias and variance per method with their intervals over resampled test points,
    for the experiments that compare the most methods, each at its widest width (docs/science.md#b-ce-decomposition)."""
    keys = figplan.method_comparisons(biasvar.to_dict("records"))
    df = _need(_select(biasvar, keys, ["experiment", "dataset", "student", "width"]), "biasvar").copy()
    groups = sorted(keys)
    teachers = sorted(df["teacher"].unique(), key=lambda t: (t != NO_TEACHER, t))
    tpal = dict(zip(teachers, sns.color_palette("colorblind", len(teachers))))
    terms = [("ce_bias", "bias"), ("ce_variance", "variance")]
    _theme()
    n_methods = df["method"].nunique()
    fig, axes = _grid(2 * len(groups), 2, w=max(3.6, 0.55 * n_methods + 1.5), h=3.0)
    for i, grp in enumerate(groups):
        g = df[(df["experiment"] == grp[0]) & (df["dataset"] == grp[1]) & (df["student"] == grp[2])
               & (df["width"] == grp[3])]
        distilled = set(g.loc[g["teacher"] != NO_TEACHER, "method"])
        methods = sorted(g["method"].unique(), key=lambda m: (m in distilled, m))  # teacher-free methods first
        xpos = {m: j for j, m in enumerate(methods)}
        for ax, (col, name) in zip(axes[2 * i:2 * i + 2], terms):
            step = 0.7 / max(len(teachers), 1)
            for k, t in enumerate(teachers):
                c = g[g["teacher"] == t]
                if c.empty:
                    continue
                x = np.array([xpos[m] for m in c["method"]]) + (k - (len(teachers) - 1) / 2) * step
                y = c[col].to_numpy(float)
                err = np.vstack([y - c[f"{col}_lo"].to_numpy(float), c[f"{col}_hi"].to_numpy(float) - y])
                ax.errorbar(x, y, yerr=np.clip(err, 0, None), fmt="o", ms=4, capsize=2, color=tpal[t],
                            label="no teacher" if t == NO_TEACHER else f"teacher {t}")
            ax.set_xticks(range(len(methods)))
            ax.set_xticklabels(methods, rotation=35, ha="right")
            ax.set_ylabel(f"CE {name}")
            ax.set_title(f"{name}: {grp[1]}, {grp[2]} m={grp[3]}")
    fig.suptitle("Bias and variance of the cross-entropy per method (intervals over test points)")
    _legend(fig, axes)
    return fig


def _reg_groups(reg: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[Any, ...]]]:
    keys = figplan.temperature_sweeps(reg.to_dict("records"))
    df = _need(_select(reg, keys, ["experiment", "dataset", "student", "width"]), "regularization")
    return df, sorted(keys)


def _teacher_name(t: str, ls: float) -> str:
    return f"{t} (LS teacher, ε={ls:g})" if ls > 0 else f"{t} (no LS)"


def plot_regularization_temperature(reg: pd.DataFrame, kinds: dict[str, str]) -> Figure:
    """Fraction of training samples that are regularization samples at the end of training against
    τ, one colour per teacher (with / without label smoothing, LS); KD joined by a line, other
    distilling methods (WSL, filtered KD) as other markers, nudged sideways (docs/science.md#b-regularization-samples)."""
    df, groups = _reg_groups(reg)
    df = df.copy()
    df["teacher_name"] = [_teacher_name(t, ls) for t, ls in zip(df["teacher"], df["teacher_label_smoothing"])]
    df["kind"] = [kinds.get(m, m) for m in df["method"]]
    names = sorted(df["teacher_name"].unique(), key=lambda n: ("LS teacher" in n, n))
    pal = dict(zip(names, sns.color_palette("colorblind", len(names))))
    others = sorted(k for k in df["kind"].unique() if k != "kd")
    markers = dict(zip(others, "sDvPX"))
    nudge = {k: 1.0 + 0.04 * (i + 1) for i, k in enumerate(others)}
    _theme()
    fig, axes = _grid(len(groups), 3, w=5.0, h=3.4)
    for ax, grp in zip(axes, groups):
        g = df[(df["experiment"] == grp[0]) & (df["dataset"] == grp[1]) & (df["student"] == grp[2])
               & (df["width"] == grp[3])]
        for name, c in g.groupby("teacher_name", sort=True):
            kd = c[c["kind"] == "kd"].groupby("temperature")["fraction_final"].mean()
            if len(kd):
                ax.plot(kd.index, 100 * kd.to_numpy(), marker="o", color=pal[name], label=f"KD, {name}")
            for kind, o in c[c["kind"] != "kd"].groupby("kind"):
                ax.scatter(o["temperature"] * nudge[kind], 100 * o["fraction_final"], marker=markers.get(kind, "s"),
                           color=pal[name], s=36, zorder=3, label=f"{kind}, {name}")
        _log2_axis(ax, g["temperature"])
        ax.set_xlabel("temperature τ")
        ax.set_ylabel("regularization samples (%)")
        ax.set_title(f"{grp[1]}, {grp[2]} m={grp[3]}" + (f" ({grp[0]})" if len({k[0] for k in groups}) > 1 else ""))
    rule = df["rule"].iloc[0] if "rule" in df else "gt"
    fig.suptitle(f"Regularization samples at the end of training\nagainst τ (rule '{rule}')")
    _legend(fig, axes, ncol=2)
    return fig


def plot_regularization_epochs(reg: pd.DataFrame, epochs: pd.DataFrame) -> Figure:
    """Per-epoch fraction of regularization samples, one line per method, one panel per teacher
    (with / without label smoothing), for the same cells as the temperature figure."""
    df, groups = _reg_groups(reg)
    ep = epochs.merge(df[CELL + ["temperature", "teacher_label_smoothing"]], on=CELL, how="inner")
    ep = _need(ep, "regularization_epochs (no per-epoch counts for the selected cells)")
    panels = ep[["experiment", "dataset", "student", "width", "teacher", "teacher_label_smoothing"]].drop_duplicates()
    panels = panels.sort_values(["experiment", "dataset", "student", "width", "teacher_label_smoothing", "teacher"])
    pal = _palette(ep["method"])
    _theme()
    fig, axes = _grid(len(panels), 2, w=4.2, h=3.0, sharey=True)
    for ax, (_, p) in zip(axes, panels.iterrows()):
        g = ep[(ep["experiment"] == p["experiment"]) & (ep["dataset"] == p["dataset"]) & (ep["student"] == p["student"])
               & (ep["width"] == p["width"]) & (ep["teacher"] == p["teacher"])]
        for m, c in g.groupby("method", sort=True):
            c = c.sort_values("epoch")
            tau = c["temperature"].iloc[0]
            ax.plot(c["epoch"], 100 * c["fraction"], color=pal[m], lw=1.2, label=f"{m} (τ={tau:g})")
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


def plot_training_curves(curves: pd.DataFrame, hardest: dict[str, str]) -> Figure:
    """Training loss and 0-1 error per epoch (mean ± std over replicates) for each experiment's
    hardest data set, hard vs KD, widest width solid and narrowest dashed."""
    keep = np.array([hardest.get(e) == d for e, d in zip(curves["experiment"], curves["dataset"])], dtype=bool)
    df = _need(curves[keep] if len(curves) else curves, "training_curves").copy()
    df["label"] = _labels(df)
    rows = sorted(df[["experiment", "dataset"]].drop_duplicates().itertuples(index=False, name=None))
    pal = _palette(df["label"])
    _theme()
    fig, axes = _grid(2 * len(rows), 2, w=4.4, h=2.8)
    for i, (exp, ds) in enumerate(rows):
        g = df[(df["experiment"] == exp) & (df["dataset"] == ds)]
        widths = sorted(g["width"].unique())
        for ax, (col, name) in zip(axes[2 * i:2 * i + 2], [("loss", "training loss"), ("err", "training 0-1 error")]):
            for (lab, st, w), c in g.groupby(["label", "student", "width"], sort=True):
                s = c.groupby("epoch")[col].agg(["mean", "std"]).fillna(0)
                widest = w == widths[-1]  # the legend shows the solid line; the style legend says what dashes are
                ax.plot(s.index, s["mean"], color=pal[lab], ls="-" if widest else "--", lw=1.2,
                        label=lab if widest else f"_{lab}")
                low = s["mean"] - s["std"] if col == "loss" else (s["mean"] - s["std"]).clip(lower=0)
                ax.fill_between(s.index, low, s["mean"] + s["std"], color=pal[lab], alpha=0.15, lw=0)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            m = f"m={widths[-1]}" if len(widths) == 1 else f"m={widths[-1]} solid, m={widths[0]} dashed"
            ax.set_title(f"{ds} ({exp}): {m}")
    fig.suptitle("Training curves of the hardest data set per experiment (mean ± std over replicates)")
    style = {"widest width": Line2D([], [], color="0.3", ls="-"),
             "narrowest width": Line2D([], [], color="0.3", ls="--")}
    _legend(fig, axes, ncol=5, extra=style)
    return fig
