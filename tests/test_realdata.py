"""The IDX and CIFAR-binary parsers and the mnist, cifar10-catdog and cifar100 builders, on small files
in the real formats written by the tests (tests/realformats.py)."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, SCHEMA
from realformats import (
    CIFAR10_MEMBERS,
    CIFAR100_MEMBERS,
    cifar10_files,
    cifar100_files,
    cifar_records,
    idx_bytes,
    mnist_split,
    write_idx,
    write_mnist,
    write_tar,
)

import softlabels.pipeline.config as C
from softlabels.data import build, cifar, mnist, raw
from softlabels.errors import ConfigError, InputError
from softlabels.registry import raw_files


def params(kind: str, **keys) -> dict:
    """A data set's config slice with the schema's defaults, as the make_data rule receives it."""
    cfg = {"datasets": {"d": {"kind": kind, **keys}}, "teachers": {"t": {}}, "methods": {"h": {"kind": "hard"}},
           "students": {"s": {"widths": [2]}},
           "experiments": {"e": {"datasets": ["d"], "teachers": ["t"], "methods": ["h"], "students": ["s"]}}}
    return C.dataset_slice(C.validate(cfg, SCHEMA), "d")


# --- IDX -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, dtype, gz):
    a = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "a.idx", a, gz=gz)
    b = mnist.read_idx(path)
    assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)


def test_idx_errors_name_the_file_and_what_was_expected(tmp_path):
    X, _ = mnist_split(3)
    good = idx_bytes(X)
    cases = {
        "truncated.idx": (good[:-100], "28x28 items of uint8.*truncated"),
        "trailing.idx": (good + b"\0", "trailing bytes"),
        "magic.idx": (b"\x01\x02" + good[2:], "not an IDX magic number"),
        "type.idx": (good[:2] + b"\x07" + good[3:], "not an IDX magic number"),
        "header.idx": (good[:9], "too short for the IDX header"),
        "tiny.idx": (good[:2], "too short"),
    }
    for name, (data, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=match) as err:
            mnist.read_idx(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(good)[:-30])
    with pytest.raises(InputError, match="cut.gz: gzip data is truncated or corrupt"):
        mnist.read_idx(tmp_path / "cut.gz")
    with pytest.raises(InputError, match="missing.gz: file not found"):
        mnist.read_idx(tmp_path / "missing.gz")


def test_read_mnist_checks_images_against_labels(tmp_path):
    X, y = mnist_split(5)
    write_idx(tmp_path / "img", X)
    write_idx(tmp_path / "lab", y[:4])
    with pytest.raises(InputError, match="lab: 4 labels for the 5 images"):
        mnist.read_mnist(tmp_path / "img", tmp_path / "lab")
    write_idx(tmp_path / "img27", X[:, :27])
    with pytest.raises(InputError, match="img27: expected MNIST images"):
        mnist.read_mnist(tmp_path / "img27", tmp_path / "lab")
    write_idx(tmp_path / "lab12", np.full(5, 12, np.uint8))
    with pytest.raises(InputError, match="lab12: label 12 is not a digit"):
        mnist.read_mnist(tmp_path / "img", tmp_path / "lab12")


def test_make_mnist_is_paper_a_binary_task(tmp_path):
    written = write_mnist(tmp_path / "raw", n_train=60, n_test=30)
    files = raw.raw_paths("mnist", str(tmp_path / "raw"))
    d = build("mnist", params("mnist", seed=3), *files)
    assert [len(d[f"y_{s}"]) for s in ("train", "val", "test")] == [54, 6, 30]
    for s in ("train", "val", "test"):
        X, y = d[f"X_{s}"], d[f"y_{s}"]
        assert X.dtype == np.float32 and X.shape[1] == 784 and y.dtype == np.int64
        assert X.min() >= 0 and X.max() <= 1
        digit = np.rint(X[:, 1] * 255).astype(int)  # pixel [0, 1] holds the digit
        assert np.array_equal(y, (digit > 4).astype(int))
    # validation and train partition the official train set; test is the official test set, in order
    index = lambda X: set(np.rint(X[:, 0] * 255).astype(int))  # noqa: E731
    assert index(d["X_train"]) | index(d["X_val"]) == set(range(60)) and not index(d["X_train"]) & index(d["X_val"])
    assert np.allclose(d["X_test"] * 255, written["test"][0].reshape(30, -1))

    r = build("mnist", params("mnist", seed=3, reduced=True, val_fraction=0.0), *files)
    assert "X_val" not in r and len(r["y_train"]) == 36 and len(r["y_test"]) == 18
    assert not np.isin(np.rint(r["X_train"][:, 1] * 255), [1, 7, 4, 9]).any()


def test_mnist_seed_and_subsampling(tmp_path):
    write_mnist(tmp_path, n_train=60, n_test=30, gz=False)  # un-gzipped files are read as well
    files = raw.raw_paths("mnist", str(tmp_path))
    assert all(not f.endswith(".gz") for f in files)
    a, b = (build("mnist", params("mnist", seed=1), *files) for _ in range(2))
    c = build("mnist", params("mnist", seed=2), *files)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["X_val"], c["X_val"])
    small = build("mnist", params("mnist", seed=1, max_train=10, max_test=5), *files)
    smaller = build("mnist", params("mnist", seed=1, max_train=4, max_test=5), *files)
    assert [len(small[f"y_{s}"]) for s in ("train", "val", "test")] == [10, 6, 5]
    rows = lambda X: {x.tobytes() for x in X}  # noqa: E731
    assert rows(smaller["X_train"]) <= rows(small["X_train"]) <= rows(a["X_train"])  # nested subsets
    with pytest.raises(ConfigError, match="val split is empty"):
        build("mnist", params("mnist", val_fraction=0.001), *files)


# --- CIFAR -----------------------------------------------------------------------------------

def test_parse_cifar_records():
    data, X = cifar_records(np.array([3, 5, 9]))
    Xp, labels = cifar.parse_cifar(data, "x.bin", 1, (10,))
    assert Xp.shape == (3, 3, 32, 32) and np.array_equal(Xp, X) and labels[:, 0].tolist() == [3, 5, 9]
    data, X = cifar_records(np.array([[19, 99], [0, 0]]))
    Xp, labels = cifar.parse_cifar(data, "y.bin", 2, (20, 100))
    assert np.array_equal(Xp, X) and labels.tolist() == [[19, 99], [0, 0]]


def test_cifar_errors_name_the_file():
    data, _ = cifar_records(np.array([3, 5, 10]))
    with pytest.raises(InputError, match="x.bin: record 2 has label 10, expected 0..9"):
        cifar.parse_cifar(data, "x.bin", 1, (10,))
    with pytest.raises(InputError, match="x.bin: 6145 bytes is not a whole number of 3073-byte CIFAR records"):
        cifar.parse_cifar(data[:-3074], "x.bin", 1, (10,))
    with pytest.raises(InputError, match="not a whole number"):
        cifar.parse_cifar(b"", "x.bin", 1, (10,))
    c100, _ = cifar_records(np.array([[1, 2], [3, 100]]))
    with pytest.raises(InputError, match="y.bin: record 1 has label byte 2 100, expected 0..99"):
        cifar.parse_cifar(c100, "y.bin", 2, (20, 100))
    with pytest.raises(InputError, match="not a whole number of 3073-byte"):  # CIFAR-100 read as CIFAR-10
        cifar.parse_cifar(c100, "y.bin", 1, (10,))


def test_cifar_archive_and_extracted_files_agree(tmp_path):
    members = cifar10_files()
    tarball = write_tar(tmp_path / "cifar-10-binary.tar.gz", members, "cifar-10-batches-bin",
                        extra={"../escape.bin": b"x", "/abs.bin": b"y"})  # never written anywhere
    bins = tmp_path / "extracted" / "cifar-10-batches-bin"
    bins.mkdir(parents=True)
    for m, data in members.items():
        (bins / m).write_bytes(data)
    assert raw.raw_paths("cifar10-catdog", str(tmp_path)) == [str(tarball)]
    assert raw.raw_paths("cifar10-catdog", str(tmp_path / "extracted")) == [str(bins / m) for m in CIFAR10_MEMBERS]
    (tr_a, te_a), (tr_b, te_b) = cifar.read_cifar([tarball], "cifar-10"), cifar.read_cifar(raw.raw_paths(
        "cifar10-catdog", str(tmp_path / "extracted")), "cifar-10")
    assert len(tr_a[0]) == 100 and len(te_a[0]) == 20
    for x, y in zip((*tr_a, *te_a), (*tr_b, *te_b)):
        assert np.array_equal(x, y)
    assert not (tmp_path.parent / "escape.bin").exists() and not Path("/abs.bin").exists()


def test_cifar_archive_errors(tmp_path):
    members = cifar10_files()
    good = write_tar(tmp_path / "good.tar.gz", members, "cifar-10-batches-bin").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="cut.tar.gz: not a readable tar archive"):
        cifar.read_cifar([tmp_path / "cut.tar.gz"], "cifar-10")
    write_tar(tmp_path / "short.tar.gz", {m: members[m] for m in CIFAR10_MEMBERS[:3]}, "cifar-10-batches-bin")
    with pytest.raises(InputError, match="short.tar.gz: archive lacks.*data_batch_4.bin"):
        cifar.read_cifar([tmp_path / "short.tar.gz"], "cifar-10")
    with tarfile.open(tmp_path / "link.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(InputError, match="link.tar.gz: archive member .*data_batch_1.bin is not a regular file"):
        cifar.read_cifar([tmp_path / "link.tar.gz"], "cifar-10")
    bad = dict(members, **{"test_batch.bin": members["test_batch.bin"][:-1]})
    write_tar(tmp_path / "trunc.tar.gz", bad, "cifar-10-batches-bin")
    with pytest.raises(InputError, match="trunc.tar.gz:cifar-10-batches-bin/test_batch.bin: .*not a whole number"):
        cifar.read_cifar([tmp_path / "trunc.tar.gz"], "cifar-10")


def test_make_cifar10_catdog(tmp_path):
    tarball = write_tar(tmp_path / "c10.tar.gz", cifar10_files(per_batch=100), "cifar-10-batches-bin")
    clean = build("cifar10-catdog", params("cifar10-catdog", seed=4), str(tarball))
    noisy = build("cifar10-catdog", params("cifar10-catdog", seed=4, noise_variance=0.05), str(tarball))
    assert [len(clean[f"y_{s}"]) for s in ("train", "val", "test")] == [96, 12, 12]  # 120 cats and dogs, 80/10/10
    for s in ("train", "val", "test"):
        X, y = clean[f"X_{s}"], clean[f"y_{s}"]
        assert X.dtype == np.float32 and X.shape[1:] == (3, 32, 32) and X.min() >= 0 and X.max() <= 1
        blue = np.rint(X[:, 2, 0, 0] * 255).astype(int)  # the blue plane holds the CIFAR label
        assert set(blue) <= {3, 5} and np.array_equal(y, (blue == 5).astype(int))
        # the same split at every variance; noise of that variance on every split
        assert np.array_equal(noisy[f"y_{s}"], y)
        noise = noisy[f"X_{s}"] - X
        assert abs(noise.mean()) < 0.01 and abs(noise.var() - 0.05) < 0.005
    clipped = build("cifar10-catdog", params("cifar10-catdog", seed=4, noise_variance=0.05, noise_clip=True),
                                         str(tarball))
    assert clipped["X_train"].min() == 0.0 and clipped["X_train"].max() == 1.0
    assert noisy["X_train"].min() < 0.0  # unclipped by default: the variance is exactly the configured one
    other = build("cifar10-catdog", params("cifar10-catdog", seed=5), str(tarball))
    assert not np.array_equal(other["X_test"], clean["X_test"])
    with pytest.raises(ConfigError, match="must sum to 1"):
        build("cifar10-catdog", params("cifar10-catdog", split=[0.8, 0.1, 0.2]), str(tarball))


def test_make_cifar100(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for m, data in cifar100_files(n_train=50, n_test=20).items():
        (folder / m).write_bytes(data)
    files = raw.raw_paths("cifar100", str(tmp_path))
    assert files == [str(folder / m) for m in CIFAR100_MEMBERS]
    d = build("cifar100", params("cifar100", seed=0), *files)
    assert [len(d[f"y_{s}"]) for s in ("train", "val", "test")] == [45, 5, 20]
    assert d["X_train"].shape[1:] == (3, 32, 32) and d["X_train"].dtype == np.float32
    assert d["y_test"].tolist() == list(range(20))  # fine labels, official test order
    for s in ("train", "val", "test"):  # the blue plane holds the fine label
        assert np.array_equal(np.rint(d[f"X_{s}"][:, 2, 0, 0] * 255).astype(int), d[f"y_{s}"])
    n = build("cifar100", params("cifar100", seed=0, normalize=True), *files)
    assert np.allclose(n["X_test"][:, 1], (2 / 255 - cifar.CIFAR100_MEAN[1]) / cifar.CIFAR100_STD[1])


def test_raw_paths():
    assert raw.raw_paths("synthetic") == [] and raw.raw_paths("digits", "/x") == []
    assert raw.raw_paths("mnist") == [f"results/raw/mnist/{f}" for f in raw_files("mnist")]
    assert raw.raw_paths("cifar100") == ["results/raw/cifar-100/cifar-100-binary.tar.gz"]
    assert raw.raw_paths("cifar10-catdog", "/nowhere") == ["/nowhere/cifar-10-binary.tar.gz"]  # reported missing


def test_default_config_downloads_nothing():
    cfg = C.validate(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMA)
    assert all(raw.raw_paths(d["kind"], d.get("raw_dir")) == [] for d in cfg["datasets"].values())


def test_schema_defaults_and_errors_for_the_real_kinds():
    assert params("cifar10-catdog") == {"kind": "cifar10-catdog", "seed": 0, "noise_variance": 0.0, "noise_clip": False,
                                        "split": [0.8, 0.1, 0.1], "max_train": 0, "max_val": 0, "max_test": 0}
    assert params("cifar100", raw_dir="/d")["normalize"] is False and params("mnist")["val_fraction"] == 0.1
    with pytest.raises(ConfigError, match=r"datasets\.d\.val_fraction: 1\.0 is greater than or equal to the maximum"):
        params("mnist", val_fraction=1.0)
    with pytest.raises(ConfigError, match=r"unknown key 'noise_variance'.*allowed keys: .*'raw_dir', 'reduced'"):
        params("mnist", noise_variance=0.1)
