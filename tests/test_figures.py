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
TINY_FIGURES = {"accuracy_width", "neurons_needed", "biasvar", "regularization_temperature", "regularization_epochs",
                "training_curves"}


def _cell(exp: str, ds: str, method: str, width: int, teacher: str | None = None, student: str = "theory") -> dict:
    teacher = teacher or ("none" if KINDS[method] in ("hard", "ls") else "wide")
    return {"experiment": exp, "dataset": ds, "teacher": teacher, "method": method, "student": student, "width": width}


def _points(ax) -> int:
    """How many data points a panel draws (lines, markers, error bars)."""
    n = sum(np.isfinite(np.asarray(line.get_ydata(), float)).sum() for line in ax.get_lines())
    return int(n + sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)))


def _plotted(fig) -> int:
    return sum(_points(ax) for ax in fig.axes if ax.get_visible())


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
    fig = F.plot_neurons_needed(needed, scaling, neurons, ["neurons"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["ε = 0.1", "ε = 0.02"]
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"bound's slope 2 (soft labels)", "bound's slope 4 (hard labels)", "hard: fit"} <= labels
    assert "kd, teacher wide: fit" not in labels  # kd reaches ε=0.1 at the narrowest width on easy: a floor
    assert "kd, teacher wide: no slope (m* ≤ 2 on 1 of 3 data sets)" in axes[0].get_title()
    assert any(lab.startswith("ceiling: m* > widest width") for lab in labels)
    assert any(lab.startswith("floor: m* ≤ narrowest width") for lab in labels)  # kd reaches ε at m=2 on easy
    assert "hard: slope 0.70 [0.40, 1.00]" in axes[0].get_title()  # the fit and its interval, per panel
    assert axes[0].get_xscale() == "log" and axes[0].get_yscale() == "log"
    with pytest.raises(InputError, match="neurons_needed"):
        F.plot_neurons_needed(needed, scaling, neurons, ["biasvar"])


def test_neurons_needed_draws_floors_as_floors_and_no_bounds_without_a_fit(needed, scaling, neurons):
    """m* at the narrowest width on every data set is a floor (m* ≤ 2), not a point with a slope of
    0.00 [0.00, 0.00]; with no fitted slope in a panel, no bounds' lines either."""
    floor = needed.assign(m_star=2.0, reached="yes")
    flat = scaling.assign(slope=0.0, slope_lo=0.0, slope_hi=0.0)
    fig = F.plot_neurons_needed(floor, flat, neurons, ["neurons"], level=0.95)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = "\n".join(ax.get_title() for ax in axes)
    assert "0.00 [0.00, 0.00]" not in titles and "hard: no slope (m* ≤ 2 on 3 of 3 data sets)" in titles
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert not any("bound's slope" in lab or lab.endswith(": fit") for lab in labels)
    assert all(not ax.get_lines() for ax in axes)  # no fitted line, no bound line: only the open ▽ markers
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
    assert len(axes) == 4 and "hard (neurons)" in axes[0].get_title()  # two experiments, loss and error each
    assert {ln.get_linestyle() for ln in axes[0].get_lines()} == {"-", "--"}
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
    assert methods.color("kd-T1") == methods.color("kd-T4") != methods.color("kd")
    cfg = {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 2.0},
           "kd-tau": {"kind": "kd", "temperature": [1.0, 4.0]}}
    assert figplan.method_names(cfg, ["hard", "kd", "kd-tau-T1", "kd-tau-T4"]) == {
        "hard": {"method": "hard", "temperature": None}, "kd": {"method": "kd", "temperature": 2.0},
        "kd-tau-T1": {"method": "kd-tau", "temperature": 1.0}, "kd-tau-T4": {"method": "kd-tau", "temperature": 4.0}}
    assert methods.name("kd-T1") == "kd-tau (τ=1)" and F.Methods().name("kd-tau-T4") == "kd-tau (τ=4)"
    from matplotlib.colors import to_rgb

    def colours(fig) -> dict[str, tuple]:
        out = {}
        for ax in fig.axes:
            for ln in ax.get_lines():
                if not ln.get_label().startswith("_") and "bound" not in ln.get_label():
                    out[ln.get_label().split(",")[0].split(":")[0]] = to_rgb(ln.get_color())
        return out

    a = colours(F.plot_accuracy_width(neurons, methods))
    assert a["hard"] == to_rgb(methods.color("hard")) and a["kd (τ=2)"] == to_rgb(methods.color("kd"))
    fig = F.plot_biasvar(biasvar, methods)
    legend = {t.get_text(): h for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}
    assert to_rgb(legend["kd (τ=2)"].get_color()) == a["kd (τ=2)"] and to_rgb(legend["hard"].get_color()) == a["hard"]


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
        "accuracy_width", "neurons_needed", "biasvar", "regularization_temperature", "regularization_epochs",
        "training_curves", "paperA_figure1"]
    one_width = [r for r in recs if r["width"] == 8]
    assert figplan.planned(one_width, KINDS, ["easy"], [], []) == ["biasvar", "training_curves"]


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
    assert re.search(r"neurons +hard +m=2 +hard +72\.0% +kd \(wide\) +77\.0% +soft - hard \+5\.0 points", text), text
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
    assert {ax.get_title().split("(")[1].split(")")[0] for ax in curves.axes} == {"neurons", "biasvar",
                                                                                  "paperA-table1"}
    for fig in (F.plot_accuracy_width(t["neurons"]),
                F.plot_neurons_needed(t["neurons_needed"], t["scaling"], t["neurons"], ["neurons"]),
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
    # claims, teachers
    assert len(produced) == 10 + len(TINY_FIGURES)
    assert sorted(results) == sorted(produced)
    for path in produced:
        kind = "figures" if path.endswith(".png") else "tables"
        caption = ROOT / "workflow" / "report" / kind / f"{Path(path).stem}.rst"
        entry = results[path]
        assert entry["name"] == Path(path).name
        assert f"<strong>{_caption_title(caption)}</strong>" in entry["caption"], (path, entry["caption"][:200])
        assert entry["data_uri"].startswith("data:") and len(entry["data_uri"]) > 100  # embedded: self-contained
    assert "reproduces two papers" in html  # the workflow description on the front page
    m = re.search(r"var categories = (?=\{)", html)
    categories = json.JSONDecoder().raw_decode(html, m.end())[0]
    assert set(categories) == {"Paper A (neurons)", "Paper B (bias-variance)", "Paper B (regularization samples)",
                               "Paper B (methods)", "Paper tables", "Claims", "Teachers"}
