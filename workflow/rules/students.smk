# Stage 3 and 4: students of each cell (all replicates as one batched computation) and their
# bootstrapped bias-variance decomposition.


rule train_students:
    input:
        unpack(student_inputs),
    output:
        replicates="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/replicates.npz",
        meta="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/meta.json",
    log:
        "logs/train_students/{dataset}/{teacher}/{method}/{student}/m{width}.log",
    wildcard_constraints:
        student=MLP_STUDENTS,
    conda:
        "../../envs/softlabels.yaml"
    params:
        method=method_params,
        student=student_params,
    script:
        "../scripts/train_students.py"


rule bias_variance:
    input:
        data="results/data/{dataset}/data.npz",
        replicates="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/replicates.npz",
    output:
        summary="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/biasvar.json",
        points="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/biasvar_points.npz",
    log:
        "logs/bias_variance/{dataset}/{teacher}/{method}/{student}/m{width}.log",
    conda:
        "../../envs/softlabels.yaml"
    params:
        p={"n_boot": config["tables"]["n_boot"], "interval": config["tables"]["interval"]},
    script:
        "../scripts/bias_variance.py"
