import numpy as np
import pytest
import torch

from softlabels.data.synthetic import make_synthetic
from softlabels.errors import ConfigError, DivergenceError
from softlabels.models.mlp import init_mlp, mlp_logits
from softlabels.training.methods import make_method
from softlabels.training.trainer import resample_indices, train_mlp

DATA = make_synthetic(dict(dim=5, n_train=64, n_val=32, n_test=50, margin=0.05, target="relu",
                           label_noise=0.1, seed=0))
THEORY = dict(regime="theory", epochs=25, lr=3.0, radius=2.0, resampling="bootstrap", replicates=4, batch_size=0)
PRACTICAL = dict(regime="practical", epochs=6, lr=0.05, optimizer="adam", momentum=0.9, weight_decay=1e-4,
                 batch_size=16, resampling="bootstrap", replicates=4, patience=0)


def _teacher_logits(n, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32) * 2


def test_symmetric_init_gives_zero_function():
    p, fixed = init_mlp("theory", 5, 10, 2, [0, 1, 2], seed=0)
    z = mlp_logits(torch.randn(40, 5), {**p, **fixed})
    assert z.shape == (3, 40, 2)
    assert torch.allclose(z, torch.zeros_like(z), atol=1e-6)
    assert torch.all(torch.abs(fixed["A"][..., 1]) == 1 / np.sqrt(10))


def test_projection_keeps_every_row_within_radius():
    res = train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), {**THEORY, "lr": 50.0},
                    width=8, replicate_ids=[0, 1, 2, 3], seed=0)
    W0, _ = init_mlp("theory", 5, 8, 2, [0, 1, 2, 3], seed=0)
    dist = (res.params["W"] - W0["W"]).norm(dim=-1)
    assert torch.all(dist <= THEORY["radius"] / np.sqrt(8) * (1 + 1e-5))
    assert torch.any(dist >= THEORY["radius"] / np.sqrt(8) * 0.99)  # the constraint is active


@pytest.mark.parametrize("hp,method", [
    (THEORY, {"kind": "hard"}),
    (THEORY, {"kind": "kd", "temperature": 2.0}),
    (PRACTICAL, {"kind": "kd", "temperature": 4.0, "alpha": 0.5}),
    (PRACTICAL, {"kind": "wsl"}),
    ({**PRACTICAL, "optimizer": "sgd", "resampling": "disjoint"}, {"kind": "hard"}),
    ({**PRACTICAL, "patience": 2, "epochs": 12}, {"kind": "hard"}),
])
def test_batched_training_equals_training_each_replicate_alone(hp, method):
    args = (DATA["X_train"], DATA["y_train"], make_method(method), hp, 6)
    kw = dict(seed=7, teacher_logits=_teacher_logits(64), X_val=DATA["X_val"], y_val=DATA["y_val"])
    batched = train_mlp(*args, replicate_ids=[0, 1, 2, 3], **kw)
    for r in range(4):
        alone = train_mlp(*args, replicate_ids=[r], **kw)
        for k, v in alone.params.items():
            assert torch.allclose(batched.params[k][r], v[0], atol=1e-5, rtol=1e-4), (k, r)
        assert np.array_equal(batched.indices[r], alone.indices[0])
        assert batched.best_epoch[r] == alone.best_epoch[0]


def test_histories_have_one_record_per_epoch():
    res = train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "kd"}), PRACTICAL, 6, [0, 1, 2, 3],
                    seed=0, teacher_logits=_teacher_logits(64))
    for k in ("train_loss", "train_err", "reg_gt", "reg_abs"):
        assert res.history[k].shape == (4, PRACTICAL["epochs"]), k
    assert np.all((res.history["reg_gt"] >= 0) & (res.history["reg_gt"] <= 64))


