"""Where a data set's raw files are: the download rule's outputs under ``results/raw/<source>/``, or
the files in a data set's ``raw_dir``."""

from __future__ import annotations

import os
from pathlib import Path

from softlabels.data.cifar import CIFAR
from softlabels.registry import DATA_KINDS, raw_files


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
