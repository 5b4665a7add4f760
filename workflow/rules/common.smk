# Helpers shared by all rule files (the validated config, the cells it asks for, the config slice
# of each rule and the input functions). The logic lives in softlabels.pipeline.config.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config

ROOT = Path(workflow.basedir).parent  # the checkout (workflow/Snakefile)
sys.path.insert(0, str(ROOT / "src"))  # this checkout's package, as in the jobs (scripts/)

import softlabels.pipeline.config as C
import softlabels.report.figplan as FP
import softlabels.data.raw as R
import softlabels.registry as REG
from softlabels.errors import ConfigError

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
# config.yaml in the working directory is the default; a --configfile replaces it (it is not merged
# with it, so a user's config runs only what it names); --config KEY=VALUE overrides either.
try:
    if workflow.config_settings.configfiles:
        for _file in workflow.config_settings.configfiles:
            C.read_yaml(_file)  # Snakemake's own loader keeps the last of a key written twice; ours refuses it
        _config = config
    else:
        _default = Path("config.yaml")
        if not _default.exists():
            raise ConfigError(f"{_default.resolve()} does not exist; pass --configfile FILE")
        _config = C.read_yaml(_default)
        update_config(_config, config)
    _validated = C.validate(_config, SCHEMA)
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None
config.clear()
config.update(_validated)

EXPERIMENTS = C.experiment_cells(config)
CELLS = C.all_cells(config)
VARIANTS = C.method_variants(config)


