# Every rule runs this script: the rule's work lives in softlabels.rules (or softlabels.tables).
# Jobs import softlabels from this checkout's src/, so a job always runs the code of the workflow
# that scheduled it (also in a conda environment that does not have the package installed).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

from softlabels.rules import dispatch  # noqa: E402

dispatch(snakemake)  # noqa: F821 (injected by Snakemake)
