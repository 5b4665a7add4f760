"""The package's layout: every module imports on its own, imports flow one way (from the pipeline glue
down to the maths) with no circle, the schema agrees with the registries, each rule has its own script,
and the workflow is snakefmt-clean."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT, SCHEMA

from softlabels import registry

SRC = ROOT / "src"
PACKAGES = ("softlabels", "softlabels_bench")

# Stages, lowest first: a module may import its own stage and the stages below it, never one above.
LAYERS = [
    ("softlabels", "softlabels.errors", "softlabels.io", "softlabels.registry"),
    ("softlabels.data", "softlabels.theory"),
    ("softlabels.models",),
    ("softlabels.training",),
    ("softlabels.analysis",),
    ("softlabels.report",),
    ("softlabels.pipeline",),
    ("softlabels.cli", "softlabels_bench"),
]


def modules() -> list[str]:
    out = []
    for pkg in PACKAGES:
        for f in sorted((SRC / pkg).rglob("*.py")):
            parts = list(f.relative_to(SRC).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out.append(".".join(parts))
    return out


def layer(module: str) -> int:
    best, rank = "", -1
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > len(best):
                best, rank = n, i
    assert rank >= 0, f"{module} is in no layer; add its sub-package to LAYERS"
    return rank


def imports_of(module: str) -> set[str]:
    """The project modules ``module`` imports, at any depth of its code (function-level imports included)."""
    path = SRC / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    known = set(modules())
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n and n != module:
                out.add(n)
    return out


def test_every_module_imports_on_its_own():
    """Each module imported first, in a fresh package state: an import circle fails here."""
    code = ("import importlib, sys\n"
            f"for m in {modules()!r}:\n"
            "    for k in [k for k in sys.modules if k.split('.')[0] in ('softlabels', 'softlabels_bench')]:\n"
            "        del sys.modules[k]\n"
            "    importlib.import_module(m)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def test_imports_flow_down_the_stages_without_circles():
    graph = {m: imports_of(m) for m in modules()}
    upward = [(m, n) for m, deps in graph.items() for n in deps if layer(n) > layer(m)]
    assert not upward, f"imports that go up the stages (module -> what it imports): {upward}"
    # no circle, even within a stage
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_only_training_imports_torch():
    """The registry, the config, and what the data, margin, table and figure rules run never import torch:
    a job imports it only if it trains."""
    modules = ["softlabels.registry", "softlabels.pipeline.config", "softlabels.pipeline.tables",
               "softlabels.pipeline.figures", "softlabels.pipeline.entry", "softlabels.pipeline.rules",
               "softlabels.data.synthetic", "softlabels.data.mnist", "softlabels.data.cifar",
               "softlabels.theory.margin", "softlabels.report.summary", "softlabels.cli"]
    code = f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; sys.exit('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, "one of these imports torch"


def _kind_blocks(schema_node: dict) -> dict[str, dict]:
    """kind -> the properties of its if/then block in a schema node."""
    out = {}
    for branch in schema_node.get("allOf", []):
        kind = branch.get("if", {}).get("properties", {}).get("kind", {}).get("const")
        if kind is not None:
            out[kind] = branch.get("then", {}).get("properties", {})
    return out


def test_schema_agrees_with_the_registries():
    schema = yaml.safe_load(SCHEMA.read_text())
    props = schema["properties"]
    method = props["methods"]["additionalProperties"]
    assert method["properties"]["kind"]["enum"] == list(registry.METHODS)
    blocks = _kind_blocks(method)
    for kind, spec in registry.METHODS.items():
        block = blocks.get(kind, {})
        assert set(block) == set(spec.defaults), f"method kind {kind}: schema keys {sorted(block)}"
        assert {k: v.get("default") for k, v in block.items()} == spec.defaults, f"method kind {kind}'s defaults"
    assert schema["$defs"]["model"]["enum"] == list(registry.MODELS)
    data = props["datasets"]["additionalProperties"]
    assert data["properties"]["kind"]["enum"] == list(registry.DATA_KINDS)
    assert set(_kind_blocks(data)) == set(registry.DATA_KINDS)
    downloads = props["downloads"]["properties"]
    sources = {k for k, v in downloads.items() if isinstance(v, dict) and "base_url" in v.get("properties", {})}
    assert sources == set(registry.SOURCES)
    for source in sources:
        names = downloads[source]["properties"]["sha256"]["propertyNames"]["enum"]
        assert names == list(registry.SOURCES[source].files)
    assert {k for k, d in registry.DATA_KINDS.items() if d.source} == {
        k for k, block in _kind_blocks(data).items() if "raw_dir" in block}


def test_every_data_kind_has_its_builder():
    import importlib

    for kind, spec in registry.DATA_KINDS.items():
        module, _, fn = spec.builder.partition(":")
        assert callable(getattr(importlib.import_module(module), fn)), kind


def test_each_rule_runs_its_own_script():
    """Every rule runs workflow/scripts/<rule>.py, and every script belongs to a rule."""
    rules = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^\s*rule ?(\w*):(.*?)(?=^\s*rule |\Z)", text, re.S | re.M):
            script = re.search(r'script:\s*\n\s*"([^"]+)"', m.group(2))
            if script:
                assert m.group(1), f"{smk.name}: a rule without a name (rule names must not depend on the config)"
                rules[m.group(1)] = script.group(1)
    assert len(rules) >= 19 and "train_students" in rules
    for rule, script in rules.items():
        assert script == f"../scripts/{rule}.py", rule
        body = (ROOT / "workflow" / "scripts" / f"{rule}.py").read_text()
        assert f"import {rule}  #" in body and f"run(snakemake, {rule})" in body, rule
    assert sorted(p.stem for p in (ROOT / "workflow" / "scripts").glob("*.py")) == sorted(rules)


def test_console_script_is_real():
    text = (ROOT / "pyproject.toml").read_text()
    for module, fn in re.findall(r'^\w+ = "([\w.]+):(\w+)"', text, re.M):
        r = subprocess.run([sys.executable, "-c", f"import {module}; assert callable({module}.{fn})"],
                           env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_workflow_is_snakefmt_clean():
    """snakefmt (a test extra) with the line length of pyproject.toml's [tool.snakefmt]."""
    exe = shutil.which("snakefmt") or str(Path(sys.executable).parent / "snakefmt")
    r = subprocess.run([exe, "--check", "--config", str(ROOT / "pyproject.toml"), str(ROOT / "Snakefile"),
                        str(ROOT / "workflow")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
