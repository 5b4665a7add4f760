"""The front door stays true: README.md, results/README.md and docs/*.md point only at files that exist,
the README's first screen holds the quick start and the report command, its results block is what
`softlabels reference` generates from results/reference/, results/README.md names every table and
figure, docs/rulegraph.svg pictures every rule, and a relative --configfile works with --directory."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT, snakemake

DOCS = [ROOT / "README.md", ROOT / "results" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".git")} - {"logs", ".snakemake"}
GENERATED = ("logs/", ".snakemake/", "report.html", "benchmark")  # made by a run, not checked in
KEPT = ("results/README.md", "results/reference")  # the only checked-in part of results/


def _links(text: str) -> list[str]:
    """Markdown link targets that are files of the checkout (not web addresses or anchors)."""
    out = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        out.append(target.split("#")[0])
    return out


def _backticked_paths(text: str) -> list[str]:
    """Names in backticks that are paths into the checkout: their first part is a top-level file or
    folder of the repository (workflow/..., docs/..., tests/configs/tiny.yaml, .ci/run, ...)."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks are commands, not names
    out = []
    for name in re.findall(r"`([^`\s]+)`", text):
        name = name.rstrip(".,:;")
        if any(c in name for c in "*{}<>$=") or name.startswith(GENERATED):
            continue
        if name.startswith("results/") and not name.startswith(KEPT):  # a run's output
            continue
        first = name.split("/")[0]
        if "/" in name and first in TOP or name in TOP:
            out.append(name.split("#")[0])
    return out


def test_docs_point_only_at_files_that_exist():
    missing = []
    for md in DOCS:
        text = md.read_text()
        for target in _links(text):
            if not (md.parent / target).exists():
                missing.append(f"{md.relative_to(ROOT)}: link ({target})")
        for name in _backticked_paths(text):
            if not (ROOT / name).exists():
                missing.append(f"{md.relative_to(ROOT)}: `{name}`")
    assert not missing, "names of files that do not exist in the checkout:\n" + "\n".join(missing)


def test_the_checks_catch_a_broken_name():
    text = "See [the science](docs/nope.md), `workflow/rules/nope.smk`, `results/tables/x.csv` and [web](https://x.org)."
    assert _links(text) == ["docs/nope.md"]
    assert _backticked_paths(text) == ["workflow/rules/nope.smk"]


def test_readme_is_one_screen_with_the_commands_up_front():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200, len(lines)
    first = "\n".join(lines[:40])
    for command in ("python -m pip install -e . && snakemake --cores all",
                    "python -m pip install -e '.[test]' && python -m pytest",
                    "snakemake --report report.html"):
        assert command in first, f"the README's first screen lacks: {command}"


