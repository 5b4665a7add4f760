"""SLURM execution through workflow/profiles/slurm, on a real single-node SLURM (tests/slurm_cluster.py).

The micro config (tests/conftest.py), plus a tiny CNN teacher and CNN students on a few dozen CIFAR-binary records (so that
the GPU rules of deep.smk have jobs), runs through the profile with only what this throw-away cluster
needs on top (no account, no sacct, short status-check delays). Then: every planned job ran inside a
SLURM job that completed; GPU-rule jobs went to the gpu partition with a GPU request, the rest to the
cpu partition without one; group jobs bundled the small CPU jobs and asked for one CPU; the tables
equal those of a local run of the micro config (the ``micro_run`` fixture).

Skips only where SLURM cannot run here (not installed, not root, daemons refuse to start), and says
why; with SOFTLABELS_REQUIRE_SLURM=1 (set by .ci/run once it has installed SLURM) those fail instead.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, SNAKEFILE, dry_run, micro_config, snakemake
from realformats import CIFAR10_MEMBERS, cifar_records
from slurm_cluster import SlurmTestCluster, SlurmUnavailable

PROFILE = ROOT / "workflow" / "profiles" / "slurm"
GPU_RULES = {"train_deep_teacher", "train_deep_students"}
PROFILE_SETTINGS = yaml.safe_load((PROFILE / "config.yaml").read_text())
SUMMARY_RULES = {rule for rule, group in PROFILE_SETTINGS["groups"].items() if group == "summary"}
# What this cluster needs beyond the profile: no account database (no account, status from squeue,
# finished jobs stay in squeue: MinJobAge), quick first status checks, the SLURM logs kept for the checks.
TEST_OVERRIDES = ("--slurm-no-account", "--slurm-status-command", "squeue",
                  "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs")
# The test cluster's partitions, through the variables the profile reads (docs/slurm.md).
TEST_ENV = {"SOFTLABELS_SLURM_PARTITION": "cpu", "SOFTLABELS_SLURM_GPU_PARTITION": "gpu"}
CIFAR_CAT, CIFAR_DOG = 3, 5


def _unavailable(reason: str) -> None:
    if os.environ.get("SOFTLABELS_REQUIRE_SLURM") == "1":
        pytest.fail(f"SOFTLABELS_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    why = SlurmTestCluster.missing()
    if why:
        _unavailable(why)
    c = SlurmTestCluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
    except SlurmUnavailable as exc:
        _unavailable(f"a throw-away SLURM could not be started here: {exc}")
    try:
        yield c
    finally:
        c.stop()


def write_cifar_catdog(folder: Path, per_file: int = 8) -> None:
    """The six CIFAR-10 binary batch files, cats and dogs only (48 records in all)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, member in enumerate(CIFAR10_MEMBERS):
        labels = np.resize([CIFAR_CAT, CIFAR_DOG], per_file)
        (folder / member).write_bytes(cifar_records(labels, first=k * per_file)[0])


def deep_config(raw_dir: Path) -> dict:
    """The micro config plus a CNN teacher and CNN students (one epoch, width 2-4) on cat-vs-dog."""
    cfg = micro_config()
    cfg["datasets"]["catdog"] = {"kind": "cifar10-catdog", "raw_dir": str(raw_dir), "seed": 1}
    cfg["teachers"]["cnn"] = {"model": "resnet8", "width": 4, "epochs": 1, "batch_size": 16}
    cfg["students"]["cnn-s"] = {"model": "resnet8", "widths": [2], "replicates": 2, "epochs": 1, "batch_size": 16}
    cfg["experiments"]["deep"] = {"datasets": ["catdog"], "teachers": ["cnn"], "methods": ["hard", "kd"],
                                  "students": ["cnn-s"]}
    cfg["deep_resources"] = {"threads": 1}  # small jobs; the test node has few CPUs
    cfg["compute"] = {"device": "cpu"}  # the GPU rules' `auto` needs CUDA; this throw-away cluster has none
    return cfg


