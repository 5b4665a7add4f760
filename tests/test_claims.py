"""The claims table: the verdict rule on hand-made numbers, and each kind of claim on made-up results."""

import math

import numpy as np
import pandas as pd
import pytest

from softlabels.analysis import claims as K


@pytest.mark.parametrize("lo,hi,claimed,threshold,expected", [
    (0.1, 0.5, ">", 0.0, "supported"),
    (-0.5, -0.1, ">", 0.0, "contradicted"),
    (-0.1, 0.5, ">", 0.0, "inconclusive"),
    (-0.5, -0.1, "<", 0.0, "supported"),
    (0.1, 0.5, "<", 0.0, "contradicted"),
    (1.0, 1.9, "<", 2.0, "supported"),
    (2.5, 6.0, "<", 2.0, "contradicted"),
    (-1.9, 6.5, "<", 4.0, "inconclusive"),
    (math.nan, math.nan, ">", 0.0, "inconclusive"),
])
def test_verdict_rule(lo, hi, claimed, threshold, expected):
    assert K.verdict(lo, hi, claimed, threshold) == expected


def test_paired_t_interval():
    est, lo, hi = K.paired_t(np.array([1.0, 2.0, 3.0]), 0.95)
    assert est == 2.0 and lo == pytest.approx(2 - 4.303 / math.sqrt(3), abs=1e-3) and hi > 2
    assert math.isnan(K.paired_t(np.array([1.0]), 0.95)[1])


def _params(**kw):
    p = {"method_kinds": {"hard": "hard", "kd": "kd", "wsl": "wsl"}, "direct_method": "hard",
         "method_params": {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 4.0},
                           "wsl": {"kind": "wsl", "temperature": 4.0}},
         "regimes": {"theory": "theory", "prac": "practical"}, "epsilons": [0.1, 0.01], "interval": 0.95,
         "n_boot": 200, "teacher_ls": {"wide": 0.0, "wide-ls": 0.1}, "data_kinds": {"d": "synthetic"},
         "student_setups": {"theory": {"setup": "theory", "radius": "4"}, "prac": {"setup": "prac", "radius": ""}},
         "teacher_models": {"wide": "kernel", "wide-ls": "mlp"},
         "data_targets": {d: "kernel" for d in ("d", "d1", "d2", "d3", "d4")}}
    p.update(kw)
    return p


def _curves(rng, soft_hard: dict, R: int = 8, T: int = 5, ds: str = "d") -> dict:
    out = {}
    for w, (hard, soft) in soft_hard.items():
        out[("n", ds, "none", "hard", "theory", w)] = hard + 0.01 * rng.random((R, T))
        out[("n", ds, "wide", "kd", "theory", w)] = soft + 0.001 * rng.random((R, T))
    return out


def test_soft_needs_fewer_neurons_at_the_primary_epsilon_in_its_regime():
    curves = _curves(np.random.default_rng(0), {2: (0.3, 0.05), 4: (0.2, 0.0), 8: (0.05, 0.0)})
    (row,) = K.neurons_claims(_params(), curves, {"d": 0.05}, np.random.default_rng(1))  # one ε: the primary
    assert "primary ε 0.1" in row["setting"]  # the median of [0.01, 0.1] (the larger of the middle two)
    # hard crosses ε = 0.1 between widths 4 (error ≈ 0.205) and 8 (≈ 0.055): log2 m* ≈ 2.7; soft reaches ε at the
    # narrowest width already, so its m* is at most 2 and the gap at least log2(m*_hard / 2): a lower bound
    hard_m = [np.mean(curves[("n", "d", "none", "hard", "theory", w)].mean(1)) for w in (4, 8)]
    expect = 2 + (hard_m[0] - 0.1) / (hard_m[0] - hard_m[1]) - 1
    assert row["estimate"] == pytest.approx(expect) and row["bound"] == "≥" and row["verdict"] == "supported"
    assert math.isinf(row["hi"]) and row["lo"] > 0
    # the other ε are in the note, not rows: at 0.01 hard never reaches it (a bound against soft's interpolated m*)
    assert "other ε (not counted): 0.01: ≥" in row["note"]
    assert row["claim"] == "soft labels need fewer neurons than hard labels (both arms at radius B = 4: a constraint study)"
    assert "bounds' ratio γ²/(ε ln(1/ε)) 0.011" in row["setting"]  # 0.05² / (0.1 ln 10)
    # a p-value from the draws: every draw's lower bound lies above 0, so it is the floor 1 / n_boot
    assert row["p_value"] == pytest.approx(1 / 200) and row["p_against"] == 1.0


def test_declared_primary_epsilon():
    assert K.primary_epsilon(_params(epsilons=[0.1, 0.05, 0.02, 0.01, 0.005])) == 0.02
    assert K.primary_epsilon(_params(epsilons=[0.1, 0.05], primary_epsilon=0.05)) == 0.05
    with pytest.raises(ValueError, match="not one of"):
        K.primary_epsilon(_params(epsilons=[0.1, 0.05], primary_epsilon=0.2))


def test_neuron_claims_outside_the_theorem_are_not_tested():
    curves = _curves(np.random.default_rng(0), {2: (0.3, 0.05), 4: (0.2, 0.0), 8: (0.05, 0.0)})
    rows = K.neurons_claims(_params(teacher_models={"wide": "mlp"}, data_targets={"d": "linear"},
                                    student_setups={"theory": {"setup": "theory", "radius": "auto"}}),
                            curves, {"d": 0.05}, np.random.default_rng(1))
    assert {r["verdict"] for r in rows} == {"not tested"}
    assert "not the kernel-limit teacher" in rows[0]["note"] and "no certified kernel margin" in rows[0]["note"]
    assert rows[0]["claim"].endswith("(each arm at its own theorem's radius)")


def test_identical_replicates_give_no_verdict():
    """Every replicate the same (a zero-width interval): no verdict, and the note says why."""
    R, T = 8, 5
    curves = {}
    for w in (2, 4, 8):
        curves[("n", "d", "none", "hard", "theory", w)] = np.full((R, T), 0.3)  # never reaches ε
        curves[("n", "d", "wide", "kd", "theory", w)] = np.full((R, T), 0.0 if w >= 4 else 0.2)
    (row,) = K.neurons_claims(_params(epsilons=[0.1]), curves, {"d": 0.01}, np.random.default_rng(0))
    # hard never reaches ε: its m* lies beyond the widest width 8, a lower bound on the gap
    assert row["estimate"] == pytest.approx(math.log2(8 / 2 ** 1.5)) and row["bound"] == "≥"
    assert row["verdict"] == "inconclusive" and "zero-width interval" in row["note"]


def test_soft_needs_fewer_neurons_supported_and_censored():
    R, T = 8, 5
    rng = np.random.default_rng(3)
    curves = {}
    for w in (2, 4, 8):
        curves[("n", "d", "none", "hard", "theory", w)] = np.full((R, T), 0.3)  # never reaches ε
        soft = np.full((R, T), 0.2) if w == 2 else (0.0 if w == 8 else 0.12 * rng.random((R, 1))) + np.zeros((R, T))
        curves[("n", "d", "wide", "kd", "theory", w)] = soft
    (row,) = K.neurons_claims(_params(epsilons=[0.1]), curves, {"d": 0.01}, np.random.default_rng(0))
    assert row["verdict"] == "supported" and row["lo"] < row["hi"] and math.isinf(row["hi"])
    # hard never reaches ε: its m* lies beyond the widest width 8, so the effect is a lower bound; soft crosses ε
    # between 2 and 4
    assert row["bound"] == "≥" and math.log2(8 / 2) > row["estimate"] > math.log2(8 / 4)
    assert "does not reach ε at the widest width" in row["note"]


