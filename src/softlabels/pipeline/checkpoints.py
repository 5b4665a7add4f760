"""Checkpoints and data fingerprints: every teacher output is tied to the data set it was made from,
and checkpoints hold tensors and plain values only (loaded with ``weights_only=True``, never pickle)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from softlabels import io
from softlabels.errors import InputError


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """A short hash of a data set's training split, to tie teachers and students to their data."""
    h = hashlib.sha256()
    for k in ("X_train", "y_train"):
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(path: str, payload: dict[str, Any], data_fingerprint: str, dataset: str) -> None:
    """Save a model checkpoint (tensors and plain values only) tied to the data it was trained on."""
    import torch

    with io.atomic_path(path) as tmp:
        torch.save({**payload, "fingerprint": data_fingerprint, "dataset": dataset}, tmp)


def load_checkpoint(path: str, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check that it was trained on ``data``."""
    import pickle
    import zipfile

    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as exc:
        raise InputError(f"{path}: not a readable checkpoint (truncated or corrupt?): {exc}") from None
    check_fingerprint(path, str(ck.get("fingerprint")), data, ck.get("dataset"))
    return ck


def check_fingerprint(path: str, found: str, data: dict[str, np.ndarray], dataset: Any = None) -> None:
    """Teacher outputs must come from the data set they are used with."""
    if found != fingerprint(data):
        where = f" (data set {dataset!r})" if dataset else ""
        raise InputError(f"{path}: made from another data set{where}: fingerprint {found}, but this data set's "
                         f"training split has fingerprint {fingerprint(data)}; re-run its teacher rule")
