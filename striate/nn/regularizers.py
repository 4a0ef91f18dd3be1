"""Per-layer L1 and L2 weight penalties, as Keras' ``kernel_regularizer`` (checklist F5).

A regulariser is attached to a layer's weight (the *kernel*) or bias::

    conv = Conv2d(3, 16, 3, kernel_regularizer=L2(1e-4), bias_regularizer=L1(1e-5))
    regularizers.apply(model, kernel=L2(5e-4))          # or on every Conv/Linear of a model

and ``striate.train.fit`` / ``evaluate`` add the sum of every layer's penalty to the data loss by
themselves, as Keras adds ``model.losses`` (a hand-written loop does it explicitly)::

    loss = F.cross_entropy(model(x), y) + regularization_loss(model)

The penalties, with Keras' constants (note: Keras' L2 has no factor 1/2):

    L1(l):      l * sum |w|          gradient  l * sign(w)   (0 at w = 0)
    L2(l):      l * sum w^2          gradient  2 l w
    L1L2(a, b): a * sum |w| + b * sum w^2

Relation to weight decay. An optimiser's ``weight_decay=wd`` (``torch.optim.SGD``) adds ``wd * w``
to every gradient instead of adding a term to the loss: the gradient of ``(wd / 2) * sum w^2``.
So ``L2(l)`` on a layer equals ``weight_decay = 2 l`` on that layer's weights, the factor 2 coming
from Keras' missing 1/2. That holds for every optimiser that adds the decay to the gradient
(SGD with or without momentum, and torch's Adam and RMSprop as well, whose adaptive scaling then
acts on the penalty's gradient too); it fails for *decoupled* decay (AdamW), which shrinks the
weights directly, outside the adaptive scaling (Loshchilov & Hutter 2019). The other difference is
reach: weight decay touches every parameter given to the optimiser (batch-norm scales and biases
included, unless grouped out), a regulariser only the layers it is attached to.
"""
from __future__ import annotations

import numbers

from ..autograd import Tensor
from ..backend import get_default_dtype
from ..functional.elementwise import abs as _abs

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get", "apply", "regularization_loss",
           "has_regularizers"]


def _strength(name: str, arg: str, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name}: {arg} must be a non-negative number, got {value!r}")
    return float(value)


class Regularizer:
    """A penalty on one weight tensor: ``penalty = regularizer(w)``, a differentiable scalar."""

    def __call__(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor's arguments, for saving alongside a checkpoint."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum |w| + l2 * sum w^2`` (Keras' ``L1L2``; both default to 0)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _strength(type(self).__name__, "l1", l1)
        self.l2 = _strength(type(self).__name__, "l2", l2)

    def __call__(self, w: Tensor) -> Tensor:
        penalty = None
        if self.l1:
            penalty = self.l1 * _abs(w).sum()
        if self.l2:
            term = self.l2 * (w * w).sum()
            penalty = term if penalty is None else penalty + term
        if penalty is None:  # both strengths 0: a zero that still depends on w
            penalty = 0.0 * w.sum()
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """Lasso penalty ``l1 * sum |w|``; its gradient ``l1 * sign(w)`` pushes weights to exactly 0."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """Ridge penalty ``l2 * sum w^2`` (no 1/2, as Keras); gradient ``2 l2 w``.

    Equivalent, for plain SGD, to ``weight_decay = 2 * l2`` on this layer's weights.
    """

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier) -> Regularizer | None:
    """A regulariser from ``None``, a :class:`Regularizer`, or Keras' names ``'l1'``, ``'l2'``,
    ``'l1_l2'`` (with Keras' default strengths 0.01, 0.01 and 0, 0)."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(f"regularizer: expected None, a Regularizer or one of {sorted(_BY_NAME)}, "
                     f"got {identifier!r}")


def _supports(module) -> bool:
    return "kernel_regularizer" in module.__dict__


def apply(module, kernel=None, bias=None) -> int:
    """Set the kernel and bias regularisers of every layer in ``module`` that takes them.

    Those are the layers with a ``kernel_regularizer`` argument: Conv1d/2d/3d,
    ConvTranspose1d/2d/3d, DeformConv2d and Linear. Both slots are replaced; ``None`` removes a regulariser.

    Returns:
        The number of layers changed.
    """
    kernel, bias = get(kernel), get(bias)
    count = 0
    for m in module.modules():
        if _supports(m):
            m.kernel_regularizer = kernel
            m.bias_regularizer = bias
            count += 1
    return count


def has_regularizers(model) -> bool:
    """True when some layer of ``model`` carries a kernel or bias regulariser."""
    return any(_supports(m) and (m.kernel_regularizer is not None or m.bias_regularizer is not None)
               for m in model.modules())


def regularization_loss(model) -> Tensor:
    """The sum of every layer's penalties: ``sum_layers kernel_reg(W) + bias_reg(b)``.

    A differentiable scalar to add to the data loss (Keras' ``sum(model.losses)``); a zero
    tensor when no layer has a regulariser.
    """
    total = None
    for m in model.modules():
        if not _supports(m):
            continue
        for reg, param in ((m.kernel_regularizer, m.weight), (m.bias_regularizer, m.bias)):
            if reg is None or param is None:
                continue
            penalty = reg(param)
            total = penalty if total is None else total + penalty
    if total is None:
        return Tensor(get_default_dtype().type(0))
    return total
