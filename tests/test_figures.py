"""Figures, the report and the run summary: unit tests on small hand-made tables, and the report of
the finished tiny run (every figure and table in it, with its caption)."""

from __future__ import annotations

import io as stdio
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SCHEMA, TINY, snakemake
from matplotlib.collections import PathCollection

from softlabels import io
from softlabels.errors import InputError
from softlabels.pipeline import config as C
from softlabels.pipeline.figures import read_table
from softlabels.report import figplan
from softlabels.report import figures as F
from softlabels.report.summary import print_summary, summary_lines

KINDS = {"hard": "hard", "kd": "kd", "kd-T1": "kd", "kd-T4": "kd", "wsl": "wsl", "ls": "ls"}
TINY_FIGURES = {"accuracy_width", "neurons_needed_neurons", "biasvar", "regularization_temperature",
                "regularization_epochs",
                "training_curves", "claims_forest_neurons", "claims_forest_biasvar", "claims_forest_paperA-table1"}


def _cell(exp: str, ds: str, method: str, width: int, teacher: str | None = None, student: str = "theory") -> dict:
    teacher = teacher or ("none" if KINDS[method] in ("hard", "ls") else "wide")
    return {"experiment": exp, "dataset": ds, "teacher": teacher, "method": method, "student": student, "width": width}


def _points(ax) -> int:
    """How many data points a panel draws (lines, markers, error bars)."""
    n = sum(np.isfinite(np.asarray(line.get_ydata(), float)).sum() for line in ax.get_lines())
    return int(n + sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)))


def _plotted(fig) -> int:
    return sum(_points(ax) for ax in fig.axes if ax.get_visible())


@pytest.fixture(autouse=True)
def _close_figures():
    """Each test's figures are closed after it (pyplot keeps every figure it made until closed)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def neurons() -> pd.DataFrame:
    rows = []
    for ds, gamma, base in (("easy", 0.3, 0.95), ("mid", 0.1, 0.85), ("hard", 0.03, 0.7)):
        for m, bonus in (("hard", 0.0), ("kd", 0.05)):
            for w in (2, 4, 8):
                rows.append({**_cell("neurons", ds, m, w), "gamma": gamma, "gamma_lower": gamma / 3,
                             "test_acc_mean": min(base + bonus + 0.01 * w, 1.0), "test_acc_std": 0.02,
                             "train_err_mean_iter": 0.3 / w, "replicates": 3})
    rows.append({**_cell("other", "noisy", "hard", 8, student="practical"), "gamma": 0.05, "test_acc_mean": 0.7,
                 "test_acc_std": 0.01})  # a single width: not drawn
    return pd.DataFrame(rows)


@pytest.fixture
def needed(neurons: pd.DataFrame) -> pd.DataFrame:
    rows = []
    firsts = neurons[neurons["experiment"] == "neurons"].groupby(["dataset", "method"]).first().reset_index()
    for _, r in firsts.iterrows():
        for eps in (0.1, 0.02):
            m = {"easy": 2, "mid": 4, "hard": 8}[r["dataset"]] * (2 if r["method"] == "hard" else 1)
            ok = m <= 8 and eps == 0.1
            rows.append({"experiment": "neurons", "dataset": r["dataset"], "teacher": r["teacher"],
                         "method": r["method"], "student": "theory", "gamma": r["gamma"], "epsilon": eps,
                         "m_star": float(m) if ok else np.nan, "reached": "yes" if ok else "not reached (widest 8)"})
    return pd.DataFrame(rows)


@pytest.fixture
def scaling() -> pd.DataFrame:
    return pd.DataFrame([
        {"experiment": "neurons", "teacher": t, "student": "theory", "method": m, "epsilon": eps, "slope": s,
         "slope_lo": s - 0.3, "slope_hi": s + 0.3, "intercept": 0.1, "theory_slope": th}
        for m, t, s, th in (("hard", "none", 0.7, 4.0), ("kd", "wide", 0.6, 2.0)) for eps in (0.1, 0.02)])


@pytest.fixture
def biasvar() -> pd.DataFrame:
    rows = []
    for m, t, b, v in (("hard", "none", 0.5, 0.04), ("ls", "none", 0.5, 0.03), ("kd", "wide", 0.6, 0.03),
                       ("kd", "wide-ls", 0.55, 0.02), ("wsl", "wide", 0.52, 0.03)):
        rows.append({**_cell("biasvar", "noisy", m, 8, t, "practical"), "ce_bias": b, "ce_bias_lo": b - 0.05,
                     "ce_bias_hi": b + 0.05, "ce_variance": v, "ce_variance_lo": v - 0.005,
                     "ce_variance_hi": v + 0.005})
    rows.append({**_cell("neurons", "easy", "hard", 2), "ce_bias": 0.2, "ce_bias_lo": 0.1, "ce_bias_hi": 0.3,
                 "ce_variance": 0.01, "ce_variance_lo": 0.0, "ce_variance_hi": 0.02})  # fewer methods: not drawn
    return pd.DataFrame(rows)


@pytest.fixture
def regularization() -> pd.DataFrame:
    rows = []
    for t, ls in (("wide", 0.0), ("wide-ls", 0.1)):
        for m, tau in (("kd-T1", 1.0), ("kd", 2.0), ("kd-T4", 4.0), ("wsl", 4.0)):
            rows.append({**_cell("biasvar", "noisy", m, 8, t, "practical"), "teacher_label_smoothing": ls,
                         "temperature": tau, "rule": "gt", "fraction_final": 0.02 * tau + ls})
    rows.append({**_cell("neurons", "easy", "kd", 2), "teacher_label_smoothing": 0.0, "temperature": 2.0, "rule": "gt",
                 "fraction_final": 0.0})  # one temperature only: not drawn
    return pd.DataFrame(rows)


def test_accuracy_width_draws_every_swept_data_set(neurons):
    fig = F.plot_accuracy_width(neurons)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 3 and titles[0].startswith("easy") and titles[-1].startswith("hard")  # easiest first
    assert _plotted(fig) == 3 * 2 * 3
    with pytest.raises(InputError, match="accuracy_width"):
        F.plot_accuracy_width(neurons[neurons["experiment"] == "other"])


def test_neurons_needed_draws_fits_bounds_and_censored_points(needed, scaling, neurons):
    fig = F.plot_neurons_needed(needed, scaling, neurons, "neurons")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    # ε = 0.02 is reached nowhere: nothing to draw, no panel
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["ε = 0.1"]
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"bound's slope 2 (soft labels)", "bound's slope 4 (hard labels)", "fitted slope (the method's colour)",
            "hard", "kd", "no teacher", "teacher wide"} <= labels  # which colour and which marker is which
    assert "kd, teacher wide: no slope (m* ≤ 2 on 1 of 3 data sets)" in axes[0].get_title()  # a floor on easy
    assert any(lab.startswith("ceiling: ε not reached") for lab in labels)
    assert any(lab.startswith("floor: ε reached at the narrowest width") for lab in labels)
    assert "hard: slope 0.70 [0.40, 1.00]" in axes[0].get_title()  # the fit and its interval, per panel
    assert axes[0].get_xscale() == "log" and axes[0].get_yscale() == "log"
    assert axes[0].get_xlabel() == "solved kernel margin γ (Assumption 1)"
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["0.03", "0.1", "0.3"]  # ticks at the solved γ
    with pytest.raises(InputError, match="neurons_needed"):
        F.plot_neurons_needed(needed, scaling, neurons, "biasvar")


def test_neurons_needed_draws_floors_as_floors_and_no_bounds_without_a_fit(needed, scaling, neurons):
    """m* at the narrowest width on every data set is a floor (m* ≤ 2), not a point with a slope of
    0.00 [0.00, 0.00]; with no fitted slope in a panel, no bounds' lines either."""
    floor = needed.assign(m_star=2.0, reached="yes")
    flat = scaling.assign(slope=0.0, slope_lo=0.0, slope_hi=0.0)
    fig = F.plot_neurons_needed(floor, flat, neurons, "neurons", level=0.95)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = "\n".join(ax.get_title() for ax in axes)
    assert "0.00 [0.00, 0.00]" not in titles and "hard: no slope (m* ≤ 2 on 3 of 3 data sets)" in titles
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert not any("bound's slope" in lab or lab.endswith(": fit") for lab in labels)
    assert all(not ax.get_lines() for ax in axes)  # no fitted line, no bound line: only the floors' arrows
    assert "nothing to fit" in fig.get_suptitle() and len(axes) == 1  # one panel, saying so
    assert "95% t-intervals" in fig.get_suptitle()


