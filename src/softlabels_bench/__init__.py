"""Benchmarks of the softlabels pipeline (developer tooling, apart from the science package).

Run them with ``python -m softlabels_bench`` (docs/benchmarks.md says what each measures)."""
