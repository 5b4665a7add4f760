"""Stage 1: data sets. One module per kind (``synthetic``, ``digits``, ``mnist1d``, ``mnist``, ``cifar``), what they
share (``common``), where their raw files are (``raw``) and how they are fetched (``download``).

Which module builds which kind is in ``softlabels.registry.DATA_KINDS``; ``build`` looks it up.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from softlabels.registry import DATA_KINDS


def build(kind: str, params: dict[str, Any], *raw_files: str) -> dict[str, np.ndarray]:
    """The arrays of a data set of ``kind`` (its builder imported only when asked for)."""
    module, _, function = DATA_KINDS[kind].builder.partition(":")
    return getattr(importlib.import_module(module), function)(params, *raw_files)
