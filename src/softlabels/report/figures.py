"""The figures: matplotlib (Agg) plots, in seaborn's paper theme, of the tables and of the training curves (docs/report.md).

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
from cycler import cycler  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
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

#: seaborn's colour-blind palette (``seaborn.color_palette("colorblind")``): the methods' colours
COLORBLIND = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
              "#56b4e9"]
#: what ``seaborn.set_theme(context="paper", style="whitegrid", palette="colorblind")`` sets in matplotlib's
#: rcParams (its colormap aside), so that a figure job need not import seaborn, and with it scipy.stats
#: (``tests/test_figures.py`` checks it against seaborn)
_PAPER = 0.8  # seaborn's "paper" context: its "notebook" sizes times 0.8
THEME: dict[str, Any] = {
    "axes.axisbelow": True, "axes.edgecolor": ".8", "axes.grid": True, "axes.labelcolor": ".15",
    "axes.labelsize": 12 * _PAPER, "axes.linewidth": 1.25 * _PAPER, "axes.titlesize": 12 * _PAPER,
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "font.size": 12 * _PAPER, "grid.color": ".8", "legend.fontsize": 11 * _PAPER, "legend.title_fontsize": 12 * _PAPER,
    "lines.linewidth": 1.5 * _PAPER, "lines.markersize": 6 * _PAPER, "lines.solid_capstyle": "round",
    "patch.edgecolor": "w", "patch.force_edgecolor": True, "patch.linewidth": 1 * _PAPER, "text.color": ".15",
    "xtick.bottom": False, "xtick.color": ".15", "xtick.labelsize": 11 * _PAPER, "xtick.major.size": 6 * _PAPER,
    "xtick.major.width": 1.25 * _PAPER, "xtick.minor.size": 4 * _PAPER, "xtick.minor.width": 1 * _PAPER,
    "ytick.color": ".15", "ytick.labelsize": 11 * _PAPER, "ytick.left": False, "ytick.major.size": 6 * _PAPER,
    "ytick.major.width": 1.25 * _PAPER, "ytick.minor.size": 4 * _PAPER, "ytick.minor.width": 1 * _PAPER,
}


def _theme() -> None:
    plt.rcParams.update({**THEME, "axes.prop_cycle": cycler(color=[to_rgb(c) for c in COLORBLIND])})
    plt.rcParams["svg.hashsalt"] = "softlabels"  # stable element ids: the same data give the same SVG




def _message_figure(title: str, text: str) -> Figure:
    """A figure that says, in words, why there is nothing to plot (instead of empty axes)."""
    _theme()
    fig, ax = plt.subplots(figsize=(9, 2), layout="constrained")
    ax.axis("off")
    ax.text(0.5, 0.5, _wrap(text, 110), ha="center", va="center", fontsize=10)
    fig.suptitle(title)
    return fig


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
    """The config's methods as the figures show them: one colour per config method in every figure (a
    fixed palette over the config's method list, in its order, so a figure showing a few methods gives
    them the colours they have everywhere), and names that say what τ is ("kd-tau (τ=1)", not "kd-tau-T1").
    The temperature variants of one method get shades of its colour, darkest at the smallest τ, so
    that every name a legend lists has a colour of its own.

    ``variants``: method variant -> {"method": its config method, "temperature": τ or None} (the
    pipeline passes the config's; without it, ``NAME-T<τ>`` is read as NAME at τ, see :meth:`infer`)."""

    def __init__(self, variants: dict[str, dict[str, Any]] | None = None) -> None:
        self.variants = dict(variants or {})
        self.order = list(dict.fromkeys(v["method"] for v in self.variants.values()))

    @classmethod
    def infer(cls, names: Iterable[str]) -> "Methods":
        """Methods from variant names alone (``NAME-T<τ>`` is NAME at τ): for figures drawn without the config."""
        out = {}
        for n in sorted(set(map(str, names))):
            v = _VARIANT.match(n)
            out[n] = {"method": v["base"], "temperature": float(v["tau"])} if v else {"method": n, "temperature": None}
        return cls(out)

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

    def base_color(self, m: str) -> Any:
        """The colour of ``m``'s config method: its place in the config's list."""
        base = self.base(m)
        if base not in self.order:
            self.order.append(base)  # a method the config does not name (unit tests): after the config's
        i = self.order.index(base)
        if i < len(COLORBLIND):
            return to_rgb(COLORBLIND[i])
        import seaborn as sns  # more methods than the palette has colours: evenly spaced hues

        return sns.color_palette("husl", i + 1)[i]

    def siblings(self, m: str) -> list[str]:
        """The variants of ``m``'s config method, by τ (``m`` among them)."""
        if m not in self.variants:
            self.variants[m] = {"method": self.base(m), "temperature": self.tau(m)}
        base = self.base(m)
        sib = [v for v in self.variants if self.base(v) == base]
        return sorted(sib, key=lambda v: (self.tau(v) is not None, self.tau(v) or 0.0, v))

    def color(self, m: str) -> Any:
        """The colour of method (variant) ``m``: its config method's colour, a shade of it for one of
        several temperature variants (darker for a smaller τ, the largest τ in the method's own colour)."""
        c = np.asarray(to_rgb(self.base_color(m)))
        sib = self.siblings(m)
        if len(sib) < 2:
            return tuple(c)
        # darker only: lighter shades of the palette's pastels would meet other methods' colours
        return tuple(c * (1 - np.linspace(0.55, 0.0, len(sib))[sib.index(m)]))


def label(method: str, teacher: str, methods: Methods | None = None) -> str:
    """A cell's legend name: the method (with its τ), and its teacher when it has one."""
    name = (methods or Methods()).name(method)
    return name if teacher == NO_TEACHER else f"{name}, teacher {teacher}"


def _labels(df: pd.DataFrame, methods: Methods) -> pd.Series:
    return pd.Series([label(m, t, methods) for m, t in zip(df["method"], df["teacher"])], index=df.index,
                     dtype=object)


# A teacher is told apart by marker AND line style (no teacher first), a method by its colour. No
# teacher marker is a triangle or an arrow: those mean floors and ceilings in the neurons-needed figures.
TEACHER_STYLES = (("o", "-"), ("s", "--"), ("D", ":"), ("P", "-."), ("X", (0, (5, 1.5))), ("h", (0, (1, 1))),
                  ("*", (0, (3, 1, 1, 1, 1, 1))))
FLOOR, CEILING = r"$\downarrow$", r"$\uparrow$"  # m* ≤ the narrowest width / m* > the widest width


def _teacher_order(teachers: Iterable[str]) -> list[str]:
    return sorted(set(teachers), key=lambda t: (t != NO_TEACHER, t))


def _teacher_markers(teachers: Iterable[str]) -> dict[str, str]:
    """A marker per teacher (no teacher first): the colour says the method, the marker the teacher."""
    ts = _teacher_order(teachers)
    return {t: TEACHER_STYLES[i % len(TEACHER_STYLES)][0] for i, t in enumerate(ts)}


def _teacher_lines(teachers: Iterable[str]) -> dict[str, Any]:
    """A line style per teacher, in the order of :func:`_teacher_markers`."""
    ts = _teacher_order(teachers)
    return {t: TEACHER_STYLES[i % len(TEACHER_STYLES)][1] for i, t in enumerate(ts)}


def _teacher_label(t: str) -> str:
    return "no teacher" if t == NO_TEACHER else f"teacher {t}"


def _key_legend(methods: "Methods", names: Iterable[str], teachers: Iterable[str], lines: bool = True,
                markers: bool = True) -> dict[str, Any]:
    """The legend entries that say which is which: one colour per method (variant), one marker and
    line style per teacher (in grey)."""
    names = sorted(set(names), key=lambda m: (m not in ("hard",), methods.base(m), methods.tau(m) or 0.0, m))
    out: dict[str, Any] = {methods.name(m): Line2D([], [], color=methods.color(m), lw=5) for m in names}
    mk, ls = _teacher_markers(teachers), _teacher_lines(teachers)
    for t in _teacher_order(teachers):
        out[_teacher_label(t)] = Line2D([], [], color="0.3", marker=mk[t] if markers else None,
                                        ls=ls[t] if lines else "none", lw=1.2, ms=5)
    return out


def _grid(n: int, ncols: int, w: float = 3.4, h: float = 2.7, sharey: bool = False) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + 0.9), squeeze=False, sharey=sharey,
                             layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _legend(fig: Figure, axes: list[Any], ncol: int = 4, extra: dict[str, Any] | None = None,
            from_axes: bool = True) -> None:
    """One legend for the whole figure, below the panels, from every panel's labelled artists (unless
    ``from_axes`` is False) and the ``extra`` entries."""
    seen: dict[str, Any] = {}
    for ax in axes if from_axes else []:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if not lab.startswith("_"):
                seen.setdefault(lab, h)
    seen.update(extra or {})
    if not seen:
        return
    ncol = min(ncol, len(seen))
    while True:  # as many columns as fit the figure's width (a wider legend is clipped at the edges)
        legend = fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=ncol, frameon=False)
        width = legend.get_window_extent(fig.canvas.get_renderer()).width
        if ncol == 1 or width <= fig.get_figwidth() * fig.dpi:
            return
        legend.remove()
        ncol -= 1


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
    """Test accuracy against width per data set (sorted by margin, easiest first) and student setup,
    one line per method and teacher, every method of the experiment: colour the method, marker and
    line style the teacher; the band ± one standard deviation over replicates (table neurons.csv)."""
    df = _select(neurons, figplan.width_sweeps(neurons.to_dict("records")), ["experiment", "dataset", "student"])
    df = _need(df, "accuracy_width (no data set is swept over two or more widths)").copy()
    methods = methods or Methods.infer(df["method"])
    panels = (df.groupby(["experiment", "dataset", "student"], sort=False)["gamma"].first().reset_index()
              .sort_values(["experiment", "student", "gamma"], ascending=[True, True, False], na_position="last"))
    several_students = bool((df.groupby("experiment")["student"].nunique() > 1).any())
    _theme()
    fig, axes = _grid(len(panels), 4, w=3.0, h=2.6)
    marks, lines = _teacher_markers(df["teacher"]), _teacher_lines(df["teacher"])
    for ax, (_, p) in zip(axes, panels.iterrows()):
        g = df[(df["experiment"] == p["experiment"]) & (df["dataset"] == p["dataset"])
               & (df["student"] == p["student"])]
        for (m, t), c in g.groupby(["method", "teacher"], sort=True):
            c = c.sort_values("width")
            x = c["width"].to_numpy(float)
            y, s = 100 * c["test_acc_mean"].to_numpy(float), 100 * c["test_acc_std"].to_numpy(float)
            ax.plot(x, y, marker=marks[t], ms=4, color=methods.color(m), ls=lines[t], lw=1.3,
                    label=f"_{label(m, t, methods)}")
            ax.fill_between(x, np.clip(y - s, 0, 100), np.clip(y + s, 0, 100), color=methods.color(m), alpha=0.15,
                            lw=0)
        _log2_axis(ax, g["width"])
        gamma = p["gamma"]
        ax.set_title(f"{p['dataset']}" + (f"  (γ={gamma:.3g})" if pd.notna(gamma) else "")
                     + (f"\n{p['experiment']}" if panels["experiment"].nunique() > 1 else "")
                     + (f", {p['student']}" if several_students else ""), fontsize=9)
        ax.set_xlabel("width m (hidden neurons)")
        ax.set_ylabel("test accuracy (%)")
    fig.suptitle("Test accuracy against width, every method of each experiment (mean ± std over replicates)")
    _legend(fig, axes, ncol=6, extra=_key_legend(methods, df["method"], df["teacher"]), from_axes=False)
    return fig


