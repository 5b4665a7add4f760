# softlabels: soft vs hard labels in knowledge distillation, as one DAG (see README.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/teachers.smk"
include: "workflow/rules/students.smk"
include: "workflow/rules/tables.smk"


rule all:
    input:
        all_tables(),
    default_target: True
