"""What each Snakemake rule runs: one function per rule, called by the rule's own script under
``workflow/scripts/`` through ``softlabels.pipeline.entry.run``.

Each function reads its inputs and its one params dict (its config slice) and writes its outputs
atomically together with a provenance record. Heavy modules (torch, scikit-learn) are imported inside
the functions that need them, so a job imports only what its rule uses.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from softlabels import io
from softlabels.errors import ConfigError, DivergenceError, InputError
from softlabels.pipeline.checkpoints import check_fingerprint, fingerprint, load_checkpoint, save_checkpoint
from softlabels.pipeline.entry import duration, epoch_logger, peak_rss_bytes, select_device
from softlabels.pipeline.plan import STUDENT_FILES

log = logging.getLogger("softlabels")

TEACHER_REPLICATE_ID = 1_000_000  # the teacher's seed stream, apart from every student replicate's


def teacher_replicate_id(p: dict[str, Any]) -> int:
    """The replicate id of a teacher's seed stream: TEACHER_REPLICATE_ID, plus k for seed k of a teacher with
    ``seeds`` (its ``seed_offset``); a teacher without seeds, and seed 0, keep the stream they always had."""
    return TEACHER_REPLICATE_ID + int(p.get("seed_offset", 0))


def load_data(path: str) -> dict[str, np.ndarray]:
    return io.read_npz(path, required=("X_train", "y_train", "X_test", "y_test"))


@contextmanager
def in_cell(**cell: Any) -> Iterator[None]:
    """Prefix a DivergenceError raised inside with the cell it happened in (``in_cell(dataset=..., width=...)``),
    so that the job's one-line message says which data set, teacher, method, student setup and width diverged."""
    try:
        yield
    except DivergenceError as exc:
        where = ", ".join(f"{k} {v}" for k, v in cell.items())
        raise DivergenceError(f"{where}: {exc}") from None


def names_its_cell(rule: Callable[[Any], None]) -> Callable[[Any], None]:
    """A training rule whose DivergenceError names its cell (the job's wildcards)."""

    @functools.wraps(rule)
    def run(snk: Any) -> None:
        w = snk.wildcards
        cell = {k: getattr(w, k) for k in ("dataset", "teacher", "method", "student", "width") if hasattr(w, k)}
        with in_cell(**cell):
            rule(snk)

    return run


# --- rules -----------------------------------------------------------------------------------

def make_data(snk: Any) -> None:
    from softlabels.data import build
    from softlabels.data.download import set_aside_bad_download

    p = dict(snk.params.p)
    name = snk.wildcards.dataset
    log.info("data set %s: kind %s, seed %s%s", name, p["kind"], p.get("seed"),
             f", built from {len(snk.input)} raw file(s)" if len(snk.input) else "")
    t0 = time.time()
    # each raw file hashed once: checked against its published checksum (raw_dir) and recorded in data.json
    from softlabels.data.download import sha256_file

    raw_sha256 = {str(f): sha256_file(f) for f in snk.input}
    if p.get("raw_dir"):  # the user's own files, checked as a download is (docs/real-data.md)
        from softlabels.data.raw import verify_own_files

        unchecked = verify_own_files(p["kind"], raw_sha256, p.get("sha256"))
        log.info("raw_dir %s: %d file(s) match their published or declared SHA-256%s", p["raw_dir"],
                 len(snk.input) - len(unchecked),
                 f"; no published checksum for {', '.join(unchecked)}: read with the format checks only "
                 f"(declare sha256 on the data set to check them)" if unchecked else "")
    try:
        arrays = build(p["kind"], p, *list(snk.input))
    except InputError as exc:  # a corrupt cached download is moved aside, to be fetched again
        raise set_aside_bad_download(exc, list(snk.input)) from None
    check_classes(name, p, arrays)
    for line in split_lines(arrays):
        log.info("%s", line)
    io.write_npz(snk.output.data, **arrays)
    # the raw files it was built from, so a table can be traced to their exact bytes
    extra = {"raw_sha256": raw_sha256} if raw_sha256 else {}
    io.write_json(snk.output.meta, io.provenance(p, dataset=snk.wildcards.dataset, fingerprint=fingerprint(arrays),
                                                 sizes={k: int(len(v)) for k, v in arrays.items() if k.startswith("y_")},
                                                 **extra))
    log.info("wrote %s (%s)", snk.output.data, duration(time.time() - t0))


