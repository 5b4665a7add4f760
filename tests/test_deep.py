"""The deep networks (softlabels.models.cnn) and their trainer (softlabels.training.deep), on small in-memory
images, on the CPU: shapes, parameter counts, a training step, methods unchanged, early stopping,
batching, augmentation, checkpoints, config routing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from conftest import SCHEMA, planned_jobs, write_config

from softlabels.errors import ConfigError, DivergenceError
from softlabels.models.cnn import MODELS, build_model, checkpoint_payload, model_from_checkpoint, n_parameters
from softlabels.pipeline import config as C
from softlabels.pipeline.checkpoints import load_checkpoint, save_checkpoint
from softlabels.registry import deep_models
from softlabels.training.deep import PAD, _optimizer, augment, train_deep
from softlabels.training.methods import make_method

# Trainable parameters (classes, low, high): CRD's counts at 100 classes (resnet20 0.28M, resnet56 0.86M,
# resnet110 1.74M, resnet8x4 1.23M, resnet32x4 7.43M); the VGGs' at 2 classes (documented in deep.py).
PARAM_RANGE = {
    "vgg8+3": (2, 9.70e6, 9.80e6), "vgg2+3": (2, 0.55e6, 0.57e6),
    "resnet8": (100, 0.08e6, 0.09e6), "resnet14": (100, 0.17e6, 0.19e6), "resnet20": (100, 0.27e6, 0.29e6),
    "resnet32": (100, 0.46e6, 0.48e6), "resnet44": (100, 0.66e6, 0.67e6), "resnet56": (100, 0.85e6, 0.87e6),
    "resnet110": (100, 1.72e6, 1.75e6), "resnet8x4": (100, 1.22e6, 1.24e6), "resnet32x4": (100, 7.40e6, 7.45e6),
}


def images(n: int, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n small RGB images in [0, 1] whose class (0/1) shifts the mean of the first channel."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    X = rng.random((n, 3, side, side)).astype(np.float32) * 0.6
    X[:, 0] += 0.4 * y[:, None, None]
    return X, y


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small convolutions gain nothing from threads, and OpenMP threads spin badly on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


DATA = images(120)
HP = dict(model="vgg2+3", width=4, optimizer="adam", lr=0.01, momentum=0.9, weight_decay=1e-4, epochs=4,
          batch_size=16, lr_milestones=[3], lr_decay=0.1, augment=False, normalize=True, selection="last",
          patience=0, resampling="bootstrap", replicates=3, replicate_group=0, eval_batch_size=50)


def test_registry_matches_the_config_and_the_schema():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(schema["$defs"]["model"]["enum"]) == {"mlp", "kernel", *MODELS}
    assert {k: s.base_width for k, s in MODELS.items()} == deep_models()
    assert set(PARAM_RANGE) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_shape_parameters_and_one_step_lowers_the_loss(name):
    classes, lo, hi = PARAM_RANGE[name]
    model = build_model(name, classes, (3, 32, 32), seed=0)
    assert lo <= n_parameters(model) <= hi, n_parameters(model)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32, generator=g), torch.arange(4) % classes
    method = make_method({"kind": "hard"})
    opt = _optimizer({"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}, list(model.parameters()))
    z = model.train()(x)
    assert z.shape == (4, classes)
    before = method.loss(z.unsqueeze(0), y.unsqueeze(0), None).sum()  # R = 1
    before.backward()
    opt.step()
    with torch.no_grad():
        after = method.loss(model(x).unsqueeze(0), y.unsqueeze(0), None).sum()
    assert after < before


def test_width_scales_the_channels_and_the_seed_fixes_the_init():
    base, wide = build_model("resnet20", 10, (3, 32, 32)), build_model("resnet20", 10, (3, 32, 32), width=32)
    assert wide.conv1.out_channels == 2 * base.conv1.out_channels == 32
    assert wide.fc.in_features == 128
    a, b = build_model("resnet8", 10, (3, 32, 32), seed=3, replicate=1), build_model("resnet8", 10, (3, 32, 32),
                                                                                      seed=3, replicate=1)
    c = build_model("resnet8", 10, (3, 32, 32), seed=3, replicate=2)
    assert torch.equal(a.conv1.weight, b.conv1.weight) and not torch.equal(a.conv1.weight, c.conv1.weight)


def test_flat_inputs_are_a_clear_error():
    with pytest.raises(ConfigError, match="needs images"):
        build_model("resnet20", 2, (784,))


@pytest.mark.parametrize("method", [{"kind": "kd", "temperature": 4.0, "alpha": 0.9},
                                    {"kind": "wsl", "temperature": 4.0, "alpha": 2.25},
                                    {"kind": "kd-filtered", "temperature": 2.0}])
def test_distillation_methods_work_unchanged_on_a_deep_model(method):
    X, y = DATA
    zt = np.stack([-3 * (y - 0.5), 3 * (y - 0.5)], 1).astype(np.float32)  # a confident, correct teacher
    res = train_deep(X, y, make_method(method), {**HP, "model": "resnet8", "width": 4}, [0, 1, 2], seed=0,
                     teacher_logits=zt)
    h = res.history
    for k in ("train_loss", "train_err", "reg_gt", "reg_abs"):
        assert h[k].shape == (3, HP["epochs"]), k
    assert np.isfinite(h["train_loss"]).all() and (h["reg_gt"] >= 0).all() and (h["reg_gt"] <= len(y)).all()
    assert res.logits(X[:10]).shape == (3, 10, 2)


def test_batched_replicates_equal_each_replicate_alone_vmapped_or_looped():
    X, y = DATA
    args = (X[:96], y[:96], make_method({"kind": "hard"}), {**HP, "augment": True, "selection": "val_loss",
                                                             "patience": 2})
    kw = dict(seed=5, X_val=X[96:], y_val=y[96:])
    looped = train_deep(*args, [0, 1, 2], vmap=False, **kw)
    vmapped = train_deep(*args, [0, 1, 2], vmap=True, **kw)
    alone = [train_deep(*args, [r], vmap=False, **kw) for r in range(3)]
    z_loop, z_vmap = looped.logits(X[96:]), vmapped.logits(X[96:])
    assert torch.allclose(z_loop, z_vmap, atol=1e-3, rtol=1e-3)  # grouped vs separate convolutions
    for r in range(3):
        assert torch.allclose(z_loop[r], alone[r].logits(X[96:])[0], atol=1e-5)
        assert looped.best_epoch[r] == alone[r].best_epoch[0]
        assert np.array_equal(looped.indices[r], alone[r].indices[0])


def test_replicate_groups_give_the_same_replicates():
    X, y = DATA
    args = (X, y, make_method({"kind": "hard"}), HP, [0, 1, 2])
    whole = train_deep(*args, seed=1)
    groups = train_deep(*args[:3], {**HP, "replicate_group": 2}, [0, 1, 2], seed=1)
    assert torch.allclose(whole.logits(X), groups.logits(X), atol=1e-4)
    assert groups.history["train_loss"].shape == (3, HP["epochs"])


def test_early_stopping_keeps_the_weights_of_the_validation_epoch():
    X, y = images(160, seed=1)
    y_noisy = np.where(np.random.default_rng(0).random(100) < 0.3, 1 - y[:100], y[:100])  # overfits: val CE turns up
    hp = {**HP, "selection": "val_loss", "patience": 3, "epochs": 30, "lr": 0.05, "lr_milestones": []}
    res = train_deep(X[:100], y_noisy, make_method({"kind": "hard"}), hp, [0, 1], seed=0, X_val=X[100:130],
                     y_val=y[100:130])
    vl = res.history["val_loss"]
    assert vl.shape[1] < hp["epochs"]  # stopped early
    for r in range(2):
        e = res.best_epoch[r]
        assert vl[r, e] == vl[r, :e + 1].min()
        assert vl.shape[1] - 1 - e >= hp["patience"] or e == vl.shape[1] - 1
        z = res.logits(X[100:130])[r]
        ce = torch.nn.functional.cross_entropy(z, torch.as_tensor(y[100:130])).item()
        assert abs(ce - vl[r, e]) < 1e-4  # parameters and BatchNorm statistics are those of the chosen epoch


def test_selection_needs_a_validation_split():
    X, y = DATA
    with pytest.raises(ConfigError, match="validation split"):
        train_deep(X, y, make_method({"kind": "hard"}), {**HP, "selection": "val_acc"}, [0], seed=0)


def test_training_is_reproducible_and_the_checkpoint_round_trips(tmp_path):
    X, y = DATA
    hp = {**HP, "augment": True}
    a = train_deep(X, y, make_method({"kind": "hard"}), hp, [0, 1], seed=2)
    b = train_deep(X, y, make_method({"kind": "hard"}), hp, [0, 1], seed=2)
    assert torch.equal(a.logits(X), b.logits(X))
    data = {"X_train": X, "y_train": y}
    path = tmp_path / "teacher.pt"
    save_checkpoint(str(path), checkpoint_payload("vgg2+3", 4, 2, X.shape[1:], a.state(1)), "", "d")
    with pytest.raises(Exception, match="another data set"):
        load_checkpoint(str(path), data)
    from softlabels.pipeline.checkpoints import fingerprint

    save_checkpoint(str(path), checkpoint_payload("vgg2+3", 4, 2, X.shape[1:], a.state(1)), fingerprint(data), "d")
    model = model_from_checkpoint(load_checkpoint(str(path), data))
    with torch.no_grad():
        assert torch.allclose(model(torch.as_tensor(X)), a.logits(X)[1], atol=1e-5)


def test_augmentation_crops_the_padded_image_and_flips():
    x = torch.arange(2 * 3 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 3, 6, 6) + 1
    rngs = [np.random.default_rng(0), np.random.default_rng(1)]
    out = augment(x, rngs)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (PAD,) * 4)
    for r in range(2):
        for b in range(3):
            crops = [padded[r, b, :, i:i + 6, j:j + 6] for i in range(2 * PAD + 1) for j in range(2 * PAD + 1)]
            assert any(torch.equal(out[r, b], c) or torch.equal(out[r, b], c.flip(-1)) for c in crops)


def test_a_non_finite_loss_is_a_divergence_error():
    X, y = DATA
    zt = np.full((len(y), 2), np.nan, np.float32)
    with pytest.raises(DivergenceError, match="diverged"):
        train_deep(X, y, make_method({"kind": "kd"}), HP, [0], seed=0, teacher_logits=zt)


def test_config_routes_deep_models_to_the_gpu_rules(tmp_path):
    cfg = {
        "datasets": {"c100": {"kind": "cifar100"}, "easy": {"kind": "synthetic", "dim": 4, "n_train": 32,
                                                           "n_test": 50, "margin": 0.2}},
        "teachers": {"r56": {"model": "resnet56", "optimizer": "sgd", "lr": 0.05, "augment": True},
                     "wide": {"width": 16}},
        "methods": {"hard": {"kind": "hard"}, "kd": {"kind": "kd"}, "wsl": {"kind": "wsl"}},
        "students": {"r20": {"model": "resnet20", "widths": [16], "replicates": 2, "augment": True},
                     "mlp": {"widths": [4], "replicates": 2}},
        "experiments": {"b": {"datasets": ["c100"], "teachers": ["r56"], "methods": ["hard", "kd", "wsl"],
                              "students": ["r20"]},
                        "n": {"datasets": ["easy"], "teachers": ["wide"], "methods": ["hard", "kd"],
                              "students": ["mlp"]}},
    }
    write_config(tmp_path, cfg)
    jobs = planned_jobs(tmp_path)
    rules = {}
    for rule, w in jobs:
        rules.setdefault(rule, []).append(w)
    assert [w["teacher"] for w in rules["train_deep_teacher"]] == ["r56"]
    assert [w["teacher"] for w in rules["train_teacher"]] == ["wide"]
    assert sorted(w["method"] for w in rules["train_deep_students"]) == ["hard", "kd", "wsl"]
    assert {w["student"] for w in rules["train_deep_students"]} == {"r20"}
    assert {w["student"] for w in rules["train_students"]} == {"mlp"}
    assert "paper_b_cifar100" in rules and "paper_a_figure1" not in rules
    bad = {**cfg, "teachers": {**cfg["teachers"], "wide": {"width": 16, "augment": True}}}
    with pytest.raises(ConfigError, match="augment"):
        C.validate(bad, SCHEMA)


def test_a_cnn_on_flat_vectors_is_a_config_error():
    cfg = {"datasets": {"easy": {"kind": "synthetic", "margin": 0.2}},
           "teachers": {"r20": {"model": "resnet20"}}, "methods": {"kd": {"kind": "kd"}},
           "students": {"mlp": {"widths": [4]}},
           "experiments": {"e": {"datasets": ["easy"], "teachers": ["r20"], "methods": ["kd"], "students": ["mlp"]}}}
    with pytest.raises(ConfigError, match="need image data sets"):
        C.validate(cfg, SCHEMA)


def test_an_mlp_teacher_checkpoint_runs_as_a_module():
    from softlabels.models.mlp import init_mlp, mlp_logits

    params, _ = init_mlp("practical", 48, 16, 2, [0], seed=0)
    x = torch.rand(5, 3, 4, 4)
    teacher = model_from_checkpoint({"params": {k: v[0] for k, v in params.items()}, "n_classes": 2})
    assert torch.allclose(teacher(x), mlp_logits(x.reshape(5, -1), params)[0])
