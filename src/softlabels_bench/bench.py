"""``python -m softlabels_bench``: how fast the pipeline is, as ratios measured side by side in one run.

Absolute times on a shared machine are noise; ratios of two things measured in the same run hold.
Six groups of measurements (docs/benchmarks.md):

1. ``loop``: the batched trainer (``softlabels.training.trainer.train_mlp``) against an ordinary per-model PyTorch
   loop (``reference_train``: an ``nn.Module``, autograd, ``torch.optim``, one model at a time) with the
   same data, init, data order, steps and optimiser; the two must give the same networks (checked);
2. ``flops``: the trainer's achieved FLOP/s (its matmuls' FLOPs over its wall time) against a large
   matrix product's FLOP/s measured in the same run;
3. ``biasvar``: bootstrapped bias–variance of R replicates (the trainer + ``softlabels.analysis.biasvar``) against
   mlxtend's ``bias_variance_decomp`` refitting scikit-learn's ``MLPClassifier`` once per round: time,
   and agreement of the 0-1 terms (mlxtend's loss, bias and variance are Domingos' ``zo_loss``,
   ``zo_bias`` and ``zo_variance``, not the net variance);
4. ``theory step``: the theory regime's step as the pipeline takes it (``train_mlp_segments``: every width of a
   job as one computation; compiled where it can be built) against the fused PyTorch step (its fallback) and
   the reference formulation (``fused=False``), at the default config's theory shapes, in interleaved
   repetitions; and its time against its compute bound (its FLOPs at the rate of ``torch.mm`` measured in the
   same run); then what a student job costs before it trains (fresh processes: start, imports, store key),
   beside a theory job's training;
5. ``practical``: the practical trainer on an MNIST-shaped input in a fresh process: samples per second
   and peak memory;
6. ``pipeline``: wall time of the default run, per-job overhead, a no-op re-run, and a dry run of a
   generated config with about 10,000 jobs.

Writes ``benchmark.json`` (one record per measurement) and ``benchmark.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from softlabels.data.synthetic import make_synthetic
from softlabels.models.mlp import STREAM_ORDER, init_mlp, mlp_logits, replicate_rng
from softlabels.training.methods import Method, make_method
from softlabels.training.trainer import resample_indices, train_mlp, train_mlp_segments

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "Snakefile"

#: the default config's ``noisy-relu`` data set and ``practical`` student setup (config.yaml)
DATA = dict(kind="synthetic", dim=16, n_train=512, n_test=2000, margin=0.0, target="relu", label_noise=0.1, seed=2)
STUDENT = dict(regime="practical", optimizer="adam", lr=0.01, momentum=0.9, weight_decay=0.0, batch_size=128,
               resampling="bootstrap", patience=0)


@dataclass(frozen=True)
class Size:
    """How much each measurement does."""

    widths: tuple[int, ...]
    replicates: tuple[int, ...]
    epochs: int
    repeats: int
    bv_rounds: int
    bv_epochs: int
    bv_width: int
    pipeline_configs: tuple[str, ...]  # repository-relative configs of the timed runs; (): no pipeline part
    dry_run_cells: int
    n_train: int = 512
    matmul_n: int = 2048
    # the theory step: widths packed together, (input dimension, training points), replicates, full-batch steps
    packed_widths: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256, 512)
    packed_shapes: tuple[tuple[int, int], ...] = ((3, 768), (4, 512))
    packed_replicates: int = 8
    packed_epochs: int = 800
    # the practical trainer on an MNIST-shaped input: (training points, input dimension, replicates, width)
    practical_shape: tuple[int, int, int, int] = (54_000, 784, 10, 8)


# The default config before paper A's theory study replaced its `neurons` experiment: the speed targets
# (≤ 90 s, overhead ≤ 40 %) were set on it; the current default is reported beside it (≤ 4 min).
PREVIOUS_DEFAULT = "src/softlabels_bench/previous_default.yaml"
TARGETS = {PREVIOUS_DEFAULT: (90.0, 0.40), "config.yaml": (240.0, None)}

SIZES = {
    "full": Size(widths=(4, 8, 16, 32, 64, 128, 256, 512, 1024), replicates=(8, 32, 128), epochs=5, repeats=3,
                 bv_rounds=100, bv_epochs=100, bv_width=16, pipeline_configs=(PREVIOUS_DEFAULT, "config.yaml", "tests/configs/tiny.yaml"),
                 dry_run_cells=10_000),
    "quick": Size(widths=(8, 512), replicates=(32,), epochs=3, repeats=2, bv_rounds=100, bv_epochs=10,
                  bv_width=16, pipeline_configs=("tests/configs/tiny.yaml",), dry_run_cells=1_000,
                  packed_shapes=((3, 768),), packed_epochs=100),
    "smoke": Size(widths=(4,), replicates=(3,), epochs=2, repeats=1, bv_rounds=4, bv_epochs=2, bv_width=4,
                  pipeline_configs=(), dry_run_cells=0, n_train=48, matmul_n=512, packed_widths=(2, 4, 8),
                  packed_shapes=((4, 48),), packed_replicates=3, packed_epochs=5, practical_shape=(2000, 784, 3, 8)),
}


@dataclass
class Record:
    """One measurement. ``ratio`` is always oriented so that larger is better: a speedup (peer time / our
    time), a fraction of a limit (our FLOP/s / the matmul's), or a limit over our time; ``goal`` is the
    ratio the target asks for (None: no target). Agreement records compare values: ratio = ours/peer."""

    name: str
    ours: float
    peer_or_limit: float | None
    ratio: float | None
    target: str
    met: bool | None
    unit: str = ""
    note: str = ""
    goal: float | None = field(default=None, repr=False)


def _finish(rec: Record) -> Record:
    """Fill ``met`` from the ratio and the goal, and say by how much a missed target is missed."""
    if rec.goal is not None and rec.ratio is not None and rec.met is None:
        rec.met = bool(rec.ratio >= rec.goal)
    if rec.met is False and rec.goal is not None and rec.ratio is not None:
        miss = f"missed: ratio {rec.ratio:.3g} against {rec.goal:g} ({rec.ratio / rec.goal:.0%} of the target)"
        rec.note = f"{rec.note}; {miss}" if rec.note else miss
    return rec


# --- the reference: an ordinary per-model PyTorch loop ---------------------------------------

class _TwoLayer(nn.Module):
    """An ordinary two-layer ReLU network; in the theory regime the second layer is a fixed buffer."""

    def __init__(self, dim: int, width: int, n_classes: int, theory: bool):
        super().__init__()
        self.theory = theory
        self.hidden = nn.Linear(dim, width, bias=not theory)
        if theory:
            self.register_buffer("A", torch.zeros(width, n_classes))
        else:
            self.out = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.hidden(x))
        return h @ self.A if self.theory else self.out(h)


def reference_train(X: np.ndarray, y: np.ndarray, method: Method, hp: dict[str, Any], width: int,
                    replicate_ids: list[int], seed: int, teacher_logits: np.ndarray | None = None,
                    n_classes: int | None = None, device: str = "cpu") -> dict[str, Any]:
    """Train each replicate alone with autograd and ``torch.optim``: the same init, resample, data order,
    steps and optimiser as ``train_mlp`` (no early stopping). Returns params stacked like ``train_mlp``'s
    (``W``, ``b1``, ``A``, ``b2``) and the per-epoch training loss and 0-1 error (R, epochs)."""
    X = X.reshape(len(X), -1)
    C = n_classes or int(y.max()) + 1
    idx = resample_indices(len(X), replicate_ids, seed, hp["resampling"], hp["replicates"])
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    Zt = None if teacher_logits is None else torch.as_tensor(teacher_logits, dtype=torch.float32, device=device)
    params: dict[str, list[torch.Tensor]] = {}
    hist: dict[str, list[list[float]]] = {"train_loss": [], "train_err": []}
    for i, r in enumerate(replicate_ids):
        sel = torch.as_tensor(idx[i], device=device)
        got, losses, errs = _train_one(Xt[sel], yt[sel], None if Zt is None else Zt[sel], method, hp, width, C, r,
                                       seed, device)
        hist["train_loss"].append(losses)
        hist["train_err"].append(errs)
        for k, v in got.items():
            params.setdefault(k, []).append(v)
    return {"params": {k: torch.stack(v) for k, v in params.items()},
            "history": {k: np.array(v, dtype=np.float32) for k, v in hist.items()}, "indices": idx}


def _train_one(X: torch.Tensor, y: torch.Tensor, zt: torch.Tensor | None, method: Method, hp: dict[str, Any],
               width: int, C: int, r: int, seed: int, device: str
               ) -> tuple[dict[str, torch.Tensor], list[float], list[float]]:
    """One replicate of ``reference_train`` on its own training set: final params, per-epoch loss and error."""
    theory = hp["regime"] == "theory"
    p0, fixed = init_mlp(hp["regime"], X.shape[1], width, C, [r], seed)
    model = _TwoLayer(X.shape[1], width, C, theory).to(device)
    with torch.no_grad():
        model.hidden.weight.copy_(p0["W"][0])
        if theory:
            model.A.copy_(fixed["A"][0])
        else:
            model.hidden.bias.copy_(p0["b1"][0])
            model.out.weight.copy_(p0["A"][0].T)
            model.out.bias.copy_(p0["b2"][0])

    def loss_of(z: torch.Tensor, sel: Any = slice(None)) -> torch.Tensor:
        return method.loss(z[None], y[sel][None], None if zt is None else zt[sel][None])[0]

    losses: list[float] = []
    errs: list[float] = []

    def record(z: torch.Tensor, loss: torch.Tensor) -> None:
        losses.append(loss.item())
        errs.append((z.argmax(-1) != y).float().mean().item())

    n = len(X)
    B = hp.get("batch_size") or n
    if theory:
        W0 = model.hidden.weight.detach().clone()
        radius = hp["radius"] / math.sqrt(width)
        for _ in range(hp["epochs"]):
            z = model(X)
            loss = loss_of(z)
            record(z.detach(), loss.detach())
            model.zero_grad()
            loss.backward()
            with torch.no_grad():  # projected gradient descent (docs/science.md#a-student)
                w = model.hidden.weight
                w -= hp["lr"] * w.grad
                delta = w - W0
                norm = delta.norm(dim=-1, keepdim=True)
                w.copy_(W0 + delta * torch.clamp(radius / torch.clamp(norm, min=1e-30), max=1.0))
    else:
        opt: torch.optim.Optimizer
        if hp["optimizer"] == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp.get("weight_decay", 0.0))
        else:
            opt = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp.get("momentum", 0.0),
                                  weight_decay=hp.get("weight_decay", 0.0))
        rng = replicate_rng(seed, STREAM_ORDER, r)
        for _ in range(hp["epochs"]):
            if B >= n:  # full batch: the loss recorded is the one the step starts from
                z = model(X)
                loss = loss_of(z)
                record(z.detach(), loss.detach())
                opt.zero_grad()
                loss.backward()
                opt.step()
                continue
            perm = torch.as_tensor(rng.permutation(n), device=device)
            for s in range(0, n, B):
                sel = perm[s:s + B]
                loss = loss_of(model(X[sel]), sel)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                z = model(X)
                record(z, loss_of(z))
    with torch.no_grad():
        got = {"W": model.hidden.weight}
        if not theory:
            got.update(b1=model.hidden.bias, A=model.out.weight.T, b2=model.out.bias)
        return {k: v.detach().clone() for k, v in got.items()}, losses, errs


def _relative(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / (np.abs(b).max() or 1.0))


def agreement(ours: Any, ref: dict[str, Any], X_test: np.ndarray) -> tuple[float, float, float]:
    """How far ``train_mlp``'s result is from ``reference_train``'s, each relative to the reference's scale:
    test logits, per-epoch training losses, parameters. (Parameters can differ by a few Adam steps of
    size lr where a gradient is ~0 and rounding decides its sign; the function they compute cannot.)"""
    Xt = torch.as_tensor(X_test.reshape(len(X_test), -1), dtype=torch.float32)
    p_ref = {k: v.cpu() for k, v in ref["params"].items()}
    with torch.no_grad():
        z_ref = mlp_logits(Xt, {**p_ref, **{k: v.cpu() for k, v in ours.fixed.items()}})
    z = ours.logits(X_test).cpu()
    pdiff = max(_relative(ours.params[k].cpu(), v) for k, v in p_ref.items())
    return _relative(z, z_ref), _relative(ours.history["train_loss"], ref["history"]["train_loss"]), pdiff


# --- measurements ------------------------------------------------------------------------------

def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any], device: str) -> tuple[float, Any]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def trainer_flops(R: int, n_r: int, dim: int, width: int, C: int, epochs: int) -> float:
    """Matmul FLOPs of ``train_mlp`` in the practical regime: per sample and epoch, a forward
    (2·(dm + mC)) and backward pass (2·(dm + 2mC): ∂W, ∂A, ∂h) in the steps, and a forward pass for
    the epoch's training-set record."""
    return float(R) * epochs * n_r * 2 * (3 * dim * width + 4 * width * C)


def matmul_flops(device: str, n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n×n float32 matrix product (best of ``repeats``)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b), device)[0] for _ in range(repeats))
    return 2 * n**3 / best