def test_interpolated_m_star():
    errs = [np.array([0.3]), np.array([0.2]), np.array([0.0])]
    assert K.m_star_interpolated([2, 4, 8], errs, 0.1) == pytest.approx(2 ** 2.5)
    assert K.m_star_interpolated([2, 4, 8], errs, 0.3) == 2.0
    assert math.isnan(K.m_star_interpolated([2, 4, 8], errs, -0.1))


def test_gap_growth_with_shrinking_margin():
    """The soft-label advantage grows with log2(1/γ): hard needs twice the width per halving of γ, soft does not."""
    rng = np.random.default_rng(0)
    curves, gammas = {}, {}
    for k, ds in enumerate(("d1", "d2", "d3", "d4")):
        hard_reach = 2 ** (k + 3)  # 8, 16, 32, 64; soft reaches ε at 4: both m* interpolated, neither a bound
        widths = {w: (0.0 if w >= hard_reach else 0.3, 0.0 if w >= 4 else 0.3) for w in (2, 4, 8, 16, 32, 64, 128)}
        curves.update(_curves(rng, widths, ds=ds))
        gammas[ds] = 0.2 / 2 ** k
    rows = K.gap_growth_claims(_params(epsilons=[0.1]), curves, gammas, np.random.default_rng(1))
    (row,) = rows
    assert row["estimate"] == pytest.approx(1.0, abs=0.05) and row["claim"].startswith("the soft-label advantage")
    assert "4 data sets" in row["setting"] and row["n"] == 4 and row["bound"] == ""
    assert "t-interval over data sets" in row["interval"] and "2 degrees of freedom" in row["note"]


def test_slope_claims_follow_the_interval():
    scaling = pd.DataFrame([
        {"experiment": "n", "teacher": "none", "student": "theory", "method": "hard", "epsilon": 0.1,
         "datasets_total": 4, "datasets_reached": 4, "slope": 1.0, "slope_lo": 0.5, "slope_hi": 1.5,
         "intercept": 0.0, "theory_slope": 4.0, "note": ""},
        {"experiment": "n", "teacher": "wide", "student": "theory", "method": "kd", "epsilon": 0.1,
         "datasets_total": 4, "datasets_reached": 2, "slope": math.nan, "slope_lo": math.nan, "slope_hi": math.nan,
         "intercept": math.nan, "theory_slope": 2.0, "note": "needs m* reached on >= 3 data sets"}])
    a, b = K.slope_claims(_params(), scaling)
    assert a["verdict"] == "supported" and a["claimed"] == "< 4"
    (c, _) = K.slope_claims(_params(), scaling.assign(student="prac"))  # the bounds are the theory regime's
    assert c["verdict"] == "not tested" and "practical-regime" in c["note"]
    assert b["verdict"] == "inconclusive" and "needs m*" in b["note"]


def test_accuracy_biasvar_and_regularization_claims():
    acc = {("b", "d", "wide", "wsl", "prac", 16): np.array([0.8, 0.82, 0.81, 0.83]),
           ("b", "d", "wide", "kd", "prac", 16): np.array([0.7, 0.71, 0.72, 0.70])}
    fair = {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 4.0, "alpha": 2.25, "hard_weight": 1.0},
            "wsl": {"kind": "wsl", "temperature": 4.0, "alpha": 2.25}}
    (row,) = K.accuracy_claims(_params(method_params=fair), acc)
    assert row["paper"] == "B" and row["verdict"] == "supported" and row["estimate"] == pytest.approx(10.75)
    # WSL is compared only with KD of the same τ, α and hard-label weight: not with a KD without a CE term
    unfair = {**fair, "kd": {"kind": "kd", "temperature": 4.0, "alpha": 1.0, "hard_weight": None}}
    assert K.accuracy_claims(_params(method_params=unfair), acc) == []
    bv = pd.DataFrame([{"experiment": "b", "dataset": "d", "teacher": "wide", "method": "kd", "student": "prac",
                        "width": 16, "replicates": 8, "resampling": "bootstrap", "bias_shift_vs_direct": 0.2,
                        "bias_shift_lo": 0.1, "bias_shift_hi": 0.3, "variance_shift_vs_direct": 0.01,
                        "variance_shift_lo": -0.01, "variance_shift_hi": 0.03}])
    bias, var = K.biasvar_claims(_params(), bv)
    assert bias["verdict"] == "supported" and var["verdict"] == "inconclusive"
    frac = {("b", "d", "wide-ls", "kd", "prac", 16): np.array([0.3, 0.31, 0.29]),
            ("b", "d", "wide", "kd", "prac", 16): np.array([0.5, 0.52, 0.49])}
    (reg,) = K.regularization_claims(_params(), frac)
    assert reg["verdict"] == "contradicted" and reg["estimate"] == pytest.approx(-0.2033, abs=1e-3)


# --- p-values, the exact test, no-verdict rules, the summary ----------------------------------------

def test_p_value_from_a_t_interval_is_the_t_tests():
    from scipy import stats

    d = np.array([1.0, 2.0, 3.0, 1.5])
    est, lo, hi = K.paired_t(d, 0.95)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    assert K.p_from_t_interval(lo, hi, ">", 0.0, 0.95, df=3) == pytest.approx(stats.t.sf(t, 3))
    assert K.p_from_t_interval(lo, hi, "<", 0.0, 0.95, df=3) == pytest.approx(stats.t.cdf(t, 3))
    assert math.isnan(K.p_from_t_interval(1.0, 1.0, ">", 0.0, 0.95, df=3))  # zero width: no p-value
    assert math.isnan(K.p_from_t_interval(math.nan, math.nan, ">", 0.0, 0.95, df=3))


def test_p_value_from_the_draws_is_floored_at_one_over_their_number():
    draws = np.array([-0.5, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8])
    assert K.p_from_draws(draws, ">", 0.0) == (pytest.approx(0.1), pytest.approx(0.9))
    assert K.p_from_draws(draws, "<", 0.0) == (pytest.approx(0.9), pytest.approx(0.1))
    # every draw on the claimed side: the floor 1/n, never 0 (nor 1e-195)
    assert K.p_from_draws(draws + 1.0, ">", 0.0) == (pytest.approx(0.1), 1.0)
    # bounds: toward '>' counts the lower bounds, against it the upper ones; undefined draws count against both
    lo_b, hi_b = np.array([0.5, 0.5, -np.inf, np.nan]), np.array([np.inf, np.inf, 2.0, np.nan])
    assert K.p_from_draws((lo_b, hi_b), ">", 0.0) == (pytest.approx(0.5), pytest.approx(1.0))
    # a row's p-values come from its draws, and agree with its interval at the verdict's level
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 0.1, 2000)
    row = K._row("B", "c", "e", "s", "x", 0.3, *K.percentile(d, 0.95), ">", 0.0, 8, "bootstrap", draws=d)
    assert row["verdict"] == "supported" and row["p_value"] < 0.025 and row["p_value"] >= 1 / 2000


