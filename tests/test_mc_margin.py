"""γ solved by the Monte-Carlo program of Assumption 1 (docs/science.md#a-margin-solve): the solver against
hand-computed and generic-solver optima, and against the bounds and the certified margin of kernel data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from softlabels.data.synthetic import make_synthetic
from softlabels.theory.margin import kernel_margin_report
from softlabels.theory.mc_margin import MCMarginProblem, project_simplex, solve_mc_margin


def test_project_simplex():
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = rng.standard_normal(7) * 3
        p = project_simplex(v)
        assert p.min() >= 0 and abs(p.sum() - 1) < 1e-12
        # optimality: no feasible point is closer (check against random simplex points)
        q = rng.dirichlet(np.ones(7), 200)
        assert np.all(np.linalg.norm(q - v, axis=1) >= np.linalg.norm(p - v) - 1e-12)


def test_two_antipodal_points_by_hand():
    """x₁ = e₁ (y = +1), x₂ = −e₁ (y = −1): each direction activates exactly one point, and v_k = e₁ serves it
    fully, so the program's value is min(P̂(z₁ > 0), P̂(z₁ < 0)) over the sampled directions."""
    X = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    prob = MCMarginProblem(X, np.array([1, 0]), n_directions=501, seed=5)
    sol = prob.solve(max_iter=2000, rel_tol=1e-9)
    frac = prob.A[0].mean()
    assert sol.primal == pytest.approx(min(frac, 1 - frac), abs=1e-6)
    assert sol.dual == pytest.approx(min(frac, 1 - frac), abs=1e-6)


def test_small_problem_agrees_with_a_generic_solver():
    """7 points in 3-d, 40 directions: the dual minimised by SLSQP over the simplex gives the same value, and
    the solver's primal and dual bracket it."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] * X[:, 1] > 0).astype(int)  # an XOR-like labelling
    prob = MCMarginProblem(X, y, n_directions=40, seed=1)
    sol = prob.solve(max_iter=20000, rel_tol=1e-5)

    def dual(lam):
        return prob.dual_value(prob.g(lam))

    best = min((minimize(dual, x0, method="SLSQP", bounds=[(0, 1)] * 7,
                         constraints=[{"type": "eq", "fun": lambda lam: lam.sum() - 1}],
                         options={"ftol": 1e-12, "maxiter": 1000}).fun
                for x0 in [np.full(7, 1 / 7), *rng.dirichlet(np.ones(7), 5)]))
    assert sol.primal <= best + 1e-9 and sol.dual >= best - 1e-6
    assert sol.dual - sol.primal <= 1e-5 * abs(sol.dual)
    assert sol.dual == pytest.approx(best, abs=1e-5)
    # the certificate's margins are what it claims: recompute them from v_k = g_k/‖g_k‖ directly
    G = prob.g(sol.lam)
    mu = 0.5 * 1e-5 * sol.dual  # the smoothing the solver used last (its μ follows the best dual value)
    V = G / np.maximum(np.linalg.norm(G, axis=1, keepdims=True), mu)
    ys = np.where(y > 0, 1.0, -1.0)
    direct = np.array([ys[i] * np.mean(prob.A[i] * (V @ X[i])) for i in range(7)])
    np.testing.assert_allclose(direct.min(), sol.primal, atol=1e-9)
    assert np.all(np.linalg.norm(V, axis=1) <= 1 + 1e-12)


@pytest.fixture(scope="module")
def kernel_report():
    gamma0 = 0.01
    d = make_synthetic(dict(dim=8, n_train=400, n_val=0, n_test=10, margin=gamma0, target="kernel",
                            target_hidden=4, label_noise=0.0, seed=7))
    return gamma0, kernel_margin_report(d["X_train"], d["y_train"])


def test_report_orders_its_bounds_on_kernel_data(kernel_report):
    gamma0, rep = kernel_report
    assert rep["gamma_gap"] >= 0 and rep["gamma_gap"] <= 1e-3 * rep["gamma_mc_dual"] + 1e-9
    assert rep["gamma"] <= rep["gamma_mc_dual"]
    mc_error = 4 * rep["gamma_certificate_se"]
    assert rep["gamma_lower"] <= rep["gamma"] + mc_error
    assert rep["gamma"] <= rep["gamma_upper"] + mc_error
    assert rep["gamma_lower"] <= rep["gamma_upper"]
    assert rep["gamma_lower_linear"] == 0.0  # the kernel target is not linearly separable
    # the data set's certified margin: the solved γ is at least the requested γ₀ (up to the Monte-Carlo error)
    assert rep["gamma"] >= gamma0 - mc_error
    assert rep["gamma_upper"] >= gamma0


def test_solver_is_deterministic():
    d = make_synthetic(dict(dim=4, n_train=60, n_val=0, n_test=5, margin=0.02, target="kernel", target_hidden=3,
                            label_noise=0.0, seed=1))
    X = d["X_train"].astype(np.float64)
    a = solve_mc_margin(X, d["y_train"], n_directions=500, fresh_directions=1000)
    b = solve_mc_margin(X, d["y_train"], n_directions=500, fresh_directions=1000)
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
