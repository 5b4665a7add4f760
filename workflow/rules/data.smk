# Stage 1: data sets and their kernel margin γ.


# Raw files of the real-data kinds (MNIST IDX files, CIFAR binary tarballs), fetched on the machine
# that runs Snakemake (cluster nodes often have no internet). Data sets with raw_dir never need it.
rule download_raw:
    output:
        "results/raw/{source}/{file}",
    log:
        "logs/download_raw/{source}/{file}.log",
    wildcard_constraints:
        source="|".join(REG.SOURCES),
        file=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    localrule: True
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=download_params,
    script:
        "../scripts/download_raw.py"


rule make_data:
    input:
        raw_inputs,
    output:
        data="results/data/{dataset}/data.npz",
        meta="results/data/{dataset}/data.json",
    log:
        "logs/make_data/{dataset}.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=dataset_params,
    script:
        "../scripts/make_data.py"


rule measure_margin:
    input:
        data="results/data/{dataset}/data.npz",
    output:
        "results/data/{dataset}/margin.json",
    log:
        "logs/measure_margin/{dataset}.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"max_points": 2000},
    script:
        "../scripts/measure_margin.py"
