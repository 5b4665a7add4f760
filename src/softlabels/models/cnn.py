"""Deep networks for the papers' image experiments, and a registry keyed by the config's ``model``.

- ``vgg8+3`` / ``vgg2+3``: paper A's Figure 1 teacher and student (CIFAR-10 cat vs dog; docs/science.md#a-experiments).
  Paper A names only the layer counts (conv + 3 FC); the widths are ours:
  ``vgg8+3`` is VGG-11's conv stack (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M) followed by
  FC 512 → 512 → 512 → C (≈ 9.8M parameters); ``vgg2+3`` is conv 32, M, 64, M followed by
  FC 4096 → 128 → 128 → C (≈ 0.56M). Every conv is 3×3, padding 1, then BatchNorm and ReLU; M is a
  2×2 max-pool.
- ``resnet8 … resnet110``, ``resnet8x4``, ``resnet32x4``: the CIFAR ResNets of the CRD benchmark
  (HobbitLong/RepDistiller ``models/resnet.py``) used by paper B (docs/science.md#ref-b-cifar100): a 3×3 stem conv, three
  stages of (depth − 2)/6 basic blocks, stride 2 at stages 2 and 3, a 1×1 conv + BN shortcut where
  the shape changes, global average pooling and one FC layer; Kaiming-normal (fan-out) conv init.
  Channels (stem, stage 1, 2, 3): 16, 16, 32, 64 for resnet8–110; 32, 64, 128, 256 for the "x4" ones.
  At 100 classes: resnet20 ≈ 0.28M, resnet32 ≈ 0.47M, resnet56 ≈ 0.86M, resnet110 ≈ 1.74M,
  resnet8x4 ≈ 1.23M, resnet32x4 ≈ 7.43M parameters. CRD pools with ``AvgPool2d(8)``; we take the
  spatial mean, the same on 32×32 inputs and deterministic on CUDA.
- ``mlp`` (paper A's Table 1 pair, teacher 512 hidden neurons, students 4/6/8) is not here: it is the
  batched two-layer network of ``softlabels.models.mlp``, trained by ``softlabels.training.trainer``.

A model's *width* is its base channel width (the stem's channels: 64 for ``vgg8+3``, 32 for
``vgg2+3``, 16 for resnet8–110, 32 for the x4 ResNets; ``softlabels.registry.MODELS``); another
width scales every layer by width / base. Each network standardises its input per channel with
buffers ``norm_mean``/``norm_std`` (the training split's statistics), so checkpoints and the teacher
run on augmented batches take raw images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from softlabels.errors import ConfigError, InputError
from softlabels.models.mlp import mlp_logits, replicate_rng
from softlabels.registry import MODELS as MODEL_KINDS

# Seed-stream tags of the deep trainer, far from softlabels.models.mlp' tags (1-3).
STREAM_DEEP_INIT, STREAM_AUGMENT = 101, 102


def _scaled(channels: Sequence[int], width: int, base: int) -> list[int]:
    return [max(1, int(round(c * width / base))) for c in channels]


class Standardize(nn.Module):
    """(x − mean) / std per channel; the statistics are buffers, saved with the weights."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("norm_mean", torch.zeros(channels))
        self.register_buffer("norm_std", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (x.dim() - 2)
        return (x - self.norm_mean.view(shape)) / self.norm_std.view(shape)


class VGG(nn.Module):
    """Conv stack (ints: 3×3 conv + BN + ReLU; 'M': 2×2 max-pool), flatten, then FC layers with ReLU."""

    def __init__(self, convs: Sequence[int | str], fc: Sequence[int], n_classes: int, in_shape: Sequence[int]):
        super().__init__()
        c, h, w = in_shape
        self.input = Standardize(c)
        layers: list[nn.Module] = []
        for v in convs:
            if v == "M":
                if h < 2 or w < 2:
                    raise ConfigError(f"VGG: images of {in_shape[1]}x{in_shape[2]} pixels are too small for "
                                      f"{convs.count('M')} 2x2 poolings")
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU()]
                c = int(v)
        self.features = nn.Sequential(*layers)
        dims = [c * h * w, *fc]
        head: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            head += [nn.Linear(a, b), nn.ReLU()]
        head.append(nn.Linear(dims[-1], n_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.input(x)).flatten(1))


