"""The projection radius B of paper A's theory-regime students, chosen by the theorems (config
``radius: auto``; docs/science.md#a-radius), never by the results.

- A student distilling from a teacher whose logits are the kernel-limit teacher's (|z| ≤ ½ at the
  method's temperature): B = 1. The separator v that makes those logits, ‖v(w)‖ ≤ 1, gives rows
  w_j = w_j(0) + a_j v(w_j(0))/√m within 1/√m of their init, and in the infinite-width limit
  f(x) = E_w[1(wᵀx > 0) v(w)ᵀx] = z(x): the reference solution of the soft-label analysis lies in the ball.
- Any other student (hard labels, or a trained teacher's logits): the radius of Ji and Telgarsky's
  hard-label analysis (2020, Theorem 2.2), λ = (√(2 ln(4n/δ)) + ln(4/ε)) / (γ/4), with δ = 0.1, γ the
  data set's solved margin, n its training-set size and ε the smallest target error of the run
  (``tables.epsilons``): the distance from init within which their reference solution lies.
"""

from __future__ import annotations

import math

DELTA = 0.1  # the failure probability of the high-probability statement
#: B of a student distilling from the kernel-limit teacher's logits (|z| <= 1/2)
KERNEL_TEACHER_RADIUS = 1.0


def hard_label_radius(gamma: float, n: int, eps: float, delta: float = DELTA) -> float:
    """Ji–Telgarsky's λ(γ, n, ε, δ)."""
    if not gamma > 0:
        raise ValueError(f"the hard-label radius needs a positive margin, got γ = {gamma}")
    return (math.sqrt(2 * math.log(4 * n / delta)) + math.log(4 / eps)) / (gamma / 4)


def choose_radius(gamma: float, n: int, eps: float, teacher_margin: float | None) -> tuple[float, str]:
    """B and the rule that chose it. ``teacher_margin``: max |z| of the teacher's logit difference at the
    method's temperature on the training set (None: no teacher)."""
    if teacher_margin is not None and teacher_margin <= 0.5:
        return KERNEL_TEACHER_RADIUS, "kernel-limit teacher (|z| <= 1/2): B = 1, the norm of the separator that makes its logits"
    return hard_label_radius(gamma, n, eps), (f"Ji-Telgarsky: B = (sqrt(2 ln(4n/delta)) + ln(4/eps))/(gamma/4) with "
                                              f"gamma {gamma:.4g}, n {n}, eps {eps:g}, delta {DELTA:g}")