def test_mcnemar_exact_counts_discordant_pairs():
    from scipy import stats

    a = np.array([[1, 1, 1, 0, 1], [1, 1, 0, 1, 1]], bool)   # this arm right
    b = np.array([[0, 0, 1, 0, 1], [0, 1, 0, 0, 1]], bool)   # reference right
    # discordant pairs over replicates: this right and reference wrong 4 times, the reverse never
    assert K.mcnemar_exact(a, b, ">") == pytest.approx(stats.binom.sf(3, 4, 0.5)) == pytest.approx(1 / 16)
    assert K.mcnemar_exact(a, b, "<") == pytest.approx(1.0)
    assert math.isnan(K.mcnemar_exact(a, a, ">"))


def _acc_setup(hard_acc, soft_acc, preds_soft, preds_hard, y, teacher=0.99, method="kd", tau=None):
    p = _params(data_kinds={"d": "digits"})
    p["method_kinds"]["kd-auto"] = "kd"
    p["method_params"]["kd-auto"] = {"kind": "kd", "temperature": "auto"}
    acc = {("a", "d", "wide", method, "prac", 4): np.asarray(soft_acc),
           ("a", "d", "none", "hard", "prac", 4): np.asarray(hard_acc)}
    preds = {("a", "d", "wide", method, "prac", 4): preds_soft, ("a", "d", "none", "hard", "prac", 4): preds_hard}
    record = {"accuracy": {"test": teacher}, **({} if tau is None else {"temperature_nll": tau})}
    return K.accuracy_claims(p, acc, preds, {"d": y}, {("d", "wide"): record})


def test_auto_temperature_on_its_bound_gives_no_verdict():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    hard = np.stack([np.where(rng.random(50) < 0.3, 1 - y, y) for _ in range(4)])
    soft = np.stack([np.where(rng.random(50) < 0.1, 1 - y, y) for _ in range(4)])
    args = ((hard == y).mean(1), (soft == y).mean(1), soft, hard, y)
    for tau in (0.01, 0.010000000000000004, 100.0):  # the bound as the minimiser returns it, to rounding
        (row,) = _acc_setup(*args, method="kd-auto", tau=tau)
        assert row["verdict"] == "not tested" and "on its search bound" in row["note"], tau
    (row,) = _acc_setup(*args, method="kd-auto", tau=0.7)  # inside its bounds: a chosen temperature
    assert row["verdict"] == "supported"


def test_accuracy_claim_has_an_exact_p_and_no_verdict_for_identical_predictions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    hard = np.stack([np.where(rng.random(50) < 0.3, 1 - y, y) for _ in range(4)])
    soft = np.stack([np.where(rng.random(50) < 0.1, 1 - y, y) for _ in range(4)])
    (row,) = _acc_setup((hard == y).mean(1), (soft == y).mean(1), soft, hard, y)
    assert row["verdict"] == "supported" and row["exact_p"] < 0.01 and row["p_value"] < 0.025
    same = np.stack([np.where(rng.random(50) < 0.2, 1 - y, y) for _ in range(4)])
    acc = (same == y).mean(1)
    (row,) = _acc_setup(acc, acc, same, same.copy(), y)
    assert row["verdict"] == "inconclusive" and "identical predictions" in row["note"]
    assert math.isnan(row["exact_p"]) and math.isnan(row["p_value"])


def test_paper_a_accuracy_claim_without_room_is_not_tested():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    hard = np.stack([np.where(rng.random(40) < 0.02, 1 - y, y) for _ in range(4)])
    soft = np.stack([np.where(rng.random(40) < 0.01, 1 - y, y) for _ in range(4)])
    hard_acc = (hard == y).mean(1)
    (row,) = _acc_setup(hard_acc, (soft == y).mean(1), soft, hard, y, teacher=float(hard_acc.mean()))
    assert row["verdict"] == "not tested" and row["note"].startswith(K.NO_ROOM)
    (row,) = _acc_setup(hard_acc, (soft == y).mean(1), soft, hard, y, teacher=1.5)  # far above: room
    assert row["verdict"] != "not tested"


def test_biasvar_rows_note_the_zero_one_and_squared_error_shifts():
    bv = pd.DataFrame([{"experiment": "b", "dataset": "d", "teacher": "wide", "method": "kd", "student": "prac",
                        "width": 16, "replicates": 8, "resampling": "bootstrap", "bias_shift_vs_direct": 0.2,
                        "bias_shift_lo": 0.1, "bias_shift_hi": 0.3, "variance_shift_vs_direct": 0.01,
                        "variance_shift_lo": -0.01, "variance_shift_hi": 0.03,
                        "zo_bias_shift_vs_direct": 0.0, "zo_bias_shift_lo": -0.01, "zo_bias_shift_hi": 0.01,
                        "se_bias_shift_vs_direct": 0.02, "se_bias_shift_lo": 0.01, "se_bias_shift_hi": 0.03}])
    bias, var = K.biasvar_claims(_params(), bv)
    assert "0-1 bias: KD − direct" in bias["note"] and "squared-error bias" in bias["note"]
    assert "change in confidence, not in predictions" in bias["note"] and bias["verdict"] == "supported"
    # without the cells' logits there are no bootstrap draws, hence no p-value (never one from the interval)
    assert math.isnan(bias["p_value"])
    assert var["note"] == ""  # no 0-1 / squared-error variance shift columns: nothing to add


def _claims_frame(rows):
    base = {"effect": "e", "claimed": "> 0", "n": 4, "interval": "95% paired t over replicates", "exact_p": math.nan,
            "note": ""}
    return pd.DataFrame([{**base, "paper": "A", "claim": c, "experiment": "x", "setting": f"s{i}", "estimate": e,
                          "lo": lo, "hi": hi, "verdict": v, "p_value": p} for i, (c, e, lo, hi, v, p) in enumerate(rows)],
                        columns=K.COLUMNS)


def test_holm_and_the_pooled_verdict():
    assert K.holm(np.array([0.001, 0.02, 0.06]), 0.05) == 2  # 0.001 ≤ 0.05/3, 0.02 ≤ 0.05/2, 0.06 > 0.05
    assert K.holm(np.array([0.001, 0.03, 0.04]), 0.05) == 1  # 0.03 > 0.05/2: stops there
    assert K.holm(np.array([0.03, 0.03, math.nan]), 0.05) == 0  # m = 2 (NaNs left out): 0.03 > 0.05/2
    claims = _claims_frame([
        ("c1", 1.0, 0.5, 1.5, "supported", 0.001), ("c1", 0.1, -0.2, 0.4, "inconclusive", 0.3),
        ("c1", 0.1, -0.2, 0.4, "inconclusive", 0.3),
        ("c2", -1.0, -1.5, -0.5, "contradicted", 0.9999), ("c2", 0.0, -0.3, 0.3, "inconclusive", 0.5),
        ("c3", 0.2, 0.01, 0.4, "supported", 0.02), ("c3", 0.2, 0.01, 0.4, "supported", 0.02),  # each alone: yes
        ("c4", 0.2, 0.1, 0.3, "not tested", 0.001),
        ("c5", 1.0, 0.5, 1.5, "supported", 0.0001), ("c5", -1.0, -1.5, -0.5, "contradicted", 0.9999),
    ])
    s = K.summarise(claims, 0.95).set_index("claim")
    assert list(s.columns) == [c for c in K.SUMMARY_COLUMNS if c != "claim"] and s.loc["c1", "settings"] == 3
    assert s.loc["c1", "verdict"] == "supported" and s.loc["c1", "holm_supporting"] == 1
    assert s.loc["c1", "supported"] == 1 and s.loc["c1", "inconclusive"] == 2
    assert s.loc["c1", "estimate_median"] == pytest.approx(0.1) and s.loc["c1", "estimate_lo"] == -0.2
    assert s.loc["c2", "verdict"] == "contradicted" and s.loc["c2", "holm_contradicting"] == 1
    # two settings, each supported alone at 0.025, together not: Holm needs 0.0125 for the smallest
    assert s.loc["c3", "verdict"] == "inconclusive"
    assert s.loc["c4", "verdict"] == "not tested"
    # significant both ways: the settings disagree, no pooled verdict
    assert s.loc["c5", "verdict"] == "inconclusive" and "settings disagree" in s.loc["c5", "note"]


