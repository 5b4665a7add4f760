"""The batched trainer: R replicates of a two-layer network trained as one computation.

Parameters of all replicates are stacked along axis 0 and every step is a batched matmul; the
optimisers used (SGD, Adam, projected GD) are elementwise, so replicate r follows exactly the path it
would follow alone (``tests/test_train.py`` checks it). Each replicate has its own training set
(a bootstrap resample, a disjoint part, or the whole set), its own init and its own minibatch order,
all drawn from seed streams keyed by the replicate id.

Small networks are dominated by per-operation overhead, not arithmetic, so a step is as few kernels
as possible: a hand-written forward and backward pass on class-major activations (no autograd;
``softlabels.training.logit_grads`` gives the loss's gradient in the logits), all trainable parameters in one
flat buffer updated by one fused optimiser kernel, minibatches gathered by one index per tensor, no
host synchronisation inside an epoch, the per-epoch records (loss, error, regularization samples)
evaluated for up to 32 epochs in one pass, and replicates processed in cache-sized blocks at large widths.
``tests/test_fastpath.py`` checks the result against an ordinary per-model PyTorch loop (autograd and
``torch.optim``), the reference of ``python -m softlabels_bench``.

``train_mlp_segments`` packs every width of a theory-regime job into one network per replicate (the
widths' hidden rows side by side, each "segment" with its own fixed second layer, logits and radius):
one step's kernels cover all widths, instead of one set of kernels per width (``_PackedMLP``). Its step is
fused: cache-sized tiles per (replicates, width, sample block), the backward pass as one product
with each tile's ReLU mask, no (R, Σm, n) activation tensor in memory; ``train_mlp``'s theory regime takes
the same step with one width, and ``fused=False`` keeps the formulation it replaced as the reference
(``tests/test_train.py`` compares their trajectories and records; ``python -m softlabels_bench`` times them).
On a CPU with AVX2 and FMA and a C compiler, the fused step runs compiled (``softlabels.training.theory_kernel``,
built at first use): one pass per (replicate, width) with the units in vector lanes, near the arithmetic's
bound; elsewhere it runs in PyTorch, with the same numbers to float32 rounding, and says so once in the log.

The practical regime holds the training inputs once, shared by the replicates: each minibatch, and each
block of the per-epoch records' forward pass, gathers its own rows.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch

from softlabels.errors import ConfigError, DivergenceError
from softlabels.models.mlp import STREAM_ORDER, STREAM_RESAMPLE, Params, init_mlp, mlp_logits, replicate_rng
from softlabels.training import theory_kernel
from softlabels.training.logit_grads import Objective, objective_for
from softlabels.training.methods import REGULARIZATION_RULES, Method

RESAMPLING = ("bootstrap", "disjoint", "none", "fresh")

#: hidden activations (floats) one block of replicates may hold during a CPU step: about the size of a
#: core's L2 cache, so that the passes over them stay in cache at large widths (2-3x faster at m = 1024)
BLOCK_ELEMENTS = 1 << 18
#: logits (floats) that packed training (``train_mlp_segments``) keeps for one evaluation of its records: its
#: R·K rows of records would otherwise make chunks of 32 epochs several times the size of a core's cache
PACKED_RECORDS_ELEMENTS = 1 << 19
#: hidden activations (floats) of one tile of the fused theory step (``_PackedMLP.accumulate_grad``): a
#: quarter of a core's L2 cache, so that the tile, its inputs and its gradient stay in it
FUSED_TILE_ELEMENTS = 1 << 16
#: multiply-adds of training after which the per-epoch records are evaluated (and progress reported): they
#: are evaluated in chunks of epochs (``_Records``), and a chunk must not hide more than about a second of work
RECORDS_LAG_WORK = 1 << 27
#: per-step multiply-adds below which a second thread costs more (synchronisation) than it brings
THREADS_MIN_WORK = 1 << 22
#: the divergence guard (``DivergenceGuard``): a replicate has diverged when its training loss exceeds
#: LOSS_GROWTH times its first-epoch loss, or LOSS_GROWTH times LOSS_FLOOR if that is larger (so that a
#: tiny first loss does not turn ordinary noise into a divergence), or when one of its trainable weights
#: exceeds WEIGHT_BOUND in magnitude (inputs are scaled to about unit size; trained weights stay far below)
LOSS_GROWTH = 1e3
LOSS_FLOOR = 1.0
WEIGHT_BOUND = 1e4
LIKELY_CAUSE = "likely cause: learning rate too high: lower lr (students.<setup>.lr or teachers.<name>.lr)"


def resample_indices(n: int, replicate_ids: list[int], seed: int, kind: str, replicates: int,
                     set_size: int | None = None) -> np.ndarray:
    """Training-set indices (R, n_r) of each replicate, into the n rows the trainer is given.

    bootstrap: n draws with replacement from the replicate's own stream; disjoint: the replicate's
    part of one seeded permutation cut into ``replicates`` equal parts (Yang et al. 2020); none: all;
    fresh: the rows are a synthetic data set's fresh training sets (its ``pool`` split), ``set_size`` rows
    each, and replicate r takes set r, a training set of its own drawn from the generator.
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
    if kind == "fresh":
        if not set_size or n < set_size * (max(replicate_ids) + 1):
            have = n // set_size if set_size else 0
            raise ConfigError(f"fresh resampling: replicate {max(replicate_ids)} needs fresh training set "
                              f"{max(replicate_ids)}, the data set has {have}: raise the data set's fresh_sets "
                              f"to the setup's replicates ({replicates})")
        return np.stack([np.arange(r * set_size, (r + 1) * set_size) for r in replicate_ids])
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


