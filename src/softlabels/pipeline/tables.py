"""The table rules: read each rule's input files, build the tables with ``softlabels.analysis.tables``
and write them as CSV, Markdown and a small HTML page for the report (atomically). Each input file is read once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from softlabels import io
from softlabels.analysis import tables as T


def write_table(table: T.Table, csv_path: str | Path) -> None:
    """The table as CSV (for programs), Markdown and HTML (for people: the report shows the .html)."""
    io.write_text(csv_path, table.frame.to_csv(index=False))
    io.write_text(Path(csv_path).with_suffix(".md"), T.markdown(table.frame, table.title, table.notes))
    io.write_text(Path(csv_path).with_suffix(".html"), T.html(table))


def _labels(paths: list[str]) -> list[np.ndarray]:
    """The test labels of each data file (a file listed twice is read once)."""
    cache: dict[str, np.ndarray] = {}
    for f in paths:
        if f not in cache:
            cache[f] = io.read_npz(f, required=("y_test",))["y_test"]
    return [cache[f] for f in paths]


def _accuracy(p: dict[str, Any], snk: Any) -> pd.DataFrame:
    logits = [io.read_npz(f, required=("test_logits",))["test_logits"] for f in snk.input.replicates]
    return T.accuracy_rows(p["cells"], logits, _labels(list(snk.input.data)))


def _teachers(p: dict[str, Any], snk: Any) -> dict[tuple[str, str], float]:
    return T.teacher_accuracy(p, [io.read_json(f) for f in snk.input.teachers])


def radius_used(replicates_file: str) -> float | None:
    """The radius B a theory-regime cell trained with, from the meta.json its job wrote beside its
    replicates.npz (``radius_used`` under radius auto, else the setup's own radius); None otherwise."""
    meta = io.read_json(Path(replicates_file).with_name("meta.json"))
    student = meta.get("config", {}).get("student", {})
    if student.get("regime") != "theory":
        return None
    used = meta.get("radius_used", student.get("radius"))
    return None if isinstance(used, str) else float(used)


def neuron_tables(snk: Any) -> None:
    p = dict(snk.params.p)
    labels = dict(zip(p["datasets"], _labels(list(snk.input.data))))
    margins = {ds: io.read_json(f) for ds, f in zip(p["datasets"], snk.input.margins)}
    reps = [io.read_npz(f, required=("train_err", "train_loss", "test_logits")) for f in snk.input.replicates]
    out = T.neuron_tables(p, reps, margins, labels, [radius_used(f) for f in snk.input.replicates])
    for name in ("neurons", "needed", "scaling"):
        write_table(out[name], getattr(snk.output, name))


def biasvar_table(snk: Any) -> None:
    """Each cell's per-point terms (written by its student job), summarised with intervals over
    resampled test points."""
    from softlabels.analysis.biasvar import summarise

    from softlabels.analysis.biasvar import log_softmax

    p = dict(snk.params.p)
    summaries, points = [], []
    for f in snk.input.points:
        terms = io.read_npz(f, required=("replicates", "ce_bias", "ce_variance"))
        replicates = int(terms.pop("replicates"))
        summaries.append({**summarise(terms, p["n_boot"], p["interval"], seed=0), "replicates": replicates})
        points.append(terms)
    # per-replicate test predictions: the shifts' intervals resample replicates as well as test points
    logp = [log_softmax(io.read_npz(f, required=("test_logits",))["test_logits"]) for f in snk.input.replicates]
    write_table(T.biasvar_table(p, summaries, points, logp, _labels(list(snk.input.data))), snk.output[0])


def regularization_table(snk: Any) -> None:
    p = dict(snk.params.p)
    reps = [io.read_npz(f) for f in snk.input.replicates]
    table, epochs = T.regularization_table(p, reps, _labels(list(snk.input.data)))
    write_table(table, snk.output.table)
    write_table(T.Table(epochs, "Regularization samples per epoch",
                        f"{table.notes} One row per cell and epoch, the mean over replicates."), snk.output.epochs)


def wsl_table(snk: Any) -> None:
    p = dict(snk.params.p)
    write_table(T.wsl_table(p, _accuracy(p, snk)), snk.output[0])


def paper_a_table1(snk: Any) -> None:
    p = dict(snk.params.p)
    write_table(T.paper_a_table1(p, _accuracy(p, snk), _teachers(p, snk)), snk.output[0])


def paper_a_figure1(snk: Any) -> None:
    p = dict(snk.params.p)
    write_table(T.paper_a_figure1(p, _accuracy(p, snk), _teachers(p, snk)), snk.output[0])


def paper_b_cifar100(snk: Any) -> None:
    p = dict(snk.params.p)
    write_table(T.paper_b_cifar100(p, _accuracy(p, snk), _teachers(p, snk)), snk.output[0])


def claims_table(snk: Any) -> None:
    """The claims of both papers that this run tests, with effects, intervals and verdicts."""
    from softlabels.analysis.biasvar import accuracy
    from softlabels.analysis.claims import NOTE
    from softlabels.analysis.claims import claims_table as build

    p = dict(snk.params.p)
    labels = dict(zip(p["datasets"], _labels(list(snk.input.data))))
    gammas = {ds: io.read_json(f).get("gamma") for ds, f in zip(p["datasets"], snk.input.margins)}
    gammas = {ds: float("nan") if g is None else float(g) for ds, g in gammas.items()}
    curves, acc, fractions = {}, {}, {}
    for cell, f in zip(p["cells"], snk.input.replicates):
        r = io.read_npz(f, required=("train_err", "test_logits", "indices"))
        key = tuple(cell[k] for k in ("experiment", "dataset", "teacher", "method", "student", "width"))
        curves[key] = r["train_err"]
        acc[key] = accuracy(r["test_logits"], labels[cell["dataset"]])
        if f"reg_{p['rule']}" in r and cell["teacher"] != "none":
            fractions[key] = r[f"reg_{p['rule']}"][:, -1] / r["indices"].shape[1]
    df = build(p, curves, acc, fractions, gammas, pd.read_csv(snk.input.scaling), pd.read_csv(snk.input.biasvar))
    write_table(T.Table(df, "Claims of papers A and B tested by this run", NOTE), snk.output[0])


def teachers_table(snk: Any) -> None:
    """Every teacher a cell distils from: accuracy, NLL and calibration per split, and τ*."""
    p = dict(snk.params.p)
    labels: dict[str, dict[str, np.ndarray]] = {}
    for f in snk.input.data:  # the labels only, not the images
        if f not in labels:
            labels[f] = io.read_npz(f, required=("y_train", "y_test"), only=("y_train", "y_val", "y_test"))
    records = [io.read_json(f) for f in snk.input.meta]
    logits = [io.read_npz(f, required=("logits_train", "logits_test")) for f in snk.input.logits]
    write_table(T.teachers_table(p, records, logits, [labels[f] for f in snk.input.data]), snk.output[0])
