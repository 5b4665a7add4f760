# Stage 2: teachers (MLPs here; CNNs in deep.smk). Students read a teacher's logits and apply their
# own temperature, so one teacher job serves every temperature.


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
