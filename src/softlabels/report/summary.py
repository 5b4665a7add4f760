"""The run summary printed at the end of a successful run (the Snakefile's ``onsuccess:``): what was
built and where, and the headline numbers of the tables that exist. It never raises: a table that is
missing (a ``--until`` run) or unreadable is named instead of its numbers.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

import pandas as pd

from softlabels.report.figplan import NO_TEACHER

NEURONS = "results/tables/neurons.csv"
BIASVAR = "results/tables/biasvar.csv"
CLAIMS = "results/tables/claims_summary.csv"
VERDICTS = ("supported", "contradicted", "inconclusive", "not tested")


def claims_lines(summary: pd.DataFrame) -> list[str]:
    """One line per claim and experiment of the claims summary: the pooled verdict and the settings' own verdicts."""
    return [f"  {r['paper']}  {r['claim']} [{r['experiment']}]: {r['verdict']} (settings: "
            + ", ".join(f"{int(r[v])} {v}" for v in VERDICTS if r[v]) + ")" for _, r in summary.iterrows()]


def _interval_level(claims: pd.DataFrame) -> float:
    """The interval level a claims table states ('95% paired t ...' -> 0.95; 0.95 when it states none)."""
    import re

    for text in claims.get("interval", pd.Series(dtype=str)).astype(str):
        m = re.match(r"\s*([0-9.]+)\s*%", text)
        if m:
            return float(m.group(1)) / 100
    return 0.95


def claims_markdown(claims: pd.DataFrame, sensitivity: pd.DataFrame | None = None) -> str:
    """The README's results block: one line per (paper, claim, experiment) of the claims summary
    (claims_summary.csv): the pooled verdict, the median effect with the range of the settings' intervals,
    the number of settings and how many got each verdict. Given the per-setting claims table (claims.csv)
    instead, it summarises it by the same rule first (``softlabels.analysis.claims.summarise``). With a
    sensitivity table (sensitivity.csv, ``softlabels.analysis.sensitivity``) a robustness column follows the
    pooled verdict: the claim's label for a default design, "variant of <base>" for a variant's own row, "–"
    for a claim no variant re-tests; without one the block is unchanged."""
    from softlabels.analysis.claims import WHY, summarise

    summary = claims if "settings" in claims.columns else summarise(claims, _interval_level(claims))

    def num(v: float) -> str:
        return "–" if pd.isna(v) else f"{float(v):.3g}"

    labels, variants = None, {}
    if sensitivity is not None:
        from softlabels.analysis.sensitivity import BASE_DESIGN, robustness_of

        labels = robustness_of(sensitivity)
        variants = {str(r["design"]): str(r["base"]) for _, r in sensitivity.iterrows() if r["design"] != BASE_DESIGN}

    def robust(r: pd.Series) -> str:
        key = (str(r["paper"]), str(r["claim"]), str(r["experiment"]))
        if key in labels:
            return labels[key]
        base = variants.get(str(r["experiment"]))
        return f"variant of {base}" if base else "–"

    extra = " robustness |" if labels is not None else ""
    lines = []
    head = f"| paper | claim | experiment | pooled verdict |{extra} median effect [range of intervals] | settings | " \
           + " | ".join(VERDICTS) + " |"
    lines += [head, "|---|---|---|---|" + ("---|" if extra else "") + "---|---:|" + "---:|" * len(VERDICTS)]
    for _, r in summary.iterrows():
        effect = f"{num(r['estimate_median'])} [{num(r['estimate_lo'])}, {num(r['estimate_hi'])}] ({r['effect']}, " \
                 f"claimed {r['claimed']})"
        label = f" {robust(r)} |" if labels is not None else ""
        lines.append(f"| {r['paper']} | {r['claim']} | {r['experiment']} | {r['verdict']} |{label} {effect} | "
                     f"{int(r['settings'])} | " + " | ".join(str(int(r[v])) for v in VERDICTS) + " |")
    why = [f"- {r['paper']}, {r['claim']} [{r['experiment']}]: {r['verdict']}, "
           + str(r["note"]).split(WHY, 1)[1].lstrip(" ") for _, r in summary.iterrows()
           if isinstance(r.get("note"), str) and WHY in r["note"]]
    if why:
        lines += ["", "Where a pooled verdict is not the most common verdict of its settings, why:", *why]
    return "\n".join(lines)


