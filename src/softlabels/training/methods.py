"""Training methods: each is a small class whose ``terms`` returns named loss terms (docs/science.md#methods).

Logits are (R, B, C): R replicates, B samples, C classes; labels are (R, B) class indices. Every term
is a per-replicate mean over the batch, shape (R,), so summing over replicates keeps each replicate's
gradient its own. Adding a method is one subclass with a ``kind`` and an entry made by
``@register``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from softlabels.errors import ConfigError
from softlabels.registry import METHODS as METHOD_KINDS
from softlabels.registry import hard_label_weight

Terms = dict[str, torch.Tensor]


def ce_per_sample(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits z (R, B, C) against labels y (R, B): shape (R, B)."""
    return -torch.gather(F.log_softmax(z, dim=-1), -1, y.unsqueeze(-1)).squeeze(-1)


def soft_ce_per_sample(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy H(target, softmax(z)) for a target distribution (R, B, C): shape (R, B)."""
    return -(target * F.log_softmax(z, dim=-1)).sum(-1)


def kl_per_sample(zt: torch.Tensor, zs: torch.Tensor, tau: float) -> torch.Tensor:
    """KL(p_t^τ ‖ p_s^τ) per sample, shape (R, B)."""
    log_pt = F.log_softmax(zt / tau, dim=-1)
    return (log_pt.exp() * (log_pt - F.log_softmax(zs / tau, dim=-1))).sum(-1)


def true_class_prob(z: torch.Tensor, y: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    return torch.gather(F.softmax(z / tau, dim=-1), -1, y.unsqueeze(-1)).squeeze(-1)


REGULARIZATION_RULES = ("gt", "abs")


def regularization_mask(zs: torch.Tensor, zt: torch.Tensor, y: torch.Tensor, tau: float,
                        rule: str = "gt") -> torch.Tensor:
    """Which samples are regularization samples (docs/science.md#b-regularization-samples), as a bool (R, B) tensor.

    On the true-class logit, a = p_s(gt) − 1 (the data-fitting part of the KD gradient) and
    b = τ(p_s^τ(gt) − p_t^τ(gt)) − a (the rest). Rule 'gt' (paper B): b > −a, i.e. the student is
    already more confident in the true class than the teacher, p_s^τ(gt) > p_t^τ(gt).
    Rule 'abs' (co-authors' later code): |b| > |a|.
    """
    with torch.no_grad():
        return regularization_rule(zs, true_class_prob(zt, y, tau), y, tau, rule)


def regularization_rule(zs: torch.Tensor, pt_tau_gt: torch.Tensor, y: torch.Tensor, tau: float,
                        rule: str) -> torch.Tensor:
    """``regularization_mask`` given the teacher's p_t^τ(gt), which the trainer computes only once."""
    ps_tau_gt = true_class_prob(zs, y, tau)
    if rule == "gt":
        return ps_tau_gt > pt_tau_gt
    if rule == "abs":
        a = true_class_prob(zs, y) - 1.0
        b = tau * (ps_tau_gt - pt_tau_gt) - a
        return b.abs() > a.abs()
    raise ConfigError(f"regularization rule must be one of {REGULARIZATION_RULES}, got {rule!r}")


class Method:
    """A training objective. Subclasses set ``kind`` and implement ``terms``."""

    kind: ClassVar[str]

    def __init__(self, params: dict[str, Any]):
        # whether it needs a teacher, and its config keys with their defaults: its kind's registry entry
        # (a subclass of a registered method that is not registered itself inherits its parent's)
        spec = next(METHOD_KINDS[c.kind] for c in type(self).__mro__ if getattr(c, "kind", None) in METHOD_KINDS)
        self.needs_teacher, self.defaults = spec.needs_teacher, spec.defaults
        unknown = set(params) - set(self.defaults) - {"kind"}
        if unknown:
            raise ConfigError(f"method kind {self.kind!r} does not take {sorted(unknown)}; "
                              f"it takes {sorted(self.defaults)}")
        self.params = {**self.defaults, **{k: v for k, v in params.items() if k != "kind"}}
        if "temperature" in self.params and not self.params["temperature"] > 0:
            raise ConfigError(f"temperature must be > 0, got {self.params['temperature']}")
        if "hard_weight" in self.params and hard_label_weight({**self.params, "kind": "kd"}) < 0:
            raise ConfigError(f"alpha {self.params['alpha']} > 1 needs an explicit hard_weight >= 0")

    @property
    def temperature(self) -> float | None:
        return self.params.get("temperature")

    def terms(self, zs: torch.Tensor, y: torch.Tensor, zt: torch.Tensor | None) -> Terms:
        raise NotImplementedError

    def loss(self, zs: torch.Tensor, y: torch.Tensor, zt: torch.Tensor | None) -> torch.Tensor:
        """Per-replicate total loss, shape (R,)."""
        return sum(self.terms(zs, y, zt).values())  # type: ignore[return-value]


METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    METHODS[cls.kind] = cls
    return cls


def make_method(params: dict[str, Any]) -> Method:
    kind = params.get("kind")
    if kind not in METHODS:
        raise ConfigError(f"unknown method kind {kind!r}; known kinds: {sorted(METHODS)}")
    return METHODS[kind](params)


@register
class Hard(Method):
    """Cross-entropy on the labels."""

    kind = "hard"

    def terms(self, zs, y, zt):
        return {"ce": ce_per_sample(zs, y).mean(-1)}


@register
class LabelSmoothing(Method):
    """Cross-entropy against (1 − ε)·onehot + ε/C."""

    kind = "ls"

    def terms(self, zs, y, zt):
        eps, C = self.params["epsilon"], zs.shape[-1]
        target = F.one_hot(y, C).to(zs.dtype) * (1 - eps) + eps / C
        return {"ce_smoothed": soft_ce_per_sample(zs, target).mean(-1)}


@register
class KD(Method):
    """KD: β·CE(z_s, y) + α·τ²·KL(p_t^τ ‖ p_s^τ), β = ``hard_weight``; unset, β = 1 − α (Hinton's convex form)."""

    kind = "kd"

    def sample_weights(self, zs, y, zt) -> torch.Tensor | None:
        """Per-sample weights on the distillation term (no gradient through them); None means 1."""
        return None

    def terms(self, zs, y, zt):
        tau, alpha = self.params["temperature"], self.params["alpha"]
        kl = kl_per_sample(zt, zs, tau)
        w = self.sample_weights(zs, y, zt)
        if w is not None:
            kl = w * kl
        out = {"kd": alpha * tau**2 * kl.mean(-1)}
        beta = hard_label_weight({**self.params, "kind": KD.kind})
        if beta != 0.0:
            out["ce"] = beta * ce_per_sample(zs, y).mean(-1)
        return out


@register
class FilteredKD(KD):
    """KD with regularization samples down-weighted by ``filter_weight`` in the KD term (0: removed); the
    hard-label term β·CE stays on every sample (paper B's hard filter keeps it)."""

    kind = "kd-filtered"

    def sample_weights(self, zs, y, zt):
        mask = regularization_mask(zs.detach(), zt, y, self.params["temperature"], self.params["rule"])
        return torch.where(mask, torch.as_tensor(float(self.params["filter_weight"]), dtype=zs.dtype),
                           torch.ones((), dtype=zs.dtype))


def wsl_weights(zs: torch.Tensor, zt: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Paper B's weights w = 1 − exp(−CE(z_s, y)/(CE(z_t, y) + 1e-7)), at τ = 1, detached."""
    with torch.no_grad():
        return 1.0 - torch.exp(-ce_per_sample(zs, y) / (ce_per_sample(zt, y) + 1e-7))


@register
class WSL(Method):
    """Weighted soft labels: CE(z_s, y) + α·τ²·mean_i[w_i·H(p_t^τ, p_s^τ)_i] (paper B's code)."""

    kind = "wsl"

    def terms(self, zs, y, zt):
        tau, alpha = self.params["temperature"], self.params["alpha"]
        w = wsl_weights(zs, zt, y)
        h = soft_ce_per_sample(zs / tau, F.softmax(zt / tau, dim=-1))
        return {"ce": ce_per_sample(zs, y).mean(-1), "wsl": alpha * tau**2 * (w * h).mean(-1)}


WSL_WEIGHT_AT_EQUAL_CE = 1 - math.exp(-1)
