"""Bad input, second round: configs that would silently change what is trained, numbers
outside their domain, divergence that stays finite, key order, nested --config, and the downloader's
scheme, size cap and corrupt cache. Each test asserts the message's key phrase and that no finished
output is lost."""

import gzip
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, SCHEMA, TINY, micro_config, snakemake, write_config

from softlabels.data import build
from softlabels.data import download as D
from softlabels.data.synthetic import make_synthetic
from softlabels.errors import ConfigError, DivergenceError, DownloadError, InputError
from softlabels.pipeline import config as C
from softlabels.pipeline.rules import in_cell
from softlabels.training import trainer as T
from softlabels.training.methods import make_method


def _tiny():
    return yaml.safe_load(TINY.read_text())


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "results").rglob("*")) if p.is_file()}


# --- canonical params ------------------------------------------------------------------------

def _reordered(node, floats_as_ints=True):
    """The same values, keys in reverse order at every level, 4.0 written as 4."""
    if isinstance(node, dict):
        return {k: _reordered(node[k], floats_as_ints) for k in reversed(list(node))}
    if isinstance(node, list):
        return [_reordered(v, floats_as_ints) for v in node]
    if floats_as_ints and isinstance(node, float) and node.is_integer():
        return int(node)
    return node


def test_slices_are_canonical_whatever_the_key_order_and_4_vs_4_0():
    a = C.validate(_tiny(), SCHEMA)
    b = C.validate(_reordered(_tiny()), SCHEMA)
    slices = [(C.dataset_slice, "datasets"), (C.teacher_slice, "teachers"), (C.student_slice, "students")]
    for fn, section in slices:
        for name in a[section]:
            assert repr(fn(a, name)) == repr(fn(b, name))
    for variant in C.method_variants(a):
        assert repr(C.method_slice(a, variant)) == repr(C.method_slice(b, variant))
    assert repr(a) == repr(b)
    st = C.student_slice(b, "practical")
    assert list(st) == sorted(st) and isinstance(st["lr"], float) and isinstance(st["epochs"], int)


