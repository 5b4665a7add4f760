import numpy as np
import pytest

from softlabels.data.common import binary_digit_task
from softlabels.data.digits import make_digits
from softlabels.data.synthetic import MultiClassTarget, TargetFunction, make_synthetic
from softlabels.errors import ConfigError

BASE = dict(dim=6, n_train=300, n_val=0, n_test=200, margin=0.2, target="linear", target_hidden=8,
            label_noise=0.0, seed=3)


@pytest.mark.parametrize("target", ["linear", "relu"])
def test_generator_honours_requested_margin(target):
    d = make_synthetic({**BASE, "target": target})
    rng = np.random.default_rng(BASE["seed"])
    f = TargetFunction(target, BASE["dim"], rng, BASE["target_hidden"])  # the same f* (first draws of the seed)
    for split in ("train", "test"):
        X, y = d[f"X_{split}"].astype(np.float64), d[f"y_{split}"]
        assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-6)
        fx = f(X)
        assert np.all(np.abs(fx) >= BASE["margin"] - 1e-6)
        assert np.array_equal(y, (fx > 0).astype(int))  # no label noise: labels are sign(f*)
    assert 0.2 < d["y_train"].mean() < 0.8


def test_generator_is_deterministic_per_seed():
    a, b = make_synthetic(BASE), make_synthetic(BASE)
    c = make_synthetic({**BASE, "seed": 4})
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert not np.array_equal(a["X_train"], c["X_train"])


def test_label_noise_flips_about_the_requested_fraction():
    clean = make_synthetic({**BASE, "n_train": 4000})
    noisy = make_synthetic({**BASE, "n_train": 4000, "label_noise": 0.2})
    assert np.array_equal(clean["X_train"], noisy["X_train"])
    assert abs((clean["y_train"] != noisy["y_train"]).mean() - 0.2) < 0.03


def test_impossible_margin_is_a_config_error():
    with pytest.raises(ConfigError, match="margin"):
        make_synthetic({**BASE, "dim": 50, "margin": 0.9})


def test_validation_split_sizes():
    d = make_synthetic({**BASE, "n_val": 50})
    assert [len(d[f"y_{s}"]) for s in ("train", "val", "test")] == [300, 50, 200]


def test_digits_binary_task():
    X = np.arange(10)[:, None].astype(float)
    Xr, yr = binary_digit_task(X, np.arange(10), reduced=True)
    assert sorted(Xr[:, 0].astype(int)) == [0, 2, 3, 5, 6, 8]
    assert list(yr) == [0, 0, 0, 1, 1, 1]
    d = make_digits({"reduced": False, "split": [0.8, 0.1, 0.1], "seed": 0})
    n = sum(len(d[f"y_{s}"]) for s in ("train", "val", "test"))
    assert n == 1797 and d["X_train"].shape[1] == 64 and d["X_train"].max() <= 1.0


def _mnist1d(**kw):
    from softlabels.data.mnist1d import make_mnist1d

    return make_mnist1d({"n_samples": 400, "reduced": False, "split": [0.6, 0.2, 0.2], "seed": 3, **kw})


def test_mnist1d_sizes_labels_and_determinism(monkeypatch):
    import socket

    from softlabels.data.mnist1d import generate

    def refuse(*a, **k):
        raise AssertionError("mnist1d made a network call")
    monkeypatch.setattr(socket.socket, "connect", refuse)   # generating the data must stay offline
    d = _mnist1d()
    assert [len(d[f"y_{s}"]) for s in ("train", "val", "test")] == [240, 80, 80]
    assert all(d[f"X_{s}"].shape[1] == 40 and d[f"X_{s}"].dtype == np.float32 for s in ("train", "val", "test"))
    assert set(np.unique(d["y_train"])) == {0, 1}
    again = _mnist1d()
    assert all(np.array_equal(d[k], again[k]) for k in d)
    other = _mnist1d(seed=4)
    assert not np.array_equal(d["X_train"], other["X_train"])
    # class 1 is digit > 4, the digits drawn 40 apiece; the package's standardisation: mean 0, std 1 overall
    X, digits = generate(400, 3)
    assert np.bincount(digits).tolist() == [40] * 10
    assert abs(X.mean()) < 1e-3 and abs(X.std() - 1) < 1e-3
    ys = np.concatenate([d[f"y_{s}"] for s in ("train", "val", "test")])
    assert ys.sum() == 200
    # NumPy's global generator is left as it was
    np.random.seed(7)
    before = np.random.random()
    np.random.seed(7)
    _mnist1d()
    assert np.random.random() == before


