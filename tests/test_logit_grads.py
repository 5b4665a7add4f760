"""The trainer's closed-form losses and logit gradients equal ``method.loss`` and autograd."""

import pytest
import torch
import torch.nn.functional as F

from softlabels.training.logit_grads import CLOSED_FORMS, AutogradObjective, error_rate, objective_for
from softlabels.training.methods import (
    KD,
    METHODS,
    REGULARIZATION_RULES,
    make_method,
    regularization_rule,
    true_class_prob,
)

METHOD_PARAMS = [
    {"kind": "hard"},
    {"kind": "ls", "epsilon": 0.2},
    {"kind": "kd", "temperature": 1.0},
    {"kind": "kd", "temperature": 4.0},
    {"kind": "kd", "temperature": 2.0, "alpha": 0.3},
    {"kind": "kd-filtered", "temperature": 4.0},
    {"kind": "kd-filtered", "temperature": 2.0, "alpha": 0.5, "filter_weight": 0.5, "rule": "abs"},
    {"kind": "kd", "temperature": 4.0, "alpha": 2.25, "hard_weight": 1.0},   # paper B's KD partner of WSL
    {"kind": "kd", "temperature": 2.0, "alpha": 0.3, "hard_weight": 0.0},
    {"kind": "kd-filtered", "temperature": 4.0, "alpha": 2.25, "hard_weight": 1.0},   # paper B's hard filter
    {"kind": "kd-filtered", "temperature": 2.0, "alpha": 1.0, "hard_weight": 0.5, "filter_weight": 0.3, "rule": "abs"},
    {"kind": "wsl"},
    {"kind": "wsl", "temperature": 2.0, "alpha": 1.0},
]


def _batch(C, R=3, B=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(R, B, C, generator=g, dtype=torch.float64) * 2
    zt = torch.randn(R, B, C, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, C, (R, B), generator=g)
    return zs, y, zt


def _check(obj, method, zs, y, zt):
    t = obj.targets(y, zt, torch.float64).transpose(1, 2)
    zT = zs.transpose(1, 2)
    ev = obj.evaluate(zT, t)
    assert torch.allclose(ev.loss, method.loss(zs, y, zt), atol=1e-10, rtol=1e-9)
    z = zs.clone().requires_grad_(True)
    method.loss(z, y, zt).sum().backward()
    assert torch.allclose(obj.grad(zT, t).transpose(1, 2), z.grad, atol=1e-10, rtol=1e-9)
    assert torch.equal(ev.err, (zs.argmax(-1) != y).to(zs.dtype).mean(-1))
    pt = true_class_prob(zt, y, method.temperature) if method.temperature else None
    for rule in REGULARIZATION_RULES:
        if pt is None:
            assert rule not in ev.reg
        else:
            assert torch.equal(ev.reg[rule], regularization_rule(zs, pt, y, method.temperature, rule).sum(-1))


@pytest.mark.parametrize("C", [2, 5])
@pytest.mark.parametrize("params", METHOD_PARAMS, ids=lambda p: "-".join(str(v) for v in p.values()))
def test_closed_form_equals_loss_and_autograd(params, C):
    method = make_method(params)
    obj = objective_for(method, C, has_teacher=True)
    assert type(obj) is CLOSED_FORMS[type(method)]
    _check(obj, method, *_batch(C))


@pytest.mark.parametrize("params", METHOD_PARAMS[::2], ids=lambda p: p["kind"])
def test_autograd_fallback_equals_loss_and_autograd(params):
    method = make_method(params)
    _check(AutogradObjective(method, 3, has_teacher=True), method, *_batch(3))


def test_every_registered_kind_has_a_closed_form_and_subclasses_fall_back_to_autograd():
    assert {cls.kind for cls in CLOSED_FORMS} == set(METHODS)

    class Scaled(KD):
        kind = "kd-scaled-test"

        def terms(self, zs, y, zt):
            return {k: 2 * v for k, v in super().terms(zs, y, zt).items()}

    method = Scaled({"temperature": 2.0})
    obj = objective_for(method, 3, has_teacher=True)
    assert isinstance(obj, AutogradObjective)
    _check(obj, method, *_batch(3))


def test_error_rate_breaks_ties_like_argmax():
    zT = torch.tensor([[[0.0, 1.0, 2.0, 2.0], [0.0, 1.0, 2.0, 2.0], [0.0, 0.5, 2.0, 1.0]]])  # (1, C=3, B=4)
    y = torch.tensor([[0, 1, 1, 1]])
    Y = F.one_hot(y, 3).double().transpose(1, 2)
    want = (zT.transpose(1, 2).argmax(-1) != y).double().mean(-1)
    assert torch.equal(error_rate(zT.double(), Y), want)


def test_hard_without_teacher_records_no_regularization_samples():
    method = make_method({"kind": "hard"})
    zs, y, zt = _batch(2)
    obj = objective_for(method, 2, has_teacher=False)
    ev = obj.evaluate(zs.transpose(1, 2), obj.targets(y, None, torch.float64).transpose(1, 2))
    assert ev.reg == {}
