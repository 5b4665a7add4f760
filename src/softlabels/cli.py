"""The ``softlabels`` command: what a researcher wants outside a Snakemake run.

- ``softlabels validate CONFIG``: check a config against the schema, with the messages a run gives;
- ``softlabels margin DATA``: the kernel margin γ of your own binary data set (an ``.npz`` with ``X`` and
  ``y``, or ``X_train`` and ``y_train``; or a ``.csv`` whose last column is the 0/1 label);
- ``softlabels summary``: the end-of-run summary of the tables under ``results/`` of this directory;
- ``softlabels reference``: copy a finished default run's tables into ``results/reference/`` and rewrite
  the README's results block from them.
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
    from softlabels.pipeline import config as C

    cfg = C.load(args.config, _schema(args.schema))
    cells = C.all_cells(cfg)
    print(f"{args.config}: valid; {len(cfg['experiments'])} experiments, {len(cells)} student cells")
    return 0


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


def rewrite_block(readme: Path, block: str) -> None:
    """Replace the README's one results block by ``block``."""
    if not readme.is_file():
        raise InputError(f"{readme}: no such file; run softlabels in a checkout (where README.md is) or pass "
                         f"--readme PATH")
    text = readme.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise InputError(f"{readme}: expected one {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + block + tail, encoding="utf-8")


REFERENCE = "results/reference"
#: tables left out of the reference: per-epoch records (megabytes, rebuilt by every run, summarised elsewhere)
NOT_REFERENCE = ("regularization_epochs",)


def cmd_reference(args: argparse.Namespace) -> int:
    """Replace results/reference/'s tables (CSV and Markdown) by those of a finished run, then rewrite the
    README's results block from results/reference/claims_summary.csv. Run it from the checkout's root."""
    import shutil

    tables, reference, readme = Path(args.tables), Path(REFERENCE), Path(args.readme)
    new = sorted(p for p in tables.glob("*") if p.suffix in (".csv", ".md") and p.stem not in NOT_REFERENCE)
    if not (tables / "claims_summary.csv").is_file():
        raise InputError(f"{tables}: no claims table; run the default pipeline first (snakemake --cores all)")
    if not readme.is_file() or not reference.is_dir():
        raise InputError(f"{readme} or {reference}/ not found: run softlabels reference from the checkout's root")
    for old in reference.glob("*"):
        if old.suffix in (".csv", ".md"):
            old.unlink()  # a table the run no longer makes must not stay behind
    for f in new:
        shutil.copyfile(f, reference / f.name)
    rewrite_block(readme, results_block(f"{REFERENCE}/claims_summary.csv", "reference"))
    print(f"{reference}/: {len(new)} files from {tables}/; {readme}: results block rewritten from them")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="softlabels", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a config against the schema")
    v.add_argument("config")
    v.add_argument("--schema", help="the schema (default: this checkout's workflow/schemas/config.schema.yaml)")
    v.set_defaults(fn=cmd_validate)
    m = sub.add_parser("margin", help="the kernel margin of a binary data set (.npz with X, y; or .csv, label last)")
    m.add_argument("data")
    m.add_argument("--max-points", type=int, default=2000, help="subsample for the kernel SVM (default 2000)")
    m.set_defaults(fn=cmd_margin)
    s = sub.add_parser("summary", help="the end-of-run summary of results/ in this directory")
    s.add_argument("--config", default="config.yaml", help="the config the run used (default: config.yaml)")
    s.add_argument("--schema", help="the schema (default: this checkout's workflow/schemas/config.schema.yaml)")
    s.set_defaults(fn=cmd_summary)
    f = sub.add_parser("reference", help="copy a finished default run's tables into results/reference/ and rewrite "
                                         "the README's results block from them (from the checkout's root)")
    f.add_argument("--tables", default="results/tables", help="the run's tables (default: results/tables)")
    f.add_argument("--readme", default="README.md")
    f.set_defaults(fn=cmd_reference)
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args))
    except SoftlabelsError as exc:
        print(f"softlabels: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
