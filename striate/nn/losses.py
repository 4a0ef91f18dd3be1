"""Loss layers (checklist F2): modules wrapping :mod:`striate.functional.loss`, as ``torch.nn``.

``loss_fn = CrossEntropyLoss(); loss = loss_fn(logits, labels)``. A class-weight tensor is a
buffer named ``weight`` (and ``pos_weight`` for BCEWithLogitsLoss), as in PyTorch, so it is saved
in the ``state_dict``. The arguments after ``weight`` are keyword-only: PyTorch's positional
``size_average`` and ``reduce`` (deprecated) are not accepted.
"""
from __future__ import annotations

import numbers

from .. import functional as F
from ..autograd import as_tensor
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "DiceLoss"]

_REDUCTIONS = ("none", "mean", "sum")


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, "
                             f"got {reduction!r}")
        self.reduction = reduction

    def _buffer(self, name: str, value) -> None:
        self.register_buffer(name, None if value is None else as_tensor(value))


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits, as ``torch.nn.CrossEntropyLoss``:
    ``-log softmax(x)[target]`` (class indices) or ``-sum p log softmax(x)`` (probabilities).

    Args:
        weight: optional (C,) per-class weights.
        ignore_index: class index whose positions count neither loss nor weight.
        reduction: ``"mean"`` (weighted mean), ``"sum"`` or ``"none"``.
        label_smoothing: eps in [0, 1]: the target becomes (1 - eps) one-hot + eps / C.

    Shapes: input (N, C) or (N, C, d1, ...); target (N,) / (N, d1, ...) ints, or like input.
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not isinstance(label_smoothing, numbers.Real) or not 0 <= label_smoothing <= 1:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], "
                             f"got {label_smoothing!r}")
        self._buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):  # noqa: A002 - the torch name
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities, as ``torch.nn.NLLLoss``: ``-input[target]``.

    After :class:`~striate.nn.activation.LogSoftmax` it is the cross-entropy.
    Arguments as :class:`CrossEntropyLoss` (no label smoothing).
    """

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self._buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):  # noqa: A002
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error (x - t)^2, as ``torch.nn.MSELoss`` (same shapes required)."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities, as ``torch.nn.BCELoss``:
    ``-w (t log x + (1 - t) log(1 - x))``, the logs clamped at -100.

    Args:
        weight: optional rescaling, broadcastable to the input.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """

    def __init__(self, weight=None, *, reduction: str = "mean"):
        super().__init__(reduction)
        self._buffer("weight", weight)

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable step, as ``torch.nn.BCEWithLogitsLoss``.

    Args:
        weight: optional rescaling, broadcastable to the input.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        pos_weight: optional weight of the positive term (e.g. #negatives / #positives per class).
    """

    def __init__(self, weight=None, *, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self._buffer("weight", weight)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class DiceLoss(_Loss):
    """Soft Dice loss for segmentation (V-Net; no PyTorch twin):
    ``1 - (2 sum p t + s) / (sum p + sum t + s)`` (squares in the denominator with ``squared``).

    Args:
        smooth: s, keeps the ratio defined for empty masks.
        reduction: over the per-sample (or per-sample-and-channel) losses.
        dims: the axes summed over; default every axis but the batch axis.
        squared: V-Net's form, sum p^2 + sum t^2 in the denominator.

    See :func:`striate.functional.dice_loss` for the target formats.
    """

    def __init__(self, smooth: float = 1.0, *, reduction: str = "mean", dims=None,
                 squared: bool = False):
        super().__init__(reduction)
        self.smooth, self.dims, self.squared = smooth, dims, squared

    def forward(self, input, target):  # noqa: A002
        return F.dice_loss(input, target, self.smooth, self.reduction, self.dims, self.squared)

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}, squared={self.squared}"
