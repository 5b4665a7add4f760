# Rule regularization_table: regularization samples per cell and per epoch (softlabels.pipeline.tables.regularization_table).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.tables import regularization_table  # noqa: E402

run(snakemake, regularization_table)  # noqa: F821 (injected by Snakemake)
