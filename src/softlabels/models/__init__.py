"""The networks: the two-layer MLP of paper A (``mlp``, batched over replicates) and the CNNs (``cnn``)."""