def test_biasvar_draws_bias_and_variance_of_the_method_comparison(biasvar):
    fig = F.plot_biasvar(biasvar)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and axes[0].get_ylabel() == "CE bias" and axes[1].get_ylabel() == "CE variance"
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["hard", "ls", "kd", "wsl"]
    assert _plotted(fig) > 0
    assert "90% intervals" in F.plot_biasvar(biasvar, level=0.9).get_suptitle()  # the interval level is stated
    with pytest.raises(InputError):
        F.plot_biasvar(biasvar.iloc[:0])


def test_regularization_figures(regularization):
    fig = F.plot_regularization_temperature(regularization, KINDS)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1  # the neurons cell has one temperature
    kd_lines = [ln for ln in axes[0].get_lines() if ln.get_label().startswith("_KD")]
    assert len(kd_lines) == 2 and all(len(ln.get_xdata()) == 3 for ln in kd_lines)  # τ = 1, 2, 4 per teacher
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert any("LS teacher" in lab for lab in labels) and any("no LS" in lab for lab in labels)
    assert "kd-T1" not in labels and {"kd", "wsl"} <= labels  # a method's name, its τ on the x axis

    # more teachers than the figure has teacher styles (a sensitivity config's variants): styles repeat
    many = pd.concat([regularization.assign(teacher=f"{t}-{k}") for k in range(5) for t in ("a",)] + [regularization],
                     ignore_index=True)
    assert _plotted(F.plot_regularization_temperature(many, KINDS)) > 0

    epochs = pd.DataFrame([{**{k: r[k] for k in F.CELL}, "rule": "gt", "epoch": e, "count": e * r["fraction_final"],
                            "fraction": e * r["fraction_final"] / 10} for _, r in regularization.iterrows()
                           for e in range(5)])
    fig = F.plot_regularization_epochs(regularization, epochs)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and all(len(ax.get_lines()) == 4 for ax in axes)  # one panel per teacher
    names = {ln.get_label() for ln in axes[0].get_lines()}
    assert names == {"kd (τ=1)", "kd (τ=2)", "kd (τ=4)", "wsl (τ=4)"}  # labels say what τ is, not "kd-T1"
    with pytest.raises(InputError):
        F.plot_regularization_epochs(regularization, epochs.iloc[:0])


def test_paper_a_figure1_draws_ours_beside_the_papers():
    df = pd.DataFrame({"noise_variance": [0.01, 0.05, 0.2], "dataset": ["n01", "n05", "n20"], "teacher": "vgg",
                       "student": "small", "width": 64, "teacher_acc": [80.0, 78.0, 72.0],
                       "hard_acc": [74.0, 72.0, 60.0], "hard_std": [1.0, 1.0, 2.0], "soft_acc": [75.0, 74.0, 69.0],
                       "soft_std": [0.5, 0.5, 1.0], "paper_teacher": [82.5, 79.1, 73.4],
                       "paper_hard": [74.6, 73.7, 62.1], "paper_soft": [76.0, 74.1, 70.3]})
    fig = F.plot_paper_a_figure1(df)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1  # one panel per teacher/student/width, the variances along x
    assert len(axes[0].get_lines()) == 6 and all(len(ln.get_xdata()) == 3 for ln in axes[0].get_lines())
    mine = df.assign(paper_teacher=np.nan, paper_hard=np.nan, paper_soft=np.nan)  # not the paper's setting
    assert len(F.plot_paper_a_figure1(mine).axes[0].get_lines()) == 3
    with pytest.raises(InputError, match="missing columns"):
        F.plot_paper_a_figure1(df.drop(columns=["paper_soft"]))


def test_training_curves_of_the_hardest_data_set(neurons, tmp_path):
    cells = figplan.curve_cells(neurons[F.CELL].to_dict("records"), KINDS)
    assert {(c["method"], c["width"]) for c in cells if c["experiment"] == "neurons"} == {
        ("hard", 2), ("hard", 8), ("kd", 2), ("kd", 8)}
    files = []
    for i, c in enumerate(cells):
        f = tmp_path / f"{i}.npz"
        err = np.linspace(0.5, 0.1, 6)[None] * np.array([[1.0], [1.2], [0.8]])
        io.write_npz(f, train_loss=err + 0.3, train_err=err)
        files.append(str(f))
    curves = F.curve_frame(cells, [io.read_npz(f) for f in files])
    assert len(curves) == len(cells) * 3 * 6
    hardest = F.hardest_datasets(neurons)
    assert hardest["neurons"] == "hard"  # the smallest margin
    fig = F.plot_training_curves(curves, hardest)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6 and axes[0].get_title() == "hard (neurons), m=2" and axes[1].get_title().endswith("m=8")
    assert {ln.get_linestyle() for ln in axes[0].get_lines()} == {"-", "--"}  # no teacher, teacher wide
    assert len({ln.get_color() for ln in axes[0].get_lines()}) == 2  # hard and kd: a colour each
    assert "first epoch" in axes[0].get_ylabel()  # the methods' objectives differ: each relative to its start
    assert all(abs(ln.get_ydata()[0] - 1) < 1e-9 for ln in axes[0].get_lines())
    with pytest.raises(InputError):
        F.plot_training_curves(curves, {"neurons": "nowhere"})


