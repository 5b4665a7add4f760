# softlabels: soft vs hard labels in knowledge distillation, as one DAG (see README.md).
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    teacher=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    method=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    student=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    width=r"[0-9]+",
    temperature=r"[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?",


include: "workflow/rules/data.smk"
include: "workflow/rules/teachers.smk"
include: "workflow/rules/students.smk"
include: "workflow/rules/deep.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_tables(),
        all_figures(),


onsuccess:
    from softlabels.report.summary import print_summary

    print_summary(all_tables() + all_figures(), method_kinds())
