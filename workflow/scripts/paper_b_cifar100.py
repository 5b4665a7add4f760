# Rule paper_b_cifar100: paper B's CIFAR-100 table, ours beside the paper's (softlabels.pipeline.tables.paper_b_cifar100).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.tables import paper_b_cifar100  # noqa: E402

run(snakemake, paper_b_cifar100)  # noqa: F821 (injected by Snakemake)
