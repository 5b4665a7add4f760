# Rule soft_labels: a teacher's probabilities at one temperature (softlabels.pipeline.rules.soft_labels).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.rules import soft_labels  # noqa: E402

run(snakemake, soft_labels)  # noqa: F821 (injected by Snakemake)
