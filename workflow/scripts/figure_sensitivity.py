# Rule figure_sensitivity: each claim's effect under the default design and its variants (softlabels.pipeline.figures.figure_sensitivity).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.figures import figure_sensitivity  # noqa: E402

run(snakemake, figure_sensitivity)  # noqa: F821 (injected by Snakemake)