def test_one_colour_per_method_in_every_figure(neurons, biasvar, regularization):
    """The palette is keyed by the config's methods: a method has the same colour in every figure,
    whichever methods a figure shows, and a temperature variant the colour of its method."""
    methods = F.Methods({"hard": {"method": "hard", "temperature": None}, "kd": {"method": "kd", "temperature": 2.0},
                         "kd-T1": {"method": "kd-tau", "temperature": 1.0},
                         "kd-T4": {"method": "kd-tau", "temperature": 4.0},
                         "wsl": {"method": "wsl", "temperature": None}, "ls": {"method": "ls", "temperature": None}})
    # a variant: a shade of its method's colour, one of its own, so that the legend's names have a colour each
    assert len({methods.color("kd-T1"), methods.color("kd-T4"), methods.color("kd")}) == 3
    assert methods.base_color("kd-T1") == methods.base_color("kd-T4") != methods.base_color("kd")
    cfg = {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 2.0},
           "kd-tau": {"kind": "kd", "temperature": [1.0, 4.0]}}
    assert figplan.method_names(cfg, ["hard", "kd", "kd-tau-T1", "kd-tau-T4"]) == {
        "hard": {"method": "hard", "temperature": None}, "kd": {"method": "kd", "temperature": 2.0},
        "kd-tau-T1": {"method": "kd-tau", "temperature": 1.0}, "kd-tau-T4": {"method": "kd-tau", "temperature": 4.0}}
    assert methods.name("kd-T1") == "kd-tau (τ=1)" and F.Methods().name("kd-tau-T4") == "kd-tau (τ=4)"
    from matplotlib.colors import to_rgb

    def legend(fig) -> dict[str, tuple]:
        return {t.get_text(): to_rgb(h.get_color()) for t, h in zip(fig.legends[0].get_texts(),
                                                                     fig.legends[0].legend_handles)}

    a = legend(F.plot_accuracy_width(neurons, methods))
    assert a["hard"] == to_rgb(methods.color("hard")) and a["kd (τ=2)"] == to_rgb(methods.color("kd"))
    b = legend(F.plot_biasvar(biasvar, methods))
    assert b["kd (τ=2)"] == a["kd (τ=2)"] and b["hard"] == a["hard"]


def _legend_is_unambiguous(fig) -> None:
    """Every method entry of the legend has a colour of its own, and every line or marker drawn has a
    method entry of its colour: the colour tells apart what the legend tells apart."""
    from matplotlib.colors import to_rgb

    entries = {t.get_text(): h for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}
    grey = {to_rgb("0.3"), to_rgb("0.6"), to_rgb("0.55"), to_rgb("0.45")}
    colours = [to_rgb(h.get_color()) for h in entries.values() if to_rgb(h.get_color()) not in grey]
    assert len(colours) == len(set(colours)), entries.keys()
    drawn = {to_rgb(ln.get_color()) for ax in fig.axes for ln in ax.get_lines()} - grey
    assert drawn <= set(colours), (drawn, colours)


def test_every_method_of_an_experiment_is_drawn_and_told_apart(neurons, biasvar):
    """Paper A's methods are not named 'kd' (kd1, kd-auto): the figures and the summary show them, and a
    method's temperature variants under two teachers differ in colour (variant) and style (teacher)."""
    kinds = {**KINDS, "kd1": "kd", "kd-auto": "kd"}
    paper = neurons.replace({"method": {"kd": "kd1"}, "teacher": {"wide": "kernel"}})
    cells = figplan.curve_cells(paper[F.CELL].to_dict("records"), kinds)
    assert {c["method"] for c in cells if c["experiment"] == "neurons"} == {"hard", "kd1"}
    fig = F.plot_accuracy_width(paper)
    _legend_is_unambiguous(fig)
    assert {"hard", "kd1", "no teacher", "teacher kernel"} <= {t.get_text() for t in fig.legends[0].get_texts()}
    rows = biasvar[biasvar["experiment"] == "biasvar"]
    two = pd.concat([rows, rows[rows["method"] == "kd"].assign(method="kd-T1"),
                     rows[rows["method"] == "kd"].assign(method="kd-T4")])
    fig = F.plot_biasvar(two)
    _legend_is_unambiguous(fig)
    names = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"kd (τ=1)", "kd (τ=4)", "teacher wide", "teacher wide-ls"} <= names
    curves = F.curve_frame(
        [{**r, "width": 8} for r in two[F.CELL].to_dict("records")],
        [{"train_loss": np.ones((2, 4)), "train_err": np.full((2, 4), 0.1)} for _ in range(len(two))])
    fig = F.plot_training_curves(curves, {"biasvar": "noisy"})
    _legend_is_unambiguous(fig)
    ax = [a for a in fig.axes if a.get_visible()][0]
    styles = {(ln.get_color(), ln.get_linestyle(), ln.get_marker()) for ln in ax.get_lines()}
    assert len(styles) == len(two)  # every (method, teacher) a line of its own look
    from softlabels.report.summary import accuracy_lines
    lines = accuracy_lines(paper.assign(test_acc_mean=0.8), kinds)
    assert any("kd1 (kernel)" in ln for ln in lines)  # not only methods named 'kd'


def test_save_writes_png_and_svg(neurons, tmp_path):
    F.save(F.plot_accuracy_width(neurons), tmp_path / "a.png", tmp_path / "a.svg")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "a.svg").read_text()


def test_read_table_names_the_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="missing columns"):
        read_table(tmp_path / "t.csv", ["a", "c"])