def natural(text: str) -> list[tuple[int, float, str]]:
    """A sort key that orders the numbers in names by value: theory-B1, theory-B4, theory-B16, theory-Bauto."""
    return [(0, float(x), "") if x[:1].isdigit() else (1, 0.0, x) for x in re.findall(r"\d+(?:\.\d+)?|\D+", text)]


def _num(v: float) -> str:
    return "n/a" if pd.isna(v) else f"{v:.2f}"


def _has_fit(f: pd.Series | None) -> bool:
    """A slope worth drawing: finite, with an interval of positive width (m* equal on every data set,
    e.g. all at the narrowest width, gives a degenerate 0 [0, 0]: that is a floor, not a fit)."""
    if f is None or any(pd.isna(f[k]) for k in ("slope", "slope_lo", "slope_hi")):
        return False
    return bool(f["slope_hi"] - f["slope_lo"] > 1e-9)


NEEDED_MAX_COLS = 3  # neurons-needed panels per row: at 150 dpi the figure stays ≤ 12 in (1800 px) wide
GAMMA_AXIS = "solved kernel margin γ (Assumption 1)"


BOUND_LINES = {2: (0, (6, 2)), 4: (0, (1, 1.5))}  # the bounds' slopes: 2 soft labels, 4 hard labels


def _bound_label(k: int) -> str:
    return f"bound's slope {k} ({'soft' if k == 2 else 'hard'} labels)"


