"""A data set's raw_dir files are checked as downloads are: against the published SHA-256 of the file or of
its uncompressed content, or a checksum the user declares; a mismatch names the file and never says to
download it again."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import NO_SHARED_MNIST, SHARED_MNIST
from realformats import CIFAR10_MEMBERS, cifar10_files, write_mnist

from softlabels.data import build
from softlabels.data.download import set_aside_bad_download
from softlabels.data.raw import raw_paths, verify_own_files
from softlabels.errors import InputError
from softlabels.registry import SOURCES

needs_mnist = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=NO_SHARED_MNIST)


@needs_mnist
def test_official_mnist_passes_gzipped_recompressed_or_gunzipped(tmp_path):
    """The shared copies are re-compressed (their .gz bytes are not the download's), so they pass through
    the uncompressed content's published checksum; a gunzipped copy passes the same way."""
    files = raw_paths("mnist", str(SHARED_MNIST))
    assert all(Path(f).suffix == ".gz" for f in files)
    assert verify_own_files("mnist", files) == []
    small = tmp_path / "t10k-labels-idx1-ubyte"
    small.write_bytes(gzip.decompress((SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    assert hashlib.sha256(small.read_bytes()).hexdigest() == SOURCES["mnist"].content[small.name][0]
    assert verify_own_files("mnist", [str(small)]) == []


@needs_mnist
@pytest.mark.parametrize("damage", ["flip", "truncate", "gunzipped-flip"])
def test_a_damaged_copy_is_refused_naming_the_file(tmp_path, damage):
    src = SHARED_MNIST / "t10k-labels-idx1-ubyte.gz"
    if damage == "gunzipped-flip":
        bad = tmp_path / "t10k-labels-idx1-ubyte"
        data = bytearray(gzip.decompress(src.read_bytes()))
        data[100] ^= 1  # one label changed: still a valid IDX file the reader would accept
        bad.write_bytes(bytes(data))
    else:
        bad = tmp_path / src.name
        data = src.read_bytes()
        bad.write_bytes(data[: len(data) // 2] if damage == "truncate"
                        else gzip.compress(_flip(gzip.decompress(data)), mtime=0))
    with pytest.raises(InputError) as err:
        verify_own_files("mnist", [str(bad)])
    msg = str(err.value)
    assert msg.startswith(str(bad)) and "not the official checksum" in msg
    assert SOURCES["mnist"].content["t10k-labels-idx1-ubyte"][0] in msg
    assert "download" not in msg.lower() and "replace it with a good copy" in msg
    assert f"sha256: {{{bad.name}: {hashlib.sha256(bad.read_bytes()).hexdigest()}}}" in msg


def _flip(data: bytes) -> bytes:
    out = bytearray(data)
    out[100] ^= 1
    return bytes(out)


def test_a_declared_checksum_accepts_a_copy_and_a_wrong_one_is_named(tmp_path):
    """Files that are not MNIST's official bytes (the tests' tiny ones) need their checksums declared."""
    write_mnist(tmp_path, n_train=20, n_test=10)
    files = raw_paths("mnist", str(tmp_path))
    with pytest.raises(InputError, match="not the official checksum"):
        verify_own_files("mnist", files)
    declared = {Path(f).name: hashlib.sha256(Path(f).read_bytes()).hexdigest().upper() for f in files}
    assert verify_own_files("mnist", files, declared) == []
    wrong = {**declared, Path(files[0]).name: "0" * 64}
    with pytest.raises(InputError, match=f"declared in the data set's sha256.{Path(files[0]).name}"):
        verify_own_files("mnist", files, wrong)


def test_extracted_cifar_records_have_no_published_checksum(tmp_path):
    for name, data in cifar10_files(4).items():
        (tmp_path / name).write_bytes(data)
    files = raw_paths("cifar10-catdog", str(tmp_path))
    assert sorted(Path(f).name for f in files) == sorted(CIFAR10_MEMBERS)
    assert verify_own_files("cifar10-catdog", files) == files  # read with the format checks only, and logged
    tar = tmp_path / "other" / "cifar-10-binary.tar.gz"
    tar.parent.mkdir()
    tar.write_bytes(b"not the archive")
    with pytest.raises(InputError, match=SOURCES["cifar-10"].files["cifar-10-binary.tar.gz"][0]):
        verify_own_files("cifar10-catdog", [str(tar)])


def test_an_unreadable_own_file_is_left_in_place_and_not_downloaded(tmp_path):
    own = tmp_path / "mine"
    write_mnist(own, n_train=20, n_test=10)
    target = own / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:40])  # truncated gzip
    files = raw_paths("mnist", str(own))
    with pytest.raises(InputError) as err:
        build("mnist", {"kind": "mnist", "seed": 0, "reduced": False, "val_fraction": 0.1, "max_train": 0,
                        "max_val": 0, "max_test": 0}, *files)
    msg = str(set_aside_bad_download(err.value, files))
    assert msg.startswith(str(target)) and "raw_dir" in msg and "replace it with a good copy" in msg
    assert "download it again" not in msg and "moved aside" not in msg
    assert target.is_file()