class BasicBlock(nn.Module):
    """CRD's basic block: conv-BN-ReLU-conv-BN plus the shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class CifarResNet(nn.Module):
    """CRD's CIFAR ResNet with basic blocks: depth = 6n + 2; ``filters`` = (stem, stage 1, 2, 3)."""

    def __init__(self, depth: int, filters: Sequence[int], n_classes: int, in_shape: Sequence[int]):
        super().__init__()
        if (depth - 2) % 6:
            raise ConfigError(f"a CIFAR ResNet's depth must be 6n + 2, got {depth}")
        n = (depth - 2) // 6
        self.input = Standardize(in_shape[0])
        self.conv1 = nn.Conv2d(in_shape[0], filters[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters[0])
        stages, c = [], filters[0]
        for i, (f, stride) in enumerate(zip(filters[1:], (1, 2, 2))):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(c, f, stride if b == 0 else 1))
                c = f
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(c, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(self.input(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: ``build(n_classes, width, in_shape)``; ``base_width`` is its own width."""

    name: str
    base_width: int
    build: Callable[[int, int, Sequence[int]], nn.Module]
    description: str


MODELS: dict[str, ModelSpec] = {}


def _register(name: str, build: Callable[[int, int, Sequence[int]], nn.Module]) -> None:
    """Attach a builder to a CNN of ``softlabels.registry.MODELS`` (its width and description live there)."""
    MODELS[name] = ModelSpec(name, MODEL_KINDS[name].base_width, build, MODEL_KINDS[name].description)


def _vgg(convs: list[int | str], fc: list[int], base: int) -> Callable[[int, int, Sequence[int]], nn.Module]:
    def build(n_classes: int, width: int, in_shape: Sequence[int]) -> nn.Module:
        chans = iter(_scaled([c for c in convs if c != "M"], width, base))
        return VGG([v if v == "M" else next(chans) for v in convs], _scaled(fc, width, base), n_classes, in_shape)
    return build


def _resnet(depth: int, filters: list[int]) -> Callable[[int, int, Sequence[int]], nn.Module]:
    def build(n_classes: int, width: int, in_shape: Sequence[int]) -> nn.Module:
        return CifarResNet(depth, _scaled(filters, width, filters[0]), n_classes, in_shape)
    return build


_register("vgg8+3", _vgg([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], [512, 512], 64))
_register("vgg2+3", _vgg([32, "M", 64, "M"], [128, 128], 32))
for _depth in (8, 14, 20, 32, 44, 56, 110):
    _register(f"resnet{_depth}", _resnet(_depth, [16, 16, 32, 64]))
for _depth in (8, 32):
    _register(f"resnet{_depth}x4", _resnet(_depth, [32, 64, 128, 256]))


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"model {name!r} is not a deep model; known: {sorted(MODELS)} (and 'mlp')")
    return MODELS[name]


def build_model(name: str, n_classes: int, in_shape: Sequence[int], width: int | None = None,
                seed: int | None = None, replicate: int = 0) -> nn.Module:
    """A freshly initialised model on the CPU; with a seed, its init comes from the stream
    (seed, replicate) alone, whatever the global torch RNG and the device it later moves to."""
    spec = get_spec(name)
    width = spec.base_width if width is None else int(width)
    if len(in_shape) != 3:
        raise ConfigError(f"model {name!r} needs images (N, channels, height, width), but the data set's inputs "
                          f"have shape (N, {', '.join(map(str, in_shape))}); use an image data set or model 'mlp'")
    if seed is None:
        return spec.build(n_classes, width, in_shape)
    torch_seed = int(replicate_rng(seed, STREAM_DEEP_INIT, replicate).integers(0, 2**62))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        return spec.build(n_classes, width, in_shape)


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters of one model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def set_standardization(model: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
    """Store per-channel input statistics in the model's Standardize layer."""
    with torch.no_grad():
        model.input.norm_mean.copy_(torch.as_tensor(mean))
        model.input.norm_std.copy_(torch.as_tensor(std))


def channel_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of images (N, C, H, W), in float64 then float32."""
    mean = X.mean(axis=(0, 2, 3), dtype=np.float64)
    std = np.sqrt(((X - mean[None, :, None, None].astype(X.dtype)) ** 2).mean(axis=(0, 2, 3), dtype=np.float64))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


# --- checkpoints: what a teacher rule saves and a student rule loads --------------------------

def checkpoint_payload(model_name: str, width: int, n_classes: int, in_shape: Sequence[int],
                       state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A checkpoint of tensors and plain values only (``torch.load(weights_only=True)`` reads it)."""
    return {"model": model_name, "width": int(width), "n_classes": int(n_classes),
            "in_shape": [int(s) for s in in_shape], "state": {k: v.detach().cpu() for k, v in state.items()}}


class MLPTeacher(nn.Module):
    """A checkpoint of ``softlabels.training.trainer`` (the paper-A MLP) as a module on flattened inputs."""

    def __init__(self, params: dict[str, torch.Tensor]):
        super().__init__()
        for k, v in params.items():
            self.register_buffer(k, v.unsqueeze(0).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mlp_logits(x.reshape(len(x), -1), dict(self.named_buffers()))[0]


def model_from_checkpoint(ck: dict[str, Any], path: str = "checkpoint") -> nn.Module:
    """The teacher network of a loaded checkpoint (deep or MLP), in eval mode."""
    if "params" in ck:  # written by softlabels.pipeline.rules.train_teacher
        return MLPTeacher(ck["params"]).eval()
    try:
        model = build_model(ck["model"], ck["n_classes"], ck["in_shape"], ck["width"])
        model.load_state_dict(ck["state"])
    except (KeyError, RuntimeError) as exc:
        raise InputError(f"{path}: not a deep-model checkpoint of this version: {exc}") from None
    return model.eval()
