"""One registry per kind: training methods, models and data-set kinds, free of torch.

Everything the rest of the package and the workflow need to know about a kind lives here: whether a
method needs a teacher and which slope paper A's bound gives it, its config defaults; whether a model
is a CNN trained by the GPU rules and its own width; whether a data kind is images, how many classes
it has, which raw files it is built from and their checksums. The config schema's enums and per-kind
defaults are checked against these tables by ``tests/test_layout.py``.

Adding a method, model or data kind starts here (docs/development.md lists the other files it touches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The {teacher} wildcard of the cells whose method needs no teacher (they are trained once per data set).
NO_TEACHER = "none"


@dataclass(frozen=True)
class MethodKind:
    """A training objective (its loss lives in ``softlabels.training.methods``)."""

    needs_teacher: bool
    #: exponent of 1/γ in paper A's upper bound on the neurons needed (docs/science.md#14-bounds);
    #: None where the theory says nothing (label smoothing)
    theory_slope: float | None
    #: config keys this kind takes, with their defaults (the schema's per-kind defaults must equal these)
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: what the papers' tables compare it as: 'hard' (the hard-label baseline, and the direct training that
    #: bias shifts are measured against), 'soft' (the soft-label method set against it), 'kd' and 'wsl'
    #: (paper B's columns); a table takes the first method (by name) of a kind that plays the role
    roles: tuple[str, ...] = ()


METHODS: dict[str, MethodKind] = {
    "hard": MethodKind(False, 4.0, {}, "cross-entropy on the labels", ("hard",)),
    "kd": MethodKind(True, 2.0, {"temperature": 4.0, "alpha": 1.0, "hard_weight": None},
                     "Hinton's knowledge distillation", ("soft", "kd")),
    "wsl": MethodKind(True, 2.0, {"temperature": 4.0, "alpha": 2.25}, "paper B's weighted soft labels", ("wsl",)),
    "ls": MethodKind(False, None, {"epsilon": 0.1}, "cross-entropy against smoothed labels"),
    "kd-filtered": MethodKind(True, 2.0, {"temperature": 4.0, "alpha": 1.0, "hard_weight": None, "filter_weight": 0.0,
                                          "rule": "gt"},
                              "KD with regularization samples down-weighted (0: removed, the hard filter)"),
}


@dataclass(frozen=True)
class ModelKind:
    """A network. ``deep`` models are the CNNs of ``softlabels.models.cnn``, trained by the GPU rules."""

    deep: bool
    #: the width a teacher of this model gets when the config gives none (mlp: hidden neurons;
    #: CNNs: the base channel width the architecture is defined with)
    base_width: int
    description: str = ""


MODELS: dict[str, ModelKind] = {
    "mlp": ModelKind(False, 512, "two-layer ReLU network (paper A's student and teacher)"),
    "vgg8+3": ModelKind(True, 64, "paper A's teacher: VGG-11's 8 conv layers (BN) + 3 FC layers"),
    "vgg2+3": ModelKind(True, 32, "paper A's student: 2 conv layers (BN) + 3 FC layers"),
    **{f"resnet{d}": ModelKind(True, 16, f"CRD's resnet{d} (CIFAR)") for d in (8, 14, 20, 32, 44, 56, 110)},
    **{f"resnet{d}x4": ModelKind(True, 32, f"CRD's resnet{d}x4 (CIFAR)") for d in (8, 32)},
    # a teacher only, with nothing to train (base width 0: none); docs/science.md#kernel-teacher
    "kernel": ModelKind(False, 0, "paper A's kernel-limit teacher: logits [0, z] with z the kernel target's values"),
}


@dataclass(frozen=True)
class RawSource:
    """Raw files as their authors publish them: file name -> (SHA-256, size in bytes); for gzipped files,
    ``content`` gives the published SHA-256 and size of the uncompressed file (keyed by its name without
    ``.gz``), so that a copy re-compressed or gunzipped by a mirror or a user is still checked."""

    files: dict[str, tuple[str, int]]
    content: dict[str, tuple[str, int]] = field(default_factory=dict)


# MNIST's IDX files (as mirrored by https://ossci-datasets.s3.amazonaws.com/mnist/ and others) and the
# CIFAR *binary* tarballs of https://www.cs.toronto.edu/~kriz/ (the MD5s on that page are c32a1d4a...
# for CIFAR-10 and 03b5dce0... for CIFAR-100; these are the same files' SHA-256s). Keyed by source, so
# two sources may publish files of the same name.
SOURCES: dict[str, RawSource] = {
    "mnist": RawSource({
        "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    }, content={  # the uncompressed IDX files, as published beside the gzipped ones
        "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
        "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
        "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
        "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
    }),
    "cifar-10": RawSource({
        "cifar-10-binary.tar.gz": ("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171),
    }),
    "cifar-100": RawSource({
        "cifar-100-binary.tar.gz": ("58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec", 168513733),
    }),
}


@dataclass(frozen=True)
class DataKind:
    """A kind of data set: its builder ``"module:function"`` (called as ``builder(params, *raw_files)``)."""

    builder: str
    image: bool = False
    #: classes of the task (2: binary, where the kernel margin γ is defined)
    n_classes: int = 2
    #: the raw source it is built from (None: generated or bundled, no raw files)
    source: str | None = None
    description: str = ""

    @property
    def binary(self) -> bool:
        return self.n_classes == 2


DATA_KINDS: dict[str, DataKind] = {
    "synthetic": DataKind("softlabels.data.synthetic:make_synthetic",
                          description="margin-controlled points on the unit sphere"),
    "digits": DataKind("softlabels.data.digits:make_digits", description="scikit-learn's 8x8 digits, digit > 4"),
    "mnist1d": DataKind("softlabels.data.mnist1d:make_mnist1d",
                        description="MNIST-1D, generated offline by the mnist1d package, digit > 4"),
    "mnist": DataKind("softlabels.data.mnist:make_mnist", source="mnist", description="MNIST, digit > 4"),
    "cifar10-catdog": DataKind("softlabels.data.cifar:make_cifar10_catdog", image=True, source="cifar-10",
                               description="CIFAR-10 cat vs dog with Gaussian pixel noise"),
    "cifar100": DataKind("softlabels.data.cifar:make_cifar100", image=True, n_classes=100, source="cifar-100",
                         description="CIFAR-100's 100 fine classes"),
}


# --- derived views (kept next to the tables they are read from) ---------------------------------

def hard_label_weight(params: dict[str, Any]) -> float:
    """The weight on the hard-label cross-entropy of a method's loss (docs/science.md#loss-kd): ``hard_weight``
    for kd and kd-filtered, 1 − α when that is unset (Hinton's convex form); 1 for wsl and hard; 0 otherwise."""
    kind = params.get("kind")
    if kind in ("kd", "kd-filtered"):
        hw = params.get("hard_weight")
        return float(1.0 - params.get("alpha", 1.0) if hw is None else hw)
    return 1.0 if kind in ("wsl", "hard") else 0.0


def teacher_free_kinds() -> tuple[str, ...]:
    return tuple(k for k, m in METHODS.items() if not m.needs_teacher)


def deep_models() -> dict[str, int]:
    """CNN name -> its own base width."""
    return {k: m.base_width for k, m in MODELS.items() if m.deep}


def is_deep(model: str) -> bool:
    """Whether a config ``model`` is a CNN, trained by the GPU rules."""
    return MODELS[model].deep


def image_kinds() -> tuple[str, ...]:
    return tuple(k for k, d in DATA_KINDS.items() if d.image)


def raw_files(source: str) -> tuple[str, ...]:
    return tuple(SOURCES[source].files)