def test_figure_plan(neurons, regularization):
    recs = neurons[F.CELL].to_dict("records")
    assert figplan.width_sweeps(recs) == {("neurons", ds, "theory") for ds in ("easy", "mid", "hard")}
    assert figplan.margin_sweeps(recs, ["easy", "mid", "hard"]) == ["neurons"]
    assert figplan.margin_sweeps(recs, ["easy"]) == []
    assert figplan.method_comparisons(recs) == {("neurons", ds, "theory", 8) for ds in ("easy", "mid", "hard")}
    assert figplan.temperature_sweeps(regularization.to_dict("records")) == {("biasvar", "noisy", "practical", 8)}
    tables = ["results/tables/regularization.csv", "results/tables/paperA_figure1.csv"]
    assert figplan.planned(recs, KINDS, ["easy", "mid", "hard"], regularization.to_dict("records"), tables) == [
        "accuracy_width", "neurons_needed_neurons", "biasvar", "regularization_temperature", "regularization_epochs",
        "training_curves", "paperA_figure1"]  # one neurons-needed figure per experiment with a margin sweep
    one_width = [r for r in recs if r["width"] == 8]
    assert figplan.planned(one_width, KINDS, ["easy"], [], []) == ["biasvar", "training_curves"]
    # the claims' forest plots: one per experiment with a cell that learns from a teacher, wherever the claims
    # table is built, decided before the run
    assert figplan.planned(one_width, KINDS, ["easy"], [], ["results/tables/claims.csv"])[-1:] == [
        "claims_forest_neurons"]
    free = [{**r, "experiment": "free"} for r in one_width if r["teacher"] == "none"]
    assert figplan.claims_experiments(one_width + free) == ["neurons"]  # teacher-free cells test no claim


# --- the claims' forest plot ----------------------------------------------------------------------