def test_early_stopping_keeps_the_validation_epoch():
    hp = {**PRACTICAL, "patience": 3, "epochs": 40, "lr": 0.2}
    res = train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), hp, 16, [0, 1], seed=0,
                    X_val=DATA["X_val"], y_val=DATA["y_val"])
    vl = res.history["val_loss"]
    for r in range(2):
        e = res.best_epoch[r]
        assert vl[r, e] == vl[r, :e + 1].min()
        z = res.logits(DATA["X_val"])[r]
        ce = torch.nn.functional.cross_entropy(z, torch.as_tensor(DATA["y_val"])).item()
        assert abs(ce - vl[r, e]) < 1e-4  # the kept parameters are those of the chosen epoch


def test_watching_the_validation_loss_records_it_and_changes_nothing():
    """A teacher without early stopping still logs its validation loss (watch_val), at no change to its weights."""
    args = (DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), PRACTICAL, 16, [0, 1])
    seen = []
    watched = train_mlp(*args, seed=0, X_val=DATA["X_val"], y_val=DATA["y_val"], watch_val=True,
                        on_epoch=lambda e, rec: seen.append(rec))
    plain = train_mlp(*args, seed=0, X_val=DATA["X_val"], y_val=DATA["y_val"])
    assert watched.history["val_loss"].shape == (2, PRACTICAL["epochs"]) and "val_loss" not in plain.history
    assert len(seen) == PRACTICAL["epochs"] and all("val_loss" in rec for rec in seen)  # in every log line
    assert torch.equal(watched.params["W"], plain.params["W"]) and np.array_equal(watched.best_epoch, plain.best_epoch)
    z = watched.logits(DATA["X_val"])[0]
    ce = torch.nn.functional.cross_entropy(z, torch.as_tensor(DATA["y_val"])).item()
    # the last record is taken after the last epoch's steps (minibatches), at the final weights
    assert abs(ce - watched.history["val_loss"][0, -1]) < 1e-4


def test_bootstrap_resamples_are_reproducible_per_seed():
    a = resample_indices(100, [0, 1, 2], seed=5, kind="bootstrap", replicates=3)
    b = resample_indices(100, [2], seed=5, kind="bootstrap", replicates=3)
    c = resample_indices(100, [0, 1, 2], seed=6, kind="bootstrap", replicates=3)
    assert np.array_equal(a[2], b[0]) and not np.array_equal(a, c)
    assert a.shape == (3, 100) and a.min() >= 0 and a.max() < 100
    d = resample_indices(100, [0, 1, 2], seed=5, kind="disjoint", replicates=3)
    assert len(set(d.ravel())) == d.size == 99


def test_divergence_is_reported():
    with pytest.raises(DivergenceError, match="diverged at epoch"):
        train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}),
                  {**PRACTICAL, "optimizer": "sgd", "lr": 1e38, "momentum": 0.0}, 6, [0, 1], seed=0)


def test_same_seed_same_numbers():
    a = train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), PRACTICAL, 6, [0, 1], seed=0)
    b = train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), PRACTICAL, 6, [0, 1], seed=0)
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k])


KERNEL = make_synthetic(dict(dim=6, n_train=64, n_test=100, margin=0.01, target="kernel", target_hidden=3, seed=1))
KERNEL_TEACHER = np.stack([np.zeros_like(KERNEL["z_train"]), KERNEL["z_train"]], 1).astype(np.float32)


@pytest.mark.parametrize("method", [{"kind": "hard"}, {"kind": "kd", "temperature": 1.0, "alpha": 1.0},
                                    {"kind": "kd-filtered", "temperature": 2.0}], ids=lambda m: m["kind"])
