"""Shared fixtures: the repository root, the tiny config, and a finished tiny workflow run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
#: the official MNIST files (gzipped), where the checkout has the project's shared data folder beside it
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
NO_SHARED_MNIST = f"the official MNIST files are not at {SHARED_MNIST} (only the project's own machines have them)"


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the real workflow (the repository's Snakefile) in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
           *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def shared_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder built by ``build`` once per test session. Under pytest-xdist each worker is its own process
    with its own session, so the first worker to ask builds it in the workers' common temporary folder,
    under a file lock, and the others wait for it and reuse it; a build that failed is tried again (and
    fails again, with its own message) by the next worker that asks."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        work = factory.mktemp(name)
        build(work)
        return work
    from filelock import FileLock

    common = factory.getbasetemp().parent
    work, built = common / name, common / f"{name}.built"
    with FileLock(str(common / f"{name}.lock")):
        if not built.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            build(work)
            built.touch()
    return work


def _tiny(work: Path) -> None:
    shutil.copy(TINY, work / "config.yaml")
    snakemake(work, "--cores", "2", "--configfile", str(work / "config.yaml"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run of the tiny config; tests must not modify it (copy it first)."""
    return shared_once(tmp_path_factory, "tiny", _tiny)


@pytest.fixture
def tiny_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished tiny run, to re-run and modify."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst, symlinks=True)
    return dst


def micro_config() -> dict:
    """A config of a dozen quick jobs (one data set, one teacher, hard and kd, one width)."""
    return {
        "seed": 0,
        "datasets": {"easy": {"kind": "synthetic", "dim": 4, "n_train": 48, "n_test": 100, "margin": 0.2, "seed": 1}},
        "teachers": {"wide": {"width": 32, "epochs": 30, "lr": 0.02}},
        "methods": {"hard": {"kind": "hard"}, "kd": {"kind": "kd", "temperature": 2.0}},
        "students": {"theory": {"regime": "theory", "widths": [4], "replicates": 2, "epochs": 20, "lr": 4.0}},
        "experiments": {"e": {"datasets": ["easy"], "teachers": ["wide"], "methods": ["hard", "kd"],
                              "students": ["theory"]}},
        "tables": {"n_boot": 20},
    }


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run of ``micro_config()``; tests must not modify its results (copy it first)."""
    return shared_once(tmp_path_factory, "micro", _micro)


def _micro(work: Path) -> None:
    write_config(work, micro_config())
    snakemake(work, "--cores", "2", "--configfile", str(work / "config.yaml"))


def write_config(workdir: Path, cfg: dict) -> Path:
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def dry_run(workdir: Path, *args: str) -> list[dict]:
    """Snakemake's own plan (a dry run): for every job it would run, its rule, wildcards and outputs."""
    proc = snakemake(workdir, "--dry-run", "--configfile", str(workdir / "config.yaml"), *args)
    jobs: list[dict] = []
    for line in proc.stdout.splitlines():
        s = line.strip()
        if (s.startswith("rule ") or s.startswith("localrule ")) and s.endswith(":"):
            jobs.append({"rule": s.split()[1].rstrip(":"), "wildcards": {}, "output": []})
        elif s.startswith("wildcards:") and jobs:
            jobs[-1]["wildcards"] = dict(kv.split("=", 1) for kv in s[len("wildcards:"):].strip().split(", "))
        elif s.startswith("output:") and jobs:
            jobs[-1]["output"] = [o.strip() for o in s[len("output:"):].split(",")]
    return jobs


def planned_jobs(workdir: Path, *args: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run plans."""
    return [(j["rule"], j["wildcards"]) for j in dry_run(workdir, *args)]
