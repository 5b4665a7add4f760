"""Files: atomic writes, loading with clear errors, and provenance records.

Every output is written to a temporary file beside its target and renamed into place, so a job
killed mid-write leaves no file that looks complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from softlabels.errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix + ".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; results get the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays to ``path`` (.npz, uncompressed) atomically."""
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())


def read_npz(path: str | os.PathLike, required: tuple[str, ...] = (),
             only: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Load every array of an .npz file (``only``: just those of these names it has, e.g. the labels of a
    data set without its images); a truncated, corrupt or incomplete file raises InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files if only is None or k in only or k in required}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise InputError(f"{path}: not a readable .npz array file (truncated or corrupt?): {exc}") from None
    missing = [k for k in required if k not in out]
    if missing:
        raise InputError(f"{path}: missing arrays {missing}; expected {list(required)}")
    return out


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (truncated or corrupt?): {exc}") from None


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def code_revision() -> str:
    """The git revision of the source tree (with '+dirty' if it has uncommitted changes), or 'unknown'."""
    for where in (Path(__file__).resolve().parent, Path.cwd()):
        try:
            rev = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=where, capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
            return rev + ("+dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            continue
    return "unknown"


def provenance(config_slice: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What made a result: the config slice it read, the package version and the code revision."""
    import platform
    import sys

    from softlabels import __version__

    rec = {
        "config": config_slice,
        "softlabels_version": __version__,
        "code_revision": code_revision(),
        "python": platform.python_version(),
    }
    if "torch" in sys.modules:  # record it where it was used; never import it just for this
        torch = sys.modules["torch"]
        rec["torch"] = torch.__version__
        # the vector instruction set PyTorch's CPU kernels run on: results are identical only within one
        rec["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    rec.update(extra)
    return rec