def _claims(n_neuron: int = 25) -> pd.DataFrame:
    from softlabels.analysis.claims import COLUMNS

    rows = []
    verdicts = ["supported", "contradicted", "inconclusive", "not tested"]
    for i in range(n_neuron):
        ds, eps = f"d{i % 5}", [0.1, 0.05, 0.02, 0.01, 0.005][i // 5]
        rows.append({"paper": "A", "claim": "soft labels need fewer neurons than hard labels (both arms at radius B = 4)",
                     "experiment": "neurons", "setting": f"{ds} (γ 0.0{i % 5 + 1}), teacher wide, kd vs hard, theory-B4, "
                     f"ε {eps:g}, bounds' ratio γ²/(ε ln(1/ε)) {0.01 * i:.2g}", "effect": "log2(m*_hard / m*_soft)",
                     "estimate": 0.5 - 0.05 * i, "lo": 0.2 - 0.05 * i, "hi": 0.8 - 0.05 * i, "claimed": "> 0",
                     "verdict": verdicts[i % 4], "n": 8, "interval": "95% bootstrap over replicates",
                     "p_value": 0.01, "exact_p": np.nan, "note": ""})
    rows.append({**rows[0], "claim": "m* grows no faster than (1/γ)^4", "setting": "hard (teacher none), theory, ε 0.1",
                 "estimate": 3.0, "lo": np.nan, "hi": np.nan, "claimed": "< 4", "verdict": "inconclusive"})
    return pd.DataFrame(rows, columns=COLUMNS)


def test_claims_forest_plot_one_panel_per_claim_coloured_by_verdict():
    claims = _claims()
    fig = F.plot_claims_forest(claims, "neurons")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and _points(axes[0]) >= 25  # 25 settings: a point each (and an interval line)
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert len(labels) == 25 and max(len(ln) for x in labels for ln in x.split("\n")) <= F.FOREST_LABEL_CHARS
    assert not any("…" in x for x in labels)  # wrapped, never cut
    assert "d0, ε 0.1" in labels and not any("γ" in x or "bounds" in x or "teacher" in x for x in labels)
    colours = {tuple(np.round(matplotlib_rgb(line.get_color()), 3)) for line in axes[0].get_lines()}
    assert {tuple(np.round(matplotlib_rgb(c), 3)) for c in F.VERDICT_COLOURS.values()} <= colours
    assert any(line.get_linestyle() == "--" and list(line.get_xdata()) == [0, 0] for line in axes[0].get_lines())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == list(F.VERDICT_COLOURS)  # the verdicts drawn (no row lacks an estimate here)
    buf = stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    from PIL import Image

    width, height = Image.open(stdio.BytesIO(buf.getvalue())).size
    assert width <= 1400 and height / (25 + 1) <= 60  # readable at the report's 1400 px, not a long strip
    # an experiment without claims: one panel that says so, not an error (the figure is planned before the run)
    empty = F.plot_claims_forest(claims, "biasvar")
    assert "Experiment biasvar tests no claim" in empty.axes[0].texts[0].get_text()


def test_claims_forest_draws_every_row_and_no_empty_panel_and_stays_within_the_page():
    """A row without an estimate gets the legend's hollow marker; a claim without any number gets no panel (the
    suptitle names it); a parenthesis of a setting is not cut; a figure taller than 2.5 screens goes to two
    columns, and panel titles have at most four lines."""
    one = _claims(25)
    claims = pd.concat([one.iloc[:25].assign(claim=f"claim {k} of a long run, whose text wraps onto more than "
                                                  f"one line of its panel's title") for k in range(4)]
                       + [one.iloc[25:]], ignore_index=True)
    claims.loc[3, ["estimate", "lo", "hi"]] = np.nan
    claims.loc[len(claims) - 1, "setting"] = "hard, teacher wide (seeds 0, 1, 2), theory, ε 0.1"
    nothing = {**claims.iloc[0].to_dict(), "claim": "a claim with no estimate", "estimate": np.nan, "lo": np.nan,
               "hi": np.nan, "verdict": "not tested"}
    claims = pd.concat([claims, pd.DataFrame([nothing])], ignore_index=True)
    fig = F.plot_claims_forest(claims, "neurons")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 5  # the claim without numbers has no panel
    assert "a claim with no estimate" in fig._suptitle.get_text()
    big = axes[0]
    hollow = [ln for ln in big.get_lines() if ln.get_marker() == "o" and ln.get_markerfacecolor() == "white"]
    filled = [ln for ln in big.get_lines() if ln.get_marker() == "o" and ln.get_markerfacecolor() != "white"]
    assert len(hollow) == 1 and len(filled) == 24  # every row has its marker
    assert "no estimate (on the threshold)" in [t.get_text() for t in fig.legends[0].get_texts()]
    seeds = ["d1, teacher wide (seeds 0, 1, 2), kd vs hard, ε 0.1", "d1, teacher wide-ls (seeds 0, 1, 2), kd vs hard, ε 0.1"]
    assert F.compact_labels(seeds, ["e", "e"]) == ["d1, wide", "d1, wide-ls"]  # a parenthesis is one part
    for ax in axes:
        assert ax.get_title(loc="left").count("\n") <= F.FOREST_TITLE_LINES - 1
    buf = stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    from PIL import Image

    width, height = Image.open(stdio.BytesIO(buf.getvalue())).size
    assert width <= 1400 and height <= 2.5 * 900, (width, height)


def _regime_claims() -> pd.DataFrame:
    """The default run's paper-A claims of one experiment: four regimes, each a neuron claim on four data sets
    (censored m*: intervals open to +inf), a gap slope (open both ways) and two slope claims; and one slope claim
    in its plain form (a practical setup) beside its regime forms."""
    one = _claims(4)
    regimes = ["both arms at radius B = 16", "both arms at radius B = 4", "each arm at its own theorem's radius",
               "both arms at radius B = 1"]
    parts = []
    for r in regimes:
        parts.append(one.iloc[:4].assign(claim=f"soft labels need fewer neurons than hard labels ({r})",
                                         hi=[np.inf, 0.8, 0.7, np.inf]))
        parts.append(one.iloc[:1].assign(claim=f"the soft-label advantage in neurons grows as γ shrinks ({r})",
                                         setting="4 data sets (γ 0.02–0.2), teacher kernel, kd1 vs hard, theory",
                                         lo=-np.inf, hi=np.inf, verdict="inconclusive"))
        for k in (2, 4):
            parts.append(one.iloc[4:5].assign(claim=f"m* grows no faster than (1/γ)^{k} ({r})", claimed=f"< {k}",
                                              lo=-0.3, hi=2.9))
    parts.append(one.iloc[4:5].assign(claim="m* grows no faster than (1/γ)^2", setting="kd1 (teacher kernel), mlp",
                                      claimed="< 2", estimate=np.nan, lo=-0.5, hi=3.0, verdict="not tested"))
    return pd.concat(parts, ignore_index=True)


def test_claims_forest_puts_a_claims_regimes_in_one_panel_and_draws_every_row():
    """One panel per claim, its regimes as blocks under bold headings (B = 1, 4, 16, then the theorem's radii), the
    plain form first; every row has the marker the legend gives (filled, hollow on the threshold, an arrow at an
    open end); titles of at most four lines, nothing cut with '…'; the figure within 2.5 screens at 1400 px."""
    claims = _regime_claims()
    fig = F.plot_claims_forest(claims, "neurons")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title(loc="left") for ax in axes]
    assert len(axes) == 4 and titles[0].startswith("paper A: soft labels need fewer neurons than hard labels  (")
    assert titles[2].startswith("paper A: m* grows no faster than (1/γ)^2  (")
    neuron = [t for t in axes[0].get_yticklabels()]
    heads = [t.get_text() for t in neuron if t.get_fontweight() == "bold"]
    assert heads == ["both arms at radius B = 1", "both arms at radius B = 4", "both arms at radius B = 16",
                     "each arm at its own theorem's radius"]
    assert len(neuron) == 4 + 16
    slope2 = [t for t in axes[2].get_yticklabels()]
    assert slope2[0].get_fontweight() != "bold" and slope2[0].get_text() == "kd1"  # the plain form, first
    for ax in axes:  # one point per setting row: filled at its estimate or hollow on the threshold
        rows = sum(t.get_fontweight() != "bold" for t in ax.get_yticklabels())
        points = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        assert len(points) == rows, (ax.get_title(loc="left"), len(points), rows)
        assert ax.get_title(loc="left").count("\n") <= F.FOREST_TITLE_LINES - 1
        assert not any("…" in t.get_text() for t in [ax.title, *ax.get_yticklabels()])
    hollow = [ln for ln in axes[2].get_lines() if ln.get_marker() == "o" and ln.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == [2.0]  # no estimate: on the threshold
    arrows = [ln for ln in axes[1].get_lines() if ln.get_marker() in ("<", ">")]
    assert len(arrows) == 2 * 4  # the gap slope's intervals are open both ways: an arrow at each end
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "no estimate (on the threshold)" in legend and any(t.startswith("interval open") for t in legend)
    buf = stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    from PIL import Image

    width, height = Image.open(stdio.BytesIO(buf.getvalue())).size
    assert width <= 1400 and height <= 2.5 * 900, (width, height)


def test_forest_panels_group_only_the_forms_of_one_claim():
    panels = F.forest_panels(["a (B = 16)", "removing X (the filter) lowers Y", "a (B = 4)", "c (one form)", "a"])
    assert panels == {"a": [("a", ""), ("a (B = 4)", "B = 4"), ("a (B = 16)", "B = 16")],
                      "removing X (the filter) lowers Y": [("removing X (the filter) lowers Y", "")],
                      "c (one form)": [("c (one form)", "")]}


def matplotlib_rgb(c):
    from matplotlib.colors import to_rgb

    return to_rgb(c)


# --- the crossover over the radius B -----------------------------------------------------------



@pytest.fixture
def radius_neurons() -> pd.DataFrame:
    """neurons.csv as the lead's radius axis writes it: setup, radius (as configured), radius_used."""
    rows = []
    for ds, gamma in (("easy", 0.3), ("mid", 0.1), ("hard", 0.03)):
        for radius in ("1", "4", "auto"):
            for m, t in (("hard", "none"), ("kd1", "kernel")):
                used = (45 / gamma if m == "hard" else 1.0) if radius == "auto" else float(radius)
                for w in (2, 4, 8, 16):
                    err = min(0.5, (0.05 if m == "kd1" else 0.1) / (gamma * w) / (1 + float(used) / 10))
                    rows.append({**_cell("neurons", ds, "hard", w, t, f"theory-B{radius}"), "method": m,
                                 "gamma": gamma, "setup": "theory", "radius": radius, "radius_used": used,
                                 "train_err_mean_iter": err, "train_err_final": err / 2, "test_acc_mean": 0.8,
                                 "test_acc_std": 0.01})
    rows.append({**_cell("biasvar", "noisy", "hard", 8, student="practical"), "gamma": 0.05, "setup": "practical",
                 "radius": np.nan, "radius_used": np.nan, "train_err_mean_iter": 0.1})  # no radius variants
    return pd.DataFrame(rows)


def _needed_of(neurons: pd.DataFrame, epsilons=(0.1, 0.02)) -> pd.DataFrame:
    rows = []
    for key, g in neurons[neurons["experiment"] == "neurons"].groupby(["dataset", "teacher", "method", "student"]):
        g = g.sort_values("width")
        for eps in epsilons:
            ok = g[g["train_err_mean_iter"] <= eps]
            m = float(ok["width"].iloc[0]) if len(ok) else np.nan
            rows.append({"experiment": "neurons", **dict(zip(["dataset", "teacher", "method", "student"], key)),
                         "setup": "theory", "radius": g["radius"].iloc[0], "gamma": g["gamma"].iloc[0],
                         "epsilon": eps, "m_star": m, "reached": "yes"})
    return pd.DataFrame(rows)


def test_crossover_is_planned_from_radius_variants(radius_neurons):
    recs = radius_neurons[F.CELL].to_dict("records")
    variants = {"theory-B1": ("theory", "1"), "theory-B4": ("theory", "4"), "theory-Bauto": ("theory", "auto")}
    assert figplan.crossover_experiments(recs, variants) == ["neurons"]
    one = [r for r in recs if r["student"] != "theory-B4" and r["student"] != "theory-Bauto"]
    assert figplan.crossover_experiments(one, variants) == []  # a single radius: no crossover
    planned = figplan.planned(recs, {"hard": "hard", "kd1": "kd"}, ["easy", "mid", "hard"], [], [], variants)
    assert planned[-2:] == ["crossover_neurons", "crossover_needed_neurons"]
    assert "crossover_neurons" not in figplan.planned(recs, {"hard": "hard"}, [], [], [])  # no variants given


def test_crossover_figures_are_drawn_from_a_small_frame(radius_neurons, tmp_path):
    fig = F.plot_crossover(radius_neurons, "neurons")
    grid = [ax for ax in fig.axes if ax.get_visible()]
    assert len(grid) == 3 * 3  # a row per data set, a column per radius
    titles = [ax.get_title() for ax in grid]
    assert titles[0] == "easy (γ=0.3), B = 1" and titles[2] == "easy (γ=0.3), B = auto"  # largest γ first, auto last
    assert titles[-1].startswith("hard (γ=0.03)")
    assert all(len(ax.get_lines()) == 2 for ax in grid) and grid[0].get_yscale() == "log"
    assert "B used: hard 150; kd1 (kernel) 1" in [t.get_text() for t in grid[2].texts]  # under auto each arm's own B
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"hard", "kd1", "no teacher", "teacher kernel"} <= labels and len(fig.legends) == 1
    _legend_is_unambiguous(fig)

    needed = _needed_of(radius_neurons)
    assert F.crossover_epsilons(needed) == [0.1, 0.02] or F.crossover_epsilons(needed) == [0.1]
    fig = F.plot_crossover_needed(needed, radius_neurons, "neurons")
    grid = [ax for ax in fig.axes if ax.get_visible()]
    eps = F.crossover_epsilons(needed)
    assert len(grid) == 3 * len(eps)
    fig.canvas.draw()
    assert [t.get_text() for t in grid[-1].get_xticklabels()] == ["1", "4", "auto"]
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert any(lab.startswith("ceiling") for lab in labels) and any(lab.startswith("floor") for lab in labels)
    F.save(fig, tmp_path / "c.png", tmp_path / "c.svg")
    with pytest.raises(InputError, match="crossover"):
        F.plot_crossover(radius_neurons, "biasvar")
    with pytest.raises(InputError, match="lacks the columns"):
        F.plot_crossover(radius_neurons.drop(columns=["radius"]), "neurons")


