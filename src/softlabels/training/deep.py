"""The deep trainer: R replicates of one ``softlabels.models.cnn`` model, any method of ``softlabels.training.methods``.

Replicates are trained as one computation: their parameters *and buffers* (BatchNorm's running
statistics included) are stacked with ``torch.func.stack_module_state``, one optimizer steps them
all, and on a GPU one ``torch.vmap``-ed ``functional_call`` runs them (a convolution becomes one
grouped convolution). On the CPU, batching does not pay: oneDNN's grouped convolutions were 1-2×
slower than R separate ones in our measurements (resnet8/20, vgg2+3, batch 32), so each step loops
over the replicates instead (on views of the same stacked tensors). Each replicate has its own init, training set (resampling),
minibatch order and augmentation, all from seed streams keyed by its id, and Adam/SGD are
elementwise, so replicate r follows the path it would follow alone (up to floating-point
reassociation; ``tests/test_deep.py`` checks it). Memory grows with R: ``replicate_group`` trains
the replicates in groups of that size, one group after another; use it for large CNNs (e.g.
resnet32x4) where R copies do not fit on the GPU at once.

Protocols (config ``teachers.<name>`` / ``students.<name>``):
- paper A (docs/science.md#a-experiments, Figure 1): Adam with L2 weight decay, early stopping on validation with
  ``patience``, at most ``epochs``;
- CRD / paper B (docs/science.md#ref-b-cifar100): SGD momentum 0.9, lr 0.05 × ``lr_decay`` at ``lr_milestones``
  (150/180/210 of 240 epochs), batch 64, weight decay 5e-4, ``augment`` (random crop of the 4-pixel
  zero-padded image, horizontal flip).
Test results always come from the epoch chosen on validation (``selection``), never the test set.

Per-epoch records (train_loss, train_err, reg_gt/reg_abs) accumulate over the epoch's minibatches:
each sample's logits as the step saw them (augmented, train mode), not a separate pass.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state

from softlabels.errors import ConfigError
from softlabels.models.cnn import STREAM_AUGMENT, build_model, channel_stats, set_standardization
from softlabels.models.mlp import STREAM_ORDER, replicate_rng
from softlabels.training.methods import (
    REGULARIZATION_RULES,
    Method,
    ce_per_sample,
    regularization_rule,
    true_class_prob,
)
from softlabels.training.trainer import DivergenceGuard, History, check_finite, resample_indices

SELECTIONS = ("val_loss", "val_acc", "last")
PAD = 4  # CRD's RandomCrop(32, padding=4)

Params = dict[str, torch.Tensor]


@dataclass
class DeepResult:
    """Trained replicates: stacked parameters and buffers (axis 0 = replicate) of one architecture."""

    base: nn.Module
    params: Params
    buffers: Params
    indices: np.ndarray
    history: dict[str, np.ndarray]
    best_epoch: np.ndarray
    amp: bool = False
    eval_batch_size: int = 1000
    vmap: bool = True

    def logits(self, X: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Logits (R, N, C) in float32 on the parameters' device, in eval mode."""
        dev = next(iter(self.params.values())).device
        X = torch.as_tensor(X, dtype=torch.float32)
        out = []
        self.base.eval()
        with torch.no_grad():
            for s in range(0, len(X), self.eval_batch_size):
                with _autocast(dev, self.amp):
                    z = _forward(self.base, self.params, self.buffers, X[s:s + self.eval_batch_size].to(dev), True,
                                 self.vmap)
                out.append(z.float())
        return torch.cat(out, 1)

    def state(self, r: int) -> dict[str, torch.Tensor]:
        """Replicate r's ``state_dict`` (loadable into ``softlabels.models.cnn.build_model``'s model)."""
        return {k: v[r].detach().cpu() for k, v in {**self.params, **self.buffers}.items()}


