"""The theory regime's projection binds: trained at a small radius B, both arms of paper A's
comparison (hard labels, and KD at τ = 1 against the kernel-limit teacher) keep every row w_j within
B/√m of its initialisation, and some row of each arm sits on that bound. The bounds stay ≥ 0.0125 so that float32 storage of weights of
size ~1 (a rounding of ~6e-8) stays below the relative tolerance of 1e-5."""

import numpy as np
import pytest
import torch

from softlabels.data.synthetic import make_synthetic
from softlabels.models.mlp import init_mlp
from softlabels.training.methods import make_method
from softlabels.training.trainer import train_mlp, train_mlp_segments

DATA = make_synthetic(dict(dim=6, n_train=80, n_test=50, margin=0.01, target="kernel", target_hidden=3, seed=3))
TEACHER = np.stack([np.zeros_like(DATA["z_train"]), DATA["z_train"]], 1).astype(np.float32)  # logits [0, z]
HP = dict(regime="theory", epochs=60, lr=4.0, radius=0.05, resampling="none", replicates=3, batch_size=0, patience=0)
ARMS = {"hard": {"kind": "hard"}, "kd1": {"kind": "kd", "temperature": 1.0, "alpha": 1.0}}


def _distances(W, width):
    W0, _ = init_mlp("theory", DATA["X_train"].shape[1], width, 2, [0, 1, 2], seed=0)
    return (W.double() - W0["W"].double()).norm(dim=-1)  # in float64: no cancellation beyond float32 storage


@pytest.mark.parametrize("arm", sorted(ARMS))
@pytest.mark.parametrize("width", [4, 16])
def test_projection_binds_for_both_arms(arm, width):
    res = train_mlp(DATA["X_train"], DATA["y_train"], make_method(ARMS[arm]), HP, width, [0, 1, 2], 0,
                    teacher_logits=TEACHER, n_classes=2)
    bound = HP["radius"] / np.sqrt(width)
    dist = _distances(res.params["W"], width)
    assert torch.all(dist <= bound * (1 + 1e-5)), float(dist.max() / bound)
    assert float(dist.max()) >= bound - 1e-4  # the constraint is active: some row is on the bound


def test_packed_projection_binds_with_each_segments_radius():
    """Packed widths (train_mlp_segments): each segment's rows within its own B_k/√m_k, reached in each arm."""
    segments = [(4, 0.08), (16, 0.05)]
    for arm in sorted(ARMS):
        results = train_mlp_segments(DATA["X_train"], DATA["y_train"], make_method(ARMS[arm]), HP, segments,
                                     [0, 1, 2], 0, teacher_logits=TEACHER, n_classes=2)
        for (width, radius), res in zip(segments, results):
            bound = radius / np.sqrt(width)
            dist = _distances(res.params["W"], width)
            assert torch.all(dist <= bound * (1 + 1e-5)), (arm, width)
            assert float(dist.max()) >= bound - 1e-4, (arm, width)
