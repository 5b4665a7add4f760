"""MNIST: the project's own reader of the IDX format (numpy only) and the ``mnist`` kind's builder,
paper A's Table 1 task (class 1 = digit > 4)."""

from __future__ import annotations

import math
import os
import struct
from typing import Any

import numpy as np

from softlabels.data.common import Arrays, binary_digit_task, carve_validation, pick_raw, read_raw, subsample
from softlabels.errors import InputError

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Parse IDX bytes: magic 0x0000, a type code, the number of dims, the dims (big-endian uint32), the data.

    The payload must be exactly prod(dims) items; anything else raises InputError naming ``name``.
    """
    if len(data) < 4:
        raise InputError(f"{name}: {len(data)} bytes, too short for the 4-byte IDX magic number; "
                         f"truncated or not an IDX file")
    z0, z1, code, ndim = data[:4]
    if z0 or z1 or code not in IDX_DTYPES or ndim == 0:
        raise InputError(f"{name}: magic number 0x{data[:4].hex()} is not an IDX magic number (expected 0x0000, "
                         f"a type code in {[hex(c) for c in IDX_DTYPES]} and the number of dimensions >= 1)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"{name}: {len(data)} bytes, too short for the IDX header of {ndim} dimensions "
                         f"({header} bytes); truncated")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes after the data"
        raise InputError(f"{name}: the IDX header says {'x'.join(map(str, dims))} items of {dtype.name} "
                         f"({expected} bytes in all) but the file has {len(data)} bytes ({what})")
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or not."""
    return parse_idx(read_raw(path), str(path))


def read_mnist(images: str | os.PathLike, labels: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One MNIST split: (N, 28, 28) uint8 images and (N,) int64 digits, checked against each other."""
    X, y = read_idx(images), read_idx(labels)
    if X.dtype != np.uint8 or X.ndim != 3 or X.shape[1:] != (28, 28):
        raise InputError(f"{images}: expected MNIST images (N x 28 x 28 unsigned bytes), got "
                         f"{'x'.join(map(str, X.shape))} of {X.dtype}")
    if y.dtype != np.uint8 or y.ndim != 1:
        raise InputError(f"{labels}: expected MNIST labels (N unsigned bytes), got "
                         f"{'x'.join(map(str, y.shape))} of {y.dtype}")
    if len(X) != len(y):
        raise InputError(f"{labels}: {len(y)} labels for the {len(X)} images of {images}; files from different "
                         f"splits or data sets?")
    if len(y) and y.max() > 9:
        raise InputError(f"{labels}: label {int(y.max())} is not a digit 0-9; corrupt or not MNIST")
    return X, y.astype(np.int64)


def make_mnist(p: dict[str, Any], *raw_files: str) -> Arrays:
    """Paper A's MNIST task: class 1 is 'digit > 4' ('reduced' drops 1, 7, 4, 9); 784 pixels in [0, 1].

    Validation is ``val_fraction`` of the official training set, drawn by seed; test is the official test set.
    """
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        X, digits = read_mnist(pick_raw(raw_files, f"{prefix}-images-idx3-ubyte"),
                               pick_raw(raw_files, f"{prefix}-labels-idx1-ubyte"))
        X = X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0)
        splits[split] = binary_digit_task(X, digits, p["reduced"])
    out = carve_validation(*splits["train"], p["val_fraction"], np.random.default_rng(p["seed"]))
    out["X_test"], out["y_test"] = splits["test"]
    return subsample(out, p)
