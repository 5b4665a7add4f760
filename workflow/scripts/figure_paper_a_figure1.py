# Rule figure_paper_a_figure1: paper A's Figure 1, ours beside the paper's (softlabels.pipeline.figures.figure_paper_a_figure1).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.figures import figure_paper_a_figure1  # noqa: E402

run(snakemake, figure_paper_a_figure1)  # noqa: F821 (injected by Snakemake)