def test_the_run_summary_prints_the_pooled_verdicts():
    from softlabels.report.summary import claims_lines

    claims = _claims_frame([("c1", 1.0, 0.5, 1.5, "supported", 0.001), ("c1", 0.1, -0.2, 0.4, "inconclusive", 0.3)])
    (line,) = claims_lines(K.summarise(claims, 0.95))
    assert "c1 [" in line and "]: supported (settings: 1 supported, 1 inconclusive)" in line


# --- teacher seeds: one pooled row with a two-level bootstrap --------------------------------------

SEEDS = {f"{t}-s{k}": {"base": t, "seed": k} for t in ("wide", "wide-ls") for k in range(3)}


FAIR = {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 4.0, "alpha": 2.25, "hard_weight": 1.0},
        "wsl": {"kind": "wsl", "temperature": 4.0, "alpha": 2.25}}


def _seed_params(**kw):
    ls = {t: (0.1 if s["base"] == "wide-ls" else 0.0) for t, s in SEEDS.items()}
    return _params(teacher_seeds=SEEDS, teacher_ls=ls, seed=0, method_params=FAIR, **kw)


def test_seed_bootstrap_mean_of_seed_means_and_between_seed_spread_widens_it():
    rng = np.random.default_rng(0)
    noise = [rng.normal(0, 1, 8) for _ in range(3)]
    diffs = {k: 0.5 + n for k, n in enumerate(noise)}
    est, lo, hi, n, _ = K.seed_bootstrap(diffs, 1000, 0.95, np.random.default_rng(1))
    assert est == pytest.approx(np.mean([d.mean() for d in diffs.values()])) and n == 24 and lo < est < hi
    spread = {k: d + 3.0 * (k - 1) for k, d in diffs.items()}  # same replicates, seeds apart
    est2, lo2, hi2, _, _ = K.seed_bootstrap(spread, 1000, 0.95, np.random.default_rng(1))
    assert est2 == pytest.approx(est) and hi2 - lo2 > 2 * (hi - lo)
    one = K.seed_bootstrap({0: diffs[0]}, 1000, 0.95, np.random.default_rng(1))  # one seed: replicates only
    assert one[0] == pytest.approx(diffs[0].mean()) and one[3] == 8
    assert math.isnan(K.seed_bootstrap({0: np.array([1.0])}, 100, 0.95, np.random.default_rng(1))[1])


