"""Crash safety and bad input: clear errors, nothing finished lost, nothing partial looks complete."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import SNAKEFILE, dry_run, micro_config, snakemake, write_config

from softlabels import io
from softlabels.errors import InputError
from softlabels.pipeline.checkpoints import fingerprint, load_checkpoint, save_checkpoint

# --- atomic writes ---------------------------------------------------------------------------

def test_a_writer_killed_mid_write_leaves_no_file_that_looks_complete(tmp_path):
    target = tmp_path / "big.npz"
    code = ("import numpy as np, sys; from softlabels.io import write_npz; "
            f"write_npz({str(target)!r}, x=np.zeros((60_000_000,), np.float64))")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline and not any(tmp_path.iterdir()):
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert all(p.name.startswith(".big.npz.") and p.name.endswith(".tmp.npz") for p in leftovers), leftovers


def test_truncated_and_corrupt_files_give_a_clear_error(tmp_path):
    good = tmp_path / "d.npz"
    io.write_npz(good, X_train=np.ones((50, 3)), y_train=np.zeros(50))
    data = good.read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "c.npz").write_bytes(b"not a zip file at all")
    for name in ("t.npz", "c.npz"):
        with pytest.raises(InputError, match=name):
            io.read_npz(tmp_path / name)
    with pytest.raises(InputError, match="missing arrays"):
        io.read_npz(good, required=("X_test",))
    (tmp_path / "j.json").write_text('{"a": ')
    with pytest.raises(InputError, match="j.json"):
        io.read_json(tmp_path / "j.json")


def test_checkpoints_load_weights_only_and_belong_to_their_data(tmp_path):
    d1 = {"X_train": np.ones((4, 2), np.float32), "y_train": np.zeros(4, np.int64)}
    d2 = {"X_train": np.zeros((4, 2), np.float32), "y_train": np.zeros(4, np.int64)}
    path = tmp_path / "t.pt"
    save_checkpoint(str(path), {"params": {"W": torch.ones(2, 2)}}, fingerprint(d1), "one")
    assert torch.equal(load_checkpoint(str(path), d1)["params"]["W"], torch.ones(2, 2))
    with pytest.raises(InputError, match="another data set"):
        load_checkpoint(str(path), d2)
    evil = tmp_path / "evil.pt"
    torch.save({"params": {}, "obj": np.random.default_rng(0)}, evil)  # not loadable with weights_only
    with pytest.raises(InputError, match="evil.pt"):
        load_checkpoint(str(evil), d1)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(InputError, match="t.pt"):
        load_checkpoint(str(path), d1)


# --- the workflow ----------------------------------------------------------------------------

def _results(work):
    return {p: p.stat().st_mtime_ns for p in (work / "results").rglob("*") if p.is_file()}


@pytest.mark.slow
def test_killed_run_recovers_without_touching_finished_results(tmp_path):
    work = tmp_path / "w"
    cfg = micro_config()
    cfg["students"]["theory"]["widths"] = [2, 4, 6, 8]
    write_config(work, cfg)
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(work),
           "--cores", "1", "--configfile", str(work / "config.yaml")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    # one student job trains all four widths: wait for the first job's four and the next job's first width
    while time.time() < deadline and len(list((work / "results").rglob("replicates.npz"))) < 5:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its running job, mid-run
    proc.wait()
    before = _results(work)
    assert any(p.name == "replicates.npz" for p in before)
    for p in before:  # whatever exists is complete
        if p.suffix == ".npz" and not p.name.startswith("."):
            io.read_npz(p)
        elif p.suffix == ".json":
            io.read_json(p)
    assert not (work / "results/tables/neurons.csv").exists()
    snakemake(work, "--unlock", "--configfile", str(work / "config.yaml"))
    # Snakemake's plan: the jobs it had not recorded as finished; a job killed after writing some of
    # its outputs is marked incomplete by Snakemake, and --rerun-incomplete runs it again.
    rerun = {work / o for j in dry_run(work, "--rerun-incomplete") for o in j["output"]}
    # (a student job's output is its group's folder; a job that was killed left only its hidden staging folder)
    finished = {p: t for p, t in before.items()
                if not rerun & {p, *p.parents} and not any(s.startswith(".") for s in p.relative_to(work).parts)}
    assert any(p.name == "replicates.npz" for p in finished)
    snakemake(work, "--cores", "2", "--rerun-incomplete", "--configfile", str(work / "config.yaml"))
    after = _results(work)
    for p, t in finished.items():
        assert after[p] == t, f"{p} was recomputed"
    assert (work / "results/tables/neurons.csv").exists()


@pytest.mark.slow
def test_keep_going_keeps_finished_results_when_a_run_diverges(tmp_path):
    work = tmp_path / "w"
    cfg = micro_config()
    cfg["students"]["boom"] = {"regime": "practical", "widths": [4], "replicates": 2, "epochs": 3,
                               "optimizer": "sgd", "lr": 1e38, "momentum": 0.0}
    cfg["experiments"]["e"]["students"] = ["theory", "boom"]
    write_config(work, cfg)
    proc = snakemake(work, "--cores", "2", "--keep-going", "--configfile", str(work / "config.yaml"), check=False)
    assert proc.returncode != 0
    assert (work / "results/students/easy/none/hard/theory/m4/replicates.npz").exists()
    assert (work / "results/students/easy/wide/kd/theory/m4/biasvar_points.npz").exists()
    failed = work / "results/students/easy/none/hard/boom/m4"
    assert not (failed / "replicates.npz").exists() and not (failed / "meta.json").exists()
    log = (work / "logs/train_students/easy/none/hard/boom.log").read_text()
    assert "diverged at epoch" in log and "Traceback" not in log
    assert "diverged at epoch" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_misspelt_key_stops_with_one_message_and_loses_nothing(micro_run, tmp_path):
    import shutil

    work = tmp_path / "copy"  # the shared run stays untouched (other test processes may be reading it)
    shutil.copytree(micro_run, work, symlinks=True)
    before = _results(work)
    bad = micro_config()
    bad["students"]["theory"]["replicats"] = 2
    path = work / "bad.yaml"
    path.write_text(json.dumps(bad))
    proc = snakemake(work, "--cores", "2", "--configfile", str(path), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "students.theory" in out and "replicats" in out and "Traceback" not in out
    assert _results(work) == before


@pytest.mark.slow
@pytest.mark.parametrize("corrupt,target,message", [
    ("results/data/easy/data.npz", "train_students", "not a readable .npz"),
    ("results/teachers/easy/wide/logits.npz", "train_students", "another data set"),
])
def test_bad_files_stop_the_job_that_reads_them_with_a_clear_error(micro_run, tmp_path, corrupt, target, message):
    import shutil

    work = tmp_path / "copy"
    shutil.copytree(micro_run, work, symlinks=True)
    path = work / corrupt
    if "logits" in corrupt:  # a teacher's outputs from another data set
        other = {"X_train": np.zeros((3, 4), np.float32), "y_train": np.zeros(3, np.int64)}
        io.write_npz(path, fingerprint=np.array(fingerprint(other)), logits_train=np.zeros((48, 2), np.float32))
    else:
        path.write_bytes(path.read_bytes()[:200])  # truncated
    proc = snakemake(work, "--cores", "1", "--keep-going", "--configfile", str(work / "config.yaml"), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in out and corrupt.split("/")[-1] in out
    logs = list((work / "logs" / target).rglob("*.log"))
    assert any(message in p.read_text() and "Traceback" not in p.read_text() for p in logs)


def test_results_get_the_usual_permissions(tmp_path):
    io.write_json(tmp_path / "a.json", {"x": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask
