"""A content-addressed store of trained student cells, so that adding a width or replicates to a
student setup trains only what is new.

Every (cell, width) result an MLP student job writes (its ``replicates.npz``, ``biasvar_points.npz`` and
``meta.json``) is also kept, immutably, under ``results/store/<2 hex>/<sha256>/R<replicates>/`` with a
``manifest.json`` of the files' SHA-256s and the key they were made under. The key (``cell_key``) is
everything that determines the numbers: the data set's fingerprint (every split, ``data_fingerprint``),
the teacher logits' fingerprint for a distilling method, the method's config slice and the temperature
used, the student setup's slice as it affects that width (without ``widths``, and without the configured
radius and the radius list it came from: the radius used is in the key; without ``replicates`` where each
replicate has its own seed streams), the width, the radius used, and the code version of the trainer
(``code_version``, hashing the modules and rule functions listed here, in one place). The
replicate count is the entry's sub-directory, so that one key holds R = 8 and, later, R = 16.

A student job looks each width up first (``Store.find``): an entry with the same replicates is copied to
the job's outputs byte for byte; with fewer replicates (resampling ``bootstrap`` or ``none``) its
replicates are reused and only the new ones are trained; anything else, including a key that cannot be
computed or an entry failing its checksums, is a miss, logged, and trained. Entries are written to a
temporary directory and renamed into place, and never overwritten; they are hard links to the job's
outputs where the file system allows, so the store costs no second copy on disk. Reuses are appended to
``results/store/reuse.log`` (never to an entry). The store can be deleted at any time (``rm -rf
results/store``): nothing is lost but training time. ``SOFTLABELS_STORE=0`` in the environment turns it off
(no look-ups, no writes); it is read by the job, not part of any rule's params, so toggling it re-runs
nothing.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
import shutil
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
#: the modules whose source determines a student cell's numbers (the code version hashes them)
CODE_MODULES = ("softlabels.training.trainer", "softlabels.training.logit_grads", "softlabels.training.methods",
                "softlabels.models.mlp", "softlabels.analysis.biasvar")
#: ... and the rule functions of ``softlabels.pipeline.rules`` that train a cell and write its files
CODE_FUNCTIONS = ("train_widths", "student_arrays", "write_student_arrays", "student_method", "auto_radius")


def enabled() -> bool:
    """Whether the store is on: unless ``SOFTLABELS_STORE`` is 0, false, no or off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@functools.lru_cache(maxsize=4)
def code_version(rules: Any) -> str:
    """A hash of the source of everything that determines a trained cell's numbers (``CODE_MODULES`` and
    ``CODE_FUNCTIONS`` of ``rules``, the module ``softlabels.pipeline.rules``, which passes itself so that
    this module need not import it): any edit there is a new version, and every look-up a miss."""
    import importlib

    h = hashlib.sha256()
    for name in CODE_MODULES:
        h.update(Path(importlib.import_module(name).__file__).read_bytes())
    for name in CODE_FUNCTIONS:
        h.update(inspect.getsource(getattr(rules, name)).encode())
    return h.hexdigest()[:16]


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
    logits it stores), so a change to any of them is a new key (the training split's fingerprint alone
    missed a changed ``n_test``, and copied test logits of the old test set)."""
    h = hashlib.sha256()
    for name in sorted(d):
        h.update(f"{name}:{array_fingerprint(d[name])};".encode())
    return h.hexdigest()[:16]


def cell_key(data_fingerprint: str, teacher_fingerprint: str | None, method_p: dict[str, Any],
             student_p: dict[str, Any], width: int, radius: Any, used: dict[str, Any], code: str) -> dict[str, Any]:
    """What determines one (cell, width) result, as a JSON-able dict (its hash is the entry's address)."""
    # the radius as resolved is the key's ``radius`` (``radius_epsilon`` only sets an auto radius): a setup of
    # radius auto that resolves to 1 is the same computation as its sibling setup of radius 1
    # (config.expand_student_variants), and shares its entries
    student = {k: v for k, v in student_p.items() if k not in ("widths", "radius", "radius_epsilon", "variant_of")}
    if student.get("resampling") in PER_REPLICATE:
        student.pop("replicates", None)
    return {"data": data_fingerprint, "teacher": teacher_fingerprint, "method": method_p, "used": used,
            "student": student, "width": int(width), "radius": radius, "code": code}


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _share(src: str | Path, dst: str | Path) -> None:
    """``dst`` becomes a hard link to ``src`` (no second copy of the bytes on disk), or a copy where links
    cannot be made (another file system). Safe because nothing in the pipeline rewrites a file in place:
    every writer writes a new file and renames it over the old one, and Snakemake unlinks outputs."""
    dst = Path(dst)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


class Store:
    """The store under ``root`` (``results/store`` of the working directory)."""

    def __init__(self, root: str | Path = ROOT):
        self.root = Path(root)

    def _base(self, h: str) -> Path:
        return self.root / h[:2] / h

    def find(self, key: dict[str, Any], replicates: int) -> tuple[str, int, Path | None]:
        """("hit", R, entry) for an entry with exactly ``replicates``; ("extend", R_s, entry) for the entry with
        the most replicates below it, when replicates are per-replicate (its key has no ``replicates``);
        ("miss", 0, None) otherwise. Entries that fail their checksums are skipped (and logged)."""
        base = self._base(key_hash(key))
        if not base.is_dir():
            return "miss", 0, None
        counts = sorted((int(p.name[1:]) for p in base.glob("R*") if p.name[1:].isdigit()), reverse=True)
        if replicates in counts and self.verify(base / f"R{replicates}"):
            return "hit", replicates, base / f"R{replicates}"
        if "replicates" not in key["student"]:
            for R in counts:
                if R < replicates and self.verify(base / f"R{R}"):
                    return "extend", R, base / f"R{R}"
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

    def put(self, key: dict[str, Any], replicates: int, files: dict[str, str]) -> Path | None:
        """Keep a cell's ``files`` (FILES' names -> paths; hard links where possible) as the entry (key, replicates), atomically
        (a temporary directory renamed into place); an existing entry is left as it is. Never raises: a
        store that cannot be written only costs time later."""
        entry = self._base(key_hash(key)) / f"R{replicates}"
        if entry.exists():
            return entry
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
            sums = {}
            for name, path in files.items():
                _share(path, tmp / FILES[name])
                sums[FILES[name]] = sha256_file(tmp / FILES[name])
            (tmp / "manifest.json").write_text(json.dumps({"sha256": sums, "replicates": replicates, "key": key},
                                                          indent=1, sort_keys=True, default=str))
            try:
                os.rename(tmp, entry)
            except OSError:  # another job put it first
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as exc:
            log.warning("store: could not keep %s (%s)", entry, exc)
            return None
        return entry

    def copy_out(self, entry: Path, out: dict[str, str]) -> None:
        """An entry's files as a job's outputs (FILES' names -> paths), byte for byte (hard links where possible), each
        atomically."""
        from softlabels import io

        for name, path in out.items():
            with io.atomic_path(path) as tmp:
                _share(entry / FILES[name], tmp)

    def note_reuse(self, entry: Path, what: str) -> None:
        """Append a line to ``reuse.log``: which entry was reused, for what, when."""
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {entry.relative_to(self.root)} -> {what}\n"
        try:
            with open(self.root / "reuse.log", "a") as f:
                f.write(line)
        except OSError:
            pass
