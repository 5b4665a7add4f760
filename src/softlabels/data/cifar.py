"""CIFAR: the project's own reader of CIFAR's *binary* format (numpy only, no pickle) and the builders
of the ``cifar10-catdog`` (paper A's Figure 1) and ``cifar100`` (paper B) kinds.

Archives are read in memory, member by member, by exact name: nothing is ever written to a path taken
from an archive. Images are float32 (N, 3, 32, 32).
"""

from __future__ import annotations

import math
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from softlabels.data.common import Arrays, carve_validation, read_raw, split_arrays, subsample
from softlabels.errors import ConfigError, InputError
from softlabels.registry import raw_files


@dataclass(frozen=True)
class CifarLayout:
    """Where a CIFAR binary release keeps its record files, and how its records are laid out."""

    archive: str  # the tarball's file name
    folder: str  # the folder its members are in
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_bytes: int
    n_labels: tuple[int, ...]  # label byte j is < n_labels[j]

    @property
    def members(self) -> tuple[str, ...]:
        return self.train + self.test


CIFAR = {
    "cifar-10": CifarLayout(raw_files("cifar-10")[0], "cifar-10-batches-bin",
                            tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",),
                            label_bytes=1, n_labels=(10,)),
    # CIFAR-100 records carry the coarse (20 superclasses) then the fine (100 classes) label.
    "cifar-100": CifarLayout(raw_files("cifar-100")[0], "cifar-100-binary", ("train.bin",), ("test.bin",),
                             label_bytes=2, n_labels=(20, 100)),
}

PIXELS = 3 * 32 * 32
CIFAR10_CAT, CIFAR10_DOG = 3, 5
# Per-channel mean and std of CIFAR-100's training images in [0, 1], as the CRD benchmark normalises.
CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)


