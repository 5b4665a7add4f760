"""The theory: the kernel margin gamma of a data set, measured and bounded (docs/science.md#a-margin-measure)."""