def _bounds_of_cells(neurons: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    cell = ["experiment", "dataset", "teacher", "method", "student"]
    return neurons.groupby(cell)["width"].min(), neurons.groupby(cell)["width"].max()


def _censoring(c: pd.DataFrame, experiment: str, narrowest: pd.Series, widest: pd.Series
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """m*, the narrowest and widest width of each row's cell, and which rows are a measured value
    (reached above the narrowest width), a floor (reached at the narrowest: m* ≤ it) or a ceiling
    (not reached: m* > the widest)."""
    key = [(experiment, d, t, m, st) for d, t, m, st in zip(c["dataset"], c["teacher"], c["method"], c["student"])]
    lo = np.array([narrowest.get(k, np.nan) for k in key], float)
    hi = np.array([widest.get(k, np.nan) for k in key], float)
    ms = c["m_star"].to_numpy(float)
    point = np.isfinite(ms) & (ms > lo)
    floor = np.isfinite(ms) & (ms <= lo)
    return ms, lo, hi, point, floor, ~np.isfinite(ms)


def _censor_legend() -> dict[str, Any]:
    return {"floor: ε reached at the narrowest width, m* ≤ it (↓)":
            Line2D([], [], color="0.3", marker=FLOOR, ls="none", ms=11),
            "ceiling: ε not reached at the widest width, m* > it (↑)":
            Line2D([], [], color="0.3", marker=CEILING, ls="none", ms=11)}


def needed_epsilons(needed: pd.DataFrame, neurons: pd.DataFrame, experiment: str) -> tuple[list[float], bool]:
    """The ε of an experiment's neurons-needed panels, largest first: those where some arm (method,
    teacher, student) has m* measured above the narrowest width on at least two data sets of distinct
    γ (something a slope can be fitted through). Where no ε has that, the one ε with the most data
    sets measured above the narrowest width, then reaching it at all (floors included), then the
    largest, and False as the second value."""
    narrowest, widest = _bounds_of_cells(neurons)
    df = needed[needed["experiment"] == experiment]
    good, reached = [], {}  # ε -> (measured values, reached)
    for eps, e in df.groupby("epsilon", sort=True):
        ok = False
        for _, c in e.groupby(["teacher", "method", "student"], sort=True):
            ms, lo, hi, point, floor, ceiling = _censoring(c, experiment, narrowest, widest)
            ok |= c.loc[point, "gamma"].round(12).nunique() >= 2
        measured = sum(int(_censoring(c, experiment, narrowest, widest)[3].sum())
                       for _, c in e.groupby(["teacher", "method", "student"], sort=True))
        reached[float(eps)] = (measured, int(np.isfinite(e["m_star"].to_numpy(float)).sum()))
        if ok:
            good.append(float(eps))
    if good:
        return sorted(good, reverse=True), True
    if not reached:
        return [], False
    return [max(reached, key=lambda k: (*reached[k], k))], False


#: a neurons-needed panel's title: ε, then its fits' notes in at most three lines of this many characters
NEEDED_TITLE_CHARS = 62
NEEDED_TITLE_LINES = 4


def plot_neurons_needed(needed: pd.DataFrame, scaling: pd.DataFrame, neurons: pd.DataFrame, experiment: str,
                        methods: Methods | None = None, level: float | None = None,
                        epsilon: float | None = None) -> Figure:
    """One experiment's m*(ε) against the solved margin γ on log-log axes, one panel per ε where
    something can be fitted (:func:`needed_epsilons`), at most three panels a row; for an experiment with
    several student setups (paper A's regimes) and the claims' ``epsilon`` given, one panel per setup at that ε
    instead (in natural order: theory-B1, -B4, -B16, -Bauto), so that each panel shows one regime's arms. Colour: the method;
    marker and line style: the teacher. Filled markers: m* reached above the narrowest width; ↓ at the
    narrowest width: a floor (ε reached there, m* ≤ it); ↑ at the widest width: a ceiling (ε not
    reached). Coloured lines: the fitted slope (value and interval in the panel title), only where a
    fit exists and no point of it is a floor (the table's fit reads a floor as a value); grey lines:
    the bounds' slopes 2 (soft labels) and 4 (hard labels) through the fitted points' centre, only in
    panels with a fit (docs/science.md#a-bounds)."""
    if not isinstance(experiment, str):  # an older caller's list of experiments: one figure is one experiment
        experiment = list(experiment)[0] if len(list(experiment)) == 1 else ""
    df = needed[needed["experiment"] == experiment]
    title = f"Neurons needed m*(ε) against the margin γ, experiment {experiment}"
    gamma = df["gamma"].to_numpy(float)
    if len(df) and not (np.isfinite(gamma) & (gamma > 0)).any():  # a real data set that is not separable in the kernel
        return _message_figure(title, f"No data set of experiment {experiment} has a positive solved kernel margin "
                                      f"γ (solved: {', '.join(f'{g:.3g}' for g in sorted(set(gamma)))}; table "
                                      "neurons_needed): its training points are not separable by the limiting kernel, "
                                      "so m*(ε) has no γ to be drawn against.")
    df = df[np.isfinite(gamma) & (gamma > 0)]
    df = _need(df, f"neurons_needed (experiment {experiment!r} sweeps no width on data sets with a measured "
                   "margin)").copy()
    if df["dataset"].nunique() < 2:
        raise InputError(f"figure neurons_needed: experiment {experiment!r} has fewer than two data sets")
    methods = methods or Methods.infer(df["method"])
    df["label"] = _labels(df, methods)
    narrowest, widest = _bounds_of_cells(neurons)
    epsilons, fittable = needed_epsilons(df, neurons, experiment)
    if not np.isfinite(df["m_star"].to_numpy(float)).any():  # only ceilings: a figure of arrows carries nothing
        return _message_figure(title, f"No student of experiment {experiment} reaches any ε = "
                                      f"{', '.join(f'{e:g}' for e in sorted(df['epsilon'].unique(), reverse=True))} "
                                      "within the widths trained: every m* lies above the widest width, so there is "
                                      "nothing to draw against γ (table neurons_needed; train wider students or raise "
                                      "ε).")
    marks, lines = _teacher_markers(df["teacher"]), _teacher_lines(df["teacher"])
    students = sorted(df["student"].unique(), key=natural)
    by_student = (epsilon is not None and len(students) > 1
                  and bool(np.isclose(df["epsilon"].astype(float), float(epsilon)).any()))
    panels = [(st, float(epsilon)) for st in students] if by_student else [(None, e) for e in epsilons]
    several_students = len(students) > 1 and not by_student
    pct = f"{100 * level:g}% " if level else ""
    _theme()
    ncols = math.ceil(len(panels) / math.ceil(len(panels) / NEEDED_MAX_COLS))  # rows as full as they can be
    fig, axes = _grid(len(panels), ncols, w=max(3.9, 8.0 / ncols), h=3.4)  # never narrower than 8 in
    ys = sorted(int(v) for v in neurons.loc[neurons["experiment"] == experiment, "width"].unique())
    for ax, (student, eps) in zip(axes, panels):
        g = df[np.isclose(df["epsilon"], eps) & ((df["student"] == student) if student else True)]
        arms = sorted(g[["teacher", "method", "student"]].drop_duplicates().itertuples(index=False, name=None),
                      key=lambda a: (a[0] != NO_TEACHER, a))
        dodge = {a: 1.0 + 0.05 * (i - (len(arms) - 1) / 2) for i, a in enumerate(arms)}
        notes, centre = [], []
        for (t, m, st), c in g.groupby(["teacher", "method", "student"], sort=True):
            col, lab = methods.color(m), label(m, t, methods) + (f", {st}" if several_students else "")
            ms, lo, hi, point, floor, ceiling = _censoring(c, experiment, narrowest, widest)
            x = c["gamma"].to_numpy(float) * dodge[(t, m, st)]
            ax.scatter(x[point], ms[point], color=col, marker=marks[t], s=34, zorder=3, label="_")
            ax.scatter(x[floor], lo[floor], color=col, marker=FLOOR, s=110, zorder=3, label="_")
            ax.scatter(x[ceiling], hi[ceiling], color=col, marker=CEILING, s=110, zorder=3, label="_")
            fit = scaling[(scaling["experiment"] == experiment) & (scaling["teacher"] == t)
                          & (scaling["method"] == m) & (scaling["student"] == st)
                          & np.isclose(scaling["epsilon"], eps)]
            f = fit.iloc[0] if len(fit) else None
            if floor.any():  # the table's fit took the floors as values; they are bounds: no slope
                notes.append(f"{lab}: no slope (m* ≤ {int(np.nanmin(lo[floor]))} on {floor.sum()} of {len(c)} "
                             "data sets)")
            elif _has_fit(f) and point.sum() >= 2:
                r = c[np.isfinite(ms)]
                gx = np.geomspace(r["gamma"].min(), r["gamma"].max(), 20)
                ax.plot(gx, np.exp(f["intercept"]) * gx ** (-f["slope"]), color=col, ls=lines[t], lw=1.5,
                        label="_fit")
                notes.append(f"{lab}: slope {_num(f['slope'])} [{_num(f['slope_lo'])}, {_num(f['slope_hi'])}]")
                centre.append(r)
            elif f is not None and isinstance(f.get("note"), str) and f["note"]:
                notes.append(f"{lab}: no fit ({f['note'].split(':')[0]})")
            else:
                notes.append(f"{lab}: no fit (m* measured on {int(point.sum())} of {len(c)} data sets)")
        if centre:  # the bounds' steepness, only beside a fitted slope
            ok = pd.concat(centre)
            gc = float(np.exp(np.log(ok["gamma"]).mean()))
            mc = float(np.exp(np.log(ok["m_star"].astype(float)).mean()))
            gx = np.geomspace(g["gamma"].min(), g["gamma"].max(), 20)
            for k, ls in BOUND_LINES.items():
                ax.plot(gx, mc * (gx / gc) ** (-k), color="0.6", ls=ls, lw=1.1, label=_bound_label(k))
        ax.set_xscale("log")
        ax.set_yscale("log", base=2)
        gam = sorted(g["gamma"].unique())
        ax.set_xticks(gam, [f"{v:.3g}" for v in gam], rotation=45, fontsize=8)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yticks(ys, [str(v) for v in ys], fontsize=8)
        ax.set_ylim(ys[0] / 1.6, ys[-1] * 1.6)  # the bounds' lines are clipped to the widths trained
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(GAMMA_AXIS)
        ax.set_ylabel("m*(ε): neurons needed")
        fits = (len(notes) < NEEDED_TITLE_LINES and all(len(n) <= NEEDED_TITLE_CHARS for n in notes))
        ax.set_title((f"{student}: " if student else "") + f"ε = {eps:g}\n" + ("\n".join(notes) if fits else
                                         _wrap("; ".join(notes), NEEDED_TITLE_CHARS, NEEDED_TITLE_LINES - 1)),
                     fontsize=8)
    why = "" if fittable or by_student else (
        "\nnothing to fit: no ε has m* measured above the narrowest width\non two data sets; the ε with the most "
        "measured values")
    if by_student:
        why = f"\nat the claims' ε = {float(epsilon):g}, one panel per student setup (every ε: table neurons_needed)"
    fig.suptitle(f"Neurons needed m*(ε) against the margin γ, experiment {experiment}\nfitted slopes of log m* on "
                 f"log 1/γ ({pct}t-intervals) beside the bounds' slopes" + why)
    extra = _key_legend(methods, df["method"], df["teacher"])
    drawn = {ln.get_label() for ax in axes for ln in ax.get_lines()}
    if "_fit" in drawn:
        extra["fitted slope (the method's colour)"] = Line2D([], [], color="0.3", lw=1.5)
    extra.update({_bound_label(k): Line2D([], [], color="0.6", ls=ls, lw=1.1) for k, ls in BOUND_LINES.items()
                  if _bound_label(k) in drawn})
    extra.update(_censor_legend())
    _legend(fig, axes, ncol=4 if ncols > 1 else 2, extra=extra, from_axes=False)
    return fig


# --- paper B: bias and variance, regularization samples --------------------------------------

def plot_biasvar(biasvar: pd.DataFrame, methods: Methods | None = None, level: float | None = None) -> Figure:
    """Cross-entropy bias and variance per method (its colour) and teacher (the marker) with their
    ``level`` intervals over resampled test points, for the experiments that compare the most methods,
    each at its widest width (docs/science.md#b-ce-decomposition)."""
    keys = figplan.method_comparisons(biasvar.to_dict("records"))
    df = _need(_select(biasvar, keys, ["experiment", "dataset", "student", "width"]), "biasvar").copy()
    groups = sorted(keys)
    methods = methods or Methods.infer(df["method"])
    teachers = _teacher_order(df["teacher"])
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
                    ax.errorbar([x], [y], yerr=err, fmt=tmark[t], ms=4, capsize=2, color=methods.color(r["method"]),
                                label="_")
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels([methods.name(m) for m in order], rotation=35, ha="right")
            ax.set_ylabel(f"CE {name}")
            ax.set_title(f"{name}: {grp[1]}, {grp[2]} m={grp[3]}")
    pct = f"{100 * level:g}% " if level else ""
    fig.suptitle(f"Bias and variance of the cross-entropy per method ({pct}intervals over resampled test points)")
    _legend(fig, axes, ncol=6, extra=_key_legend(methods, df["method"], teachers, lines=False), from_axes=False)
    return fig


def _reg_groups(reg: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[Any, ...]]]:
    keys = figplan.temperature_sweeps(reg.to_dict("records"))
    df = _need(_select(reg, keys, ["experiment", "dataset", "student", "width"]), "regularization")
    return df, sorted(keys)


def _teacher_name(t: str, ls: float) -> str:
    return f"{t} (LS teacher, ε={ls:g})" if ls > 0 else f"{t} (no LS)"


#: the regularization table's column the figure plots: the fraction at each replicate's kept epoch (the claims'),
#: or, in a table from before that column, at the last trained epoch
FRACTION = "fraction_kept"


def plot_regularization_temperature(reg: pd.DataFrame, kinds: dict[str, str], methods: Methods | None = None
                                    ) -> Figure:
    """Fraction of training samples that are regularization samples at each replicate's kept epoch against
    τ (docs/science.md#b-regularization-samples). Colour: the method (as in every figure); marker and line style: the teacher (with / without
    label smoothing, LS); per teacher a grey line joins the KD-kind points over τ; other distilling
    methods (WSL, filtered KD) are nudged sideways (docs/science.md#b-regularization-samples)."""
    df, groups = _reg_groups(reg)
    df = df.copy()
    if FRACTION not in df:
        df[FRACTION] = df["fraction_final"]
    methods = methods or Methods.infer(df["method"])
    df["teacher_name"] = [_teacher_name(t, ls) for t, ls in zip(df["teacher"], df["teacher_label_smoothing"])]
    df["kind"] = [kinds.get(m, m) for m in df["method"]]
    names = sorted(df["teacher_name"].unique(), key=lambda n: ("LS teacher" in n, n))
    tmark = {n: TEACHER_STYLES[i % len(TEACHER_STYLES)][0] for i, n in enumerate(names)}  # as many as there are
    tline = {n: TEACHER_STYLES[i % len(TEACHER_STYLES)][1] for i, n in enumerate(names)}
    others = sorted(k for k in df["kind"].unique() if k != "kd")
    nudge = {k: 1.0 + 0.04 * (i + 1) for i, k in enumerate(others)}
    _theme()
    fig, axes = _grid(len(groups), 3, w=6.0 if len(groups) == 1 else 5.0, h=3.4)
    sweeps = False  # whether any panel has more than one τ (else no line over τ is drawn)
    for ax, grp in zip(axes, groups):
        g = df[(df["experiment"] == grp[0]) & (df["dataset"] == grp[1]) & (df["student"] == grp[2])
               & (df["width"] == grp[3])]
        one_tau = g["temperature"].nunique() == 1  # no τ axis: the methods side by side at that τ
        order = sorted(g["method"].unique(), key=methods.base)
        for name, c in g.groupby("teacher_name", sort=True):
            kd = c[c["kind"] == "kd"].groupby("temperature")[FRACTION].mean()
            if len(kd) > 1:
                sweeps = True
                ax.plot(kd.index, 100 * kd.to_numpy(), color="0.55", ls=tline[name], lw=1, zorder=2,
                        label=f"_KD over τ, {name}")
            for m, o in c.groupby("method"):
                x = ([order.index(m)] * len(o) if one_tau else o["temperature"] * nudge.get(kinds.get(m, m), 1.0))
                ax.scatter(x, 100 * o[FRACTION], marker=tmark[name], color=methods.base_color(m), s=36,
                           zorder=3, label="_")
        if one_tau:
            ax.set_xticks(range(len(order)), [methods.base(m) for m in order], fontsize=8)
            ax.set_xlim(-0.6, len(order) - 0.4)
            ax.set_xlabel(f"method, at τ = {float(g['temperature'].iloc[0]):g} (the only τ)")
        else:
            _log2_axis(ax, g["temperature"])
            ax.set_xlabel("temperature τ")
        ax.set_ylabel("regularization samples (%)")
        ax.set_title(f"{grp[1]}, {grp[2]} m={grp[3]}" + (f" ({grp[0]})" if len({k[0] for k in groups}) > 1 else ""))
    rule = df["rule"].iloc[0] if "rule" in df else "gt"
    taus = ", ".join(f"{t:g}" for t in sorted(df["temperature"].unique()))
    fig.suptitle("Regularization samples at each replicate's kept epoch\n"
                 + (f"against τ (rule '{rule}', mean over replicates)" if sweeps else
                    f"per method and teacher at τ = {taus}, the only τ\n(rule '{rule}', mean over replicates)"))
    extra = {methods.base(m): Line2D([], [], color=methods.base_color(m), marker="o", ls="none")
             for m in sorted(df["method"].unique(), key=methods.base)}
    extra.update({f"teacher {n}" + ("; KD over τ" if sweeps else ""):
                  Line2D([], [], color="0.55", ls=tline[n] if sweeps else "none", marker=tmark[n], mfc="0.3", mec="0.3")
                  for n in names})
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
    methods = methods or Methods.infer(ep["method"])
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
    pal = dict(zip(PAPER_A_SERIES, map(to_rgb, COLORBLIND)))
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
    """Training curves (mean ± std over replicates) for each experiment's hardest data set, every
    method and teacher of the experiment (colour: the method; line style and marker: the teacher). One
    row per experiment; its panels: the training loss divided by each method's mean at the first epoch
    (methods minimise different objectives, whose levels are not comparable; their shapes are), then
    the 0-1 training error (comparable across methods), each at the narrowest and at the widest width."""
    keep = np.array([hardest.get(e) == d for e, d in zip(curves["experiment"], curves["dataset"])], dtype=bool)
    df = _need(curves[keep] if len(curves) else curves, "training_curves").copy()
    methods = methods or Methods.infer(df["method"])
    first = df[df["epoch"] == df["epoch"].min()].groupby(CELL)["loss"].mean().rename("loss0")
    df = df.merge(first, left_on=CELL, right_index=True, how="left")
    df["loss_rel"] = df["loss"] / df["loss0"].where(df["loss0"].abs() > 0)
    rows = sorted(df[["experiment", "dataset"]].drop_duplicates().itertuples(index=False, name=None))
    spans = {r: sorted(df.loc[(df["experiment"] == r[0]) & (df["dataset"] == r[1]), "width"].unique()) for r in rows}
    spans = {r: [w[0], w[-1]] if len(w) > 1 else [w[0]] for r, w in spans.items()}
    ncols = 2 * max(len(w) for w in spans.values())
    marks, lines = _teacher_markers(df["teacher"]), _teacher_lines(df["teacher"])
    _theme()
    fig, grid = plt.subplots(len(rows), ncols, figsize=(3.0 * ncols, 2.6 * len(rows) + 1.2), squeeze=False,
                             layout="constrained")
    used = []
    for i, (exp, ds) in enumerate(rows):
        g = df[(df["experiment"] == exp) & (df["dataset"] == ds)]
        widths = spans[(exp, ds)]
        panels = [(col, name, w) for col, name in (("loss_rel", "training loss / first epoch's"),
                                                   ("err", "training 0-1 error")) for w in widths]
        for ax in grid[i, len(panels):]:
            ax.set_visible(False)
        for j, (ax, (col, name, w)) in enumerate(zip(grid[i], panels)):
            if j % len(widths):
                ax.sharey(grid[i, j - 1])
            arms = g[g["width"] == w].groupby(["method", "teacher"], sort=True)
            for (m, t), c in arms:
                s = c.groupby("epoch")[col].agg(["mean", "std"]).fillna(0)
                ax.plot(s.index, s["mean"], color=methods.color(m), ls=lines[t], lw=1.3, marker=marks[t], ms=3.5,
                        markevery=max(1, len(s) // 6), label=f"_{label(m, t, methods)}")
                if arms.ngroups <= 4:  # more bands than that hide the lines
                    low = (s["mean"] - s["std"]).clip(lower=0)
                    ax.fill_between(s.index, low, s["mean"] + s["std"], color=methods.color(m), alpha=0.12, lw=0)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.set_title(f"{ds} ({exp}), m={w}", fontsize=9)
            used.append(ax)
    fig.suptitle("Training curves of the hardest data set per experiment, every method (mean over replicates, "
                 "± std where ≤ 4 lines);\nloss relative to each method's first epoch, since the methods' objectives differ")
    _legend(fig, used, ncol=6, extra=_key_legend(methods, df["method"], df["teacher"]), from_axes=False)
    return fig


# --- the crossover over the radius B (paper A's theory regime) -------------------------

CROSSOVER_COLUMNS = ["experiment", "dataset", "teacher", "method", "student", "width", "gamma", "setup", "radius",
                     "radius_used", "train_err_mean_iter"]


def _radius_key(r: str) -> tuple[int, float, str]:
    return (1, math.inf, r) if r == "auto" else (0, float(r), r)


def _radius_frame(neurons: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """The experiment's cells of student setups trained at two or more radii, ``radius`` as a string."""
    missing = [c for c in ("setup", "radius") if c not in neurons.columns]
    if missing:
        raise InputError(f"figure crossover: neurons.csv lacks the columns {missing}")
    df = neurons[(neurons["experiment"] == experiment) & neurons["setup"].notna() & neurons["radius"].notna()].copy()
    df["radius"] = df["radius"].map(figplan.radius_string)
    several = df.groupby("setup")["radius"].transform("nunique") >= 2
    return _need(df[several], f"crossover (experiment {experiment!r} trains no setup at two or more radii)")


def _crossover_rows(df: pd.DataFrame) -> list[tuple[str, str, float]]:
    """(setup, data set, γ) per row: by setup, then the largest γ (the easiest data set) first."""
    rows = df.groupby(["setup", "dataset"])["gamma"].first().reset_index()
    rows = rows.sort_values(["setup", "gamma"], ascending=[True, False], na_position="last")
    return [(str(a), str(b), float(c)) for a, b, c in rows.itertuples(index=False, name=None)]


def _row_name(setup: str, ds: str, gamma: float, several: bool) -> str:
    return (f"{setup}: " if several else "") + ds + (f" (γ={gamma:.3g})" if np.isfinite(gamma) else "")


def _used(v: float) -> str:
    return "?" if not np.isfinite(v) else f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def plot_crossover(neurons: pd.DataFrame, experiment: str, methods: Methods | None = None) -> Figure:
    """Paper A's crossover over the radius B: small multiples, one row per data set (largest solved
    γ first, γ in the title), one column per configured radius (``auto`` last), the 0-1 training error
    averaged over iterations (the theorems' quantity; log scale) against width (log2) for each arm
    (colour: the method; line style and marker: the teacher). Under ``auto`` the radius differs by arm
    (``radius_used``); the panel says which each used. Table neurons.csv with the columns of
    :data:`CROSSOVER_COLUMNS`."""
    df = _radius_frame(neurons, experiment)
    df = df[np.isfinite(df["train_err_mean_iter"].to_numpy(float))]
    df = _need(df, f"crossover (experiment {experiment!r}: no training error)")
    methods = methods or Methods.infer(df["method"])
    rows = _crossover_rows(df)
    radii = sorted(df["radius"].unique(), key=_radius_key)
    several = len({r[0] for r in rows}) > 1
    marks, lines = _teacher_markers(df["teacher"]), _teacher_lines(df["teacher"])
    _theme()
    ncols = len(radii)
    w = min(3.0, 12.0 / ncols)
    fig, grid = plt.subplots(len(rows), ncols, figsize=(w * ncols, 2.3 * len(rows) + 1.3), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    positive = df.loc[df["train_err_mean_iter"] > 0, "train_err_mean_iter"]
    for i, (setup, ds, gamma) in enumerate(rows):
        for j, rad in enumerate(radii):
            ax = grid[i, j]
            g = df[(df["setup"] == setup) & (df["dataset"] == ds) & (df["radius"] == rad)]
            used = []
            for (m, t), c in g.groupby(["method", "teacher"], sort=True):
                c = c.sort_values("width")
                y = c["train_err_mean_iter"].to_numpy(float)
                ok = y > 0  # a zero error has no place on a log axis
                ax.plot(c["width"].to_numpy(float)[ok], y[ok], color=methods.color(m), ls=lines[t], marker=marks[t],
                        ms=4, lw=1.3, label="_")
                if "radius_used" in c.columns:
                    arm = methods.name(m) + ("" if t == NO_TEACHER else f" ({t})")
                    used.append(f"{arm} {_used(float(c['radius_used'].iloc[0]))}")
            if rad == "auto" and used:
                ax.text(0.03, 0.04, "B used: " + "; ".join(used), transform=ax.transAxes, ha="left", va="bottom",
                        fontsize=7.5, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1.5})
            if g.empty:
                ax.text(0.5, 0.5, "not trained", transform=ax.transAxes, ha="center", va="center", fontsize=8)
            ax.set_title(f"{_row_name(setup, ds, gamma, several)}, B = {rad}", fontsize=9)
            ax.set_yscale("log")
            if i == len(rows) - 1:
                ax.set_xlabel("width m (hidden neurons)")
            if j == 0:
                ax.set_ylabel("training error\n(mean over iterations)")
    _log2_axis(grid[0, 0], df["width"])  # shared by every panel
    for ax in grid.ravel():
        ax.tick_params(axis="x", labelsize=8, labelrotation=0)
    if len(positive):
        grid[0, 0].set_ylim(float(positive.min()) / 1.5, min(1.0, float(positive.max()) * 1.5))
    fig.suptitle(f"Crossover over the radius B, experiment {experiment}: training error (mean over iterations) "
                 "against width,\nper data set (rows, largest γ first) and radius (columns), every arm")
    _legend(fig, list(grid.ravel()), ncol=6, extra=_key_legend(methods, df["method"], df["teacher"]), from_axes=False)
    return fig


def crossover_epsilons(needed: pd.DataFrame, most: int = 2) -> list[float]:
    """At most two ε for the m*(ε)-against-B panels, largest first: the largest ε of the table and the
    smallest ε that at least half of the (data set, arm, radius) rows reach."""
    eps = sorted({float(e) for e in needed["epsilon"]}, reverse=True)
    if not eps:
        return []
    share = {e: float(np.isfinite(needed.loc[np.isclose(needed["epsilon"], e), "m_star"].to_numpy(float)).mean())
             for e in eps}
    half = [e for e in eps if share[e] >= 0.5]
    out = [eps[0]] + ([half[-1]] if half and half[-1] != eps[0] else [])
    return out[:most]


def plot_crossover_needed(needed: pd.DataFrame, neurons: pd.DataFrame, experiment: str,
                          methods: Methods | None = None, epsilons: list[float] | None = None) -> Figure:
    """m*(ε) against the radius B per data set (rows, largest γ first) at one or two ε (columns,
    :func:`crossover_epsilons` unless given), one line per arm (colour: the method; line style and
    marker: the teacher); ↓ at the narrowest width is a floor (m* ≤ it), ↑ at the widest a ceiling
    (not reached), as in the neurons-needed figures. The radii ('auto' last) are categories on x.
    ``needed``: neurons_needed.csv (its ``setup``/``radius`` columns, where present, are taken from
    neurons.csv by student name)."""
    cells = _radius_frame(neurons, experiment)
    names = cells[["student", "setup", "radius"]].drop_duplicates("student")
    df = needed[needed["experiment"] == experiment].drop(columns=["setup", "radius"], errors="ignore")
    df = _need(df.merge(names, on="student", how="inner"), f"crossover_needed (experiment {experiment!r})")
    methods = methods or Methods.infer(df["method"])
    eps = list(epsilons) if epsilons else crossover_epsilons(df)
    df["gamma"] = df["gamma"].astype(float)
    rows = _crossover_rows(df)
    radii = sorted(df["radius"].unique(), key=_radius_key)
    xpos = {r: k for k, r in enumerate(radii)}
    several = len({r[0] for r in rows}) > 1
    narrowest, widest = _bounds_of_cells(neurons)
    marks, lines = _teacher_markers(df["teacher"]), _teacher_lines(df["teacher"])
    arms = sorted(df[["method", "teacher"]].drop_duplicates().itertuples(index=False, name=None),
                  key=lambda a: (a[1] != NO_TEACHER, a))
    shift = {a: 0.12 * (k - (len(arms) - 1) / 2) for k, a in enumerate(arms)}
    ys = sorted(int(v) for v in cells["width"].unique())
    _theme()
    fig, grid = plt.subplots(len(rows), len(eps), figsize=(4.6 * len(eps) + 0.4, 2.3 * len(rows) + 1.5),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    for i, (setup, ds, gamma) in enumerate(rows):
        for j, e in enumerate(eps):
            ax = grid[i, j]
            g = df[(df["setup"] == setup) & (df["dataset"] == ds) & np.isclose(df["epsilon"], e)]
            for (m, t), c in g.groupby(["method", "teacher"], sort=True):
                c = c.assign(_x=c["radius"].map(xpos)).sort_values("_x")
                ms, lo, hi, point, floor, ceiling = _censoring(c, experiment, narrowest, widest)
                x = c["_x"].to_numpy(float) + shift[(m, t)]
                y = np.where(point, ms, np.where(floor, lo, hi))
                col = methods.color(m)
                ax.plot(x, y, color=col, ls=lines[t], lw=1.0, alpha=0.7, label="_")
                ax.scatter(x[point], y[point], color=col, marker=marks[t], s=32, zorder=3, label="_")
                ax.scatter(x[floor], y[floor], color=col, marker=FLOOR, s=110, zorder=3, label="_")
                ax.scatter(x[ceiling], y[ceiling], color=col, marker=CEILING, s=110, zorder=3, label="_")
            ax.set_title(f"{_row_name(setup, ds, gamma, several)}, ε = {e:g}", fontsize=9)
            if i == len(rows) - 1:
                ax.set_xlabel("radius B (configured)")
            if j == 0:
                ax.set_ylabel("m*(ε): neurons needed")
    ax0 = grid[0, 0]
    ax0.set_yscale("log", base=2)
    ax0.set_yticks(ys, [str(v) for v in ys])
    ax0.yaxis.set_minor_locator(NullLocator())
    ax0.set_ylim(ys[0] / 1.6, ys[-1] * 1.6)
    ax0.set_xticks(range(len(radii)), radii)
    ax0.set_xlim(-0.5, len(radii) - 0.5)
    fig.suptitle(f"Neurons needed against the radius B, experiment {experiment}:\nm*(ε) per data set (rows) and "
                 "target ε (columns), every arm")
    extra = _key_legend(methods, df["method"], df["teacher"])
    extra.update(_censor_legend())
    _legend(fig, list(grid.ravel()), ncol=2 if len(eps) < 3 else 4, extra=extra, from_axes=False)
    return fig


# --- the claims: a forest plot per paper -----------------------------------------------------------

VERDICT_COLOURS = {"supported": "#1a9641", "contradicted": "#d7191c", "inconclusive": "#6f6f6f",
                   "not tested": "#b8b8b8"}
CLAIMS_COLUMNS = ["paper", "claim", "experiment", "setting", "effect", "estimate", "lo", "hi", "claimed", "verdict"]
FOREST_ROW_IN = 0.16   # inches per setting: at 150 dpi about 24 px, room for a 7-point label
FOREST_LABEL_CHARS = 44  # per line of a row label; a longer label wraps onto a second line, never cut
FOREST_TITLE_CHARS = 100  # per line of a panel title (at most FOREST_TITLE_LINES lines)
FOREST_TITLE_LINES = 4
FOREST_SUPTITLE_CHARS = 110  # per line of the figure's title (10 points across the 9 in)
FOREST_MAX_IN = 15  # a taller single column of panels (2250 px, 2.5 screens of 900 px) becomes two columns


def _parts(setting: str) -> list[str]:
    """A setting's comma-separated parts, a parenthesis kept whole ('teacher wide (seeds 0, 1, 2)' is one)."""
    return [p.strip() for p in re.split(r",\s*(?![^()]*\))", setting)]


def _short(token: str) -> str:
    """A setting's part, shortened for a row label: no parenthesis (the margin γ, the reference's teacher),
    no 'teacher ' and no ' vs <reference>' (the claim names the reference), no ' resamples'."""
    token = re.sub(r" \([^)]*\)", "", token)
    token = re.sub(r"^teacher ", "", token)
    token = re.sub(r" vs .*$", "", token)
    token = re.sub(r" resamples$", "", token)
    return token


def compact_labels(settings: list[str], experiments: list[str], chars: int = FOREST_LABEL_CHARS) -> list[str]:
    """Short row labels for the settings of one claim: the first part of the setting (the data set, or the
    method of a slope claim) and only the parts that differ between the settings (ε, width, teacher, ...),
    with the experiment in front when there are several; the full setting text is in the claims table."""
    tokens = [_parts(s) for s in settings]
    shared = set.intersection(*(set(t) for t in tokens)) if tokens else set()
    several = len(set(experiments)) > 1
    out = []
    for toks, exp in zip(tokens, experiments):
        keep = [_short(toks[0])] + [_short(t) for t in toks[1:] if t not in shared and not t.startswith("bounds'")
                                    and not t.startswith("ratio")]
        label = (f"{exp}: " if several else "") + ", ".join(keep)
        out.append(_wrap(label, chars))
    seen: dict[str, int] = {}
    for i, lab in enumerate(out):  # two settings that differ only in dropped text: number them
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] > 1:
            out[i] = f"{lab} #{seen[lab]}"
    return out


def _wrap(text: str, width: int = 105, lines: int | None = None) -> str:
    """``text`` wrapped at ``width`` characters, in at most ``lines`` lines (the last one ending in '…' if
    cut; None: as many as it takes)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, max_lines=lines, placeholder=" …"))


#: a claim tested in a qualified form, "<claim> (<qualifier>)": paper A's neuron claims name their training regime
#: ("... (both arms at radius B = 4)"); the forms of one claim share a panel, each form a block of rows
_QUALIFIED = re.compile(r"^(?P<claim>.+) \((?P<qualifier>[^()]+)\)$")


def forest_panels(claims: list[str]) -> dict[str, list[tuple[str, str]]]:
    """The panels of a forest plot: panel title -> its blocks (claim, block heading), panels in order of first
    appearance. Claims that differ only in a trailing parenthesis (paper A's regimes) share one panel, one block
    per claim headed by the parenthesis, in natural order (B = 1, 4, 16), the claim's plain form (if tested too)
    first and without a heading; any other claim is a panel of one block without a heading."""
    def stem(c: str) -> str:
        m = _QUALIFIED.match(c)
        return m["claim"] if m else c

    stems: dict[str, list[str]] = {}
    for c in claims:
        stems.setdefault(stem(c), []).append(c)
    out: dict[str, list[tuple[str, str]]] = {}
    for c in claims:
        if len(stems[stem(c)]) > 1:  # the claim's plain form, if tested too, is the block without a heading
            out.setdefault(stem(c), []).append((c, "" if c == stem(c) else _QUALIFIED.match(c)["qualifier"]))
        else:
            out[c] = [(c, "")]
    return {t: sorted(blocks, key=lambda block: natural(block[1])) for t, blocks in out.items()}


def plot_claims_forest(claims: pd.DataFrame, experiment: str) -> Figure:
    """The claims one experiment tests (both papers), one panel per claim, one row per setting: the estimate as
    a point and its interval as a horizontal line, coloured by the setting's verdict, the claim's threshold as a
    vertical line. The regimes of one paper-A claim share its panel, one block of rows each under a bold heading
    (:func:`forest_panels`). A setting without an estimate is drawn as a hollow marker on the threshold (the
    legend's "no estimate"); an interval open on one side (a censored m*) runs to the panel's edge and ends in
    an arrow (the legend's "open interval"); a claim none of whose settings has an estimate or an interval gets
    no panel, only a line under the title naming it. An experiment without a numbered setting gets one panel
    that says so (the figures are planned from the config, before the claims are known)."""
    _theme()
    df = claims[claims["experiment"].astype(str) == experiment]
    title = f"Claims tested by experiment {experiment}: estimate and interval per setting"
    handles = {v: Line2D([], [], color=c, marker="o", linestyle="-", markerfacecolor=c, label=v)
               for v, c in VERDICT_COLOURS.items()}
    handles["no estimate"] = Line2D([], [], color="#222222", marker="o", linestyle="", markerfacecolor="white",
                                    label="no estimate (on the threshold)")
    handles["open"] = Line2D([], [], color="#222222", marker=">", linestyle="-", label="interval open on this side "
                             "(the effect is a bound)")
    numbered = {c for c in pd.unique(df["claim"]) if pd.concat(
        [pd.to_numeric(df.loc[df["claim"] == c, k], errors="coerce") for k in ("estimate", "lo", "hi")]).notna().any()}
    empty_claims = [c for c in pd.unique(df["claim"]) if c not in numbered]
    panels = forest_panels([c for c in pd.unique(df["claim"]) if c in numbered])
    if not panels:
        what = (f"Experiment {experiment} tests no claim of either paper (claims table)." if df.empty else
                f"No setting of experiment {experiment}'s claims has an estimate or an interval (claims table: the "
                "verdicts and notes): " + "; ".join(empty_claims))
        return _message_figure(title, what)
    titles = list(panels)
    none_lines = len(_wrap("No estimate in any setting, so not drawn (claims table): " + "; ".join(empty_claims),
                           FOREST_SUPTITLE_CHARS).split("\n")) if empty_claims else 0

    def rows_of(t: str, chars: int) -> list[tuple[str, pd.Series | None]]:
        """A panel's rows, top to bottom: (label, claims row), a block heading with no row."""
        out: list[tuple[str, pd.Series | None]] = []
        for claim, heading in panels[t]:
            g = df[df["claim"] == claim].reset_index(drop=True)
            if heading:
                out.append((_wrap(heading, chars), None))
            labels = compact_labels(list(g["setting"]), [experiment] * len(g), chars)
            out += [(lab, r) for lab, (_, r) in zip(labels, g.iterrows())]
        return out

    def layout(chars: int) -> tuple[dict[str, list[tuple[str, pd.Series | None]]], list[float]]:
        rows = {t: rows_of(t, chars) for t in titles}
        lines = [sum(lab.count("\n") + 1 for lab, _ in rows[t]) for t in titles]
        return rows, [FOREST_ROW_IN * max(len(rows[t]), ln * 0.9) + 0.85 for t, ln in zip(titles, lines)]

    rows, heights = layout(FOREST_LABEL_CHARS)
    columns = [list(range(len(titles)))]
    if sum(heights) > FOREST_MAX_IN and len(titles) > 1:  # two columns of panels, split where they balance
        rows, heights = layout(FOREST_LABEL_CHARS * 2 // 3)
        cut = min(range(1, len(titles)), key=lambda k: max(sum(heights[:k]), sum(heights[k:])))
        columns = [list(range(cut)), list(range(cut, len(titles)))]
    height = max(sum(heights[i] for i in col) for col in columns) + 0.9 + 0.18 * none_lines
    fig = plt.figure(figsize=(9, height), layout="constrained")
    subfigs = fig.subfigures(1, len(columns), squeeze=False)[0] if len(columns) > 1 else [fig]
    axes = []
    for sub, col in zip(subfigs, columns):
        ratios = [heights[i] for i in col] + ([height - 0.9 - sum(heights[i] for i in col)] if len(columns) > 1
                                              else [])
        grid = sub.subplots(len(ratios), 1, squeeze=False, gridspec_kw={"height_ratios": [max(r, 1e-3) for r in ratios]})
        axes += list(grid[:len(col), 0])
        for filler in grid[len(col):, 0]:  # the shorter column's room below its panels
            filler.set_visible(False)
    title_chars = FOREST_TITLE_CHARS if len(columns) == 1 else FOREST_TITLE_CHARS * 2 // 5
    used = set()
    for ax, t in zip(axes, titles):
        panel = rows[t]
        g = pd.DataFrame([r for _, r in panel if r is not None])
        y = np.arange(len(panel))[::-1]
        cols = {k: pd.to_numeric(g[k], errors="coerce").to_numpy(float) for k in ("estimate", "lo", "hi")}
        thresholds = sorted({float(str(s).split()[-1]) for s in g["claimed"]})
        # an interval open on one side (a censored m*: the effect is only a bound) runs to the panel's edge,
        # with an arrow there
        finite = np.concatenate([x[np.isfinite(x)] for x in cols.values()] + [np.array(thresholds, float)])
        left, right = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
        pad = 0.08 * ((right - left) or 1.0)
        headings = []
        for yi, (_, r) in zip(y, panel):
            if r is None:
                headings.append(yi)
                continue
            e, a, b = (float(pd.to_numeric(r[k], errors="coerce")) for k in ("estimate", "lo", "hi"))
            v = str(r["verdict"])
            c = VERDICT_COLOURS.get(v, "#000000")
            used.add(v)
            if not (np.isnan(a) or np.isnan(b)):
                a_, b_ = (left - pad if np.isneginf(a) else a), (right + pad if np.isposinf(b) else b)
                ax.plot([a_, b_], [yi, yi], color=c, lw=1.6, solid_capstyle="butt")
                for end, inf, mark in ((a_, np.isneginf(a), "<"), (b_, np.isposinf(b), ">")):
                    if inf:
                        ax.plot([end], [yi], mark, color=c, ms=5)
                        used.add("open")
            if not np.isnan(e):
                ax.plot([e], [yi], "o", color=c, ms=4, markerfacecolor=c)
            else:
                ax.plot([thresholds[0]], [yi], "o", color=c, ms=4, markerfacecolor="white")
                used.add("no estimate")
        for thr in thresholds:
            ax.axvline(thr, color="#222222", lw=0.9, ls="--")
        for yi in headings:  # a rule between the blocks of a claim's regimes
            if yi != y[0]:
                ax.axhline(yi + 0.5, color="#999999", lw=0.6)
        ax.set_yticks(y)
        ax.set_yticklabels([lab for lab, _ in panel], fontsize=7)
        for tick, (_, r) in zip(ax.get_yticklabels(), panel):
            if r is None:
                tick.set_fontweight("bold")
        ax.set_xlim(left - 2 * pad, right + 2 * pad)
        ax.set_ylim(-0.7, len(panel) - 0.3)
        ax.grid(axis="y", visible=False)
        paper = " / ".join(pd.unique(g["paper"].astype(str)))
        ax.set_title(_wrap(f"paper {paper}: {t}  (claimed: effect {' / '.join(pd.unique(g['claimed'].astype(str)))})",
                           title_chars, FOREST_TITLE_LINES), fontsize=8.5, loc="left")
        ax.set_xlabel(_wrap("; ".join(pd.unique(g["effect"].astype(str))), title_chars + 10, 2), fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    none = ("\n" + _wrap("No estimate in any setting, so not drawn (claims table): " + "; ".join(empty_claims),
                         FOREST_SUPTITLE_CHARS) if empty_claims else "")
    fig.suptitle(_wrap(f"{title} (full settings: claims table)", FOREST_SUPTITLE_CHARS) + none, fontsize=10)
    shown = {k: h for k, h in handles.items() if k in used}
    fig.legend(list(shown.values()), [h.get_label() for h in shown.values()], loc="outside lower center",
               ncol=min(3, len(shown)), frameon=False, title="verdict of the setting")
    return fig


# --- sensitivity: each claim under the default design and its declared variants -------------

SENSITIVITY_COLUMNS = ["paper", "claim", "base", "design", "varies", "verdict", "robustness", "estimate_median",
                       "estimate_lo", "estimate_hi", "effect", "claimed"]
SENSITIVITY_WIDTH_IN = 9.3  # 1400 px at the 150 dpi of ``save``
SENSITIVITY_ROW_IN = 0.24


def plot_sensitivity(table: pd.DataFrame) -> Figure:
    """One panel per (claim, base experiment) of a sensitivity table (``softlabels.analysis.sensitivity``),
    titled with its robustness label; one row per design (the default design, then each variant, labelled by
    the choice it varies): the median effect as a point, the range of the settings' intervals as a line,
    coloured by the design's pooled verdict, the claim's threshold as a dashed line. A table without rows
    (no variant tests a claim of its base) gets one panel that says so."""
    _theme()
    handles = [Line2D([], [], color=c, marker="o", linestyle="-", markerfacecolor=c if v != "not tested" else "white",
                      label=v) for v, c in VERDICT_COLOURS.items()]
    if table.empty:
        fig, ax = plt.subplots(figsize=(SENSITIVITY_WIDTH_IN, 2), layout="constrained")
        ax.axis("off")
        ax.text(0.5, 0.5, "No claim of a default design is re-tested by a variant in this run.", ha="center",
                va="center", fontsize=10)
        fig.suptitle("Sensitivity of each claim to the declared design variants")
        return fig
    groups = list(dict.fromkeys(zip(table["paper"].astype(str), table["claim"].astype(str),
                                    table["base"].astype(str))))
    blocks = [table[(table["paper"].astype(str) == p) & (table["claim"].astype(str) == c)
                    & (table["base"].astype(str) == b)].reset_index(drop=True) for p, c, b in groups]
    sizes = [len(g) for g in blocks]
    height = sum(SENSITIVITY_ROW_IN * n + 0.95 for n in sizes) + 0.9
    fig, axes = plt.subplots(len(blocks), 1, figsize=(SENSITIVITY_WIDTH_IN, height), squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": [n + 4 for n in sizes]})
    for ax, (paper, claim, base), g in zip(axes[:, 0], groups, blocks):
        y = np.arange(len(g))[::-1]
        est = pd.to_numeric(g["estimate_median"], errors="coerce").to_numpy(float)
        lo = pd.to_numeric(g["estimate_lo"], errors="coerce").to_numpy(float)
        hi = pd.to_numeric(g["estimate_hi"], errors="coerce").to_numpy(float)
        for yi, e, a, b, v in zip(y, est, lo, hi, g["verdict"].astype(str)):
            c = VERDICT_COLOURS.get(v, "#000000")
            if not (np.isnan(a) or np.isnan(b)):
                ax.plot([a, b], [yi, yi], color=c, lw=2.0, solid_capstyle="butt")
            if not np.isnan(e):
                ax.plot([e], [yi], "o", color=c, ms=5, markerfacecolor=c if v != "not tested" else "white")
        thresholds = set()
        for s in g["claimed"].astype(str):
            for part in s.split(";"):
                try:
                    thresholds.add(float(part.split()[-1]))
                except (ValueError, IndexError):
                    pass
        for thr in sorted(thresholds):
            ax.axvline(thr, color="#222222", lw=0.9, ls="--")
        labels = [_wrap(str(d) if str(d) == str(v) else f"{v} ({d})", 48) for d, v in zip(g["design"], g["varies"])]
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_ylim(-0.7, len(g) - 0.3)
        ax.grid(axis="y", visible=False)
        label = str(g["robustness"].iloc[0])
        ax.set_title(_wrap(f"[{label}] paper {paper}: {claim} (default design: {base}; claimed: effect "
                           f"{' / '.join(pd.unique(g['claimed'].astype(str)))})", 95), fontsize=9, loc="left")
        ax.set_xlabel("; ".join(pd.unique(g["effect"].astype(str))) + " (median over settings, range of intervals)",
                      fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("Sensitivity of each claim to the declared design variants (robustness label in brackets)",
                 fontsize=10.5)
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncol=4, frameon=False,
               title="pooled verdict of the design")
    return fig
