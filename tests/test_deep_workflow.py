"""The deep rules end to end on the CPU: tiny CIFAR files in the real binary format, the papers' model
pairs at their own widths for one epoch, and the two deep tables with the papers' numbers beside ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import snakemake, write_config
from realformats import cifar10_files, cifar100_files, write_tar

from softlabels import io
from softlabels.data.download import sha256_file

pytestmark = pytest.mark.slow

QUICK = {"epochs": 1, "batch_size": 16, "eval_batch_size": 64}


def deep_config(sha256: dict[str, str]) -> dict:
    """The config; ``sha256``: the tiny tarballs' checksums, declared as for a mirror's copy (they are not the official files)."""
    return {
        "seed": 0,
        "datasets": {
            "catdog-0.01": {"kind": "cifar10-catdog", "noise_variance": 0.01, "raw_dir": "raw10",
                            "sha256": {"cifar-10-binary.tar.gz": sha256["cifar-10-binary.tar.gz"]}},
            "c100": {"kind": "cifar100", "raw_dir": "raw100", "val_fraction": 0.2,
                     "sha256": {"cifar-100-binary.tar.gz": sha256["cifar-100-binary.tar.gz"]}},
        },
        "teachers": {
            "vgg83": {"model": "vgg8+3", "lr": 0.001, "patience": 2, **QUICK},
            "r56": {"model": "resnet56", "optimizer": "sgd", "lr": 0.05, "weight_decay": 5e-4, "augment": True,
                    "selection": "last", **QUICK},
        },
        "methods": {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 4.0},
                    "wsl": {"kind": "wsl", "temperature": 4.0, "alpha": 2.25}},
        "students": {
            "vgg23": {"model": "vgg2+3", "widths": [32], "replicates": 2, "resampling": "none", "lr": 0.001,
                      "patience": 2, **QUICK},
            "r20": {"model": "resnet20", "widths": [16], "replicates": 2, "resampling": "none", "optimizer": "sgd",
                    "lr": 0.05, "augment": True, "selection": "val_acc", **QUICK},
        },
        "experiments": {
            "figure1": {"datasets": ["catdog-0.01"], "teachers": ["vgg83"], "methods": ["hard", "kd"],
                        "students": ["vgg23"]},
            "cifar100": {"datasets": ["c100"], "teachers": ["r56"], "methods": ["hard", "kd", "wsl"],
                         "students": ["r20"]},
        },
        "tables": {"n_boot": 20, "epsilons": [0.3]},
        "deep_resources": {"threads": 1},
        "compute": {"device": "cpu"},  # the GPU rules' `auto` needs CUDA; the test trains on the CPU on purpose
    }


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("deep")
    write_tar(work / "raw10" / "cifar-10-binary.tar.gz", cifar10_files(20), "cifar-10-batches-bin")
    write_tar(work / "raw100" / "cifar-100-binary.tar.gz", cifar100_files(100, 50), "cifar-100-binary")
    sha = {p.name: sha256_file(p) for p in (work / "raw10/cifar-10-binary.tar.gz", work / "raw100/cifar-100-binary.tar.gz")}
    write_config(work, deep_config(sha))
    snakemake(work, "--cores", "2", "--resources", "gpu=1", "--configfile", str(work / "config.yaml"))
    return work


def test_deep_outputs_match_the_mlp_rules(deep_run):
    t = io.read_json(deep_run / "results/teachers/c100/r56/teacher.json")
    assert t["model"] == "resnet56" and 0.85e6 <= t["n_parameters"] <= 0.87e6 and t["device"] == "cpu"
    assert set(t["accuracy"]) == {"train", "val", "test"}
    logits = io.read_npz(deep_run / "results/teachers/c100/r56/logits.npz")
    assert logits["logits_test"].shape == (50, 100) and "fingerprint" in logits
    r = io.read_npz(deep_run / "results/students/c100/r56/wsl/r20/m16/replicates.npz")
    assert r["test_logits"].shape == (2, 50, 100)
    assert np.allclose(r["test_probs"].sum(-1), 1, atol=1e-4)
    for k in ("indices", "best_epoch", "train_loss", "train_err", "reg_gt", "reg_abs", "val_logits"):
        assert k in r, k
    meta = io.read_json(deep_run / "results/students/c100/r56/wsl/r20/m16/meta.json")
    assert meta["teacher_online"] is True and meta["model"] == "resnet20"
    assert io.read_json(deep_run / "results/students/catdog-0.01/vgg83/kd/vgg23/m32/meta.json")["teacher_online"] is False
    assert (deep_run / "results/students/c100/r56/wsl/r20/m16/biasvar_points.npz").exists()


def test_paper_tables_put_the_papers_numbers_beside_ours(deep_run):
    fig = pd.read_csv(deep_run / "results/tables/paperA_figure1.csv")
    row = fig.iloc[0]
    assert row["noise_variance"] == 0.01 and row["teacher_model"] == "vgg8+3" and row["student_model"] == "vgg2+3"
    assert (row["paper_teacher"], row["paper_hard"], row["paper_soft"]) == (82.5, 74.6, 76.0)
    assert 0 <= row["hard_acc"] <= 100 and 0 <= row["soft_acc"] <= 100
    b = pd.read_csv(deep_run / "results/tables/paperB_cifar100.csv")
    row = b.iloc[0]
    assert row["pair"] == "resnet56 -> resnet20"
    assert (row["paper_teacher"], row["paper_student"], row["paper_kd"], row["paper_wsl"]) == (72.34, 69.06, 70.66, 72.15)
    for col in ("teacher_acc", "student_acc", "kd_acc", "wsl_acc"):
        assert 0 <= row[col] <= 100, col
    assert "wsl_acc: method 'wsl' (wsl, alpha 2.25, temperature 4)" in (deep_run / "results/tables/paperB_cifar100.md").read_text()


def test_the_teachers_table_has_every_cnn_teacher_with_its_tau_star(deep_run):
    t = pd.read_csv(deep_run / "results/tables/teachers.csv")
    assert sorted(zip(t["dataset"], t["teacher"], t["model"])) == [("c100", "r56", "resnet56"),
                                                                  ("catdog-0.01", "vgg83", "vgg8+3")]
    assert t["temperature_nll"].between(0.01, 100).all() and (t["val_nll_at_tau"] <= t["val_nll_at_1"] + 1e-9).all()
    assert t["test_ece"].between(0, 1).all()