@pytest.fixture(scope="module")
def slurm_run(cluster: SlurmTestCluster, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("slurm-run")
    write_cifar_catdog(work / "raw")
    (work / "config.yaml").write_text(yaml.safe_dump(deep_config(work / "raw"), sort_keys=False))
    planned = {(j["rule"], tuple(j["output"])) for j in dry_run(work) if j["rule"] != "all"}
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--workflow-profile", str(PROFILE), *TEST_OVERRIDES]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=work,
                          env={**cluster.env, **TEST_ENV, "PYTHONUNBUFFERED": "1"})
    elapsed = time.monotonic() - t0
    print(f"\nSLURM run of the micro+deep config: {elapsed:.0f} s", file=sys.stderr)
    assert proc.returncode == 0, (f"snakemake on SLURM failed ({proc.returncode}):\n{proc.stderr[-6000:]}\n"
                                  f"cluster logs:\n{cluster.log_tail()}")
    return {"work": work, "planned": planned, "jobs": cluster.jobs(), "elapsed": elapsed}


def executed_jobs(work: Path) -> dict[tuple[str, tuple[str, ...]], set[str]]:
    """(rule, outputs) -> SLURM job ids whose log shows Snakemake running that job on the node.

    Inside a SLURM job, the plugin's jobstep starts one local Snakemake per rule job (through srun),
    which announces it as ``localrule NAME:`` followed by its ``output:``.
    """
    ran: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    for log in slurm_logs(work):
        rule = None
        for line in log.read_text(errors="replace").splitlines():
            s = line.strip()
            m = re.fullmatch(r"localrule (\w+):", s)
            if m:
                rule = m.group(1)
            elif rule and s.startswith("output:"):
                outputs = tuple(o.strip() for o in s[len("output:"):].split(","))
                ran.setdefault((rule, outputs), set()).add(log.stem)
                rule = None
    return ran


def slurm_logs(work: Path) -> list[Path]:
    """The plugin's SLURM logs: .snakemake/slurm_logs/{rule_NAME|group_NAME}/[wildcards/]JOBID.log."""
    return sorted((work / ".snakemake" / "slurm_logs").rglob("*.log"))


def group_job_ids(work: Path) -> set[str]:
    root = work / ".snakemake" / "slurm_logs"
    return {log.stem for log in slurm_logs(work) if log.relative_to(root).parts[0].startswith("group_")}


def rules_per_slurm_job(ran: dict) -> dict[str, set[str]]:
    per_job: dict[str, set[str]] = {}
    for (rule, _), ids in ran.items():
        for i in ids:
            per_job.setdefault(i, set()).add(rule)
    return per_job


@pytest.mark.slurm
@pytest.mark.slow
def test_every_job_ran_as_a_completed_slurm_job(slurm_run):
    work, jobs = slurm_run["work"], {j["JobId"]: j for j in slurm_run["jobs"]}
    ran = executed_jobs(work)
    assert set(ran) == slurm_run["planned"], (sorted(slurm_run["planned"] - set(ran)), sorted(set(ran) - slurm_run["planned"]))
    assert all(len(ids) == 1 for ids in ran.values()), {k: v for k, v in ran.items() if len(v) > 1}
    used = set().union(*ran.values())
    ours = {i for i, j in jobs.items() if Path(j.get("WorkDir", "")) == work}
    assert used == ours  # no other SLURM job of this run (no failed first attempt, no retry)
    for i in sorted(ours, key=int):
        assert jobs[i]["JobState"] == "COMPLETED" and jobs[i]["ExitCode"] == "0:0", jobs[i]
    # Group jobs: every job of a grouped rule ran in a group job that asked for one CPU (the plugin
    # runs a group's jobs one after another, so the profile stacks them in series); the teachers and the
    # tables and figures came `group-components` to a SLURM job.
    groups = group_job_ids(work)
    grouped_rules = set(PROFILE_SETTINGS["groups"])
    assert not grouped_rules & GPU_RULES
    assert all(ids <= groups for (rule, _), ids in ran.items() if rule in grouped_rules)
    assert all(jobs[i]["NumCPUs"] == "1" for i in groups), {i: jobs[i]["NumCPUs"] for i in groups}
    for group, rules in (("teachers", {"train_teacher"}), ("summary", SUMMARY_RULES)):
        members = [ids for (rule, _), ids in ran.items() if rule in rules]
        per_job = PROFILE_SETTINGS["group-components"][group]
        assert members and len(set().union(*members)) <= math.ceil(len(members) / per_job), (group, members)
    assert len(ours) <= len(ran) / 2, (len(ours), len(ran))  # grouping at least halves the SLURM jobs


