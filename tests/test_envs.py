"""envs/softlabels.yaml (for `--sdm conda`) pins the same versions as pyproject.toml."""

import tomllib

import yaml
from conftest import ROOT

CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ
# the scheduler side, not needed inside jobs (pygments: for `snakemake --report`, snakemake's reports extra)
PIP_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "pygments"}


def test_conda_env_matches_the_package_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {name.split("[")[0]: version for name, version in (d.split("==") for d in deps)}  # extras dropped
    env = yaml.safe_load((ROOT / "envs" / "softlabels.yaml").read_text())["dependencies"]
    conda = dict(d.split("=", 1) for d in env if isinstance(d, str) and "=" in d)
    conda.update(dict(d.split("==") for e in env if isinstance(e, dict) for d in e.get("pip", [])))
    for name, version in pins.items():
        if name in PIP_ONLY:
            continue
        assert conda.get(CONDA_NAMES.get(name, name)) == version, name
    assert conda["python"] == "3.11"


def test_every_rule_names_the_conda_env():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        assert text.count("script:") + text.count("shell:") <= text.count('"../../envs/softlabels.yaml"'), smk.name