def test_mnist1d_reduced_drops_1_7_4_9():
    from softlabels.data.mnist1d import generate

    X, digits = generate(400, 3)
    d = _mnist1d(reduced=True, split=[0.5, 0.25, 0.25])
    n = sum(len(d[f"y_{s}"]) for s in ("train", "val", "test"))
    assert n == 240                                    # 6 of 10 digits kept
    kept = X[~np.isin(digits, [1, 7, 4, 9])]
    assert {tuple(r) for r in np.concatenate([d[f"X_{s}"] for s in ("train", "val", "test")])} == \
        {tuple(r) for r in kept}
    ys = np.concatenate([d[f"y_{s}"] for s in ("train", "val", "test")])
    assert ys.sum() == 120                             # 5, 6, 8 of 0, 2, 3, 5, 6, 8


def test_fresh_training_sets_are_new_draws_that_leave_the_other_splits_alone():
    """fresh_sets K adds K training sets of n_train points (the pool), each drawn from the generator on its
    own stream: the main splits do not depend on K, set r does not depend on K, the sets differ from each
    other and from the training split, and each obeys the same target, margin and noise rate."""
    p = {**BASE, "target": "relu", "n_val": 20}
    plain = make_synthetic(p)
    three = make_synthetic({**p, "fresh_sets": 3})
    two = make_synthetic({**p, "fresh_sets": 2})
    for k, v in plain.items():
        assert np.array_equal(three[k], v), k
    assert three["X_pool"].shape == (3 * 300, 6) and three["y_pool"].shape == (900,) and "X_pool" not in plain
    assert np.array_equal(two["X_pool"], three["X_pool"][:600]) and np.array_equal(two["y_pool"], three["y_pool"][:600])
    sets = three["X_pool"].reshape(3, 300, 6)
    assert not np.isin(sets[0][:, 0], sets[1][:, 0]).any() and not np.isin(sets[0][:, 0], three["X_train"][:, 0]).any()
    f = TargetFunction("relu", 6, np.random.default_rng(p["seed"]), 8)
    fx = f(three["X_pool"].astype(np.float64))
    assert np.all(np.abs(fx) >= p["margin"] - 1e-6) and np.array_equal(three["y_pool"], (fx > 0).astype(int))
    noisy = make_synthetic({**p, "fresh_sets": 3, "n_train": 2000, "label_noise": 0.2})
    flipped = noisy["y_pool"] != (f(noisy["X_pool"].astype(np.float64)) > 0)
    assert abs(flipped.mean() - 0.2) < 0.02


def test_kernel_target_fresh_sets_carry_their_kernel_values():
    d = make_synthetic({**BASE, "target": "kernel", "target_hidden": 2, "margin": 0.01, "fresh_sets": 2})
    assert d["z_pool"].shape == (600,) and np.array_equal(d["y_pool"], (d["z_pool"] > 0).astype(int))
    assert np.abs(d["z_pool"]).min() >= 0.01


def test_multiclass_target_balanced_classes_known_bayes_error_and_smaller_fresh_sets():
    """classes C > 2: labels are the arg-max of C scores, about equally frequent; label noise replaces a label by
    one of the other classes, so the share of labels that differ from the arg-max is the noise rate (the Bayes
    error); fresh_size sets the size of each fresh set apart from n_train; the margin is the top-two gap."""
    p = {**BASE, "target": "relu", "target_hidden": 12, "classes": 10, "margin": 0.0, "n_train": 4000,
         "label_noise": 0.1, "fresh_sets": 3, "fresh_size": 500}
    d = make_synthetic(p)
    assert d["X_pool"].shape == (1500, 6) and int(d["pool_size"]) == 500 and d["X_train"].shape == (4000, 6)
    f = MultiClassTarget(6, 10, np.random.default_rng(p["seed"]), 12)
    clean = np.argmax(f.scores(d["X_train"].astype(np.float64)), 1)
    assert abs((clean != d["y_train"]).mean() - 0.1) < 0.015
    share = np.bincount(clean, minlength=10) / len(clean)
    assert share.min() > 0.05 and share.max() < 0.15
    wide = make_synthetic({**p, "margin": 0.05, "label_noise": 0.0, "fresh_sets": 0})
    assert np.all(f(wide["X_train"].astype(np.float64)) >= 0.05 - 1e-6)
    with pytest.raises(ConfigError, match="relu"):
        make_synthetic({**p, "target": "linear"})