def test_seed_bootstrap_covers_a_known_effect_at_about_its_level():
    """Seeds' effects spread about the true one (sd 0.3) and replicates about their seed's (sd 1, R = 8):
    the 90 % interval covers the true effect in about 90 % of 300 simulated experiments."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(300):
        diffs = {k: rng.normal(0.5 + 0.3 * rng.normal(), 1.0, 8) for k in range(3)}
        _, lo, hi, _, _ = K.seed_bootstrap(diffs, 400, 0.9, rng)
        hits += lo <= 0.5 <= hi
    assert 0.83 <= hits / 300 <= 0.97


def test_crossed_seed_bootstrap_covers_where_replicates_are_shared_by_the_seeds():
    """The crossed design of the default run: replicate r of every teacher seed shares its training set and
    initialisation, so a replicate's effect b_r is common to all seeds (sd 0.8), beside a seed effect a_s
    (sd 0.3) and noise (sd 0.5). The 90 % interval, one replicate draw shared by the seeds, covers the true
    effect in 85–95 % of 400 simulated experiments; drawing replicates on their own per seed (as if nested) would
    treat b_r as three independent draws and cover far less (checked here too)."""
    rng = np.random.default_rng(5)
    hits = nested_hits = 0
    n_exp = 400
    for _ in range(n_exp):
        a, b = rng.normal(0, 0.3, 3), rng.normal(0, 0.8, 8)
        diffs = {k: 0.5 + a[k] + b + rng.normal(0, 0.5, 8) for k in range(3)}
        _, lo, hi, _, _ = K.seed_bootstrap(diffs, 300, 0.9, rng)
        hits += lo <= 0.5 <= hi
        # the nested draw, for contrast: each seed its own replicate indices
        idx = rng.integers(0, 8, (300, 3, 8))
        pick = rng.integers(0, 3, (300, 3))
        arr = np.stack([diffs[k] for k in range(3)])
        nested = np.take_along_axis(arr[pick], idx, 2).mean((1, 2))
        nlo, nhi = np.quantile(nested, [0.05, 0.95])
        nested_hits += nlo <= 0.5 <= nhi
    assert 0.85 <= hits / n_exp <= 0.95
    assert nested_hits / n_exp < 0.8


def _seed_acc(rng, effect=2.0, R=6):
    """Per-replicate test accuracies: hard-label students (teacher none), and KD and WSL from each seed of
    teacher wide, with WSL `effect` points above KD."""
    acc = {("b", "d", "none", "hard", "prac", 8): 0.80 + 0.01 * rng.random(R)}
    for k in range(3):
        kd = 0.82 + 0.01 * k + 0.01 * rng.random(R)
        acc[("b", "d", f"wide-s{k}", "kd", "prac", 8)] = kd
        acc[("b", "d", f"wide-s{k}", "wsl", "prac", 8)] = kd + effect / 100 + 0.002 * rng.random(R)
    return acc


def test_accuracy_claims_pool_the_teacher_seeds_into_one_row():
    rng = np.random.default_rng(0)
    acc = _seed_acc(rng)
    p = _seed_params(data_kinds={"d": "digits"}, teacher_models={t: "mlp" for t in SEEDS})
    rows = pd.DataFrame(K.accuracy_claims(p, acc))
    wsl = rows[rows["claim"].str.startswith("WSL")]
    assert len(wsl) == 1
    r = wsl.iloc[0]
    per_seed = [100 * (acc[("b", "d", f"wide-s{k}", "wsl", "prac", 8)] - acc[("b", "d", f"wide-s{k}", "kd", "prac", 8)]).mean()
                for k in range(3)]
    assert r["estimate"] == pytest.approx(np.mean(per_seed)) and r["n"] == 18 and r["verdict"] == "supported"
    assert "teacher wide (seeds 0, 1, 2)" in r["setting"] and "crossed bootstrap" in r["interval"]
    assert "teacher seeds" in r["interval"] and r["p_value"] < 0.025
    soft = rows[rows["claim"].str.startswith("soft labels")]  # KD of every seed against the one hard student
    assert len(soft) == 1 and soft.iloc[0]["n"] == 18 and "(teacher none)" in soft.iloc[0]["setting"]
    hard = acc[("b", "d", "none", "hard", "prac", 8)]
    assert soft.iloc[0]["estimate"] == pytest.approx(np.mean(
        [100 * (acc[("b", "d", f"wide-s{k}", "kd", "prac", 8)] - hard).mean() for k in range(3)]))


def test_regularization_claim_pairs_seed_k_with_seed_k():
    rng = np.random.default_rng(0)
    fr = {}
    for k in range(3):
        base = 0.1 * k + 0.01 * rng.random(5)
        fr[("b", "d", f"wide-s{k}", "kd", "prac", 8)] = base
        fr[("b", "d", f"wide-ls-s{k}", "kd", "prac", 8)] = base + 0.05 + 0.002 * rng.random(5)
    rows = K.regularization_claims(_seed_params(), fr)
    assert len(rows) == 1
    r = rows[0]
    diffs = [fr[("b", "d", f"wide-ls-s{k}", "kd", "prac", 8)] - fr[("b", "d", f"wide-s{k}", "kd", "prac", 8)]
             for k in range(3)]
    assert r["estimate"] == pytest.approx(np.mean([d.mean() for d in diffs])) and r["n"] == 15
    # seed k with seed k: the plain teachers' spread over seeds (0.1 apart) cancels, so the interval is narrow
    assert 0.05 < r["lo"] < r["hi"] < 0.052 and r["verdict"] == "supported"
    assert "teacher wide-ls (ε 0.1) vs wide, seeds 0, 1, 2" in r["setting"]


def test_without_seed_teachers_rows_are_unchanged():
    """No teacher_seeds in the params (a config without seeds): per-setting paired-t rows as before."""
    rng = np.random.default_rng(0)
    acc = {("b", "d", "wide", "kd", "prac", 8): 0.82 + 0.01 * rng.random(6),
           ("b", "d", "wide", "wsl", "prac", 8): 0.84 + 0.01 * rng.random(6)}
    rows = K.accuracy_claims(_params(method_params=FAIR), acc)
    assert len(rows) == 1 and rows[0]["interval"] == "95% paired t over replicates" and rows[0]["n"] == 6
    assert rows[0]["setting"] == "d, teacher wide, wsl vs kd (teacher wide), prac, m=8"


def test_biasvar_claims_pool_the_teacher_seeds_into_one_row_per_teacher():
    """KD from three seeds of each teacher against the one set of hard-label students: one bias row and one
    variance row per base teacher, the effect the mean over seeds of each seed's shift from its logits, the
    interval the crossed bootstrap's, n = seeds x replicates. The effect is the shift unbiased in R, checked
    here against the per-point decomposition (a separate computation) with the R/(R − 1) correction."""
    from softlabels.analysis.biasvar import decompose, log_softmax, unbiased_terms

    rng = np.random.default_rng(0)
    R, N = 8, 300
    m = rng.normal(0, 1.5, N)
    y = (rng.random(N) < 1 / (1 + np.exp(-m))).astype(int)

    def logp(z):
        return log_softmax(np.stack([np.zeros_like(z), z], -1))
    hard_key = ("b", "d", "none", "hard", "prac", 16)
    logps = {hard_key: logp(m + rng.normal(0, 0.5, (R, N)))}  # calibrated on average, spread out
    for t in ("wide", "wide-ls"):
        for k in range(3):  # KD: under-confident and less spread: a larger bias, a smaller variance
            logps[("b", "d", f"{t}-s{k}", "kd", "prac", 16)] = logp(0.3 * m + rng.normal(0, 0.01) + rng.normal(0, 0.2, (R, N)))
    rows = []
    for (e, ds, t, meth, st, w), lp in logps.items():
        rows.append({"experiment": e, "dataset": ds, "teacher": t, "method": meth, "student": st, "width": w,
                     "replicates": R, "resampling": "fresh", "bias_shift_vs_direct": 0.0, "bias_shift_lo": 0.0,
                     "bias_shift_hi": 0.0, "variance_shift_vs_direct": 0.0, "variance_shift_lo": 0.0,
                     "variance_shift_hi": 0.0})
    out = pd.DataFrame(K.biasvar_claims(_seed_params(), pd.DataFrame(rows), logps, {"d": y}))
    assert len(out) == 4 and set(out["n"]) == {24}
    for t in ("wide", "wide-ls"):
        mine = out[out["setting"].str.startswith(f"d, teacher {t}, seeds 0, 1, 2, kd vs hard")]
        assert len(mine) == 2 and "fresh training sets" in mine.iloc[0]["setting"]
        bias = mine[mine["claim"].str.contains("bias")].iloc[0]
        hard = unbiased_terms(decompose(logps[hard_key], y), R)  # log-probabilities: logits of the same softmax
        per_seed = [(unbiased_terms(decompose(logps[("b", "d", f"{t}-s{k}", "kd", "prac", 16)], y), R)
                     ["ce_bias_unbiased"] - hard["ce_bias_unbiased"]).mean() for k in range(3)]
        assert bias["estimate"] == pytest.approx(np.mean(per_seed), abs=1e-9)
        assert "crossed bootstrap: teacher seeds, and replicates (paired) and test points shared" in bias["interval"]
        assert bias["lo"] < bias["estimate"] < bias["hi"] and bias["verdict"] == "supported"
        assert "raw shift" in bias["note"] and bias["p_value"] >= 1 / 200
        var = mine[mine["claim"].str.contains("variance")].iloc[0]
        assert var["verdict"] == "supported" and var["hi"] < 0


def _correctness_arms(rng, R=6, N=150, delta=0.3, flip=0.1):
    """Predicted classes of two paired arms on N test points drawn from a population, as trained networks
    make them: whether an arm gets point i right is mostly a property of the point (drawn once per arm, with
    probability σ(θ_i + δ) for arm a and σ(θ_i) for arm b, θ_i the point's ease), shared by every replicate,
    and each replicate flips it with probability ``flip``; labels all 1, a prediction 1 when correct."""
    theta = rng.normal(0.5, 1.5, N)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    arms = []
    for shift in (delta, 0.0):
        right = rng.random(N) < sig(theta + shift)
        arms.append((right[None] ^ (rng.random((R, N)) < flip)).astype(int))
    return arms[0], arms[1], np.ones(N, dtype=int)


def test_accuracy_intervals_resample_test_points_when_predictions_are_given():
    """With predictions, the accuracy claim's interval is a bootstrap over paired replicates and test points:
    replicates that all differ by the same amount on one small test set get an interval (the test set is a
    sample), where the t over replicates alone has zero width; the estimate is the paired mean either way."""
    y = np.ones(40, dtype=int)
    pb = np.zeros((4, 40), dtype=int)
    pb[:, :30] = 1                                   # the reference: 30 of 40 correct in every replicate
    pa = pb.copy()
    pa[:, 30:33] = 1                                 # this arm: 3 more points right, in every replicate
    keys = (("b", "d", "wide", "wsl", "prac", 16), ("b", "d", "wide", "kd", "prac", 16))
    acc = {keys[0]: (pa == 1).mean(1), keys[1]: (pb == 1).mean(1)}
    fair = {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 4.0, "alpha": 2.25, "hard_weight": 1.0},
            "wsl": {"kind": "wsl", "temperature": 4.0, "alpha": 2.25}}
    (t_row,) = K.accuracy_claims(_params(method_params=fair), acc)
    assert t_row["lo"] == t_row["hi"] == pytest.approx(7.5) and t_row["verdict"] == "inconclusive"  # zero width
    (row,) = K.accuracy_claims(_params(method_params=fair), acc, {keys[0]: pa, keys[1]: pb}, {"d": y})
    assert row["estimate"] == pytest.approx(7.5) and row["interval"].endswith("replicates (paired) and test points")
    # the small-sample correction spreads the draws by a factor estimated from draws of its own (noisy at 200)
    assert -2.0 <= row["lo"] < 7.5 < row["hi"] and row["hi"] - row["lo"] > 4


def test_accuracy_bootstrap_covers_the_population_difference_at_about_its_level():
    """Test sets drawn from a population (N = 150), replicates that mostly agree point by point: the 90 %
    interval over paired replicates and test points covers the population's accuracy difference in about
    90 % of 200 experiments; the t over replicates alone, blind to the test set's sampling, far less often."""
    rng = np.random.default_rng(3)
    truth = np.mean([100 * (lambda a, b, y: (a == y).mean() - (b == y).mean())(*_correctness_arms(rng, R=50, N=2000))
                     for _ in range(40)])
    p = _params(n_boot=300, interval=0.9)
    hits = t_hits = 0
    for _ in range(200):
        pa, pb, y = _correctness_arms(rng)
        est, lo, hi, _ = K._accuracy_bootstrap(p, [(pa, pb)], y)
        hits += lo <= truth <= hi
        _, tlo, thi = K.paired_t(100 * ((pa == y).mean(1) - (pb == y).mean(1)), 0.9)
        t_hits += tlo <= truth <= thi
    assert 0.83 <= hits / 200 <= 0.97, hits / 200
    assert t_hits / 200 < hits / 200 - 0.1, (t_hits / 200, hits / 200)


# --- coverage of the interval methods the neuron, gap and slope claims use, on simulated known truths -------

def _error_curves(rng, R, widths, soft=(0.4, 1.0), hard=(0.8, 0.7), T=3):
    """Per-replicate 0-1 training error curves (R, T) per width of both arms of one data set: mean error
    a / w^b times a replicate's luck shared over widths (lognormal, sd 0.3) and a (replicate, width) one
    (sd 0.2)."""
    out = {}
    for arm, (a, b), key in (("soft", soft, ("n", "d", "wide", "kd", "theory")),
                             ("hard", hard, ("n", "d", "none", "hard", "theory"))):
        luck = rng.normal(0, 0.3, (R, 1))
        for w in widths:
            e = a / w ** b * np.exp(luck + rng.normal(0, 0.2, (R, 1)))
            out[(*key, w)] = np.repeat(np.minimum(e, 1.0), T, axis=1)
    return out


def test_neuron_gap_bootstrap_covers_the_gap_of_the_mean_curves_with_censoring():
    """The per-data-set neuron claim: its interval (a bootstrap over 8 replicates of the draws' bounds) covers
    the gap of the population's mean error curves (from 20000 replicates) in 85–95 % of 300 experiments at
    90 %, where the hard arm's m* (about 56 of widths up to 64) is censored in a share of the experiments
    (then only a lower bound, whose interval is open above)."""
    widths = [2, 4, 8, 16, 32, 64]
    big = _error_curves(np.random.default_rng(0), 20000, widths)
    truth_lo, truth_hi = K.neuron_gap(widths, [big[("n", "d", "wide", "kd", "theory", w)].mean(1) for w in widths],
                                      [big[("n", "d", "none", "hard", "theory", w)].mean(1) for w in widths], 0.05)
    assert truth_lo == truth_hi  # both arms reach ε: a value
    rng = np.random.default_rng(1)
    p = _params(epsilons=[0.05], n_boot=200, interval=0.9)
    hits = censored = 0
    n_exp = 300
    for _ in range(n_exp):
        (row,) = K.neurons_claims(p, _error_curves(rng, 8, widths), {"d": 0.05}, rng)
        hits += row["lo"] <= truth_lo <= row["hi"]
        censored += row["bound"] == "≥"
    assert 0.1 <= censored / n_exp <= 0.6  # the simulation does censor
    assert 0.85 <= hits / n_exp <= 0.95, hits / n_exp


def test_slope_over_draws_covers_with_between_draw_variance_and_censored_values():
    """Slopes over data sets (the gap's and m*'s against log 1/γ): each data set one draw with its own scatter
    about the line (sd 0.5, the between-draw variance). The t-interval over 5 draws covers the true slope in
    85–95 % of 2000 experiments at 90 %; values above 2.6 are censored (known only to exceed it, as an m* beyond
    the widest width), and the union of t-intervals they allow still covers in 85–95 %."""
    from softlabels.analysis.tables import bounded_fit

    rng = np.random.default_rng(2)
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    hits = hits_c = censored = 0
    n_exp = 2000
    for _ in range(n_exp):
        y = 0.5 * x + rng.normal(0, 0.5, 5)
        f = bounded_fit(x, y, y, 0.9)
        hits += f["lo"] <= 0.5 <= f["hi"]
        cut = y > 2.6
        censored += cut.any()
        fc = bounded_fit(x, np.where(cut, 2.6, y), np.where(cut, np.inf, y), 0.9)
        hits_c += fc["lo"] <= 0.5 <= fc["hi"]
    assert 0.2 <= censored / n_exp <= 0.6
    assert 0.85 <= hits / n_exp <= 0.95, hits / n_exp
    assert 0.85 <= hits_c / n_exp <= 0.95, hits_c / n_exp


def test_mean_over_draws_covers_with_between_draw_variance_and_censored_draws():
    """The neuron claim over independent draws (``bounded_mean``): 3 draws per data set, each draw's gap the
    true mean plus its own between-draw scatter (sd 0.6) and the initialisations' noise (sd 0.2). The t-interval
    over draws covers the true mean in 85–95 % of 2000 experiments at 90 %; with gaps above 1.6 censored (known
    only to exceed it, as where the hard arm does not reach ε at the widest width), the union of t-intervals
    they allow still covers in 85–95 %, and the estimate is then marked a lower bound."""
    from softlabels.analysis.tables import bounded_mean

    rng = np.random.default_rng(5)
    truth, n_exp = 1.0, 2000
    hits = hits_c = censored = 0
    for _ in range(n_exp):
        y = truth + rng.normal(0, 0.6, 3) + rng.normal(0, 0.2, 3)
        f = bounded_mean(y, y, 0.9, 0.0)
        hits += f["lo"] <= truth <= f["hi"]
        cut = y > 1.6
        censored += cut.any()
        fc = bounded_mean(np.where(cut, 1.6, y), np.where(cut, np.inf, y), 0.9, 0.0)
        hits_c += fc["lo"] <= truth <= fc["hi"]
        assert fc["bound"] == ("≥" if cut.any() else "")
    assert 0.2 <= censored / n_exp <= 0.7  # the simulation does censor
    assert 0.85 <= hits / n_exp <= 0.95, hits / n_exp
    assert 0.85 <= hits_c / n_exp <= 0.95, hits_c / n_exp


def test_bounded_mean_known_values():
    from scipy import stats

    from softlabels.analysis.tables import bounded_mean

    y = np.array([1.0, 2.0, 3.0])
    f = bounded_mean(y, y, 0.9, 0.0)
    half = stats.t.ppf(0.95, 2) * 1.0 / math.sqrt(3)
    assert f["mean"] == 2.0 and f["lo"] == pytest.approx(2 - half) and f["hi"] == pytest.approx(2 + half)
    assert f["p_above"] == pytest.approx(stats.t.sf(2 / (1 / math.sqrt(3)), 2)) and f["bound"] == ""
    # one draw only a lower bound: the estimate is a bound and the upper end open; so is the lower end, since a
    # draw far above the others widens the t-interval faster than it moves its mean (3 draws decide little)
    g = bounded_mean(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, np.inf]), 0.9, 0.0)
    assert g["bound"] == "≥" and g["mean"] == 2.0 and math.isinf(g["hi"]) and g["lo"] == -math.inf
    assert g["p_above"] > f["p_above"]
    # a draw bounded on both sides (finite ends): the union over its range stays finite
    c = bounded_mean(np.array([1.0, 2.0, 2.5]), np.array([1.0, 2.0, 3.5]), 0.9, 0.0)
    assert math.isfinite(c["lo"]) and math.isfinite(c["hi"]) and c["lo"] < f["lo"] + 0.5 and math.isnan(c["mean"])
    # bounded on both sides in different draws: no estimate
    h = bounded_mean(np.array([1.0, -np.inf, 3.0]), np.array([1.0, 2.0, np.inf]), 0.9)
    assert math.isnan(h["mean"]) and math.isinf(h["lo"]) and math.isinf(h["hi"])
    assert math.isnan(bounded_mean(np.array([1.0]), np.array([1.0]), 0.9)["lo"])


