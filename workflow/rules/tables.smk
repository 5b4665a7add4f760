# Stage 5: tables (CSV + Markdown + HTML) under results/tables/; the report shows the HTML.


rule neuron_tables:
    input:
        replicates=record_files("replicates.npz"),
        data=[data_path(d) for d in datasets_used()],
        margins=[f"results/data/{d}/margin.json" for d in datasets_used()],
    output:
        neurons="results/tables/neurons.csv",
        neurons_md="results/tables/neurons.md",
        neurons_html=report(
            "results/tables/neurons.html",
            caption="../report/tables/neurons.rst",
            category="Paper A (neurons)",
            subcategory="Tables",
        ),
        needed="results/tables/neurons_needed.csv",
        needed_md="results/tables/neurons_needed.md",
        needed_html=report(
            "results/tables/neurons_needed.html",
            caption="../report/tables/neurons_needed.rst",
            category="Paper A (neurons)",
            subcategory="Tables",
        ),
        scaling="results/tables/scaling.csv",
        scaling_md="results/tables/scaling.md",
        scaling_html=report(
            "results/tables/scaling.html",
            caption="../report/tables/scaling.rst",
            category="Paper A (neurons)",
            subcategory="Tables",
        ),
    log:
        "logs/tables/neurons.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=neuron_table_params(),
    script:
        "../scripts/neuron_tables.py"


rule biasvar_table:
    input:
        points=record_files("biasvar_points.npz"),
        data=[data_path(r["dataset"]) for r in cell_records()],
    output:
        "results/tables/biasvar.csv",
        "results/tables/biasvar.md",
        report(
            "results/tables/biasvar.html",
            caption="../report/tables/biasvar.rst",
            category="Paper B (bias-variance)",
            subcategory="Tables",
        ),
    log:
        "logs/tables/biasvar.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=biasvar_table_params(),
    script:
        "../scripts/biasvar_table.py"


rule regularization_table:
    input:
        replicates=record_files("replicates.npz", regularization_records()),
        data=[data_path(r["dataset"]) for r in regularization_records()],
    output:
        table="results/tables/regularization.csv",
        table_md="results/tables/regularization.md",
        table_html=report(
            "results/tables/regularization.html",
            caption="../report/tables/regularization.rst",
            category="Paper B (regularization samples)",
            subcategory="Tables",
        ),
        epochs="results/tables/regularization_epochs.csv",
        epochs_md="results/tables/regularization_epochs.md",
        epochs_html=report(
            "results/tables/regularization_epochs.html",
            caption="../report/tables/regularization_epochs.rst",
            category="Paper B (regularization samples)",
            subcategory="Tables",
        ),
    log:
        "logs/tables/regularization.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=regularization_table_params(),
    script:
        "../scripts/regularization_table.py"


rule wsl_table:
    input:
        replicates=record_files("replicates.npz"),
        data=[data_path(r["dataset"]) for r in cell_records()],
    output:
        "results/tables/wsl.csv",
        "results/tables/wsl.md",
        report(
            "results/tables/wsl.html",
            caption="../report/tables/wsl.rst",
            category="Paper B (methods)",
            subcategory="Tables",
        ),
    log:
        "logs/tables/wsl.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"cells": cell_records()},
    script:
        "../scripts/wsl_table.py"


rule teachers_table:
    input:
        logits=[teacher_logits_path(c["dataset"], c["teacher"]) for c in teacher_cells(cell_records())],
        meta=teacher_files(cell_records()),
        data=[data_path(c["dataset"]) for c in teacher_cells(cell_records())],
    output:
        "results/tables/teachers.csv",
        "results/tables/teachers.md",
        report(
            "results/tables/teachers.html",
            caption="../report/tables/teachers.rst",
            category="Teachers",
            subcategory="Tables",
        ),
    log:
        "logs/tables/teachers.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=teacher_table_params(),
    script:
        "../scripts/teachers_table.py"