def test_packed_widths_equal_each_width_trained_alone(method):
    """train_mlp_segments: every segment's logits, records and best epoch are train_mlp's for
    that width and radius alone, within 1e-6 (bit-identical on the CPU builds tested)."""
    from softlabels.training.trainer import train_mlp_segments

    hp = {**THEORY, "epochs": 40, "lr": 4.0, "replicates": 3}
    segments = [(2, 2.0), (8, 0.5), (4, 3.0), (16, 2.0), (8, 2.0)]  # radii differ; a width twice
    m = make_method(method)
    kw = dict(teacher_logits=KERNEL_TEACHER, n_classes=2)
    packed = train_mlp_segments(KERNEL["X_train"], KERNEL["y_train"], m, hp, segments, [0, 1, 2], 5, **kw)
    assert len(packed) == len(segments)
    for (width, radius), res in zip(segments, packed):
        alone = train_mlp(KERNEL["X_train"], KERNEL["y_train"], m, {**hp, "radius": radius}, width, [0, 1, 2], 5,
                          **kw)
        np.testing.assert_allclose(res.logits(KERNEL["X_test"]), alone.logits(KERNEL["X_test"]), atol=1e-6, rtol=0)
        np.testing.assert_allclose(res.params["W"], alone.params["W"], atol=1e-6, rtol=0)
        assert res.history.keys() == alone.history.keys()
        for k, v in alone.history.items():
            assert res.history[k].shape == v.shape, k
            np.testing.assert_allclose(res.history[k], v, atol=1e-6, rtol=0, err_msg=k)
        assert np.array_equal(res.best_epoch, alone.best_epoch) and np.array_equal(res.indices, alone.indices)
        assert torch.equal(res.fixed["A"], alone.fixed["A"])


def test_packed_divergence_names_the_width():
    from softlabels.training.trainer import train_mlp_segments

    X = KERNEL["X_train"] * 1e20  # a loss of ~1e19 after the first step: far beyond 1000x the first
    with pytest.raises(DivergenceError, match=r"at width (2|4)"):
        train_mlp_segments(X, KERNEL["y_train"], make_method({"kind": "hard"}), {**THEORY, "radius": 1e30},
                           [(2, 1e30), (4, 1e30)], [0, 1], 0, n_classes=2)


def test_fresh_resampling_gives_replicate_r_fresh_set_r():
    idx = resample_indices(300, [0, 2], seed=5, kind="fresh", replicates=3, set_size=100)
    assert np.array_equal(idx, [np.arange(0, 100), np.arange(200, 300)])
    with pytest.raises(ConfigError, match="fresh training set 3.*has 3.*fresh_sets"):
        resample_indices(300, [0, 3], seed=5, kind="fresh", replicates=4, set_size=100)


@pytest.mark.parametrize("method,resampling", [({"kind": "hard"}, "none"), ({"kind": "kd", "temperature": 1.0,
                                                                              "alpha": 1.0}, "bootstrap"),
                                               ({"kind": "kd-filtered", "temperature": 2.0}, "none")],
                         ids=lambda v: v["kind"] if isinstance(v, dict) else v)
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "pytorch"])
def test_fused_theory_step_follows_the_reference_formulation(method, resampling, compiled):
    """The fused theory step, compiled and in PyTorch, against the formulation it replaced, kept as
    ``fused=False``: the same trajectories (weights after every chunk of epochs, by training for 1, 10 and 60
    epochs) and records, to float32 rounding; the widths span several tiles (64 rows x 200 samples >
    FUSED_TILE_ELEMENTS / 4) and several of the compiled step's unit blocks (a width of 6 padded to 16)."""
    from softlabels.training import trainer
    if compiled:
        _need_compiled()

    X = np.concatenate([KERNEL["X_train"]] * 4)[:200]
    y = np.concatenate([KERNEL["y_train"]] * 4)[:200]
    Z = np.concatenate([KERNEL_TEACHER] * 4)[:200]
    segments = [(2, 2.0), (6, 1.0), (64, 4.0), (128, 16.0)]
    m = make_method(method)
    for epochs in (1, 10, 60):
        hp = {**THEORY, "epochs": epochs, "lr": 4.0, "replicates": 3, "resampling": resampling}
        runs = [trainer.train_mlp_segments(X, y, m, hp, segments, [0, 1, 2], 5, teacher_logits=Z, n_classes=2,
                                           fused=fused, compiled=compiled if fused else None)
                for fused in (True, False)]
        for (width, _), fast, ref in zip(segments, *runs):
            W0 = init_mlp("theory", X.shape[1], width, 2, [0, 1, 2], 5)[0]["W"]
            moved = float((ref.params["W"] - W0).abs().max())
            assert epochs < 60 or moved > 1e-3  # training moved the weights: the comparison means something
            assert float((fast.params["W"] - ref.params["W"]).abs().max()) <= 1e-4 * max(1.0, moved), (epochs, width)
            assert fast.history.keys() == ref.history.keys()
            for k, v in ref.history.items():
                if k.startswith("reg_") or k == "train_err":  # counts: a point on the boundary may flip
                    # f = 0 exactly at init, so epoch 0's 0-1 error is decided by rounding in ties (as in
                    # tests/test_fastpath.py); later epochs must agree
                    a, b = fast.history[k][:, 1:], v[:, 1:]
                    assert a.size == 0 or np.abs(a - b).mean() <= 0.01 * max(1.0, np.abs(b).mean()), (k, width)
                else:
                    np.testing.assert_allclose(fast.history[k], v, atol=1e-5, rtol=1e-4, err_msg=k)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "pytorch"])
