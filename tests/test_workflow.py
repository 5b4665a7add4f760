"""The whole workflow on the tiny config: the tables' contents, provenance and lint."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SCHEMA, TINY, snakemake

from softlabels.io import read_npz
from softlabels.pipeline import config as C

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cfg():
    return C.load(TINY, SCHEMA)


def _table(run, name):
    return pd.read_csv(run / "results" / "tables" / f"{name}.csv")


def test_neurons_table(tiny_run, cfg):
    df = _table(tiny_run, "neurons")
    cells = C.experiment_cells(cfg)
    assert len(df) == sum(len(c) for c in cells.values())
    assert df["replicates"].isin([2, 3]).all()
    assert df["train_err_mean_iter"].between(0, 1).all() and df["test_acc_mean"].between(0, 1).all()
    margins = {d: json.loads((tiny_run / f"results/data/{d}/margin.json").read_text()) for d in cfg["datasets"]}
    for _, row in df.iterrows():
        assert row["gamma"] == pytest.approx(margins[row["dataset"]]["gamma"])
        r = read_npz(tiny_run / C.Cell(row["dataset"], row["teacher"], row["method"], row["student"],
                                       int(row["width"])).path / "replicates.npz")
        assert row["train_err_mean_iter"] == pytest.approx(r["train_err"].mean())
    # the requested margins are ordered, and so are the measured ones
    g = df[df.experiment == "neurons"].groupby("dataset")["gamma"].first()
    assert g["easy"] > g["mid"] > g["hard"] > 0


def test_neurons_needed_is_the_smallest_width_reaching_epsilon(tiny_run):
    df, needed = _table(tiny_run, "neurons"), _table(tiny_run, "neurons_needed")
    assert set(needed["epsilon"]) == {0.3, 0.1}
    for _, row in needed.iterrows():
        g = df[(df.experiment == row.experiment) & (df.dataset == row.dataset) & (df.method == row.method)
               & (df.teacher == row.teacher) & (df.student == row.student)]
        ok = g[g.train_err_mean_iter <= row.epsilon]
        if pd.isna(row.m_star):
            assert ok.empty and row.reached.startswith("not reached")
        else:
            floor = row.m_star == g.width.min()  # already reached at the narrowest width: only m* ≤ it is known
            assert row.m_star == ok.width.min() and row.reached == ("at the narrowest width (m* ≤ it)" if floor
                                                                    else "yes")


def test_scaling_table(tiny_run):
    sc = _table(tiny_run, "scaling")
    assert set(sc["experiment"]) == {"neurons"}            # only experiments with several data sets
    assert set(sc["method"]) == {"hard", "kd"}
    assert (sc.loc[sc.method == "hard", "theory_slope"] == 4).all()
    assert (sc.loc[sc.method == "kd", "theory_slope"] == 2).all()
    fitted = sc.dropna(subset=["slope"])
    assert (fitted.slope_lo <= fitted.slope).all() and (fitted.slope <= fitted.slope_hi).all()
    assert sc[sc.slope.isna()]["note"].str.len().gt(0).all()  # every missing slope says why


def test_biasvar_table(tiny_run):
    bv = _table(tiny_run, "biasvar")
    assert np.allclose(bv.ce_loss, bv.ce_bias + bv.ce_variance, atol=1e-6)
    assert np.allclose(bv.zo_loss, bv.zo_bias + bv.zo_net_variance, atol=1e-9)
    assert np.allclose(bv.se_loss, bv.se_bias + bv.se_variance, atol=1e-9)
    assert (bv.ce_bias_lo <= bv.ce_bias).all() and (bv.ce_bias <= bv.ce_bias_hi).all()
    assert (bv[bv.student == "practical"].resampling == "fresh").all()
    assert (bv[bv.student != "practical"].resampling == "bootstrap").all()
    kd = bv[(bv.dataset == "noisy") & (bv.teacher == "wide") & (bv.method == "kd-tau-T4")].iloc[0]
    hard = bv[(bv.dataset == "noisy") & (bv.method == "hard")].iloc[0]
    assert kd.bias_shift_vs_direct == pytest.approx(kd.ce_bias - hard.ce_bias, abs=1e-9)
    assert bv[bv.teacher == "none"].bias_shift_vs_direct.isna().all()


def test_fresh_training_sets_reach_the_students_and_the_teacher(tiny_run):
    """resampling fresh (tiny: noisy, fresh_sets 3): replicate r of every cell trains on fresh set r of the data
    set's pool, and the teacher's logits cover the pool, so a distilling student reads soft labels there."""
    d = read_npz(tiny_run / "results/data/noisy/data.npz")
    assert d["X_pool"].shape == (3 * 64, 4) and d["y_pool"].shape == (192,)
    t = read_npz(tiny_run / "results/teachers/noisy/wide/logits.npz")
    assert t["logits_pool"].shape == (192, 2)
    for cell in ("none/hard", "wide/wsl"):
        idx = read_npz(tiny_run / f"results/students/noisy/{cell}/practical/m8/replicates.npz")["indices"]
        assert np.array_equal(idx, np.arange(192).reshape(3, 64)), cell


def test_regularization_table(tiny_run):
    rg = _table(tiny_run, "regularization")
    noisy = rg[rg.dataset == "noisy"]
    assert set(noisy.teacher) == {"wide", "wide-ls"}
    assert set(noisy.teacher_label_smoothing) == {0.0, 0.1}
    assert {1.0, 4.0} <= set(noisy.temperature)
    assert (rg.rule == "gt").all() and rg.fraction_final.between(0, 1).all()
    ep = pd.read_csv(tiny_run / "results/tables/regularization_epochs.csv")
    assert ep.groupby(["dataset", "teacher", "method", "width"]).epoch.max().min() >= 1  # per-epoch counts


def test_wsl_and_paper_tables(tiny_run):
    w = _table(tiny_run, "wsl")
    row = w[(w.dataset == "noisy") & (w.teacher == "wide")].iloc[0]
    for m in ("hard", "ls", "wsl", "kd-filtered", "kd-tau-T1", "kd-tau-T4"):
        assert "±" in row[m]
    assert w["paper_B"].isna().all()                        # not the paper's setting: left empty
    t1 = _table(tiny_run, "paperA_table1")
    assert list(t1.data) == ["reduced"] and list(t1.student_neurons) == [4]
    assert t1.paper_hard.iloc[0] == 93.04 and t1.paper_soft.iloc[0] == 95.83
    assert 50 < t1.hard_acc.iloc[0] <= 100 and 50 < t1.teacher_acc.iloc[0] <= 100
    assert list(t1.soft_method) == ["kd"] and list(t1.kind) == ["digits"]
    for arm in ("hard", "soft"):  # an interval over replicates and test points, around the mean, wider than zero
        assert (t1[f"{arm}_lo"] < t1[f"{arm}_acc"]).all() and (t1[f"{arm}_acc"] < t1[f"{arm}_hi"]).all()
    assert (tiny_run / "results/tables/paperA_table1.md").read_text().count("|") > 20


def test_every_result_records_its_provenance(tiny_run, cfg):
    cell = next(iter(C.all_cells(cfg)))
    meta = json.loads((tiny_run / cell.path / "meta.json").read_text())
    assert meta["config"]["student"] == C.student_slice(cfg, cell.student)
    assert meta["config"]["method"] == C.method_slice(cfg, cell.method)
    assert meta["softlabels_version"] and meta["code_revision"]
    data_meta = json.loads((tiny_run / "results/data/easy/data.json").read_text())
    assert data_meta["config"] == cfg["datasets"]["easy"]
    assert json.loads((tiny_run / "results/teachers/easy/wide/teacher.json").read_text())["accuracy"]["test"] > 0.5


def test_logs_hold_the_training_curve(tiny_run):
    log = (tiny_run / "logs/train_students/easy/none/hard/theory.log").read_text()
    assert "epoch 1/40" in log and "epoch 40/40" in log and "train err" in log and "elapsed" in log


def test_lint_is_clean(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(yaml.safe_load(TINY.read_text())))
    proc = snakemake(tmp_path, "--lint", "--configfile", str(tmp_path / "config.yaml"), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_claims_table_fills_every_column_or_says_why(tiny_run):
    """Each claim row has a verdict by the stated rule and an effect with its interval, or a note saying
    why not; the run summary counts the same verdicts."""
    from softlabels.analysis.claims import COLUMNS, VERDICTS, verdict

    claims = _table(tiny_run, "claims")
    assert list(claims.columns) == COLUMNS and len(claims) > 0
    assert set(claims["paper"]) == {"A", "B"} and set(claims["verdict"]) <= set(VERDICTS)
    for _, r in claims.iterrows():
        complete = all(pd.notna(r[c]) for c in ("estimate", "lo", "hi"))
        assert complete or (isinstance(r["note"], str) and r["note"]), r.to_dict()
        if r["verdict"] != "not tested":
            sign, threshold = r["claimed"].split()
            assert r["verdict"] == verdict(r["lo"], r["hi"], sign, float(threshold)), r.to_dict()
    assert (tiny_run / "results/tables/claims.html").exists()
