# Stage 1: data sets and their kernel margin γ.


# Raw files of the real-data kinds (MNIST IDX files, CIFAR binary tarballs), fetched on the machine
# that runs Snakemake (cluster nodes often have no internet). Data sets with raw_dir never need it.
rule download_raw:
    output:
        "results/raw/{source}/{file}",
    params:
        p=download_params,
    wildcard_constraints:
        source="|".join(R.RAW_FILES),
        file=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    localrule: True
    log:
        "logs/download_raw/{source}/{file}.log",
    conda:
        "../../envs/softlabels.yaml"
    script:
        "../scripts/run.py"


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
    conda:
        "../../envs/softlabels.yaml"
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
    conda:
        "../../envs/softlabels.yaml"
    script:
        "../scripts/run.py"
