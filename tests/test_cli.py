"""The `softlabels` command: validate, margin, summary and reference, run as a user would (a subprocess)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, TINY, micro_config


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "softlabels.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_validate_accepts_a_config_and_names_a_bad_key(tmp_path):
    ok = cli("validate", TINY, cwd=tmp_path)  # its dry run plans the tiny config from scratch there
    assert ok.returncode == 0 and "valid" in ok.stdout and "Snakemake plans 51 jobs here" in ok.stdout, ok.stdout
    bad = micro_config()
    bad["students"]["theory"]["replicats"] = 2
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = cli("validate", tmp_path / "bad.yaml")
    assert r.returncode == 1 and "students.theory" in r.stderr and "replicats" in r.stderr
    assert "Traceback" not in r.stderr


def test_margin_of_a_users_data_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] > 0).astype(int)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    r = cli("margin", tmp_path / "d.npz")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["gamma"] > 0 and rep["gamma_lower"] > 0
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",")
    assert json.loads(cli("margin", tmp_path / "d.csv").stdout)["gamma"] == rep["gamma"]
    np.savez(tmp_path / "three.npz", X=X, y=np.arange(60) % 3)
    r = cli("margin", tmp_path / "three.npz")
    assert r.returncode == 1 and "binary" in r.stderr and "Traceback" not in r.stderr


def test_readme_block_comes_from_the_claims_summary(tmp_path):
    """One line per (paper, claim, experiment): the pooled verdict, the median effect with the range of the
    settings' intervals, the settings and their verdict counts; from the summary, or from the per-setting
    table summarised by the same rule."""
    from softlabels.analysis.claims import COLUMNS, summarise

    base = {"setting": "s", "effect": "e", "claimed": "> 0", "n": 4, "interval": "95% paired t over replicates",
            "exact_p": float("nan"), "note": ""}
    claims = pd.DataFrame([
        {**base, "paper": "A", "claim": "c1", "experiment": "x", "estimate": 1.0, "lo": 0.5, "hi": 1.5,
         "verdict": "supported", "p_value": 0.001},
        {**base, "paper": "A", "claim": "c1", "experiment": "x", "estimate": 0.2, "lo": -0.5, "hi": 0.9,
         "verdict": "inconclusive", "p_value": 0.3},
        {**base, "paper": "B", "claim": "c2", "experiment": "y", "estimate": -1.0, "lo": -1.5, "hi": -0.5,
         "verdict": "contradicted", "p_value": 0.9999}], columns=COLUMNS)
    claims.to_csv(tmp_path / "claims.csv", index=False)
    summarise(claims, 0.95).to_csv(tmp_path / "claims_summary.csv", index=False)
    from softlabels.cli import results_block, rewrite_block

    for name in ("claims_summary.csv", "claims.csv"):
        (tmp_path / "README.md").write_text("top\n<!-- RESULTS:BEGIN -->\nold\n<!-- RESULTS:END -->\nbottom\n")
        rewrite_block(tmp_path / "README.md", results_block(str(tmp_path / name)))
        text = (tmp_path / "README.md").read_text()
        assert text.startswith("top\n") and text.endswith("bottom\n") and "old" not in text
        assert "| A | c1 | x | supported | 0.6 [-0.5, 1.5] (e, claimed > 0) | 2 | 1 | 0 | 1 | 0 |" in text, text
        assert "| B | c2 | y | contradicted | -1 [-1.5, -0.5] (e, claimed > 0) | 1 | 0 | 1 | 0 | 0 |" in text, text
    (tmp_path / "broken.md").write_text("no block\n")
    from softlabels.errors import InputError

    with pytest.raises(InputError, match="RESULTS:BEGIN"):
        rewrite_block(tmp_path / "broken.md", results_block(str(tmp_path / "claims_summary.csv")))


def test_reference_copies_a_runs_tables_and_regenerates_the_block(tmp_path):
    tables, reference = tmp_path / "results" / "tables", tmp_path / "results" / "reference"
    tables.mkdir(parents=True)
    reference.mkdir()
    from softlabels.analysis.claims import COLUMNS, summarise

    claims = pd.DataFrame([{"paper": "A", "claim": "c1", "experiment": "x", "setting": "s", "effect": "e",
                            "estimate": 1.0, "lo": 0.5, "hi": 1.5, "claimed": "> 0", "verdict": "supported", "n": 4,
                            "interval": "95% paired t over replicates", "note": "", "p_value": 0.001,
                            "exact_p": float("nan")}], columns=COLUMNS)
    claims.to_csv(tables / "claims.csv", index=False)
    summarise(claims, 0.95).to_csv(tables / "claims_summary.csv", index=False)
    (tables / "claims.md").write_text("# claims\n")
    (tables / "regularization_epochs.csv").write_text("per-epoch records: not kept\n")
    (tables / "claims.html").write_text("<p>not kept</p>")
    (reference / "gone.csv").write_text("a table the run no longer makes\n")
    (tmp_path / "README.md").write_text("top\n<!-- RESULTS:BEGIN -->\nold\n<!-- RESULTS:END -->\nbottom\n")
    r = cli("reference", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in reference.iterdir()) == ["claims.csv", "claims.md", "claims_summary.csv"]
    text = (tmp_path / "README.md").read_text()
    assert "`softlabels reference` from `results/reference/claims_summary.csv`" in text
    assert "| A | c1 | x | supported |" in text, text
    (tables / "claims_summary.csv").unlink()
    r = cli("reference", cwd=tmp_path)
    assert r.returncode == 1 and "no claims table" in r.stderr and (reference / "claims.csv").exists()
