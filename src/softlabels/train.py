"""The batched trainer: R replicates of a two-layer network trained as one computation.

Parameters of all replicates are stacked along axis 0 and every step is a batched matmul; the
optimisers used (SGD, Adam, projected GD) are elementwise, so replicate r follows exactly the path it
would follow alone (``tests/test_train.py`` checks it). Each replicate has its own training set
(a bootstrap resample, a disjoint part, or the whole set), its own init and its own minibatch order,
all drawn from seed streams keyed by the replicate id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from softlabels.errors import ConfigError, DivergenceError
from softlabels.losses import REGULARIZATION_RULES, Method, ce_per_sample, regularization_rule, true_class_prob
from softlabels.models import STREAM_ORDER, STREAM_RESAMPLE, Params, init_mlp, mlp_logits, replicate_rng

RESAMPLING = ("bootstrap", "disjoint", "none")


def resample_indices(n: int, replicate_ids: list[int], seed: int, kind: str, replicates: int) -> np.ndarray:
    """Training-set indices (R, n_r) of each replicate.

    bootstrap: n draws with replacement from the replicate's own stream; disjoint: the replicate's
    part of one seeded permutation cut into ``replicates`` equal parts (Yang et al. 2020); none: all.
    """
    if kind == "bootstrap":
        return np.stack([replicate_rng(seed, STREAM_RESAMPLE, r).integers(0, n, n) for r in replicate_ids])
    if kind == "disjoint":
        size = n // replicates
        if size < 1:
            raise ConfigError(f"disjoint resampling: {n} training points cannot be cut into {replicates} parts")
        perm = replicate_rng(seed, STREAM_RESAMPLE).permutation(n)
        return np.stack([perm[r * size:(r + 1) * size] for r in replicate_ids])
    if kind == "none":
        return np.tile(np.arange(n), (len(replicate_ids), 1))
    raise ConfigError(f"resampling must be one of {RESAMPLING}, got {kind!r}")


@dataclass
class History:
    """Per-epoch records, each (R, epochs_run)."""

    loss: list[np.ndarray] = field(default_factory=list)
    err: list[np.ndarray] = field(default_factory=list)
    val_loss: list[np.ndarray] = field(default_factory=list)
    reg: dict[str, list[np.ndarray]] = field(default_factory=lambda: {r: [] for r in REGULARIZATION_RULES})

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"train_loss": np.stack(self.loss, 1), "train_err": np.stack(self.err, 1)}
        if self.val_loss:
            out["val_loss"] = np.stack(self.val_loss, 1)
        for rule, v in self.reg.items():
            if v:
                out[f"reg_{rule}"] = np.stack(v, 1)
        return out


@dataclass
class TrainResult:
    params: Params
    fixed: Params
    indices: np.ndarray
    history: dict[str, np.ndarray]
    best_epoch: np.ndarray

    def logits(self, X: np.ndarray | torch.Tensor) -> torch.Tensor:
        p = {**self.params, **self.fixed}
        X = torch.as_tensor(X, dtype=p["W"].dtype, device=p["W"].device)
        with torch.no_grad():
            return mlp_logits(X.reshape(len(X), -1), p)


def train_mlp(
    X: np.ndarray,
    y: np.ndarray,
    method: Method,
    hp: dict[str, Any],
    width: int,
    replicate_ids: list[int],
    seed: int,
    teacher_logits: np.ndarray | None = None,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    n_classes: int | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train replicates ``replicate_ids`` of one (data, method, width) cell as one batched computation.

    ``hp`` is a student setup (config ``students.<name>``): regime, epochs, lr, optimizer, momentum,
    weight_decay, batch_size (0 = full batch), radius (theory: rows stay within radius/√m of init),
    patience (0 = no early stopping; needs validation data), resampling, replicates.
    """
    regime = hp["regime"]
    dtype = torch.float32
    X = X.reshape(len(X), -1)
    n, dim = X.shape
    C = n_classes or int(y.max()) + 1
    if method.needs_teacher and teacher_logits is None:
        raise ConfigError(f"method {method.kind!r} needs a teacher's logits")
    Xt = torch.as_tensor(X, dtype=dtype, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    Zt = None if teacher_logits is None else torch.as_tensor(teacher_logits, dtype=dtype, device=device)

    idx_np = resample_indices(n, replicate_ids, seed, hp["resampling"], hp["replicates"])
    idx = torch.as_tensor(idx_np, device=device)
    R, n_r = idx.shape
    params, fixed = init_mlp(regime, dim, width, C, replicate_ids, seed, dtype)
    params = {k: v.to(device).requires_grad_(True) for k, v in params.items()}
    fixed = {k: v.to(device) for k, v in fixed.items()}
    allp = lambda: {**params, **fixed}  # noqa: E731

    full_batch = regime == "theory" or hp["batch_size"] in (0, None) or hp["batch_size"] >= n_r
    if regime == "theory":
        W0 = params["W"].detach().clone()
        radius = hp["radius"] / np.sqrt(width)
        opt = None
    else:
        opt = _optimizer(hp, list(params.values()))

    order_rngs = [replicate_rng(seed, STREAM_ORDER, r) for r in replicate_ids]
    use_val = hp.get("patience", 0) > 0
    if use_val and X_val is None:
        raise ConfigError("students.<setup>.patience > 0 needs a data set with a validation split")
    if use_val:
        Xv = torch.as_tensor(X_val.reshape(len(X_val), -1), dtype=dtype, device=device)
        yv = torch.as_tensor(y_val, dtype=torch.long, device=device).expand(R, -1)
        best_val = torch.full((R,), float("inf"), device=device)
        best = {k: v.detach().clone() for k, v in params.items()}
        waited = torch.zeros(R, dtype=torch.long, device=device)
    best_epoch = np.full(R, hp["epochs"] - 1)
    hist = History()
    ar = torch.arange(R, device=device)[:, None]
    Xr, yr = Xt[idx], yt[idx]  # (R, n_r, d), (R, n_r): each replicate's training set
    Zr = None if Zt is None else Zt[idx]
    tau = method.temperature
    pt_tau_gt = None if Zr is None or tau is None else true_class_prob(Zr, yr, tau)

    def record(z: torch.Tensor, loss_r: torch.Tensor) -> None:
        """Per-epoch records on each replicate's full training set, from its logits z."""
        hist.loss.append(loss_r.detach().cpu().numpy())
        hist.err.append((z.argmax(-1) != yr).float().mean(-1).cpu().numpy())
        if pt_tau_gt is not None:
            for rule in REGULARIZATION_RULES:
                hist.reg[rule].append(regularization_rule(z, pt_tau_gt, yr, tau, rule).sum(-1).cpu().numpy())

    for epoch in range(hp["epochs"]):
        if full_batch:
            z = mlp_logits(Xr, allp())
            loss_r = method.loss(z, yr, Zr)
            _check_finite(loss_r, epoch)
            record(z.detach(), loss_r)
            if regime == "theory":
                (g,) = torch.autograd.grad(loss_r.sum(), [params["W"]])
                with torch.no_grad():
                    W = params["W"] - hp["lr"] * g
                    delta = W - W0
                    norm = delta.norm(dim=-1, keepdim=True)
                    W = W0 + delta * torch.clamp(radius / torch.clamp(norm, min=1e-30), max=1.0)
                    params["W"].copy_(W)
            else:
                opt.zero_grad(set_to_none=True)
                loss_r.sum().backward()
                opt.step()
        else:
            perm = torch.as_tensor(np.stack([g.permutation(n_r) for g in order_rngs]), device=device)
            B = hp["batch_size"]
            for s in range(0, n_r, B):
                pos = perm[:, s:s + B]
                zb = mlp_logits(Xr[ar, pos], allp())
                loss_b = method.loss(zb, yr[ar, pos], None if Zr is None else Zr[ar, pos])
                _check_finite(loss_b, epoch)
                opt.zero_grad(set_to_none=True)
                loss_b.sum().backward()
                opt.step()
            with torch.no_grad():
                z = mlp_logits(Xr, allp())
                record(z, method.loss(z, yr, Zr))
        if use_val:
            with torch.no_grad():
                vl = ce_per_sample(mlp_logits(Xv, allp()), yv).mean(-1)
                hist.val_loss.append(vl.cpu().numpy())
                # a replicate whose patience ran out is finished: later epochs cannot change its result
                better = (vl < best_val) & (waited <= hp["patience"])
                best_val = torch.where(better, vl, best_val)
                waited = torch.where(better, torch.zeros_like(waited), waited + 1)
                for k, v in params.items():
                    best[k][better] = v.detach()[better]
                best_epoch[better.cpu().numpy()] = epoch
            if bool((waited > hp["patience"]).all()):
                break
        if on_epoch is not None:
            on_epoch(epoch, {"loss": float(hist.loss[-1].mean()), "err": float(hist.err[-1].mean())})

    final = {k: (best[k] if use_val else v.detach()) for k, v in params.items()}
    return TrainResult(final, fixed, idx_np, hist.arrays(), best_epoch)


def _optimizer(hp: dict[str, Any], params: list[torch.Tensor]) -> torch.optim.Optimizer:
    name = hp["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=hp["lr"], momentum=hp.get("momentum", 0.0),
                               weight_decay=hp.get("weight_decay", 0.0))
    if name == "adam":
        return torch.optim.Adam(params, lr=hp["lr"], weight_decay=hp.get("weight_decay", 0.0))
    raise ConfigError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def _check_finite(loss_r: torch.Tensor, epoch: int) -> None:
    if not bool(torch.isfinite(loss_r).all()):
        bad = torch.nonzero(~torch.isfinite(loss_r)).flatten().tolist()
        raise DivergenceError(
            f"training diverged at epoch {epoch}: non-finite loss in replicate(s) {bad}; "
            "lower the learning rate (students.<setup>.lr or teachers.<name>.lr)"
        )
