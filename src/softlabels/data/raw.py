"""Where a data set's raw files are: the download rule's outputs under ``results/raw/<source>/``, or
the files in a data set's ``raw_dir``; and the check of a ``raw_dir``'s files against the published
checksums."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import Sequence

from softlabels.data.cifar import CIFAR
from softlabels.errors import InputError
from softlabels.registry import DATA_KINDS, SOURCES, raw_files


def raw_paths(kind: str, raw_dir: str | None = None) -> list[str]:
    """The raw files a data set of ``kind`` reads: the download rule's outputs, or those in ``raw_dir``.

    In ``raw_dir``, gzipped files (MNIST's) may be gunzipped; CIFAR may be the archive or its extracted
    ``.bin`` files (directly in ``raw_dir`` or in the archive's own folder). Where nothing fits, the
    archive's path is returned, so that Snakemake reports it as the missing input.
    """
    source = DATA_KINDS[kind].source
    if source is None:
        return []
    if raw_dir is None:
        return [f"results/raw/{source}/{name}" for name in raw_files(source)]
    root = Path(os.path.expanduser(raw_dir))
    if source in CIFAR:  # the archive, or its extracted record files (in raw_dir or the archive's own folder)
        lay = CIFAR[source]
        for folder in (root, root / lay.folder):
            if all((folder / m).is_file() for m in lay.members):
                return [str(folder / m) for m in lay.members]
        return [str(root / lay.archive)]
    out = []  # the files by name; a gzipped one also gunzipped, where only that is there
    for name in raw_files(source):
        stem = name.removesuffix(".gz")
        gunzipped = stem != name and (root / stem).is_file() and not (root / name).is_file()
        out.append(str(root / (stem if gunzipped else name)))
    return out


def verify_own_files(kind: str, files: Sequence[str] | dict[str, str], declared: dict[str, str] | None = None
                     ) -> list[str]:
    """Check the files of a data set's ``raw_dir`` as a download is checked; return what was not checkable.
    ``files``: their paths, or path -> SHA-256 where the caller has hashed them already (each file is hashed
    once).

    A file passes when its SHA-256 is the published one for its name, or (gzipped or not) its
    uncompressed content's SHA-256 is the published one for the uncompressed file, or its SHA-256 is
    the one the user declared for that name in ``declared`` (the data set's ``sha256`` key, for a copy
    whose bytes differ from the official ones, as a mirror's may). Anything else raises InputError
    naming the file, both checksums and the key that would accept it. A file with no published
    checksum and none declared (CIFAR's extracted record files) is returned by name, to be logged.
    """
    from softlabels.data.download import sha256_file

    hashes = files if isinstance(files, dict) else {}
    source = SOURCES[DATA_KINDS[kind].source]
    declared = {k: v.lower() for k, v in (declared or {}).items()}
    unchecked = []
    for f in files:
        path = Path(f)
        name, stem = path.name, path.name.removesuffix(".gz")
        published = source.files.get(name, (None, 0))[0]
        content = source.content.get(stem, (None, 0))[0]
        if published is None and content is None and name not in declared:
            unchecked.append(str(path))
            continue
        got = hashes.get(f) or sha256_file(path)
        if got in (published, content, declared.get(name)):
            continue
        inner = None
        if content is not None and _is_gzip(path):
            inner = _gunzipped_sha256(path)
            if inner == content:
                continue
        official = " or ".join(f"{what} {sha}" for what, sha in (("the published", published),
                                                                    ("the uncompressed file's", content)) if sha)
        seen = f"SHA-256 {got}" + (f" (gunzipped: {inner})" if inner else "")
        declared_note = (f"; it is not the one declared in the data set's sha256.{name} either "
                         f"({declared[name]})" if name in declared else "")
        raise InputError(
            f"{path}: {seen} is not the official checksum of {name} ({official}){declared_note}. The file in "
            f"raw_dir is damaged or is not the official file: replace it with a good copy, or, if it is a copy "
            f"you trust whose bytes differ (a mirror's), declare its checksum on the data set: sha256: "
            f"{{{name}: {got}}}")
    return unchecked


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _gunzipped_sha256(path: Path) -> str | None:
    """SHA-256 of a gzip file's content, streamed; None where the gzip data is truncated or corrupt."""
    h = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return h.hexdigest()
