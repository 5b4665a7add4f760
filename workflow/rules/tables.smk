# Stage 5: tables (CSV + Markdown) under results/tables/.


rule neuron_tables:
    input:
        replicates=record_files("replicates.npz"),
        data=[data_path(d) for d in datasets_used()],
        margins=[f"results/data/{d}/margin.json" for d in datasets_used()],
    output:
        neurons="results/tables/neurons.csv",
        needed="results/tables/neurons_needed.csv",
        scaling="results/tables/scaling.csv",
    params:
        p=neuron_table_params(),
    log:
        "logs/tables/neurons.log",
    script:
        "../scripts/run.py"


rule biasvar_table:
    input:
        summaries=record_files("biasvar.json"),
        points=record_files("biasvar_points.npz"),
    output:
        "results/tables/biasvar.csv",
    params:
        p=biasvar_table_params(),
    log:
        "logs/tables/biasvar.log",
    script:
        "../scripts/run.py"


rule regularization_table:
    input:
        replicates=record_files("replicates.npz", regularization_records()),
        data=[data_path(r["dataset"]) for r in regularization_records()],
    output:
        table="results/tables/regularization.csv",
        epochs="results/tables/regularization_epochs.csv",
    params:
        p=regularization_table_params(),
    log:
        "logs/tables/regularization.log",
    script:
        "../scripts/run.py"


rule wsl_table:
    input:
        replicates=record_files("replicates.npz"),
        data=[data_path(r["dataset"]) for r in cell_records()],
    output:
        "results/tables/wsl.csv",
    params:
        p={"cells": cell_records()},
    log:
        "logs/tables/wsl.log",
    script:
        "../scripts/run.py"


rule paper_a_table1:
    input:
        replicates=record_files("replicates.npz", paper_a_records()),
        data=[data_path(r["dataset"]) for r in paper_a_records()],
        teachers=paper_a_teacher_files(),
    output:
        "results/tables/paperA_table1.csv",
    params:
        p=paper_a_params(),
    log:
        "logs/tables/paperA_table1.log",
    script:
        "../scripts/run.py"
