"""RMSprop: divide the gradient by a running root mean square of recent gradients (Hinton,
lecture 6e of "Neural Networks for Machine Learning", 2012)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, PyTorch's formulation.

    Each step, for a parameter ``w`` with gradient ``g``::

        g <- -g                                        if maximize
        g <- g + weight_decay * w
        v <- alpha * v + (1 - alpha) * g * g           (running mean square)
        gbar <- alpha * gbar + (1 - alpha) * g         if centered
        d <- sqrt(v - gbar * gbar) + eps               if centered, else  d <- sqrt(v) + eps
        b <- momentum * b + g / d;  w <- w - lr * b    if momentum > 0, else
        w <- w - lr * g / d

    ``v``, ``gbar`` and ``b`` start at zero. There is no bias correction (unlike Adam), and
    ``eps`` is added outside the square root (TensorFlow adds it inside). The centred variant
    divides by an estimate of the gradient's standard deviation instead of its RMS.

    Args:
        params: tensors or parameter groups (see :class:`Optimizer`).
        lr: learning rate ``>= 0``. Default 1e-2.
        alpha: smoothing constant of the running averages, ``>= 0``. Default 0.99.
        eps: added to the denominator, ``>= 0``. Default 1e-8.
        weight_decay: L2 penalty coefficient ``>= 0``. Default 0.
        momentum: momentum factor ``>= 0``. Default 0.
        centered: normalise by the estimated variance of the gradient instead of its second
            moment.
        maximize: ascend the objective instead of descending.

    State per parameter: ``step`` (an int), ``square_avg`` (``v``), ``momentum_buffer`` (``b``,
    when ``momentum > 0``) and ``grad_avg`` (``gbar``, when centred).
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        for name in ("eps", "momentum", "weight_decay", "alpha"):
            if not options[name] >= 0.0:
                raise ValueError(f"RMSprop: {name} must be >= 0, got {options[name]}")

    def _update(self, p, grad, state, group) -> None:
        xp = get_array_module(p.data)
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.data)
        state["step"] += 1

        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg += (1 - alpha) * (g - g_avg)  # = alpha * g_avg + (1 - alpha) * g
            d = xp.sqrt(v - g_avg * g_avg)
        else:
            d = xp.sqrt(v)
        d += group["eps"]
        if momentum > 0:
            if "momentum_buffer" not in state:  # zero at first; also if momentum came later
                state["momentum_buffer"] = xp.zeros_like(p.data)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / d
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (g / d)