def names_regex(names):
    """A wildcard constraint that matches exactly these names (no names: a pattern that never matches)."""
    names = sorted(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


# Routing: teachers and student setups whose model is a CNN (softlabels.models.cnn) are trained by the GPU
# rules of deep.smk, the MLP ones by train_teacher / train_students; each output has one producer.
MLP_TEACHERS = names_regex(t for t, v in config["teachers"].items() if not C.is_deep(v["model"]))
DEEP_TEACHERS = names_regex(t for t, v in config["teachers"].items() if C.is_deep(v["model"]))
MLP_STUDENTS = names_regex(s for s, v in config["students"].items() if not C.is_deep(v["model"]))
DEEP_STUDENTS = names_regex(s for s, v in config["students"].items() if C.is_deep(v["model"]))
DEEP_RESOURCES = config["deep_resources"]


def data_path(dataset):
    return f"results/data/{dataset}/data.npz"


def cell_records():
    """One record per (experiment, cell), the rows of every table."""
    return [
        {
            "experiment": exp,
            "dataset": c.dataset,
            "teacher": c.teacher,
            "method": c.method,
            "student": c.student,
            "width": c.width,
        }
        for exp, cells in sorted(EXPERIMENTS.items())
        for c in cells
    ]


def record_files(name, records=None):
    records = cell_records() if records is None else records
    return [f"{C.Cell(r['dataset'], r['teacher'], r['method'], r['student'], r['width']).path}/{name}" for r in records]


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


def teacher_logits_path(dataset, teacher):
    return f"results/teachers/{dataset}/{teacher}/logits.npz"


def student_inputs(wildcards):
    """The data set, and the teacher's logits for a distilling method (every temperature reads them)."""
    inputs = {"data": data_path(wildcards.dataset)}
    if wildcards.teacher != C.NO_TEACHER:
        inputs["teacher"] = teacher_logits_path(wildcards.dataset, wildcards.teacher)
    if config["students"][wildcards.student].get("radius") == "auto":  # B from the data set's solved margin
        inputs["margin"] = f"results/data/{wildcards.dataset}/margin.json"
    return inputs


def deep_student_inputs(wildcards):
    """student_inputs, plus the teacher's checkpoint where the teacher must see the augmented batches."""
    inputs = student_inputs(wildcards)
    if "teacher" in inputs and config["students"][wildcards.student]["augment"]:
        inputs["teacher_checkpoint"] = f"results/teachers/{wildcards.dataset}/{wildcards.teacher}/teacher.pt"
    return inputs


def student_group_outputs(setup):
    """The per-width outputs of one MLP student job: every width of ``setup``, for one (data set,
    teacher, method); the {student} wildcard is constrained to ``setup`` alone."""
    widths = C.student_widths(config, setup)
    cell = "results/students/{{dataset}}/{{teacher}}/{{method}}/{{student}}/m{width}/{file}"
    return {name: [cell.format(width=w, file=f) for w in widths] for name, f in STUDENT_FILES.items()}


# What a student job writes for each cell (softlabels.pipeline.rules.write_students).
STUDENT_FILES = {"replicates": "replicates.npz", "points": "biasvar_points.npz", "meta": "meta.json"}
# The MLP student setups and their rules: train_students_<setup>, '_' for what a rule name cannot hold.
MLP_SETUPS = {
    s: "train_students_{}".format(re.sub(r"\W", "_", s))
    for s, v in config["students"].items()
    if not C.is_deep(v["model"])
}
if len(set(MLP_SETUPS.values())) < len(MLP_SETUPS):
    raise WorkflowError(
        f"invalid config: student setups {sorted(MLP_SETUPS)} differ only in characters other than "
        "letters, digits and '_'; rename one"
    )


def raw_inputs(wildcards):
    """Raw files a real-data kind reads (none for synthetic and digits): those in the data set's
    raw_dir, else the download rule's results/raw/<source>/<file>."""
    d = config["datasets"][wildcards.dataset]
    return R.raw_paths(d["kind"], d.get("raw_dir"))


def download_params(wildcards):
    return C.download_slice(config, wildcards.source, wildcards.file)


def all_tables():
    out = [f"results/tables/{t}.csv" for t in ("neurons", "neurons_needed", "scaling", "biasvar", "wsl", "claims")]
    if teacher_cells(cell_records()):
        out.append("results/tables/teachers.csv")
    if regularization_records():
        out.append("results/tables/regularization.csv")
    if paper_a_records():
        out.append("results/tables/paperA_table1.csv")
    if kind_records("cifar10-catdog"):
        out.append("results/tables/paperA_figure1.csv")
    if kind_records("cifar100"):
        out.append("results/tables/paperB_cifar100.csv")
    return out


def kind_records(kind):
    """Cell records on data sets of one kind (cifar10-catdog: paper A's Figure 1; cifar100: paper B)."""
    return [r for r in cell_records() if config["datasets"][r["dataset"]]["kind"] == kind]


def regularization_records():
    """Distilled cells whose method has a numeric temperature: the regularization table and its figures
    (a method with temperature 'auto' has a τ per teacher, not one τ of a sweep: it is left out)."""
    return [
        r
        for r in cell_records()
        if r["teacher"] != C.NO_TEACHER and C.numeric_temperature(VARIANTS[r["method"]]) is not None
    ]


def paper_a_records():
    return [r for r in cell_records() if config["datasets"][r["dataset"]]["kind"] in ("digits", "mnist1d", "mnist")]


# --- table params ----------------------------------------------------------------------------


def datasets_used():
    return sorted({c.dataset for c in CELLS})


def student_setups():
    """Student setup -> its base setup and configured radius label (softlabels.pipeline.config.student_setup)."""
    return {s: dict(zip(("setup", "radius"), C.student_setup(config, s))) for s in sorted(config["students"])}


def neuron_table_params():
    return {
        "cells": cell_records(),
        "datasets": datasets_used(),
        "student_setups": student_setups(),
        "epsilons": config["tables"]["epsilons"],
        "interval": config["tables"]["interval"],
        "method_kinds": {m: VARIANTS[m]["kind"] for m in sorted({c.method for c in CELLS})},
    }


def direct_method():
    """The hard-label method that bias shifts are measured against (the first of kind 'hard')."""
    return FP.first_of_kind(method_kinds(), "hard") or ""


def biasvar_table_params():
    return {
        "cells": cell_records(),
        "n_boot": config["tables"]["n_boot"],
        "interval": config["tables"]["interval"],
        "direct_method": direct_method(),
        "resampling": {s: v["resampling"] for s, v in config["students"].items()},
    }


def claims_table_params():
    """What the claims table needs to pair cells and state settings (softlabels.analysis.claims)."""
    methods = sorted({c.method for c in CELLS})
    return {
        "cells": cell_records(),
        "datasets": datasets_used(),
        "method_kinds": {m: VARIANTS[m]["kind"] for m in methods},
        "method_params": {m: VARIANTS[m] for m in methods},
        "teacher_ls": {t: v["label_smoothing"] for t, v in config["teachers"].items()},
        "regimes": {s: v["regime"] for s, v in config["students"].items()},
        "student_setups": student_setups(),
        "teacher_models": {t: v["model"] for t, v in config["teachers"].items()},
        "data_kinds": {d: config["datasets"][d]["kind"] for d in datasets_used()},
        "data_targets": {d: config["datasets"][d].get("target", "") for d in datasets_used()},
        "direct_method": direct_method(),
        "epsilons": config["tables"]["epsilons"],
        "interval": config["tables"]["interval"],
        "n_boot": config["tables"]["n_boot"],
        "rule": config["tables"]["regularization_rule"],
        "seed": config["seed"],
    }


def regularization_table_params():
    recs = regularization_records()
    return {
        "cells": recs,
        "rule": config["tables"]["regularization_rule"],
        "teacher_ls": {t: v["label_smoothing"] for t, v in config["teachers"].items()},
        "temperatures": {r["method"]: VARIANTS[r["method"]]["temperature"] for r in recs},
    }


def teacher_cells(records):
    """The (data set, teacher) pairs these cells distil from, as records."""
    pairs = sorted({(r["dataset"], r["teacher"]) for r in records if r["teacher"] != C.NO_TEACHER})
    return [{"dataset": d, "teacher": t} for d, t in pairs]


def teacher_files(records):
    """teacher.json of every teacher these cells distil from, in ``teacher_cells`` order."""
    return [f"results/teachers/{c['dataset']}/{c['teacher']}/teacher.json" for c in teacher_cells(records)]


def teacher_table_params():
    """The teachers table: every (data set, teacher) a cell distils from, with each teacher's model and
    label smoothing."""
    cells = teacher_cells(cell_records())
    return {
        "teacher_cells": cells,
        "teachers": {
            t: {"model": config["teachers"][t]["model"], "label_smoothing": config["teachers"][t]["label_smoothing"]}
            for t in sorted({c["teacher"] for c in cells})
        },
    }


def first_method(records, kind):
    """The first (by name) method of a kind among these cells, or '' if none."""
    return FP.first_of_kind({r["method"]: VARIANTS[r["method"]]["kind"] for r in records}, kind) or ""


def paper_a_params():
    recs = paper_a_records()
    return {
        "cells": recs,
        "teacher_cells": teacher_cells(recs),
        "reduced": {d: config["datasets"][d].get("reduced", False) for d in datasets_used()},
        "hard": first_method(recs, "hard"),
        "soft": first_method(recs, "kd"),
    }


def deep_table_params(kind):
    """Params of paper A's Figure 1 (kind cifar10-catdog) or paper B's CIFAR-100 table (kind cifar100)."""
    recs = kind_records(kind)
    cells = teacher_cells(recs)
    methods = {
        "hard": first_method(recs, "hard"),
        "soft": first_method(recs, "kd"),
        "kd": first_method(recs, "kd"),
        "wsl": first_method(recs, "wsl"),
    }
    return {
        "cells": recs,
        "teacher_cells": cells,
        "noise_variance": {r["dataset"]: config["datasets"][r["dataset"]].get("noise_variance") for r in recs},
        "teacher_models": {
            t: {"model": config["teachers"][t]["model"], "width": config["teachers"][t]["width"]}
            for t in sorted({c["teacher"] for c in cells})
        },
        "student_models": {r["student"]: config["students"][r["student"]]["model"] for r in recs},
        "base_widths": REG.deep_models(),
        **methods,
        "method_params": {m: VARIANTS[m] for m in methods.values() if m},
    }


# --- figures (softlabels.report.figplan decides which a config gets; softlabels.report.figures draws them) ----


def method_kinds():
    return {m: v["kind"] for m, v in sorted(VARIANTS.items())}


def binary_datasets():
    """Data sets with two classes, where the kernel margin γ is defined (cifar100 has 100)."""
    return [d for d in datasets_used() if REG.DATA_KINDS[config["datasets"][d]["kind"]].binary]


def regularization_temperature_records():
    return [{**r, "temperature": VARIANTS[r["method"]]["temperature"]} for r in regularization_records()]


def student_radius_variants():
    """Student variant -> (setup, radius label) for the cells' students that come from a radius list
    (<setup>-B<r>, softlabels.pipeline.config.expand_student_variants): what plans the crossover figures."""
    names = {r["student"] for r in cell_records()}
    return {s: C.student_setup(config, s) for s in sorted(names) if "variant_of" in config["students"][s]}


def figure_names():
    """Every figure of this config, without extension; the per-experiment ones are named
    neurons_needed_<experiment>, crossover_<experiment> and crossover_needed_<experiment>."""
    return FP.planned(
        cell_records(),
        method_kinds(),
        binary_datasets(),
        regularization_temperature_records(),
        all_tables(),
        student_radius_variants(),
    )


def all_figures():
    return [f"results/figures/{name}.{ext}" for name in figure_names() for ext in ("png", "svg")]


def neurons_needed_experiments():
    """Experiments with a neurons-needed figure: the width swept on at least two binary data sets."""
    return FP.margin_sweeps(cell_records(), binary_datasets())


def crossover_experiments():
    """Experiments with crossover figures: a student setup trained at two or more radii."""
    return FP.crossover_experiments(cell_records(), student_radius_variants())


def neurons_needed_figure_params():
    return {"experiments": neurons_needed_experiments()}


def curve_records():
    return FP.curve_cells(cell_records(), method_kinds())
