"""Real data sets: the project's own readers of MNIST's IDX files and CIFAR's *binary* format (numpy
only, no pickle), and the builders of the ``mnist``, ``cifar10-catdog`` and ``cifar100`` kinds.

Builders follow ``softlabels.data``: ``builder(params, *raw_files)`` returns ``X_train, y_train,
X_val, y_val, X_test, y_test`` (the validation pair is left out when ``val_fraction`` is 0), labels
int64 class indices, features float32. The same raw files, parameters and seed give the same arrays.

Raw files are the archives as their authors publish them (``RAW_FILES``); the download rule fetches
them into ``results/raw/<source>/``, or a data set's ``raw_dir`` names a folder that already holds
them (CIFAR also as the extracted ``.bin`` files). Archives are read in memory, member by member,
by exact name: nothing is ever written to a path taken from an archive.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from softlabels.data import BUILDERS, SPLITS, Arrays, binary_digit_task, split_fractions
from softlabels.errors import ConfigError, InputError

# data set kind -> the raw source it is built from (the folder under results/raw/).
SOURCE_OF_KIND = {"mnist": "mnist", "cifar10-catdog": "cifar-10", "cifar100": "cifar-100"}

MNIST_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


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
    "cifar-10": CifarLayout("cifar-10-binary.tar.gz", "cifar-10-batches-bin",
                            tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",),
                            label_bytes=1, n_labels=(10,)),
    # CIFAR-100 records carry the coarse (20 superclasses) then the fine (100 classes) label.
    "cifar-100": CifarLayout("cifar-100-binary.tar.gz", "cifar-100-binary", ("train.bin",), ("test.bin",),
                             label_bytes=2, n_labels=(20, 100)),
}

# source -> the files the download rule fetches (their checksums: softlabels.download.KNOWN).
RAW_FILES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(f"{s}.gz" for s in MNIST_STEMS),
    "cifar-10": (CIFAR["cifar-10"].archive,),
    "cifar-100": (CIFAR["cifar-100"].archive,),
}

PIXELS = 3 * 32 * 32
CIFAR10_CAT, CIFAR10_DOG = 3, 5
# Per-channel mean and std of CIFAR-100's training images in [0, 1], as the CRD benchmark normalises.
CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# --- raw files -------------------------------------------------------------------------------

def raw_paths(kind: str, raw_dir: str | None = None) -> list[str]:
    """The raw files a data set of ``kind`` reads: the download rule's outputs, or those in ``raw_dir``.

    In ``raw_dir``, MNIST files may be gzipped or not; CIFAR may be the archive or its extracted
    ``.bin`` files (directly in ``raw_dir`` or in the archive's own folder). Where nothing fits, the
    archive's path is returned, so that Snakemake reports it as the missing input.
    """
    source = SOURCE_OF_KIND.get(kind)
    if source is None:
        return []
    if raw_dir is None:
        return [f"results/raw/{source}/{name}" for name in RAW_FILES[source]]
    root = Path(os.path.expanduser(raw_dir))
    if source == "mnist":  # the gzipped file where it is there or neither is
        return [str(root / stem) if (root / stem).is_file() and not (root / f"{stem}.gz").is_file()
                else str(root / f"{stem}.gz") for stem in MNIST_STEMS]
    lay = CIFAR[source]
    for folder in (root, root / lay.folder):
        if all((folder / m).is_file() for m in lay.members):
            return [str(folder / m) for m in lay.members]
    return [str(root / lay.archive)]


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
            raise InputError(f"{path}: gzip data is truncated or corrupt ({exc}); download it again") from None
    return data


# --- IDX (MNIST) -----------------------------------------------------------------------------

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


# --- CIFAR binary format ---------------------------------------------------------------------

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


# --- builders --------------------------------------------------------------------------------

def _pick(files: Sequence[str], stem: str) -> str:
    hits = [f for f in files if Path(f).name in (stem, f"{stem}.gz")]
    if len(hits) != 1:
        raise InputError(f"expected one raw file named {stem}[.gz] among {list(files)}, found {len(hits)}")
    return hits[0]


def _carve_validation(X: np.ndarray, y: np.ndarray, val_fraction: float, rng: np.random.Generator) -> Arrays:
    """Hold out round(val_fraction * n) of an official training set, drawn by seed, for validation."""
    _, val, train = split_fractions(len(y), (0.0, val_fraction, 1.0 - val_fraction), rng)
    out = {"X_train": X[train], "y_train": y[train]}
    if val_fraction > 0:
        out["X_val"], out["y_val"] = X[val], y[val]
    return out


def _subsample(arrays: Arrays, p: dict[str, Any]) -> Arrays:
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


def make_mnist(p: dict[str, Any], *raw_files: str) -> Arrays:
    """Paper A's MNIST task: class 1 is 'digit > 4' ('reduced' drops 1, 7, 4, 9); 784 pixels in [0, 1].

    Validation is ``val_fraction`` of the official training set, drawn by seed; test is the official test set.
    """
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        X, digits = read_mnist(_pick(raw_files, f"{prefix}-images-idx3-ubyte"),
                               _pick(raw_files, f"{prefix}-labels-idx1-ubyte"))
        X = X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0)
        splits[split] = binary_digit_task(X, digits, p["reduced"])
    out = _carve_validation(*splits["train"], p["val_fraction"], np.random.default_rng(p["seed"]))
    out["X_test"], out["y_test"] = splits["test"]
    return _subsample(out, p)


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
    idx = split_fractions(len(y), fractions, np.random.default_rng(p["seed"]))
    return _subsample({f"{a}_{s}": arr[i] for s, i in zip(SPLITS, idx) for a, arr in (("X", X), ("y", y))}, p)


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

    out = _carve_validation(scale(Xtr), ytr[:, 1], p["val_fraction"], np.random.default_rng(p["seed"]))
    out["X_test"], out["y_test"] = scale(Xte), yte[:, 1]
    return _subsample(out, p)


BUILDERS.update({"mnist": make_mnist, "cifar10-catdog": make_cifar10_catdog, "cifar100": make_cifar100})
