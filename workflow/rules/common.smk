# Helpers shared by the rule files: the validated config, the cells it asks for, each rule's
# config slice and input functions. The logic lives in softlabels.config.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

import softlabels.config as C
from softlabels.errors import ConfigError

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
try:
    _validated = C.validate(config, SCHEMA)
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None
config.clear()
config.update(_validated)

EXPERIMENTS = C.experiment_cells(config)
CELLS = C.all_cells(config)
VARIANTS = C.method_variants(config)
RUN = "workflow/scripts/run.py"


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    teacher=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    method=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    student=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    width=r"[0-9]+",
    temperature=r"[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?",


def data_path(dataset):
    return f"results/data/{dataset}/data.npz"


def cell_path(cell, name):
    return f"{cell.path}/{name}"


def cell_records():
    """One record per (experiment, cell), the rows of every table."""
    return [
        {"experiment": exp, "dataset": c.dataset, "teacher": c.teacher, "method": c.method,
         "student": c.student, "width": c.width}
        for exp, cells in sorted(EXPERIMENTS.items()) for c in cells
    ]


def record_files(name, records=None):
    records = cell_records() if records is None else records
    return [f"results/students/{r['dataset']}/{r['teacher']}/{r['method']}/{r['student']}/m{r['width']}/{name}"
            for r in records]


# --- params: each rule's slice of the config -------------------------------------------------

def dataset_params(wildcards):
    return C.dataset_slice(config, wildcards.dataset)


def teacher_params(wildcards):
    return C.teacher_slice(config, wildcards.teacher)


def method_params(wildcards):
    return C.method_slice(config, wildcards.method)


def student_params(wildcards):
    return C.student_slice(config, wildcards.student)


# --- inputs ----------------------------------------------------------------------------------

def student_inputs(wildcards):
    inputs = {"data": data_path(wildcards.dataset)}
    m = VARIANTS[wildcards.method]
    if wildcards.teacher != C.NO_TEACHER:
        t = C.fmt_temperature(m["temperature"])
        inputs["soft"] = f"results/teachers/{wildcards.dataset}/{wildcards.teacher}/soft_T{t}.npz"
    return inputs


def raw_inputs(wildcards):
    """Raw files a real-data kind reads (none for synthetic and digits)."""
    return []


def all_tables():
    out = [f"results/tables/{t}.csv" for t in ("neurons", "neurons_needed", "scaling", "biasvar", "wsl")]
    if regularization_records():
        out.append("results/tables/regularization.csv")
    if paper_a_records():
        out.append("results/tables/paperA_table1.csv")
    return out


def regularization_records():
    return [r for r in cell_records() if r["teacher"] != C.NO_TEACHER and "temperature" in VARIANTS[r["method"]]]


def paper_a_records():
    return [r for r in cell_records() if config["datasets"][r["dataset"]]["kind"] in ("digits", "mnist")]


# --- table params ----------------------------------------------------------------------------

def datasets_used():
    return sorted({c.dataset for c in CELLS})


def neuron_table_params():
    return {"cells": cell_records(), "datasets": datasets_used(), "epsilons": config["tables"]["epsilons"],
            "interval": config["tables"]["interval"],
            "method_kinds": {m: VARIANTS[m]["kind"] for m in sorted({c.method for c in CELLS})}}


def direct_method():
    """The hard-label method that bias shifts are measured against (the first of kind 'hard')."""
    hard = sorted(m for m, v in VARIANTS.items() if v["kind"] == "hard")
    return hard[0] if hard else ""


def biasvar_table_params():
    return {"cells": cell_records(), "n_boot": config["tables"]["n_boot"], "interval": config["tables"]["interval"],
            "direct_method": direct_method(),
            "resampling": {s: v["resampling"] for s, v in config["students"].items()}}


def regularization_table_params():
    recs = regularization_records()
    return {"cells": recs, "rule": config["tables"]["regularization_rule"],
            "teacher_ls": {t: v["label_smoothing"] for t, v in config["teachers"].items()},
            "temperatures": {r["method"]: VARIANTS[r["method"]]["temperature"] for r in recs}}


def paper_a_params():
    recs = paper_a_records()
    teachers = sorted({(r["dataset"], r["teacher"]) for r in recs if r["teacher"] != C.NO_TEACHER})
    kinds = {r["method"]: VARIANTS[r["method"]]["kind"] for r in recs}
    pick = lambda kind: sorted(m for m, k in kinds.items() if k == kind)[:1] or [""]  # noqa: E731
    return {"cells": recs, "teacher_cells": [{"dataset": d, "teacher": t} for d, t in teachers],
            "reduced": {d: config["datasets"][d].get("reduced", False) for d in datasets_used()},
            "hard": pick("hard")[0], "soft": pick("kd")[0]}


def paper_a_teacher_files():
    return [f"results/teachers/{c['dataset']}/{c['teacher']}/teacher.json" for c in paper_a_params()["teacher_cells"]]
