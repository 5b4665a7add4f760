# Rule train_students: train the R replicates of one MLP student cell as one batched computation (softlabels.pipeline.rules.train_students).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.rules import train_students  # noqa: E402

run(snakemake, train_students)  # noqa: F821 (injected by Snakemake)