def test_a_config_rewritten_in_another_key_order_reruns_nothing(micro_run, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(micro_run, work, symlinks=True)
    before = _files(work)
    cfg = _reordered(micro_config())
    assert cfg["students"]["theory"]["lr"] == 4 and isinstance(cfg["students"]["theory"]["lr"], int)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(work, "--dry-run", "--configfile", str(work / "config.yaml"))
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert _files(work) == before


# --- one name, one thing -------------------------------------------------------------------

def test_a_method_named_like_a_sweep_variant_is_an_error_naming_both():
    cfg = _tiny()
    cfg["methods"]["kd-tau-T1"] = {"kind": "hard"}
    with pytest.raises(ConfigError, match=r"methods\.kd-tau-T1: the name 'kd-tau-T1' is given twice: by the "
                                          r"temperature sweep methods\.kd-tau .* and by method 'kd-tau-T1'"):
        C.validate(cfg, SCHEMA)
    cfg = _tiny()
    cfg["methods"]["kd-tau"]["temperature"] = [4, 4.0]
    with pytest.raises(ConfigError, match="given twice"):
        C.validate(cfg, SCHEMA)


def test_duplicate_yaml_keys_are_an_error_with_file_and_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("methods:\n  kd: {kind: kd}\n  hard: {kind: hard}\n  kd: {kind: hard}\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml, line 4: key 'kd' is defined twice .*first at line 2"):
        C.read_yaml(path)
    merged = tmp_path / "merge.yaml"  # a merge key's keys may be overridden: that is not a duplicate
    merged.write_text("base: &b {lr: 0.1, epochs: 3}\nteachers:\n  t: {<<: *b, lr: 0.2}\n")
    assert C.read_yaml(merged)["teachers"]["t"] == {"lr": 0.2, "epochs": 3}
    assert C.read_yaml(ROOT / "config" / "paper.yaml")["teachers"]  # the paper preset uses merge keys


def test_the_workflow_refuses_a_configfile_with_a_duplicate_key_and_nested_config(micro_run, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(micro_run, work, symlinks=True)
    before = _files(work)
    text = yaml.safe_dump(micro_config(), sort_keys=False)
    (work / "dup.yaml").write_text(text + "seed: 3\n")
    proc = snakemake(work, "--dry-run", "--configfile", str(work / "dup.yaml"), check=False)
    assert proc.returncode != 0 and "key 'seed' is defined twice" in proc.stdout + proc.stderr
    proc = snakemake(work, "--dry-run", "--configfile", str(work / "config.yaml"), "--config",
                     'tables={"n_boot": 20}', check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "pass nested values in a config file (--configfile FILE)" in out
    assert _files(work) == before


# --- domains -------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate,pattern", [
    (lambda c: c["methods"]["kd"].update(temperature=float("inf")), r"methods\.kd\.temperature: inf must be a finite"),
    (lambda c: c["datasets"]["easy"].update(label_noise=float("nan")), r"datasets\.easy\.label_noise: nan must be"),
    (lambda c: c["students"]["practical"].update(lr=float("inf")), r"students\.practical\.lr: inf must be"),
    (lambda c: c["methods"]["kd"].update(temperature=1e300), r"methods\.kd\.temperature: .*maximum of 100"),
    (lambda c: c["methods"]["kd"].update(temperature=1e-300), r"methods\.kd\.temperature: .*minimum of 0\.01"),
    (lambda c: c["datasets"].update(dg={"kind": "digits", "split": [0.5, 0.6, 0.1]}),
     r"datasets\.dg\.split: .*must sum to 1"),
    (lambda c: c["datasets"].update(dg={"kind": "digits", "split": [0.0, 0.5, 0.5]}),
     r"datasets\.dg\.split: the train and test fractions must be positive"),
    (lambda c: c["datasets"].update(dg={"kind": "digits", "split": [1.2, -0.3, 0.1]}),
     r"datasets\.dg\.split\.1: .*minimum of 0"),
    (lambda c: c["datasets"].update(cd={"kind": "cifar10-catdog", "split": [0.8, 0.2, 0.0]}),
     r"datasets\.cd\.split: the train and test fractions must be positive"),
    (lambda c: c.update(tables='{"n_boot": 20}'), r"config key tables: .*pass nested values in a config file"),
    (lambda c: c.update(tables={"n_boot": "20"}), r"config key tables\.n_boot: .*pass nested values in a config file"),
    (lambda c: c["downloads"].update(timeout=1e300) if "downloads" in c else c.update(downloads={"timeout": 1e300}),
     r"downloads\.timeout: .*maximum"),
])
def test_numbers_outside_their_domain_name_the_key(mutate, pattern):
    cfg = _tiny()
    mutate(cfg)
    with pytest.raises(ConfigError, match=pattern):
        C.validate(cfg, SCHEMA)


def test_digits_split_without_validation_and_with_no_test_point():
    arrays = build("digits", {"kind": "digits", "seed": 0, "reduced": False, "split": [0.8, 0.0, 0.2]})
    assert "y_val" not in arrays and len(arrays["y_train"]) and len(arrays["y_test"])
    with pytest.raises(ConfigError, match="the test fraction 0.0001 of 1797 points gives an empty test split"):
        build("digits", {"kind": "digits", "seed": 0, "reduced": False, "split": [0.9999, 0.0, 0.0001]})


# --- divergence guard ----------------------------------------------------------------------

DATA = make_synthetic({"dim": 4, "n_train": 48, "n_val": 0, "n_test": 100, "margin": 0.2, "seed": 1,
                       "target": "linear", "target_hidden": 8, "label_noise": 0.0})
PRACTICAL = dict(regime="practical", epochs=30, lr=1e6, optimizer="adam", momentum=0.9, weight_decay=0.0,
                 batch_size=0, radius=8.0, patience=0, resampling="bootstrap", replicates=3)


def test_a_finite_divergence_stops_training_naming_replicate_epoch_and_cause():
    with pytest.raises(DivergenceError, match=r"diverged at epoch \d+: the training loss of replicate\(s\) \[0, 1, 2\] "
                                              r"grew by over 1000x .*learning rate too high: lower lr"):
        T.train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), PRACTICAL, 8, [0, 1, 2], 0)
    res = T.train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), {**PRACTICAL, "lr": 0.01},
                      8, [0, 1, 2], 0)  # an ordinary lr trains
    assert np.isfinite(res.history["train_loss"]).all()


def test_weights_beyond_the_bound_stop_training(monkeypatch):
    monkeypatch.setattr(T, "WEIGHT_BOUND", 1e-3)
    with pytest.raises(DivergenceError, match=r"replicate\(s\) \[0, 1\] have weights beyond the bound 0.001"):
        T.train_mlp(DATA["X_train"], DATA["y_train"], make_method({"kind": "hard"}), {**PRACTICAL, "lr": 0.01},
                    8, [0, 1], 0)


def test_the_guard_per_replicate_and_the_cell_prefix():
    g = T.DivergenceGuard()
    g.check_loss(np.array([0.7, 1e-6]), 0)
    g.check_loss(np.array([600.0, 900.0]), 1)  # over 1000x the tiny start, but under the floor's 1000
    with pytest.raises(DivergenceError, match=r"dataset d, width 4: training diverged at epoch 2: .*replicate\(s\) "
                                              r"\[0\] grew by over 1000x \(replicate 0: 1.2e\+03 now, 0.7 at the first"):
        with in_cell(dataset="d", width=4):
            g.check_loss(np.array([1200.0, 900.0]), 2)