def test_neuron_claim_over_draws_counts_each_draw_once():
    """Data sets with draws (``datasets.<d>.draws``): one row per data set, its effect the mean of the draws'
    gaps and its interval the t-interval over the draws (n = draws), not a bootstrap of one draw's replicates."""
    from scipy import stats

    rng = np.random.default_rng(0)
    curves, gammas, draws = {}, {}, {}
    for k, ds in enumerate(("a-draw0", "a-draw1", "a-draw2")):
        hard_reach = (8, 16, 32)[k]  # the gap differs between draws: log2(hard m*) − log2(4)
        widths = {w: (0.0 if w >= hard_reach else 0.3, 0.0 if w >= 4 else 0.3) for w in (2, 4, 8, 16, 32, 64)}
        curves.update(_curves(rng, widths, ds=ds))
        gammas[ds], draws[ds] = 0.05, "a"
    p = _params(epsilons=[0.1], interval=0.9, dataset_draws=draws,
                data_targets={d: "kernel" for d in draws})
    (row,) = K.neurons_claims(p, curves, gammas, np.random.default_rng(1))
    gaps = np.array([K.neuron_gap(*v, 0.1)[0] for v in (
        K._neuron_pairs(p, curves)[("n", "wide", "kd", "theory")][d] for d in sorted(draws))])
    assert row["estimate"] == pytest.approx(gaps.mean()) and row["n"] == 3
    half = stats.t.ppf(0.95, 2) * gaps.std(ddof=1) / math.sqrt(3)
    assert row["lo"] == pytest.approx(gaps.mean() - half) and row["hi"] == pytest.approx(gaps.mean() + half)
    assert row["setting"].startswith("a: 3 draws") and "t-interval over draws" in row["interval"]
    assert row["verdict"] == "supported" and row["p_value"] < 0.05
    # the gap-growth claim over draws says they are independent draws
    gammas2 = {**gammas, **{f"b-draw{k}": 0.01 for k in range(3)}}
    for k in range(3):
        curves.update(_curves(rng, {w: (0.0 if w >= 64 else 0.3, 0.0 if w >= 4 else 0.3)
                                    for w in (2, 4, 8, 16, 32, 64)}, ds=f"b-draw{k}"))
    p2 = _params(epsilons=[0.1], interval=0.9, dataset_draws={**draws, **{f"b-draw{k}": "b" for k in range(3)}},
                 data_targets={d: "kernel" for d in gammas2})
    (g,) = K.gap_growth_claims(p2, curves, gammas2, np.random.default_rng(1))
    assert g["n"] == 6 and "6 independent draws of 2 data sets" in g["note"]