@pytest.mark.slurm
@pytest.mark.slow
def test_gpu_rules_went_to_the_gpu_partition_with_a_gpu(slurm_run):
    jobs = {j["JobId"]: j for j in slurm_run["jobs"]}
    per_job = rules_per_slurm_job(executed_jobs(slurm_run["work"]))
    gpu_jobs = {i for i, rules in per_job.items() if rules & GPU_RULES}
    assert {r for i in gpu_jobs for r in per_job[i]} == GPU_RULES  # a teacher and students, never grouped
    assert len(gpu_jobs) == 3 and all(per_job[i] <= GPU_RULES for i in gpu_jobs)

    def gpu_request(job: dict) -> str:
        return " ".join(job.get(k, "") for k in ("TresPerJob", "TresPerNode", "JOB_GRES", "Gres"))

    for i, rules in per_job.items():
        job = jobs[i]
        if i in gpu_jobs:
            assert job["Partition"] == "gpu", (rules, job["Partition"])
            assert re.search(r"gpu:1\b", gpu_request(job)), (rules, gpu_request(job))
        else:
            assert job["Partition"] == "cpu", (rules, job["Partition"])
            assert "gpu" not in gpu_request(job), (rules, gpu_request(job))


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))}


@pytest.mark.slurm
@pytest.mark.slow
def test_tables_equal_those_of_a_local_run(slurm_run, micro_run):
    """The SLURM run's tables, restricted to the micro config's experiments, equal the local run's."""
    local, remote = _tables(micro_run / "results" / "tables"), _tables(slurm_run["work"] / "results" / "tables")
    assert local and set(local) <= set(remote)
    assert "paperA_figure1.csv" in remote  # the deep experiment's own table was made too
    for name, want in local.items():
        got = remote[name]
        if "experiment" in want.columns:
            got = got[got["experiment"].isin(want["experiment"].unique())]
        elif "dataset" in want.columns:
            got = got[got["dataset"].isin(want["dataset"].unique())]
        assert set(want.columns) <= set(got.columns), name
        # the filtered rows in the local run's column types (a column the deep rows leave empty reads as float)
        got = got[list(want.columns)].reset_index(drop=True).astype(want.dtypes.to_dict())
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)  # same numbers, to the last bit


