# Rule train_teacher: train an MLP teacher; write its checkpoint, logits and accuracy (softlabels.pipeline.rules.train_teacher).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.rules import train_teacher  # noqa: E402

run(snakemake, train_teacher)  # noqa: F821 (injected by Snakemake)