#: the two lines above the README's results table that define its words (``softlabels.cli.results_block``)
READING = ("*Setting*: one comparison the run makes (a data set, teacher, student setup and width; paper A's neuron "
           "claims at one pre-declared ε). *Arm*: one way to train the student (hard labels, or a teacher's soft labels). "
           "*B*: the radius each student neuron is held to around its initialisation (paper A's theory regime). "
           "*m\\**: the smallest width whose training error reaches ε (a bound, ≥, where no width run reaches it).  \n"
           "*Pooled verdict*: Holm's procedure over the settings' one-sided p-values (docs/science.md#claims): "
           "supported when one setting is significant toward the claim and none against, contradicted the other way "
           "round, else inconclusive; the counts are each setting's own verdict.")


def _pct(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def _hard_methods(kinds: dict[str, str]) -> set[str]:
    return {m for m, k in kinds.items() if k == "hard"}


def _arms(g: pd.DataFrame, kinds: dict[str, str]) -> tuple[list[pd.Series], list[pd.Series]]:
    """The hard-label rows (teacher-free methods of kind 'hard') and every other arm (method, teacher)
    of these cells, each sorted by method and teacher: every method the experiment runs."""
    hard = _hard_methods(kinds)
    g = g.sort_values(["method", "teacher"])
    h = [r for _, r in g.iterrows() if r["method"] in hard and r["teacher"] == NO_TEACHER]
    s = [r for _, r in g.iterrows() if r["method"] not in hard]
    return h, s


def _arm(r: pd.Series) -> str:
    return r["method"] if r["teacher"] == NO_TEACHER else f"{r['method']} ({r['teacher']})"


def accuracy_lines(neurons: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    """Per experiment and data set: test accuracy at the smallest width of every method the
    experiment runs against each hard-label method (whatever the soft methods are named)."""
    out = []
    for (exp, ds, st), g in neurons.groupby(["experiment", "dataset", "student"], sort=True):
        g = g[g["width"] == g["width"].min()]
        hards, softs = _arms(g, kinds)
        for h in hards:
            for s in softs:
                diff = 100 * (s["test_acc_mean"] - h["test_acc_mean"])
                out.append(f"  {exp:<17} {ds:<16} {st:<13} m={int(g['width'].iloc[0]):<4} {h['method']} "
                           f"{_pct(h['test_acc_mean']):>6}  {_arm(s):<22} {_pct(s['test_acc_mean']):>6}  "
                           f"soft - hard {diff:+.1f} points")
    return out


def biasvar_lines(biasvar: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    """Per experiment and data set at the widest width: CE bias and variance of every method the
    experiment runs against each hard-label method."""
    out = []
    for (exp, ds, st), g in biasvar.groupby(["experiment", "dataset", "student"], sort=True):
        g = g[g["width"] == g["width"].max()]
        hards, softs = _arms(g, kinds)
        for h in hards:
            for s in softs:
                out.append(f"  {exp:<17} {ds:<16} {st:<13} m={int(g['width'].iloc[0]):<4} bias {h['method']} "
                           f"{h['ce_bias']:.3f} vs {_arm(s)} {s['ce_bias']:.3f}; variance {h['ce_variance']:.4f} "
                           f"vs {s['ce_variance']:.4f}")
    return out


def _section(title: str, path: str, lines_of: Callable[[pd.DataFrame], list[str]]) -> list[str]:
    if not Path(path).exists():
        return [f"{title}: {path} is missing (not built by this run)."]
    try:
        lines = lines_of(pd.read_csv(path))
    except Exception as exc:  # noqa: BLE001 - a summary must never fail a finished run
        return [f"{title}: could not read {path}: {exc}"]
    return [f"{title} ({path}):", *(lines or ["  (no hard-label cell beside another method to compare)"])]


def summary_lines(targets: list[str], kinds: dict[str, str]) -> list[str]:
    """The summary's lines for these targets (paths relative to the working directory)."""
    built = [t for t in targets if Path(t).exists()]
    missing = [t for t in targets if t not in built]
    tables = [t for t in built if t.startswith("results/tables/")]
    figures = [t for t in built if t.startswith("results/figures/")]
    lines = ["", "softlabels run summary", "======================",
             f"{len(built)} of {len(targets)} targets present: {len(tables)} tables in results/tables/ (CSV + "
             f"Markdown), {len(figures)} figure files in results/figures/ (PNG + SVG); per-job logs in logs/."]
    if missing:
        lines.append(f"Missing, not built by this run ({len(missing)}): " + ", ".join(missing))
    lines += _section("Claims of papers A and B: the pooled verdict per claim and experiment", CLAIMS, claims_lines)
    lines += _section("Test accuracy at the smallest width, hard labels vs every other method", NEURONS,
                      lambda df: accuracy_lines(df, kinds))
    lines += _section("Bias and variance of the cross-entropy, hard labels vs every other method (widest width)",
                      BIASVAR,
                      lambda df: biasvar_lines(df, kinds))
    lines.append(store_line())
    lines.append("The report with every figure and table: snakemake --report report.html")
    return lines


def store_usage(root: str = "results/store") -> tuple[int, int]:
    """(entries, bytes) of the store of trained cells under ``root`` (entries: ``<2 hex>/<sha256>/R<n>/`` with
    a manifest, the layout of ``softlabels.pipeline.store``); (0, 0) when there is none."""
    path = Path(root)
    if not path.is_dir():
        return 0, 0
    entries = sum(1 for _ in path.glob("*/*/R*/manifest.json"))
    return entries, sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def store_line(root: str = "results/store") -> str:
    """The store of trained cells (``softlabels.pipeline.store``): its entries and size, and how to clear it."""
    entries, size = store_usage(root)
    if not entries:
        return f"Store of trained cells ({root}/): empty."
    return (f"Store of trained cells ({root}/): {entries} entries, {size / 2**20:.1f} MiB "
            f"(delete it to reclaim the space; SOFTLABELS_STORE=0 turns it off).")


def print_summary(targets: list[str], kinds: dict[str, Any], stream: TextIO | None = None) -> None:
    """Print the run summary; never raises."""
    try:
        text = "\n".join(summary_lines(list(targets), dict(kinds)))
    except Exception as exc:  # noqa: BLE001 - a summary must never fail a finished run
        text = f"softlabels run summary unavailable: {exc}"
    print(text, file=stream or sys.stdout, flush=True)


def table1_markdown(t1: pd.DataFrame) -> str:
    """Paper A's Table 1 (paperA_table1.csv) for the README: one line per task and width, the teacher's, the
    hard-label and each soft-label method's students' test accuracy (%), ours (mean [interval]) beside the
    paper's."""

    def arm(r: pd.Series, name: str) -> str:
        return f"{r[name + '_acc']:.2f} [{r[name + '_lo']:.2f}, {r[name + '_hi']:.2f}]"

    def paper(v: float) -> str:
        return "–" if pd.isna(v) else f"{v:.2f}"

    softs = list(pd.unique(t1["soft_method"]))
    lines = ["| task | neurons | teacher: ours | paper | hard: ours [interval] | paper | "
             + " | ".join(f"{m}: ours [interval]" for m in softs) + " | paper soft |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * len(softs) + "---:|"]
    for (_, _, _), g in t1.groupby(["data", "dataset", "student_neurons"], sort=False):
        r = g.iloc[0]
        by = {m: arm(row, "soft") for m, (_, row) in zip(g["soft_method"], g.iterrows())}
        lines.append(f"| {r['data']} | {int(r['student_neurons'])} | {r['teacher_acc']:.2f} | "
                     f"{paper(r['paper_teacher'])} | {arm(r, 'hard')} | {paper(r['paper_hard'])} | "
                     + " | ".join(by.get(m, "–") for m in softs) + f" | {paper(r['paper_soft'])} |")
    return "\n".join(lines)
