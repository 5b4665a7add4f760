"""The README's first command, verbatim, in a fresh virtualenv: `python -m pip install -e .` must bring
everything `snakemake --cores all` and `snakemake --report report.html` need (the report needs pygments,
which comes with snakemake's `reports` extra; before, only the test extras brought it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SNAKEFILE, micro_config, write_config


def _run(cmd: list[str], cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, (f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                  f"{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv (no system site-packages) where only the README's install command has run; its
    python. Created once per session (pip reuses its cache: about a minute)."""
    venv = tmp_path_factory.mktemp("fresh-venv") / "venv"
    t0 = time.time()
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)], cwd=ROOT)  # the README's, from the checkout
    print(f"fresh venv installed in {time.time() - t0:.0f}s")
    return python


@pytest.mark.slow
def test_the_readme_install_runs_the_workflow_and_its_report(fresh_venv, tmp_path):
    python = fresh_venv
    # nothing of the test extras leaked in: the venv is the README's install alone
    probe = _run([str(python), "-c", "import importlib.util as u; print(u.find_spec('pytest') is None)"])
    assert probe.stdout.strip() == "True"
    work = tmp_path / "run"
    write_config(work, micro_config())
    sm = [str(python), "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(work),
          "--configfile", str(work / "config.yaml")]
    _run([*sm, "--cores", "2"])
    _run([*sm, "--report", "report.html"])
    report = work / "report.html"
    assert report.is_file() and report.stat().st_size > 100_000, "the report is missing or nearly empty"
    assert "neurons.html" in report.read_text(errors="replace")
