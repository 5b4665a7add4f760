# Rule measure_margin: measure a data set's kernel margin (softlabels.pipeline.rules.measure_margin).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.rules import measure_margin  # noqa: E402

run(snakemake, measure_margin)  # noqa: F821 (injected by Snakemake)
