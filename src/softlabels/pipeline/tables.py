"""The table rules: read each rule's input files, build the tables with ``softlabels.analysis.tables``
and write them as CSV, Markdown and a small HTML page for the report (atomically). Each input file is read once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from softlabels import io
from softlabels.analysis import tables as T
from softlabels.pipeline.plan import cell_file

log = logging.getLogger("softlabels")


def write_table(table: T.Table, csv_path: str | Path) -> None:
    """The table as CSV (for programs), Markdown and HTML (for people: the report shows the .html)."""
    io.write_text(csv_path, table.frame.to_csv(index=False))
    io.write_text(Path(csv_path).with_suffix(".md"), T.markdown(table.frame, table.title, table.notes))
    io.write_text(Path(csv_path).with_suffix(".html"), T.html(table))
    log.info("%s: %d rows, %d columns (and its .md and .html): %s", csv_path, len(table.frame),
             len(table.frame.columns), table.title)


def _labels(paths: list[str]) -> list[np.ndarray]:
    """The test labels of each data file (a file listed twice is read once)."""
    cache: dict[str, np.ndarray] = {}
    for f in paths:
        if f not in cache:
            cache[f] = io.read_npz(f, required=("y_test",))["y_test"]
    return [cache[f] for f in paths]


def _files(p: dict[str, Any], name: str) -> list[str]:
    """The ``name`` file of each of the rule's cells (its params' ``cells``), in their order. The rule lists
    the jobs' outputs as its inputs (an MLP group's folder, a CNN cell's file), not these files."""
    return [cell_file(c, name) for c in p["cells"]]


def _accuracy(p: dict[str, Any], snk: Any) -> pd.DataFrame:
    """Each cell's accuracy row; with intervals where the params give ``level`` and ``n_boot``."""
    logits = [io.read_npz(f, required=("test_logits",))["test_logits"] for f in _files(p, "replicates.npz")]
    interval = (p["level"], p["n_boot"]) if "level" in p else None
    return T.accuracy_rows(p["cells"], logits, _labels(list(snk.input.data)), interval)


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
    files = _files(p, "replicates.npz")
    reps = [io.read_npz(f, required=("train_err", "train_loss", "test_logits")) for f in files]
    out = T.neuron_tables(p, reps, margins, labels, [radius_used(f) for f in files])
    for name in ("neurons", "needed", "scaling"):
        write_table(out[name], getattr(snk.output, name))


def biasvar_table(snk: Any) -> None:
    """Each cell's per-point terms (written by its student job), summarised with intervals over
    resampled test points."""
    from softlabels.analysis.biasvar import log_softmax, summarise, unbiased_terms

    p = dict(snk.params.p)
    summaries, points = [], []
    for f in _files(p, "biasvar_points.npz"):
        terms = io.read_npz(f, required=("replicates", "ce_bias", "ce_variance"))
        replicates = int(terms.pop("replicates"))
        terms = unbiased_terms(terms, replicates)  # the CE variance and bias unbiased in R, beside the raw ones
        summaries.append({**summarise(terms, p["n_boot"], p["interval"], seed=0), "replicates": replicates})
        points.append(terms)
    # per-replicate test predictions: the shifts' intervals resample replicates as well as test points
    logp = [log_softmax(io.read_npz(f, required=("test_logits",))["test_logits"]) for f in _files(p, "replicates.npz")]
    write_table(T.biasvar_table(p, summaries, points, logp, _labels(list(snk.input.data))), snk.output[0])


def regularization_table(snk: Any) -> None:
    p = dict(snk.params.p)
    reps = [io.read_npz(f) for f in _files(p, "replicates.npz")]
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
    """The claims of both papers that this run tests, with effects, intervals and verdicts (claims.csv),
    and one pooled verdict per claim and experiment (claims_summary.csv)."""
    from softlabels.analysis.biasvar import accuracy, log_softmax
    from softlabels.analysis.claims import NOTE, summarise, summary_note
    from softlabels.analysis.claims import claims_table as build

    p = dict(snk.params.p)
    labels = dict(zip(p["datasets"], _labels(list(snk.input.data))))
    gammas = {ds: io.read_json(f).get("gamma") for ds, f in zip(p["datasets"], snk.input.margins)}
    gammas = {ds: float("nan") if g is None else float(g) for ds, g in gammas.items()}
    teachers = {(c["dataset"], c["teacher"]): io.read_json(f)
                for c, f in zip(p.get("teacher_cells", []), getattr(snk.input, "teachers", []))}
    curves, acc, preds, fractions, logp = {}, {}, {}, {}, {}
    for cell, f in zip(p["cells"], _files(p, "replicates.npz")):
        r = io.read_npz(f, required=("train_err", "test_logits", "indices"))
        key = tuple(cell[k] for k in ("experiment", "dataset", "teacher", "method", "student", "width"))
        curves[key] = r["train_err"]
        acc[key] = accuracy(r["test_logits"], labels[cell["dataset"]])
        preds[key] = np.asarray(r["test_logits"]).argmax(-1).astype(np.int32)  # (R, N): McNemar, identical arms
        if p["resampling"][cell["student"]] != "none":  # paper B's bias and variance, pooled over teacher seeds
            logp[key] = log_softmax(r["test_logits"])
        if f"reg_{p['rule']}" in r and cell["teacher"] != "none":
            fractions[key] = T.kept_counts(r, p["rule"]) / r["indices"].shape[1]  # at the kept epoch
    df = build(p, curves, acc, fractions, gammas, pd.read_csv(snk.input.scaling), pd.read_csv(snk.input.biasvar),
               preds=preds, labels=labels, teachers=teachers, logp=logp)
    write_table(T.Table(df, "Claims of papers A and B tested by this run", NOTE, group_by="claim",
                        first=("paper", "experiment", "setting", "verdict", "estimate", "claimed", "p_value")),
                snk.output.claims)
    write_table(T.Table(summarise(df, p["interval"]), "Claims: one verdict per claim and experiment",
                        summary_note(p["interval"])), snk.output.summary)


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


def sensitivity_table(snk: Any) -> None:
    """Each claim of the claims summary under the default design and every declared design variant, with its
    robustness label (softlabels.analysis.sensitivity)."""
    from softlabels.analysis import sensitivity as S

    summary = pd.read_csv(snk.input.summary)
    table = S.sensitivity_table(summary, dict(snk.params.p["variants"]))
    write_table(T.Table(table, "Sensitivity: each claim's verdict under declared alternative designs", S.NOTE,
                        group_by="claim", first=("paper", "base", "design", "varies", "verdict", "agreement",
                                                 "robustness")), snk.output.table)
