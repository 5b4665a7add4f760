"""Which figures a config gets and which cells each figure shows.

Plain Python on cell records (dicts with experiment, dataset, teacher, method, student, width, as in
the tables), so the Snakefile can import it cheaply to build its target list, and the figures apply
the very same selection to the tables' rows: a figure is planned only where it has data to show.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

Record = dict[str, Any]
NO_TEACHER = "none"

FIGURES = ("accuracy_width", "neurons_needed", "biasvar", "regularization_temperature", "regularization_epochs",
           "training_curves", "paperA_figure1", "crossover", "crossover_needed", "claims_forest",
           "sensitivity")  # the kinds; some are per experiment


def _key(r: Record, fields: Iterable[str]) -> tuple[Any, ...]:
    return tuple(r[f] for f in fields)


def width_sweeps(records: list[Record]) -> set[tuple[str, str, str]]:
    """(experiment, dataset, student) groups whose cells span at least two widths."""
    widths: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    for r in records:
        widths[_key(r, ("experiment", "dataset", "student"))].add(int(r["width"]))
    return {k for k, w in widths.items() if len(w) >= 2}  # type: ignore[misc]


def margin_sweeps(records: list[Record], binary_datasets: Iterable[str]) -> list[str]:
    """Experiments that sweep the width on at least two binary data sets (m*(ε) against γ needs both)."""
    binary = set(binary_datasets)
    per_exp: dict[str, set[str]] = defaultdict(set)
    for exp, ds, _ in width_sweeps(records):
        if ds in binary:
            per_exp[exp].add(ds)
    return sorted(e for e, d in per_exp.items() if len(d) >= 2)


def method_comparisons(records: list[Record]) -> set[tuple[str, str, str, int]]:
    """(experiment, dataset, student, width) groups of the experiments comparing the most methods,
    each at its widest width: the bias-variance figure's panels."""
    if not records:
        return set()
    methods: dict[str, set[str]] = defaultdict(set)
    for r in records:
        methods[r["experiment"]].add(r["method"])
    most = max(len(m) for m in methods.values())
    chosen = {e for e, m in methods.items() if len(m) == most}
    widest: dict[tuple[Any, ...], int] = {}
    for r in records:
        if r["experiment"] in chosen:
            k = _key(r, ("experiment", "dataset", "student"))
            widest[k] = max(widest.get(k, 0), int(r["width"]))
    return {(*k, w) for k, w in widest.items()}  # type: ignore[misc]


def temperature_sweeps(records: list[Record]) -> set[tuple[str, str, str, int]]:
    """(experiment, dataset, student, width) groups the regularization figures draw (records need a
    'temperature'): those with the most distinct temperatures among their distilled cells and, among them,
    those with the most teachers (the label-smoothing teacher's comparison), so that a run with one τ
    everywhere draws its teacher comparisons, not every width of every experiment."""
    temps: dict[tuple[Any, ...], set[float]] = defaultdict(set)
    teachers: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for r in records:
        if r["teacher"] != NO_TEACHER and r.get("temperature") is not None:
            k = _key(r, ("experiment", "dataset", "student", "width"))
            temps[k].add(float(r["temperature"]))
            teachers[k].add(r["teacher"])
    if not temps:
        return set()
    most = max((len(temps[k]), len(teachers[k])) for k in temps)
    return {(k[0], k[1], k[2], int(k[3])) for k in temps if (len(temps[k]), len(teachers[k])) == most}


def first_of_kind(kinds: dict[str, str], kind: str) -> str | None:
    """The first method (by name) of a kind: the hard-label method bias shifts are measured against.
    Figures and the run summary show every method of an experiment, not this one alone."""
    names = sorted(m for m, k in kinds.items() if k == kind)
    return names[0] if names else None


def curve_cells(records: list[Record], kinds: dict[str, str] | None = None) -> list[Record]:
    """Cells whose training curves are drawn: per experiment and data set, EVERY method (and teacher)
    of the experiment at the narrowest and the widest width (the figure keeps the hardest data set,
    which is only known once γ is measured). ``kinds`` is accepted for older callers and unused."""
    span: dict[tuple[Any, ...], tuple[int, int]] = {}
    for r in records:
        k = _key(r, ("experiment", "dataset", "student"))
        lo, hi = span.get(k, (int(r["width"]), int(r["width"])))
        span[k] = (min(lo, int(r["width"])), max(hi, int(r["width"])))
    out = [r for r in records if int(r["width"]) in span[_key(r, ("experiment", "dataset", "student"))]]
    return sorted(out, key=lambda r: _key(r, ("experiment", "dataset", "teacher", "method", "student", "width")))


# --- figures per experiment: neurons needed and the crossover over the radius B ----------------

