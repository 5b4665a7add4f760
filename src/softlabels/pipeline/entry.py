"""How a rule's script runs its function: logging to the rule's log file, the job's thread count for
torch (training rules only: the others never import torch), and user errors as one line, no traceback."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Callable

from softlabels.errors import SoftlabelsError

log = logging.getLogger("softlabels")


def run(snk: Any, fn: Callable[[Any], None]) -> None:
    """Run ``fn(snk)`` for the rule of ``snk``, logging to its log file; user errors exit 1 with one line."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)  # progress goes to the rule's log file; errors also to the console
    handlers: list[logging.Handler] = [console]
    if len(snk.log):
        handlers.append(logging.FileHandler(snk.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers, force=True)
    threads = int(getattr(snk, "threads", 1) or 1)
    if snk.rule.startswith("train"):  # the training rules; the others never import torch
        import torch

        torch.set_num_threads(threads)
    try:
        fn(snk)
    except SoftlabelsError as exc:
        log.error("error: %s", exc)
        sys.exit(1)


NO_CUDA = "no CUDA device on this node; set compute.device: cpu to train on the CPU (slow)"


def select_device(compute: dict[str, Any], gpu_rule: bool = False) -> str:
    """The torch device of a training rule from ``compute.device``: ``cuda``, ``cpu`` or ``auto``.
    ``auto`` is CUDA if present, else the CPU, for the MLP rules; for a GPU rule (``gpu_rule``: the CNN
    rules, which SLURM sends to GPU nodes) ``auto`` without CUDA is an error, not hours on a CPU."""
    import torch

    want = compute.get("device", "auto")
    has_cuda = torch.cuda.is_available()
    if want == "cuda" or (want == "auto" and gpu_rule):
        if not has_cuda:
            raise SoftlabelsError(NO_CUDA if want == "auto" else f"compute.device is 'cuda' but {NO_CUDA}")
        dev = "cuda"
    else:
        dev = "cuda" if (want == "auto" and has_cuda) else "cpu"
    if dev == "cuda" and compute.get("deterministic", True):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return dev


def peak_rss_bytes() -> int | None:
    """The job's peak resident memory so far (bytes; Linux and macOS), or None where the OS does not say."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)


def duration(seconds: float) -> str:
    """A duration for people: 42s, 3m05s, 2h07m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def epoch_line(epoch: int, epochs: int, rec: dict[str, float], device: str, elapsed: float) -> str:
    """One progress line: epoch k/N, training loss and error, validation metrics if any, device, time."""
    k = epoch + 1
    parts = [f"epoch {k}/{epochs}", f"loss {rec['loss']:.4g}", f"train err {100 * rec['err']:.2f}%"]
    if "val_loss" in rec:
        parts.append(f"val loss {rec['val_loss']:.4g}")
    if "val_acc" in rec:
        parts.append(f"val acc {100 * rec['val_acc']:.2f}%")
    if device:
        parts.append(device)
    left = elapsed / k * (epochs - k)
    parts.append(f"{duration(elapsed)} elapsed" + (f", ~{duration(left)} left" if k < epochs else ""))
    return "  ".join(parts)


def epoch_logger(epochs: int, device: str = "", every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> Callable[[int, dict[str, float]], None]:
    """An ``on_epoch`` callback that logs a progress line (``epoch_line``, with the time left) for the first
    and last epoch, every ~10% of the epochs, and whenever ``every_s`` seconds have passed since the last
    line: a job whose epochs take longer (MNIST, CNNs) shows every epoch, a fast one ten lines or so (early
    stopping may end before the last epoch). The log file's handler writes each line out as it comes
    (``run``), so the log can be read while the job runs."""
    step = max(1, epochs // 10)
    start = clock()
    last = [start]

    def on_epoch(epoch: int, rec: dict[str, float]) -> None:
        now = clock()
        if epoch == 0 or epoch == epochs - 1 or (epoch + 1) % step == 0 or now - last[0] >= every_s:
            last[0] = now
            log.info("%s", epoch_line(epoch, epochs, rec, device, now - start))

    return on_epoch
