"""The glue between Snakemake and the science: the config and its slices (``config``), what each rule
runs (``rules``, ``tables``, ``figures``), how a rule script runs it (``entry``) and checkpoints."""
