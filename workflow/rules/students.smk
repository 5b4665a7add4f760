# Stage 3: MLP students. One job per (data set, teacher, method, student setup) trains every width of
# the setup, each width's R replicates as one batched computation. Its one output is the group's
# folder, holding per width m<width>/ the replicates, their per-test-point bias-variance terms and the
# provenance record (softlabels.pipeline.plan.cell_file); a folder, so that one rule serves every
# setup whatever its widths. The job fills a hidden staging folder and renames it into place at the end.


rule train_students:
    input:
        unpack(student_inputs),
    output:
        group=directory("results/students/{dataset}/{teacher}/{method}/{student}"),
    log:
        "logs/train_students/{dataset}/{teacher}/{method}/{student}.log",
    wildcard_constraints:
        student=MLP_STUDENTS,
    conda:
        "../../envs/softlabels.yaml"
    params:
        method=method_params,
        student=student_params,
    script:
        "../scripts/train_students.py"