def _prepare(X: np.ndarray, y: np.ndarray, method: Method, hp: dict[str, Any], replicate_ids: list[int], seed: int,
             teacher_logits: np.ndarray | None, n_classes: int | None) -> tuple[np.ndarray, int, int, np.ndarray]:
    """What both trainers start from: the inputs as rows, their dimension, the number of classes and each
    replicate's training-set indices; a distilling method without a teacher's logits is refused."""
    X = X.reshape(len(X), -1)
    if method.needs_teacher and teacher_logits is None:
        raise ConfigError(f"method {method.kind!r} needs a teacher's logits")
    idx_np = resample_indices(len(X), replicate_ids, seed, hp["resampling"], hp["replicates"], hp.get("fresh_size"))
    return X, X.shape[1], n_classes or int(y.max()) + 1, idx_np


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
    watch_val: bool = False,
    fused: bool = True,
    compiled: bool | None = None,
) -> TrainResult:
    """Train replicates ``replicate_ids`` of one (data, method, width) cell as one batched computation.

    ``hp`` is a student setup (config ``students.<name>``): regime, epochs, lr, optimizer, momentum,
    weight_decay, batch_size (0 = full batch), radius (theory: rows stay within radius/√m of init),
    patience (0 = no early stopping; needs validation data), resampling, replicates. ``on_epoch`` is called
    once per epoch, in order, but may lag training by up to 32 epochs and about a second of work (the records
    are evaluated in chunks, ``_Records``).
    ``watch_val``: record (and report to ``on_epoch``) the validation loss every epoch even without early
    stopping, where validation data are given; it selects nothing, so the trained numbers do not change.
    ``fused``: the theory regime's step, fused (default) or the reference formulation it is tested against
    (``_PackedMLP.accumulate_grad``; they agree to float32 rounding). ``compiled``: the fused step compiled
    (``softlabels.training.theory_kernel``) where it can be built, else in PyTorch (None, the default); True
    requires the compiled step, False the PyTorch one (the two agree to float32 rounding).
    """
    regime = hp["regime"]
    dtype = torch.float32
    use_val = hp.get("patience", 0) > 0
    if use_val and X_val is None:
        raise ConfigError(f"patience {hp['patience']} needs a data set with a validation split; this one has none")
    X, dim, C, idx_np = _prepare(X, y, method, hp, replicate_ids, seed, teacher_logits, n_classes)
    R, n_r = idx_np.shape
    params, fixed = init_mlp(regime, dim, width, C, replicate_ids, seed, dtype)
    full_batch = regime == "theory" or hp["batch_size"] in (0, None) or hp["batch_size"] >= n_r
    B = n_r if full_batch else hp["batch_size"]
    threads = torch.get_num_threads()
    if R * B * width * (dim + C) < THREADS_MIN_WORK:
        threads = 1
    # the theory regime takes the fused step of packed training with one segment, so that a width gives the
    # same numbers trained alone (here) as packed with others (``train_mlp_segments``)
    segments = [(width, float(hp["radius"]))] if regime == "theory" else None
    with torch.no_grad(), _num_threads(threads):
        return _train(X, y, method, hp, params, fixed, idx_np, seed, replicate_ids, teacher_logits, X_val, y_val,
                      C, device, on_epoch, full_batch, B, use_val, watch_val=watch_val, segments=segments,
                      fused=fused, compiled=compiled)


def train_mlp_segments(
    X: np.ndarray,
    y: np.ndarray,
    method: Method,
    hp: dict[str, Any],
    segments: list[tuple[int, float]],
    replicate_ids: list[int],
    seed: int,
    teacher_logits: np.ndarray | None = None,
    n_classes: int | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    fused: bool = True,
    compiled: bool | None = None,
) -> list[TrainResult]:
    """Train several theory-regime widths ("segments", each a (width m_k, radius B_k)) of one cell as one
    packed computation; returns one ``TrainResult`` per segment, each what ``train_mlp`` gives for
    ``{**hp, "radius": B_k}`` at width m_k alone.

    Per replicate, the hidden rows of all segments are concatenated into one network of Σm_k rows
    (each segment initialised by ``init_mlp`` at its own width, from its own seed streams, so exactly
    as when trained alone); the fixed second layer maps each segment to its own logits [0, f_k]
    (f_k = (1/√m_k) Σ_{j∈k} a_j ReLU(w_jᵀx)); the loss is the sum of the segments' losses, so each row's
    gradient is that of its own width; projected GD keeps each row within B_k/√m_k of its init. The
    records (loss, 0-1 error, regularization samples per epoch) and the divergence guard are per
    (replicate, segment), as if each segment were a replicate of its own.

    Equality with ``train_mlp``: every matrix product is done per segment, with exactly the per-width
    shapes (W_k·Xᵀ, the second layer Aᵀ_k·h_k, ∂h_k·X; no FLOPs spent on other segments' rows, unlike a
    dense block matrix, and no dependence on which other widths are packed: PyTorch picks a different
    kernel, with another summation order, for products below a size threshold); ∂h = a_j·∂f_k is the
    product the per-width matmul forms; everything elementwise (ReLU, its mask, the loss gradient, the
    projection, in which the radius is applied as PyTorch applies a scalar one) runs once over all
    segments. So every number is computed by the same operations in the same order, and the results
    are bit-identical to ``train_mlp``'s on the CPU builds tested (``tests/test_train.py`` asserts 1e-6;
    a vectorised kernel whose rounding depended on an element's position in the buffer would break
    bit-identity, changing float summation or rounding order, and the results would then agree to
    about 1e-6 instead; the per-kernel overhead saved is that of all elementwise passes and the
    per-width Python loop). ``on_epoch`` gets the mean over every replicate of every segment. No early stopping
    (``patience`` must be 0; use ``train_mlp`` per width for it).
    """
    if hp["regime"] != "theory":
        raise ConfigError(f"train_mlp_segments is for the theory regime, got regime {hp['regime']!r}")
    if hp.get("patience", 0) > 0:
        raise ConfigError("train_mlp_segments has no early stopping: train with patience 0, or per width")
    if not segments:
        return []
    dtype = torch.float32
    X, dim, C, idx_np = _prepare(X, y, method, hp, replicate_ids, seed, teacher_logits, n_classes)
    R, n_r = idx_np.shape
    inits = [init_mlp("theory", dim, m, C, replicate_ids, seed, dtype) for m, _ in segments]
    params = {"W": torch.cat([p["W"] for p, _ in inits], 1)}
    fixed = {"A": torch.cat([f["A"] for _, f in inits], 1)}
    widths = [int(m) for m, _ in segments]
    threads = torch.get_num_threads()
    if R * n_r * sum(widths) * (dim + C) < THREADS_MIN_WORK:
        threads = 1
    with torch.no_grad(), _num_threads(threads):
        packed = _train(X, y, method, hp, params, fixed, idx_np, seed, replicate_ids, teacher_logits, None, None,
                        C, device, on_epoch, True, n_r, False, segments=[(m, float(b)) for m, b in segments],
                        fused=fused, compiled=compiled)
    out = []
    off = 0
    K = len(segments)
    for k, m in enumerate(widths):
        rows = slice(off, off + m)
        hist = {name: v.reshape(R, K, -1)[:, k].copy() for name, v in packed.history.items()}
        out.append(TrainResult({"W": packed.params["W"][:, rows].contiguous().clone()},
                               {"A": packed.fixed["A"][:, rows].contiguous().clone()}, idx_np.copy(), hist,
                               packed.best_epoch.copy()))
        off += m
    return out