def _autocast(device: torch.device | str, amp: bool) -> Any:
    if amp and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _forward(base: nn.Module, params: Params, buffers: Params, x: torch.Tensor, shared: bool,
             vmap: bool = True) -> torch.Tensor:
    """Logits (R, B, C) of the stacked replicates; x is (R, B, ...) or, if ``shared``, one (B, ...) batch.

    ``vmap``: one vmapped call; else a loop over replicates on views of the stacked tensors (their
    gradients and BatchNorm's running-statistics updates land in the stacked tensors either way).
    """
    def call(p: Params, b: Params, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (xb,))

    if vmap:
        return torch.vmap(call, in_dims=(0, 0, None if shared else 0), randomness="error")(params, buffers, x)
    R = next(iter(params.values())).shape[0]
    return torch.stack([call({k: v[r] for k, v in params.items()}, {k: v[r] for k, v in buffers.items()},
                             x if shared else x[r]) for r in range(R)])


def augment(x: torch.Tensor, rngs: list[np.random.Generator], pad: int = PAD) -> torch.Tensor:
    """Random crop of the zero-padded image and random horizontal flip, per sample (CRD's CIFAR
    augmentation). x is (R, B, C, H, W) raw images; replicate r's draws come from ``rngs[r]``."""
    R, B, C, H, W = x.shape
    off = torch.as_tensor(np.stack([g.integers(0, 2 * pad + 1, size=(B, 2)) for g in rngs]).reshape(R * B, 2),
                          device=x.device)
    flip = torch.as_tensor(np.stack([g.random(B) < 0.5 for g in rngs]).reshape(R * B), device=x.device)
    padded = F.pad(x.reshape(R * B, C, H, W), (pad, pad, pad, pad))
    rows = off[:, :1] + torch.arange(H, device=x.device)
    cols = off[:, 1:] + torch.arange(W, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(-1), cols)
    n = torch.arange(R * B, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    return padded[n, c, rows[:, None, :, None], cols[:, None, None, :]].reshape(R, B, C, H, W)


def train_deep(
    X: np.ndarray,
    y: np.ndarray,
    method: Method,
    hp: dict[str, Any],
    replicate_ids: list[int],
    seed: int,
    teacher_logits: np.ndarray | None = None,
    teacher_model: nn.Module | None = None,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    n_classes: int | None = None,
    device: str = "cpu",
    amp: bool = False,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    vmap: bool | None = None,
) -> DeepResult:
    """Train replicates ``replicate_ids`` of ``hp['model']`` on images X (N, C, H, W) with ``method``.

    ``hp`` keys: model, width (None: the model's own), optimizer, lr, momentum, weight_decay, epochs,
    batch_size, lr_milestones, lr_decay, augment, normalize, selection, patience, resampling,
    replicates, replicate_group, eval_batch_size. The teacher's logits come from ``teacher_model`` run
    on each (augmented) batch when given, else from ``teacher_logits`` on the training set.
    ``vmap``: batch the replicates with ``torch.vmap`` (None: on GPUs, not on the CPU).
    """
    group = hp.get("replicate_group", 0) or len(replicate_ids)
    parts = [train_group(X, y, method, hp, replicate_ids[s:s + group], seed, teacher_logits, teacher_model, X_val,
                         y_val, n_classes, device, amp, on_epoch, vmap) for s in range(0, len(replicate_ids), group)]
    if len(parts) == 1:
        return parts[0]
    epochs = max(p.history["train_loss"].shape[1] for p in parts)

    def cat_history(k: str) -> np.ndarray:  # groups that stopped early are padded with NaN
        return np.concatenate([np.pad(p.history[k].astype(float), ((0, 0), (0, epochs - p.history[k].shape[1])),
                                      constant_values=np.nan) for p in parts])

    return DeepResult(parts[0].base, {k: torch.cat([p.params[k] for p in parts]) for k in parts[0].params},
                      {k: torch.cat([p.buffers[k] for p in parts]) for k in parts[0].buffers},
                      np.concatenate([p.indices for p in parts]),
                      {k: cat_history(k) for k in parts[0].history}, np.concatenate([p.best_epoch for p in parts]),
                      amp, parts[0].eval_batch_size, parts[0].vmap)


def train_group(
    X: np.ndarray, y: np.ndarray, method: Method, hp: dict[str, Any], replicate_ids: list[int], seed: int,
    teacher_logits: np.ndarray | None, teacher_model: nn.Module | None, X_val: np.ndarray | None,
    y_val: np.ndarray | None, n_classes: int | None, device: str, amp: bool,
    on_epoch: Callable[[int, dict[str, float]], None] | None, vmap: bool | None = None,
) -> DeepResult:
    """``train_deep`` for one group of replicates, trained as one computation."""
    selection, patience = hp.get("selection", "val_loss"), hp.get("patience", 0)
    if selection not in SELECTIONS:
        raise ConfigError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    use_val = selection != "last"
    if use_val and X_val is None:
        raise ConfigError(f"selection {selection!r} of {hp['model']!r} needs a data set with a validation split; "
                          "set selection: last (the final epoch) on that teacher or student setup, or give the "
                          "data set a validation split")
    if patience and not use_val:
        raise ConfigError(f"patience {patience} (early stopping) needs selection val_loss or val_acc, got 'last'")
    if method.needs_teacher and teacher_logits is None and teacher_model is None:
        raise ConfigError(f"method {method.kind!r} needs a teacher's logits")
    n = len(X)
    C = n_classes or int(y.max()) + 1
    in_shape = tuple(X.shape[1:])

    models = [build_model(hp["model"], C, in_shape, hp.get("width"), seed, r) for r in replicate_ids]
    if hp.get("normalize", True) and len(in_shape) == 3:
        mean, std = channel_stats(X)
        for m in models:
            set_standardization(m, mean, std)
    models = [m.to(device) for m in models]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    del models
    opt = _optimizer(hp, list(params.values()))
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(hp.get("lr_milestones", [])),
                                                 gamma=hp.get("lr_decay", 0.1))

    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    Zt = None if teacher_logits is None else torch.as_tensor(teacher_logits, dtype=torch.float32, device=device)
    if teacher_model is not None:
        teacher_model = teacher_model.to(device).eval()
    idx_np = resample_indices(n, replicate_ids, seed, hp.get("resampling", "none"), hp.get("replicates", 1))
    idx = torch.as_tensor(idx_np, device=device)
    R, n_r = idx.shape
    order_rngs = [replicate_rng(seed, STREAM_ORDER, r) for r in replicate_ids]
    aug_rngs = [replicate_rng(seed, STREAM_AUGMENT, r) for r in replicate_ids]
    B = hp["batch_size"] if hp.get("batch_size") else n_r
    ar = torch.arange(R, device=device)[:, None]
    tau = method.temperature
    if use_val:
        Xv = torch.as_tensor(X_val, dtype=torch.float32, device=device)
        yv = torch.as_tensor(y_val, dtype=torch.long, device=device).expand(R, -1)
        best_val = torch.full((R,), float("inf"), device=device)
        waited = torch.zeros(R, dtype=torch.long, device=device)
        best = {k: v.detach().clone() for k, v in {**params, **buffers}.items()}
    best_epoch = np.full(R, hp["epochs"] - 1)
    hist = History()
    use_vmap = torch.device(device).type != "cpu" if vmap is None else vmap
    result = DeepResult(base, params, buffers, idx_np, {}, best_epoch, amp, hp.get("eval_batch_size", 1000), use_vmap)

    guard = DivergenceGuard()
    for epoch in range(hp["epochs"]):
        base.train()
        perm = torch.as_tensor(np.stack([g.permutation(n_r) for g in order_rngs]), device=device)
        loss_sum = torch.zeros(R, device=device)
        wrong = torch.zeros(R, device=device)
        reg = {rule: torch.zeros(R, device=device) for rule in REGULARIZATION_RULES}
        seen = 0
        for s in range(0, n_r, B):
            pos = perm[:, s:s + B]
            if pos.shape[1] == 1 and n_r > 1:
                continue  # BatchNorm cannot train on a batch of one; that sample waits for the next epoch
            gi = idx[ar, pos]
            xb, yb = Xt[gi], yt[gi]
            if hp.get("augment", False):
                xb = augment(xb, aug_rngs)
            zt = None
            if teacher_model is not None and method.needs_teacher:
                with torch.no_grad(), _autocast(device, amp):
                    zt = teacher_model(xb.flatten(0, 1)).float().reshape(R, pos.shape[1], -1)
            elif Zt is not None:
                zt = Zt[gi]
            with _autocast(device, amp):
                zb = _forward(base, params, buffers, xb, False, use_vmap)
            zb = zb.float()
            loss_r = method.loss(zb, yb, zt)
            check_finite(loss_r, epoch)
            opt.zero_grad(set_to_none=True)
            loss_r.sum().backward()
            opt.step()
            with torch.no_grad():
                b = pos.shape[1]
                seen += b
                loss_sum += loss_r.detach() * b
                wrong += (zb.argmax(-1) != yb).sum(-1)
                if zt is not None and tau is not None:
                    pt = true_class_prob(zt, yb, tau)
                    for rule in REGULARIZATION_RULES:
                        reg[rule] += regularization_rule(zb, pt, yb, tau, rule).sum(-1)
        sched.step()
        hist.loss.append((loss_sum / seen).cpu().numpy())
        guard.check_loss(hist.loss[-1], epoch)
        with torch.no_grad():
            guard.check_weights(torch.stack([v.abs().flatten(1).amax(1) for v in params.values()]).amax(0), epoch)
        hist.err.append((wrong / seen).cpu().numpy())
        if (teacher_model is not None or Zt is not None) and tau is not None:
            for rule in REGULARIZATION_RULES:  # counts per epoch, scaled to the n_r samples of the training set
                hist.reg[rule].append((reg[rule] * (n_r / seen)).cpu().numpy())
        if use_val:
            zv = result.logits(Xv).to(device)
            v_ce, v_err = ce_per_sample(zv, yv).mean(-1), (zv.argmax(-1) != yv).float().mean(-1)
            vl = v_ce if selection == "val_loss" else v_err
            hist.val_loss.append(v_ce.cpu().numpy())
            val_rec = {"val_loss": float(v_ce.mean()), "val_acc": float(1 - v_err.mean())}
            # a replicate whose patience ran out is finished: later epochs cannot change its result
            better = vl < best_val
            if patience:
                better &= waited <= patience
            best_val = torch.where(better, vl, best_val)
            waited = torch.where(better, torch.zeros_like(waited), waited + 1)
            with torch.no_grad():
                for k, v in {**params, **buffers}.items():
                    best[k][better] = v.detach()[better]
            best_epoch[better.cpu().numpy()] = epoch
            if patience and bool((waited > patience).all()):
                break
        if on_epoch is not None:
            on_epoch(epoch, {"loss": float(hist.loss[-1].mean()), "err": float(hist.err[-1].mean()),
                             **(val_rec if use_val else {})})

    final = {k: (best[k] if use_val else v.detach()) for k, v in {**params, **buffers}.items()}
    result.params = {k: final[k] for k in params}
    result.buffers = {k: final[k] for k in buffers}
    result.history = hist.arrays()
    result.best_epoch = best_epoch
    return result


def _optimizer(hp: dict[str, Any], params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """Adam with L2 (coupled weight decay, paper A) or SGD with momentum (CRD)."""
    name = hp["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=hp["lr"], momentum=hp.get("momentum", 0.0),
                               weight_decay=hp.get("weight_decay", 0.0))
    if name == "adam":
        return torch.optim.Adam(params, lr=hp["lr"], weight_decay=hp.get("weight_decay", 0.0))
    raise ConfigError(f"optimizer must be 'sgd' or 'adam', got {name!r}")