def shape_flops(device: str, width: int, dim: int, batch: int, replicates: int = 2, repeats: int = 5) -> float:
    """FLOP/s of the trainer's two big batched products alone, at its shapes: W·Xᵀ (m×d by d×B) and
    ∂h·X (m×B by B×d), for a cache-sized block of replicates (best of ``repeats``)."""
    W = torch.randn(replicates, width, dim, device=device)
    X = torch.randn(replicates, batch, dim, device=device)
    dh = torch.randn(replicates, width, batch, device=device)

    def both() -> None:
        torch.bmm(W, X.transpose(1, 2))
        torch.bmm(dh, X)

    both()
    best = min(_timed(lambda: [both() for _ in range(10)], device)[0] for _ in range(repeats))
    return 10 * 2 * 2 * replicates * width * batch * dim / best


def measure_loop(size: Size, device: str, log: Callable[[str], None]) -> list[Record]:
    """Group 1 and 2: trainer vs the per-model loop at each (width, R); FLOP/s at widths ≥ 512."""
    d = make_synthetic({**DATA, "n_train": size.n_train})
    X, y = d["X_train"], d["y_train"]
    method = make_method({"kind": "hard"})
    warm = ({**STUDENT, "replicates": 2, "epochs": 1}, 4, [0, 1], 0)
    train_mlp(X, y, method, *warm, n_classes=2, device=device)      # first calls pay for lazy imports
    reference_train(X, y, method, *warm, n_classes=2, device=device)
    limit = matmul_flops(device, size.matmul_n)
    log(f"matmul: {limit / 1e9:.1f} GFLOP/s")
    out: list[Record] = []
    flops_runs: list[tuple[int, int, float]] = []
    for R in size.replicates:
        for m in size.widths:
            hp = {**STUDENT, "replicates": R, "epochs": size.epochs}
            args = (X, y, method, hp, m, list(range(R)), 0)
            times, res = [], None
            for _ in range(size.repeats):
                t, res = _timed(lambda: train_mlp(*args, n_classes=2, device=device), device)
                times.append(t)
            t_ref, ref = _timed(lambda: reference_train(*args, n_classes=2, device=device), device)
            zdiff, hdiff, pdiff = agreement(res, ref, d["X_test"])
            agree = zdiff < 1e-3 and hdiff < 1e-4
            t = min(times)
            small = m <= 16 and R >= 32
            rec = Record(f"loop m={m} R={R}", t, t_ref, t_ref / t, "≥ 10x the per-model loop" if small
                         else "≥ 1x the per-model loop", None, "s",
                         f"results equal: test logits within {zdiff:.0e}, training losses {hdiff:.0e}, "
                         f"parameters {pdiff:.0e} (relative)" + ("" if agree else " (DISAGREE)"),
                         goal=10.0 if small else 1.0)
            if not agree:
                rec.met = False
            out.append(_finish(rec))
            log(f"{rec.name}: ours {t:.3f}s, loop {t_ref:.3f}s, {t_ref / t:.1f}x; {rec.note}")
            if m >= 512:
                flops_runs.append((m, R, trainer_flops(R, size.n_train, X.shape[1], m, 2, size.epochs) / t))
    if flops_runs:
        limit = max(limit, matmul_flops(device, size.matmul_n))  # the better of two measurements: the stricter limit
    out.append(Record(f"flops matmul {size.matmul_n}x{size.matmul_n}", limit, None, None, "the limit", None, "FLOP/s",
                      "float32 torch.mm, best of 5, measured before and after the trainer runs"))
    for m in sorted({m for m, _, _ in flops_runs}):
        f = shape_flops(device, m, X.shape[1], STUDENT["batch_size"])
        out.append(Record(f"flops bmm at m={m}, d={X.shape[1]}", f, limit, f / limit, "context", None, "FLOP/s",
                          "the trainer's two big products alone, at its shapes: what a d-wide inner dimension allows"))
    for m, R, f in flops_runs:
        out.append(_finish(Record(f"flops m={m} R={R}", f, limit, f / limit, "≥ 50% of the matmul's FLOP/s",
                                  None, "FLOP/s", f"d={X.shape[1]}, batch {STUDENT['batch_size']}",
                                  goal=0.5)))
    return out