rule paper_a_table1:
    input:
        replicates=record_files("replicates.npz", paper_a_records()),
        data=[data_path(r["dataset"]) for r in paper_a_records()],
        teachers=teacher_files(paper_a_records()),
    output:
        "results/tables/paperA_table1.csv",
        "results/tables/paperA_table1.md",
        report(
            "results/tables/paperA_table1.html",
            caption="../report/tables/paperA_table1.rst",
            category="Paper tables",
            subcategory="Paper A, Table 1",
        ),
    log:
        "logs/tables/paperA_table1.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=paper_a_params(),
    script:
        "../scripts/paper_a_table1.py"


rule paper_a_figure1:
    input:
        replicates=record_files("replicates.npz", kind_records("cifar10-catdog")),
        data=[data_path(r["dataset"]) for r in kind_records("cifar10-catdog")],
        teachers=teacher_files(kind_records("cifar10-catdog")),
    output:
        "results/tables/paperA_figure1.csv",
        "results/tables/paperA_figure1.md",
        report(
            "results/tables/paperA_figure1.html",
            caption="../report/tables/paperA_figure1.rst",
            category="Paper tables",
            subcategory="Paper A, Figure 1",
        ),
    log:
        "logs/tables/paperA_figure1.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=deep_table_params("cifar10-catdog"),
    script:
        "../scripts/paper_a_figure1.py"


rule paper_b_cifar100:
    input:
        replicates=record_files("replicates.npz", kind_records("cifar100")),
        data=[data_path(r["dataset"]) for r in kind_records("cifar100")],
        teachers=teacher_files(kind_records("cifar100")),
    output:
        "results/tables/paperB_cifar100.csv",
        "results/tables/paperB_cifar100.md",
        report(
            "results/tables/paperB_cifar100.html",
            caption="../report/tables/paperB_cifar100.rst",
            category="Paper tables",
            subcategory="Paper B, CIFAR-100",
        ),
    log:
        "logs/tables/paperB_cifar100.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=deep_table_params("cifar100"),
    script:
        "../scripts/paper_b_cifar100.py"


rule claims_table:
    input:
        replicates=record_files("replicates.npz"),
        data=[data_path(d) for d in datasets_used()],
        margins=[f"results/data/{d}/margin.json" for d in datasets_used()],
        scaling="results/tables/scaling.csv",
        biasvar="results/tables/biasvar.csv",
        # each teacher's test accuracy: paper A's accuracy claim is not tested where the hard-label student
        # already matches it (no room for the effect)
        teachers=teacher_files(cell_records()),
    output:
        # the summary first: one verdict per claim and experiment, then every setting
        summary="results/tables/claims_summary.csv",
        summary_html=report(
            "results/tables/claims_summary.html",
            caption="../report/tables/claims_summary.rst",
            category="Claims",
            subcategory="1. Summary",
        ),
        summary_md="results/tables/claims_summary.md",
        claims="results/tables/claims.csv",
        claims_html=report(
            "results/tables/claims.html",
            caption="../report/tables/claims.rst",
            category="Claims",
            subcategory="3. Every setting",
        ),
        claims_md="results/tables/claims.md",
    log:
        "logs/tables/claims.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=claims_table_params(),
    script:
        "../scripts/claims_table.py"


# Each claim re-tested under the config's declared design variants (experiments with variant_of);
# planned by softlabels.pipeline.plan.all_tables only when the config has one. It reads the claims summary
# alone, so it costs no training beyond the variants' own cells.
rule sensitivity_table:
    input:
        summary="results/tables/claims_summary.csv",
    output:
        table="results/tables/sensitivity.csv",
        table_md="results/tables/sensitivity.md",
        table_html=report(
            "results/tables/sensitivity.html",
            caption="../report/tables/sensitivity.rst",
            category="Claims",
            subcategory="5. Sensitivity",
        ),
    log:
        "logs/tables/sensitivity.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=sensitivity_table_params(),
    script:
        "../scripts/sensitivity_table.py"
