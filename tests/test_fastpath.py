"""The batched trainer's hand-written fast path equals an ordinary per-model PyTorch loop (autograd and
torch.optim, ``softlabels_bench.bench.reference_train``), and its pieces equal what they replace."""

import numpy as np
import pytest
import torch

from softlabels.data.synthetic import make_synthetic
from softlabels.errors import DivergenceError
from softlabels.models.mlp import replicate_rng
from softlabels.training import trainer as T
from softlabels.training.methods import KD, make_method
from softlabels.training.trainer import train_mlp
from softlabels_bench.bench import reference_train

DATA = make_synthetic(dict(dim=5, n_train=70, n_val=30, n_test=50, margin=0.05, target="relu", label_noise=0.1,
                           seed=0))
ZT = np.random.default_rng(1).standard_normal((70, 2)).astype(np.float32) * 2
THEORY = dict(regime="theory", epochs=20, lr=3.0, radius=2.0, resampling="bootstrap", replicates=3, batch_size=0)
ADAM = dict(regime="practical", epochs=5, lr=0.05, optimizer="adam", momentum=0.9, weight_decay=1e-3,
            batch_size=16, resampling="bootstrap", replicates=3, patience=0)
SGD = {**ADAM, "optimizer": "sgd", "lr": 0.2, "resampling": "disjoint"}


def _compare(hp, method, width=6, C=None):
    kw = dict(teacher_logits=ZT, n_classes=C)
    args = (DATA["X_train"], DATA["y_train"], make_method(method), hp, width, [0, 1, 2], 7)
    ours = train_mlp(*args, **kw)
    ref = reference_train(*args, **kw)
    for k, v in ref["params"].items():
        assert torch.allclose(ours.params[k], v, atol=2e-5, rtol=1e-4), k
    # the theory regime starts from f = 0 exactly: its first 0-1 error is decided by rounding in ties
    first = 1 if hp["regime"] == "theory" else 0
    for k in ("train_loss", "train_err"):
        np.testing.assert_allclose(ours.history[k][:, first:], ref["history"][k][:, first:], atol=2e-5, rtol=1e-4,
                                   err_msg=k)
    np.testing.assert_array_equal(ours.indices, ref["indices"])


@pytest.mark.parametrize("method", [
    {"kind": "hard"}, {"kind": "ls"}, {"kind": "kd", "temperature": 4.0, "alpha": 0.5}, {"kind": "wsl"},
    {"kind": "kd-filtered", "temperature": 2.0, "filter_weight": 0.3, "rule": "abs"},
], ids=lambda m: m["kind"])
def test_minibatch_adam_equals_the_per_model_loop(method):
    _compare(ADAM, method)


@pytest.mark.parametrize("hp", [SGD, {**SGD, "momentum": 0.0, "weight_decay": 0.0}, {**ADAM, "batch_size": 0},
                                {**ADAM, "batch_size": 32}], ids=["sgd", "plain-sgd", "full-batch", "ragged"])
def test_optimisers_and_batching_equal_the_per_model_loop(hp):
    _compare(hp, {"kind": "kd", "temperature": 2.0})


@pytest.mark.parametrize("method", [{"kind": "hard"}, {"kind": "kd", "temperature": 2.0}], ids=["hard", "kd"])
def test_theory_regime_equals_the_per_model_loop(method):
    _compare(THEORY, method)


def test_three_classes_and_a_wide_layer_equal_the_per_model_loop():
    y = DATA["y_train"] + (DATA["X_train"][:, 0] > 0.5)
    zt = np.random.default_rng(2).standard_normal((70, 3)).astype(np.float32)
    args = (DATA["X_train"], y, make_method({"kind": "wsl", "temperature": 2.0}), ADAM, 40, [0, 1, 2], 7)
    ours, ref = train_mlp(*args, teacher_logits=zt), reference_train(*args, teacher_logits=zt)
    for k, v in ref["params"].items():
        assert torch.allclose(ours.params[k], v, atol=2e-5, rtol=1e-4), k


