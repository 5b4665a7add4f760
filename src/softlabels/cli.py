"""The ``softlabels`` command: what a researcher wants outside a Snakemake run.

- ``softlabels validate CONFIG``: check a config as a run does before any job (the schema, the plan's
  outputs, the raw_dir folders), print its warnings, and count the jobs of Snakemake's dry run;
- ``softlabels margin DATA``: the kernel margin γ of your own binary data set (an ``.npz`` with ``X`` and
  ``y``, or ``X_train`` and ``y_train``; or a ``.csv`` whose last column is the 0/1 label);
- ``softlabels summary``: the end-of-run summary of the tables under ``results/`` of this directory;
- ``softlabels reference``: copy a finished default run's tables into ``results/reference/`` and rewrite
  the README's results block from them (``--preset mnist``: a run of config/mnist.yaml, into
  ``results/reference/mnist/`` and the README's MNIST Table 1 block).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from softlabels.errors import InputError, SoftlabelsError

# The checkout this package belongs to (src/softlabels/cli.py -> the checkout's root).
CHECKOUT = Path(__file__).resolve().parents[2]


def _schema(path: str | None) -> Path:
    schema = Path(path) if path else CHECKOUT / "workflow" / "schemas" / "config.schema.yaml"
    if not schema.is_file():
        raise InputError(f"{schema}: schema not found; pass --schema workflow/schemas/config.schema.yaml of a checkout")
    return schema


def cmd_validate(args: argparse.Namespace) -> int:
    """The checks a run makes before any job, on the same plan: the schema and the cross-references
    (``config.validate``), planned outputs that would be one file (``plan.check_targets``), the raw_dir
    folders (``config.check_raw_dirs``), the warnings (``config.advisories``), then Snakemake's own dry run of the
    workflow with this config in this directory (unless ``--no-dag``), which builds every job and its inputs."""
    from softlabels.pipeline import config as C
    from softlabels.pipeline import plan

    cfg = C.load(args.config, _schema(args.schema))
    plan.check_targets(cfg)
    C.check_raw_dirs(cfg)
    for warning in C.advisories(cfg):
        print(f"softlabels: warning: {warning}", file=sys.stderr)
    cells = C.all_cells(cfg)
    jobs = "" if args.no_dag else f"; {dry_run(args.config)}"
    print(f"{args.config}: valid; {len(cfg['experiments'])} experiments, {len(cells)} student cells{jobs}")
    print(claims_listing(cfg))
    return 0


def claims_listing(cfg: dict) -> str:
    """The claims a run of ``cfg`` will test (``claims.planned_claims``), one line per claim and experiment with
    its number of settings, and a line for each comparison that has no partner in the config."""
    from softlabels.analysis.claims import planned_claims
    from softlabels.pipeline import plan

    table = planned_claims(plan.claims_table_params(cfg))
    lines = ["claims this config will test (settings per claim and experiment; docs/science.md#claims):"]
    for _, r in table.iterrows():
        mark = "  " if r["settings"] else "! "
        lines.append(f"{mark}{r['paper']} [{r['experiment']}] {r['claim']}: {r['settings']} setting"
                     f"{'' if r['settings'] == 1 else 's'}" + (f" ({r['note']})" if r["note"] else ""))
    if len(lines) == 1:
        lines.append("  none")
    return "\n".join(lines)


def dry_run(config: str) -> str:
    """Snakemake's dry run of this checkout's workflow with ``config``, in the working directory (what
    ``snakemake --cores all --configfile CONFIG`` would plan here): how many jobs it plans; an InputError
    with Snakemake's message when it cannot build the plan."""
    import re
    import subprocess

    snakefile = CHECKOUT / "Snakefile"
    if not snakefile.is_file():
        return "no workflow checkout beside this package, so no dry run (pass --no-dag to skip it)"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--configfile",
           str(Path(config).resolve()), "--dry-run", "--nolock", "--cores", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith(("Building DAG", "Using "))]
        raise InputError("Snakemake cannot plan this config: " + " ".join(lines[-8:]).strip())
    m = re.search(r"^total\s+(\d+)", out, re.M)
    return f"Snakemake plans {m.group(1) if m else 0} jobs here (a dry run)"


