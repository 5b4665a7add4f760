"""What each Snakemake rule runs. ``workflow/scripts/run.py`` calls ``dispatch(snakemake)``.

Each function reads its inputs, its one params dict (its config slice) and writes its outputs
atomically together with a provenance record. User mistakes (config, files) end the job with one
clear message and no traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from typing import Any, Callable

import numpy as np

from softlabels import io
from softlabels.errors import InputError, SoftlabelsError

log = logging.getLogger("softlabels")

TEACHER_REPLICATE_ID = 1_000_000  # the teacher's seed stream, apart from every student replicate's


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """A short hash of a data set's training split, to tie teachers and students to their data."""
    h = hashlib.sha256()
    for k in ("X_train", "y_train"):
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()[:16]


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


def load_data(path: str) -> dict[str, np.ndarray]:
    return io.read_npz(path, required=("X_train", "y_train", "X_test", "y_test"))


# --- rules -----------------------------------------------------------------------------------

def make_data(snk: Any) -> None:
    from softlabels.data import BUILDERS

    p = dict(snk.params.p)
    builder = BUILDERS.get(p["kind"])
    if builder is None:
        raise SoftlabelsError(f"data set kind {p['kind']!r} has no builder; known: {sorted(BUILDERS)}")
    arrays = builder(p, *list(snk.input)) if len(snk.input) else builder(p)
    io.write_npz(snk.output.data, **arrays)
    extra = {}
    if len(snk.input):  # the raw files it was built from, so a table can be traced to their exact bytes
        from softlabels.download import sha256_file

        extra["raw_sha256"] = {str(f): sha256_file(f) for f in snk.input}
    io.write_json(snk.output.meta, io.provenance(p, dataset=snk.wildcards.dataset, fingerprint=fingerprint(arrays),
                                                 sizes={k: int(len(v)) for k, v in arrays.items() if k.startswith("y_")},
                                                 **extra))


def download_raw(snk: Any) -> None:
    """Fetch one raw file (MNIST IDX, CIFAR tarball) into results/raw/<source>/, checksum-verified."""
    from softlabels.download import fetch
    from softlabels.errors import ConfigError
    from softlabels.realdata import SOURCE_OF_KIND

    p, w = dict(snk.params.p), snk.wildcards
    if p["sha256"] is None:
        raise ConfigError(f"{p['url']}: no SHA-256 checksum known for {w.file!r}; set "
                          f"downloads.{w.source}.sha256.{w.file} in the config")
    kinds = [k for k, s in SOURCE_OF_KIND.items() if s == w.source]
    hint = (f"To use a copy you downloaded another way, put {w.file} in a folder and set raw_dir to that folder on "
            f"each data set of kind {' / '.join(kinds)} (README, 'Real data and deep networks')")
    fetch(p["url"], snk.output[0], p["sha256"], size=p["size"], retries=p["retries"], timeout=p["timeout"],
          backoff=p["backoff"], hint=hint)


def measure_margin(snk: Any) -> None:
    from softlabels.margin import kernel_margin_report

    d = load_data(snk.input.data)
    if d["y_train"].max() > 1:
        rep = {"gamma": float("nan"), "gamma_is": "not defined: the margin is for binary tasks"}
    else:
        rep = kernel_margin_report(d["X_train"], d["y_train"], max_points=snk.params.p["max_points"])
    io.write_json(snk.output[0], {**rep, "provenance": io.provenance(dict(snk.params.p))})


def teacher_method(p: dict[str, Any]) -> Any:
    """A teacher's objective: label smoothing when its ``label_smoothing`` is positive, else cross-entropy."""
    from softlabels.losses import make_method

    ls = p["label_smoothing"]
    return make_method({"kind": "ls", "epsilon": ls} if ls > 0 else {"kind": "hard"})