def test_autograd_fallback_equals_the_closed_form(monkeypatch):
    class MyKD(KD):  # the same loss under another class: no closed form, so autograd on the logits
        kind = "my-kd-test"

    args = (DATA["X_train"], DATA["y_train"])
    fast = train_mlp(*args, make_method({"kind": "kd", "temperature": 2.0}), ADAM, 6, [0, 1, 2], 0, teacher_logits=ZT)
    slow = train_mlp(*args, MyKD({"temperature": 2.0}), ADAM, 6, [0, 1, 2], 0, teacher_logits=ZT)
    for k, v in fast.params.items():
        assert torch.allclose(slow.params[k], v, atol=1e-5, rtol=1e-4), k
    for k, v in fast.history.items():
        np.testing.assert_allclose(slow.history[k], v, atol=1e-5, rtol=1e-4, err_msg=k)


def test_cache_blocking_does_not_change_results(monkeypatch):
    args = (DATA["X_train"], DATA["y_train"], make_method({"kind": "wsl"}), {**ADAM, "patience": 2}, 8, [0, 1, 2], 0)
    kw = dict(teacher_logits=ZT, X_val=DATA["X_val"], y_val=DATA["y_val"])
    whole = train_mlp(*args, **kw)
    monkeypatch.setattr(T, "BLOCK_ELEMENTS", 8 * 5)  # a replicate per block, a few samples per chunk
    blocked = train_mlp(*args, **kw)
    for k, v in whole.params.items():
        assert torch.allclose(blocked.params[k], v, atol=1e-6, rtol=1e-5), k
    for k, v in whole.history.items():
        np.testing.assert_allclose(blocked.history[k], v, atol=1e-6, rtol=1e-5, err_msg=k)


def _flat_optimiser_follows_torch(make_ref, make_ours, steps: int, atol: float, rtol: float) -> None:
    """Our flat-buffer optimiser, stepped on the same gradients as torch.optim's, reaches the same parameters."""
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(50, generator=g)
    grads = [torch.randn(50, generator=g) for _ in range(steps)]
    ref = p0.clone().requires_grad_(True)
    opt = make_ref([ref])
    data, grad = p0.clone(), torch.zeros(50)
    ours = make_ours(data, grad)
    for gr in grads:
        ref.grad = gr.clone()
        opt.step()
        grad.copy_(gr)
        ours.step()
    assert torch.allclose(data, ref.detach(), atol=atol, rtol=rtol)


@pytest.mark.parametrize("wd", [0.0, 0.01])
@pytest.mark.parametrize("fused", [True, False])
def test_flat_adam_equals_torch_optim(fused, wd):
    if fused and not hasattr(torch, "_fused_adam_"):
        pytest.skip("no fused Adam kernel in this torch")
    _flat_optimiser_follows_torch(lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=wd),
                                  lambda d, g: T._Adam(d, g, lr=0.01, weight_decay=wd, fused=fused),
                                  steps=6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01)])
def test_flat_sgd_equals_torch_optim(momentum, wd):
    _flat_optimiser_follows_torch(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=momentum, weight_decay=wd),
                                  lambda d, g: T._SGD(d, g, lr=0.1, momentum=momentum, weight_decay=wd),
                                  steps=5, atol=1e-7, rtol=1e-6)


def test_epoch_order_is_one_permutation_call_per_epoch_across_chunks():
    order = T._EpochOrder([replicate_rng(3, 3, r) for r in (0, 5)], 11, epochs=7, device="cpu", max_elements=2 * 11 * 3)
    assert order.chunk == 3
    rngs = [replicate_rng(3, 3, r) for r in (0, 5)]
    for _ in range(7):
        want = np.stack([g.permutation(11) for g in rngs])
        np.testing.assert_array_equal(order.next().numpy(), want)


def test_divergence_names_the_epoch_and_replicate():
    hp = {**ADAM, "optimizer": "sgd", "lr": 1e38, "momentum": 0.0, "weight_decay": 0.0}
    with pytest.raises(DivergenceError, match=r"at epoch 0: non-finite loss in replicate\(s\) \[0, 1, 2\]"):
        train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), hp, 6, [0, 1, 2], seed=0)
    with pytest.raises(DivergenceError, match="at epoch 1"):  # full batch: the loss is recorded before each step
        train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), {**hp, "batch_size": 0}, 6,
                  [0, 1, 2], seed=0)


def test_thread_count_is_restored():
    before = torch.get_num_threads()
    train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), ADAM, 4, [0, 1], seed=0)
    assert torch.get_num_threads() == before