def _train(X: np.ndarray, y: np.ndarray, method: Method, hp: dict[str, Any], params: Params, fixed: Params,
           idx_np: np.ndarray, seed: int, replicate_ids: list[int], teacher_logits: np.ndarray | None,
           X_val: np.ndarray | None, y_val: np.ndarray | None, C: int, device: str,
           on_epoch: Callable[[int, dict[str, float]], None] | None, full_batch: bool, B: int,
           use_val: bool, segments: list[tuple[int, float]] | None = None, watch_val: bool = False,
           fused: bool = True, compiled: bool | None = None) -> TrainResult:
    dtype = torch.float32
    R, n_r = idx_np.shape
    net = (_FlatMLP(params, fixed, device) if segments is None
           else _PackedMLP(params, fixed, device, segments, fused, compiled))
    obj = objective_for(method, C, teacher_logits is not None)
    Xt = torch.as_tensor(X, dtype=dtype, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    Zt = None if teacher_logits is None else torch.as_tensor(teacher_logits, dtype=dtype, device=device)
    idx = torch.as_tensor(idx_np, device=device)
    # per-sample constants of the loss, class-major (k, n): a minibatch gathers columns
    TT = obj.targets(yt.unsqueeze(0), None if Zt is None else Zt.unsqueeze(0), dtype)[0].T.contiguous()
    # full batch (the theory regime): each replicate's training set as one tensor (R, n_r, d); minibatches
    # gather their rows from the inputs held once (a practical job on MNIST holds 54,000 x 784 floats once,
    # not once per replicate), and the records' forward pass gathers a cache-sized block at a time
    Xr = Xt[idx] if full_batch else None
    Tr = TT[:, idx].transpose(0, 1).contiguous()                     # (R, k, n_r)
    opt = _make_optimizer(hp, net)
    describe = None
    if segments is not None:  # each (replicate, segment) is a row of the records: R·K of them
        Tr = Tr.repeat_interleave(len(segments), 0)
        if len(segments) > 1:
            describe = _segment_namer(replicate_ids, [m for m, _ in segments])
    order = None if full_batch else _EpochOrder([replicate_rng(seed, STREAM_ORDER, r) for r in replicate_ids],
                                                n_r, hp["epochs"], device)
    watch_val = use_val or (watch_val and X_val is not None and len(X_val) > 0)
    if watch_val:
        Xv = torch.as_tensor(X_val.reshape(len(X_val), -1), dtype=dtype, device=device)
        Yv = torch.nn.functional.one_hot(torch.as_tensor(y_val, dtype=torch.long, device=device), C).to(dtype).T
    if use_val:
        best_val = torch.full((R,), float("inf"), device=device)
        best = net.data.clone()
        waited = torch.zeros(R, dtype=torch.long, device=device)
    best_epoch = np.full(R, hp["epochs"] - 1)
    hist = History()
    epoch_work = R * n_r * (net.m if segments is None else sum(m for m, _ in segments)) * (Xt.shape[1] + C)
    records = _Records(obj, Tr, hist, on_epoch, hp["epochs"], describe=describe, epoch_work=epoch_work,
                       **({} if segments is None else {"budget": PACKED_RECORDS_ELEMENTS}))
    records.weights = lambda: net.max_abs_weight()

    for epoch in range(hp["epochs"]):
        if full_batch:
            zT = net.accumulate_grad(Xr, Tr, obj)
            records.add(epoch, zT)  # the loss at the parameters this step starts from
            opt.step()
        else:
            g = idx.gather(1, order.next())                          # (R, n_r) sample ids in this epoch's order
            for s in range(0, n_r, B):
                gb = g[:, s:s + B].reshape(-1)                       # this minibatch's rows, gathered alone
                nb = gb.numel() // R
                net.accumulate_grad(Xt.index_select(0, gb).view(R, nb, -1),
                                    TT.index_select(1, gb).view(-1, R, nb).transpose(0, 1), obj)
                opt.step()
            del g
        if watch_val:
            zv = net.logits(Xv)
            vl = -(torch.log_softmax(zv, dim=1) * Yv).sum(1).mean(-1)
            hist.val_loss.append(vl.cpu().numpy())
        if not full_batch:  # after the validation loss, so that the epoch's progress line can show it
            records.add(epoch, net.logits_of(Xt, idx))
        if use_val:
            # a replicate whose patience ran out is finished: later epochs cannot change its result
            better = (vl < best_val) & (waited <= hp["patience"])
            best_val = torch.where(better, vl, best_val)
            waited = torch.where(better, torch.zeros_like(waited), waited + 1)
            net.copy_replicates(best, better)
            best_epoch[better.cpu().numpy()] = epoch
            if bool((waited > hp["patience"]).all()):
                break
    records.flush()

    final, fixed_out = net.export(best if use_val else None)
    return TrainResult(final, fixed_out, idx_np, hist.arrays(), best_epoch)


class _Records:
    """The per-epoch training-set records (loss, 0-1 error, regularization samples), evaluated a chunk of
    epochs at a time: the epochs' logits are kept and one pass of the objective covers up to ``chunk``
    epochs (the replicate axis stands for epoch × replicate), instead of some 50 small kernels per epoch.
    Each epoch is still checked for divergence, and ``on_epoch`` still called, in order."""

    def __init__(self, obj: Objective, T: torch.Tensor, hist: History,
                 on_epoch: Callable[[int, dict[str, float]], None] | None, epochs: int, budget: int = 1 << 22,
                 describe: Callable[[list[int]], str] | None = None, epoch_work: int = 0):
        self.obj, self.hist, self.on_epoch = obj, hist, on_epoch
        self.R, _, self.n = T.shape
        self.C = obj.C
        # at most 32 epochs, within the memory budget, and no more than RECORDS_LAG_WORK multiply-adds of
        # training (``epoch_work`` per epoch), so that ``on_epoch`` (the job's progress lines) lags training
        # by about a second at most
        self.chunk = max(1, min(epochs, 32, budget // (self.R * self.C * self.n),
                                RECORDS_LAG_WORK // max(1, epoch_work)))
        self.T = T.repeat(self.chunk, 1, 1) if self.chunk > 1 else T
        self.Z = torch.empty(self.chunk * self.R, self.C, self.n, dtype=T.dtype, device=T.device)
        self.pending: list[int] = []
        self.guard = DivergenceGuard(describe)
        self.weights: Callable[[], torch.Tensor] | None = None  # each replicate's largest |weight| now

    def add(self, epoch: int, zT: torch.Tensor) -> None:
        """Keep epoch ``epoch``'s class-major logits zT (R, C, n) of the training sets."""
        j = len(self.pending)
        self.Z[j * self.R:(j + 1) * self.R].copy_(zT)
        self.pending.append(epoch)
        if len(self.pending) == self.chunk:
            self.flush()

    def flush(self) -> None:
        j = len(self.pending)
        if not j:
            return
        ev = self.obj.evaluate(self.Z[:j * self.R], self.T[:j * self.R])
        loss = ev.loss.view(j, self.R)
        ok = torch.isfinite(loss).all(1).cpu().numpy()
        loss, err = loss.cpu().numpy(), ev.err.view(j, self.R).cpu().numpy()
        reg = {rule: c.view(j, self.R).cpu().numpy() for rule, c in ev.reg.items()}
        epochs, self.pending = self.pending, []
        for i, epoch in enumerate(epochs):
            if not ok[i]:
                check_finite(torch.as_tensor(loss[i]), epoch, self.guard.describe)
            self.guard.check_loss(loss[i], epoch)
            self.hist.loss.append(loss[i])
            self.hist.err.append(err[i])
            for rule, c in reg.items():
                self.hist.reg[rule].append(c[i])
            if self.on_epoch is not None:
                val = self.hist.val_loss[epoch] if epoch < len(self.hist.val_loss) else None  # computed already
                self.on_epoch(epoch, {"loss": float(loss[i].mean()), "err": float(err[i].mean()),
                                      **({"val_loss": float(val.mean())} if val is not None else {})})
        if self.weights is not None:  # the weights now: those after the chunk's last epoch
            self.guard.check_weights(self.weights(), epochs[-1])


class _FlatMLP:
    """R two-layer ReLU networks (``softlabels.models.mlp``) with a hand-written forward and backward pass.

    The trainable parameters live in one flat buffer ``data`` (their gradients in ``grad``, same layout),
    so an elementwise optimiser updates all of them with one kernel. Activations are class-major:
    hT (R, m, B), zT (R, C, B); the second layer is stored transposed, AT (R, C, m).
    """

    def __init__(self, params: Params, fixed: Params, device: str):
        W = params["W"]
        internal = {k: (v.transpose(1, 2) if k == "A" else v) for k, v in params.items()}
        self.data = torch.empty(sum(v.numel() for v in internal.values()), dtype=W.dtype, device=device)
        self.grad = torch.zeros_like(self.data)
        self.p: dict[str, torch.Tensor] = {}
        self.g: dict[str, torch.Tensor] = {}
        off = 0
        for k, v in internal.items():
            self.p[k] = self.data[off:off + v.numel()].view(v.shape)
            self.p[k].copy_(v)
            self.g[k] = self.grad[off:off + v.numel()].view(v.shape)
            off += v.numel()
        self.trainable = list(params)
        self.fixed_A = None if "A" in self.p else fixed["A"].to(device).transpose(1, 2).contiguous()
        self.R, self.m, self.d = W.shape
        self.scratch: dict[str, torch.Tensor] = {}
        self.block = BLOCK_ELEMENTS if self.data.device.type == "cpu" else 1 << 27  # GPUs want big kernels

    def max_abs_weight(self) -> torch.Tensor:
        """Each replicate's largest trainable |weight|, shape (R,)."""
        return torch.stack([self.p[k].abs().flatten(1).amax(1) for k in self.p]).amax(0)

    @property
    def AT(self) -> torch.Tensor:
        return self.p["A"] if self.fixed_A is None else self.fixed_A

    def _work(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """A reusable scratch buffer (fresh allocations of large activations cost page faults)."""
        n = math.prod(shape)
        buf = self.scratch.get(name)
        if buf is None or buf.numel() < n:
            buf = self.scratch[name] = torch.empty(n, dtype=self.data.dtype, device=self.data.device)
        return buf[:n].view(shape)

    def _forward(self, X: torch.Tensor, r: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """(hT, zT) of replicates r for inputs X (r, B, d), or (B, d) shared by all."""
        W, AT = self.p["W"][r], self.AT[r]
        if X.dim() == 2:
            hT = torch.matmul(W, X.T)
            if "b1" in self.p:
                hT.add_(self.p["b1"][r].unsqueeze(2))
        else:
            hT = self._work("h", (W.shape[0], self.m, X.shape[1]))
            if "b1" in self.p:
                torch.baddbmm(self.p["b1"][r].unsqueeze(2), W, X.transpose(1, 2), out=hT)
            else:
                torch.bmm(W, X.transpose(1, 2), out=hT)
        hT.relu_()
        zT = torch.baddbmm(self.p["b2"][r].unsqueeze(2), AT, hT) if "b2" in self.p else torch.bmm(AT, hT)
        return hT, zT

    def _blocks(self, per_replicate: int, budget: int) -> Iterator[slice]:
        step = max(1, budget // max(1, per_replicate))
        for r0 in range(0, self.R, step):
            yield slice(r0, min(self.R, r0 + step))

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """Class-major logits zT (R, C, N) of inputs X (R, N, d) or (N, d), block by block."""
        N = X.shape[-2]
        if self.R * self.m * N <= self.block:
            return self._forward(X, slice(None))[1]
        out = torch.empty(self.R, self.AT.shape[1], N, dtype=self.data.dtype, device=self.data.device)
        chunk = N if self.m * N <= self.block else max(1, self.block // self.m)
        for s in range(0, N, chunk):
            Xs = X[..., s:s + chunk, :]
            for r in self._blocks(self.m * Xs.shape[-2], self.block):
                out[r, :, s:s + chunk] = self._forward(Xs if Xs.dim() == 2 else Xs[r], r)[1]
        return out

    def logits_of(self, X: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Class-major logits (R, C, N) of replicate r on rows idx[r] (R, N) of the inputs X (n, d) held once:
        ``logits(X[idx])`` without its copy of the inputs per replicate, each block of replicates and samples
        gathering its own rows (blocks of at most ``block`` floats of activations and inputs together)."""
        R, N = idx.shape
        per_row = self.m + X.shape[1]  # a sample's hidden activations and its gathered inputs
        if R * per_row * N <= self.block:
            return self._forward(X.index_select(0, idx.reshape(-1)).view(R, N, -1), slice(None))[1]
        out = torch.empty(R, self.AT.shape[1], N, dtype=self.data.dtype, device=self.data.device)
        chunk = N if per_row * N <= self.block else max(1, self.block // per_row)
        for s in range(0, N, chunk):
            n_s = min(chunk, N - s)
            for r in self._blocks(per_row * n_s, self.block):
                Xs = X.index_select(0, idx[r, s:s + n_s].reshape(-1)).view(r.stop - r.start, n_s, -1)
                out[r, :, s:s + n_s] = self._forward(Xs, r)[1]
        return out

    def accumulate_grad(self, X: torch.Tensor, T: torch.Tensor, obj: Objective) -> torch.Tensor:
        """Gradients of every replicate's loss on its batch X (R, B, d), constants T (R, k, B), into ``grad``;
        returns the logits zT (R, C, B) they were taken at."""
        B = X.shape[1]
        zs = []
        for r in self._blocks(self.m * B, self.block):
            Xr = X[r]
            hT, zT = self._forward(Xr, r)
            dzT = obj.grad(zT, T[r])
            if "A" in self.p:
                torch.bmm(dzT, hT.transpose(1, 2), out=self.g["A"][r])
                torch.sum(dzT, 2, out=self.g["b2"][r])
            dhT = torch.bmm(self.AT[r].transpose(1, 2), dzT, out=self._work("dh", hT.shape))
            torch.ops.aten.threshold_backward.grad_input(dhT, hT, 0, grad_input=dhT)  # ReLU'
            torch.bmm(dhT, Xr, out=self.g["W"][r])
            if "b1" in self.p:
                torch.sum(dhT, 2, out=self.g["b1"][r])
            zs.append(zT)
        return zs[0] if len(zs) == 1 else torch.cat(zs, 0)

    def copy_replicates(self, dst: torch.Tensor, mask: torch.Tensor) -> None:
        """dst (a buffer laid out like ``data``) takes the current parameters of replicates where ``mask``."""
        off = 0
        for v in self.p.values():
            d = dst[off:off + v.numel()].view(v.shape)
            d.copy_(torch.where(mask.view(-1, *[1] * (v.dim() - 1)), v, d))
            off += v.numel()

    def export(self, data: torch.Tensor | None = None) -> tuple[Params, Params]:
        """(trainable, fixed) parameters in ``softlabels.models.mlp``' layout, from ``data`` or the current buffer."""
        src = self.data if data is None else data
        views: Params = {}
        off = 0
        for k, v in self.p.items():
            views[k] = src[off:off + v.numel()].view(v.shape)
            off += v.numel()
        out = {k: (v.transpose(1, 2) if k == "A" else v) for k, v in views.items()}
        fixed = {} if self.fixed_A is None else {"A": self.fixed_A.transpose(1, 2).contiguous()}
        return {k: out[k].contiguous().clone() for k in self.trainable}, fixed


class _PackedMLP(_FlatMLP):
    """Theory-regime networks of several widths packed together (``train_mlp_segments``). The flat buffer
    holds the segments one after another, segment k's rows as W_k (R, m_k, d), so that every per-segment
    view is contiguous; each segment's fixed second layer is Aᵀ_k (R, 2, m_k), its logits [0, f_k].
    Logits and their constants are laid out (R·K, 2, B), replicate-major: row r·K + k is segment k of
    replicate r, so the objective and the records treat each as a replicate of its own."""

    def __init__(self, params: Params, fixed: Params, device: str, segments: list[tuple[int, float]],
                 fused: bool = True, compiled: bool | None = None):
        W, A = params["W"], fixed["A"]
        self.fused = fused
        # the compiled step (theory_kernel), where it can be built and the weights are on the CPU
        self.kernel = None
        if fused and compiled is not False and torch.device(device).type == "cpu":
            self.kernel = theory_kernel.load()
        if compiled and self.kernel is None:
            raise ConfigError("the compiled theory step was asked for, but it cannot be built or run here")
        self.R, self.m, self.d = W.shape
        if A.shape[-1] != 2 or bool((A[..., 0] != 0).any()):
            raise ConfigError("packed training needs the theory regime's fixed second layer, logits [0, f]")
        self.widths = [int(m) for m, _ in segments]
        self.K = len(segments)
        self.offsets = np.concatenate([[0], np.cumsum(self.widths)]).astype(int).tolist()
        self.data = torch.empty(W.numel(), dtype=W.dtype, device=device)
        self.grad = torch.zeros_like(self.data)
        self.Ws, self.gWs, self.ATs = [], [], []
        for k in range(self.K):
            a, b = self.offsets[k], self.offsets[k + 1]
            span = slice(self.R * a * self.d, self.R * b * self.d)
            self.Ws.append(self.data[span].view(self.R, b - a, self.d))
            self.Ws[-1].copy_(W[:, a:b])
            self.gWs.append(self.grad[span].view(self.R, b - a, self.d))
            self.ATs.append(A[:, a:b].to(device).transpose(1, 2).contiguous())
        rows = self.data.view(-1, self.d)  # every row of every segment, segment-major: what the projection sees
        self.p, self.g = {"W": rows}, {"W": self.grad.view(-1, self.d)}
        self.trainable = ["W"]
        # each row's radius B_k/√m_k in the buffer's order, rounded to float32 as the per-width trainer's scalar is
        radii = np.concatenate([np.full(self.R * m, b / np.sqrt(m)) for m, b in segments])
        self.radius_rows = torch.as_tensor(radii, dtype=self.data.dtype, device=device).view(-1, 1)
        self.scratch: dict[str, torch.Tensor] = {}
        self.block = BLOCK_ELEMENTS if self.data.device.type == "cpu" else 1 << 27
        self._T: tuple[torch.Tensor, dict[tuple[int, int, int], torch.Tensor]] | None = None

    def max_abs_weight(self) -> torch.Tensor:
        """Each (replicate, segment)'s largest |weight|, shape (R·K,)."""
        return torch.stack([W.abs().amax((1, 2)) for W in self.Ws], 1).reshape(-1)

    def export(self, data: torch.Tensor | None = None) -> tuple[Params, Params]:
        """(trainable, fixed) parameters in ``softlabels.models.mlp``' layout, all segments side by side; from
        ``data`` (an early-stopping copy, one segment only) or the current buffer."""
        A = {"A": torch.cat([AT.transpose(1, 2) for AT in self.ATs], 1).contiguous()}
        if data is not None:
            self._one_segment()
            return {"W": data.view(self.R, self.m, self.d).clone()}, A
        return {"W": torch.cat(self.Ws, 1).contiguous().clone()}, A

    def copy_replicates(self, dst: torch.Tensor, mask: torch.Tensor) -> None:
        """Early stopping (``train_mlp``'s theory regime: one segment, whose buffer is W (R, m, d))."""
        self._one_segment()
        d = dst.view(self.R, -1)
        d.copy_(torch.where(mask.view(-1, 1), self.data.view(self.R, -1), d))

    def _one_segment(self) -> None:
        if self.K != 1:
            raise ConfigError("packed training of several widths has no early stopping: train with patience 0")

    def _tiles(self, B: int) -> list[tuple[slice, int, int]]:
        """(replicates, first segment, end segment) of each cache-sized tile of a step on B samples:
        consecutive segments are grouped while all replicates' activations fit in ``block`` (so small
        widths share the elementwise kernels), and a group's replicates are cut into blocks as
        ``_FlatMLP`` does for one width."""
        tiles, k = [], 0
        while k < self.K:
            rows, end = self.widths[k], k + 1
            while end < self.K and (rows + self.widths[end]) * B * self.R <= self.block:
                rows, end = rows + self.widths[end], end + 1
            step = max(1, self.block // max(1, rows * B))
            tiles += [(slice(r0, min(self.R, r0 + step)), k, end) for r0 in range(0, self.R, step)]
            k = end
        return tiles

    def _forward_tile(self, X: torch.Tensor, r: slice, k0: int, k1: int
                      ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """(their activation buffer, the segments' hT_k (r, m_k, B) in it, zT (k1 − k0, r, 2, B)) of
        replicates r and segments k0..k1 − 1, inputs X (r, B, d) or (B, d): the per-width products."""
        XT = X.T if X.dim() == 2 else X.transpose(1, 2)
        nr, B = r.stop - r.start, XT.shape[-1]
        flat = self._work("h", (nr * (self.offsets[k1] - self.offsets[k0]) * B,))
        zT = torch.empty(k1 - k0, nr, 2, B, dtype=flat.dtype, device=flat.device)
        hs, off = [], 0
        for k in range(k0, k1):
            h = flat[off:off + nr * self.widths[k] * B].view(nr, self.widths[k], B)
            off += h.numel()
            if X.dim() == 2:
                torch.matmul(self.Ws[k][r], XT, out=h)
            else:
                torch.bmm(self.Ws[k][r], XT, out=h)
            hs.append(h)
        flat.relu_()
        for k, h in zip(range(k0, k1), hs):
            torch.bmm(self.ATs[k][r], h, out=zT[k - k0])
        return flat, hs, zT

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """Class-major logits (R·K, 2, N), tile by tile."""
        N = X.shape[-2]
        out = torch.empty(self.R, self.K, 2, N, dtype=self.data.dtype, device=self.data.device)
        for r, k0, k1 in self._tiles(N):
            out[r, k0:k1] = self._forward_tile(X if X.dim() == 2 else X[r], r, k0, k1)[2].transpose(0, 1)
        return out.view(-1, 2, N)

    def _tile_targets(self, T: torch.Tensor, r: slice, k0: int, k1: int) -> torch.Tensor:
        """Constants T (R·K, k, B) of a tile, laid out like its logits ((k1 − k0)·r, k, B); made once per T."""
        if self._T is None or self._T[0] is not T:
            self._T = (T, {})
        key = (r.start, k0, k1)
        if key not in self._T[1]:
            T4 = T.view(self.R, self.K, *T.shape[1:])
            self._T[1][key] = T4[r, k0:k1].transpose(0, 1).reshape(-1, *T.shape[1:]).contiguous()
        return self._T[1][key]

    def _fused_tiles(self, k: int, R: int, B: int) -> list[tuple[slice, slice]]:
        """(replicates, samples) of each tile of segment k in the fused step: all the segment's rows, a sample
        block of at most ``FUSED_TILE_ELEMENTS`` // m_k samples (it depends on the width and B alone, so that a
        replicate's numbers do not depend on how many replicates, or which other widths, are trained beside it),
        and as many replicates as fit."""
        m = self.widths[k]
        nb = min(B, max(16, FUSED_TILE_ELEMENTS // m))
        rb = max(1, FUSED_TILE_ELEMENTS // (m * nb))
        return [(slice(r0, min(R, r0 + rb)), slice(s0, min(B, s0 + nb)))
                for r0 in range(0, R, rb) for s0 in range(0, B, nb)]

    def accumulate_grad(self, X: torch.Tensor, T: torch.Tensor, obj: Objective) -> torch.Tensor:
        """Gradients of every (replicate, segment)'s loss on X (R, B, d), constants T (R·K, k, B), into
        ``grad``; returns the logits (R·K, 2, B) they were taken at.

        The fused step, cache-blocked per (replicates, width, sample block) tile so that the hidden
        tile h (at most ``FUSED_TILE_ELEMENTS`` floats) stays in a core's L2 cache: a forward pass gives
        f = aᵀ·ReLU(W·Xᵀ) for every tile; the loss gradient g = ∂L/∂f is taken once on all logits [0, f]; a
        backward pass recomputes each tile's pre-activations, keeps only their ReLU mask M (1 where w_jᵀx_i > 0)
        and forms ∂W = a ⊙ (M·(g ⊙ X)), one product with the mask. No (R, Σm, B) tensor is ever written to
        memory: each tile is made, used and dropped while in cache (the reference formulation,
        ``_accumulate_grad_reference``, makes about nine passes over it). The numbers agree with the reference
        to float32 rounding (the sums are ordered differently; ``tests/test_train.py`` compares trajectories)."""
        if not self.fused:
            return self._accumulate_grad_reference(X, T, obj)
        if self.kernel is not None:
            return self._accumulate_grad_compiled(X, T, obj)
        R, B, d = X.shape
        plan = self._fused_plan(X)
        f, gXT, zT = plan["f"], plan["gXT"], plan["zT"]
        for k, tiles in enumerate(plan["tiles"]):
            for Xs, WT, a, fs, _, h in tiles:
                torch.bmm(Xs, WT, out=h)
                h.relu_()
                torch.bmm(h, a, out=fs)
        zT[:, :, 1] = f.squeeze(-1).transpose(0, 1)
        z = zT.view(R * self.K, 2, B)
        g = obj.grad(z, T).view(R, self.K, 2, B)[:, :, 1]     # ∂L/∂f (R, K, B)
        torch.mul(g.unsqueeze(2), plan["XT"], out=gXT)        # (R, K, d, B)
        for k, tiles in enumerate(plan["tiles"]):
            for Xs, WT, _, _, (gXs, gWs, acc), h in tiles:
                torch.bmm(Xs, WT, out=h)                      # recomputed in cache: the same product as above
                h.relu_().sign_()                             # the ReLU mask M: 1 where w_jᵀx_i > 0
                if gWs is not None:                           # ∂Wᵀ = (g ⊙ X)ᵀ·M, summed over sample blocks
                    torch.bmm(gXs, h, out=gWs)
                else:
                    acc.baddbmm_(gXs, h)
            torch.mul(plan["gWT"][k].transpose(1, 2), plan["a"][k], out=self.gWs[k])
        return z.clone()

    def _accumulate_grad_compiled(self, X: torch.Tensor, T: torch.Tensor, obj: Objective) -> torch.Tensor:
        """The fused step's mathematics in one compiled pass per (replicate, segment) (``theory_step.c``): the
        forward pass gives every f, the loss gradient g = ∂L/∂f is taken here on the logits [0, f] as in the
        PyTorch step, and the backward pass recomputes the pre-activations and forms ∂W = a ⊙ Σ_i M g_i x_i."""
        R, B, d = X.shape
        c = getattr(self, "_compiled", None)
        if c is None or c["X"] is not X:
            A = torch.cat([AT[:, 1].contiguous().reshape(-1) for AT in self.ATs]).to(self.data.dtype)
            c = self._compiled = {"X": X, "Xc": X.contiguous(), "A": A,
                                  "widths": torch.tensor(self.widths, dtype=torch.int64),
                                  "f": torch.empty(R, self.K, B, dtype=self.data.dtype),
                                  "zT": torch.zeros(R, self.K, 2, B, dtype=self.data.dtype)}
        self.kernel.forward(c["widths"], c["Xc"], self.data, c["A"], c["f"])
        zT = c["zT"]
        zT[:, :, 1] = c["f"]
        z = zT.view(R * self.K, 2, B)
        g = obj.grad(z, T).view(R, self.K, 2, B)[:, :, 1].contiguous()   # ∂L/∂f (R, K, B)
        self.kernel.backward(c["widths"], c["Xc"], self.data, c["A"], g, self.grad)
        return z.clone()

    def _fused_plan(self, X: torch.Tensor) -> dict[str, Any]:
        """The fused step's buffers and every tile's views for inputs X (R, B, d), made once per X (full-batch
        training steps on the same X every iteration, so slicing is not repeated in the loop)."""
        if getattr(self, "_plan", None) is not None and self._plan["X"] is X:
            return self._plan
        R, B, d = X.shape
        dev, dt = self.data.device, self.data.dtype
        plan: dict[str, Any] = {"X": X, "XT": X.transpose(1, 2).unsqueeze(1),
                                "f": torch.empty(self.K, R, B, 1, dtype=dt, device=dev),
                                "gXT": torch.empty(R, self.K, d, B, dtype=dt, device=dev),
                                "zT": torch.zeros(R, self.K, 2, B, dtype=dt, device=dev),
                                "a": [AT[:, 1:2].transpose(1, 2) for AT in self.ATs],  # (R, m_k, 1)
                                "gWT": [], "tiles": []}
        for k in range(self.K):
            m = self.widths[k]
            WT = self.Ws[k].transpose(1, 2)                   # (R, d, m_k)
            gWT = torch.empty(R, d, m, dtype=dt, device=dev)
            plan["gWT"].append(gWT)
            tiles = []
            for r, s in self._fused_tiles(k, R, B):
                shape = (r.stop - r.start, s.stop - s.start, m)
                h = self._work(f"h{shape}", shape)
                first = s.start == 0
                tiles.append((X[r, s], WT[r], plan["a"][k][r], plan["f"][k, r, s],
                              (plan["gXT"][r, k, :, s], gWT[r] if first else None, gWT[r]), h))
            plan["tiles"].append(tiles)
        self._plan = plan
        return plan

    def _accumulate_grad_reference(self, X: torch.Tensor, T: torch.Tensor, obj: Objective) -> torch.Tensor:
        """The step as it was before the fused one (``fused=False``): per tile, the (r, m, B) activations are
        formed, the logits taken by the second layer's product, the gradient pushed back through it and the
        ReLU, and multiplied by X, each a pass over the activations. Kept as the reference the fused step is
        tested against (``tests/test_train.py``) and benchmarked against (``python -m softlabels_bench``)."""
        B = X.shape[1]
        zs = torch.empty(self.R, self.K, 2, B, dtype=self.data.dtype, device=self.data.device)
        for r, k0, k1 in self._tiles(B):
            Xr = X[r]
            flat, hs, zT = self._forward_tile(Xr, r, k0, k1)
            dzT = obj.grad(zT.view(-1, 2, B), self._tile_targets(T, r, k0, k1)).view(zT.shape)
            dflat = self._work("dh", (flat.numel(),))
            dhs, off = [], 0
            for k, h in zip(range(k0, k1), hs):
                dh = dflat[off:off + h.numel()].view(h.shape)
                off += h.numel()
                torch.bmm(self.ATs[k][r].transpose(1, 2), dzT[k - k0], out=dh)
                dhs.append(dh)
            torch.ops.aten.threshold_backward.grad_input(dflat, flat, 0, grad_input=dflat)  # ReLU'
            for k, dh in zip(range(k0, k1), dhs):
                torch.bmm(dh, Xr, out=self.gWs[k][r])
            zs[r, k0:k1] = zT.transpose(0, 1)
        return zs.view(-1, 2, B)


def _segment_namer(replicate_ids: list[int], widths: list[int]) -> Callable[[list[int]], str]:
    """Names rows r·K + k of packed records: replicate replicate_ids[r] at width widths[k]."""
    K = len(widths)

    def describe(rows: list[int]) -> str:
        return "replicate(s) " + ", ".join(f"{replicate_ids[i // K]} at width {widths[i % K]}" for i in rows)

    return describe


class _EpochOrder:
    """Each replicate's minibatch order, epoch after epoch: exactly the permutations that one
    ``rng.permutation(n)`` call per epoch would give, drawn a chunk of epochs per call
    (``Generator.permuted`` consumes the stream the same way)."""

    def __init__(self, rngs: list[np.random.Generator], n: int, epochs: int, device: str, max_elements: int = 1 << 22):
        self.rngs, self.n, self.device = rngs, n, device
        self.chunk = max(1, min(epochs, max_elements // max(1, len(rngs) * n)))
        self.buf: torch.Tensor | None = None
        self.i = 0

    def next(self) -> torch.Tensor:
        if self.buf is None or self.i == self.buf.shape[1]:
            base = np.tile(np.arange(self.n), (self.chunk, 1))
            self.buf = torch.as_tensor(np.stack([g.permuted(base, axis=1) for g in self.rngs]), device=self.device)
            self.i = 0
        self.i += 1
        return self.buf[:, self.i - 1]


# --- optimisers on the flat buffer: the same elementwise maths as torch.optim's -----------------

class _Adam:
    """torch.optim.Adam (L2 weight decay added to the gradient, no amsgrad), one fused kernel when available."""

    def __init__(self, data: torch.Tensor, grad: torch.Tensor, lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, fused: bool | None = None):
        self.data, self.grad, self.lr, self.wd, self.betas, self.eps = data, grad, lr, weight_decay, betas, eps
        self.m, self.v = torch.zeros_like(data), torch.zeros_like(data)
        self.t = 0
        self.step_t = torch.zeros((), dtype=torch.float32, device=data.device)
        self.fused = hasattr(torch, "_fused_adam_") and data.device.type in ("cpu", "cuda") if fused is None else fused

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        if self.fused:
            self.step_t.fill_(self.t)
            torch._fused_adam_([self.data], [self.grad], [self.m], [self.v], [], [self.step_t], lr=self.lr,
                               beta1=b1, beta2=b2, weight_decay=self.wd, eps=self.eps, amsgrad=False, maximize=False)
            return
        g = self.grad.add(self.data, alpha=self.wd) if self.wd else self.grad
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2 ** self.t)).add_(self.eps)
        self.data.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))


class _SGD:
    """torch.optim.SGD (momentum without dampening or Nesterov, L2 weight decay)."""

    def __init__(self, data: torch.Tensor, grad: torch.Tensor, lr: float, momentum: float, weight_decay: float):
        self.data, self.grad, self.lr, self.momentum, self.wd = data, grad, lr, momentum, weight_decay
        self.buf: torch.Tensor | None = None

    def step(self) -> None:
        g = self.grad
        if self.wd:
            g.add_(self.data, alpha=self.wd)
        if self.momentum:
            if self.buf is None:
                self.buf = g.clone()
            else:
                self.buf.mul_(self.momentum).add_(g)
            g = self.buf
        self.data.add_(g, alpha=-self.lr)


class _ProjectedGD:
    """Paper A's training (docs/science.md#a-student): a gradient step on W, then each row back within ``radius`` of its init."""

    def __init__(self, W: torch.Tensor, gW: torch.Tensor, lr: float, radius: float | torch.Tensor):
        self.W, self.gW, self.lr, self.radius = W, gW, lr, radius
        self.W0 = W.clone()

    def step(self) -> None:
        self.W.add_(self.gW, alpha=-self.lr)
        delta = self.W - self.W0
        norm = torch.linalg.vector_norm(delta, dim=-1, keepdim=True)
        # radius · (1/norm), as PyTorch evaluates ``float / tensor``; a per-row radius tensor (packed widths)
        # must take the same two roundings to give each row the numbers of its width trained alone
        scale = torch.clamp(torch.clamp(norm, min=1e-30).reciprocal_().mul_(self.radius), max=1.0)
        torch.addcmul(self.W0, delta, scale, out=self.W)


def _make_optimizer(hp: dict[str, Any], net: _FlatMLP) -> _Adam | _SGD | _ProjectedGD:
    """The optimiser of ``hp``; projected GD in the theory regime, with each packed row's own radius."""
    if isinstance(net, _PackedMLP):
        return _ProjectedGD(net.p["W"], net.g["W"], hp["lr"], net.radius_rows)
    if hp["regime"] == "theory":
        return _ProjectedGD(net.p["W"], net.g["W"], hp["lr"], hp["radius"] / np.sqrt(net.m))
    name = hp["optimizer"]
    if name == "sgd":
        return _SGD(net.data, net.grad, hp["lr"], hp.get("momentum", 0.0), hp.get("weight_decay", 0.0))
    if name == "adam":
        return _Adam(net.data, net.grad, hp["lr"], hp.get("weight_decay", 0.0))
    raise ConfigError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


@contextmanager
def _num_threads(n: int) -> Iterator[None]:
    """Run with at most n intra-op threads (restored after)."""
    before = torch.get_num_threads()
    if n < before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n < before:
            torch.set_num_threads(before)


def _replicates(rows: list[int]) -> str:
    return f"replicate(s) {rows}"


def check_finite(loss_r: torch.Tensor, epoch: int, describe: Callable[[list[int]], str] = _replicates) -> None:
    """Stop with DivergenceError when a replicate's loss (``loss_r``, one per replicate) is not finite.
    The MLP trainer checks it once per epoch (a non-finite step leaves non-finite parameters), the deep
    trainer once per step."""
    if not bool(torch.isfinite(loss_r).all()):
        bad = torch.nonzero(~torch.isfinite(loss_r)).flatten().tolist()
        raise DivergenceError(f"training diverged at epoch {epoch}: non-finite loss in {describe(bad)}; "
                              f"{LIKELY_CAUSE}")


class DivergenceGuard:
    """Catches a divergence that stays finite: per replicate, a training loss grown by orders of magnitude
    over its first epoch's (``check_loss``, once per epoch, in order), or weights beyond WEIGHT_BOUND
    (``check_weights``). Either stops training with a DivergenceError naming the replicate, the epoch, the
    values and the likely cause, so that no diverged replicate reaches the results. ``describe`` names
    the rows of a record (default: "replicate(s) [i, ...]"; packed training: replicate and width)."""

    def __init__(self, describe: Callable[[list[int]], str] | None = None) -> None:
        self.start: np.ndarray | None = None
        self.describe = describe or _replicates

    def _one(self, r: int) -> str:
        return f"replicate {r}" if self.describe is _replicates else self.describe([r])

    def check_loss(self, loss_r: Any, epoch: int) -> None:
        loss = np.asarray(torch.as_tensor(loss_r).detach().cpu(), dtype=np.float64).reshape(-1)
        check_finite(torch.as_tensor(loss), epoch, self.describe)
        if self.start is None:
            self.start = loss.copy()
            return
        bad = np.flatnonzero(loss > LOSS_GROWTH * np.maximum(self.start, LOSS_FLOOR))
        if bad.size:
            r = int(bad[0])
            raise DivergenceError(
                f"training diverged at epoch {epoch}: the training loss of {self.describe(bad.tolist())} grew by over "
                f"{LOSS_GROWTH:g}x ({self._one(r)}: {loss[r]:.3g} now, {self.start[r]:.3g} at the first epoch); "
                f"{LIKELY_CAUSE}")

    def check_weights(self, max_abs_r: torch.Tensor, epoch: int) -> None:
        w = np.asarray(torch.as_tensor(max_abs_r).detach().cpu(), dtype=np.float64).reshape(-1)
        bad = np.flatnonzero(~(w <= WEIGHT_BOUND))  # NaN counts as beyond
        if bad.size:
            r = int(bad[0])
            raise DivergenceError(
                f"training diverged at epoch {epoch}: {self.describe(bad.tolist())} have weights beyond the bound "
                f"{WEIGHT_BOUND:g} ({self._one(r)}: largest |weight| {w[r]:.3g}); {LIKELY_CAUSE}")
