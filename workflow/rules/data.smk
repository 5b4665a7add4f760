# Stage 1: data sets and their kernel margin γ.


rule make_data:
    input:
        raw_inputs,
    output:
        data="results/data/{dataset}/data.npz",
        meta="results/data/{dataset}/data.json",
    params:
        p=dataset_params,
    log:
        "logs/make_data/{dataset}.log",
    script:
        "../scripts/run.py"


rule measure_margin:
    input:
        data="results/data/{dataset}/data.npz",
    output:
        "results/data/{dataset}/margin.json",
    params:
        p={"max_points": 2000},
    log:
        "logs/measure_margin/{dataset}.log",
    script:
        "../scripts/run.py"
