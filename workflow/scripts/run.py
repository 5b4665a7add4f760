# Every rule runs this script: the rule's work lives in softlabels.rules (or softlabels.tables).
from softlabels.rules import dispatch

dispatch(snakemake)  # noqa: F821 (injected by Snakemake)
