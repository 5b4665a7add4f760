# Rule teachers_table: every teacher's accuracy, NLL, calibration and τ* (softlabels.pipeline.tables.teachers_table).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.tables import teachers_table  # noqa: E402

run(snakemake, teachers_table)  # noqa: F821 (injected by Snakemake)