def parse_cifar(data: bytes, name: str, label_bytes: int, n_labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR binary records: ``label_bytes`` label bytes then 3072 pixel bytes (R, G, B planes of 32x32).

    Returns (N, 3, 32, 32) uint8 images and (N, label_bytes) int64 labels; label j must be < n_labels[j].
    """
    record = label_bytes + PIXELS
    if not data or len(data) % record:
        raise InputError(f"{name}: {len(data)} bytes is not a whole number of {record}-byte CIFAR records "
                         f"({label_bytes} label byte(s) + {PIXELS} pixel bytes); truncated, or not a "
                         f"CIFAR-{100 if label_bytes == 2 else 10} binary file")
    rec = np.frombuffer(data, np.uint8).reshape(-1, record)
    labels = rec[:, :label_bytes].astype(np.int64)
    for j, n in enumerate(n_labels):
        bad = np.flatnonzero(labels[:, j] >= n)
        if len(bad):
            which = f"label byte {j + 1}" if label_bytes > 1 else "label"
            raise InputError(f"{name}: record {int(bad[0])} has {which} {int(labels[bad[0], j])}, expected "
                             f"0..{n - 1}; corrupt, or a file of the other CIFAR data set")
    return rec[:, label_bytes:].reshape(-1, 3, 32, 32), labels


def read_cifar(files: Sequence[str | os.PathLike], source: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The (images, labels) of CIFAR's official train and test sets, from the archive or its ``.bin`` files."""
    lay = CIFAR[source]
    blobs = _members_from_archive(files[0], lay) if len(files) == 1 else _members_from_files(files, lay)
    out = []
    for names in (lay.train, lay.test):
        parts = [parse_cifar(blobs[m][1], blobs[m][0], lay.label_bytes, lay.n_labels) for m in names]
        out.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    return tuple(out)


def _members_from_files(files: Sequence[str | os.PathLike], lay: CifarLayout) -> dict[str, tuple[str, bytes]]:
    by_name = {Path(f).name: Path(f) for f in files}
    missing = [m for m in lay.members if m not in by_name]
    if missing:
        raise InputError(f"CIFAR record files {missing} not among the raw files {[str(f) for f in files]}; "
                         f"expected {list(lay.members)} or the archive {lay.archive}")
    return {m: (str(by_name[m]), read_raw(by_name[m])) for m in lay.members}


def _members_from_archive(path: str | os.PathLike, lay: CifarLayout) -> dict[str, tuple[str, bytes]]:
    """Read the needed members of a CIFAR tarball in one pass, by exact name, regular files only."""
    wanted = {f"{lay.folder}/{m}": m for m in lay.members}
    found: dict[str, tuple[str, bytes]] = {}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for info in tar:
                m = wanted.get(info.name)
                if m is None:
                    continue
                if not info.isreg():
                    raise InputError(f"{path}: archive member {info.name} is not a regular file")
                fh = tar.extractfile(info)
                assert fh is not None  # a regular file always has data
                found[m] = (f"{path}:{info.name}", fh.read())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: not a readable tar archive (truncated or corrupt?): {exc}") from None
    missing = sorted(set(wanted) - {f"{lay.folder}/{m}" for m in found})
    if missing:
        raise InputError(f"{path}: archive lacks {missing}; expected the official {lay.archive}")
    return found


def make_cifar10_catdog(p: dict[str, Any], *raw_files: str) -> Arrays:
    """Paper A's Figure 1 task: CIFAR-10 cat (class 0) vs dog (class 1), noisy images, split 80/10/10.

    The official train and test images of the two classes are pooled and split by seed (``split``).
    Gaussian noise of variance ``noise_variance`` is added to every image of every split, on the
    pixel scale [0, 1], drawn once by seed (every model sees the same noisy images); values are
    clipped back to [0, 1] only if ``noise_clip``. Images are float32 (N, 3, 32, 32).
    """
    (Xtr, ytr), (Xte, yte) = read_cifar(raw_files, "cifar-10")
    X, labels = np.concatenate([Xtr, Xte]), np.concatenate([ytr, yte])[:, 0]
    keep = np.isin(labels, [CIFAR10_CAT, CIFAR10_DOG])
    X = X[keep].astype(np.float32) / np.float32(255.0)
    y = (labels[keep] == CIFAR10_DOG).astype(np.int64)
    if p["noise_variance"] > 0:
        # Its own stream: the same seed gives the same split whatever the variance, and the same
        # standard-normal draws, scaled, at every variance.
        noise = np.random.default_rng([p["seed"], 1]).standard_normal(X.shape, dtype=np.float32)
        X += np.float32(math.sqrt(p["noise_variance"])) * noise
        if p["noise_clip"]:
            np.clip(X, 0.0, 1.0, out=X)
    fractions = tuple(float(f) for f in p["split"])
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"data set kind 'cifar10-catdog': split {list(fractions)} must sum to 1")
    return subsample(split_arrays(X, y, fractions, np.random.default_rng(p["seed"]), "cifar10-catdog"), p)


def make_cifar100(p: dict[str, Any], *raw_files: str) -> Arrays:
    """Paper B's CIFAR-100 task: the 100 fine classes, float32 (N, 3, 32, 32) images in [0, 1].

    With ``normalize``, each channel is standardised by the CRD benchmark's constants
    (CIFAR100_MEAN, CIFAR100_STD). Test is the official test set; validation is ``val_fraction`` of
    the official training set, drawn by seed (the CRD benchmark has none; 0 trains on all 50,000).
    """
    (Xtr, ytr), (Xte, yte) = read_cifar(raw_files, "cifar-100")

    def scale(X: np.ndarray) -> np.ndarray:
        X = X.astype(np.float32) / np.float32(255.0)
        if p["normalize"]:
            X -= np.asarray(CIFAR100_MEAN, np.float32)[:, None, None]
            X /= np.asarray(CIFAR100_STD, np.float32)[:, None, None]
        return X

    out = carve_validation(scale(Xtr), ytr[:, 1], p["val_fraction"], np.random.default_rng(p["seed"]))
    out["X_test"], out["y_test"] = scale(Xte), yte[:, 1]
    return subsample(out, p)