def test_the_soft_arm_at_its_own_radius_is_named_as_the_b1_run():
    curves = _curves(np.random.default_rng(0), {2: (0.3, 0.05), 4: (0.2, 0.0), 8: (0.05, 0.0)})
    setups = {"theory": {"setup": "theory", "radius": "auto"}, "theory-B1": {"setup": "theory", "radius": "1"}}
    (row,) = K.neurons_claims(_params(student_setups=setups), curves, {"d": 0.05}, np.random.default_rng(1))
    assert "its cells are the theory-B1 run" in row["note"]
    (plain,) = K.neurons_claims(_params(), curves, {"d": 0.05}, np.random.default_rng(1))
    assert "theory-B1 run" not in plain["note"]


def test_common_radius_rows_carry_the_hard_theorems_radius_and_the_steps():
    """A common-radius row names itself a constraint study and gives the hard-label theorem's radius on its data
    (what radius auto gives the hard arm) beside B; every theory row gives the T and η it was measured at."""
    from softlabels.theory.radius import hard_label_radius

    curves = _curves(np.random.default_rng(0), {2: (0.3, 0.05), 4: (0.2, 0.0), 8: (0.05, 0.0)})
    p = _params(data_sizes={"d": 512}, student_steps={"theory": {"epochs": 800, "lr": 4.0}})
    (row,) = K.neurons_claims(p, curves, {"d": 0.05}, np.random.default_rng(1))
    r = hard_label_radius(0.05, 512, 0.01)
    assert f"hard-label theorem's radius on these data (radius auto: (√(2 ln(4n/δ)) + ln(4/ε))/(γ/4)) is {r:.0f}–{r:.0f}" in row["note"]
    assert "T = 800, η = 4," in row["setting"]
    own = _params(data_sizes={"d": 512}, student_setups={"theory": {"setup": "theory", "radius": "auto"}})
    (auto,) = K.neurons_claims(own, curves, {"d": 0.05}, np.random.default_rng(1))
    assert "constraint study" not in auto["note"] + auto["claim"]


def test_the_soft_slope_shared_by_b1_and_the_own_radius_is_one_claim():
    """The kernel-limit teacher's student at its own radius is the B = 1 run: its slope claim appears once, at
    B = 1, noting the twin; the hard arm keeps one claim per regime."""
    setups = {"theory-B1": {"setup": "theory", "radius": "1"}, "theory-Bauto": {"setup": "theory", "radius": "auto"}}
    rows = []
    for st in setups:
        for t, m, theory_slope in (("none", "hard", 4.0), ("wide", "kd", 2.0)):
            rows.append({"experiment": "n", "teacher": t, "student": st, "method": m, "epsilon": 0.1,
                         "datasets_total": 4, "datasets_reached": 4, "slope": 1.0, "slope_lo": 0.5, "slope_hi": 1.5,
                         "intercept": 0.0, "theory_slope": theory_slope, "note": ""})
    p = _params(student_setups=setups, regimes={"theory-B1": "theory", "theory-Bauto": "theory"})
    out = K.slope_claims(p, pd.DataFrame(rows))
    kd = [r for r in out if r["setting"].startswith("kd")]
    assert len(kd) == 1 and "theory-B1" in kd[0]["setting"] and "theory-Bauto), tested once here" in kd[0]["note"]
    assert len([r for r in out if r["setting"].startswith("hard")]) == 2


# --- paper B where distillation has room: the teacher grid, the rank correlation, LS teachers ----------

GRID = {f"{t}-s{k}": {"base": t, "seed": k} for t in ("w00", "w05", "w10", "w20") for k in range(2)}
GRID_LS = {**{t: float(t[1:]) / 100 for t in ("w00", "w05", "w10", "w20")},
           **{t: float(s["base"][1:]) / 100 for t, s in GRID.items()}}


