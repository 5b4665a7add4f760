"""What a config asks of the workflow: its cells, the tables it gets and each table rule's params, the
student jobs' outputs and where a cell's files lie.

Pure functions of the validated config (``softlabels.pipeline.config.validate``), free of Snakemake;
``workflow/rules/common.smk`` wraps them as the rules' input functions and params. Which figures a config
gets is ``softlabels.report.figplan``'s.
"""

from __future__ import annotations

from typing import Any

from softlabels import registry as REG
from softlabels.errors import ConfigError
from softlabels.pipeline import config as C

Record = dict[str, Any]

#: What a student job writes for each cell (``softlabels.pipeline.rules.write_students``): output name -> file.
STUDENT_FILES = {"replicates": "replicates.npz", "points": "biasvar_points.npz", "meta": "meta.json"}


# --- cells and their files ----------------------------------------------------------------------


def student_setups(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Student setup name (a cell's ``student``, the {student} wildcard) -> its config."""
    return cfg["students"]


def mlp_students(cfg: dict[str, Any]) -> list[str]:
    """The student setups trained by ``train_students`` (one job per group, every width inside)."""
    return sorted(s for s, v in student_setups(cfg).items() if not C.is_deep(v["model"]))


def deep_students(cfg: dict[str, Any]) -> list[str]:
    """The CNN student setups, trained by ``train_deep_students`` (one job per width)."""
    return sorted(s for s, v in student_setups(cfg).items() if C.is_deep(v["model"]))


def cell_records(cfg: dict[str, Any]) -> list[Record]:
    """One record per (experiment, cell), the rows of every table."""
    return [
        {"experiment": exp, "dataset": c.dataset, "teacher": c.teacher, "method": c.method, "student": c.student,
         "width": c.width}
        for exp, cells in sorted(C.experiment_cells(cfg).items())
        for c in cells
    ]


def cell_path(record: Record) -> str:
    """The folder of a cell's files: results/students/<dataset>/<teacher>/<method>/<student>/m<width>."""
    return C.Cell(record["dataset"], record["teacher"], record["method"], record["student"], record["width"]).path


def group_path(record: Record) -> str:
    """The one output of the ``train_students`` job that trains a cell: the folder of its group, every width
    of one (data set, teacher, method, MLP student setup) in m<width>/ below it."""
    return cell_path(record).rpartition("/")[0]


def cell_file(record: Record, name: str) -> str:
    """One file of a cell (``name``: one of STUDENT_FILES' values); rules that read cells read these paths."""
    return f"{cell_path(record)}/{name}"


def cell_inputs(cfg: dict[str, Any], records: list[Record], name: str) -> list[str]:
    """What a rule that reads the ``name`` file of these cells must list as inputs: the output of each cell's
    job, each once, in record order. That is the group folder of an MLP cell (Snakemake cannot take a
    file inside another job's directory output as an input) and the file itself for a CNN cell."""
    deep = set(deep_students(cfg))
    out = [cell_file(r, name) if r["student"] in deep else group_path(r) for r in records]
    return list(dict.fromkeys(out))


def data_path(dataset: str) -> str:
    return f"results/data/{dataset}/data.npz"


def margin_path(dataset: str) -> str:
    return f"results/data/{dataset}/margin.json"


def teacher_logits_path(dataset: str, teacher: str) -> str:
    return f"results/teachers/{dataset}/{teacher}/logits.npz"


def student_group_output() -> str:
    """The output of a ``train_students`` job: one folder per group (see ``group_path``)."""
    return "results/students/{dataset}/{teacher}/{method}/{student}"


# --- which cells each table reads -----------------------------------------------------------------


def datasets_used(cfg: dict[str, Any]) -> list[str]:
    return sorted({c.dataset for c in C.all_cells(cfg)})


def kind_records(cfg: dict[str, Any], kind: str) -> list[Record]:
    """Cell records on data sets of one kind (cifar10-catdog: paper A's Figure 1; cifar100: paper B)."""
    return [r for r in cell_records(cfg) if cfg["datasets"][r["dataset"]]["kind"] == kind]


def regularization_records(cfg: dict[str, Any]) -> list[Record]:
    """Distilled cells whose method has a numeric temperature: the regularization table and its figures
    (a method with temperature 'auto' has a τ per teacher, not one τ of a sweep: it is left out)."""
    variants = C.method_variants(cfg)
    return [
        r
        for r in cell_records(cfg)
        if r["teacher"] != C.NO_TEACHER and C.numeric_temperature(variants[r["method"]]) is not None
    ]


def paper_a_records(cfg: dict[str, Any]) -> list[Record]:
    return [r for r in cell_records(cfg) if cfg["datasets"][r["dataset"]]["kind"] in ("digits", "mnist1d", "mnist")]


def teacher_cells(records: list[Record]) -> list[Record]:
    """The (data set, teacher) pairs these cells distil from, as records."""
    pairs = sorted({(r["dataset"], r["teacher"]) for r in records if r["teacher"] != C.NO_TEACHER})
    return [{"dataset": d, "teacher": t} for d, t in pairs]


def teacher_files(records: list[Record]) -> list[str]:
    """teacher.json of every teacher these cells distil from, in ``teacher_cells`` order."""
    return [f"results/teachers/{c['dataset']}/{c['teacher']}/teacher.json" for c in teacher_cells(records)]


def all_tables(cfg: dict[str, Any]) -> list[str]:
    """The CSV of every table this config gets (each with its .md and .html beside it)."""
    out = [f"results/tables/{t}.csv" for t in ("neurons", "neurons_needed", "scaling", "biasvar", "wsl", "claims",
                                                  "claims_summary")]
    if teacher_cells(cell_records(cfg)):
        out.append("results/tables/teachers.csv")
    if regularization_records(cfg):
        out.append("results/tables/regularization.csv")
    if paper_a_records(cfg):
        out.append("results/tables/paperA_table1.csv")
    if kind_records(cfg, "cifar10-catdog"):
        out.append("results/tables/paperA_figure1.csv")
    if kind_records(cfg, "cifar100"):
        out.append("results/tables/paperB_cifar100.csv")
    if C.design_variants(cfg):  # each claim re-tested under the declared design variants
        out.append("results/tables/sensitivity.csv")
    return out


# --- table params -------------------------------------------------------------------------------


def method_kinds(cfg: dict[str, Any], records: list[Record] | None = None) -> dict[str, str]:
    """Method (variant) name -> kind, of every method or of those of ``records``."""
    variants = C.method_variants(cfg)
    names = sorted(variants) if records is None else sorted({r["method"] for r in records})
    return {m: variants[m]["kind"] for m in names}


def role_methods(cfg: dict[str, Any], records: list[Record] | None, roles: tuple[str, ...]) -> dict[str, str]:
    """For each role a table compares (``softlabels.registry.METHODS``' ``roles``: 'hard', 'soft', 'kd',
    'wsl'), the first of ``methods_in_role``, or ''."""
    return {role: next(iter(methods_in_role(cfg, records, role)), "") for role in roles}


def methods_in_role(cfg: dict[str, Any], records: list[Record] | None, role: str) -> list[str]:
    """The methods among these cells' (None: the config's) whose kind plays ``role``, by name, those of a
    fixed temperature before those whose τ is each teacher's own ('auto')."""
    variants = C.method_variants(cfg)
    return [m for _, m in sorted((variants[m].get("temperature") == C.AUTO, m)
                                 for m, k in method_kinds(cfg, records).items() if role in REG.METHODS[k].roles)]


def direct_method(cfg: dict[str, Any]) -> str:
    """The hard-label method that bias shifts are measured against: the config's first whose kind plays 'hard'."""
    return role_methods(cfg, None, ("hard",))["hard"]


def auto_radius_sibling(cfg: dict[str, Any], student: str, teacher: str) -> str | None:
    """The setup a distilling group of radius ``auto`` waits for: its sibling setup (the same radius list's
    setup) at the kernel-limit teacher's radius B = 1, where the theorem's radius of a student of that teacher
    resolves (``softlabels.theory.radius``), so that the sibling's store entry is there to be copied instead of
    trained again (``softlabels.pipeline.store``); None for other groups or when the list has no B = 1."""
    from softlabels.theory.radius import KERNEL_TEACHER_RADIUS

    st = cfg["students"][student]
    if teacher == C.NO_TEACHER or st.get("radius") != C.AUTO or "variant_of" not in st:
        return None
    sibling = f"{st['variant_of']}-B{C.radius_label(KERNEL_TEACHER_RADIUS)}"
    return sibling if sibling in cfg["students"] and sibling != student else None


def student_radii(cfg: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Student setup -> its base setup and configured radius label (``config.student_setup``): 'theory-B4' ->
    {'setup': 'theory', 'radius': '4'}; what names a cell's training regime in the tables and claims."""
    return {s: dict(zip(("setup", "radius"), C.student_setup(cfg, s))) for s in sorted(cfg["students"])}


def neuron_table_params(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "cells": cell_records(cfg),
        "datasets": datasets_used(cfg),
        "student_setups": student_radii(cfg),
        "epsilons": cfg["tables"]["epsilons"],
        "interval": cfg["tables"]["interval"],
        "method_kinds": method_kinds(cfg, cell_records(cfg)),
    }


def biasvar_table_params(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "cells": cell_records(cfg),
        "n_boot": cfg["tables"]["n_boot"],
        "interval": cfg["tables"]["interval"],
        "direct_method": direct_method(cfg),
        "resampling": {s: v["resampling"] for s, v in student_setups(cfg).items()},
    }


def claims_table_params(cfg: dict[str, Any]) -> dict[str, Any]:
    """What the claims table needs to pair cells and state settings (softlabels.analysis.claims)."""
    variants = C.method_variants(cfg)
    methods = sorted({c.method for c in C.all_cells(cfg)})
    return {
        "cells": cell_records(cfg),
        "datasets": datasets_used(cfg),
        "method_kinds": {m: variants[m]["kind"] for m in methods},
        "method_params": {m: variants[m] for m in methods},
        "teacher_ls": {t: v["label_smoothing"] for t, v in cfg["teachers"].items()},
        "regimes": {s: v["regime"] for s, v in student_setups(cfg).items()},
        "resampling": {s: v["resampling"] for s, v in student_setups(cfg).items()},
        "student_setups": student_radii(cfg),
        # what paper A's verdicts were measured at (T, η) and each data set's n, for the hard-label theorem's radius
        "student_steps": {s: {"epochs": v["epochs"], "lr": v["lr"]} for s, v in student_setups(cfg).items()
                          if v["regime"] == "theory"},
        "data_sizes": {d: n for d in datasets_used(cfg) if (n := cfg["datasets"][d].get("n_train")) is not None},
        "teacher_models": {t: v["model"] for t, v in cfg["teachers"].items()},
        "data_kinds": {d: cfg["datasets"][d]["kind"] for d in datasets_used(cfg)},
        "data_targets": {d: cfg["datasets"][d].get("target", "") for d in datasets_used(cfg)},
        "direct_method": direct_method(cfg),
        "epsilons": cfg["tables"]["epsilons"],
        "primary_epsilon": cfg["tables"].get("primary_epsilon"),  # None: the median of the epsilons
        "interval": cfg["tables"]["interval"],
        "n_boot": cfg["tables"]["n_boot"],
        "rule": cfg["tables"]["regularization_rule"],
        "seed": cfg["seed"],
        "teacher_cells": teacher_cells(cell_records(cfg)),  # in the order of the rule's teachers input
        # seed teachers (teachers.<t>.seeds), pooled by the claims that compare or distil from teachers; only
        # when there are any, so that a config without seeds keeps the params (and the table job) it had
        **({"teacher_seeds": seeds} if (seeds := C.teacher_seeds(cfg)) else {}),
        # independent data draws (datasets.<d>.draws), each counted once by paper A's neuron claims; only when
        # there are any, as for the seed teachers
        **({"dataset_draws": draws} if (draws := C.dataset_draws(cfg)) else {}),
    }


def sensitivity_table_params(cfg: dict[str, Any]) -> dict[str, Any]:
    """The sensitivity table (softlabels.analysis.sensitivity): each variant's base and the choice it varies.
    Only these, so editing a variant's ``varies`` re-runs the table and its figure, nothing else."""
    return {"variants": C.design_variants(cfg)}


def regularization_table_params(cfg: dict[str, Any]) -> dict[str, Any]:
    recs = regularization_records(cfg)
    variants = C.method_variants(cfg)
    return {
        "cells": recs,
        "rule": cfg["tables"]["regularization_rule"],
        "teacher_ls": {t: v["label_smoothing"] for t, v in cfg["teachers"].items()},
        "temperatures": {r["method"]: variants[r["method"]]["temperature"] for r in recs},
    }


def wsl_table_params(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"cells": cell_records(cfg)}


def teacher_table_params(cfg: dict[str, Any]) -> dict[str, Any]:
    """The teachers table: every (data set, teacher) a cell distils from, with each teacher's model and
    label smoothing."""
    cells = teacher_cells(cell_records(cfg))
    return {
        "teacher_cells": cells,
        "teachers": {
            t: {"model": cfg["teachers"][t]["model"], "label_smoothing": cfg["teachers"][t]["label_smoothing"]}
            for t in sorted({c["teacher"] for c in cells})
        },
    }


def paper_a_params(cfg: dict[str, Any]) -> dict[str, Any]:
    recs = paper_a_records(cfg)
    used = sorted({r["dataset"] for r in recs})
    return {
        "cells": recs,
        "teacher_cells": teacher_cells(recs),
        "reduced": {d: cfg["datasets"][d].get("reduced", False) for d in used},
        "kind": {d: cfg["datasets"][d]["kind"] for d in used},
        **role_methods(cfg, recs, ("hard",)),
        "soft_methods": methods_in_role(cfg, recs, "soft"),
        "level": cfg["tables"]["interval"],
        "n_boot": cfg["tables"]["n_boot"],
    }


def deep_table_params(cfg: dict[str, Any], kind: str) -> dict[str, Any]:
    """Params of paper A's Figure 1 (kind cifar10-catdog) or paper B's CIFAR-100 table (kind cifar100)."""
    recs = kind_records(cfg, kind)
    cells = teacher_cells(recs)
    methods = role_methods(cfg, recs, ("hard", "soft", "kd", "wsl"))
    variants = C.method_variants(cfg)
    return {
        "cells": recs,
        "teacher_cells": cells,
        "noise_variance": {r["dataset"]: cfg["datasets"][r["dataset"]].get("noise_variance") for r in recs},
        "teacher_models": {
            t: {"model": cfg["teachers"][t]["model"], "width": cfg["teachers"][t]["width"],
                "label_smoothing": cfg["teachers"][t].get("label_smoothing", 0.0)}
            for t in sorted({c["teacher"] for c in cells})
        },
        "student_models": {r["student"]: student_setups(cfg)[r["student"]]["model"] for r in recs},
        "base_widths": REG.deep_models(),
        **methods,
        "method_params": {m: variants[m] for m in methods.values() if m},
    }


# --- figures --------------------------------------------------------------------------------------


def binary_datasets(cfg: dict[str, Any]) -> list[str]:
    """Data sets with two classes, where the kernel margin γ is defined (cifar100 has 100)."""
    return [d for d in datasets_used(cfg) if REG.DATA_KINDS[cfg["datasets"][d]["kind"]].binary]


def regularization_temperature_records(cfg: dict[str, Any]) -> list[Record]:
    variants = C.method_variants(cfg)
    return [{**r, "temperature": variants[r["method"]]["temperature"]} for r in regularization_records(cfg)]


def radius_variants(cfg: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Student variant -> (setup, radius label) for the cells' students that come from a radius list
    (<setup>-B<r>, ``config.expand_student_variants``): what plans the crossover figures."""
    names = {r["student"] for r in cell_records(cfg)}
    return {s: C.student_setup(cfg, s) for s in sorted(names) if "variant_of" in cfg["students"][s]}


def figure_names(cfg: dict[str, Any]) -> list[str]:
    """Every figure of this config, without extension (``softlabels.report.figplan.planned``); the
    per-experiment ones are named neurons_needed_<experiment>, crossover_<experiment>, crossover_needed_<experiment>
    and claims_forest_<experiment>."""
    from softlabels.report import figplan as FP

    return FP.planned(cell_records(cfg), method_kinds(cfg), binary_datasets(cfg),
                      regularization_temperature_records(cfg), all_tables(cfg), radius_variants(cfg))


def all_figures(cfg: dict[str, Any]) -> list[str]:
    return [f"results/figures/{name}.{ext}" for name in figure_names(cfg) for ext in ("png", "svg")]


def check_targets(cfg: dict[str, Any]) -> None:
    """Refuse a config two of whose planned outputs are one file, naming the keys: the figures named after an
    experiment (``neurons_needed_<e>``, ``crossover_<e>``, ``crossover_needed_<e>``, ``claims_forest_<e>``) of two
    experiments can
    coincide (experiments ``neurons`` and ``needed_neurons`` both give ``crossover_needed_neurons``), which
    Snakemake reports as an ambiguous rule without naming any key. Run by the workflow and by ``softlabels
    validate``, on the same plan."""
    from softlabels.report import figplan as FP

    made: dict[str, list[tuple[str, str]]] = {}  # figure -> (what makes it, its config key)
    for prefix, experiments in ((FP.NEURONS_NEEDED, neurons_needed_experiments(cfg)),
                                (FP.CROSSOVER, crossover_experiments(cfg)),
                                (FP.CROSSOVER_NEEDED, crossover_experiments(cfg)),
                                (FP.CLAIMS_FOREST, claims_forest_experiments(cfg))):
        for e in experiments:
            made.setdefault(FP.figure_file(prefix, e), []).append((f"the {prefix} figure", f"experiments.{e}"))
    for name, makers in made.items():
        if len(makers) > 1:
            (what0, key0), (what1, key1) = makers[:2]
            raise ConfigError(f"config key {key1}: results/figures/{name}.png would be both {what0} of {key0} and "
                              f"{what1} of {key1}, which Snakemake cannot tell apart; rename one of the experiments")
    targets = all_targets(cfg)
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise ConfigError(f"config: the outputs {twice} are planned twice; rename the entries they are named after")


def all_targets(cfg: dict[str, Any]) -> list[str]:
    """What ``rule all`` asks for: every table and figure of this config (also what ``softlabels summary`` counts)."""
    return all_tables(cfg) + all_figures(cfg)


def neurons_needed_experiments(cfg: dict[str, Any]) -> list[str]:
    """Experiments with a neurons-needed figure: the width swept on at least two binary data sets."""
    from softlabels.report import figplan as FP

    return FP.margin_sweeps(cell_records(cfg), binary_datasets(cfg))


def crossover_experiments(cfg: dict[str, Any]) -> list[str]:
    """Experiments with crossover figures: a student setup trained at two or more radii."""
    from softlabels.report import figplan as FP

    return FP.crossover_experiments(cell_records(cfg), radius_variants(cfg))


def primary_epsilon(cfg: dict[str, Any]) -> float:
    """The ε paper A's claims are judged at (``softlabels.analysis.claims.primary_epsilon``): the neurons-needed
    figure of an experiment with several student setups draws it."""
    from softlabels.analysis.claims import primary_epsilon as primary

    return primary({"epsilons": cfg["tables"]["epsilons"], "primary_epsilon": cfg["tables"].get("primary_epsilon")})


def claims_forest_experiments(cfg: dict[str, Any]) -> list[str]:
    """Experiments with a forest plot of their claims (``claims_forest_<experiment>``), where the claims table
    is built: those with a cell that learns from a teacher (``softlabels.report.figplan.claims_experiments``)."""
    from softlabels.report import figplan as FP

    if "results/tables/claims.csv" not in all_tables(cfg):
        return []
    return FP.claims_experiments(cell_records(cfg))
