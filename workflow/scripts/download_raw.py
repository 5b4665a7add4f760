# Rule download_raw: fetch one raw file (MNIST IDX, CIFAR tarball), checksum-verified (softlabels.pipeline.rules.download_raw).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.rules import download_raw  # noqa: E402

run(snakemake, download_raw)  # noqa: F821 (injected by Snakemake)