def _neurons_like_the_default_run() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Five data sets, eight widths, two arms, five ε: the default run's neurons experiment in shape."""
    gammas = (0.02, 0.05, 0.09, 0.18, 0.27)
    neurons = pd.DataFrame([{**_cell("neurons", f"k{g}", m, w, t), "gamma": g, "test_acc_mean": 0.8,
                             "test_acc_std": 0.01, "train_err_mean_iter": 0.01 / (g * w)}
                            for g in gammas for m, t in (("hard", "none"), ("kd1", "kernel"))
                            for w in (2, 4, 8, 16, 32, 64, 128, 256)])
    needed = []
    for (ds, t, m), c in neurons.groupby(["dataset", "teacher", "method"]):
        for eps in (0.1, 0.05, 0.02, 0.01, 0.005):
            ok = c[c["train_err_mean_iter"] <= eps].sort_values("width")
            needed.append({"experiment": "neurons", "dataset": ds, "teacher": t, "method": m, "student": "theory",
                           "gamma": c["gamma"].iloc[0], "epsilon": eps,
                           "m_star": float(ok["width"].iloc[0]) if len(ok) else np.nan})
    scaling = pd.DataFrame([{"experiment": "neurons", "teacher": t, "student": "theory", "method": m, "epsilon": e,
                             "slope": 1.0, "slope_lo": 0.5, "slope_hi": 1.5, "intercept": 0.0}
                            for m, t in (("hard", "none"), ("kd1", "kernel")) for e in (0.1, 0.05, 0.02, 0.01, 0.005)])
    return pd.DataFrame(needed), scaling, neurons


# The report shows a figure at most about 1400 px wide: a neurons-needed figure may be at most 1800 px
# (12 in at 150 dpi, shown at ≥ 78%) with at most three panels a row and no text under 7.5 pt (≥ 12 px shown).
MAX_PX, MAX_COLS, MIN_PT = 1800, 3, 7.5


def check_readable(fig, dpi: int = 150) -> None:
    width_px = fig.get_figwidth() * dpi
    assert width_px <= MAX_PX, f"{width_px:.0f} px wide"
    axes = [ax for ax in fig.axes if ax.get_visible()]
    rows: dict[float, int] = {}
    for ax in axes:
        y = round(ax.get_position().y0, 2)
        rows[y] = rows.get(y, 0) + 1
    assert max(rows.values()) <= MAX_COLS, rows
    sizes = [t.get_fontsize() for ax in axes for t in [ax.title, ax.xaxis.label, ax.yaxis.label,
                                                         *ax.get_xticklabels(), *ax.get_yticklabels()] if t.get_text()]
    sizes += [t.get_fontsize() for t in fig.legends[0].get_texts()]
    assert min(sizes) >= MIN_PT, min(sizes)


def test_neurons_needed_is_readable_at_the_reports_width():
    needed, scaling, neurons = _neurons_like_the_default_run()
    fig = F.plot_neurons_needed(needed, scaling, neurons, "neurons")
    fig.canvas.draw()
    check_readable(fig)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    # floors and ceilings are arrows, never the shape of a method's or a teacher's marker
    method_marks = set(F._teacher_markers(["none", "kernel", "a", "b", "c", "d", "e"]).values())
    assert not method_marks & {"v", "^", F.FLOOR, F.CEILING}
    assert len(axes) >= 2 and fig.get_figwidth() * 150 <= MAX_PX