#: the config key that sets a split's size, per data kind (for the one-class message)
_SIZE_KEYS = {"synthetic": {"train": "n_train", "val": "n_val", "test": "n_test"},
              "digits": {s: "split" for s in ("train", "val", "test")},
              "cifar10-catdog": {s: "split (or max_" + s + ")" for s in ("train", "val", "test")}}


def split_lines(arrays: dict[str, np.ndarray]) -> list[str]:
    """One line per split: its size, input shape and class balance (count and share of each class)."""
    out = []
    for k in (k for k in ("y_train", "y_val", "y_test", "y_pool") if k in arrays):
        y, X = arrays[k], arrays.get("X" + k[1:])
        classes, counts = np.unique(y, return_counts=True)
        shown = ", ".join(f"{int(c)}: {int(n)} ({100 * n / len(y):.1f}%)" for c, n in zip(classes[:10], counts[:10]))
        more = f", … ({len(classes)} classes)" if len(classes) > 10 else ""
        shape = f", inputs {tuple(X.shape[1:])}" if X is not None else ""
        out.append(f"{k[2:]}: {len(y)} points{shape}; classes {shown}{more}")
    return out


def check_classes(name: str, p: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """A one-class training split is refused: it teaches nothing, and the margins and training errors of the
    tables mean nothing on it. A one-class validation or test split is warned about by name: the run can
    go on (a tiny test file has one), but its accuracies and calibration on that split say little."""
    for k in ("y_train", "y_val", "y_test"):
        if k not in arrays or len(arrays[k]) == 0:
            continue
        classes = np.unique(arrays[k])
        if len(classes) < 2:
            split = k[2:]
            key = _SIZE_KEYS.get(p["kind"], {}).get(split, f"max_{split} (0 = all)" if split != "val" else "val_fraction")
            what = (f"config key datasets.{name}: its {split} split holds {len(arrays[k])} point(s), all of class "
                    f"{int(classes[0])}")
            if split == "train":
                raise InputError(f"{what}; a split needs at least two classes: raise datasets.{name}.{key}")
            log.warning("%s; its accuracies mean little: raise datasets.%s.%s", what, name, key)


def download_raw(snk: Any) -> None:
    """Fetch one raw file (MNIST IDX, CIFAR tarball) into results/raw/<source>/, checksum-verified."""
    from softlabels.data.download import fetch
    from softlabels.registry import DATA_KINDS

    p, w = dict(snk.params.p), snk.wildcards
    if p["sha256"] is None:
        raise ConfigError(f"{p['url']}: no SHA-256 checksum known for {w.file!r}; set "
                          f"downloads.{w.source}.sha256.{w.file} in the config")
    kinds = [k for k, d in DATA_KINDS.items() if d.source == w.source]
    hint = (f"To use a copy you downloaded another way, put {w.file} in a folder and set raw_dir to that folder on "
            f"each data set of kind {' / '.join(kinds)} (docs/real-data.md)")
    fetch(p["url"], snk.output[0], p["sha256"], size=p["size"], retries=p["retries"], timeout=p["timeout"],
          backoff=p["backoff"], hint=hint)


def measure_margin(snk: Any) -> None:
    from softlabels.theory.margin import kernel_margin_report

    d = load_data(snk.input.data)
    t0 = time.time()
    if d["y_train"].max() > 1:
        rep = {"gamma": float("nan"), "gamma_is": "not defined: the margin is for binary tasks"}
        log.info("%d classes: the kernel margin is for binary tasks; not solved", int(d["y_train"].max()) + 1)
    else:
        p = dict(snk.params.p)  # the solver's settings (docs/science.md#a-margin-solve) may be given beside max_points
        keys = ("n_directions", "max_iter", "rel_tol", "fresh_directions", "max_work", "max_seconds")
        solver = {k: p[k] for k in keys if k in p}
        n = min(len(d["y_train"]), p["max_points"])
        log.info("kernel margin of %s: %d training points of %d, dimension %d; solver %s", snk.input.data, n,
                 len(d["y_train"]), int(np.prod(d["X_train"].shape[1:])), solver or "defaults")
        rep = kernel_margin_report(d["X_train"], d["y_train"], max_points=p["max_points"], **solver)
        if "z_train" in d:  # the kernel-limit teacher's logits: the margin of its own labels (docs/science.md#a-teacher-margin)
            rep["teacher_margin"] = teacher_margin(d["z_train"], d["y_train"])
            log.info("the kernel-limit teacher's labels have margin min y·z = %.6g", rep["teacher_margin"])
        log.info("gamma %.6g (solved, gap %.3g, %d iterations, %s); bounds [%.6g, %.6g]; SVM margin upper bound %.6g",
                 rep["gamma"], rep["gamma_gap"], rep["gamma_mc_iterations"],
                 "converged" if rep["gamma_mc_converged"] else "not converged", rep["gamma_lower"],
                 rep["gamma_upper"], rep["svm_margin_upper"])
    io.write_json(snk.output[0], {**rep, "provenance": io.provenance(dict(snk.params.p))})
    log.info("wrote %s (%s)", snk.output[0], duration(time.time() - t0))


def teacher_margin(z: np.ndarray, y: np.ndarray) -> float:
    """The margin of the kernel-limit teacher's labels on the training points, min_i y_i z_i with y_i = ±1
    (docs/science.md#a-teacher-margin): the γ of the map v that makes its soft labels σ(z)."""
    return float(np.min(np.where(np.asarray(y) == 1, 1.0, -1.0) * np.asarray(z, float)))


def teacher_method(p: dict[str, Any]) -> Any:
    """A teacher's objective: label smoothing when its ``label_smoothing`` is positive, else cross-entropy."""
    from softlabels.training.methods import make_method

    ls = p["label_smoothing"]
    return make_method({"kind": "ls", "epsilon": ls} if ls > 0 else {"kind": "hard"})


def write_teacher(snk: Any, p: dict[str, Any], d: dict[str, np.ndarray], logits: dict[str, np.ndarray],
                  payload: dict[str, Any], best_epoch: int, seconds: float, device: str, **extra: Any) -> None:
    """What every teacher rule writes: its checkpoint (``payload``), its logits on every split, and its
    accuracy with the provenance record."""
    from softlabels.analysis.biasvar import accuracy

    acc = {s: float(accuracy(z, d[f"y_{s}"])) for s, z in logits.items()}
    fp = fingerprint(d)
    tau = teacher_temperature(logits, d)
    save_checkpoint(snk.output.checkpoint, payload, fp, snk.wildcards.dataset)
    io.write_npz(snk.output.logits, fingerprint=np.array(fp), **{f"logits_{s}": z for s, z in logits.items()},
                 **({"temperature_nll": np.array(tau["temperature_nll"])} if tau else {}))
    io.write_json(snk.output.meta, io.provenance(p, dataset=snk.wildcards.dataset, teacher=snk.wildcards.teacher,
                                                 accuracy=acc, best_epoch=best_epoch, seconds=seconds, device=device,
                                                 peak_rss_bytes=peak_rss_bytes(), **tau, **extra))
    trained = f"best epoch {best_epoch + 1} of {p['epochs']}; " if "epochs" in p else "not trained; "
    cal = (f"; validation NLL {tau['val_nll_at_1']:.4g} at τ = 1, {tau['val_nll_at_tau']:.4g} at "
           f"τ* = {tau['temperature_nll']:.4g}" if tau else "")
    log.info("teacher %s on %s: accuracy %s; %s%s on %s%s", snk.wildcards.teacher, snk.wildcards.dataset,
             ", ".join(f"{s} {100 * a:.2f}%" for s, a in acc.items()), trained, duration(seconds), device, cal)


def teacher_temperature(logits: dict[str, np.ndarray], d: dict[str, np.ndarray]) -> dict[str, float]:
    """The temperature τ* minimising the validation NLL of softmax(z_val/τ) (``temperature: auto``,
    docs/science.md#teachers), with the validation NLL at τ* and at 1; {} without a validation split."""
    from softlabels.analysis.calibration import nll, select_temperature

    if "val" not in logits or len(d.get("y_val", ())) == 0:
        return {}
    tau, at_tau = select_temperature(logits["val"], d["y_val"])
    return {"temperature_nll": tau, "val_nll_at_tau": at_tau, "val_nll_at_1": nll(logits["val"], d["y_val"])}


def kernel_teacher(snk: Any, p: dict[str, Any], d: dict[str, np.ndarray]) -> None:
    """Paper A's kernel-limit teacher (docs/science.md#kernel-teacher): logits [0, z] on every split, z the
    kernel target's values E_w[1(wᵀx > 0) v(w)ᵀx] stored with the data, so softmax gives σ(z) for class 1.
    Nothing is trained; the checkpoint holds only what it is."""
    from softlabels.data.common import LABELLED

    splits = [s for s in LABELLED if f"X_{s}" in d]
    if any(f"z_{s}" not in d for s in splits):
        raise ConfigError(f"teacher {snk.wildcards.teacher!r}: model kernel needs a data set with target kernel "
                          f"(kind synthetic, target: kernel), which stores the kernel values z; data set "
                          f"{snk.wildcards.dataset!r} has none")
    logits = {s: np.stack([np.zeros_like(d[f"z_{s}"]), d[f"z_{s}"]], 1).astype(np.float32) for s in splits}
    write_teacher(snk, p, d, logits, {"model": "kernel", "n_classes": 2}, 0, 0.0, "cpu", model="kernel",
                  max_abs_z=float(max(np.abs(d[f"z_{s}"]).max() for s in splits)))


@names_its_cell
def train_teacher(snk: Any) -> None:
    p = dict(snk.params.p)
    if p["model"] == "kernel":
        return kernel_teacher(snk, p, load_data(snk.input.data))
    from softlabels.data.common import LABELLED, n_classes
    from softlabels.training.trainer import train_mlp

    device = select_device(p["compute"])
    d = load_data(snk.input.data)
    C = n_classes(d)
    hp = {**p, "regime": "practical", "resampling": "none", "replicates": 1}
    t0 = time.time()
    res = train_mlp(d["X_train"], d["y_train"], teacher_method(p), hp, p["width"], [teacher_replicate_id(p)], p["seed"],
                    X_val=d.get("X_val"), y_val=d.get("y_val"), n_classes=C, device=device,
                    on_epoch=epoch_logger(p["epochs"], device), watch_val=True)
    seconds = time.time() - t0
    logits = {s: res.logits(d[f"X_{s}"])[0].cpu().numpy() for s in LABELLED if f"X_{s}" in d}
    state = {k: v[0].cpu() for k, v in {**res.params, **res.fixed}.items()}
    write_teacher(snk, p, d, logits, {"params": state, "n_classes": C}, int(res.best_epoch[0]), seconds, device)


def load_teacher(inputs: Any, d: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """The teacher's outputs a distilling student reads (``inputs.teacher``: its logits.npz, checked against
    the data set), or None for a teacher-free cell. The method applies its own temperature to the logits, so
    one teacher file serves every temperature."""
    if not hasattr(inputs, "teacher"):
        return None
    t = io.read_npz(inputs.teacher, required=("logits_train", "fingerprint"))
    check_fingerprint(inputs.teacher, str(t["fingerprint"]), d)
    return t


def student_method(teacher: dict[str, np.ndarray] | None, method_p: dict[str, Any], where: str = "the teacher"
                   ) -> tuple[Any, dict[str, Any]]:
    """The student's method, built from its config slice; ``temperature: auto`` becomes the teacher's τ*
    (``temperature_nll`` of its logits.npz, chosen on the validation NLL, never on student results).
    Returns the method and what the student's meta.json records (``temperature_used``, for a method with
    a temperature)."""
    from softlabels.training.methods import make_method

    p = dict(method_p)
    if p.get("temperature") == "auto":
        if teacher is None or "temperature_nll" not in teacher:
            raise ConfigError(f"{where}: method kind {p['kind']!r} has temperature 'auto', but this teacher "
                              f"has no τ* (its data set has no validation split to choose it on)")
        p["temperature"] = float(teacher["temperature_nll"])
    method = make_method(p)
    return method, ({} if method.temperature is None else {"temperature_used": float(method.temperature)})


def student_arrays(d: dict[str, np.ndarray], res: Any) -> dict[str, np.ndarray]:
    """What a student cell's replicates.npz holds, every array with the replicates on axis 0: each
    replicate's test logits and probabilities, resample indices, chosen epoch and per-epoch records
    (``res``: a trainer's result), and its validation logits where the data set has a validation split."""
    from softlabels.analysis.biasvar import log_softmax

    z = res.logits(d["X_test"]).cpu().numpy()
    arrays = {"test_logits": z, "test_probs": np.exp(log_softmax(z)).astype(np.float32),
              "indices": res.indices, "best_epoch": res.best_epoch, **res.history}
    if "X_val" in d:
        arrays["val_logits"] = res.logits(d["X_val"]).cpu().numpy()
    return arrays


def write_student_arrays(out: dict[str, str], cell: dict[str, Any], d: dict[str, np.ndarray],
                         arrays: dict[str, np.ndarray], config_slice: dict[str, Any], seconds: float, device: str,
                         **extra: Any) -> None:
    """Write one cell (``out``: its replicates, points and meta paths) from its replicates' arrays
    (``student_arrays``): the arrays; the per-test-point bias-variance terms of the replicates
    (docs/science.md#b-ce-decomposition; the bootstrap over test points is the table's); the provenance."""
    from softlabels.analysis.biasvar import accuracy, decompose

    z = arrays["test_logits"]
    io.write_npz(out["replicates"], **arrays)
    io.write_npz(out["points"], replicates=np.array(z.shape[0]), **decompose(z, d["y_test"]))
    acc = accuracy(z, d["y_test"])
    # the job's peak resident memory so far (its data, the trainer's buffers and every width trained before)
    extra.setdefault("peak_rss_bytes", peak_rss_bytes())
    io.write_json(out["meta"], io.provenance(config_slice, cell=cell, data_fingerprint=fingerprint(d),
                                             test_accuracy=acc.tolist(), seconds=seconds, device=device, **extra))
    log.info("%s: test accuracy %.4f +- %.4f over %d replicates (%.1fs)", out["replicates"], acc.mean(),
             acc.std(), len(acc), seconds)


def write_students(out: dict[str, str], cell: dict[str, Any], d: dict[str, np.ndarray], res: Any,
                   config_slice: dict[str, Any], seconds: float, device: str, **extra: Any) -> None:
    """What every student rule writes for one cell from a trainer's result ``res``
    (``student_arrays``, ``write_student_arrays``)."""
    write_student_arrays(out, cell, d, student_arrays(d, res), config_slice, seconds, device, **extra)


def auto_radius(margin_file: str, d: dict[str, np.ndarray], method: Any, teacher: np.ndarray | None,
                eps: float) -> tuple[float, str]:
    """The theory regime's radius B by the rule of ``softlabels.theory.radius`` (docs/science.md#a-radius)."""
    from softlabels.theory.radius import choose_radius

    gamma = io.read_json(margin_file).get("gamma")
    if gamma is None or not gamma > 0:
        raise InputError(f"{margin_file}: radius auto needs the data set's solved margin gamma > 0, found {gamma}; "
                         "give the student setup a number as radius")
    zt = None
    if teacher is not None:  # the teacher's logit difference at the method's temperature
        zt = float(np.abs(teacher[:, 1] - teacher[:, 0]).max()) / float(method.temperature or 1.0)
    return choose_radius(float(gamma), len(d["y_train"]), eps, zt)


def staging_dir(group: str | Path) -> Path:
    """Where a ``train_students`` job writes its group folder before renaming it into place: a hidden
    sibling, which no rule's output pattern matches, so a job that dies leaves no folder that looks complete."""
    group = Path(group)
    return group.parent / f".{group.name}.partial"


def writes_group_folder(rule: Callable[[Any], None]) -> Callable[[Any], None]:
    """A student rule whose one output is a group folder (``snk.output.group``): ``rule`` writes the cells
    into the staging folder (``cell_outputs``), which becomes the group folder only once every width is
    written; on an error it is removed."""

    @functools.wraps(rule)
    def run(snk: Any) -> None:
        group = Path(snk.output.group)
        staging = staging_dir(group)
        shutil.rmtree(staging, ignore_errors=True)  # left by a job that was killed
        try:
            rule(snk)
            if group.is_dir() and not any(group.iterdir()):
                group.rmdir()
            staging.rename(group)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return run


def cell_outputs(snk: Any, k: int = 0) -> dict[str, str]:
    """The output paths of the k-th cell of a student job (one per width, in the order of its widths). An
    MLP student job has one output, its group folder: its k-th cell is m<width>/ of its staging folder
    (``writes_group_folder``); a CNN student job has one cell, its outputs one path each."""
    if hasattr(snk.output, "group"):
        cell = staging_dir(snk.output.group) / f"m{snk.params.student['widths'][k]}"
        return {name: str(cell / f) for name, f in STUDENT_FILES.items()}
    return {name: getattr(snk.output, name) for name in STUDENT_FILES}


@writes_group_folder
@names_its_cell
def train_students(snk: Any) -> None:
    """Every width of one (data set, teacher, method, MLP student setup) group.

    Each width is first looked up in the store of trained cells (``softlabels.pipeline.store``): a hit is
    copied to the outputs byte for byte, an entry with fewer replicates has only the new replicates
    trained; the rest is trained. Theory-regime setups (without early stopping) train all the widths left
    to train as one packed computation (``softlabels.training.trainer.train_mlp_segments``); each width still
    has its own seed streams and gets the numbers of a job that trains it alone. Practical setups train
    one width after another."""
    from softlabels.data.common import n_classes
    from softlabels.pipeline import store as S

    method_p, student_p = dict(snk.params.method), dict(snk.params.student)  # the config slices, as recorded
    hp = dict(student_p)  # what the trainer gets
    widths = hp.pop("widths")  # in the order of the rule's outputs
    device = select_device(hp["compute"])
    d = load_data(snk.input.data)
    teacher_file = load_teacher(snk.input, d)
    method, used = student_method(teacher_file, method_p, getattr(snk.input, "teacher", "the teacher"))
    X, y, teacher = training_rows(d, teacher_file, method, hp, snk.wildcards.dataset)
    extra: dict[str, Any] = {}
    if hp.get("radius") == "auto":
        hp["radius"], extra["radius_rule"] = auto_radius(snk.input.margin, d, method, teacher, hp["radius_epsilon"])
        extra["radius_used"] = hp["radius"]
        log.info("radius B = %.4g (%s)", hp["radius"], extra["radius_rule"])
    w = snk.wildcards

    def cell_of(width: int) -> dict[str, Any]:
        return dict(dataset=w.dataset, teacher=w.teacher, method=w.method, student=w.student, width=width)

    R = hp["replicates"]
    config_slice = {"method": method_p, "student": student_p}
    if hp["regime"] == "theory":  # which step trains it (compiled or PyTorch): in its key and its meta.json
        from softlabels.training.theory_kernel import step_name

        extra["theory_step"] = step_name(device)
    store = S.Store() if S.enabled() else None
    if store is None:
        log.info("store: off (%s=0); training every width", S.ENV)
    keys: dict[int, dict[str, Any] | None] = {}
    todo: dict[int, list[int]] = {}      # width -> replicate ids to train
    reused: dict[int, tuple[Path, int]] = {}  # width -> (entry, replicates reused)
    for k, width in enumerate(widths):
        if store is None:
            todo[width] = list(range(R))
            continue
        try:
            key = S.cell_key(S.data_fingerprint(d), None if teacher is None else S.array_fingerprint(teacher), method_p,
                             student_p, width, hp.get("radius"), used, S.code_version(),
                             S.environment(device, extra.get("theory_step")))
            S.key_hash(key)
        except Exception as exc:  # noqa: BLE001 - a key that cannot be made is a miss, never an error
            log.warning("store: no key for width %d (%s): a miss", width, exc)
            key = None
        keys[width] = key
        found, R_s, entry = ("miss", 0, None) if key is None else store.find(key, R)
        if found == "extend" and hp.get("patience", 0) > 0:  # early stopping: records' lengths depend on R
            found, R_s = "miss", 0
        if found == "hit":
            out = cell_outputs(snk, k)
            store.copy_out(entry, out)
            store.note_reuse(entry, out["meta"])
            meta = io.read_json(out["meta"])
            if meta.get("cell") != cell_of(width):  # another cell's entry (radius auto resolved to a sibling's B)
                io.write_json(out["meta"], {**meta, "cell": cell_of(width), "config": config_slice, **used, **extra,
                                            "computed_for": meta.get("cell"), "reused_from": str(entry)})
            log.info("width %d: reused from store entry %s at %s (nothing trained)", width, entry,
                     time.strftime("%Y-%m-%dT%H:%M:%S"))
            continue
        if found == "extend":
            reused[width] = (entry, R_s)
            log.info("width %d: replicates 0..%d reused from store entry %s; training %d..%d", width, R_s - 1,
                     entry, R_s, R - 1)
        else:
            log.info("width %d: not in the store; training", width)
        todo[width] = list(range(R_s, R))
    trained_seconds = 0.0
    for width, res, seconds, timing in train_widths(X, y, d, method, hp, todo, teacher, device, n_classes(d)):
        k = widths.index(width)
        out = cell_outputs(snk, k)
        arrays = student_arrays(d, res)
        more: dict[str, Any] = {}
        if width in reused:
            entry, R_s = reused[width]
            old = io.read_npz(entry / S.FILES["replicates"])
            arrays = {name: np.concatenate([old[name][:R_s], v]) for name, v in arrays.items()}
            more = {"reused_replicates": R_s, "reused_from": str(entry)}
            store.note_reuse(entry, f"{out['meta']} (replicates 0..{R_s - 1})")
        write_student_arrays(out, cell_of(width), d, arrays, config_slice, seconds, device, **used, **extra, **timing,
                             **more)
        trained_seconds += seconds
        if store is not None and keys.get(width) is not None:
            store.put(keys[width], R, out)
    log.info("training seconds: %.2f for widths %s; reused from the store: %s", trained_seconds,
             sorted(todo), sorted(set(widths) - set(todo)) or "none")


def training_rows(d: dict[str, np.ndarray], teacher_file: dict[str, np.ndarray] | None, method: Any,
                  hp: dict[str, Any], dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows a student setup trains on (inputs, labels, and the teacher's logits on them where the method
    distils): the training split, or with resampling ``fresh`` the data set's fresh training sets (its pool,
    replicate r on set r; ``hp`` gains ``fresh_size``, the size of one set: the data set's ``fresh_size``, by
    default the training split's)."""
    from softlabels.data.common import POOL, POOL_SIZE

    split = "train"
    if hp["resampling"] == "fresh":
        if f"X_{POOL}" not in d:
            raise ConfigError(f"resampling fresh: data set {dataset!r} has no fresh training sets; give it "
                              f"fresh_sets (kind synthetic) at least the setup's replicates ({hp['replicates']})")
        split, hp["fresh_size"] = POOL, int(d[POOL_SIZE]) if POOL_SIZE in d else len(d["y_train"])
    teacher = None
    if teacher_file is not None and method.needs_teacher:
        if f"logits_{split}" not in teacher_file:
            raise InputError(f"the teacher's logits file has no logits on the {split} split of data set "
                             f"{dataset!r}; it was made before the data set had one: run its train_teacher job again")
        teacher = teacher_file[f"logits_{split}"]
    return d[f"X_{split}"], d[f"y_{split}"], teacher


def packs_widths(hp: dict[str, Any]) -> bool:
    """Whether a student setup's widths are trained as one packed computation: the theory regime without
    early stopping (``train_mlp_segments``)."""
    return hp["regime"] == "theory" and not hp.get("patience", 0)


def train_widths(X: np.ndarray, y: np.ndarray, d: dict[str, np.ndarray], method: Any, hp: dict[str, Any],
                 todo: dict[int, list[int]], teacher: np.ndarray | None, device: str, C: int
                 ) -> Iterator[tuple[int, Any, float, dict[str, Any]]]:
    """Train each width of ``todo`` (width -> the replicate ids to train; ``hp``: the student setup, its radius
    resolved) on the rows ``X``, ``y`` (``training_rows``), validating on ``d``'s validation split, and yield,
    per width, (width, TrainResult, its training seconds, what its meta.json adds about the timing).

    Packed (``packs_widths``): the widths with the same replicate ids as one computation; each width's
    seconds are that computation's seconds split in proportion to m·T (its share of the packed rows' work,
    T the same for all), and its record says ``packed: true`` with the computation's total
    ``packed_seconds`` and its ``packed_widths``. Otherwise one width after another, each timed alone."""
    from softlabels.training.trainer import train_mlp, train_mlp_segments

    todo = {width: reps for width, reps in todo.items() if reps}
    if packs_widths(hp):
        groups: dict[tuple[int, ...], list[int]] = {}
        for width, reps in todo.items():
            groups.setdefault(tuple(reps), []).append(width)
        for reps, widths in groups.items():
            log.info("widths %s, replicates %d..%d, packed into one computation (%d hidden rows per replicate)",
                     widths, reps[0], reps[-1], sum(widths))
            t0 = time.time()
            results = train_mlp_segments(X, y, method, hp, [(m, hp["radius"]) for m in widths],
                                         list(reps), hp["seed"], teacher_logits=teacher, n_classes=C, device=device,
                                         on_epoch=epoch_logger(hp["epochs"], device))
            total = time.time() - t0
            timing = {"packed": True, "packed_seconds": total, "packed_widths": list(widths),
                      "seconds_split": "the packed computation's seconds in proportion to width x epochs"}
            for width, res in zip(widths, results):
                yield width, res, total * width / sum(widths), timing
        return
    for k, (width, reps) in enumerate(todo.items()):
        log.info("width %d (%d of %d), replicates %d..%d", width, k + 1, len(todo), reps[0], reps[-1])
        t0 = time.time()
        with in_cell(width=width):
            res = train_mlp(X, y, method, hp, width, reps, hp["seed"], teacher_logits=teacher,
                            X_val=d.get("X_val"), y_val=d.get("y_val"), n_classes=C, device=device,
                            on_epoch=epoch_logger(hp["epochs"], device))
        yield width, res, time.time() - t0, {}


@names_its_cell
def train_deep_teacher(snk: Any) -> None:
    """A CNN teacher (``softlabels.models.cnn``, GPU rules); the same outputs as ``train_teacher``."""
    from softlabels.data.common import SPLITS, n_classes
    from softlabels.models.cnn import build_model, checkpoint_payload, n_parameters
    from softlabels.registry import MODELS
    from softlabels.training.deep import train_deep

    p = dict(snk.params.p)
    device = select_device(p["compute"], gpu_rule=True)
    d = load_data(snk.input.data)
    C = n_classes(d)
    hp = {**p, "resampling": "none", "replicates": 1, "replicate_group": 0}
    t0 = time.time()
    res = train_deep(d["X_train"], d["y_train"], teacher_method(p), hp, [teacher_replicate_id(p)], p["seed"],
                     X_val=d.get("X_val"), y_val=d.get("y_val"), n_classes=C, device=device, amp=p["compute"]["amp"],
                     on_epoch=epoch_logger(p["epochs"], device))
    seconds = time.time() - t0
    logits = {s: res.logits(d[f"X_{s}"])[0].cpu().numpy() for s in SPLITS if f"X_{s}" in d}
    width = p.get("width") or MODELS[p["model"]].base_width
    in_shape = d["X_train"].shape[1:]
    write_teacher(snk, p, d, logits, checkpoint_payload(p["model"], width, C, in_shape, res.state(0)),
                  int(res.best_epoch[0]), seconds, device, model=p["model"], width=width,
                  n_parameters=n_parameters(build_model(p["model"], C, in_shape, width)))


@names_its_cell
def train_deep_students(snk: Any) -> None:
    """R replicates of a CNN student, as one computation; the same outputs as ``train_students``."""
    from softlabels.data.common import n_classes
    from softlabels.models.cnn import build_model, model_from_checkpoint, n_parameters
    from softlabels.training.deep import train_deep

    method_p, hp = dict(snk.params.method), dict(snk.params.student)
    device = select_device(hp["compute"], gpu_rule=True)
    d = load_data(snk.input.data)
    teacher_file = load_teacher(snk.input, d)
    method, used = student_method(teacher_file, method_p, getattr(snk.input, "teacher", "the teacher"))
    teacher = teacher_file["logits_train"] if teacher_file is not None and method.needs_teacher else None
    teacher_model = None
    if teacher is not None and hp["augment"]:  # augmented batches: the teacher sees the student's augmented images
        teacher_model = model_from_checkpoint(load_checkpoint(snk.input.teacher_checkpoint, d),
                                              snk.input.teacher_checkpoint)
    width = int(snk.wildcards.width)
    C = n_classes(d)
    t0 = time.time()
    res = train_deep(d["X_train"], d["y_train"], method, {**hp, "width": width}, list(range(hp["replicates"])),
                     hp["seed"], teacher_logits=teacher, teacher_model=teacher_model, X_val=d.get("X_val"),
                     y_val=d.get("y_val"), n_classes=C, device=device, amp=hp["compute"]["amp"],
                     on_epoch=epoch_logger(hp["epochs"], device))
    seconds = time.time() - t0
    n_par = n_parameters(build_model(hp["model"], C, d["X_train"].shape[1:], width))
    w = snk.wildcards
    cell = dict(dataset=w.dataset, teacher=w.teacher, method=w.method, student=w.student, width=width)
    write_students(cell_outputs(snk), cell, d, res, {"method": method_p, "student": hp}, seconds, device,
                   model=hp["model"], n_parameters=n_par, teacher_online=teacher_model is not None, **used)






