"""Downloads against a real HTTP server on 127.0.0.1 (http.server in a thread, an ephemeral port):
good files land verified; bad checksums, dropped connections, timeouts and HTTP errors give one
DownloadError, within the retry bound, and leave nothing that looks complete."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import SCHEMA, snakemake
from realformats import cifar10_files, cifar100_files, write_mnist, write_tar

import softlabels.pipeline.config as C
from softlabels.data.download import fetch, sha256_file
from softlabels.errors import DownloadError
from softlabels.registry import SOURCES

BODY = bytes(range(256)) * 400  # 100 kB
SHA = hashlib.sha256(BODY).hexdigest()
FAST = dict(retries=3, timeout=2.0, backoff=0.01)


class Handler(BaseHTTPRequestHandler):
    """Serves ``files`` under /<name>; /drop/<name> closes after half the body, /flaky/<name> does that
    on the first request only, /slow/<name> stalls after the headers, /status/<code> answers that code."""

    files: dict[str, bytes] = {}
    hits: Counter = Counter()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits[self.path] += 1
        parts = self.path.strip("/").split("/")
        if parts[0] == "status":
            self.send_error(int(parts[1]))
            return
        body = self.files.get(parts[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if parts[0] == "slow":
            time.sleep(1.0)
        elif parts[0] == "drop" or (parts[0] == "flaky" and self.hits[self.path] == 1):
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    """A local HTTP server for the module; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fresh_server_state():
    Handler.files = {"good.bin": BODY}
    Handler.hits.clear()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_file_lands_verified(server, tmp_path):
    dest = fetch(f"{server}/good.bin", tmp_path / "raw" / "good.bin", SHA, **FAST)
    assert dest.read_bytes() == BODY and sha256_file(dest) == SHA
    assert leftovers(tmp_path / "raw") == ["good.bin"]  # no temporary file left beside it


def test_checksum_mismatch_keeps_nothing_and_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        fetch(f"{server}/good.bin", tmp_path / "good.bin", "0" * 64, size=123, **FAST)
    msg = str(err.value)
    assert f"{server}/good.bin" in msg and "SHA-256 mismatch" in msg and SHA in msg and "raw_dir" in msg
    assert leftovers(tmp_path) == [] and Handler.hits["/good.bin"] == 1


def test_dropped_connection_is_retried_a_bounded_number_of_times(server, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"failed after 3 attempts; last error: connection closed after "
                                            r"51200 of 102400 bytes") as err:
        fetch(f"{server}/drop/good.bin", tmp_path / "good.bin", SHA, **FAST)
    assert "raw_dir" in str(err.value)
    assert Handler.hits["/drop/good.bin"] == 3 and time.monotonic() - t0 < 10
    assert leftovers(tmp_path) == []


def test_a_dropped_connection_then_a_good_one_succeeds(server, tmp_path):
    dest = fetch(f"{server}/flaky/good.bin", tmp_path / "good.bin", SHA, **FAST)
    assert dest.read_bytes() == BODY and Handler.hits["/flaky/good.bin"] == 2


def test_timeout(server, tmp_path):
    with pytest.raises(DownloadError, match="failed after 2 attempts.*timed out"):
        fetch(f"{server}/slow/good.bin", tmp_path / "good.bin", SHA, retries=2, timeout=0.2, backoff=0.0)
    assert leftovers(tmp_path) == []