def write_teacher(snk: Any, p: dict[str, Any], d: dict[str, np.ndarray], logits: dict[str, np.ndarray],
                  payload: dict[str, Any], best_epoch: int, seconds: float, device: str, **extra: Any) -> None:
    """What every teacher rule writes: its checkpoint (``payload``), its logits on every split, and its
    accuracy with the provenance record."""
    from softlabels.biasvar import accuracy

    acc = {s: float(accuracy(z, d[f"y_{s}"])) for s, z in logits.items()}
    fp = fingerprint(d)
    save_checkpoint(snk.output.checkpoint, payload, fp, snk.wildcards.dataset)
    io.write_npz(snk.output.logits, fingerprint=np.array(fp), **{f"logits_{s}": z for s, z in logits.items()})
    io.write_json(snk.output.meta, io.provenance(p, dataset=snk.wildcards.dataset, teacher=snk.wildcards.teacher,
                                                 accuracy=acc, best_epoch=best_epoch, seconds=seconds, device=device,
                                                 **extra))
    log.info("teacher %s on %s: accuracy %s (%.1fs)", snk.wildcards.teacher, snk.wildcards.dataset, acc, seconds)


def train_teacher(snk: Any) -> None:
    from softlabels.data import SPLITS, n_classes
    from softlabels.train import train_mlp

    p = dict(snk.params.p)
    device = select_device(p["compute"])
    d = load_data(snk.input.data)
    C = n_classes(d)
    hp = {**p, "regime": "practical", "resampling": "none", "replicates": 1}
    t0 = time.time()
    res = train_mlp(d["X_train"], d["y_train"], teacher_method(p), hp, p["width"], [TEACHER_REPLICATE_ID], p["seed"],
                    X_val=d.get("X_val"), y_val=d.get("y_val"), n_classes=C, device=device,
                    on_epoch=_epoch_logger(p["epochs"]))
    seconds = time.time() - t0
    logits = {s: res.logits(d[f"X_{s}"])[0].cpu().numpy() for s in SPLITS if f"X_{s}" in d}
    state = {k: v[0].cpu() for k, v in {**res.params, **res.fixed}.items()}
    write_teacher(snk, p, d, logits, {"params": state, "n_classes": C}, int(res.best_epoch[0]), seconds, device)


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


def soft_labels(snk: Any) -> None:
    """The teacher's probabilities at temperature τ on every split (its logits ride along)."""
    from softlabels.biasvar import log_softmax
    from softlabels.data import SPLITS

    d = load_data(snk.input.data)
    t = io.read_npz(snk.input.logits, required=("fingerprint", "logits_train"))
    check_fingerprint(snk.input.logits, str(t["fingerprint"]), d)
    tau = float(snk.wildcards.temperature)
    out: dict[str, np.ndarray] = {"fingerprint": t["fingerprint"], "temperature": np.array(tau)}
    for s in SPLITS:
        if f"logits_{s}" in t:
            out[f"logits_{s}"] = t[f"logits_{s}"]
            out[f"probs_{s}"] = np.exp(log_softmax(t[f"logits_{s}"] / tau)).astype(np.float32)
    io.write_npz(snk.output[0], **out)


def student_teacher_logits(snk: Any, d: dict[str, np.ndarray], method: Any) -> np.ndarray | None:
    """The teacher's training-set logits a distilling method learns from (checked against the data set);
    None for a method without a teacher."""
    if not method.needs_teacher:
        return None
    soft = io.read_npz(snk.input.soft, required=("logits_train", "fingerprint"))
    check_fingerprint(snk.input.soft, str(soft["fingerprint"]), d)
    return soft["logits_train"]


