# Rule sensitivity_table: each claim under the default design and its declared variants (softlabels.pipeline.tables.sensitivity_table).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.tables import sensitivity_table  # noqa: E402

run(snakemake, sensitivity_table)  # noqa: F821 (injected by Snakemake)
