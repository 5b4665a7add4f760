"""A content-addressed store of trained student cells, so that adding a width or replicates to a
student setup trains only what is new.

Every (cell, width) result an MLP student job writes (its ``replicates.npz``, ``biasvar_points.npz`` and
``meta.json``) is also kept, immutably, under ``results/store/<2 hex>/<sha256>/R<replicates>/`` with a
``manifest.json`` of the files' SHA-256s and the key they were made under. The key (``cell_key``) is
everything that can change the numbers: the data set's fingerprint (every split, ``data_fingerprint``),
the teacher logits' fingerprint for a distilling method, the method's config slice and the temperature
used, the student setup's slice as it affects that width (without ``widths``, and without the configured
radius and the radius list it came from: the radius used is in the key; without ``replicates`` where each
replicate has its own seed streams), the width, the radius used, the code version (``code_version``: a
hash of every source file of the package, so that no edit anywhere in it can serve an old result) and the
numerical environment (``environment``: the torch and numpy versions, the CPU's vector capability that
torch dispatches to, the machine, the device and the theory regime's step, compiled or not, which change the
last bits). The replicate count is the
entry's sub-directory, so that one key holds R = 8 and, later, R = 16.

A student job looks each width up first (``Store.find``): an entry with the same replicates is copied to
the job's outputs byte for byte, and the copies are checked against the manifest; with fewer replicates
(resampling ``bootstrap`` or ``none``) its replicates are reused and only the new ones are trained;
anything else is a miss, logged, and trained. An entry failing its checksums is removed when it is found,
so that the job's new result replaces it. Entries are written to a temporary directory and renamed into
place, and never overwritten while they verify. Entries and outputs never share bytes: each side is a
copy (the entry's files are read-only), so a write to one cannot change the other. Reuses are appended to
``results/store/reuse.log`` (never to an entry). The store can be deleted at any time (``rm -rf
results/store``): nothing is lost but training time. ``SOFTLABELS_STORE=0`` in the environment turns it off
(no look-ups, no writes); it is read by the job, not part of any rule's params, so toggling it re-runs
nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from softlabels.data.download import sha256_file

log = logging.getLogger("softlabels")

ROOT = Path("results/store")
ENV = "SOFTLABELS_STORE"
FILES = {"replicates": "replicates.npz", "points": "biasvar_points.npz", "meta": "meta.json"}
#: resampling kinds whose replicate r depends only on (seed, r): a store entry with R replicates holds the
#: first R replicates of any larger run (``fresh``: replicate r trains on fresh set r of the data set);
#: ``disjoint`` cuts the training set into R parts, so R is in its key
PER_REPLICATE = ("bootstrap", "none", "fresh")
#: the package whose source the code version hashes: all of it (src/softlabels)
PACKAGE = Path(__file__).resolve().parents[1]
#: the mode of an entry's files: read-only, so that nothing writes to them by mistake
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def enabled() -> bool:
    """Whether the store is on: unless ``SOFTLABELS_STORE`` is 0, false, no or off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def source_files(package: Path = PACKAGE) -> list[Path]:
    """Every source file of the package (``*.py``, and any data file it ships), in a fixed order; caches
    (``__pycache__``) left out."""
    return sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".pyo"))


@functools.lru_cache(maxsize=4)
def code_version(package: Path = PACKAGE) -> str:
    """A hash of the whole package's source (every file of ``source_files``, by its path in the package and
    its bytes): an edit anywhere in it (a registry default, the radius rule, a data module, the config
    slicing, the trainer) is a new version, and every look-up a miss. The whole package rather than a list
    of modules: a list kept by hand goes stale, and the data modules are imported by name at run time."""
    h = hashlib.sha256()
    for p in source_files(package):
        h.update(f"{p.relative_to(package).as_posix()}\0".encode())
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def environment(device: str, theory_step: str | None = None) -> dict[str, str]:
    """What besides the code and the inputs changes a trained cell's last bits: the torch and numpy versions,
    the CPU vector capability torch dispatches to (``torch.backends.cpu.get_cpu_capability``), the machine,
    the device the job trains on (a GPU's name), and for a theory-regime cell the step that trains it
    (``theory_step``: compiled or PyTorch, ``softlabels.training.theory_kernel``; they agree to float32
    rounding, not bit for bit)."""
    import numpy as np
    import torch

    env = {"torch": torch.__version__, "numpy": np.__version__, "machine": platform.machine(),
           "cpu_capability": str(torch.backends.cpu.get_cpu_capability()), "device": str(device)}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    if theory_step is not None:
        env["theory_step"] = theory_step
    return env


def array_fingerprint(*arrays: Any) -> str:
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def data_fingerprint(d: dict[str, Any]) -> str:
    """The fingerprint of every array of a data set, by name: a cell's numbers depend on its training rows
    (the training split or the fresh sets), its validation split (early stopping) and its test split (the
    logits it stores), so a change to any of them is a new key."""
    h = hashlib.sha256()
    for name in sorted(d):
        h.update(f"{name}:{array_fingerprint(d[name])};".encode())
    return h.hexdigest()[:16]


