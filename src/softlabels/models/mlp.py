"""Two-layer ReLU networks for R replicates at once: parameters stacked along a leading axis.

Logits are always (R, batch, C). In the theory regime (docs/science.md#a-student) the network is
f(x) = (1/√m) Σ_j a_j ReLU(w_jᵀx) with symmetric init (f ≡ 0 at init) and a fixed; a binary f is
written as the two logits [0, f], so softmax gives sigmoid(f) and every loss works unchanged. In the
practical regime both layers (with biases) are trained from PyTorch's default init.

Each replicate draws its initial weights from its own seed stream (seed, width, replicate id), so
replicate r has the same init whether it is trained alone or in a batch of any size.
"""

from __future__ import annotations

import numpy as np
import torch

from softlabels.errors import ConfigError

Params = dict[str, torch.Tensor]


def replicate_rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent random stream for (seed, *keys); keys are small non-negative integers."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]))


# Stream tags, so that streams for different purposes never coincide.
STREAM_INIT, STREAM_RESAMPLE, STREAM_ORDER = 1, 2, 3


def init_mlp(regime: str, dim: int, width: int, n_classes: int, replicate_ids: list[int], seed: int,
             dtype: torch.dtype = torch.float32) -> tuple[Params, Params]:
    """Initial (trainable, fixed) parameters for each replicate id, stacked on axis 0."""
    Ws, As, b1s, b2s = [], [], [], []
    for r in replicate_ids:
        rng = replicate_rng(seed, STREAM_INIT, width, r)
        if regime == "theory":
            if width % 2 or width < 2:
                raise ConfigError(f"the theory regime's symmetric init needs an even width >= 2, got {width}")
            if n_classes != 2:
                raise ConfigError(f"the theory regime is for binary tasks, got {n_classes} classes")
            half = width // 2
            w = rng.standard_normal((half, dim))
            a = rng.choice([-1.0, 1.0], size=half)
            W = np.concatenate([w, w])
            a = np.concatenate([a, -a]) / np.sqrt(width)
            A = np.stack([np.zeros(width), a], axis=1)  # logits [0, f]
            Ws.append(W), As.append(A)
        elif regime == "practical":
            b = 1.0 / np.sqrt(dim)
            Ws.append(rng.uniform(-b, b, (width, dim)))
            b1s.append(rng.uniform(-b, b, width))
            b = 1.0 / np.sqrt(width)
            As.append(rng.uniform(-b, b, (width, n_classes)))
            b2s.append(rng.uniform(-b, b, n_classes))
        else:
            raise ConfigError(f"regime must be 'theory' or 'practical', got {regime!r}")

    def t(xs: list[np.ndarray]) -> torch.Tensor:
        return torch.tensor(np.stack(xs), dtype=dtype)

    if regime == "theory":
        return {"W": t(Ws)}, {"A": t(As)}
    return {"W": t(Ws), "b1": t(b1s), "A": t(As), "b2": t(b2s)}, {}


def mlp_logits(X: torch.Tensor, p: Params) -> torch.Tensor:
    """Logits (R, B, C) for inputs X (R, B, d) or a shared X (B, d).

    Computed class-major, hT = W·Xᵀ (R, m, B), then Aᵀ·hT (R, C, B): PyTorch's CPU matmuls are several
    times faster that way round when C is small.
    """
    W = p["W"]
    XT = X.T if X.dim() == 2 else X.transpose(1, 2)
    hT = torch.matmul(W, XT)
    if "b1" in p:
        hT = hT + p["b1"].unsqueeze(2)
    hT = torch.relu(hT)
    AT = p["A"].transpose(1, 2)
    zT = torch.baddbmm(p["b2"].unsqueeze(2), AT, hT) if "b2" in p else torch.bmm(AT, hT)
    return zT.transpose(1, 2).contiguous()


def n_parameters(width: int, dim: int, n_classes: int, regime: str) -> int:
    """Trainable parameters of one replicate."""
    if regime == "theory":
        return width * dim
    return width * dim + width + width * n_classes + n_classes