def test_fused_step_gives_a_width_the_same_numbers_alone_packed_and_with_fewer_replicates(compiled):
    """The fused step's tiles (PyTorch) and passes (compiled, one per replicate and width) depend on a width and
    the number of points alone, so a width trained alone (train_mlp), packed with others (train_mlp_segments)
    or as a subset of the replicates gets the same bytes (what the store of trained cells relies on when it
    reuses widths and replicates)."""
    from softlabels.training import trainer
    if compiled:
        _need_compiled()

    hp = {**THEORY, "epochs": 30, "lr": 4.0, "replicates": 3, "resampling": "none"}
    m = make_method({"kind": "hard"})
    X = np.concatenate([KERNEL["X_train"]] * 8)  # 512 points: width 256 spans several sample blocks
    y = np.concatenate([KERNEL["y_train"]] * 8)
    packed = trainer.train_mlp_segments(X, y, m, hp, [(4, 2.0), (256, 2.0)], [0, 1, 2], 3, n_classes=2,
                                        compiled=compiled)
    alone = trainer.train_mlp(X, y, m, {**hp, "radius": 2.0}, 256, [0, 1, 2], 3, n_classes=2, compiled=compiled)
    last = trainer.train_mlp(X, y, m, {**hp, "radius": 2.0}, 256, [2], 3, n_classes=2, compiled=compiled)
    assert torch.equal(packed[1].params["W"], alone.params["W"])
    assert torch.equal(alone.params["W"][2:], last.params["W"])
    for k in alone.history:
        assert np.array_equal(packed[1].history[k], alone.history[k]), k



def _need_compiled():
    from softlabels.training import theory_kernel

    if theory_kernel.load() is None:
        pytest.skip("the compiled theory step cannot be built here (no C compiler, or no AVX2 and FMA)")


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 5])
def test_compiled_theory_step_agrees_with_pytorch_at_every_input_dimension(dim):
    """The compiled step specialises the input dimensions 1-4 (registers) and takes a general loop above: each
    against the PyTorch step after 40 steps, weights to float32 rounding, on an odd number of points (the
    forward pass takes two samples at a time) and widths that are not multiples of its 16-unit blocks."""
    from softlabels.training import trainer

    _need_compiled()
    rng = np.random.default_rng(dim)
    X = rng.standard_normal((101, dim)).astype(np.float32)
    y = (X.sum(1) + 0.5 * rng.standard_normal(101) > 0).astype(np.int64)
    hp = {**THEORY, "epochs": 40, "lr": 4.0, "replicates": 2, "resampling": "none"}
    segments = [(2, 1.0), (20, 4.0), (34, 16.0)]
    runs = [trainer.train_mlp_segments(X, y, make_method({"kind": "hard"}), hp, segments, [0, 1], 1, n_classes=2,
                                       compiled=c) for c in (True, False)]
    for (width, _), fast, ref in zip(segments, *runs):
        W0 = init_mlp("theory", dim, width, 2, [0, 1], 1)[0]["W"]
        moved = float((ref.params["W"] - W0).abs().max())
        assert moved > 1e-3
        assert float((fast.params["W"] - ref.params["W"]).abs().max()) <= 1e-4 * max(1.0, moved), width
        np.testing.assert_allclose(fast.history["train_loss"], ref.history["train_loss"], atol=1e-5, rtol=1e-4)


