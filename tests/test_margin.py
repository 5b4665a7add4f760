import numpy as np

from softlabels.data.synthetic import make_synthetic
from softlabels.theory.margin import kernel_margin_report, limiting_kernel, max_margin, ntk_kernel


def _points(n=6, d=5, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * np.linspace(0.5, 1.0, n)[:, None]


def test_limiting_kernel_matches_a_very_wide_random_network():
    """H(x,x') = E_w[1(wᵀx>0)1(wᵀx'>0)] xᵀx' (a_j² = 1): Monte Carlo over 400k neurons, tolerance 0.01."""
    X = _points()
    W = np.random.default_rng(1).standard_normal((400_000, X.shape[1]))
    act = (X @ W.T > 0).astype(np.float64)
    emp = (act @ act.T) / W.shape[0] * (X @ X.T)
    assert np.max(np.abs(emp - limiting_kernel(X))) < 0.01


def test_ntk_adds_the_degree_one_arccos_term():
    X = _points(seed=2)
    W = np.random.default_rng(3).standard_normal((400_000, X.shape[1]))
    h = np.maximum(X @ W.T, 0.0)
    emp_second_layer = h @ h.T / W.shape[0]
    assert np.max(np.abs(ntk_kernel(X) - limiting_kernel(X) - emp_second_layer)) < 0.01


def test_svm_margin_equals_the_known_margin_of_a_constructed_set():
    """Points (±γ, t) with labels ±1 and the same t's in both classes: the best unit u is e₁, margin γ."""
    gamma = 0.05
    t = np.linspace(-0.9, 0.9, 15)
    X = np.concatenate([np.stack([np.full_like(t, gamma), t], 1), np.stack([np.full_like(t, -gamma), t], 1)])
    y = np.concatenate([np.ones_like(t), -np.ones_like(t)])
    res = max_margin(X @ X.T, y)
    assert abs(res["margin"] - gamma) < 1e-4
    assert abs(res["margin_upper"] - gamma) < 1e-4


def test_non_separable_data_has_no_positive_margin():
    X = np.array([[1.0, 0.0], [1.0, 0.0]])
    res = max_margin(X @ X.T, np.array([1, -1]), C=1e3)
    assert res["margin"] <= 1e-9


def test_report_brackets_gamma_between_its_bounds():
    d = make_synthetic(dict(dim=5, n_train=150, n_test=10, margin=0.15, target="linear", label_noise=0.0, seed=0))
    rep = kernel_margin_report(d["X_train"], d["y_train"])
    assert 0 < rep["gamma_lower"] <= rep["svm_margin"] <= rep["svm_margin_upper"] * (1 + 1e-6)
    assert rep["gamma_lower"] >= 0.15 / 2 - 1e-6  # linear margin >= requested margin, halved
    assert "upper bound" in rep["gamma_upper_is"] and "lower bound" in rep["gamma_lower_is"]
    assert rep["gamma_upper"] == rep["svm_margin_upper"] and rep["gamma_lower_linear"] >= 0.15 / 2 - 1e-6
    assert rep["gamma_lower"] <= rep["gamma"] <= rep["gamma_upper"] + 4 * rep["gamma_certificate_se"]
    assert "solved" in rep["gamma_is"] and 0 <= rep["gamma_gap"] <= 1e-3 * rep["gamma_mc_dual"] + 1e-12
