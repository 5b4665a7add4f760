"""softlabels.pipeline.plan: which tables a config gets, each table's params, the inputs that hold a cell's
files; and the student job's group folder, written whole or not at all (softlabels.pipeline.rules)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import SCHEMA, micro_config

from softlabels.pipeline import config as C
from softlabels.pipeline import plan as P
from softlabels.pipeline.rules import cell_outputs, staging_dir, writes_group_folder

BASE = ["neurons", "neurons_needed", "scaling", "biasvar", "wsl", "claims", "claims_summary"]


def _cfg(edit=None) -> dict:
    cfg = copy.deepcopy(micro_config())
    if edit:
        edit(cfg)
    return C.validate(cfg, SCHEMA)


def _tables(cfg: dict) -> list[str]:
    return [Path(t).stem for t in P.all_tables(cfg)]


def _deep(cfg: dict) -> None:
    cfg["datasets"]["c100"] = {"kind": "cifar100"}
    cfg["teachers"]["r56"] = {"model": "resnet56"}
    cfg["methods"]["wsl"] = {"kind": "wsl"}
    cfg["students"]["r20"] = {"model": "resnet20", "widths": [16], "replicates": 2}
    cfg["experiments"]["b"] = {"datasets": ["c100"], "teachers": ["r56"], "methods": ["hard", "kd", "wsl"],
                               "students": ["r20"]}


def test_which_tables_a_config_gets():
    assert _tables(_cfg()) == BASE + ["teachers", "regularization"]
    hard_only = _cfg(lambda c: c["experiments"]["e"].update(methods=["hard"]))
    assert _tables(hard_only) == BASE  # no teacher, no temperature
    auto = _cfg(lambda c: (c["methods"]["kd"].update(temperature="auto"), c["datasets"]["easy"].update(n_val=20)))
    assert _tables(auto) == BASE + ["teachers"]  # a τ per teacher is no sweep point
    digits = _cfg(lambda c: c["datasets"].update(d={"kind": "digits"}) or c["experiments"]["e"]["datasets"].append("d"))
    assert "paperA_table1" in _tables(digits)
    assert _tables(_cfg(_deep))[-1] == "paperB_cifar100" and "paperA_figure1" not in _tables(_cfg(_deep))


def test_table_params():
    cfg = _cfg()
    records = P.cell_records(cfg)
    assert [(r["method"], r["teacher"], r["width"]) for r in records] == [("hard", "none", 4), ("kd", "wide", 4)]
    assert P.neuron_table_params(cfg)["method_kinds"] == {"hard": "hard", "kd": "kd"}
    assert P.neuron_table_params(cfg)["datasets"] == ["easy"]
    assert P.biasvar_table_params(cfg)["direct_method"] == "hard"
    assert P.claims_table_params(cfg)["regimes"] == {"theory": "theory"}
    reg = P.regularization_table_params(cfg)
    assert [r["method"] for r in reg["cells"]] == ["kd"] and reg["temperatures"] == {"kd": 2.0}
    assert P.teacher_table_params(cfg)["teacher_cells"] == [{"dataset": "easy", "teacher": "wide"}]
    assert P.teacher_files(records) == ["results/teachers/easy/wide/teacher.json"]


def test_paper_tables_pick_their_methods_by_role():
    deep = P.deep_table_params(_cfg(_deep), "cifar100")
    assert {k: deep[k] for k in ("hard", "soft", "kd", "wsl")} == {"hard": "hard", "soft": "kd", "kd": "kd", "wsl": "wsl"}
    assert sorted(deep["method_params"]) == ["hard", "kd", "wsl"]
    assert deep["student_models"] == {"r20": "resnet20"}
    no_wsl = _cfg(lambda c: (_deep(c), c["experiments"]["b"].update(methods=["hard", "kd"])))
    assert P.deep_table_params(no_wsl, "cifar100")["wsl"] == ""


def test_cell_inputs_are_the_jobs_outputs():
    """An MLP cell's files lie in its group's folder (one train_students output), a CNN cell's are outputs."""
    cfg = _cfg(lambda c: (_deep(c), c["students"]["theory"].update(widths=[2, 4])))
    records = P.cell_records(cfg)
    assert P.cell_file(records[-1], "replicates.npz").endswith("/m4/replicates.npz")
    inputs = P.cell_inputs(cfg, records, "replicates.npz")
    assert inputs == [
        "results/students/c100/none/hard/r20/m16/replicates.npz",
        "results/students/c100/r56/kd/r20/m16/replicates.npz",
        "results/students/c100/r56/wsl/r20/m16/replicates.npz",
        "results/students/easy/none/hard/theory",
        "results/students/easy/wide/kd/theory",
    ]
    assert P.mlp_students(cfg) == ["theory"] and P.deep_students(cfg) == ["r20"]


def _student_job(tmp_path: Path, widths: list[int]) -> SimpleNamespace:
    group = tmp_path / "results/students/easy/none/hard/theory"
    return SimpleNamespace(output=SimpleNamespace(group=str(group)), params=SimpleNamespace(student={"widths": widths}))


def test_group_folder_appears_whole_or_not_at_all(tmp_path):
    def rule(snk, fail_at=None):
        for k, width in enumerate(snk.params.student["widths"]):
            if width == fail_at:
                raise RuntimeError("diverged")
            for path in cell_outputs(snk, k).values():
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text(str(width))

    snk = _student_job(tmp_path, [2, 8])
    Path(snk.output.group).parent.mkdir(parents=True)
    with pytest.raises(RuntimeError):
        writes_group_folder(lambda s: rule(s, fail_at=8))(snk)
    assert not Path(snk.output.group).exists() and not staging_dir(snk.output.group).exists()
    writes_group_folder(rule)(snk)
    group = Path(snk.output.group)
    assert sorted(str(p.relative_to(group)) for p in group.rglob("*.*")) == [
        f"m{w}/{f}" for w in (2, 8) for f in ("biasvar_points.npz", "meta.json", "replicates.npz")]
    assert not staging_dir(group).exists()
