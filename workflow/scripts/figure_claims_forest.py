# Rule figure_claims_forest: forest plot of the claims of one experiment
# (softlabels.pipeline.figures.figure_claims_forest).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.figures import figure_claims_forest  # noqa: E402

run(snakemake, figure_claims_forest)  # noqa: F821 (injected by Snakemake)
