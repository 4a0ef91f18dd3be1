"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (checklist F4)."""
from __future__ import annotations

from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, PyTorch's formulation.

    With gradient ``g`` of the loss for parameter ``w`` (from one mini-batch: *stochastic*
    gradient descent; from the whole set: plain gradient descent), each step does::

        g <- -g                              if maximize
        g <- g + weight_decay * w            (L2 weight decay)
        v <- g                               on the first step, else
        v <- momentum * v + (1 - dampening) * g
        g <- g + momentum * v                if nesterov, else  g <- v
        w <- w - lr * g

    With ``momentum=0`` this is ``w <- w - lr * g``.

    The lectures write momentum as ``v <- alpha v + lambda dE/dw;  w <- w - v`` (alpha typically
    0.5-0.9). It is the same update with the learning rate moved inside the velocity: set
    ``lr=lambda`` and ``momentum=alpha``; then the lecture's ``v`` is ``lr`` times the ``v``
    above, step for step, as long as the learning rate stays fixed (when a schedule changes it,
    PyTorch's form applies the new rate to the whole accumulated velocity at once, the lectures'
    form only to the new gradients).

    Nesterov momentum evaluates the gradient "ahead", at ``w - lr * momentum * v``; the form above
    (Sutskever et al., 2013, as in PyTorch) gets the same effect from the gradient at ``w``.

    Args:
        params: tensors or parameter groups (see :class:`Optimizer`).
        lr: learning rate (step size), ``>= 0``. Default 1e-3.
        momentum: momentum factor ``>= 0`` (0: none). Default 0.
        dampening: scales the new gradient in the velocity by ``1 - dampening``. Default 0.
        weight_decay: L2 penalty coefficient ``>= 0`` added to the gradient. Default 0.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: ascend the objective instead of descending.

    State per parameter: ``momentum_buffer`` (``v``), when ``momentum != 0``.

    Example::

        opt = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        if not options["momentum"] >= 0.0:
            raise ValueError(f"SGD: momentum must be >= 0, got {options['momentum']}")
        if not options["weight_decay"] >= 0.0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {options['weight_decay']}")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening == 0, "
                             f"got momentum={options['momentum']}, "
                             f"dampening={options['dampening']}")

    def _update(self, p, grad, state, group) -> None:
        momentum = group["momentum"]
        g = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g
