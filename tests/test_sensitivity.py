"""Design variants (experiments' variant_of / varies), the sensitivity table and figure, the README
block's robustness column, and what adding or editing a variant re-runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SCHEMA, TINY, micro_config, planned_jobs, snakemake, write_config

from softlabels.analysis import sensitivity as S
from softlabels.errors import ConfigError
from softlabels.pipeline import config as C
from softlabels.pipeline import plan as P

CLAIM_BIAS = "KD has a larger bias than direct training"
CLAIM_VAR = "KD has a smaller variance than direct training"
CLAIM_WSL = "WSL gives higher test accuracy than KD at the same temperature"


def _summary(rows: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    """A made-up claims summary: (paper, claim, experiment, verdict, median effect)."""
    return pd.DataFrame([{"paper": p, "claim": c, "experiment": e, "verdict": v, "settings": 2, "effect": "e",
                          "claimed": "> 0", "estimate_median": m, "estimate_lo": m - 1, "estimate_hi": m + 1,
                          "holm_supporting": 0, "holm_contradicting": 0, "supported": 0, "contradicted": 0,
                          "inconclusive": 0, "not tested": 0, "note": ""} for p, c, e, v, m in rows])


VARIANTS = {"b-t1": {"base": "b", "varies": "KD temperature τ = 1"},
            "b-t8": {"base": "b", "varies": "KD temperature τ = 8"}}


def test_labels_robust_fragile_weak():
    summary = _summary([
        ("B", CLAIM_BIAS, "b", "supported", 1.0), ("B", CLAIM_VAR, "b", "supported", 1.0),
        ("B", CLAIM_WSL, "b", "supported", 1.0),
        ("B", CLAIM_BIAS, "b-t1", "contradicted", -1.0), ("B", CLAIM_VAR, "b-t1", "supported", 2.0),
        ("B", CLAIM_WSL, "b-t1", "supported", 1.0),
        ("B", CLAIM_BIAS, "b-t8", "supported", 1.0), ("B", CLAIM_VAR, "b-t8", "supported", 2.0),
        ("B", CLAIM_WSL, "b-t8", "inconclusive", 0.1),
    ])
    t = S.sensitivity_table(summary, VARIANTS)
    labels = S.robustness_of(t)
    assert labels == {("B", CLAIM_BIAS, "b"): "fragile", ("B", CLAIM_VAR, "b"): "robust",
                      ("B", CLAIM_WSL, "b"): "weak"}
    bias = t[t["claim"] == CLAIM_BIAS]
    assert list(bias["design"]) == [S.BASE_DESIGN, "b-t1", "b-t8"]
    assert list(bias["agreement"]) == ["", "flips", "agrees"]
    assert list(bias["varies"])[1:] == ["KD temperature τ = 1", "KD temperature τ = 8"]
    assert list(t[t["claim"] == CLAIM_WSL]["agreement"]) == ["", "agrees", "differs"]
    assert list(t.columns) == S.COLUMNS


def test_not_tested_is_weak_and_a_claim_no_variant_tests_is_labelled_so():
    summary = _summary([("B", CLAIM_BIAS, "b", "supported", 1.0), ("B", CLAIM_VAR, "b", "contradicted", -1.0),
                        ("B", CLAIM_BIAS, "b-t1", "not tested", 1.0)])
    labels = S.robustness_of(S.sensitivity_table(summary, {"b-t1": VARIANTS["b-t1"]}))
    assert labels == {("B", CLAIM_BIAS, "b"): "weak", ("B", CLAIM_VAR, "b"): "no variant"}


def test_two_variants_deciding_opposite_ways_make_an_open_claim_fragile():
    assert S.robustness("inconclusive", ["supported", "contradicted"]) == "fragile"
    assert S.robustness("inconclusive", ["supported"]) == "weak"
    assert S.robustness("inconclusive", ["inconclusive"]) == "robust"
    assert S.robustness("supported", []) == "no variant"


def test_a_common_radius_claim_is_matched_with_the_radius_left_out_only_when_unambiguous():
    one = "soft labels need fewer neurons than hard labels (both arms at radius B = 4)"
    own = "soft labels need fewer neurons than hard labels (each arm at its own theorem's radius)"
    other = "soft labels need fewer neurons than hard labels (both arms at radius B = 16)"
    assert S.match_claims([("A", one), ("A", own)], [("A", other), ("A", own)]) == {
        ("A", one): ("A", other), ("A", own): ("A", own)}
    # two common radii in the base: which one a third radius re-tests is ambiguous, so none is matched
    assert S.match_claims([("A", one), ("A", other)], [("A", one.replace("4", "2"))]) == {}
    t = S.sensitivity_table(_summary([("A", one, "n", "supported", 1.0), ("A", other, "n-b16", "supported", 2.0)]),
                            {"n-b16": {"base": "n", "varies": "common radius B = 16"}})
    assert list(t["claim_as_tested"]) == ["", other] and list(t["robustness"]) == ["robust", "robust"]


def test_the_figure_draws_a_panel_per_claim_and_says_so_when_empty(tmp_path):
    from softlabels.report.figures import plot_sensitivity, save

    summary = _summary([("B", CLAIM_BIAS, "b", "supported", 1.0), ("B", CLAIM_BIAS, "b-t1", "contradicted", -1.0),
                        ("B", CLAIM_VAR, "b", "supported", 1.0), ("B", CLAIM_VAR, "b-t8", "inconclusive", math.nan)])
    fig = plot_sensitivity(S.sensitivity_table(summary, VARIANTS))
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    assert "[fragile]" in fig.axes[0].get_title(loc="left")
    save(fig, tmp_path / "s.png", tmp_path / "s.svg")
    from PIL import Image

    assert Image.open(tmp_path / "s.png").size[0] == pytest.approx(1400, abs=10)
    empty = plot_sensitivity(pd.DataFrame(columns=S.COLUMNS))
    assert "No claim" in empty.axes[0].texts[0].get_text()


def test_the_readme_block_gets_a_robustness_column_only_with_a_sensitivity_table():
    from softlabels.report.summary import claims_markdown

    summary = _summary([("B", CLAIM_BIAS, "b", "supported", 1.0), ("B", CLAIM_BIAS, "b-t1", "contradicted", -1.0),
                        ("B", CLAIM_VAR, "other", "supported", 1.0)])
    plain = claims_markdown(summary)
    assert "robustness" not in plain
    withs = claims_markdown(summary, S.sensitivity_table(summary, {"b-t1": VARIANTS["b-t1"]}))
    lines = withs.splitlines()
    assert "| pooled verdict | robustness |" in lines[0]
    assert lines[1].count("|") == lines[0].count("|") == lines[2].count("|")
    assert "| supported | fragile |" in lines[2] and "| contradicted | variant of b |" in lines[3]
    assert "| supported | – |" in lines[4]
    # the same rows otherwise: dropping the column gives the plain block back
    assert [line.replace(" fragile |", "").replace(" variant of b |", "").replace(" – |", "")
            for line in lines[2:]] == plain.splitlines()[2:]


def test_results_block_reads_the_sensitivity_table_beside_the_summary(tmp_path):
    from softlabels.cli import results_block

    summary = _summary([("B", CLAIM_BIAS, "b", "supported", 1.0), ("B", CLAIM_BIAS, "b-t1", "supported", 1.0)])
    summary.to_csv(tmp_path / "claims_summary.csv", index=False)
    plain = results_block(str(tmp_path / "claims_summary.csv"))
    assert "robustness" not in plain and "sensitivity" not in plain
    S.sensitivity_table(summary, {"b-t1": VARIANTS["b-t1"]}).to_csv(tmp_path / "sensitivity.csv", index=False)
    block = results_block(str(tmp_path / "claims_summary.csv"))
    assert "| supported | robust |" in block and "sensitivity.csv" in block


# --- config: variant_of and varies -------------------------------------------------------------------


def _tiny_with_variant(**variant) -> dict:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["methods"]["kd-t1"] = {"kind": "kd", "temperature": 1.0}
    cfg["experiments"]["neurons-t1"] = {"variant_of": "neurons", "varies": "KD temperature τ = 1",
                                        "methods": ["hard", "kd-t1"], **variant}
    return cfg


def test_a_variant_inherits_what_it_does_not_list_and_shares_its_base_cells():
    cfg = C.validate(_tiny_with_variant(), SCHEMA)
    v, base = cfg["experiments"]["neurons-t1"], cfg["experiments"]["neurons"]
    assert [v[s] for s in ("datasets", "teachers", "students")] == [base[s] for s in ("datasets", "teachers", "students")]
    cells = C.experiment_cells(cfg)
    shared = set(cells["neurons"]) & set(cells["neurons-t1"])
    assert shared and all(c.method == "hard" for c in shared)  # the hard-label students are trained once
    assert C.design_variants(cfg) == {"neurons-t1": {"base": "neurons", "varies": "KD temperature τ = 1"}}
    assert "results/tables/sensitivity.csv" in P.all_tables(cfg) and "sensitivity" in P.figure_names(cfg)
    plain = C.validate(yaml.safe_load(TINY.read_text()), SCHEMA)
    assert "results/tables/sensitivity.csv" not in P.all_tables(plain) and "sensitivity" not in P.figure_names(plain)


@pytest.mark.parametrize("edit,pattern", [
    (lambda c: c["experiments"]["neurons-t1"].update(variant_of="nope"),
     r"experiments\.neurons-t1\.variant_of: 'nope' is not an experiment"),
    (lambda c: c["experiments"].update(chain={"variant_of": "neurons-t1", "varies": "x", "students": ["early"]}),
     r"experiments\.chain\.variant_of: 'neurons-t1' is itself a variant \(of 'neurons'\)"),
    (lambda c: c["experiments"]["neurons"].update(variant_of="neurons-t1", varies="loop"),
     r"is itself a variant"),
    (lambda c: c["experiments"]["neurons-t1"].pop("varies"), r"experiments\.neurons-t1\.varies: a variant names"),
    (lambda c: c["experiments"]["neurons-t1"].update(varies="  "), r"experiments\.neurons-t1\.varies"),
    (lambda c: c["experiments"]["biasvar"].update(varies="x"), r"experiments\.biasvar\.varies: only a design variant"),
    (lambda c: c["experiments"]["neurons-t1"].update(methods=["kd", "hard"]),
     r"experiments\.neurons-t1: the variant lists the same"),
    (lambda c: c["experiments"]["neurons-t1"].update(methods=["hard", "kd-t2"]),
     r"experiments\.neurons-t1\.methods: 'kd-t2' is not defined"),
    (lambda c: c["experiments"]["neurons-t1"].update(variant_of="neurons-t1"), r"a variant of itself"),
    (lambda c: c["experiments"]["neurons-t1"].update(varies="x" * 81), r"experiments\.neurons-t1\.varies"),
])
def test_bad_variants_are_refused_naming_the_key(edit, pattern):
    cfg = _tiny_with_variant()
    edit(cfg)
    with pytest.raises(ConfigError, match=pattern):
        C.validate(cfg, SCHEMA)


def test_a_base_experiment_still_needs_its_lists():
    cfg = yaml.safe_load(TINY.read_text())
    del cfg["experiments"]["biasvar"]["students"]
    with pytest.raises(ConfigError, match=r"experiments\.biasvar.*students"):
        C.validate(cfg, SCHEMA)


def test_the_shipped_sensitivity_config_validates_with_three_variants_per_base():
    cfg = C.load(ROOT / "config" / "sensitivity.yaml", SCHEMA)
    variants = C.design_variants(cfg)
    bases = {v["base"] for v in variants.values()}
    assert bases and all(sum(v["base"] == b for v in variants.values()) >= 3 for b in bases)
    assert "results/tables/sensitivity.csv" in P.all_tables(cfg)


# --- the workflow: what a variant re-runs, and the table and figure of a real run --------------------------


@pytest.mark.slow
def test_adding_then_editing_a_variant_reruns_only_its_cells_and_the_tables(tiny_copy):
    cfg = _tiny_with_variant()
    write_config(tiny_copy, cfg)
    jobs = planned_jobs(tiny_copy)
    cell_jobs = sorted((r, w["dataset"], w["teacher"], w["method"], w["student"]) for r, w in jobs if "dataset" in w)
    assert cell_jobs == [("train_students", d, "wide", "kd-t1", "theory") for d in ("easy", "hard", "mid")]
    assert all(r.startswith("figure_") for r, w in jobs if w and "dataset" not in w)  # per-experiment figures
    rules = {r for r, w in jobs if not w}
    assert {"sensitivity_table", "figure_sensitivity", "claims_table", "all"} <= rules
    assert not rules & {"make_data", "measure_margin", "train_teacher"}
    # the variant's own method edited: its cells again, nothing of the base
    cfg["methods"]["kd-t1"]["alpha"] = 0.5
    write_config(tiny_copy, cfg)
    cell_jobs = sorted((r, w["method"]) for r, w in planned_jobs(tiny_copy) if "dataset" in w)
    assert cell_jobs == [("train_students", "kd-t1")] * 3


@pytest.mark.slow
def test_a_micro_run_with_a_variant_writes_the_sensitivity_table_and_figure(tmp_path):
    cfg = micro_config()
    cfg["methods"]["kd-t1"] = {"kind": "kd", "temperature": 1.0}
    cfg["experiments"]["e-t1"] = {"variant_of": "e", "varies": "KD temperature τ = 1", "methods": ["hard", "kd-t1"]}
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", "--configfile", str(tmp_path / "config.yaml"))
    t = pd.read_csv(tmp_path / "results/tables/sensitivity.csv")
    summary = pd.read_csv(tmp_path / "results/tables/claims_summary.csv")
    assert set(t["base"]) <= {"e"} and set(t["design"]) <= {S.BASE_DESIGN, "e-t1"}
    assert len(t[t["design"] == S.BASE_DESIGN]) == int((summary["experiment"] == "e").sum())
    assert set(t["robustness"]) <= set(S.LABELS)
    for f in ("tables/sensitivity.md", "tables/sensitivity.html", "figures/sensitivity.png", "figures/sensitivity.svg"):
        assert (tmp_path / "results" / f).stat().st_size > 0, f