def _resources(jobs: list[dict]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for j in jobs:
        out.setdefault(j["rule"], []).append(j["resources"])
    return out


def profile_dry_run(work: Path, *args: str) -> dict[str, list[dict[str, str]]]:
    """The resources each planned job would ask for under the SLURM profile (a dry run; no cluster needed)."""
    proc = snakemake(work, "--dry-run", "--configfile", str(work / "config.yaml"), "--workflow-profile", str(PROFILE),
                     *args)
    jobs, current = [], None
    for line in proc.stdout.splitlines():
        s = line.strip()
        if re.fullmatch(r"(local)?rule \w+:", s):
            current = {"rule": s.split()[-1].rstrip(":"), "resources": {}}
            jobs.append(current)
        elif s.startswith("resources:") and current:
            current["resources"] = dict(kv.split("=", 1) for kv in s[len("resources:"):].strip().split(", "))
    return _resources(jobs)


def test_set_resources_names_the_one_student_rule(tmp_path, monkeypatch):
    """`--set-resources train_students:mem_mb=N` reaches every MLP student job, whatever the setups (one rule,
    train_students, for all of them). It replaces the profile's whole set-resources mapping (docs/slurm.md):
    the other rules fall back to the profile's default-resources."""
    for var in ("SOFTLABELS_SLURM_ACCOUNT", "SOFTLABELS_SLURM_PARTITION", "SOFTLABELS_SLURM_GPU_PARTITION",
                "SOFTLABELS_SLURM_GPU_MODEL"):
        monkeypatch.delenv(var, raising=False)
    cfg = micro_config()
    cfg["students"]["other"] = {**cfg["students"]["theory"], "widths": [2, 8]}
    cfg["experiments"]["e"]["students"] = ["theory", "other"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    plain = profile_dry_run(tmp_path)
    assert [(r["mem_mb"], r["runtime"]) for r in plain["train_students"]] == [("2000", "30")] * 4
    assert plain["train_teacher"] == [{**plain["train_teacher"][0], "mem_mb": "4000", "runtime": "120"}]
    custom = profile_dry_run(tmp_path, "--set-resources", "train_students:mem_mb=1234")
    assert set(custom) == set(plain)
    assert [r["mem_mb"] for r in custom["train_students"]] == ["1234"] * 4  # 2 methods x 2 setups
    assert [r["mem_mb"] for r in custom["train_teacher"]] == ["2000"]  # the profile's 4000 is replaced


def test_profile_reads_partitions_account_and_gpu_model_from_the_environment(tmp_path, monkeypatch):
    """No cluster needed: a dry run with the profile shows the resources each rule would ask for."""
    write_cifar_catdog(tmp_path / "raw")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(deep_config(tmp_path / "raw"), sort_keys=False))

    def planned_resources() -> dict[str, list[dict[str, str]]]:
        return profile_dry_run(tmp_path)

    for var in ("SOFTLABELS_SLURM_ACCOUNT", "SOFTLABELS_SLURM_PARTITION", "SOFTLABELS_SLURM_GPU_PARTITION",
                "SOFTLABELS_SLURM_GPU_MODEL"):
        monkeypatch.delenv(var, raising=False)
    default = planned_resources()
    for rule, resources in default.items():
        for r in resources:
            assert "slurm_account" not in r and "gpu_model" not in r, (rule, r)
            assert not r.get("slurm_partition"), (rule, r)  # unset: the cluster's default partition
            assert r.get("gpu") == ("1" if rule in GPU_RULES else None), (rule, r)
            if rule in GPU_RULES:  # the rule's deep_resources on the first attempt (they grow on a retry)
                assert (r["mem_mb"], r["runtime"]) == ("16000", "720"), r
    monkeypatch.setenv("SOFTLABELS_SLURM_PARTITION", "short")
    for rule, resources in planned_resources().items():  # the CPU partition only: GPU jobs stay unset
        for r in resources:
            assert r.get("slurm_partition", "") == ("" if rule in GPU_RULES else "short"), (rule, r)
    monkeypatch.setenv("SOFTLABELS_SLURM_ACCOUNT", "proj42")
    monkeypatch.setenv("SOFTLABELS_SLURM_GPU_PARTITION", "gpu-a100")
    monkeypatch.setenv("SOFTLABELS_SLURM_GPU_MODEL", "a100")
    custom = planned_resources()
    assert set(custom) == set(default) and GPU_RULES <= set(custom)
    for rule, resources in custom.items():
        for r in resources:
            assert r["slurm_account"] == "proj42", (rule, r)
            if rule in GPU_RULES:
                assert (r["slurm_partition"], r["gpu"], r["gpu_model"]) == ("gpu-a100", "1", "a100"), r
            else:
                assert r["slurm_partition"] == "short" and "gpu_model" not in r, (rule, r)
