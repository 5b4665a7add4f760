import numpy as np
import pytest

from softlabels.data.common import binary_digit_task
from softlabels.data.digits import make_digits
from softlabels.data.synthetic import TargetFunction, make_synthetic
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