def test_neurons_needed_with_regimes_draws_one_panel_per_setup_at_the_claims_epsilon():
    """The default run's neurons experiment trains four radius setups: without the claims' ε, one panel per ε holds
    all eight arms (two per colour, indistinguishable) and titles too long for four lines; with it, one panel per
    setup in natural order, each with its two arms, every title whole, two panels a row."""
    needed, scaling, neurons = _neurons_like_the_default_run()
    setups = ["theory-B16", "theory-Bauto", "theory-B1", "theory-B4"]
    needed = pd.concat([needed.assign(student=s) for s in setups], ignore_index=True)
    scaling = pd.concat([scaling.assign(student=s) for s in setups], ignore_index=True)
    neurons = pd.concat([neurons.assign(student=s) for s in setups], ignore_index=True)
    fig = F.plot_neurons_needed(needed, scaling, neurons, "neurons", level=0.95, epsilon=0.02)
    fig.canvas.draw()
    check_readable(fig)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in axes]
    assert [t.split(":")[0] for t in titles] == ["theory-B1", "theory-B4", "theory-B16", "theory-Bauto"]
    assert all("ε = 0.02" in t and t.count("\n") <= F.NEEDED_TITLE_LINES - 1 and "…" not in t for t in titles)
    assert all(len(F._teacher_markers(["none", "kernel"])) == 2 for _ in axes)
    for t in titles:  # two arms a panel, a line each under the setup and ε
        assert t.count("\n") == 2 and "\nhard: " in t and "\nkd1, teacher kernel: " in t, t
    assert len({round(ax.get_position().y0, 2) for ax in axes}) == 2  # two rows of two
    assert "one panel per student setup" in fig._suptitle.get_text()
    single = [[ax.get_title() for ax in f.axes if ax.get_visible()] for f in (
        F.plot_neurons_needed(*_neurons_like_the_default_run(), "neurons", epsilon=0.02),
        F.plot_neurons_needed(*_neurons_like_the_default_run(), "neurons"))]
    assert single[0] == single[1] and len(single[0]) >= 2  # one setup: one panel per ε, as without the claims' ε


def test_summary_names_missing_tables_and_never_fails(tmp_path, monkeypatch, neurons, biasvar):
    monkeypatch.chdir(tmp_path)
    targets = ["results/tables/neurons.csv", "results/tables/biasvar.csv", "results/figures/biasvar.png"]
    text = "\n".join(summary_lines(targets, KINDS))
    assert "0 of 3 targets present" in text and "neurons.csv is missing" in text and "biasvar.csv is missing" in text
    Path("results/tables").mkdir(parents=True)
    neurons.to_csv("results/tables/neurons.csv", index=False)
    biasvar.to_csv("results/tables/biasvar.csv", index=False)
    out = stdio.StringIO()
    print_summary(targets, KINDS, out)
    text = out.getvalue()
    assert "2 of 3 targets present" in text and "not built by this run (1): results/figures/biasvar.png" in text
    assert re.search(r"neurons +hard +\S+ +m=2 +hard +72\.0% +kd \(wide\) +77\.0% +soft - hard \+5\.0 points", text), text
    assert "bias hard 0.500 vs kd (wide) 0.600" in text
    Path("results/tables/biasvar.csv").write_text("not,a\ntable")
    out = stdio.StringIO()
    print_summary(targets, KINDS, out)
    assert "could not read results/tables/biasvar.csv" in out.getvalue()


# --- the tiny run: every figure built with data, and the report ---------------------------------

def _report_results(html: str) -> dict:
    """The report's catalogue of results (Snakemake 9 embeds it as `var results = {...}`)."""
    m = re.search(r"var results = (?=\{)", html)
    assert m, "no result catalogue in the report"
    return json.JSONDecoder().raw_decode(html, m.end())[0]


def _caption_file(kind: str, stem: str) -> Path:
    """A result's caption: its own, or for a figure drawn per experiment (<figure>_<experiment>) its figure's."""
    folder = ROOT / "workflow" / "report" / kind
    names = sorted((f.stem for f in folder.glob("*.rst")), key=len, reverse=True)
    return folder / f"{next(n for n in names if stem == n or stem.startswith(n + '_'))}.rst"


def _caption_title(path: Path) -> str:
    return re.search(r"\*\*(.+?)\*\*", path.read_text(), re.S).group(1).replace("\n", " ")


@pytest.mark.slow
def test_tiny_run_builds_every_figure_with_data(tiny_run):
    figures = tiny_run / "results" / "figures"
    assert {p.stem for p in figures.glob("*.png")} == TINY_FIGURES
    for name in TINY_FIGURES:
        for ext in ("png", "svg"):
            assert (figures / f"{name}.{ext}").stat().st_size > 1000, f"{name}.{ext} is empty"
        log = (tiny_run / "logs" / "figures" / f"{name}.log").read_text()
        assert "panels from" in log, log
    # the figures of the tiny tables draw data in every panel, for every experiment of the tiny config
    kinds = {m: v["kind"] for m, v in C.method_variants(C.load(TINY, SCHEMA)).items()}
    t = {n: pd.read_csv(tiny_run / "results" / "tables" / f"{n}.csv")
         for n in ("neurons", "neurons_needed", "scaling", "biasvar", "regularization", "regularization_epochs")}
    cells = figplan.curve_cells(t["neurons"][F.CELL].to_dict("records"), kinds)
    files = [str(tiny_run / C.Cell(c["dataset"], c["teacher"], c["method"], c["student"], c["width"]).path
                 / "replicates.npz") for c in cells]
    curves = F.plot_training_curves(F.curve_frame(cells, [io.read_npz(f) for f in files]), F.hardest_datasets(t["neurons"]))
    assert {ax.get_title().split("(")[1].split(")")[0] for ax in curves.axes if ax.get_visible()} == {
        "neurons", "biasvar", "paperA-table1"}
    for fig in (F.plot_accuracy_width(t["neurons"]),
                F.plot_neurons_needed(t["neurons_needed"], t["scaling"], t["neurons"], "neurons"),
                F.plot_biasvar(t["biasvar"]), F.plot_regularization_temperature(t["regularization"], kinds),
                F.plot_regularization_epochs(t["regularization"], t["regularization_epochs"]), curves):
        assert all(_points(ax) > 0 for ax in fig.axes if ax.get_visible()), fig.get_suptitle()


