"""The kernel-class synthetic target (docs/science.md#kernel-target): its closed form against Monte Carlo,
its labels and certified margin, and its determinism."""

from __future__ import annotations

import numpy as np
import pytest

from softlabels.data.synthetic import TargetFunction, kernel_component, make_synthetic, unit_sphere


def _params(**kw):
    p = dict(dim=8, n_train=300, n_val=50, n_test=200, margin=0.01, target="kernel", target_hidden=4,
             label_noise=0.0, seed=3)
    return {**p, **kw}


def test_closed_form_matches_monte_carlo():
    """z(x) = E_w[1(wᵀx > 0) v(w)ᵀx] by 200k Gaussian directions, within 4 standard errors, per point; and
    one component E[1(wᵀx > 0) sign(aᵀw)] against (π − 2θ)/(2π)."""
    rng = np.random.default_rng(0)
    d = 6
    f = TargetFunction("kernel", d, rng, 5)
    X = unit_sphere(rng, 8, d) * np.linspace(0.4, 1.0, 8)[:, None]  # the form holds off the sphere too
    W = rng.standard_normal((200_000, d))
    terms = (X @ W.T > 0) * (X @ f.v(W).T)  # (n, M): 1(wᵀx > 0) v(w)ᵀx
    mean, se = terms.mean(1), terms.std(1) / np.sqrt(W.shape[0])
    assert np.all(np.abs(mean - f(X)) <= 4 * se + 1e-12), (mean, f(X), se)
    a, x = f.A[0], X[0] / np.linalg.norm(X[0])
    ind = (W @ x > 0) * np.sign(W @ a)
    theta = np.arccos(np.clip(a @ x, -1, 1))
    assert abs(ind.mean() - (np.pi - 2 * theta) / (2 * np.pi)) <= 4 * ind.std() / np.sqrt(len(ind))
    np.testing.assert_allclose(kernel_component(x[None], a[None], a[None])[0, 0],
                               (a @ x) * (np.pi - 2 * theta) / (2 * np.pi))


def test_v_is_admissible_and_z_is_bounded():
    rng = np.random.default_rng(1)
    f = TargetFunction("kernel", 8, rng, 6)
    assert abs(np.abs(f.c).sum() - 1) < 1e-12
    assert np.allclose(np.sum(f.U * f.A, axis=1), 0) and np.allclose(np.linalg.norm(f.U, axis=1), 1)
    assert np.max(np.linalg.norm(f.v(rng.standard_normal((5000, 8))), axis=1)) <= 1 + 1e-12
    assert np.max(np.abs(f(unit_sphere(rng, 5000, 8)))) <= 0.5


def test_labels_are_sign_z_and_margin_is_certified():
    d = make_synthetic(_params())
    for s in ("train", "val", "test"):
        z, y = d[f"z_{s}"], d[f"y_{s}"]
        assert len(z) == len(y) == len(d[f"X_{s}"])
        np.testing.assert_array_equal(y, (z > 0).astype(np.int64))
        assert np.min(np.where(y == 1, 1.0, -1.0) * z) >= 0.01
        f_again = TargetFunction("kernel", 8, np.random.default_rng(3), 4)  # the stored z is z(stored X)
        np.testing.assert_allclose(z, f_again(d[f"X_{s}"].astype(np.float64)), rtol=0, atol=1e-15)
    assert 0.25 < d["y_train"].mean() < 0.75


def test_same_seed_same_data_and_other_targets_store_no_z():
    a, b = make_synthetic(_params()), make_synthetic(_params())
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["X_train"], make_synthetic(_params(seed=4))["X_train"])
    lin = make_synthetic(_params(target="linear"))
    assert not any(k.startswith("z_") for k in lin)


@pytest.mark.parametrize("margin", [0.002, 0.02])
def test_a_decade_of_margins_is_reachable_in_dim_8(margin):
    d = make_synthetic(_params(margin=margin, n_train=500, n_val=0, n_test=500))
    assert np.min(np.abs(d["z_train"])) >= margin


def test_kernel_task_is_not_linearly_separable():
    from softlabels.theory.margin import max_margin

    d = make_synthetic(_params(n_train=400))
    X = d["X_train"].astype(np.float64)
    assert max_margin(X @ X.T, d["y_train"])["margin"] <= 0
