"""The ``softlabels`` command: what a researcher wants outside a Snakemake run.

- ``softlabels validate CONFIG``: check a config against the schema, with the messages a run gives;
- ``softlabels margin DATA``: the kernel margin γ of your own binary data set (an ``.npz`` with ``X`` and
  ``y``, or ``X_train`` and ``y_train``; or a ``.csv`` whose last column is the 0/1 label);
- ``softlabels summary``: the end-of-run summary of the tables under ``results/`` of this directory.
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
    from softlabels.report.summary import summary_lines

    tables = sorted(str(p) for p in Path("results/tables").glob("*.csv"))
    if not tables:
        raise InputError("results/tables/ holds no tables here; run the pipeline first (snakemake --cores all)")
    cfg = C.load(args.config, _schema(args.schema))  # which methods are hard labels and which distil
    kinds = {m: v["kind"] for m, v in C.method_variants(cfg).items()}
    print("\n".join(summary_lines(tables, kinds)))
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
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args))
    except SoftlabelsError as exc:
        print(f"softlabels: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
