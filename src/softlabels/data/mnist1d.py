"""MNIST-1D (Greydanus and Steinbach): 40-sample 1-D signals generated procedurally from ten digit templates
(padding, shear, translation, correlated and i.i.d. noise) by the ``mnist1d`` package, offline. A stand-in for
paper A's MNIST Table 1 task with room between a wide teacher and small students
(docs/science.md#digit-tasks)."""

from __future__ import annotations

from typing import Any

import numpy as np

from softlabels.data.common import Arrays, binary_digit_task, split_arrays


def generate(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` signals (n, 40) and their digits (n,), from the package's own generator with its default
    transformation settings and ``seed``. Only ``mnist1d.data.make_dataset`` is called: it builds the data from
    the package's templates and makes no network request (``get_dataset`` would try to download a pickle; it
    is never called). The package seeds NumPy's global generator; its state is restored afterwards."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = int(n_samples), int(seed), 1.0
    state = np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    # make_dataset shuffles the samples and standardises every value by the set's mean and standard deviation
    return np.asarray(d["x"], dtype=np.float32), np.asarray(d["y"], dtype=np.int64)


def make_mnist1d(p: dict[str, Any]) -> Arrays:
    """Paper A's task on MNIST-1D: class 1 = digit > 4 (``reduced`` drops digits 1, 7, 4, 9 first); n_samples
    generated signals (n_samples // 10 per digit), split train/val/test by ``split`` and ``seed``."""
    X, digits = generate(p["n_samples"], p["seed"])
    X, y = binary_digit_task(X, digits, p["reduced"])
    rng = np.random.default_rng(p["seed"])
    return split_arrays(X, y, tuple(float(f) for f in p["split"]), rng, "mnist1d")
