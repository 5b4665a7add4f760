# Rule make_data: build a data set's arrays (softlabels.pipeline.rules.make_data).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.rules import make_data  # noqa: E402

run(snakemake, make_data)  # noqa: F821 (injected by Snakemake)