#: the default config's theory study (config.yaml: kernel-class data, the `theory` setup): its shapes are
#: (d, n) = (3, 768) for k3-0.001 and (4, 512) for the other three data sets
THEORY_DATA = dict(kind="synthetic", target="kernel", target_hidden=2, n_test=200, margin=0.02, seed=1)
THEORY_STUDENT = dict(regime="theory", lr=4.0, radius=8.0, resampling="none", batch_size=0, patience=0)


def theory_step_flops(R: int, n: int, dim: int, widths: tuple[int, ...], epochs: int) -> float:
    """The FLOPs a theory-regime step must do, in a fused form, per (replicate, sample, hidden unit): the
    pre-activation w·x (2d), the ReLU (1), f += a·h (2), the gradient's mask·g (1) and ∂W += (·)x (2d):
    4d + 4 (16 at d = 3: the 100 MFLOP per step of the default's hardest job)."""
    return float(R) * epochs * n * sum(widths) * (4 * dim + 4)


def measure_packed(size: Size, device: str, log: Callable[[str], None]) -> list[Record]:
    """Group 4: the theory step (``train_mlp_segments``, every width of a job packed) at the default config's
    theory shapes, three forms timed in interleaved repetitions: the step the pipeline takes (compiled where it
    can be built, ``softlabels.training.theory_kernel``), the fused PyTorch step (``compiled=False``, its
    fallback) and the reference formulation (``fused=False``), with their agreement; and the pipeline's step
    against its compute bound, ``theory_step_flops`` at the rate of a large ``torch.mm`` measured before each
    repetition."""
    from softlabels.training import theory_kernel

    out: list[Record] = []
    widths, R, E = size.packed_widths, size.packed_replicates, size.packed_epochs
    method = make_method({"kind": "hard"})
    compiled = device == "cpu" and theory_kernel.load() is not None
    forms = {"pipeline": dict(fused=True), "pytorch": dict(fused=True, compiled=False),
             "reference": dict(fused=False)}
    if not compiled:  # the pipeline's step is the PyTorch one here: time it once
        forms.pop("pytorch")
    step = theory_kernel.NAME if compiled else "the fused PyTorch step (no compiled step here)"
    for dim, n in size.packed_shapes:
        d = make_synthetic({**THEORY_DATA, "dim": dim, "n_train": n})
        X, y = d["X_train"], d["y_train"]
        hp = {**THEORY_STUDENT, "replicates": R, "epochs": E}
        reps = list(range(R))
        segments = [(m, hp["radius"]) for m in widths]

        def train(kw: dict[str, Any], epochs: int = E) -> list[Any]:
            return train_mlp_segments(X, y, method, {**hp, "epochs": epochs}, segments, reps, 0, n_classes=2,
                                      device=device, **kw)

        for kw in forms.values():  # warm up
            train(kw, 2)
        times: dict[str, list[float]] = {k: [] for k in forms}
        res: dict[str, list[Any]] = {}
        rates = []
        for _ in range(size.repeats):  # interleaved: the machine's drift hits every form alike
            rates.append(matmul_flops(device, size.matmul_n, repeats=2))
            for name, kw in forms.items():
                t, res[name] = _timed(lambda: train(kw), device)
                times[name].append(t)
        med = {k: float(np.median(v)) for k, v in times.items()}

        def diff(a: str, b: str) -> float:
            return max(float((p.params["W"] - q.params["W"]).abs().max()) for p, q in zip(res[a], res[b]))

        work = (f"widths {widths[0]}..{widths[-1]} ({sum(widths)} rows), R={R}, n={n}, d={dim}, {E} full-batch "
                f"steps; {size.repeats} interleaved repetitions")
        for other in [k for k in forms if k != "pipeline"]:
            speedups = [o / f for f, o in zip(times["pipeline"], times[other])]
            delta = diff("pipeline", other)
            agree = delta <= 1e-3
            label = "the reference formulation" if other == "reference" else "the fused PyTorch step"
            name = f"theory step d={dim} n={n}" + ("" if other == "reference" else " vs PyTorch")
            rec = Record(name, med["pipeline"], med[other], float(np.median(speedups)), f"≥ 1x {label}", None, "s",
                         f"{step}; {work}; speedup {min(speedups):.2f}-{max(speedups):.2f}x; max |ΔW| {delta:.1e} "
                         + ("(float32 rounding)" if agree else "DISAGREE"), goal=1.0)
            if not agree:
                rec.met = False
            out.append(_finish(rec))
            log(f"{rec.name}: {rec.ours:.3f}s against {label} {rec.peer_or_limit:.3f}s, {rec.ratio:.2f}x; {rec.note}")
        flops = theory_step_flops(R, n, dim, widths, E)
        bounds = [flops / rate for rate in rates]
        multiples = {k: [t / b for b, t in zip(bounds, v)] for k, v in times.items()}  # time / bound: 1 is the bound
        fractions = [1 / x for x in multiples["pipeline"]]
        others = "; ".join(f"{k} {min(v):.1f}-{max(v):.1f}x" for k, v in multiples.items() if k != "pipeline")
        out.append(_finish(Record(
            f"theory step vs bound d={dim} n={n}", med["pipeline"], float(np.median(bounds)),
            float(np.median(fractions)), "≤ 3x the bound (ratio ≥ 0.33)", None, "s",
            f"{flops / 1e6:.0f} MFLOP at torch.mm's {np.median(rates) / 1e9:.1f} GFLOP/s (its "
            f"{size.matmul_n}x{size.matmul_n} product before each repetition); {step} "
            f"{min(multiples['pipeline']):.1f}-{max(multiples['pipeline']):.1f}x the bound over {size.repeats} "
            f"repetitions; {others}", goal=1 / 3)))
        log(f"{out[-1].name}: {out[-1].note}")
    return out