def _grid_params(**kw):
    return _params(**{"teacher_seeds": GRID, "teacher_ls": GRID_LS, "seed": 0, "method_params": FAIR,
                      "teacher_models": {t: "mlp" for t in GRID_LS}, **kw})


def _grid(rng, slope, R=16, noise=0.002):
    """KD students of 4 label-smoothing levels × 2 seeds: fraction of regularization samples rising with the
    smoothing, accuracy = 0.6 + slope × fraction (+ noise): a known sign of the rank correlation."""
    acc, frac = {("b", "d", "none", "hard", "prac", 8): 0.45 + 0.01 * rng.random(R)}, {}
    for t, s in GRID.items():
        f = 0.2 + float(s["base"][1:]) / 100 + 0.01 * s["seed"] + 0.002 * rng.random(R)
        frac[("b", "d", t, "kd", "prac", 8)] = f
        acc[("b", "d", t, "kd", "prac", 8)] = 0.6 + slope * f + noise * rng.standard_normal(R)
    return acc, frac


def test_rank_correlation_is_spearmans():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.random(12), rng.random(12)
    b[3] = b[5]  # a tie: average ranks
    assert K.rank_correlation(a[None], b[None])[0] == pytest.approx(spearmanr(a, b).statistic)
    assert K.rank_correlation(np.ones((1, 5)), b[None, :5])[0] == 0.0  # nothing to order: no association


@pytest.mark.parametrize("slope, verdict", [(-0.1, "supported"), (0.1, "contradicted"), (0.0, "inconclusive")])
def test_regularization_accuracy_claim_has_the_sign_of_the_association(slope, verdict):
    """Neighbouring teachers (seeds 0.01 apart in fraction, 0.001 in accuracy) swap places under the replicate
    noise, so the rank correlation is not ±1 in every draw; its interval decides the sign."""
    acc, frac = _grid(np.random.default_rng(1), slope, noise=0.01)
    teachers = {("d", t): {"accuracy": {"test": 0.7}} for t in GRID}
    (row,) = K.regularization_accuracy_claims(_grid_params(), acc, frac, teachers)
    assert row["verdict"] == verdict and row["n"] == 8 * 16
    assert row["lo"] < row["hi"] and (slope == 0 or np.sign(row["estimate"]) == np.sign(slope))
    assert "crossed bootstrap" in row["interval"] and "(seeds 0, 1)" in row["setting"]
    assert "8 teachers" in row["note"]


def test_paper_b_claims_without_room_are_not_tested_with_the_gap():
    acc, frac = _grid(np.random.default_rng(2), -0.1, noise=0.01)
    close = {("d", t): {"accuracy": {"test": 0.47}} for t in GRID}  # 1.5 points above the direct student
    (row,) = K.regularization_accuracy_claims(_grid_params(), acc, frac, close)
    assert row["verdict"] == "not tested" and K.NO_ROOM_B in row["note"] and "points from the direct" in row["note"]
    ls_rows = [r for r in K.accuracy_claims(_grid_params(), acc, teachers=close) if r["claim"] == K.LS_DISTILS_WORSE]
    assert ls_rows and all(r["verdict"] == "not tested" for r in ls_rows)
    room = {("d", t): {"accuracy": {"test": 0.70}} for t in GRID}
    ls_rows = [r for r in K.accuracy_claims(_grid_params(), acc, teachers=room) if r["claim"] == K.LS_DISTILS_WORSE]
    assert ls_rows and all(r["verdict"] != "not tested" for r in ls_rows)


def test_label_smoothing_teachers_distil_worse_pairs_seed_k_with_the_plain_teacher():
    rng = np.random.default_rng(3)
    acc, _ = _grid(rng, 0.0, noise=0.0)
    for t, s in GRID.items():  # smoothing costs 2 points per 0.1, seed by seed
        acc[("b", "d", t, "kd", "prac", 8)] = 0.6 + 0.01 * s["seed"] - 0.2 * float(s["base"][1:]) / 100 \
            + 0.003 * rng.standard_normal(16)
    rows = [r for r in K.accuracy_claims(_grid_params(), acc) if r["claim"] == K.LS_DISTILS_WORSE]
    assert len(rows) == 3  # one per smoothing level, the seeds pooled
    by = {r["setting"].split("teacher ")[1].split(" ")[0]: r for r in rows}
    assert set(by) == {"w05", "w10", "w20"} and all(r["verdict"] == "supported" for r in rows)
    assert by["w20"]["estimate"] == pytest.approx(-4.0, abs=0.3) and "(teacher w00, same seed)" in by["w20"]["setting"]


def test_planned_claims_list_every_claim_and_a_comparison_without_partner():
    cells = [{"experiment": "b", "dataset": "d", "teacher": t, "method": m, "student": "prac", "width": 8}
             for t in GRID for m in ("kd", "wsl")] + [
        {"experiment": "b", "dataset": "d", "teacher": "none", "method": "hard", "student": "prac", "width": 8}]
    p = _grid_params(cells=cells, resampling={"prac": "fresh"})
    table = K.planned_claims(p).set_index("claim")
    assert table.loc[K.WSL_VS_KD, "settings"] == 4 and table.loc[K.LS_DISTILS_WORSE, "settings"] == 3
    assert table.loc[K.REG_ACCURACY, "settings"] == 1
    assert table.loc["KD has a smaller variance than direct training", "settings"] == 4
    # WSL without a KD of the same hard-label weight: listed with 0 settings and the reason
    crd = {**FAIR, "kd": {"kind": "kd", "temperature": 4.0, "alpha": 0.9}}
    table = K.planned_claims(_grid_params(cells=cells, resampling={"prac": "fresh"}, method_params=crd))
    wsl = table[table["claim"] == K.WSL_VS_KD].iloc[0]
    assert wsl["settings"] == 0 and "no partner for wsl" in wsl["note"]


def test_regularization_accuracy_claim_without_teacher_seeds_resamples_replicates_only():
    rng = np.random.default_rng(4)
    acc, frac = {("b", "d", "none", "hard", "prac", 8): 0.45 + 0.01 * rng.random(16)}, {}
    for k, t in enumerate(("t1", "t2", "t3", "t4")):
        frac[("b", "d", t, "kd", "prac", 8)] = 0.2 + 0.05 * k + 0.01 * rng.random(16)
        acc[("b", "d", t, "kd", "prac", 8)] = 0.6 - 0.02 * k + 0.01 * rng.standard_normal(16)
    p = _params(method_params=FAIR, teacher_ls={t: 0.0 for t in ("t1", "t2", "t3", "t4")}, seed=0)
    (row,) = K.regularization_accuracy_claims(p, acc, frac)
    assert row["estimate"] == pytest.approx(-1.0) and row["verdict"] in ("supported", "inconclusive")
    assert "teachers t1, t2, t3, t4, prac" in row["setting"] and "seeds" not in row["setting"]
    assert len(K.regularization_accuracy_claims(p, {k: v for k, v in acc.items() if k[2] != "t4"},
                                                {k: v for k, v in frac.items() if k[2] != "t4"})) == 1
    three = {k: v for k, v in frac.items() if k[2] not in ("t3", "t4")}
    assert K.regularization_accuracy_claims(p, acc, three) == []  # fewer than 3 teachers: no row