def _rules_in_workflow() -> set[str]:
    rules = set()
    for f in [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")]:
        rules |= set(re.findall(r"^\s*(?:local)?rule (\w+):", f.read_text(), re.M))
    return rules


def test_rulegraph_picture_is_current():
    """docs/rulegraph.svg names exactly the rules of workflow/rules/*.smk; scripts/rulegraph redraws it."""
    svg = (ROOT / "docs" / "rulegraph.svg").read_text()
    pictured = set(re.findall(r"<text[^>]*>(\w+)</text>", svg))
    assert pictured == _rules_in_workflow(), (
        "docs/rulegraph.svg is out of date: run scripts/rulegraph", pictured ^ _rules_in_workflow())
    assert "rulegraph.svg" in (ROOT / "README.md").read_text() + (ROOT / "docs" / "development.md").read_text()


def test_relative_configfile_works_with_directory(tmp_path):
    """`snakemake --directory DIR --configfile FILE` from the checkout: FILE is read relative to where the
    command runs, and everything the run makes goes under DIR."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", "--configfile",
                           "tests/configs/tiny.yaml", "--directory", str(tmp_path / "run")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "train_teacher" in proc.stdout and "digits-r" in proc.stdout  # the tiny config's jobs were planned


def test_readme_results_block_is_generated_from_the_reference_tables(monkeypatch):
    """The README's block is exactly what `softlabels reference` writes from results/reference/claims_summary.csv."""
    from softlabels.cli import BEGIN, END, results_block

    monkeypatch.chdir(ROOT)  # the block names the reference by its path in the checkout
    text = (ROOT / "README.md").read_text()
    block = text[text.index(BEGIN):text.index(END) + len(END)]
    assert block == results_block("results/reference/claims_summary.csv", "reference"), (
        "README.md's results block differs from results/reference/: run `softlabels reference` after a default run")


def test_readme_mnist_block_is_generated_from_the_mnist_reference(monkeypatch):
    """The README's Table 1 on real MNIST is exactly what `softlabels reference --preset mnist` writes."""
    from softlabels.cli import MNIST_BEGIN, MNIST_END, mnist_block

    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text()
    block = text[text.index(MNIST_BEGIN):text.index(MNIST_END) + len(MNIST_END)]
    assert block == mnist_block("results/reference/mnist"), (
        "README.md's MNIST block differs from results/reference/mnist/: run `softlabels reference --preset mnist "
        "--tables <run>/results/tables` after a run of config/mnist.yaml")


def test_results_readme_names_every_table_and_figure_and_the_reference_holds_the_tables():
    text = (ROOT / "results" / "README.md").read_text()
    rules = "".join(f.read_text() for f in (ROOT / "workflow" / "rules").glob("*.smk"))
    made = set(re.findall(r'"results/(?:tables|figures)/(\w+)\.(?:csv|png)"', rules))
    assert made and all(f"`{name}`" in text for name in made), made - set(re.findall(r"`(\w+)`", text))
    for folder in (ROOT / "results" / "reference", ROOT / "results" / "reference" / "mnist"):
        reference = {p.name for p in folder.iterdir() if p.is_file()}
        assert {"claims.csv", "claims.md"} <= reference and all(p.endswith((".csv", ".md")) for p in reference)
        assert {n[:-4] for n in reference if n.endswith(".csv")} <= made  # only tables a rule makes
    assert {p.name for p in (ROOT / "results" / "reference").iterdir() if p.is_dir()} == {"mnist"}


# --- words that stay true: the commands and job counts the docs name ---------------------------------------

PAGES = [*DOCS, ROOT / "profiles" / "default" / "config.yaml", ROOT / "workflow" / "profiles" / "slurm" / "config.yaml"]


def named_commands(text: str) -> set[str]:
    """The `softlabels` sub-commands a page names: `softlabels X` in backticks or at the start of a line of a
    code block, and each entry of a list "the `softlabels` command: `a ...`, `b ...`"."""
    names = set(re.findall(r"`softlabels ([a-z][a-z-]*)", text))
    names |= set(re.findall(r"^\s*(?:\$ )?softlabels ([a-z][a-z-]*)", text, flags=re.M))
    for listed in re.findall(r"the `softlabels` command: ((?:`[^`]+`[, and]*)+)", text):
        names |= {n.split()[0] for n in re.findall(r"`([^`]+)`", listed)}
    return names


def test_every_softlabels_command_the_docs_name_exists():
    from softlabels.cli import commands

    bad = [f"{p.relative_to(ROOT)}: softlabels {n}" for p in PAGES for n in sorted(named_commands(p.read_text()))
           if n not in commands()]
    assert not bad, f"commands named in the docs that `softlabels` does not have ({commands()}):\n" + "\n".join(bad)
    assert named_commands("the `softlabels` command: `validate CONFIG`, `readme`; run `softlabels nope`") == {
        "validate", "readme", "nope"}  # the check sees both forms


#: a job count is historical (a measurement of an earlier design) when its sentence says so
HISTORICAL = re.compile(r"\bthen\b|\bprevious\b|\bbefore\b|\bat `[0-9a-f]{7,}`|\bwas\b|\bwere\b", re.I)


def job_counts(text: str) -> list[tuple[str, int]]:
    """(sentence, N) for every "N jobs" of a page that is not historical (``HISTORICAL``)."""
    text = re.sub(r"\s+", " ", text)
    out = []
    for m in re.finditer(r"\b(\d+) jobs\b", text):
        start = max(text.rfind(". ", 0, m.start()), text.rfind("| ", 0, m.start()), text.rfind("# ", 0, m.start()))
        sentence = text[start + 2:m.end()]
        if not HISTORICAL.search(sentence):
            out.append((sentence, int(m.group(1))))
    return out


def _prose(page) -> str:
    """A page's text; of a YAML file, its comments without their '#'."""
    text = page.read_text()
    return re.sub(r"^\s*# ?", "", text, flags=re.M) if page.suffix == ".yaml" else text


def _config_of(sentence: str) -> str | None:
    named = re.findall(r"config/[\w.-]+\.yaml", sentence)
    if named:
        return named[-1]
    if re.search(r"\btiny\b", sentence):
        return "tests/configs/tiny.yaml"
    if re.search(r"\bdefault (run|config)\b", sentence):
        return "config.yaml"
    return None


@pytest.mark.slow
def test_every_job_count_the_docs_give_is_a_dry_runs(tmp_path):
    """Each "N jobs" of the docs and profiles names its config (the default run, the tiny config, a preset)
    and equals the jobs Snakemake's dry run plans for it (with the SLURM profile where the sentence names it),
    unless its sentence marks it as an earlier measurement ("then", "previous", "at `<commit>`")."""
    claims = [(p, s, n) for p in PAGES for s, n in job_counts(_prose(p))]
    assert claims
    plans: dict[tuple[str, bool], int] = {}
    wrong = []
    for page, sentence, n in claims:
        config = _config_of(sentence)
        if config is None:
            wrong.append(f"{page.relative_to(ROOT)}: names no config: …{sentence[-150:]}")
            continue
        slurm = "workflow/profiles/slurm" in sentence
        if (config, slurm) not in plans:
            work = tmp_path / f"{config.replace('/', '_')}-{slurm}"
            work.mkdir()
            args = ("--workflow-profile", str(ROOT / "workflow/profiles/slurm")) if slurm else ()
            proc = snakemake(work, "--dry-run", "--configfile", str(ROOT / config), *args)
            total = re.search(r"^total\s+(\d+)", proc.stdout, re.M)
            plans[config, slurm] = int(total.group(1)) if total else 0
        if plans[config, slurm] != n:
            wrong.append(f"{page.relative_to(ROOT)}: {n} jobs, the dry run of {config} plans {plans[config, slurm]}: "
                         f"…{sentence[-150:]}")
    assert not wrong, "job counts that are not the dry run's:\n" + "\n".join(wrong)


def test_the_configuration_page_lists_every_preset():
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [p.name for p in sorted((ROOT / "config").glob("*.yaml")) if f"config/{p.name}" not in page]
    assert not missing, f"docs/configuration.md's list of ready-made configs lacks {missing}"


def test_no_development_history_in_what_readers_see():
    """Code comments, report captions, rule files and docs say what is, not which issue made it so."""
    pattern = re.compile(r"\b[Ii]ssues? \d+")  # this project's issues; another project's "issue #469" may stay
    files = [*PAGES, *(ROOT / "workflow").rglob("*.smk"), *(ROOT / "workflow").rglob("*.rst"),
             *(ROOT / "workflow" / "scripts").glob("*.py"), *(ROOT / "src").rglob("*.py"), ROOT / "Snakefile"]
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()[:100]}" for f in files
            for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, "development history in the text:\n" + "\n".join(hits)