def test_http_errors(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404.*wrong base_url"):
        fetch(f"{server}/missing.bin", tmp_path / "x.bin", SHA, **FAST)
    assert Handler.hits["/missing.bin"] == 1  # not retried
    with pytest.raises(DownloadError, match="failed after 3 attempts; last error: HTTP 503"):
        fetch(f"{server}/status/503", tmp_path / "x.bin", SHA, **FAST)
    assert Handler.hits["/status/503"] == 3 and leftovers(tmp_path) == []


def test_refused_connection_and_bad_arguments(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="failed after 2 attempts.*(refused|Connection)"):
        fetch(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", SHA, retries=2, timeout=1.0, backoff=0.0)
    with pytest.raises(DownloadError, match="no valid SHA-256"):
        fetch(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", "abc")
    with pytest.raises(DownloadError, match="only http and https URLs"):
        fetch("nonsense", tmp_path / "x.bin", SHA, retries=1)
    assert leftovers(tmp_path) == []


def test_known_checksums_are_well_formed():
    known = {(source, f): v for source, s in SOURCES.items() for f, v in s.files.items()}
    assert set(known) == {("mnist", "train-images-idx3-ubyte.gz"), ("mnist", "train-labels-idx1-ubyte.gz"),
                          ("mnist", "t10k-images-idx3-ubyte.gz"), ("mnist", "t10k-labels-idx1-ubyte.gz"),
                          ("cifar-10", "cifar-10-binary.tar.gz"), ("cifar-100", "cifar-100-binary.tar.gz")}
    assert all(len(sha) == 64 and int(sha, 16) >= 0 and size > 0 for sha, size in known.values())


@pytest.mark.slow
def test_real_kinds_through_the_workflow(server, tmp_path):
    """make_data for each real kind through the real workflow: MNIST fetched by download_raw from the
    local mirror (its checksums set in the config), CIFAR-10 and CIFAR-100 from raw_dir (a tarball, the
    extracted .bin files); a CIFAR-100 mirror serving other bytes fails that job cleanly, leaving no file."""
    mnist = write_mnist(tmp_path / "mirror", n_train=30, n_test=10)
    Handler.files = {p.name: p.read_bytes() for p in (tmp_path / "mirror").iterdir()}
    Handler.files["cifar-100-binary.tar.gz"] = b"not the archive"
    raw = tmp_path / "raw"
    write_tar(raw / "c10" / "cifar-10-binary.tar.gz", cifar10_files(), "cifar-10-batches-bin")
    (raw / "c100").mkdir()
    for m, data in cifar100_files().items():
        (raw / "c100" / m).write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    ubyte = {n: hashlib.sha256(b).hexdigest() for n, b in Handler.files.items() if "ubyte" in n}
    cfg = {"datasets": {"mn": {"kind": "mnist", "val_fraction": 0.2},
                        "cd": {"kind": "cifar10-catdog", "noise_variance": 0.01, "raw_dir": str(raw / "c10"),
                               # not the official archive: its checksum declared, as for a mirror's copy
                               "sha256": {"cifar-10-binary.tar.gz":
                                          hashlib.sha256((raw / "c10/cifar-10-binary.tar.gz").read_bytes()).hexdigest()}},
                        "c100": {"kind": "cifar100", "val_fraction": 0.2, "raw_dir": str(raw / "c100")},
                        "c100-dl": {"kind": "cifar100"}},
           "downloads": {"retries": 2, "backoff": 0.0, "timeout": 5,
                         "mnist": {"base_url": f"{server}/", "sha256": ubyte},
                         "cifar-100": {"base_url": server}},
           "teachers": {"t": {}}, "methods": {"h": {"kind": "hard"}}, "students": {"s": {"widths": [2]}},
           "experiments": {"e": {"datasets": ["mn", "cd", "c100", "c100-dl"], "teachers": ["t"], "methods": ["h"],
                                 "students": ["s"]}}}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"results/data/{d}/data.npz" for d in cfg["datasets"]]
    proc = snakemake(work, *targets, "--cores", "2", "--keep-going", "--configfile", str(work / "config.yaml"),
                     check=False, timeout=120)
    assert proc.returncode != 0  # the CIFAR-100 download failed; the rest went through
    sizes = {d: {s: len(np.load(work / f"results/data/{d}/data.npz")[f"y_{s}"]) for s in ("train", "val", "test")}
             for d in ("mn", "cd", "c100")}
    assert sizes == {"mn": {"train": 24, "val": 6, "test": 10}, "cd": {"train": 19, "val": 2, "test": 3},
                     "c100": {"train": 40, "val": 10, "test": 20}}
    d = np.load(work / "results/data/mn/data.npz")
    assert np.allclose(d["X_test"] * 255, mnist["test"][0].reshape(10, -1))
    assert leftovers(work / "results/raw/mnist") == sorted(ubyte)
    assert not (work / "results/raw/cifar-10").exists()  # raw_dir: nothing downloaded
    meta = yaml.safe_load((work / "results/data/cd/data.json").read_text())
    assert list(meta["raw_sha256"]) == [str(raw / "c10" / "cifar-10-binary.tar.gz")]
    assert leftovers(work / "results/raw/cifar-100") == [] and not (work / "results/data/c100-dl").exists()
    log = (work / "logs/download_raw/cifar-100/cifar-100-binary.tar.gz.log").read_text()
    assert "SHA-256 mismatch" in log and "raw_dir" in log and "cifar100" in log
    assert Handler.hits["/cifar-100-binary.tar.gz"] == 1


def test_download_slice_takes_the_configs_mirror_and_checksum():
    cfg = {"datasets": {"d": {"kind": "mnist"}}, "teachers": {"t": {}}, "methods": {"h": {"kind": "hard"}},
           "students": {"s": {"widths": [2]}},
           "experiments": {"e": {"datasets": ["d"], "teachers": ["t"], "methods": ["h"], "students": ["s"]}},
           "downloads": {"mnist": {"base_url": "http://mirror/mnist", "sha256": {"t10k-labels-idx1-ubyte.gz": "A" * 64}}}}
    cfg = C.validate(cfg, SCHEMA)
    assert C.download_slice(cfg, "mnist", "t10k-labels-idx1-ubyte.gz") == {
        "url": "http://mirror/mnist/t10k-labels-idx1-ubyte.gz", "sha256": "a" * 64, "size": None,
        "retries": 4, "timeout": 60.0, "backoff": 2.0}
    built_in = C.download_slice(cfg, "cifar-10", "cifar-10-binary.tar.gz")
    assert built_in["url"] == "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    assert (built_in["sha256"], built_in["size"]) == SOURCES["cifar-10"].files["cifar-10-binary.tar.gz"]
