# Rule neuron_tables: paper A's tables: students per width, m*(eps), slopes against 1/gamma (softlabels.pipeline.tables.neuron_tables).
# The job imports softlabels from this checkout's src/, so it runs the code of the workflow that scheduled it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.pipeline.entry import run  # noqa: E402
from softlabels.pipeline.tables import neuron_tables  # noqa: E402

run(snakemake, neuron_tables)  # noqa: F821 (injected by Snakemake)