def load_xy(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and 0/1 labels of a user's data file (.npz with X/y or X_train/y_train, or .csv, label last)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    if p.suffix == ".csv":
        try:
            a = np.loadtxt(p, delimiter=",", ndmin=2)
        except ValueError as exc:
            raise InputError(f"{p}: not a numeric CSV (features, then the 0/1 label in the last column): {exc}") from None
        X, y = a[:, :-1], a[:, -1]
    else:
        from softlabels import io

        d = io.read_npz(p)
        key = "X" if "X" in d else "X_train"
        if key not in d or key.replace("X", "y") not in d:
            raise InputError(f"{p}: expected arrays X and y (or X_train and y_train); found {sorted(d)}")
        X, y = d[key], d[key.replace("X", "y")]
    if X.ndim != 2 or len(X) != len(y) or len(X) < 2:
        raise InputError(f"{p}: expected X of shape (n, d) with n >= 2 and one label per row; got X {X.shape}, "
                         f"y {y.shape}")
    labels = set(np.unique(y).tolist())
    if not labels <= {0, 1} or len(labels) != 2:
        raise InputError(f"{p}: the margin is for binary tasks with labels 0 and 1; found labels {sorted(labels)}")
    return X.astype(np.float64), y.astype(np.int64)


def cmd_margin(args: argparse.Namespace) -> int:
    from softlabels.theory.margin import kernel_margin_report

    X, y = load_xy(args.data)
    norms = np.linalg.norm(X, axis=1)
    if norms.min() <= 0:
        raise InputError(f"{args.data}: a row of X is zero; the kernel margin needs 0 < ||x||")
    if norms.max() > 1 + 1e-6:
        X = X / norms.max()  # the theory needs ||x|| <= 1: scale every point by the same factor
        print(f"note: scaled X by 1/{norms.max():.4g} so that max ||x|| = 1", file=sys.stderr)
    rep = kernel_margin_report(X, y, max_points=args.max_points)
    print(json.dumps(rep, indent=2, default=float))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from softlabels.pipeline import config as C
    from softlabels.pipeline import plan
    from softlabels.report.summary import summary_lines

    if not any(Path("results/tables").glob("*.csv")):
        raise InputError("results/tables/ holds no tables here; run the pipeline first (snakemake --cores all)")
    cfg = C.load(args.config, _schema(args.schema))  # what the run asks for; which methods distil
    kinds = {m: v["kind"] for m, v in C.method_variants(cfg).items()}
    print("\n".join(summary_lines(plan.all_targets(cfg), kinds)))
    return 0


BEGIN, END = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"
#: the README block of paper A's Table 1 on real MNIST (config/mnist.yaml)
MNIST_BEGIN, MNIST_END = "<!-- MNIST:BEGIN -->", "<!-- MNIST:END -->"


def results_block(claims_csv: str, command: str = "reference") -> str:
    """The README's results block, generated from a claims table (``claims_csv``, as the block names it)."""
    import pandas as pd

    from softlabels.report.summary import READING, claims_markdown

    p = Path(claims_csv)
    if not p.is_file():
        raise InputError(f"{p}: no claims table; run the pipeline first (snakemake --cores all)")
    sens = p.with_name(SENSITIVITY)  # a run with design variants: the robustness label beside each verdict
    table = claims_markdown(pd.read_csv(p), pd.read_csv(sens) if sens.is_file() else None)
    robust = (f" Robustness: each claim re-tested under the run's design variants (`{sens.as_posix()}`)."
              if sens.is_file() else "")
    return (f"{BEGIN}\nGenerated by `softlabels {command}` from `{claims_csv}` of the default run: how many of the "
            "run's settings support, contradict or leave open each claim (every setting's effect, interval and "
            f"note: `{p.with_suffix('.md').as_posix()}`).{robust}\n\n{READING}\n\n{table}\n{END}")


#: the sensitivity table beside the claims summary, when the run declared design variants
SENSITIVITY = "sensitivity.csv"


def mnist_block(folder: str, command: str = "reference --preset mnist") -> str:
    """The README's block of paper A's Table 1 on real MNIST, generated from a run of config/mnist.yaml whose
    tables are in ``folder`` (as the block names it): Table 1 ours beside the paper's, and the claim's verdicts."""
    import pandas as pd

    from softlabels.report.summary import claims_markdown, table1_markdown

    table, claims = Path(folder) / "paperA_table1.csv", Path(folder) / "claims_summary.csv"
    for f in (table, claims):
        if not f.is_file():
            raise InputError(f"{f}: not found; run config/mnist.yaml first (snakemake --cores all --configfile "
                             f"config/mnist.yaml)")
    summary = pd.read_csv(claims)
    summary = summary[summary["claim"].str.contains("accuracy")]
    return (f"{MNIST_BEGIN}\nGenerated by `softlabels {command}` from `{table.as_posix()}` and "
            f"`{claims.as_posix()}` of a run of `config/mnist.yaml`: test accuracy (%), ours as the mean over 10 "
            f"runs with its interval over runs and test points, beside paper A's.\n\n{table1_markdown(pd.read_csv(table))}"
            f"\n\n{claims_markdown(summary, None)}\n{MNIST_END}")


def rewrite_block(readme: Path, block: str) -> None:
    """Replace the README's one block of ``block``'s kind (its first line's marker) by ``block``."""
    begin = block.split("\n", 1)[0]
    end = begin.replace(":BEGIN", ":END")
    if not readme.is_file():
        raise InputError(f"{readme}: no such file; run softlabels in a checkout (where README.md is) or pass "
                         f"--readme PATH")
    text = readme.read_text(encoding="utf-8")
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise InputError(f"{readme}: expected one {begin} ... {end} block")
    head, rest = text.split(begin)
    tail = rest.split(end, 1)[1]
    readme.write_text(head + block + tail, encoding="utf-8")


REFERENCE = "results/reference"
#: each preset's reference: its folder, the README block made from it, and the config that makes it
PRESETS = {"default": (REFERENCE, lambda folder: results_block(f"{folder}/claims_summary.csv", "reference"),
                       "config.yaml"),
           "mnist": (f"{REFERENCE}/mnist", mnist_block, "config/mnist.yaml")}
#: tables left out of the reference: per-epoch records (megabytes, rebuilt by every run, summarised elsewhere)
NOT_REFERENCE = ("regularization_epochs",)


def cmd_reference(args: argparse.Namespace) -> int:
    """Replace a preset's reference tables (CSV and Markdown) by those of a finished run of it, then rewrite the
    README's block from them. Run it from the checkout's root."""
    import shutil

    folder, block, config = PRESETS[args.preset]
    tables, reference, readme = Path(args.tables), Path(folder), Path(args.readme)
    new = sorted(p for p in tables.glob("*") if p.suffix in (".csv", ".md") and p.stem not in NOT_REFERENCE)
    if not (tables / "claims_summary.csv").is_file():
        raise InputError(f"{tables}: no claims table; run the pipeline first (snakemake --cores all"
                         f"{'' if config == 'config.yaml' else ' --configfile ' + config})")
    if not readme.is_file() or not reference.parent.is_dir():
        raise InputError(f"{readme} or {reference.parent}/ not found: run softlabels reference from the checkout's root")
    reference.mkdir(exist_ok=True)
    for old in reference.glob("*"):
        if old.suffix in (".csv", ".md"):
            old.unlink()  # a table the run no longer makes must not stay behind
    for f in new:
        shutil.copyfile(f, reference / f.name)
    rewrite_block(readme, block(folder))
    print(f"{reference}/: {len(new)} files from {tables}/; {readme}: its {args.preset} block rewritten from them")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per ``cmd_*`` function."""
    ap = argparse.ArgumentParser(prog="softlabels", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a config against the schema")
    v.add_argument("config")
    v.add_argument("--schema", help="the schema (default: this checkout's workflow/schemas/config.schema.yaml)")
    v.add_argument("--no-dag", action="store_true", help="skip Snakemake's dry run (the schema and plan checks only)")
    v.set_defaults(fn=cmd_validate)
    m = sub.add_parser("margin", help="the kernel margin of a binary data set (.npz with X, y; or .csv, label last)")
    m.add_argument("data")
    m.add_argument("--max-points", type=int, default=2000, help="subsample for the kernel SVM (default 2000)")
    m.set_defaults(fn=cmd_margin)
    s = sub.add_parser("summary", help="the end-of-run summary of results/ in this directory")
    s.add_argument("--config", default="config.yaml", help="the config the run used (default: config.yaml)")
    s.add_argument("--schema", help="the schema (default: this checkout's workflow/schemas/config.schema.yaml)")
    s.set_defaults(fn=cmd_summary)
    f = sub.add_parser("reference", help="copy a finished run's tables into results/reference/ (a preset's: its "
                                         "subfolder) and rewrite the README's block from them (from the checkout's root)")
    f.add_argument("--tables", default="results/tables", help="the run's tables (default: results/tables)")
    f.add_argument("--readme", default="README.md", help="the README whose block is rewritten (default: README.md)")
    f.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="whose run it is: default (config.yaml, results/reference/ and the results block) or mnist "
                        "(config/mnist.yaml, results/reference/mnist/ and the MNIST Table 1 block)")
    f.set_defaults(fn=cmd_reference)
    return ap


def commands() -> list[str]:
    """The sub-commands' names (what the docs may name)."""
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except SoftlabelsError as exc:
        print(f"softlabels: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