def cell_key(data_fingerprint: str, teacher_fingerprint: str | None, method_p: dict[str, Any],
             student_p: dict[str, Any], width: int, radius: Any, used: dict[str, Any], code: str,
             env: dict[str, str]) -> dict[str, Any]:
    """What determines one (cell, width) result, as a JSON-able dict (its hash is the entry's address)."""
    # the radius as resolved is the key's ``radius`` (``radius_epsilon`` only sets an auto radius): a setup of
    # radius auto that resolves to 1 is the same computation as its sibling setup of radius 1
    # (config.expand_student_variants), and shares its entries
    student = {k: v for k, v in student_p.items() if k not in ("widths", "radius", "radius_epsilon", "variant_of")}
    if student.get("resampling") in PER_REPLICATE:
        student.pop("replicates", None)
    return {"data": data_fingerprint, "teacher": teacher_fingerprint, "method": method_p, "used": used,
            "student": student, "width": int(width), "radius": radius, "code": code, "env": env}


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _copy(src: str | Path, dst: str | Path) -> None:
    """``dst`` becomes a copy of ``src``'s bytes (never a hard link: a link would let a write to an output
    change the store's entry, and the other way round). The copy is writable whatever ``src``'s mode."""
    dst = Path(dst)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    shutil.copyfile(src, dst)


def _remove(path: Path) -> None:
    """Remove an entry's directory (its files are read-only, its directory is not, so they can be unlinked)."""
    shutil.rmtree(path)


class Store:
    """The store under ``root`` (``results/store`` of the working directory)."""

    def __init__(self, root: str | Path = ROOT):
        self.root = Path(root)

    def _base(self, h: str) -> Path:
        return self.root / h[:2] / h

    def find(self, key: dict[str, Any], replicates: int) -> tuple[str, int, Path | None]:
        """("hit", R, entry) for an entry with exactly ``replicates``; ("extend", R_s, entry) for the entry with
        the most replicates below it, when replicates are per-replicate (its key has no ``replicates``);
        ("miss", 0, None) otherwise. Every entry looked at is verified; one that fails its checksums is
        removed (logged), so that the job's new result takes its place."""
        base = self._base(key_hash(key))
        if not base.is_dir():
            return "miss", 0, None
        counts = sorted((int(p.name[1:]) for p in base.glob("R*") if p.name[1:].isdigit()), reverse=True)
        if replicates in counts:
            if self.verify(base / f"R{replicates}"):
                return "hit", replicates, base / f"R{replicates}"
            self.discard(base / f"R{replicates}")
        if "replicates" not in key["student"]:
            for R in counts:
                if R < replicates:
                    if self.verify(base / f"R{R}"):
                        return "extend", R, base / f"R{R}"
                    self.discard(base / f"R{R}")
        return "miss", 0, None

    def verify(self, entry: Path) -> bool:
        """Whether every file of the entry is there with the SHA-256 of its manifest."""
        try:
            manifest = json.loads((entry / "manifest.json").read_text())
            bad = [f for f, digest in manifest["sha256"].items() if sha256_file(entry / f) != digest]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("store: entry %s unreadable (%s): a miss", entry, exc)
            return False
        if bad or set(manifest["sha256"]) != set(FILES.values()):
            log.warning("store: entry %s fails its checksums (%s): a miss", entry, bad or "files missing")
            return False
        return True

    def discard(self, entry: Path) -> None:
        """Remove a damaged entry: renamed aside first (a concurrent look-up sees no half-removed entry), then
        deleted. Never raises: an entry that cannot be removed stays a miss."""
        aside = entry.parent / f".bad-{entry.name}-{os.getpid()}-{time.time_ns()}"
        try:
            os.rename(entry, aside)
            _remove(aside)
            log.warning("store: removed the damaged entry %s; this job's result replaces it", entry)
        except OSError as exc:
            log.warning("store: could not remove the damaged entry %s (%s)", entry, exc)

    def put(self, key: dict[str, Any], replicates: int, files: dict[str, str]) -> Path | None:
        """Keep copies of a cell's ``files`` (FILES' names -> paths) as the entry (key, replicates), read-only
        and atomically (a temporary directory renamed into place); an existing entry that verifies is left as
        it is, a damaged one is replaced. Never raises: a store that cannot be written only costs time later."""
        entry = self._base(key_hash(key)) / f"R{replicates}"
        if entry.exists():
            if self.verify(entry):
                return entry
            self.discard(entry)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
            sums = {}
            for name, path in files.items():
                _copy(path, tmp / FILES[name])
                sums[FILES[name]] = sha256_file(tmp / FILES[name])
            (tmp / "manifest.json").write_text(json.dumps({"sha256": sums, "replicates": replicates, "key": key},
                                                          indent=1, sort_keys=True, default=str))
            for f in tmp.iterdir():
                os.chmod(f, READ_ONLY)
            try:
                os.rename(tmp, entry)
            except OSError:  # another job put it first
                _remove(tmp)
        except OSError as exc:
            log.warning("store: could not keep %s (%s)", entry, exc)
            return None
        return entry

    def copy_out(self, entry: Path, out: dict[str, str]) -> None:
        """An entry's files as a job's outputs (FILES' names -> paths), byte for byte, each a copy written
        atomically and checked against the entry's manifest (an ``InputError`` if a copy differs)."""
        from softlabels import io
        from softlabels.errors import InputError

        sums = json.loads((entry / "manifest.json").read_text())["sha256"]
        for name, path in out.items():
            with io.atomic_path(path) as tmp:
                _copy(entry / FILES[name], tmp)
                if sha256_file(tmp) != sums[FILES[name]]:
                    raise InputError(f"store: the copy of {entry / FILES[name]} differs from its manifest; "
                                     f"remove {entry} and run the job again")

    def note_reuse(self, entry: Path, what: str) -> None:
        """Append a line to ``reuse.log``: which entry was reused, for what, when."""
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {entry.relative_to(self.root)} -> {what}\n"
        try:
            with open(self.root / "reuse.log", "a") as f:
                f.write(line)
        except OSError:
            pass
