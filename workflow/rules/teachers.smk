# Stage 2: teachers, and their soft labels at each temperature a method asks for.


rule train_teacher:
    input:
        data="results/data/{dataset}/data.npz",
    output:
        checkpoint="results/teachers/{dataset}/{teacher}/teacher.pt",
        logits="results/teachers/{dataset}/{teacher}/logits.npz",
        meta="results/teachers/{dataset}/{teacher}/teacher.json",
    log:
        "logs/train_teacher/{dataset}/{teacher}.log",
    wildcard_constraints:
        teacher=MLP_TEACHERS,
    conda:
        "../../envs/softlabels.yaml"
    params:
        p=teacher_params,
    script:
        "../scripts/train_teacher.py"


rule soft_labels:
    input:
        data="results/data/{dataset}/data.npz",
        logits="results/teachers/{dataset}/{teacher}/logits.npz",
    output:
        "results/teachers/{dataset}/{teacher}/soft_T{temperature}.npz",
    log:
        "logs/soft_labels/{dataset}/{teacher}/T{temperature}.log",
    conda:
        "../../envs/softlabels.yaml"
    script:
        "../scripts/soft_labels.py"