def write_students(snk: Any, d: dict[str, np.ndarray], res: Any, config_slice: dict[str, Any], width: int,
                   seconds: float, device: str, **extra: Any) -> None:
    """What every student rule writes: each replicate's test logits and probabilities, resample indices,
    chosen epoch and per-epoch records (``res``: a trainer's result), and the provenance record."""
    from softlabels.biasvar import accuracy, log_softmax

    w = snk.wildcards
    z = res.logits(d["X_test"]).cpu().numpy()
    out = {"test_logits": z, "test_probs": np.exp(log_softmax(z)).astype(np.float32),
           "indices": res.indices, "best_epoch": res.best_epoch, **res.history}
    if "X_val" in d:
        out["val_logits"] = res.logits(d["X_val"]).cpu().numpy()
    io.write_npz(snk.output.replicates, **out)
    acc = accuracy(z, d["y_test"])
    io.write_json(snk.output.meta, io.provenance(
        config_slice, cell=dict(dataset=w.dataset, teacher=w.teacher, method=w.method, student=w.student, width=width),
        data_fingerprint=fingerprint(d), test_accuracy=acc.tolist(), seconds=seconds, device=device, **extra))
    log.info("%s: test accuracy %.4f +- %.4f over %d replicates (%.1fs)", snk.output.replicates, acc.mean(),
             acc.std(), len(acc), seconds)


def train_students(snk: Any) -> None:
    from softlabels.data import n_classes
    from softlabels.losses import make_method
    from softlabels.train import train_mlp

    method_p, hp = dict(snk.params.method), dict(snk.params.student)
    device = select_device(hp["compute"])
    d = load_data(snk.input.data)
    method = make_method(method_p)
    width = int(snk.wildcards.width)
    t0 = time.time()
    res = train_mlp(d["X_train"], d["y_train"], method, hp, width, list(range(hp["replicates"])), hp["seed"],
                    teacher_logits=student_teacher_logits(snk, d, method), X_val=d.get("X_val"),
                    y_val=d.get("y_val"), n_classes=n_classes(d), device=device, on_epoch=_epoch_logger(hp["epochs"]))
    write_students(snk, d, res, {"method": method_p, "student": hp}, width, time.time() - t0, device)


def train_deep_teacher(snk: Any) -> None:
    """A CNN teacher (softlabels.deep); same outputs as train_teacher."""
    from softlabels.train_deep import train_deep_teacher as run

    run(snk)


def train_deep_students(snk: Any) -> None:
    """R replicates of a CNN student (softlabels.deep); same outputs as train_students."""
    from softlabels.train_deep import train_deep_students as run

    run(snk)


def bias_variance(snk: Any) -> None:
    from softlabels.biasvar import decompose, summarise

    d = load_data(snk.input.data)
    r = io.read_npz(snk.input.replicates, required=("test_logits",))
    p = dict(snk.params.p)
    terms = decompose(r["test_logits"], d["y_test"])
    summary = summarise(terms, p["n_boot"], p["interval"], seed=0)
    summary["replicates"] = int(r["test_logits"].shape[0])
    io.write_npz(snk.output.points, **terms)
    io.write_json(snk.output.summary, {**summary, "provenance": io.provenance(p)})


RULES: dict[str, Callable[[Any], None]] = {
    "make_data": make_data,
    "download_raw": download_raw,
    "measure_margin": measure_margin,
    "train_teacher": train_teacher,
    "soft_labels": soft_labels,
    "train_students": train_students,
    "train_deep_teacher": train_deep_teacher,
    "train_deep_students": train_deep_students,
    "bias_variance": bias_variance,
}


def _epoch_logger(epochs: int) -> Callable[[int, dict[str, float]], None]:
    every = max(1, epochs // 10)

    def on_epoch(epoch: int, rec: dict[str, float]) -> None:
        if epoch % every == 0 or epoch == epochs - 1:
            log.info("epoch %d  loss %.5f  train 0-1 error %.4f", epoch, rec["loss"], rec["err"])

    return on_epoch


def dispatch(snk: Any) -> None:
    """Run the function of ``snk.rule``, logging to the rule's log file; user errors exit 1 with one line."""
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
    fn = RULES.get(snk.rule)
    if fn is None and snk.rule.startswith("figure_"):  # only the figure rules import matplotlib
        from softlabels import figures as F

        fn = F.RULES[snk.rule]
    if fn is None:
        from softlabels import tables as T

        fn = T.RULES[snk.rule]
    try:
        fn(snk)
    except SoftlabelsError as exc:
        log.error("error: %s", exc)
        sys.exit(1)