NEURONS_NEEDED = "neurons_needed"
CROSSOVER = "crossover"
CROSSOVER_NEEDED = "crossover_needed"


def radius_string(r: Any) -> str:
    """A configured radius as names and tables write it: 'auto', or the number in its shortest form ('4', '0.5');
    the one rule for student setup names <setup>-B<r> (``softlabels.pipeline.config.radius_label``)."""
    return "auto" if str(r) == "auto" else f"{float(r):g}"


def crossover_experiments(records: list[Record], student_setups: dict[str, tuple[str, str]]) -> list[str]:
    """Experiments whose cells train at least two radius variants of one student setup (the crossover
    figures, one pair per experiment). ``records``: the cell records (experiment, student, ...);
    ``student_setups``: student variant name -> (setup, radius string), from the config's radius lists
    (``softlabels.pipeline.config.student_setup``: {"theory-B1": ("theory", "1"), "theory-Bauto": ("theory",
    "auto")}); students not in it are no variants."""
    radii: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        if r["student"] in student_setups:
            setup, radius = student_setups[r["student"]]
            radii[(r["experiment"], setup)].add(radius)
    return sorted({e for (e, _), rs in radii.items() if len(rs) >= 2})


def figure_file(kind: str, experiment: str) -> str:
    """The name of a per-experiment figure (no extension): ``neurons_needed_<experiment>``."""
    return f"{kind}_{experiment}"


CLAIMS_FOREST = "claims_forest"
SENSITIVITY = "sensitivity"


def claims_experiments(records: list[Record]) -> list[str]:
    """Experiments with a forest plot of their claims, ``claims_forest_<experiment>``: those with a cell that
    learns from a teacher. Every claim of either paper compares such a cell (a soft-label arm, WSL, filtered KD,
    KD's bias and variance, a label-smoothing teacher's regularization samples) with a reference, so an
    experiment of teacher-free cells alone tests none; one figure per experiment keeps each figure to the
    claims summary's rows of one experiment."""
    return sorted({r["experiment"] for r in records if r["teacher"] != NO_TEACHER})


def planned(records: list[Record], kinds: dict[str, str], binary_datasets: Iterable[str],
            reg_records: list[Record], tables: list[str],
            student_setups: dict[str, tuple[str, str]] | None = None) -> list[str]:
    """The figures this config gets (names without extension), each only where its selection is
    non-empty: one ``neurons_needed_<experiment>`` per experiment with a margin sweep, and one
    ``crossover_<experiment>`` and ``crossover_needed_<experiment>`` per experiment with radius variants
    (``student_setups``, see :func:`crossover_experiments`; none without it); with the claims table, one
    ``claims_forest_<experiment>`` per experiment that can test a claim (:func:`claims_experiments`); with the
    sensitivity table (a config with design variants), ``sensitivity``."""
    out = []
    if width_sweeps(records):
        out.append("accuracy_width")
    out += [figure_file(NEURONS_NEEDED, e) for e in margin_sweeps(records, binary_datasets)]
    if method_comparisons(records):
        out.append("biasvar")
    if "results/tables/regularization.csv" in tables and temperature_sweeps(reg_records):
        out += ["regularization_temperature", "regularization_epochs"]
    if curve_cells(records, kinds):
        out.append("training_curves")
    if "results/tables/paperA_figure1.csv" in tables:
        out.append("paperA_figure1")
    for e in crossover_experiments(records, student_setups or {}):
        out += [figure_file(CROSSOVER, e), figure_file(CROSSOVER_NEEDED, e)]
    if "results/tables/claims.csv" in tables:  # one forest plot per experiment: claims_forest_<experiment>
        out += [figure_file(CLAIMS_FOREST, e) for e in claims_experiments(records)]
    if "results/tables/sensitivity.csv" in tables:  # a config with design variants (experiments' variant_of)
        out.append(SENSITIVITY)
    return out


def method_names(methods: dict[str, dict[str, Any]], variants: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each method variant -> {"method": its config method, "temperature": τ or None}, in the config's
    order: what the figures need for one colour per config method and names that say τ (a temperature
    list expands a method NAME into variants NAME-T<τ>)."""
    variants = list(variants)
    out: dict[str, dict[str, Any]] = {}
    for name, m in methods.items():
        t = m.get("temperature")
        if isinstance(t, list):
            for v in variants:
                if v.startswith(f"{name}-T") and v not in out:
                    tau = v[len(name) + 2:]
                    out[v] = {"method": name, "temperature": float(tau)}
        elif name in variants:
            # 'auto' (the teacher's τ*, one per teacher) is no single τ: named like a method without one
            out[name] = {"method": name, "temperature": None if t is None or isinstance(t, str) else float(t)}
    return out
