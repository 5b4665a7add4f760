# Stage 6: figures (PNG + SVG) under results/figures/, drawn from the tables (softlabels.pipeline.figures, softlabels.report.figures).
# Which figures a config gets is decided by all_figures() in common.smk (softlabels.report.figplan); every
# figure is in the report (snakemake --report report.html) with its caption from workflow/report/.

# One colour per config method in every figure, and names that say τ (softlabels.report.figures.Methods).
FIGURE_METHODS = FP.method_names(config["methods"], VARIANTS)


rule figure_accuracy_width:
    input:
        neurons="results/tables/neurons.csv",
    output:
        png=report(
            "results/figures/accuracy_width.png",
            caption="../report/figures/accuracy_width.rst",
            category="Paper A (neurons)",
            subcategory="Figures",
        ),
        svg="results/figures/accuracy_width.svg",
    log:
        "logs/figures/accuracy_width.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS},
    script:
        "../scripts/figure_accuracy_width.py"


rule figure_neurons_needed:
    # one figure per experiment with a margin sweep (figplan.margin_sweeps): neurons_needed_<experiment>
    input:
        needed="results/tables/neurons_needed.csv",
        scaling="results/tables/scaling.csv",
        neurons="results/tables/neurons.csv",
    output:
        png=report(
            "results/figures/neurons_needed_{experiment}.png",
            caption="../report/figures/neurons_needed.rst",
            category="Paper A (neurons)",
            subcategory="Figures",
        ),
        svg="results/figures/neurons_needed_{experiment}.svg",
    log:
        "logs/figures/neurons_needed_{experiment}.log",
    wildcard_constraints:
        experiment=names_regex(neurons_needed_experiments()),
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS, "interval": config["tables"]["interval"], "epsilon": primary_epsilon()},
    script:
        "../scripts/figure_neurons_needed.py"


# The claims as a forest plot, one figure per experiment that can test a claim (figplan.claims_experiments):
# claims_forest_<experiment>, one panel per claim, one row per setting, coloured by its verdict; beside the
# claims summary in the report.
rule figure_claims_forest:
    input:
        claims="results/tables/claims.csv",
    output:
        png=report(
            "results/figures/claims_forest_{experiment}.png",
            caption="../report/figures/claims_forest.rst",
            category="Claims",
            subcategory="2. Forest plots",
        ),
        svg="results/figures/claims_forest_{experiment}.svg",
    log:
        "logs/figures/claims_forest_{experiment}.log",
    wildcard_constraints:
        experiment=names_regex(claims_forest_experiments()),
    conda:
        "../../envs/softlabels.yaml"
    script:
        "../scripts/figure_claims_forest.py"


# Each claim's effect and verdict under the default design and every declared variant (figplan.planned
# plans it with the sensitivity table, only for a config with design variants).
rule figure_sensitivity:
    input:
        table="results/tables/sensitivity.csv",
    output:
        png=report(
            "results/figures/sensitivity.png",
            caption="../report/figures/sensitivity.rst",
            category="Claims",
            subcategory="5. Sensitivity",
        ),
        svg="results/figures/sensitivity.svg",
    log:
        "logs/figures/sensitivity.log",
    conda:
        "../../envs/softlabels.yaml"
    script:
        "../scripts/figure_sensitivity.py"


# Paper A's crossover over the radius B: one pair of figures per experiment that trains a student
# setup at two or more radii (figplan.crossover_experiments); they check the claim table's "soft labels need
# fewer neurons than hard labels", per regime, so they sit in the report's Claims category.
rule figure_crossover:
    input:
        neurons="results/tables/neurons.csv",
    output:
        png=report(
            "results/figures/crossover_{experiment}.png",
            caption="../report/figures/crossover.rst",
            category="Claims",
            subcategory="4. Crossover figures",
        ),
        svg="results/figures/crossover_{experiment}.svg",
    log:
        "logs/figures/crossover_{experiment}.log",
    wildcard_constraints:
        experiment=names_regex(crossover_experiments()),
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS},
    script:
        "../scripts/figure_crossover.py"


rule figure_crossover_needed:
    input:
        neurons="results/tables/neurons.csv",
        needed="results/tables/neurons_needed.csv",
    output:
        png=report(
            "results/figures/crossover_needed_{experiment}.png",
            caption="../report/figures/crossover_needed.rst",
            category="Claims",
            subcategory="4. Crossover figures",
        ),
        svg="results/figures/crossover_needed_{experiment}.svg",
    log:
        "logs/figures/crossover_needed_{experiment}.log",
    wildcard_constraints:
        experiment=names_regex(crossover_experiments()),
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS},
    script:
        "../scripts/figure_crossover_needed.py"


rule figure_training_curves:
    input:
        neurons="results/tables/neurons.csv",
        replicates=record_files("replicates.npz", curve_records()),
    output:
        png=report(
            "results/figures/training_curves.png",
            caption="../report/figures/training_curves.rst",
            category="Paper A (neurons)",
            subcategory="Figures",
        ),
        svg="results/figures/training_curves.svg",
    log:
        "logs/figures/training_curves.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS, "cells": curve_records()},
    script:
        "../scripts/figure_training_curves.py"


rule figure_biasvar:
    input:
        "results/tables/biasvar.csv",
    output:
        png=report(
            "results/figures/biasvar.png",
            caption="../report/figures/biasvar.rst",
            category="Paper B (bias-variance)",
            subcategory="Figures",
        ),
        svg="results/figures/biasvar.svg",
    log:
        "logs/figures/biasvar.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS, "interval": config["tables"]["interval"]},
    script:
        "../scripts/figure_biasvar.py"


rule figure_regularization_temperature:
    input:
        table="results/tables/regularization.csv",
    output:
        png=report(
            "results/figures/regularization_temperature.png",
            caption="../report/figures/regularization_temperature.rst",
            category="Paper B (regularization samples)",
            subcategory="Figures",
        ),
        svg="results/figures/regularization_temperature.svg",
    log:
        "logs/figures/regularization_temperature.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS, "kinds": method_kinds()},
    script:
        "../scripts/figure_regularization_temperature.py"


rule figure_regularization_epochs:
    input:
        table="results/tables/regularization.csv",
        epochs="results/tables/regularization_epochs.csv",
    output:
        png=report(
            "results/figures/regularization_epochs.png",
            caption="../report/figures/regularization_epochs.rst",
            category="Paper B (regularization samples)",
            subcategory="Figures",
        ),
        svg="results/figures/regularization_epochs.svg",
    log:
        "logs/figures/regularization_epochs.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"methods": FIGURE_METHODS},
    script:
        "../scripts/figure_regularization_epochs.py"


if "results/tables/paperA_figure1.csv" in all_tables():

    rule figure_paper_a_figure1:
        input:
            "results/tables/paperA_figure1.csv",
        output:
            png=report(
                "results/figures/paperA_figure1.png",
                caption="../report/figures/paperA_figure1.rst",
                category="Paper tables",
                subcategory="Paper A, Figure 1",
            ),
            svg="results/figures/paperA_figure1.svg",
        log:
            "logs/figures/paperA_figure1.log",
        conda:
            "../../envs/softlabels.yaml"
        params:
            p={"methods": FIGURE_METHODS},
        script:
            "../scripts/figure_paper_a_figure1.py"