def test_without_the_compiled_step_the_trainer_falls_back_and_says_so_once(tmp_path, monkeypatch, caplog):
    """A machine where the compiled step cannot be built (here: a compiler that fails, then the step turned off)
    trains with the PyTorch step, the numbers of ``compiled=False``, logs the reason once per process, and
    names the step in what a cell records (``step_name``)."""
    from softlabels.training import theory_kernel, trainer

    hp = {**THEORY, "epochs": 5, "replicates": 2, "resampling": "none"}
    X, y, m = KERNEL["X_train"], KERNEL["y_train"], make_method({"kind": "hard"})
    torch_ref = trainer.train_mlp(X, y, m, hp, 8, [0, 1], 0, n_classes=2, compiled=False)
    for env in ({"CC": "false", theory_kernel.CACHE_ENV: str(tmp_path)}, {theory_kernel.ENV: "0"}):
        with monkeypatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            if "CC" in env:  # no compiler but a failing one on the PATH
                mp.setenv("PATH", str(tmp_path))
                (tmp_path / "false").write_text("#!/bin/sh\nexit 1\n")
                (tmp_path / "false").chmod(0o755)
            theory_kernel.load.cache_clear()
            caplog.clear()
            with caplog.at_level("WARNING", logger="softlabels"):
                res = [trainer.train_mlp(X, y, m, hp, 8, [0, 1], 0, n_classes=2) for _ in range(2)]
                assert theory_kernel.step_name("cpu") == theory_kernel.TORCH
            said = [r.getMessage() for r in caplog.records if "compiled theory-regime step is not used" in r.message]
            assert len(said) == 1, said
            assert ("could not be built" in said[0]) if "CC" in env else (theory_kernel.ENV in said[0])
            for r in res:
                assert torch.equal(r.params["W"], torch_ref.params["W"])
            with pytest.raises(ConfigError, match="compiled theory step was asked for"):
                trainer.train_mlp(X, y, m, hp, 8, [0, 1], 0, n_classes=2, compiled=True)
    theory_kernel.load.cache_clear()


MEMORY_PROBE = r"""
import resource, sys, numpy as np, torch
from softlabels.training.methods import make_method
from softlabels.training.trainer import train_mlp
n, d, R = 6000, 784, 8
rng = np.random.default_rng(0)
X = rng.standard_normal((n, d), dtype=np.float32)
y = (X[:, 0] > 0).astype(np.int64)
hp = dict(regime="practical", epochs=2, lr=0.01, optimizer="adam", batch_size=128, resampling=sys.argv[1],
          replicates=R, patience=0)
train_mlp(X[:64], y[:64], make_method({"kind": "hard"}), hp | {"resampling": "none"}, 8, [0], 0)  # warm up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
train_mlp(X, y, make_method({"kind": "hard"}), hp, 8, list(range(R)), 0)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / X.nbytes)
"""


@pytest.mark.parametrize("resampling", ["none", "bootstrap"])
def test_practical_training_holds_the_inputs_once(resampling):
    """A practical job's memory is about its inputs, not R copies of them (each replicate's copy of
    the training set and each epoch's shuffled copy of all of them are gone): training R = 8 replicates on
    6000 x 784 inputs adds less than the inputs' size to the process's peak (measured: about 0.6 times it;
    the old trainer added about 25 times it)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, resampling], capture_output=True, text=True, check=True)
    growth = float(out.stdout.strip().splitlines()[-1])
    assert growth < 1.0, f"training added {growth:.2f}x the inputs' size to the peak memory"
