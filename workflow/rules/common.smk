# Input functions and params of the stages (workflow/rules/*.smk): the validated config, the config slice and the
# inputs of each rule. What a config asks for (its cells, tables and their params) is decided by
# softlabels.pipeline.plan (pure functions of the config); these are thin wrappers around it.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config

ROOT = Path(workflow.basedir)  # the checkout (the Snakefile is at its root)
sys.path.insert(0, str(ROOT / "src"))  # this checkout's package, as in the jobs (scripts/)

import softlabels.pipeline.config as C
import softlabels.pipeline.plan as P
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
    P.check_targets(_validated)  # two planned outputs that are one file, named by their config keys
    if workflow.is_main_process:
        C.check_raw_dirs(_validated)  # each raw_dir holds its kind's files
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None
if workflow.is_main_process:  # once per run, not in every job's own parse of the Snakefile
    for _warning in C.advisories(_validated):
        print(f"softlabels: warning: {_warning}", file=sys.stderr)
config.clear()
config.update(_validated)

VARIANTS = C.method_variants(config)


def names_regex(names):
    """A wildcard constraint that matches exactly these names (no names: a pattern that never matches)."""
    names = sorted(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


# Routing: teachers and student setups whose model is a CNN (softlabels.models.cnn) are trained by the GPU
# rules of deep.smk, the MLP ones by train_teacher / train_students; each output has one producer, and
# the {student} constraints keep train_students' group folders and the CNN students' files apart.
MLP_TEACHERS = names_regex(t for t, v in config["teachers"].items() if not C.is_deep(v["model"]))
DEEP_TEACHERS = names_regex(t for t, v in config["teachers"].items() if C.is_deep(v["model"]))
MLP_STUDENTS = names_regex(P.mlp_students(config))
DEEP_STUDENTS = names_regex(P.deep_students(config))
DEEP_RESOURCES = config["deep_resources"]


def data_path(dataset):
    return P.data_path(dataset)


def cell_records():
    """One record per (experiment, cell), the rows of every table."""
    return P.cell_records(config)


def record_files(name, records=None):
    """What a table or figure reading the ``name`` file of these cells (default: all) lists as inputs, i.e.
    each cell's job output, once (an MLP group's folder, a CNN cell's file). Its code reads the files at
    softlabels.pipeline.plan.cell_file(record, name), from its params' cells."""
    return P.cell_inputs(config, cell_records() if records is None else records, name)


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
    return P.teacher_logits_path(dataset, teacher)


def student_inputs(wildcards):
    """The data set, and the teacher's logits for a distilling method (every temperature reads them)."""
    inputs = {"data": data_path(wildcards.dataset)}
    if wildcards.teacher != C.NO_TEACHER:
        inputs["teacher"] = teacher_logits_path(wildcards.dataset, wildcards.teacher)
    if config["students"][wildcards.student].get("radius") == "auto":  # B from the data set's solved margin
        inputs["margin"] = f"results/data/{wildcards.dataset}/margin.json"
        # a distilling group waits for its B = 1 sibling, which it equals when B resolves to 1 (store hit)
        sibling = P.auto_radius_sibling(config, wildcards.student, wildcards.teacher)
        if sibling:
            inputs["sibling"] = f"results/students/{wildcards.dataset}/{wildcards.teacher}/{wildcards.method}/{sibling}"
    return inputs


def deep_student_inputs(wildcards):
    """student_inputs, plus the teacher's checkpoint where the teacher must see the augmented batches."""
    inputs = student_inputs(wildcards)
    if "teacher" in inputs and config["students"][wildcards.student]["augment"]:
        inputs["teacher_checkpoint"] = f"results/teachers/{wildcards.dataset}/{wildcards.teacher}/teacher.pt"
    return inputs


def raw_inputs(wildcards):
    """Raw files a real-data kind reads (none for synthetic and digits): those in the data set's
    raw_dir, else the download rule's results/raw/<source>/<file>."""
    d = config["datasets"][wildcards.dataset]
    return R.raw_paths(d["kind"], d.get("raw_dir"))


def download_params(wildcards):
    return C.download_slice(config, wildcards.source, wildcards.file)


# --- tables: which a config gets, the cells each reads, their params (softlabels.pipeline.plan) ------


def all_tables():
    return P.all_tables(config)


def kind_records(kind):
    return P.kind_records(config, kind)


def regularization_records():
    return P.regularization_records(config)


def paper_a_records():
    return P.paper_a_records(config)


def datasets_used():
    return P.datasets_used(config)


def teacher_cells(records):
    return P.teacher_cells(records)


def teacher_files(records):
    return P.teacher_files(records)


def neuron_table_params():
    return P.neuron_table_params(config)


def biasvar_table_params():
    return P.biasvar_table_params(config)


def claims_table_params():
    return P.claims_table_params(config)


def sensitivity_table_params():
    return P.sensitivity_table_params(config)


def regularization_table_params():
    return P.regularization_table_params(config)


def teacher_table_params():
    return P.teacher_table_params(config)


def paper_a_params():
    return P.paper_a_params(config)


def deep_table_params(kind):
    return P.deep_table_params(config, kind)


# --- figures (softlabels.pipeline.plan plans them with softlabels.report.figplan; softlabels.report.figures draws them) ----


def method_kinds():
    return P.method_kinds(config)


def all_figures():
    return P.all_figures(config)


def neurons_needed_experiments():
    """Experiments with a neurons-needed figure: the width swept on at least two binary data sets."""
    return P.neurons_needed_experiments(config)


def crossover_experiments():
    """Experiments with crossover figures: a student setup trained at two or more radii."""
    return P.crossover_experiments(config)


def claims_forest_experiments():
    """Experiments with a forest plot of their claims: a cell that learns from a teacher."""
    return P.claims_forest_experiments(config)


def primary_epsilon():
    """The ε paper A's claims are judged at (tables.primary_epsilon, else the median of tables.epsilons)."""
    return P.primary_epsilon(config)


def curve_records():
    return FP.curve_cells(cell_records(), method_kinds())
