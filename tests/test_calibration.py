"""A teacher's calibration (softlabels.analysis.calibration): τ* chosen on the validation NLL, the expected
calibration error; ``temperature: auto`` in the config (a validation split is required) and in the student
job (it reads the teacher's τ* and records it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SCHEMA, micro_config, snakemake, write_config

from softlabels import io
from softlabels.analysis.calibration import expected_calibration_error, nll, select_temperature
from softlabels.errors import ConfigError
from softlabels.pipeline.config import validate


def _calibrated(n: int = 4000, C: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): a calibrated model (τ* = 1 up to sampling)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, (n, C))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(C, p=row) for row in p])
    return z, y


def test_tau_star_undoes_a_scaling_of_calibrated_logits():
    z, y = _calibrated()
    tau1, _ = select_temperature(z, y)
    assert tau1 == pytest.approx(1.0, rel=0.1)
    tau5, at5 = select_temperature(5 * z, y)  # overconfident by 5: τ* ≈ 5
    assert tau5 == pytest.approx(5 * tau1, rel=1e-3)
    assert at5 == pytest.approx(nll(z, y, tau1), rel=1e-6) and at5 < nll(5 * z, y)
    taus, _ = select_temperature(z / 4, y)  # underconfident: τ* ≈ 1/4
    assert taus == pytest.approx(tau1 / 4, rel=1e-3)
    assert select_temperature(5 * z, y) == select_temperature(5 * z, y)  # deterministic


def test_tau_star_stays_in_the_schemas_range():
    z = np.array([[0.0, 1.0], [0.0, -1.0]])  # separable: the NLL falls as τ → 0
    tau, _ = select_temperature(z, np.array([1, 0]))
    assert tau == pytest.approx(0.01, rel=1e-3)


def test_ece_on_hand_made_predictions():
    # two points at confidence 0.9 (one right: bin acc 0.5), two at 0.6 (both right: bin acc 1)
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    ece = expected_calibration_error(np.log(p), y)
    assert ece == pytest.approx(0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6))
    assert expected_calibration_error(np.log(p[:1]), y[:1]) == pytest.approx(0.1)
    assert nll(np.log(p), y) == pytest.approx(-np.mean(np.log([0.9, 0.1, 0.6, 0.6])))


def test_teachers_table_rows_ece_and_memorisation_note():
    from softlabels.analysis.tables import MEMORISED_NOTE, memorisation_note, teachers_table

    assert memorisation_note(1.0, 0.85, 0.05) == MEMORISED_NOTE  # fits training labels, 15 points lower on test
    assert memorisation_note(1.0, 0.95, 0.05) == ""  # fits them, generalises
    assert memorisation_note(0.95, 0.80, 0.005) == MEMORISED_NOTE  # training NLL below 0.01
    assert memorisation_note(0.998, 0.5, 0.2) == ""
    p_test = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = {"y_train": np.array([0, 1]), "y_test": np.array([0, 1, 1, 1])}
    sharp = {"logits_train": np.array([[20.0, 0.0], [0.0, 20.0]]), "logits_test": np.log(p_test)}
    soft = {"logits_train": np.array([[0.5, 0.0], [0.0, 0.5]]), "logits_val": np.array([[1.0, 0.0]]),
            "logits_test": np.log([[0.9, 0.1], [0.1, 0.9], [0.4, 0.6], [0.4, 0.6]])}  # all right
    p = {"teacher_cells": [{"dataset": "d", "teacher": "a"}, {"dataset": "d", "teacher": "b"}],
         "teachers": {"a": {"model": "mlp", "label_smoothing": 0.0}, "b": {"model": "kernel", "label_smoothing": 0.1}}}
    recs = [{}, {"temperature_nll": 0.5, "val_nll_at_tau": 0.1, "val_nll_at_1": 0.3}]
    table = teachers_table(p, recs, [sharp, soft], [y, {**y, "y_val": np.array([0])}])
    df = table.frame.set_index("teacher")
    assert list(df.index) == ["a", "b"] and df.loc["b", "model"] == "kernel"
    assert df.loc["a", "train_acc"] == 100.0 and df.loc["a", "test_acc"] == 75.0
    assert df.loc["a", "test_ece"] == pytest.approx(0.4)
    assert df.loc["a", "train_nll"] < 0.01 and df.loc["a", "note"] == MEMORISED_NOTE
    assert df.loc["b", "note"] == "" and df.loc["b", "val_acc"] == 100.0 and df.loc["b", "test_acc"] == 100.0
    assert df.loc["b", "test_ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.4)
    assert df.loc["b", "temperature_nll"] == 0.5 and np.isnan(df.loc["a", "temperature_nll"])
    assert np.isnan(df.loc["a", "val_nll"])
    # a τ* on its search bound (as the minimiser returns it) is noted as such
    from softlabels.analysis.tables import TAU_BOUND_NOTE

    on_bound = teachers_table(p, [{}, {**recs[1], "temperature_nll": 0.010000000000000004}], [sharp, soft],
                              [y, {**y, "y_val": np.array([0])}])
    assert on_bound.frame.set_index("teacher").loc["b", "note"] == TAU_BOUND_NOTE


def _auto_config(n_val: int) -> dict:
    cfg = micro_config()
    cfg["datasets"]["easy"]["n_val"] = n_val
    cfg["methods"]["kd-auto"] = {"kind": "kd", "temperature": "auto"}
    cfg["experiments"]["e"]["methods"].append("kd-auto")
    return cfg


def test_auto_needs_a_validation_split():
    cfg = validate(_auto_config(20), SCHEMA)
    assert cfg["methods"]["kd-auto"]["temperature"] == "auto"
    with pytest.raises(ConfigError, match=r"experiments\.e: method 'kd-auto' has temperature 'auto'.*data set 'easy' "
                                          r"has no validation split \(set n_val > 0\)"):
        validate(_auto_config(0), SCHEMA)
    digits = _auto_config(20)
    digits["datasets"]["easy"] = {"kind": "digits", "split": [0.9, 0.0, 0.1]}
    with pytest.raises(ConfigError, match=r"'easy' has no validation split \(set split\[1\] > 0\)"):
        validate(digits, SCHEMA)
    sweep = _auto_config(20)
    sweep["methods"]["kd-auto"]["temperature"] = [1.0, "auto"]  # a sweep stays numeric
    with pytest.raises(ConfigError, match="methods.kd-auto.temperature"):
        validate(sweep, SCHEMA)
    for kind in ("wsl", "kd-filtered"):
        other = _auto_config(20)
        other["methods"]["kd-auto"]["kind"] = kind
        validate(other, SCHEMA)


def test_student_method_reads_the_teachers_tau(tmp_path):
    from softlabels.pipeline.rules import student_method

    teacher = {"logits_train": np.zeros((3, 2)), "temperature_nll": np.array(2.5)}
    method, used = student_method(teacher, {"kind": "kd", "temperature": "auto", "alpha": 1.0})
    assert method.temperature == 2.5 and used == {"temperature_used": 2.5}
    assert student_method(teacher, {"kind": "kd", "temperature": 3.0, "alpha": 1.0})[1] == {"temperature_used": 3.0}
    assert student_method(None, {"kind": "hard"})[1] == {}
    with pytest.raises(ConfigError, match="logits.npz: .*no validation split"):
        student_method({"logits_train": np.zeros((3, 2))}, {"kind": "kd", "temperature": "auto", "alpha": 1.0},
                       "logits.npz")


@pytest.mark.slow
def test_auto_temperature_workflow(tmp_path):
    """A micro run with a kd-auto method: the teacher records τ* in logits.npz and teacher.json, the student's
    meta.json records the τ it used (the teacher's), the regularization table leaves kd-auto out, and the
    teachers table has the teacher's row."""
    write_config(tmp_path, _auto_config(24))
    targets = ("results/tables/regularization.csv", "results/tables/teachers.csv",  # and what they need; no figures
               "results/students/easy/wide/kd-auto/theory")
    snakemake(tmp_path, *targets, "--cores", "2", "--configfile", str(tmp_path / "config.yaml"))
    res = tmp_path / "results"
    teacher = json.loads((res / "teachers/easy/wide/teacher.json").read_text())
    tau = teacher["temperature_nll"]
    assert 0.01 <= tau <= 100 and teacher["val_nll_at_tau"] <= teacher["val_nll_at_1"] + 1e-12
    assert float(io.read_npz(res / "teachers/easy/wide/logits.npz")["temperature_nll"]) == tau
    meta = json.loads((res / "students/easy/wide/kd-auto/theory/m4/meta.json").read_text())
    assert meta["temperature_used"] == pytest.approx(tau) and meta["config"]["method"]["temperature"] == "auto"
    kd = json.loads((res / "students/easy/wide/kd/theory/m4/meta.json").read_text())
    assert kd["temperature_used"] == 2.0
    import pandas as pd

    reg = pd.read_csv(res / "tables/regularization.csv")
    assert set(reg["method"]) == {"kd"}
    teachers = pd.read_csv(res / "tables/teachers.csv")
    row = teachers.set_index(["dataset", "teacher"]).loc[("easy", "wide")]
    assert row["temperature_nll"] == pytest.approx(tau) and 0 <= row["test_ece"] <= 1
    assert (res / "tables/teachers.html").exists() and (res / "tables/teachers.md").exists()


def test_the_kernel_teacher_gets_its_tau_star_from_its_validation_logits(tmp_path):
    from test_kernel_teacher import KERNEL, _snk

    from softlabels.pipeline.rules import train_teacher

    snk, d = _snk(tmp_path, {**KERNEL, "n_val": 200, "label_noise": 0.1})
    train_teacher(snk)
    meta = json.loads((tmp_path / "teacher.json").read_text())
    z_val = io.read_npz(snk.output.logits)["logits_val"]
    tau, at_tau = select_temperature(z_val, d["y_val"])
    assert meta["temperature_nll"] == pytest.approx(tau) and meta["val_nll_at_tau"] == pytest.approx(at_tau)
    assert meta["val_nll_at_1"] == pytest.approx(nll(z_val, d["y_val"])) and at_tau <= meta["val_nll_at_1"]
    assert float(io.read_npz(snk.output.logits)["temperature_nll"]) == pytest.approx(tau)


def test_auto_is_no_single_temperature_downstream():
    from softlabels.pipeline.config import fmt_temperature, numeric_temperature
    from softlabels.report.figplan import method_names

    assert fmt_temperature("auto") == "auto" and fmt_temperature(4) == "4"
    assert numeric_temperature({"temperature": "auto"}) is None and numeric_temperature({"temperature": 2}) == 2.0
    names = method_names({"kd-auto": {"kind": "kd", "temperature": "auto"}}, ["kd-auto"])
    assert names == {"kd-auto": {"method": "kd-auto", "temperature": None}}
