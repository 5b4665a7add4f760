"""How robust each verdict is: every claim of the claims summary re-tested under the declared design variants
(experiments with ``variant_of`` and ``varies``, docs/science.md#sensitivity).

Pure functions of the claims summary (``claims_summary.csv``: one row per paper, claim and experiment, with
the pooled verdict and effect, ``softlabels.analysis.claims.summarise``) and the variant map (variant ->
{"base", "varies"}, ``softlabels.pipeline.config.design_variants``).

A base experiment's claim and a variant's are the same claim when they have the same paper and claim text.
One exception, stated in the table's note: paper A's neuron claims name their common radius B in the text
("both arms at radius B = 4"), so a variant that trains at another common radius tests the claim under
another name; such a claim is matched by its text with the number of B left out, when exactly one claim of
the base and one of the variant have that form (otherwise the texts must agree exactly).

Each claim of a base experiment that has variants gets a robustness label over its designs (the base and
every variant that tests the claim):

- *robust*: every variant's pooled verdict equals the base's;
- *fragile*: the designs disagree in direction: one is supported and another contradicted;
- *weak*: some variant's verdict differs from the base's (inconclusive, not tested, or decided where the base
  was not) without any supported ↔ contradicted flip;
- *no variant*: no variant tests the claim (a variant that drops the methods a claim compares does not).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

LABELS = ("robust", "fragile", "weak", "no variant")
DECIDED = ("supported", "contradicted")
BASE_DESIGN = "default design"
COLUMNS = ["paper", "claim", "base", "design", "varies", "verdict", "agreement", "robustness", "estimate_median",
           "estimate_lo", "estimate_hi", "settings", "effect", "claimed", "claim_as_tested"]
_RADIUS = re.compile(r"radius B = [0-9][0-9.eE+-]*")


def claim_key(claim: str) -> str:
    """A claim's text with a common radius's value left out ('... (both arms at radius B = 4)' ->
    '... (both arms at radius B = ·)'): the looser key a radius variant's claims are matched by."""
    return _RADIUS.sub("radius B = ·", str(claim))


def match_claims(base: list[tuple[str, str]], variant: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """Base (paper, claim) -> the variant's (paper, claim) it is re-tested by: the same text, else the same
    ``claim_key`` where that key is unique on both sides. Base claims the variant does not test are left out."""
    out = {b: b for b in base if b in set(variant)}
    left_b = [b for b in base if b not in out]
    left_v = [v for v in variant if v not in set(out.values())]

    def by_key(items: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        keys: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for paper, claim in items:
            keys.setdefault((paper, claim_key(claim)), []).append((paper, claim))
        return keys

    kb, kv = by_key(left_b), by_key(left_v)
    for key, bs in kb.items():
        vs = kv.get(key, [])
        # the key must be unique among ALL the base's claims, not only the unmatched ones
        if len(bs) == 1 and len(vs) == 1 and sum(1 for p, c in base if (p, claim_key(c)) == key) == 1:
            out[bs[0]] = vs[0]
    return out


def agreement(base: str, other: str) -> str:
    """How a variant's pooled verdict relates to the base's: 'agrees', 'flips' (supported ↔ contradicted) or
    'differs' (any other change)."""
    if other == base:
        return "agrees"
    if base in DECIDED and other in DECIDED:
        return "flips"
    return "differs"


def robustness(base: str, variants: list[str]) -> str:
    """The robustness label of a claim from its base verdict and its variants' (see the module's docstring)."""
    if not variants:
        return "no variant"
    verdicts = {base, *variants}
    if set(DECIDED) <= verdicts:
        return "fragile"
    return "robust" if all(v == base for v in variants) else "weak"


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def sensitivity_table(summary: pd.DataFrame, variants: dict[str, dict[str, str]]) -> pd.DataFrame:
    """One block of rows per claim of every base experiment with variants: the base design's row, then one
    row per variant that tests the claim (its pooled verdict, median effect and range, settings, the choice it
    varies, and how its verdict relates to the base's), every row carrying the claim's robustness label.
    ``summary``: claims_summary.csv; ``variants``: variant experiment -> {"base", "varies"}."""
    rows: list[dict[str, Any]] = []
    by_exp = {exp: g for exp, g in summary.groupby("experiment", sort=False)}
    bases = sorted({v["base"] for v in variants.values()})
    for base in bases:
        own = by_exp.get(base)
        if own is None:
            continue
        base_claims = list(zip(own["paper"].astype(str), own["claim"].astype(str)))
        matched: dict[str, tuple[dict[tuple[str, str], tuple[str, str]], pd.DataFrame]] = {}
        for name in sorted(v for v, x in variants.items() if x["base"] == base):
            g = by_exp.get(name)
            if g is None:
                continue
            matched[name] = (match_claims(base_claims, list(zip(g["paper"].astype(str), g["claim"].astype(str)))), g)
        for (paper, claim), (_, b) in zip(base_claims, own.iterrows()):
            block = [_design_row(b, paper, claim, base, BASE_DESIGN, BASE_DESIGN, "", claim)]
            for name, (pairs, g) in matched.items():
                if (paper, claim) not in pairs:
                    continue
                vp, vc = pairs[(paper, claim)]
                r = g[(g["paper"].astype(str) == vp) & (g["claim"].astype(str) == vc)].iloc[0]
                block.append(_design_row(r, paper, claim, base, name, variants[name]["varies"],
                                         agreement(str(b["verdict"]), str(r["verdict"])), vc))
            label = robustness(str(b["verdict"]), [str(r["verdict"]) for r in block[1:]])
            for r in block:
                r["robustness"] = label
            rows += block
    return pd.DataFrame(rows, columns=COLUMNS)


def _design_row(r: pd.Series, paper: str, claim: str, base: str, design: str, varies: str, agree: str,
                as_tested: str) -> dict[str, Any]:
    return {"paper": paper, "claim": claim, "base": base, "design": design, "varies": varies,
            "verdict": str(r["verdict"]), "agreement": agree, "robustness": "",
            "estimate_median": _num(r.get("estimate_median")), "estimate_lo": _num(r.get("estimate_lo")),
            "estimate_hi": _num(r.get("estimate_hi")), "settings": int(_num(r.get("settings", 0)) or 0),
            "effect": str(r.get("effect", "")), "claimed": str(r.get("claimed", "")),
            "claim_as_tested": "" if as_tested == claim else as_tested}


def robustness_of(table: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """(paper, claim, base experiment) -> robustness label, from a sensitivity table (its base rows)."""
    base = table[table["design"] == BASE_DESIGN]
    return {(str(r["paper"]), str(r["claim"]), str(r["base"])): str(r["robustness"]) for _, r in base.iterrows()}


NOTE = ("One block per claim of each base experiment that has design variants (experiments with variant_of): the "
        "default design's pooled verdict (claims_summary.csv), then one row per variant that tests the claim, with "
        "the choice it varies, its pooled verdict, median effect and the range of its settings' intervals. agreement: "
        "the variant's verdict against the default design's (agrees; flips: supported ↔ contradicted; differs: any "
        "other change). robustness, per claim: robust, every variant agrees; fragile, one design supports the claim "
        "and another contradicts it; weak, some variant differs without such a flip; no variant, none tests it. "
        "Claims are matched by paper and claim text; paper A's neuron claims at a common radius are matched with "
        "the radius value left out when that leaves one claim of that form on each side (claim_as_tested gives "
        "the variant's own text). The variants and why each is a reasonable alternative: docs/science.md#sensitivity.")
