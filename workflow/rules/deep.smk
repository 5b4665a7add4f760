# Stage 2 and 3 for CNNs (softlabels.models.cnn): teachers and students whose `model` is a deep model.
# Same outputs as train_teacher / train_students, so soft labels, bias-variance and the tables work
# unchanged. They use CUDA when present and declare their resources (deep_resources in the config)
# so that a cluster profile can route them to GPU nodes and `--resources gpu=N` can limit them.
# A retried job (the SLURM profile's `retries`) asks for `attempt` times the memory and time.


rule train_deep_teacher:
    input:
        data="results/data/{dataset}/data.npz",
    output:
        checkpoint="results/teachers/{dataset}/{teacher}/teacher.pt",
        logits="results/teachers/{dataset}/{teacher}/logits.npz",
        meta="results/teachers/{dataset}/{teacher}/teacher.json",
    log:
        "logs/train_deep_teacher/{dataset}/{teacher}.log",
    wildcard_constraints:
        teacher=DEEP_TEACHERS,
    conda:
        "../../envs/softlabels.yaml"
    threads: DEEP_RESOURCES["threads"]
    resources:
        gpu=DEEP_RESOURCES["gpu"],
        mem_mb=lambda wc, attempt: DEEP_RESOURCES["mem_mb"] * attempt,
        runtime=lambda wc, attempt: DEEP_RESOURCES["runtime"] * attempt,
    params:
        p=teacher_params,
    script:
        "../scripts/train_deep_teacher.py"


rule train_deep_students:
    input:
        unpack(deep_student_inputs),
    output:
        replicates="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/replicates.npz",
        points="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/biasvar_points.npz",
        meta="results/students/{dataset}/{teacher}/{method}/{student}/m{width}/meta.json",
    log:
        "logs/train_deep_students/{dataset}/{teacher}/{method}/{student}/m{width}.log",
    wildcard_constraints:
        student=DEEP_STUDENTS,
    conda:
        "../../envs/softlabels.yaml"
    threads: DEEP_RESOURCES["threads"]
    resources:
        gpu=DEEP_RESOURCES["gpu"],
        mem_mb=lambda wc, attempt: DEEP_RESOURCES["mem_mb"] * attempt,
        runtime=lambda wc, attempt: DEEP_RESOURCES["runtime"] * attempt,
    params:
        method=method_params,
        student=student_params,
    script:
        "../scripts/train_deep_students.py"
