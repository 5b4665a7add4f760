"""Writers of small files in the real raw formats (IDX, CIFAR binary records, the CIFAR tarballs), for the
tests of the parsers, the builders and the download rule. Independent of softlabels.data on purpose."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding of an array: 0x0000, type code, ndim, big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, IDX_CODES[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, a: np.ndarray, gz: bool = True) -> Path:
    data = idx_bytes(a)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def mnist_split(n: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n distinct 28x28 uint8 images (pixel [0,0] = index, [0,1] = digit, a ramp elsewhere) and digits 0..9 cycling."""
    digits = (np.arange(n) % 10).astype(np.uint8)
    X = np.tile((np.arange(28 * 28) % 256).astype(np.uint8).reshape(28, 28), (n, 1, 1))
    X[:, 0, 0] = (first + np.arange(n)) % 256
    X[:, 0, 1] = digits
    return X, digits


def write_mnist(folder: Path, n_train: int = 60, n_test: int = 30, gz: bool = True) -> dict[str, tuple]:
    """The four MNIST files in ``folder``; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    out = {"train": mnist_split(n_train), "test": mnist_split(n_test, first=100)}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        X, y = out[split]
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", X, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y, gz)
    return out


def cifar_records(labels: np.ndarray, first: int = 0) -> tuple[bytes, np.ndarray]:
    """CIFAR binary records for rows of label bytes; image i has every R pixel = first + i, G = 2, B = label."""
    labels = np.atleast_2d(np.asarray(labels, np.uint8).T).T  # (N, label_bytes)
    n = len(labels)
    X = np.zeros((n, 3, 32, 32), np.uint8)
    X[:, 0] = ((first + np.arange(n)) % 256)[:, None, None]
    X[:, 1] = 2
    X[:, 2] = labels[:, -1][:, None, None]
    return np.concatenate([labels, X.reshape(n, -1)], axis=1).tobytes(), X


CIFAR10_MEMBERS = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
CIFAR100_MEMBERS = ["train.bin", "test.bin"]


def cifar10_files(per_batch: int = 20) -> dict[str, bytes]:
    """Six CIFAR-10 batch files, each with labels cycling through 0..9."""
    return {m: cifar_records(np.arange(per_batch) % 10, first=k * per_batch)[0] for k, m in enumerate(CIFAR10_MEMBERS)}


def cifar100_files(n_train: int = 50, n_test: int = 20) -> dict[str, bytes]:
    """CIFAR-100 train/test files: coarse label = fine // 5, fine cycling through 0..99."""
    def labels(n: int) -> np.ndarray:
        fine = np.arange(n) % 100
        return np.stack([fine // 5, fine], axis=1)
    return {"train.bin": cifar_records(labels(n_train))[0], "test.bin": cifar_records(labels(n_test), first=n_train)[0]}


def write_tar(path: Path, members: dict[str, bytes], folder: str, extra: dict[str, bytes] | None = None) -> Path:
    """A .tar.gz with each member under ``folder/``, plus ``extra`` members under the exact names given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [*((f"{folder}/{m}", d) for m, d in members.items()), *(extra or {}).items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