@pytest.mark.slow
def test_report_holds_every_figure_and_table_with_its_caption(tiny_copy):
    proc = snakemake(tiny_copy, "--configfile", str(tiny_copy / "config.yaml"), "--report", "report.html")
    assert not re.search(r"\((ERROR|WARNING|SEVERE)/\d\)", proc.stdout + proc.stderr), proc.stderr  # clean RST
    html = (tiny_copy / "report.html").read_text()
    results = _report_results(html)
    produced = sorted(str(p.relative_to(tiny_copy)) for p in (tiny_copy / "results" / "tables").glob("*.html"))
    produced += sorted(str(p.relative_to(tiny_copy)) for p in (tiny_copy / "results" / "figures").glob("*.png"))
    # neurons, neurons_needed, scaling, biasvar, regularization, regularization_epochs, wsl, paperA_table1,
    # claims, claims_summary, teachers
    assert len(produced) == 11 + len(TINY_FIGURES)
    assert sorted(results) == sorted(produced)
    for path in produced:
        kind = "figures" if path.endswith(".png") else "tables"
        caption = _caption_file(kind, Path(path).stem)
        entry = results[path]
        assert entry["name"] == Path(path).name
        assert f"<strong>{_caption_title(caption)}</strong>" in entry["caption"], (path, entry["caption"][:200])
        assert entry["data_uri"].startswith("data:") and len(entry["data_uri"]) > 100  # embedded: self-contained
    assert "reproduces two papers" in html  # the workflow description on the front page
    m = re.search(r"var categories = (?=\{)", html)
    categories = json.JSONDecoder().raw_decode(html, m.end())[0]
    assert set(categories) == {"Paper A (neurons)", "Paper B (bias-variance)", "Paper B (regularization samples)",
                               "Paper B (methods)", "Paper tables", "Claims", "Teachers"}


def test_regularization_panels_with_one_temperature_are_the_teacher_comparisons():
    """One τ everywhere (the default run): the panels are the groups with the most teachers (the LS-teacher
    comparison), not every width of every experiment."""
    recs = [{"experiment": "neurons", "dataset": "k", "student": "theory", "width": w, "teacher": "kernel",
             "method": "kd1", "temperature": 1.0} for w in (2, 4, 8)]
    recs += [{"experiment": "biasvar", "dataset": "noisy", "student": "practical", "width": 16, "teacher": t,
              "method": "kd", "temperature": 4.0} for t in ("wide-s0", "wide-s1", "wide-ls-s0", "wide-ls-s1")]
    assert figplan.temperature_sweeps(recs) == {("biasvar", "noisy", "practical", 16)}


def test_a_panel_at_one_temperature_puts_the_methods_side_by_side(regularization):
    """One τ in a panel: the methods stand side by side at that τ (not nudged as if at other τ), and the legend
    promises no line over τ that is never drawn."""
    one = regularization[(regularization["experiment"] == "biasvar") & (regularization["temperature"] == 4.0)]
    fig = F.plot_regularization_temperature(one, KINDS)
    ax = next(a for a in fig.axes if a.get_visible())
    assert len(ax.get_xticklabels()) == 2  # kd at τ = 4 and wsl
    assert "the only τ" in ax.get_xlabel()
    xs = sorted({round(float(x), 6) for col in ax.collections for x in col.get_offsets()[:, 0]})
    assert xs == [0.0, 1.0]
    assert not any("KD over τ" in t.get_text() for t in fig.legends[0].get_texts())
    assert not [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    title = fig._suptitle.get_text()
    assert "the only τ" in title and "against τ" not in title  # the title says what the x axis shows
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox.width)  # the title stays on the figure


def test_neurons_needed_titles_have_at_most_four_lines():
    notes = [f"method-{k}, teacher wide-ls: no fit (m* measured on 1 of 4 data sets)" for k in range(7)]
    wrapped = F._wrap("; ".join(notes), F.NEEDED_TITLE_CHARS, F.NEEDED_TITLE_LINES - 1)
    assert wrapped.count("\n") <= F.NEEDED_TITLE_LINES - 2


def test_a_neurons_needed_figure_of_ceilings_only_says_so(needed, scaling, neurons):
    """No m* reached anywhere (every point would be a ceiling arrow): one panel that says so, not arrows."""
    none = needed.assign(m_star=np.nan)
    fig = F.plot_neurons_needed(none, scaling, neurons, "neurons")
    assert len(fig.axes) == 1 and "reaches any ε" in fig.axes[0].texts[0].get_text()
    assert not fig.axes[0].collections


def test_a_legend_gets_no_more_columns_than_the_figure_is_wide():
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    extra = {f"a rather long legend entry number {k}": Line2D([], [], color="k") for k in range(8)}
    F._legend(fig, [ax], ncol=6, extra=extra, from_axes=False)
    assert len(fig.legends) == 1
    assert fig.legends[0].get_window_extent(fig.canvas.get_renderer()).width <= 4 * fig.dpi


def test_a_neurons_needed_figure_without_a_positive_margin_says_so(needed, scaling, neurons):
    """Real data that the limiting kernel does not separate (MNIST: solved γ < 0): the figure says so instead of
    failing the run."""
    fig = F.plot_neurons_needed(needed.assign(gamma=-0.07), scaling, neurons, "neurons")
    assert len(fig.axes) == 1 and "positive solved kernel margin" in fig.axes[0].texts[0].get_text()
    assert "-0.07" in fig.axes[0].texts[0].get_text() and not fig.axes[0].collections


def test_the_figures_theme_is_seaborns_without_importing_it():
    """The figures set seaborn's paper / whitegrid / colour-blind theme from ``THEME`` and ``COLORBLIND`` (so that
    a figure job does not import seaborn and scipy.stats): the rcParams seaborn's ``set_theme`` sets, its
    colormap aside, and its palette; and plotting a figure imports neither."""
    import subprocess
    import sys

    import matplotlib.pyplot as plt
    import seaborn as sns

    from softlabels.report import figures as F

    with plt.rc_context():
        sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
        theirs = dict(plt.rcParams)
    with plt.rc_context():
        F._theme()
        ours = dict(plt.rcParams)
    differ = {k for k in theirs if k not in ("image.cmap", "svg.hashsalt") and theirs[k] != ours[k]}
    assert not differ, {k: (theirs[k], ours[k]) for k in differ}
    assert F.COLORBLIND == sns.color_palette("colorblind").as_hex()
    probe = ("import sys; from softlabels.report import figures as F; F._message_figure('t', 'x'); "
             "print([m for m in ('seaborn', 'scipy.stats') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
