"""The compiled theory-regime step (``theory_step.c``), built at first use with the system's C compiler.

The package installs with ``pip install -e .`` alone: nothing is compiled at install time. The first job that
trains a theory-regime student builds ``theory_step.c`` into a shared library in a cache folder
(``SOFTLABELS_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/softlabels``, else ``~/.cache/softlabels``), named by a
hash of the source, the compiler's version and the flags, so that an edit or another compiler builds anew
and concurrent jobs never load a half-written file (each builds to a temporary name and renames it into
place). Where it cannot be built or run (no compiler, a CPU without AVX2 and FMA, not x86-64, a build
error, ``SOFTLABELS_COMPILED=0`` in the environment), ``load`` returns None, the trainer takes its PyTorch
step instead (``_PackedMLP`` with ``fused=True``), and the reason is logged once per process. The two
paths agree to float32 rounding, not bit for bit (their sums are ordered differently:
``tests/test_train.py`` compares them), so which one trained a cell is part of its store key and its
``meta.json`` (``theory_step``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("softlabels")

SOURCE = Path(__file__).with_name("theory_step.c")
ENV = "SOFTLABELS_COMPILED"
CACHE_ENV = "SOFTLABELS_KERNEL_CACHE"
#: -ffp-contract=off: the compiler fuses no multiply-add beyond those the source writes, so the numbers do
#: not depend on the compiler's choices
FLAGS = ["-O3", "-shared", "-fPIC", "-std=c11", "-ffp-contract=off"]
#: what a cell trained by the compiled step records as its ``theory_step`` (and in its store key)
NAME = "compiled-avx2-fma-v1"
#: what a cell trained by the PyTorch step records
TORCH = "torch"


def enabled() -> bool:
    """Whether the compiled step may be used: unless ``SOFTLABELS_COMPILED`` is 0, false, no or off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "softlabels"


class Kernel:
    """The loaded library: ``forward`` and ``backward`` over every (replicate, segment) of a packed network."""

    def __init__(self, lib: ctypes.CDLL, path: Path):
        self.lib, self.path = lib, path
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.sl_forward.argtypes = [i, i, p, i, i, p, p, p, p]
        lib.sl_backward.argtypes = [i, i, p, i, i, p, p, p, p, p]
        lib.sl_forward.restype = lib.sl_backward.restype = i

    def forward(self, widths: Any, X: Any, W: Any, A: Any, f: Any) -> None:
        """f (R, K, B) = Σ_j a_j ReLU(w_j·x) per (replicate, segment); X (R, B, d), W and A the packed buffers
        (segment k: (R, m_k, d) and (R, m_k)), ``widths`` an int64 tensor of the K widths; all contiguous
        float32 CPU tensors."""
        R, B, d = X.shape
        if self.lib.sl_forward(R, len(widths), widths.data_ptr(), B, d, X.data_ptr(), W.data_ptr(), A.data_ptr(),
                               f.data_ptr()):
            raise RuntimeError("the compiled theory step failed (out of memory?)")

    def backward(self, widths: Any, X: Any, W: Any, A: Any, g: Any, gW: Any) -> None:
        """gW (laid out like W) = a_j Σ_i 1[w_j·x_i > 0] g_i x_i, g (R, K, B) = ∂L/∂f."""
        R, B, d = X.shape
        if self.lib.sl_backward(R, len(widths), widths.data_ptr(), B, d, X.data_ptr(), W.data_ptr(),
                                A.data_ptr(), g.data_ptr(), gW.data_ptr()):
            raise RuntimeError("the compiled theory step failed (out of memory?)")


def _compiler() -> str | None:
    cc = os.environ.get("CC") or "cc"
    return shutil.which(cc) or shutil.which("gcc") or shutil.which("clang")


def _build(cc: str) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    tag = hashlib.sha256(SOURCE.read_bytes() + "\0".join([version, *FLAGS]).encode()).hexdigest()[:16]
    folder = cache_dir()
    path = folder / f"theory_step-{tag}.so"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".theory_step-", suffix=".so", dir=folder)
    os.close(fd)
    try:
        res = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=120)
        if res.returncode:
            raise RuntimeError(f"{cc} failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@functools.lru_cache(maxsize=1)
def load() -> Kernel | None:
    """The compiled step, built if needed; None where it cannot be built or run here (the reason logged once)."""
    if not enabled():
        reason = f"{ENV}=0"
    else:
        cc = _compiler()
        if cc is None:
            reason = "no C compiler found (cc, gcc or clang; or set CC)"
        else:
            try:
                path = _build(cc)
                lib = ctypes.CDLL(str(path))
                if not lib.sl_supported():
                    reason = "this CPU cannot run it (it needs x86-64 with AVX2 and FMA)"
                else:
                    return Kernel(lib, path)
            except Exception as exc:  # noqa: BLE001 - any failure to build or load falls back, with its reason
                reason = f"it could not be built ({exc})"
    log.warning("softlabels: the compiled theory-regime step is not used: %s; training with the PyTorch step "
                "(the same numbers to float32 rounding, slower)", reason)
    return None


def step_name(device: str = "cpu") -> str:
    """Which step trains a theory-regime cell on ``device`` in this process: ``NAME`` or ``TORCH``."""
    return NAME if str(device) == "cpu" and load() is not None else TORCH
