"""The methods' losses and their gradients in the logits, for the trainer's hand-written backward pass.

The trainer keeps logits class-major, ``zT`` of shape (R, C, B): PyTorch's CPU softmax and matmuls
are several times faster with the (small) class axis off the last dimension. An ``Objective`` gives,
for R replicates at once,

- ``grad(zT, t)``: ∂L_r/∂zT of the per-replicate loss L_r = ``method.loss`` (a batch mean, so every
  gradient carries 1/B), the only thing a minibatch step needs;
- ``evaluate(zT, t)``: the loss, the 0-1 training error and the regularization-sample counts
  (docs/science.md#b-regularization-samples) that the trainer records each epoch.

``t`` holds per-sample constants (one-hot labels, the teacher's tempered probabilities...) built once
by ``targets`` and gathered with the inputs. Methods with a closed form here (hard, ls, kd,
kd-filtered, wsl; docs/science.md#loss-gradients) skip autograd entirely; any other method (a subclass, a new kind) gets
``AutogradObjective``, which calls ``method.loss`` and autograd on the logits alone.
``tests/test_logit_grads.py`` checks every closed form against ``method.loss`` and autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from softlabels.registry import hard_label_weight
from softlabels.training.methods import (
    KD,
    REGULARIZATION_RULES,
    WSL,
    FilteredKD,
    Hard,
    LabelSmoothing,
    Method,
    regularization_rule,
    true_class_prob,
)


@dataclass
class Evaluation:
    """Per-replicate records of one pass over a training set."""

    loss: torch.Tensor                    # (R,) the method's loss
    err: torch.Tensor                     # (R,) mean 0-1 error (argmax ≠ label)
    reg: dict[str, torch.Tensor]          # rule -> (R,) int64 count of regularization samples


class Objective:
    """A method's loss on class-major logits; subclasses are its closed forms (or autograd)."""

    def __init__(self, method: Method, n_classes: int, has_teacher: bool):
        self.method, self.C = method, n_classes
        self.tau: float | None = method.temperature
        self.has_teacher = has_teacher
        self.layout: dict[str, slice] = {}

    def _add(self, name: str, size: int) -> None:
        start = sum(s.stop - s.start for s in self.layout.values())
        self.layout[name] = slice(start, start + size)

    @property
    def width(self) -> int:
        """Rows of per-sample constants."""
        return sum(s.stop - s.start for s in self.layout.values())

    def part(self, t: torch.Tensor, name: str) -> torch.Tensor:
        """Rows ``name`` of class-major constants t (R, k, B)."""
        return t[:, self.layout[name]]

    def targets(self, y: torch.Tensor, zt: torch.Tensor | None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Per-sample constants (R, n, k), sample-major so that minibatches gather rows; y (R, n), zt (R, n, C)."""
        raise NotImplementedError

    def grad(self, zT: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """∂L_r/∂zT, shape (R, C, B)."""
        raise NotImplementedError

    def evaluate(self, zT: torch.Tensor, t: torch.Tensor) -> Evaluation:
        raise NotImplementedError

    @property
    def records_reg(self) -> bool:
        """Whether regularization samples are counted: given a teacher and a temperature, as the trainer did."""
        return self.has_teacher and self.tau is not None


def error_rate(zT: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean 0-1 error (R,) of class-major logits zT (R, C, B) against one-hot labels Y: the prediction is the
    first class attaining the maximum, as ``argmax`` has it (whose CPU kernel is slow on these shapes). With two
    classes the prediction is class 1 where z_1 > z_0 (a tie predicts class 0): the same 0/1 values, in one pass."""
    if zT.shape[1] == 2:
        return (zT[:, 1] > zT[:, 0]).to(zT.dtype).sub_(Y[:, 1]).abs_().mean(-1)
    top = (zT == zT.amax(1, keepdim=True)).to(zT.dtype)          # the classes attaining the max
    classes = torch.arange(zT.shape[1], dtype=zT.dtype, device=zT.device).view(1, -1, 1)
    below = (classes < (Y * classes).sum(1, keepdim=True)).to(zT.dtype)   # the classes before the label
    right = (top * Y).sum(1) * ((top * below).sum(1) == 0)        # the label attains it and no earlier class
    return (1.0 - right).mean(-1)


def objective_for(method: Method, n_classes: int, has_teacher: bool) -> Objective:
    """The closed form of ``method`` if it has one (exact class match), else autograd on the logits."""
    cls = CLOSED_FORMS.get(type(method), AutogradObjective)
    return cls(method, n_classes, has_teacher)


# --- closed forms -----------------------------------------------------------------------------

def _tempered_gt_rule(p_gt: torch.Tensor, ps_tau_gt: torch.Tensor, pt_tau_gt: torch.Tensor, tau: float,
                      rule: str) -> torch.Tensor:
    """``losses.regularization_rule`` from true-class probabilities (the same formulas)."""
    if rule == "gt":
        return ps_tau_gt > pt_tau_gt
    a = p_gt - 1.0
    b = tau * (ps_tau_gt - pt_tau_gt) - a
    return b.abs() > a.abs()


class _ClosedForm(Objective):
    """Constants: one-hot labels Y; with a teacher also P = p_t^τ, log P and p_t^τ(gt)."""

    def __init__(self, method: Method, n_classes: int, has_teacher: bool):
        super().__init__(method, n_classes, has_teacher)
        self._add("Y", n_classes)
        if self.records_reg:
            self._add("P", n_classes)
            self._add("logP", n_classes)
            self._add("pt_gt", 1)

    def targets(self, y, zt, dtype=torch.float32):
        cols = [F.one_hot(y, self.C).to(dtype)]
        if self.records_reg:
            assert zt is not None and self.tau is not None
            zt = zt.to(dtype)
            log_pt = F.log_softmax(zt / self.tau, dim=-1)
            cols += [log_pt.exp(), log_pt, true_class_prob(zt, y, self.tau).unsqueeze(-1)]
        return torch.cat(cols, -1)

    def evaluate(self, zT: torch.Tensor, t: torch.Tensor) -> Evaluation:
        Y = self.part(t, "Y")
        logp = F.log_softmax(zT, dim=1)
        ce = -(logp * Y).sum(1)                                     # (R, B)
        loss = self._loss(zT, t, logp, ce)
        err = error_rate(zT, Y)
        reg: dict[str, torch.Tensor] = {}
        if self.records_reg:
            assert self.tau is not None
            p_gt = logp.exp().mul(Y).sum(1)
            ps_tau_gt = F.softmax(zT / self.tau, dim=1).mul(Y).sum(1)
            pt_gt = self.part(t, "pt_gt")[:, 0]
            for rule in REGULARIZATION_RULES:
                reg[rule] = _tempered_gt_rule(p_gt, ps_tau_gt, pt_gt, self.tau, rule).sum(-1)
        return Evaluation(loss, err, reg)

    def _loss(self, zT: torch.Tensor, t: torch.Tensor, logp: torch.Tensor, ce: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _kl(self, zT: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """KL(p_t^τ ‖ p_s^τ) per sample (R, B)."""
        P, logP = self.part(t, "P"), self.part(t, "logP")
        return (P * (logP - F.log_softmax(zT / self.tau, dim=1))).sum(1)

    def _distil_grad(self, zT: torch.Tensor, t: torch.Tensor, coef: float,
                     weight: torch.Tensor | None = None) -> torch.Tensor:
        """coef·w·(p_s^τ − p_t^τ): the gradient of coef·τ·w·KL (or of the cross-entropy H(p_t^τ, p_s^τ))."""
        d = F.softmax(zT * (1.0 / self.tau), dim=1).sub_(self.part(t, "P"))
        return d.mul_(weight.unsqueeze(1) * coef) if weight is not None else d.mul_(coef)


class HardCF(_ClosedForm):
    """CE(z, y): ∂/∂z = (softmax(z) − onehot)/B."""

    def _loss(self, zT, t, logp, ce):
        return ce.mean(-1)

    def grad(self, zT, t):
        return F.softmax(zT, dim=1).sub_(self.part(t, "Y")).mul_(1.0 / zT.shape[-1])


class LabelSmoothingCF(_ClosedForm):
    """CE against T = (1 − ε)·onehot + ε/C: ∂/∂z = (softmax(z) − T)/B."""

    def _smoothed(self, t: torch.Tensor) -> torch.Tensor:
        eps = self.method.params["epsilon"]
        return self.part(t, "Y") * (1 - eps) + eps / self.C

    def _loss(self, zT, t, logp, ce):
        return -(self._smoothed(t) * logp).sum(1).mean(-1)

    def grad(self, zT, t):
        return F.softmax(zT, dim=1).sub_(self._smoothed(t)).mul_(1.0 / zT.shape[-1])


class KDCF(_ClosedForm):
    """β·CE + α·τ²·w·KL(p_t^τ ‖ p_s^τ), β the hard-label weight (1 − α unless ``hard_weight`` is set):
    ∂/∂z = [β(p − onehot) + α·τ·w·(p_s^τ − p_t^τ)]/B."""

    @property
    def _beta(self) -> float:
        return hard_label_weight({**self.method.params, "kind": "kd"})

    def _weights(self, zT: torch.Tensor, t: torch.Tensor) -> torch.Tensor | None:
        return None

    def _loss(self, zT, t, logp, ce):
        alpha, tau = self.method.params["alpha"], self.tau
        kl = self._kl(zT, t)
        w = self._weights(zT, t)
        if w is not None:
            kl = w * kl
        loss = alpha * tau**2 * kl.mean(-1)
        if self._beta != 0.0:
            loss = loss + self._beta * ce.mean(-1)
        return loss

    def grad(self, zT, t):
        alpha, B = self.method.params["alpha"], zT.shape[-1]
        g = self._distil_grad(zT, t, alpha * self.tau / B, self._weights(zT, t))
        if self._beta != 0.0:
            g.add_(F.softmax(zT, dim=1).sub_(self.part(t, "Y")), alpha=self._beta / B)
        return g


class FilteredKDCF(KDCF):
    """KD with regularization samples weighted by ``filter_weight`` (weights from the detached logits)."""

    def _weights(self, zT, t):
        p = self.method.params
        Y = self.part(t, "Y")
        ps_tau_gt = F.softmax(zT / self.tau, dim=1).mul(Y).sum(1)
        p_gt = F.softmax(zT, dim=1).mul(Y).sum(1) if p["rule"] == "abs" else ps_tau_gt
        mask = _tempered_gt_rule(p_gt, ps_tau_gt, self.part(t, "pt_gt")[:, 0], self.tau, p["rule"])
        one = torch.ones((), dtype=zT.dtype, device=zT.device)
        return torch.where(mask, one * float(p["filter_weight"]), one)


class WSLCF(_ClosedForm):
    """CE + α·τ²·mean[w·H(p_t^τ, p_s^τ)], w = 1 − exp(−CE_s/(CE_t + 1e-7)) detached (paper B):
    ∂/∂z = [(p − onehot) + α·τ·w·(p_s^τ − p_t^τ)]/B."""

    def __init__(self, method: Method, n_classes: int, has_teacher: bool):
        super().__init__(method, n_classes, has_teacher)
        self._add("ce_t", 1)

    def targets(self, y, zt, dtype=torch.float32):
        assert zt is not None
        ce_t = -torch.gather(F.log_softmax(zt.to(dtype), dim=-1), -1, y.unsqueeze(-1))
        return torch.cat([super().targets(y, zt, dtype), ce_t + 1e-7], -1)

    def _w(self, ce: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 1.0 - torch.exp(-ce / self.part(t, "ce_t")[:, 0])

    def _loss(self, zT, t, logp, ce):
        alpha, tau = self.method.params["alpha"], self.tau
        h = -(self.part(t, "P") * F.log_softmax(zT / tau, dim=1)).sum(1)
        return ce.mean(-1) + alpha * tau**2 * (self._w(ce, t) * h).mean(-1)

    def grad(self, zT, t):
        alpha, B = self.method.params["alpha"], zT.shape[-1]
        Y = self.part(t, "Y")
        logp = F.log_softmax(zT, dim=1)
        w = self._w(-(logp * Y).sum(1), t)
        g = self._distil_grad(zT, t, alpha * self.tau / B, w)
        return g.add_(logp.exp_().sub_(Y), alpha=1.0 / B)


# --- any other method --------------------------------------------------------------------------

class AutogradObjective(Objective):
    """``method.loss`` and autograd on the logits; constants are the label and the teacher's logits."""

    def __init__(self, method: Method, n_classes: int, has_teacher: bool):
        super().__init__(method, n_classes, has_teacher)
        self._add("y", 1)
        if has_teacher:
            self._add("zt", n_classes)

    def targets(self, y, zt, dtype=torch.float32):
        cols = [y.unsqueeze(-1).to(dtype)]
        return torch.cat(cols + ([zt.to(dtype)] if self.has_teacher else []), -1)

    def _unpack(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        y = self.part(t, "y")[:, 0].round().long()
        zt = self.part(t, "zt").transpose(1, 2) if self.has_teacher else None
        return y, zt

    def grad(self, zT, t):
        y, zt = self._unpack(t)
        with torch.enable_grad():
            z = zT.detach().transpose(1, 2).requires_grad_(True)
            (g,) = torch.autograd.grad(self.method.loss(z, y, zt).sum(), [z])
        return g.transpose(1, 2)

    def evaluate(self, zT, t):
        y, zt = self._unpack(t)
        z = zT.transpose(1, 2)
        reg: dict[str, torch.Tensor] = {}
        if self.records_reg and zt is not None:
            pt = true_class_prob(zt, y, self.tau)
            reg = {rule: regularization_rule(z, pt, y, self.tau, rule).sum(-1) for rule in REGULARIZATION_RULES}
        Y = F.one_hot(y, self.C).to(zT.dtype).transpose(1, 2)
        return Evaluation(self.method.loss(z, y, zt), error_rate(zT, Y), reg)


CLOSED_FORMS: dict[type[Method], type[Objective]] = {
    Hard: HardCF, LabelSmoothing: LabelSmoothingCF, KD: KDCF, FilteredKD: FilteredKDCF, WSL: WSLCF,
}
