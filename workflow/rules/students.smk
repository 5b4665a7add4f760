# Stage 3: MLP students. One job per (data set, teacher, method, student setup) trains every width of
# the setup, each width's R replicates as one batched computation, and writes per width the replicates,
# their per-test-point bias-variance terms and the provenance record. One rule per setup, since a
# rule's outputs (one set per width) are fixed when it is defined; all run the same script.


for _setup, _rule in MLP_SETUPS.items():

    rule:
        name:
            _rule
        input:
            unpack(student_inputs),
        output:
            **student_group_outputs(_setup),
        log:
            "logs/train_students/{dataset}/{teacher}/{method}/{student}.log",
        wildcard_constraints:
            student=re.escape(_setup),
        conda:
            "../../envs/softlabels.yaml"
        params:
            method=method_params,
            student=student_params,
        script:
            "../scripts/train_students.py"
