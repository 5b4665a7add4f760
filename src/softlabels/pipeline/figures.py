"""The figure rules: read each rule's tables (and replicate files), draw with ``softlabels.report.figures``
and write a PNG and an SVG."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from softlabels import io
from softlabels.errors import InputError
from softlabels.pipeline.plan import cell_file
from softlabels.report.figures import (
    CELL,
    CLAIMS_COLUMNS,
    SENSITIVITY_COLUMNS,
    Figure,
    Methods,
    curve_frame,
    hardest_datasets,
    plot_accuracy_width,
    plot_biasvar,
    plot_claims_forest,
    plot_crossover,
    plot_crossover_needed,
    plot_neurons_needed,
    plot_paper_a_figure1,
    plot_regularization_epochs,
    plot_regularization_temperature,
    plot_sensitivity,
    plot_training_curves,
    save,
)

log = logging.getLogger("softlabels")


def read_table(path: str | Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """A table CSV with the columns a figure needs; a missing, empty or incomplete file raises InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV table: {exc}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing}; found {list(df.columns)}")
    return df


def _out(snk: Any, fig: Figure) -> None:
    panels = sum(ax.get_visible() for ax in fig.axes)
    save(fig, snk.output.png, snk.output.svg)
    log.info("%s: %d panels from %d input files; wrote %s and %s", snk.rule, panels, len(snk.input),
             snk.output.png, snk.output.svg)


def _methods(snk: Any) -> Methods:
    """The config's methods (one colour each in every figure), from the rule's params."""
    return Methods(dict(snk.params.p.get("methods") or {}))


def figure_accuracy_width(snk: Any) -> None:
    _out(snk, plot_accuracy_width(read_table(snk.input.neurons, CELL + ["gamma", "test_acc_mean", "test_acc_std"]),
                                  _methods(snk)))


def figure_neurons_needed(snk: Any) -> None:
    needed = read_table(snk.input.needed, ["experiment", "dataset", "method", "teacher", "student", "gamma",
                                           "epsilon", "m_star"])
    scaling = read_table(snk.input.scaling, ["experiment", "method", "teacher", "student", "epsilon", "slope",
                                             "slope_lo", "slope_hi", "intercept"])
    neurons = read_table(snk.input.neurons, CELL)
    _out(snk, plot_neurons_needed(needed, scaling, neurons, str(snk.wildcards.experiment), _methods(snk),
                                  snk.params.p.get("interval"), snk.params.p.get("epsilon")))


CROSSOVER_COLUMNS = CELL + ["gamma", "setup", "radius", "radius_used", "train_err_mean_iter"]


def figure_crossover(snk: Any) -> None:
    neurons = read_table(snk.input.neurons, CROSSOVER_COLUMNS)
    _out(snk, plot_crossover(neurons, str(snk.wildcards.experiment), _methods(snk)))


def figure_crossover_needed(snk: Any) -> None:
    neurons = read_table(snk.input.neurons, CROSSOVER_COLUMNS)
    needed = read_table(snk.input.needed, ["experiment", "dataset", "method", "teacher", "student", "gamma",
                                           "epsilon", "m_star"])
    _out(snk, plot_crossover_needed(needed, neurons, str(snk.wildcards.experiment), _methods(snk)))


def figure_claims_forest(snk: Any) -> None:
    claims = read_table(snk.input.claims, CLAIMS_COLUMNS)
    _out(snk, plot_claims_forest(claims, str(snk.wildcards.experiment)))


def figure_sensitivity(snk: Any) -> None:
    _out(snk, plot_sensitivity(read_table(snk.input.table, SENSITIVITY_COLUMNS)))


def figure_biasvar(snk: Any) -> None:
    cols = [f"ce_{t}{s}" for t in ("bias", "variance") for s in ("", "_lo", "_hi")]
    _out(snk, plot_biasvar(read_table(snk.input[0], CELL + cols), _methods(snk), snk.params.p.get("interval")))


REG_COLUMNS = CELL + ["temperature", "teacher_label_smoothing", "fraction_final"]


def figure_regularization_temperature(snk: Any) -> None:
    _out(snk, plot_regularization_temperature(read_table(snk.input.table, REG_COLUMNS), dict(snk.params.p["kinds"]),
                                              _methods(snk)))


def figure_regularization_epochs(snk: Any) -> None:
    _out(snk, plot_regularization_epochs(read_table(snk.input.table, REG_COLUMNS),
                                         read_table(snk.input.epochs, CELL + ["epoch", "fraction"]), _methods(snk)))


def figure_paper_a_figure1(snk: Any) -> None:
    _out(snk, plot_paper_a_figure1(read_table(snk.input[0])))


def figure_training_curves(snk: Any) -> None:
    neurons = read_table(snk.input.neurons, CELL + ["gamma", "test_acc_mean"])
    cells = list(snk.params.p["cells"])  # the inputs are their jobs' outputs: read each cell's own file
    curves = curve_frame(cells, [io.read_npz(cell_file(c, "replicates.npz"), required=("train_loss", "train_err"))
                                 for c in cells])
    _out(snk, plot_training_curves(curves, hardest_datasets(neurons), _methods(snk)))
