import math

import pytest
import torch
import torch.nn.functional as F

from softlabels.errors import ConfigError
from softlabels.training.methods import METHODS, ce_per_sample, make_method, regularization_mask, wsl_weights

torch.manual_seed(0)


def _logits(R=2, B=7, C=3, scale=2.0):
    return torch.randn(R, B, C, dtype=torch.float64) * scale


@pytest.mark.parametrize("tau,alpha,hard_weight", [(1.0, 1.0, None), (4.0, 1.0, None), (2.0, 0.3, None),
                                                   (4.0, 2.25, 1.0), (1.0, 0.5, 0.0)])
def test_kd_gradient_in_the_logits(tau, alpha, hard_weight):
    """∂/∂z_s of α·τ²·mean KL(p_t^τ‖p_s^τ) is α·τ·(p_s^τ − p_t^τ)/B; the β·CE part adds β·(p_s − onehot)/B, with
    β = hard_weight, or 1 − α when it is unset."""
    zs, zt = _logits().requires_grad_(True), _logits()
    y = torch.randint(0, 3, (2, 7))
    m = make_method({"kind": "kd", "temperature": tau, "alpha": alpha, "hard_weight": hard_weight})
    m.loss(zs, y, zt).sum().backward()
    B = zs.shape[1]
    beta = 1 - alpha if hard_weight is None else hard_weight
    expected = alpha * tau * (F.softmax(zs / tau, -1) - F.softmax(zt / tau, -1)) / B
    expected = expected + beta * (F.softmax(zs, -1) - F.one_hot(y, 3)) / B
    assert torch.allclose(zs.grad, expected.detach(), atol=1e-10)


def test_wsl_weight_gets_no_gradient_and_its_gradient_is_weighted_kd():
    zs, zt = _logits().requires_grad_(True), _logits()
    y = torch.randint(0, 3, (2, 7))
    tau, alpha = 4.0, 2.25
    m = make_method({"kind": "wsl", "temperature": tau, "alpha": alpha})
    m.terms(zs, y, zt)["wsl"].sum().backward()
    w = wsl_weights(zs.detach(), zt, y)
    assert not w.requires_grad
    expected = alpha * tau * w.unsqueeze(-1) * (F.softmax(zs / tau, -1) - F.softmax(zt / tau, -1)) / zs.shape[1]
    assert torch.allclose(zs.grad, expected, atol=1e-10)


def test_wsl_weight_is_below_its_equal_ce_value_exactly_where_the_student_beats_the_teacher():
    zs, zt = _logits(R=4, B=200), _logits(R=4, B=200)
    y = torch.randint(0, 3, (4, 200))
    w = wsl_weights(zs, zt, y)
    student_better = ce_per_sample(zs, y) < ce_per_sample(zt, y) + 1e-7
    assert torch.equal(w < 1 - math.exp(-1), student_better)


def test_regularization_rule_on_hand_made_logits():
    # binary, label 1. teacher p_t(1) = sigmoid(1) = 0.731.
    zt = torch.tensor([[[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    zs = torch.tensor([[[0.0, 2.0], [0.0, 0.5], [0.0, -1.0]]])
    y = torch.tensor([[1, 1, 1]])
    assert regularization_mask(zs, zt, y, 1.0, "gt").tolist() == [[True, False, False]]
    # |b| > |a| with a = p_s − 1 and b = τ(p_s^τ − p_t^τ) − a, at τ = 1: b = p_s − p_t − p_s + 1 = 1 − p_t.
    # sample 0: a = −0.119, b = 0.269 → reg; sample 1: a = −0.378 → |b| = 0.269 < 0.378 → not.
    assert regularization_mask(zs, zt, y, 1.0, "abs").tolist() == [[True, False, False]]
    # at τ = 4 the rule compares tempered probabilities: sample 1 (z=0.5 < 1) is still not a regularization sample
    assert regularization_mask(zs, zt, y, 4.0, "gt").tolist() == [[True, False, False]]


def test_hard_filter_removes_regularization_samples_from_the_kd_term():
    zt = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    zs = torch.tensor([[[0.0, 2.0], [0.0, 0.5]]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1, 1]])
    m = make_method({"kind": "kd-filtered", "temperature": 1.0, "filter_weight": 0.0})
    m.loss(zs, y, zt).sum().backward()
    assert torch.all(zs.grad[0, 0] == 0)          # regularization sample: no distillation gradient
    assert torch.all(zs.grad[0, 1] != 0)
    soft = make_method({"kind": "kd-filtered", "temperature": 1.0, "filter_weight": 0.5})
    full = make_method({"kind": "kd", "temperature": 1.0})
    a = soft.terms(zs, y, zt)["kd"]
    assert a < full.terms(zs, y, zt)["kd"]


def test_hard_filter_keeps_the_hard_label_term_on_filtered_samples():
    """Paper B's hard filter drops only the distillation term of a regularization sample; with a hard-label
    weight β its gradient is β·(p_s − onehot)/B, and KD with the same α, τ, β equals it off the filtered samples."""
    zt = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    zs = torch.tensor([[[0.0, 2.0], [0.0, 0.5]]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1, 1]])
    params = {"temperature": 4.0, "alpha": 2.25, "hard_weight": 1.0}
    make_method({"kind": "kd-filtered", **params}).loss(zs, y, zt).sum().backward()
    ce_grad = (F.softmax(zs, -1) - F.one_hot(y, 2)).detach() / 2
    assert torch.allclose(zs.grad[0, 0], ce_grad[0, 0], atol=1e-12)   # filtered: the CE gradient only
    g_filtered = zs.grad.clone()
    zs.grad = None
    make_method({"kind": "kd", **params}).loss(zs, y, zt).sum().backward()
    assert torch.allclose(zs.grad[0, 1], g_filtered[0, 1], atol=1e-12)  # kept: the same as KD


def test_kd_alpha_above_one_needs_a_hard_weight():
    with pytest.raises(ConfigError, match="hard_weight"):
        make_method({"kind": "kd", "temperature": 4.0, "alpha": 2.25})


def test_label_smoothing_target():
    z = torch.zeros(1, 1, 4, dtype=torch.float64, requires_grad=True)
    make_method({"kind": "ls", "epsilon": 0.2}).loss(z, torch.tensor([[2]]), None).sum().backward()
    target = torch.tensor([0.05, 0.05, 0.85, 0.05], dtype=torch.float64)
    assert torch.allclose(z.grad[0, 0], torch.softmax(z[0, 0], -1).detach() - target)


def test_hard_is_cross_entropy():
    z, y = _logits(), torch.randint(0, 3, (2, 7))
    assert torch.allclose(make_method({"kind": "hard"}).loss(z, y, None),
                          torch.stack([F.cross_entropy(z[r], y[r]) for r in range(2)]))


def test_bad_method_params_are_config_errors():
    with pytest.raises(ConfigError, match="unknown method kind"):
        make_method({"kind": "nope"})
    with pytest.raises(ConfigError, match="temperature"):
        make_method({"kind": "kd", "temperature": 0.0})
    with pytest.raises(ConfigError, match="does not take"):
        make_method({"kind": "hard", "temperature": 2.0})
    assert {"hard", "kd", "wsl", "ls", "kd-filtered"} <= set(METHODS)
