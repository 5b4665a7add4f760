"""The store of trained cells (``softlabels.pipeline.store``): adding a width or replicates trains only what is new,
with earlier results byte-identical; a changed learning rate, data set, package source or library version is a
miss; entries and outputs share no bytes, and a damaged entry is replaced."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import micro_config, planned_jobs, snakemake, write_config

from softlabels.io import atomic_path as write_atomic
from softlabels.io import read_npz
from softlabels.pipeline import store as S

CELLS = ("easy/none/hard/theory", "easy/wide/kd/theory")
LOGS = ("logs/train_students/easy/none/hard/theory.log", "logs/train_students/easy/wide/kd/theory.log")


def _edit(run, fn):
    path = run / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    fn(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _run(work, *targets):
    snakemake(work, *targets, "--cores", "2", "--configfile", str(work / "config.yaml"))


def _trained(log_text):
    """(trained widths, reused widths) from a student job's last 'training seconds' line."""
    m = re.findall(r"training seconds: ([\d.]+) for widths (\[[^\]]*\]); reused from the store: (.*)", log_text)[-1]
    return float(m[0]), json.loads(m[1]), m[2].strip()


@pytest.fixture
def micro_copy(micro_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(micro_run, dst, symlinks=True)
    return dst


@pytest.mark.slow
def test_adding_a_width_trains_only_the_new_width(micro_copy):
    run = micro_copy
    before = {(c, f): (run / f"results/students/{c}/m4/{f}").read_bytes() for c in CELLS
              for f in ("replicates.npz", "meta.json", "biasvar_points.npz")}
    table = pd.read_csv(run / "results/tables/neurons.csv")
    _edit(run, lambda c: c["students"]["theory"]["widths"].append(8))
    _run(run)
    for (c, f), data in before.items():
        assert (run / f"results/students/{c}/m4/{f}").read_bytes() == data, (c, f)
    after = pd.read_csv(run / "results/tables/neurons.csv")
    assert set(after["width"]) == {4, 8}
    pd.testing.assert_frame_equal(after[after["width"] == 4].reset_index(drop=True), table.reset_index(drop=True))
    for c, log in zip(CELLS, LOGS):
        seconds, trained, reused = _trained((run / log).read_text())
        assert trained == [8] and reused == "[4]", (log, trained, reused)
        meta = json.loads((run / f"results/students/{c}/m8/meta.json").read_text())
        assert meta["packed_widths"] == [8] and meta["seconds"] == pytest.approx(seconds, abs=0.006)
        assert "reused from store entry" in (run / log).read_text()
    assert (run / "results/store/reuse.log").read_text().count("m4/meta.json") == 2


@pytest.mark.slow
def test_raising_replicates_trains_only_the_new_ones_and_equals_a_fresh_run(micro_copy, tmp_path):
    run = micro_copy
    _edit(run, lambda c: c["students"]["theory"].update(replicates=4))
    _run(run)
    for log in LOGS:
        text = (run / log).read_text()
        assert "replicates 0..1 reused from store entry" in text and "replicates 2..3, packed" in text
    fresh = tmp_path / "fresh"
    cfg = micro_config()
    cfg["students"]["theory"]["replicates"] = 4
    write_config(fresh, cfg)
    _run(fresh, *[f"results/students/{c}" for c in CELLS])
    for c in CELLS:
        for f in ("replicates.npz", "biasvar_points.npz"):
            a = read_npz(run / f"results/students/{c}/m4/{f}")
            b = read_npz(fresh / f"results/students/{c}/m4/{f}")
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_allclose(a[k], b[k], atol=1e-6, rtol=0, err_msg=f"{c} {f} {k}")
                assert a[k].tobytes() == b[k].tobytes(), (c, f, k)  # on the CPUs tested: the same bytes
        meta = json.loads((run / f"results/students/{c}/m4/meta.json").read_text())
        assert meta["reused_replicates"] == 2 and len(meta["test_accuracy"]) == 4


@pytest.mark.slow
def test_a_changed_learning_rate_retrains(micro_copy):
    run = micro_copy
    old = read_npz(run / f"results/students/{CELLS[0]}/m4/replicates.npz")["test_logits"]
    _edit(run, lambda c: c["students"]["theory"].update(lr=2.0))
    _run(run)
    for log in LOGS:
        _, trained, reused = _trained((run / log).read_text())
        assert trained == [4] and reused == "none"
    assert not np.array_equal(read_npz(run / f"results/students/{CELLS[0]}/m4/replicates.npz")["test_logits"], old)


@pytest.mark.slow
def test_a_changed_test_split_retrains(micro_copy):
    """The key fingerprints every split: a smaller test set (the training split unchanged) is a miss, and
    the stored test logits are those of the new test set."""
    run = micro_copy
    _edit(run, lambda c: c["datasets"]["easy"].update(n_test=80))
    _run(run)
    for log in LOGS:
        _, trained, reused = _trained((run / log).read_text())
        assert trained == [4] and reused == "none"
    assert read_npz(run / f"results/students/{CELLS[0]}/m4/replicates.npz")["test_logits"].shape[1] == 80


@pytest.mark.slow
def test_a_distilling_auto_radius_that_resolves_to_1_reuses_its_b1_sibling(tmp_path):
    """Radius list [1, auto] with the kernel-limit teacher: the KD group's auto radius resolves to B = 1, so
    it waits for its B = 1 sibling and copies its store entry (nothing trained) with its own meta.json; the
    hard-label group's auto radius is Ji-Telgarsky's, trained."""
    cfg = micro_config()
    cfg["datasets"]["easy"].update(target="kernel", target_hidden=2, margin=0.02, n_val=16)
    cfg["teachers"] = {"kernel": {"model": "kernel"}}
    cfg["methods"]["kd"] = {"kind": "kd", "temperature": 1.0}
    cfg["students"]["theory"]["radius"] = [1, "auto"]
    cfg["experiments"]["e"]["teachers"] = ["kernel"]
    write_config(tmp_path, cfg)
    _run(tmp_path, *[f"results/students/easy/{t}/{m}/theory-B{b}" for t, m in (("kernel", "kd"), ("none", "hard"))
                     for b in ("1", "auto")])
    kd_auto = (tmp_path / "logs/train_students/easy/kernel/kd/theory-Bauto.log").read_text()
    assert "reused from store entry" in kd_auto and _trained(kd_auto)[1] == []
    assert _trained((tmp_path / "logs/train_students/easy/none/hard/theory-Bauto.log").read_text())[1] == [4]
    b1, auto = (tmp_path / f"results/students/easy/kernel/kd/theory-B{b}/m4" for b in ("1", "auto"))
    for f in ("replicates.npz", "biasvar_points.npz"):
        assert (b1 / f).read_bytes() == (auto / f).read_bytes()
    meta = json.loads((auto / "meta.json").read_text())
    assert meta["cell"]["student"] == "theory-Bauto" and meta["computed_for"]["student"] == "theory-B1"
    assert meta["config"]["student"]["radius"] == "auto" and meta["radius_used"] == 1.0
    assert "kernel-limit teacher" in meta["radius_rule"]
    assert json.loads((b1 / "meta.json").read_text())["cell"]["student"] == "theory-B1"  # the entry is untouched


@pytest.mark.slow
def test_a_truncated_entry_leaves_the_outputs_and_a_forced_run_replaces_it(micro_copy):
    """Truncating every store file leaves the finished outputs whole (nothing to do); a forced re-run finds
    the entries damaged, trains, and keeps good entries in their place."""
    run = micro_copy
    store = S.Store(run / "results/store")
    outputs = {c: (run / f"results/students/{c}/m4/replicates.npz").read_bytes() for c in CELLS}
    entries = sorted(store.root.glob("*/*/R2"))
    assert len(entries) == len(CELLS)
    for e in entries:
        f = e / "replicates.npz"
        f.chmod(0o644)
        with open(f, "w"):
            pass
    assert {c: (run / f"results/students/{c}/m4/replicates.npz").read_bytes() for c in CELLS} == outputs
    assert planned_jobs(run) == []
    _run(run, "--forcerun", "train_students")
    for log in LOGS:
        text = (run / log).read_text()
        assert "fails its checksums" in text and "removed the damaged entry" in text
        assert _trained(text)[1] == [4]
    assert all(store.verify(e) for e in entries)
    assert {c: (run / f"results/students/{c}/m4/replicates.npz").read_bytes() for c in CELLS} == outputs


# --- the store on its own --------------------------------------------------------------------------

STUDENT = {"regime": "theory", "widths": [4, 8], "replicates": 2, "epochs": 20, "lr": 4.0, "resampling": "bootstrap",
           "seed": 0, "compute": {"device": "auto"}}


ENV = {"torch": "2.13.0+cpu", "numpy": "2.4.6", "machine": "x86_64", "cpu_capability": "AVX2", "device": "cpu"}


def _key(**change):
    args = dict(data_fingerprint="d" * 16, teacher_fingerprint=None, method_p={"kind": "hard"}, student_p=STUDENT,
                width=4, radius=8.0, used={}, code="c" * 16, env=ENV)
    args.update(change)
    return S.cell_key(**args)


def _files(tmp_path, tag="x"):
    """A cell's files, each written as the pipeline writes results: a new file renamed into place."""
    out = {}
    for name, f in S.FILES.items():
        with write_atomic(tmp_path / f) as tmp:
            tmp.write_text(f"{tag} {name}")
        out[name] = str(tmp_path / f)
    return out


def test_a_write_to_an_output_leaves_the_entry_whole(tmp_path):
    """Outputs and entries are copies: truncating an output in place (not a rename) leaves the entry's bytes."""
    st = S.Store(tmp_path / "store")
    files = _files(tmp_path)
    entry = st.put(_key(), 2, files)
    for name, path in files.items():
        assert (entry / S.FILES[name]).stat().st_ino != Path(path).stat().st_ino
        assert not (entry / S.FILES[name]).stat().st_mode & 0o222  # the entry's files are read-only
        with open(path, "w"):  # truncated in place
            pass
    assert (entry / "meta.json").read_text() == "x meta" and st.verify(entry)
    assert st.find(_key(), 2) == ("hit", 2, entry)
    out = tmp_path / "out"
    st.copy_out(entry, {name: str(out / f) for name, f in S.FILES.items()})
    assert (out / "meta.json").read_text() == "x meta"
    with open(out / "meta.json", "a") as f:  # the copied-out outputs are writable, and still not the entry
        f.write(" more")
    assert st.verify(entry)


def test_a_damaged_entry_is_a_miss_and_is_replaced(tmp_path):
    """Truncating an entry's file leaves the outputs whole; the look-up fails its checksums, removes it, and
    the job's new result is kept in its place."""
    st = S.Store(tmp_path / "store")
    files = _files(tmp_path)
    entry = st.put(_key(), 2, files)
    target = entry / "replicates.npz"
    target.chmod(0o644)
    with open(target, "w"):
        pass
    assert Path(files["replicates"]).read_text() == "x replicates"  # the output is untouched
    assert st.find(_key(), 2) == ("miss", 0, None)
    assert not entry.exists()  # removed by the look-up
    new = st.put(_key(), 2, _files(tmp_path, "new"))
    assert new == entry and st.verify(new) and (new / "replicates.npz").read_text() == "new replicates"
    # put alone also replaces a damaged entry (another job may have found it first)
    (new / "meta.json").chmod(0o644)
    (new / "meta.json").write_text("tampered")
    assert st.put(_key(), 2, _files(tmp_path, "again")) == entry
    assert (entry / "meta.json").read_text() == "again meta" and st.verify(entry)
    assert not list(entry.parent.glob(".bad-*")) and not list(entry.parent.glob(".tmp-*"))


def test_a_key_change_is_a_miss_and_entries_are_never_overwritten(tmp_path):
    st = S.Store(tmp_path / "store")
    entry = st.put(_key(), 2, _files(tmp_path))
    assert st.find(_key(), 2) == ("hit", 2, entry)
    assert st.find(_key(), 3) == ("extend", 2, entry)  # bootstrap: replicates 0, 1 of any larger run
    for change in ({"data_fingerprint": "e" * 16}, {"code": "0" * 16},
                   {"student_p": {**STUDENT, "lr": 2.0}}, {"width": 8}, {"radius": 4.0},
                   {"teacher_fingerprint": "t" * 16}, {"used": {"temperature_used": 2.0}},
                   {"env": {**ENV, "torch": "2.14.0"}}, {"env": {**ENV, "cpu_capability": "AVX512"}}):
        assert st.find(_key(**change), 2)[0] == "miss", change
    # widths and (per-replicate resampling) replicates are not part of the key
    assert st.find(_key(student_p={**STUDENT, "widths": [4], "replicates": 5}), 2)[0] == "hit"
    assert st.put(_key(), 2, _files(tmp_path, "other")) == entry
    assert (entry / "meta.json").read_text() == "x meta"


def test_disjoint_replicates_never_extend(tmp_path):
    st = S.Store(tmp_path / "store")
    key = _key(student_p={**STUDENT, "resampling": "disjoint"})
    st.put(key, 2, _files(tmp_path))
    assert st.find(key, 4)[0] == "miss"
    assert st.find(_key(student_p={**STUDENT, "resampling": "disjoint", "replicates": 4}), 4)[0] == "miss"


def test_an_entry_failing_its_checksum_is_a_miss(tmp_path):
    st = S.Store(tmp_path / "store")
    entry = st.put(_key(), 2, _files(tmp_path))
    (entry / "replicates.npz").chmod(0o644)
    (entry / "replicates.npz").write_text("tampered")
    assert st.find(_key(), 2)[0] == "miss"


def test_the_switch(monkeypatch):
    monkeypatch.delenv(S.ENV, raising=False)
    assert S.enabled()
    for off in ("0", "false", "off"):
        monkeypatch.setenv(S.ENV, off)
        assert not S.enabled()


@pytest.mark.parametrize("edit", [
    ("registry.py", '"hard_weight": None', '"hard_weight": 0.5'),  # a registry default
    ("theory/radius.py", "teacher_margin <= 0.5", "teacher_margin <= 0.6"),  # the radius rule
    ("data/synthetic.py", None, "# a comment\n"),  # a data module, imported by name at run time
    ("pipeline/config.py", None, "# a comment\n"),  # the config slicing
    ("analysis/extra.py", None, None),  # a new file in the package
])
def test_an_edit_anywhere_in_the_package_is_a_new_code_version(tmp_path, edit):
    """The code version hashes the whole package's source, not a list kept by hand: a copy of the package
    with one file edited (or one file added) has another version."""
    pkg = tmp_path / "softlabels"
    shutil.copytree(S.PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = S.code_version(pkg)
    assert before == S.code_version(S.PACKAGE)  # the same bytes, the same version, wherever the package lies
    rel, old, new = edit
    f = pkg / rel
    if new is None:
        f.write_text("X = 1\n")
    elif old is None:
        f.write_text(f.read_text() + new)
    else:
        assert old in f.read_text()
        f.write_text(f.read_text().replace(old, new, 1))
    S.code_version.cache_clear()
    assert S.code_version(pkg) != before, rel


def test_the_environment_is_in_the_key(monkeypatch):
    """The torch and numpy versions and the CPU capability enter the key (a library version stand-in: the
    same key with another torch version is another entry)."""
    import numpy
    import torch

    env = S.environment("cpu")
    assert env["torch"] == torch.__version__ and env["numpy"] == numpy.__version__
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    monkeypatch.setattr(torch, "__version__", "0.0.0-stand-in")
    other = S.environment("cpu")
    assert other["torch"] == "0.0.0-stand-in"
    assert S.key_hash(_key(env=other)) != S.key_hash(_key(env=env))
