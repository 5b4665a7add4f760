"""What every data-set kind shares: the split names, the array layout, splitting and sub-sampling,
and reading raw files.

A builder returns a dict of arrays with ``X_train, y_train, X_test, y_test`` and, where the data set
has one, ``X_val, y_val`` (a synthetic one with fresh training sets: ``X_pool, y_pool``). Labels are int64 class indices (0/1 for binary tasks; class 1 is the
theory's y = +1), features float32. The same parameters (and raw files) always give the same arrays.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from softlabels.errors import ConfigError, InputError

Arrays = dict[str, np.ndarray]

SPLITS = ("train", "val", "test")
#: a synthetic data set's fresh training sets (``fresh_sets`` K > 0): K sets of n_train points, set r at rows
#: r·n_train … (r+1)·n_train − 1, for students with resampling ``fresh``
POOL = "pool"
#: the number of points of one fresh training set (a scalar array beside the pool; ``fresh_size``)
POOL_SIZE = "pool_size"
#: every labelled part of a data set a teacher gives its logits on
LABELLED = (*SPLITS, POOL)


def split_head(X: np.ndarray, y: np.ndarray, n_train: int, n_val: int) -> Arrays:
    out = {"X_train": X[:n_train], "y_train": y[:n_train]}
    if n_val:
        out["X_val"], out["y_val"] = X[n_train:n_train + n_val], y[n_train:n_train + n_val]
    out["X_test"], out["y_test"] = X[n_train + n_val:], y[n_train + n_val:]
    return out


def binary_digit_task(X: np.ndarray, digits: np.ndarray, reduced: bool) -> tuple[np.ndarray, np.ndarray]:
    """Paper A's task: class 1 is 'digit > 4'; 'reduced' drops the confusable digits 1, 7, 4 and 9."""
    keep = ~np.isin(digits, [1, 7, 4, 9]) if reduced else np.ones(len(digits), bool)
    return X[keep], (digits[keep] > 4).astype(np.int64)


def split_fractions(n: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle range(n) and cut it into train/val/test index sets of the given fractions."""
    perm = rng.permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return [perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]]


def split_arrays(X: np.ndarray, y: np.ndarray, fractions: tuple[float, float, float], rng: np.random.Generator,
                 kind: str) -> Arrays:
    """X and y cut into train/val/test by ``split_fractions``; a split of fraction 0 (val only: the config
    checks that train and test are positive) is left out, and a positive one that gets no point is an error."""
    idx = split_fractions(len(y), fractions, rng)
    out: Arrays = {}
    for split, f, i in zip(SPLITS, fractions, idx):
        if f == 0:
            continue
        if len(i) == 0:
            raise ConfigError(f"data set kind {kind!r}: split {list(fractions)}: the {split} fraction {f:g} of "
                              f"{len(y)} points gives an empty {split} split; raise it")
        out[f"X_{split}"], out[f"y_{split}"] = X[i], y[i]
    return out


def n_classes(arrays: Arrays) -> int:
    return int(max(arrays[k].max() for k in arrays if k.startswith("y_"))) + 1


def carve_validation(X: np.ndarray, y: np.ndarray, val_fraction: float, rng: np.random.Generator) -> Arrays:
    """Hold out round(val_fraction * n) of an official training set, drawn by seed, for validation."""
    _, val, train = split_fractions(len(y), (0.0, val_fraction, 1.0 - val_fraction), rng)
    out = {"X_train": X[train], "y_train": y[train]}
    if val_fraction > 0:
        out["X_val"], out["y_val"] = X[val], y[val]
    return out


def subsample(arrays: Arrays, p: dict[str, Any]) -> Arrays:
    """Cut each split to a seeded random subset of at most ``max_<split>`` points (0 = keep all).

    Each split has its own stream, and a larger maximum keeps every point a smaller one kept.
    """
    out = dict(arrays)
    for k, split in enumerate(SPLITS):
        cap = p.get(f"max_{split}", 0)
        if f"y_{split}" in out and cap and len(out[f"y_{split}"]) > cap:
            keep = np.sort(np.random.default_rng([p["seed"], 7, k]).permutation(len(out[f"y_{split}"]))[:cap])
            out[f"X_{split}"], out[f"y_{split}"] = out[f"X_{split}"][keep], out[f"y_{split}"][keep]
    for split in SPLITS:
        if f"y_{split}" in out and len(out[f"y_{split}"]) == 0:
            raise ConfigError(f"data set kind {p['kind']!r}: the {split} split is empty; raise its fraction "
                              f"or max_{split}")
    return out


# --- raw files -------------------------------------------------------------------------------

def read_raw(path: str | os.PathLike) -> bytes:
    """A file's bytes, gunzipped when it starts with the gzip magic number (whatever its name)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: gzip data is truncated or corrupt ({exc})") from None
    return data


def pick_raw(files: Sequence[str], stem: str) -> str:
    hits = [f for f in files if Path(f).name in (stem, f"{stem}.gz")]
    if len(hits) != 1:
        raise InputError(f"expected one raw file named {stem}[.gz] among {list(files)}, found {len(hits)}")
    return hits[0]