JOB_PROBE = r"""
import json, resource, sys, time
c = time.process_time
t0 = c()
import torch
t1 = c()
import numpy, softlabels.pipeline.rules, softlabels.analysis.biasvar, softlabels.training.trainer, scipy.special
from softlabels.pipeline import store
from softlabels.training import theory_kernel
t2 = c()
store.code_version()
theory_kernel.load()
t3 = c()
print(json.dumps({"torch": t1 - t0, "modules": t2 - t1, "store_and_kernel": t3 - t2}))
"""


def _child_cpu(cmd: list[str]) -> tuple[float, str]:
    """CPU seconds (user + system) of a child process, and its output."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, out


def measure_job_overhead(size: Size, device: str, log: Callable[[str], None]) -> list[Record]:
    """Group 4, continued: what a student job costs before it trains, in CPU seconds of fresh processes (best of
    ``size.repeats``; CPU time, not wall time, so that other work on a shared machine does not count): the
    interpreter's start, ``import torch``, the package's modules the job imports, the store's code version (a
    hash of the package source) and loading the compiled step; against the CPU seconds of one theory job's
    training at the first of ``size.packed_shapes`` (the pipeline's step, in this process)."""
    starts, parts = [], []
    for _ in range(max(1, size.repeats)):
        starts.append(_child_cpu([sys.executable, "-c", "pass"])[0])
        total, out = _child_cpu([sys.executable, "-c", JOB_PROBE])
        parts.append({**json.loads(out.strip().splitlines()[-1]), "total": total})
    best = {k: min(p[k] for p in parts) for k in parts[0]}
    start = min(starts)
    overhead = start + best["total"]
    dim, n = size.packed_shapes[0]
    d = make_synthetic({**THEORY_DATA, "dim": dim, "n_train": n})
    hp = {**THEORY_STUDENT, "replicates": size.packed_replicates, "epochs": size.packed_epochs}
    segments = [(m, hp["radius"]) for m in size.packed_widths]
    t0 = time.process_time()
    train_mlp_segments(d["X_train"], d["y_train"], make_method({"kind": "hard"}), hp, segments,
                       list(range(size.packed_replicates)), 0, n_classes=2, device=device)
    job = time.process_time() - t0
    rec = Record("per-job overhead before training (student job, CPU s)", overhead, job, overhead / job, "context",
                 None, "s",
                 f"interpreter start {start:.2f} s, then in one fresh process {best['total']:.2f} s: import torch "
                 f"{best['torch']:.2f} s, the job's modules {best['modules']:.2f} s, the store's code version and the "
                 f"compiled step {best['store_and_kernel']:.2f} s (CPU seconds, best of {len(parts)}); against a theory "
                 f"job's training, d={dim} n={n}, {size.packed_epochs} steps: {job:.2f} CPU s (ratio: overhead / "
                 "training)")
    log(f"{rec.name}: {overhead:.2f}s; {rec.note}")
    return [rec]


PRACTICAL_PROBE = r"""
import json, resource, sys, time
import numpy as np, torch
from softlabels.training.methods import make_method
from softlabels.training.trainer import train_mlp
torch.set_num_threads(int(sys.argv[5]))
n, d, R, width = (int(a) for a in sys.argv[1:5])
X = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
y = np.random.default_rng(1).integers(0, 10, n)
hp = dict(regime="practical", epochs=1, lr=0.01, optimizer="adam", batch_size=128, resampling="none", replicates=R,
          patience=0)
t0 = time.perf_counter()
train_mlp(X, y, make_method({"kind": "hard"}), hp, width, list(range(R)), 0, n_classes=10)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "inputs": X.nbytes}))
"""


def measure_practical(size: Size, threads: int, log: Callable[[str], None]) -> list[Record]:
    """Group 5: the practical trainer on an MNIST-shaped input (a student job of paper A's Table 1 on real
    MNIST: 54,000 x 784 inputs, R = 10 replicates, resampling none, 10 classes, minibatches of 128), one
    epoch in a fresh process: samples per second, and the process's peak memory against 1 GiB."""
    n, d, R, width = size.practical_shape
    out = subprocess.run([sys.executable, "-c", PRACTICAL_PROBE, str(n), str(d), str(R), str(width), str(threads)],
                         capture_output=True, text=True, check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    what = f"{n} x {d} inputs, R={R}, width {width}, one epoch of minibatches of 128"
    recs = [Record(f"practical samples/s ({n}x{d})", R * n / m["seconds"], None, None, "context", None, "1/s",
                   f"{what}: {m['seconds']:.1f} s"),
            _finish(Record(f"practical peak memory ({n}x{d})", m["peak"] / 2**20, 1024.0, 1024.0 / (m["peak"] / 2**20),
                           "≤ 1 GiB", None, "MiB", f"{what}; the inputs are {m['inputs'] / 2**20:.0f} MiB; the "
                           "process's peak resident memory (Python, torch and the data included)", goal=1.0))]
    for r in recs:
        log(f"{r.name}: {r.ours:.4g} {r.unit}; {r.note}")
    return recs


def measure_biasvar(size: Size, device: str, log: Callable[[str], None]) -> list[Record]:
    """Group 3: bootstrapped bias–variance, ours vs mlxtend + MLPClassifier at equal work."""
    try:
        from mlxtend.evaluate import bias_variance_decomp
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        note = "mlxtend is not installed: python -m pip install -e '.[test]' (or pip install mlxtend)"
        log(note)
        return [Record("biasvar time", math.nan, None, None, "≥ 10x mlxtend", None, "s", note)]
    from softlabels.analysis.biasvar import decompose

    d = make_synthetic({**DATA, "n_train": size.n_train})
    R, E, m = size.bv_rounds, size.bv_epochs, size.bv_width
    hp = {**STUDENT, "replicates": R, "epochs": E}

    def ours() -> dict[str, np.ndarray]:
        res = train_mlp(d["X_train"], d["y_train"], make_method({"kind": "hard"}), hp, m, list(range(R)), 0,
                        n_classes=2, device=device)
        return decompose(res.logits(d["X_test"]).cpu().numpy(), d["y_test"])

    def theirs() -> tuple[float, float, float]:
        est = MLPClassifier(hidden_layer_sizes=(m,), activation="relu", solver="adam", alpha=0.0,
                            batch_size=STUDENT["batch_size"], learning_rate_init=STUDENT["lr"], max_iter=E,
                            shuffle=True, tol=0.0, n_iter_no_change=E + 1, random_state=np.random.RandomState(0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)  # batch_size clipped to a small training set
            return bias_variance_decomp(est, d["X_train"], d["y_train"], d["X_test"], d["y_test"],
                                        loss="0-1_loss", num_rounds=R, random_seed=0)

    t_ours, terms = _timed(ours, device)
    t_theirs, (loss, bias, var) = _timed(theirs, "cpu")
    log(f"biasvar: ours {t_ours:.2f}s, mlxtend {t_theirs:.2f}s")
    work = f"{R} bootstrap rounds, width {m}, {E} epochs of Adam (lr {STUDENT['lr']}, batch {STUDENT['batch_size']})"
    out = [_finish(Record(f"biasvar time R={R}", t_ours, t_theirs, t_theirs / t_ours, "≥ 10x mlxtend", None, "s",
                          work, goal=10.0))]
    tol = 0.03
    for ours_key, theirs_val, label in (("zo_loss", loss, "expected 0-1 loss"), ("zo_bias", bias, "0-1 bias"),
                                        ("zo_variance", var, "0-1 variance P(pred ≠ main)")):
        v = float(terms[ours_key].mean())
        gap = abs(v - theirs_val)
        out.append(_finish(Record(f"biasvar {ours_key}", v, float(theirs_val), v / theirs_val if theirs_val else None,
                                  f"|ours − mlxtend| ≤ {tol}", gap <= tol, "",
                                  f"{label}; |Δ| = {gap:.3f} (different inits, bootstrap draws and output layer: "
                                  "agreement is statistical)")))
    return out


def _snakemake(workdir: Path, *args: str, timeout: int = 3600) -> tuple[float, subprocess.CompletedProcess]:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
           "--workflow-profile", str(ROOT / "profiles" / "default"),
           "--configfile", str(workdir / "config.yaml"), *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return dt, proc


def _import_seconds(module: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - t0


def _job_count(text: str) -> int:
    """Total jobs from Snakemake's 'Job stats' table."""
    m = re.search(r"^\s*total\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def generated_config(cells: int) -> dict[str, Any]:
    """A config of about ``cells`` student cells: many small synthetic data sets × a long list of theory
    widths × (hard, kd). Its DAG has one student job per (data set, method), not one per cell."""
    import yaml

    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    n_data = max(1, int(round(math.sqrt(cells / 4))))
    n_widths = max(1, int(round(cells / (2 * n_data))))
    names = [f"g{i}" for i in range(n_data)]
    cfg = {k: v for k, v in base.items() if k in ("seed", "compute")}
    cfg.update(
        datasets={n: dict(kind="synthetic", dim=4, n_train=32, n_test=32, margin=0.1, seed=i) for i, n in enumerate(names)},
        teachers={"t": dict(width=8, epochs=2)},
        methods={"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 2.0}},
        students={"s": dict(regime="theory", widths=list(range(2, 2 * n_widths + 1, 2)), replicates=2, epochs=2)},
        experiments={"neurons": dict(datasets=names, teachers=["t"], methods=["hard", "kd"], students=["s"])},
        tables={"epsilons": [0.1]},
    )
    return cfg


def measure_run(config: str, tmp: Path, log: Callable[[str], None], cores: int = 2) -> list[Record]:
    """A complete run of one config: wall time, training compute, the overhead share, a no-op re-run."""
    work = tmp / Path(config).stem
    work.mkdir()
    shutil.copy(ROOT / config, work / "config.yaml")
    t_run, proc = _snakemake(work, "--cores", str(cores))
    jobs = _job_count(proc.stdout + proc.stderr)
    log(f"pipeline: {config} in {t_run:.1f}s ({jobs} jobs)")
    limit, share_limit = TARGETS.get(config, (None, None))
    out = [_finish(Record(f"pipeline run ({config})", t_run, limit, limit / t_run if limit else None,
                          f"≤ {limit:.0f} s" if limit else "", None, "s", f"{jobs} jobs, --cores {cores}", goal=1.0))]
    trained = [json.loads(f.read_text())["seconds"] for pattern in ("results/students/*/*/*/*/m*/meta.json",
                                                                   "results/teachers/*/*/teacher.json")
               for f in work.glob(pattern)]
    compute = float(sum(trained))
    out.append(Record(f"pipeline training compute ({config})", compute, t_run, None, "", None, "s",
                      f"time inside the trainer, summed over the {len(trained)} trained cells and teachers (the "
                      "run's wall time beside it)"))
    share = 1.0 - (compute / cores) / t_run
    out.append(_finish(Record(f"pipeline overhead share ({config})", share, share_limit,
                              share_limit / share if share_limit and share > 0 else None,
                              f"≤ {share_limit:.0%}" if share_limit else "", None, "",
                              f"1 − (training compute ÷ {cores} cores) ÷ wall time: the share of the run not spent "
                              "training (process starts, imports, Snakemake, data, margins, tables, figures)",
                              goal=1.0)))
    out.append(Record(f"pipeline other CPU per job ({config})", max(0.0, t_run * cores - compute) / max(jobs, 1),
                      None, None, "", None, "s", f"(wall time × {cores} − training compute) / {jobs} jobs: what a "
                      "job costs besides training, at most"))
    t_noop, _ = _snakemake(work, "--cores", str(cores))
    out.append(_finish(Record(f"pipeline no-op re-run ({config})", t_noop, 3.0, 3.0 / t_noop, "≤ 3 s", None, "s",
                              "everything up to date", goal=1.0)))
    return out


def measure_pipeline(size: Size, log: Callable[[str], None]) -> list[Record]:
    """Group 5: the workflow itself, in temporary directories."""
    import yaml

    if not SNAKEFILE.exists() or not size.pipeline_configs:
        return []
    out: list[Record] = []
    with tempfile.TemporaryDirectory(prefix="softlabels-bench-") as tmp:
        for config in size.pipeline_configs:
            out += measure_run(config, Path(tmp), log)
        t_torch = min(_import_seconds("torch") for _ in range(3))
        out.append(Record("pipeline torch import", t_torch, None, None, "", None, "s",
                          "a fresh interpreter's `import torch`: paid by every training job (and no other)"))
        gen = Path(tmp) / "gen"
        gen.mkdir()
        cfg = generated_config(size.dry_run_cells)
        (gen / "config.yaml").write_text(yaml.safe_dump(cfg))
        t_dry, proc = _snakemake(gen, "--cores", "2", "--dry-run")
        n = _job_count(proc.stdout + proc.stderr)
        cells = len(cfg["datasets"]) * len(cfg["students"]["s"]["widths"]) * len(cfg["methods"])
        note = f"generated config: {cells} cells (many small data sets × many theory widths × 2 methods), {n} jobs"
        out.append(_finish(Record(f"pipeline dry run {cells} cells", t_dry, 30.0, 30.0 / t_dry, "≤ 30 s", None, "s",
                                  note, goal=1.0)))
        log(f"pipeline: dry run of {cells} cells ({n} jobs) {t_dry:.1f}s")
    return out


# --- report ------------------------------------------------------------------------------------

def _fmt(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit == "FLOP/s":
        return f"{v / 1e9:.2f} G"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def markdown(records: list[Record], meta: dict[str, Any]) -> str:
    lines = [f"# Benchmark ({meta['size']}, {meta['device']})", "",
             f"{meta['machine']}; torch {meta['torch']}, {meta['threads']} threads; {meta['seconds']:.0f} s in all.",
             "Ratio: larger is better (a speedup, a fraction of the matmul's FLOP/s, or a limit over our time; "
             "for agreement rows ours/mlxtend).", "",
             "| measurement | ours | peer or limit | ratio | target | met | note |", "|---|---|---|---|---|---|---|"]
    for r in records:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        unit = f" {r.unit}" if r.unit and r.unit != "FLOP/s" else (" FLOP/s" if r.unit else "")
        lines.append(f"| {r.name} | {_fmt(r.ours, r.unit)}{unit} | {_fmt(r.peer_or_limit, r.unit)}"
                     f"{unit if r.peer_or_limit is not None else ''} | {_fmt(r.ratio)} | {r.target} | {met} | {r.note} |")
    return "\n".join(lines) + "\n"


def run(size_name: str = "full", out: str | Path | None = "results/benchmark", device: str = "cpu",
        pipeline: bool = True, threads: int = 1, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run the benchmark at ``size_name`` ('full', 'quick' or 'smoke') on ``threads`` intra-op threads;
    write benchmark.json/.md into ``out`` (None: write nothing) and return the records as dicts."""
    size = SIZES[size_name]
    t0 = time.perf_counter()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        records = measure_loop(size, device, log) + measure_packed(size, device, log)
        records += (measure_job_overhead(size, device, log) + measure_biasvar(size, device, log)
                    + measure_practical(size, threads, log))
    finally:
        torch.set_num_threads(before)
    if pipeline:
        records += measure_pipeline(size, log)
    meta = {"size": size_name, "device": device if device == "cpu" else torch.cuda.get_device_name(),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "torch": torch.__version__, "threads": threads, "seconds": time.perf_counter() - t0}
    dicts = []
    for r in records:
        d = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in asdict(r).items()}
        d.pop("goal")
        if r.name.startswith("loop "):
            d["agree"] = "DISAGREE" not in r.note
        dicts.append(d)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "benchmark.json").write_text(json.dumps({"meta": meta, "records": dicts}, indent=1))
        (out / "benchmark.md").write_text(markdown(records, meta))
    log(markdown(records, meta))
    return dicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m softlabels_bench", description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="a couple of points, the tiny config, a ~1,000-job dry run")
    g.add_argument("--smoke", action="store_true", help="the smallest size, no pipeline (seconds; for the tests)")
    ap.add_argument("--out", default="results/benchmark", help="where benchmark.json and benchmark.md go")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the trainer, the loop and the matmul)")
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads for the trainer, the loop and the matmul (default 1: what each pipeline "
                         "job gets, and what stays measurable on a shared machine)")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the Snakemake measurements")
    a = ap.parse_args(argv)
    size = "quick" if a.quick else "smoke" if a.smoke else "full"
    run(size, a.out, a.device, pipeline=not a.no_pipeline, threads=a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
