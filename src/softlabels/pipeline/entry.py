"""How a rule's script runs its function: logging to the rule's log file, the job's thread count for
torch (training rules only: the others never import torch), and user errors as one line, no traceback."""

from __future__ import annotations

import logging
import os
import sys
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


def select_device(compute: dict[str, Any]) -> str:
    import torch

    want = compute.get("device", "auto")
    dev = "cuda" if (want == "cuda" or (want == "auto" and torch.cuda.is_available())) else "cpu"
    if dev == "cuda":
        if not torch.cuda.is_available():
            raise SoftlabelsError("compute.device is 'cuda' but no CUDA device is available")
        if compute.get("deterministic", True):
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
    return dev


def epoch_logger(epochs: int) -> Callable[[int, dict[str, float]], None]:
    every = max(1, epochs // 10)

    def on_epoch(epoch: int, rec: dict[str, float]) -> None:
        if epoch % every == 0 or epoch == epochs - 1:
            log.info("epoch %d  loss %.5f  train 0-1 error %.4f", epoch, rec["loss"], rec["err"])

    return on_epoch