def test_a_diverging_student_job_fails_with_its_cell_and_writes_nothing(tmp_path):
    cfg = micro_config()
    cfg["methods"] = {"hard": {"kind": "hard"}}
    cfg["students"] = {"fast": {"regime": "practical", "widths": [8], "replicates": 2, "epochs": 20, "lr": 1.0e6}}
    cfg["experiments"]["e"].update(methods=["hard"], students=["fast"])
    write_config(tmp_path, cfg)
    group = tmp_path / "results/students/easy/none/hard/fast"  # the student job's output: its group's folder
    cell = group / "m8"
    proc = snakemake(tmp_path, str(group.relative_to(tmp_path)), "--cores", "1", "--keep-going", "--configfile",
                     str(tmp_path / "config.yaml"), check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs/train_students/easy/none/hard/fast.log").read_text()
    assert ("dataset easy, teacher none, method hard, student fast: width 8: training diverged at epoch" in log
            and "learning rate too high" in log and "Traceback" not in log)
    assert not cell.exists() or not any(cell.iterdir())
    assert not group.exists() and not (group.parent / ".fast.partial").exists()  # nothing that looks complete
    assert (tmp_path / "results/data/easy/data.npz").is_file()  # the finished data set stays


# --- downloader ----------------------------------------------------------------------------

BIG = bytes(range(256)) * 12288  # 3 MiB


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        if not self.path.startswith("/nolength/"):
            self.send_header("Content-Length", str(len(BIG)))
        self.end_headers()
        try:
            self.wfile.write(BIG)
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def big_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SHA = "0" * 64


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.bin", "nonsense"])
def test_only_http_and_https_are_downloaded(url, tmp_path):
    with pytest.raises(DownloadError, match="only http and https URLs are downloaded"):
        D.fetch(url, tmp_path / "x.bin", SHA, retries=1)
    assert list(tmp_path.iterdir()) == []


def test_a_download_larger_than_expected_is_stopped(big_server, tmp_path, monkeypatch):
    with pytest.raises(DownloadError, match=r"stopped: the server announces 3145728 bytes, but the file has 1000"):
        D.fetch(f"{big_server}/x.bin", tmp_path / "x.bin", SHA, size=1000, retries=1)
    with pytest.raises(DownloadError, match=r"stopped: more than \d+ bytes arrived, but the file has 1000 bytes"):
        D.fetch(f"{big_server}/nolength/x.bin", tmp_path / "x.bin", SHA, size=1000, retries=1)
    monkeypatch.setattr(D, "MAX_UNKNOWN_SIZE", 1 << 20)
    with pytest.raises(DownloadError, match=r"more than 1048576 bytes arrived, but at most 1048576 bytes"):
        D.fetch(f"{big_server}/nolength/x.bin", tmp_path / "x.bin", SHA, retries=1)
    assert list(tmp_path.iterdir()) == []
    assert D.size_cap(1000) == 1000 + (1 << 20) and D.size_cap(200 << 20) == (200 << 20) + (2 << 20)


def test_a_corrupt_cached_download_is_moved_aside_with_the_command(tmp_path, monkeypatch):
    """A cached download is moved aside and fetched again; a damaged file of the user's own raw_dir is left
    where it is, and the message says to replace it (not to download it: nothing would)."""
    from softlabels.data.common import read_raw

    monkeypatch.chdir(tmp_path)
    files = [Path(p) for p in _raw_paths("mnist")]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(gzip.compress(b"x" * 100)[:30])  # gzip magic, truncated
    with pytest.raises(InputError) as err:
        build("mnist", {"kind": "mnist", "seed": 0, "reduced": False, "val_fraction": 0.1, "max_train": 0,
                        "max_val": 0, "max_test": 0}, *map(str, files))
    exc = D.set_aside_bad_download(err.value, [str(f) for f in files])
    bad = [f for f in files if not f.exists()]
    assert len(bad) == 1 and bad[0].with_name(bad[0].name + ".corrupt").is_file()
    msg = str(exc)
    assert "moved aside to" in msg and f"snakemake --cores 1 {bad[0]}" in msg
    own = tmp_path / "mine" / "train-images-idx3-ubyte.gz"  # a raw_dir file is the user's: left in place
    own.parent.mkdir()
    own.write_bytes(gzip.compress(b"x" * 100)[:12])  # gzip magic, truncated
    with pytest.raises(InputError) as err:
        read_raw(own)
    msg = str(D.set_aside_bad_download(err.value, [str(own)]))
    assert msg.startswith(f"{own}: gzip data is truncated or corrupt") and "replace it with a good copy" in msg
    assert "download it again" not in msg and "moved aside" not in msg
    assert own.exists()


def _raw_paths(kind):
    from softlabels.data.raw import raw_paths

    return raw_paths(kind)
