"""Losses for binary and segmentation targets (checklist F2): binary cross-entropy (on
probabilities or on logits) and the soft Dice loss.

Reductions and argument checks are shared with :mod:`striate.functional.loss`.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module
from .loss import (_check_reduction, _class_target, _constant, _float_tensor, _reduce,
                   _same_shape, _unreduce)
from .reduction import normalize_dims

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "dice_loss"]


class BinaryCrossEntropy(Function):
    """loss = -w (t log x + (1 - t) log(1 - x)), each log clamped to >= -100 (as PyTorch).

    Backward (PyTorch's form, with the denominator kept >= 1e-12):
        gx = g w (x - t) / max(x (1 - x), 1e-12),   gt = g w (log(1 - x) - log x)
    """

    def __init__(self, weight, reduction: str):
        self.weight, self.reduction = weight, reduction

    def forward(self, x, t):
        xp = get_array_module(x)
        with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped to -100
            self.log_x = xp.maximum(xp.log(x), -100)
            self.log_1mx = xp.maximum(xp.log1p(-x), -100)
        self.x, self.t = x, t
        losses = -(t * self.log_x + (1 - t) * self.log_1mx)
        if self.weight is not None:
            losses = losses * self.weight
        return _reduce(losses, self.reduction)

    def backward(self, gy):
        xp = get_array_module(gy)
        g = _unreduce(gy, self.x.shape, self.reduction)
        if self.weight is not None:
            g = g * self.weight
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = g * (self.x - self.t) / xp.maximum(self.x * (1 - self.x), 1e-12)
        if self.needs_input_grad[1]:
            gt = g * (self.log_1mx - self.log_x)
        return gx, gt


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    return all(n in (1, m) for n, m in zip(shape[::-1], target[::-1]))


def _binary_weights(op: str, x: Tensor, **weights):
    out = []
    for arg, a in weights.items():
        a = _constant(op, arg, a, x)
        if a is not None and not _broadcasts_to(a.shape, x.shape):
            raise ValueError(f"{op}: {arg} of shape {a.shape} does not broadcast to the input's "
                             f"shape {x.shape}")
        out.append(a)
    return out


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean") -> Tensor:  # noqa
    """Binary cross-entropy of probabilities, as ``torch.nn.functional.binary_cross_entropy``.

    loss = -w (t log x + (1 - t) log(1 - x)); the logs are clamped to >= -100 so a confident wrong
    prediction costs at most 100 instead of infinity. Prefer
    :func:`binary_cross_entropy_with_logits` on raw scores: it is more accurate.

    Args:
        input: probabilities in [0, 1], any shape.
        target: float targets in [0, 1] of the same shape.
        weight: optional rescaling broadcastable to the input's shape.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
    """
    op = "binary_cross_entropy"
    x, t = _float_tensor(op, input), _float_tensor(op, target, "target")
    _check_reduction(op, reduction)
    _same_shape(op, x, t)
    if x.data.size and (x.data.min() < 0 or x.data.max() > 1):
        raise ValueError(f"{op}: all elements of input should be between 0 and 1, got values in "
                         f"[{float(x.data.min()):.4g}, {float(x.data.max()):.4g}]")
    (w,) = _binary_weights(op, x, weight=weight)
    return BinaryCrossEntropy(w, reduction)(x, t)


class BinaryCrossEntropyWithLogits(Function):
    """Binary cross-entropy of sigmoid(x), computed stably from the logits x.

    With softplus(-x) = log(1 + e^-x) = log(1 + e^-|x|) + max(-x, 0) (never overflows) and the
    positive-class weight pw (1 when not given), l_w = 1 + (pw - 1) t:
        loss = w ((1 - t) x + l_w softplus(-x))
             = -w (pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))
    Backward:  gx = g w (l_w sigmoid(x) - pw t),   gt = g w ((pw - 1) softplus(-x) - x)
    """

    def __init__(self, weight, pos_weight, reduction: str):
        self.weight, self.pos_weight, self.reduction = weight, pos_weight, reduction

    def forward(self, x, t):
        xp = get_array_module(x)
        self.x, self.t = x, t
        self.softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
        log_weight = 1 if self.pos_weight is None else 1 + (self.pos_weight - 1) * t
        losses = (1 - t) * x + log_weight * self.softplus_neg
        if self.weight is not None:
            losses = losses * self.weight
        return _reduce(losses, self.reduction)

    def backward(self, gy):
        xp = get_array_module(gy)
        g = _unreduce(gy, self.x.shape, self.reduction)
        if self.weight is not None:
            g = g * self.weight
        pw = 1 if self.pos_weight is None else self.pos_weight
        gx = gt = None
        if self.needs_input_grad[0]:
            z = xp.exp(-xp.abs(self.x))
            sig = xp.where(self.x >= 0, 1 / (1 + z), z / (1 + z))
            gx = g * ((1 + (pw - 1) * self.t) * sig - pw * self.t)
        if self.needs_input_grad[1]:
            gt = g * ((pw - 1) * self.softplus_neg - self.x)
        return gx, gt


def binary_cross_entropy_with_logits(input, target, weight=None,  # noqa: A002
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step, as PyTorch's function of that name.

    Args:
        input: logits (raw scores), any shape.
        target: float targets in [0, 1] of the same shape.
        weight: optional rescaling broadcastable to the input's shape.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        pos_weight: optional weight of the positive term, broadcastable to the input (usually one
            entry per class on the last axis; pw = #negatives / #positives balances a class).
    """
    op = "binary_cross_entropy_with_logits"
    x, t = _float_tensor(op, input), _float_tensor(op, target, "target")
    _check_reduction(op, reduction)
    _same_shape(op, x, t)
    w, pw = _binary_weights(op, x, weight=weight, pos_weight=pos_weight)
    return BinaryCrossEntropyWithLogits(w, pw, reduction)(x, t)


# ---------------------------------------------------------------------------------------------
# Dice loss
# ---------------------------------------------------------------------------------------------
class DiceLoss(Function):
    """Soft Dice loss per sample (and per channel when the channel axis is not summed).

    Forward, sums over ``axes``, s = ``smooth``:
        I = sum p t,   U = sum p + sum t   (squared: U = sum p^2 + sum t^2, as V-Net)
        loss = 1 - (2 I + s) / (U + s)
    Backward, with D = U + s, M = 2 I + s and dU/dp = 1 (squared: 2p):
        gp = g (M dU/dp / D^2 - 2 t / D),   gt = g (M dU/dt / D^2 - 2 p / D)
    """

    def __init__(self, axes: tuple, smooth: float, squared: bool):
        self.axes, self.smooth, self.squared = axes, smooth, squared

    def forward(self, p, t):
        self.p, self.t = p, t
        inter = (p * t).sum(axis=self.axes, keepdims=True)
        if self.squared:
            union = (p * p).sum(axis=self.axes, keepdims=True) + (t * t).sum(
                axis=self.axes, keepdims=True)
        else:
            union = p.sum(axis=self.axes, keepdims=True) + t.sum(axis=self.axes, keepdims=True)
        self.num, self.den = 2 * inter + self.smooth, union + self.smooth
        loss = 1 - self.num / self.den
        return loss.reshape([n for i, n in enumerate(loss.shape) if i not in self.axes])

    def backward(self, gy):
        g = gy.reshape(self.num.shape)                                   # keepdims shape
        ratio = self.num / (self.den * self.den)
        gp = gt = None
        if self.needs_input_grad[0]:
            d_union = 2 * self.p if self.squared else 1
            gp = g * (ratio * d_union - 2 * self.t / self.den)
        if self.needs_input_grad[1]:
            d_union = 2 * self.t if self.squared else 1
            gt = g * (ratio * d_union - 2 * self.p / self.den)
        return gp, gt


def _dice_target(x: Tensor, target) -> Tensor:
    """Float targets pass through; an integer class map (N, *) is one-hot encoded to (N, C, *)."""
    target = as_tensor(target)
    if target.dtype.kind == "f":
        _same_shape("dice_loss", x, target)
        return target
    if target.dtype.kind not in "iu" or target.ndim + 1 != x.ndim:
        raise ValueError(f"dice_loss: target must be a float tensor of the input's shape "
                         f"{x.shape} or an integer class map without the class axis, got dtype "
                         f"{target.dtype} shape {target.shape}")
    t = _class_target("dice_loss", x, target, ignore_index=None)
    xp = get_array_module(t)
    classes = xp.arange(x.shape[1]).reshape((1, -1) + (1,) * (x.ndim - 2))
    return Tensor((classes == t[:, None]).astype(x.dtype))


def dice_loss(input, target, smooth: float = 1.0, reduction: str = "mean",  # noqa: A002
              dims=None, squared: bool = False) -> Tensor:
    """Soft Dice loss for segmentation (V-Net, Milletari et al. 2016).

        loss = 1 - (2 sum p t + s) / (sum p + sum t + s)          (squared=False)
        loss = 1 - (2 sum p t + s) / (sum p^2 + sum t^2 + s)      (squared=True, V-Net's form)

    Dice measures overlap, 2|P & T| / (|P| + |T|), so it is insensitive to how much background an
    image holds, which suits small structures in large volumes. ``smooth`` s keeps the ratio
    defined (and the loss 0) when a sample has neither prediction nor target.

    Args:
        input: predicted probabilities (after sigmoid or softmax), (N, ...) e.g. (N, C, D, H, W).
        target: a float tensor of the same shape (e.g. one-hot masks), or an integer class map
            (N, d1, ...) which is one-hot encoded along the input's axis 1.
        smooth: s, added to numerator and denominator.
        reduction: ``"none"`` (one loss per sample, or per sample and channel), ``"mean"`` or
            ``"sum"`` over them.
        dims: the axes the sums run over. ``None``: every axis but 0, one Dice per sample with
            all channels pooled; ``dims=(2, 3)`` on (N, C, H, W): one Dice per sample and channel.
        squared: use squares in the denominator.
    """
    x = _float_tensor("dice_loss", input)
    _check_reduction("dice_loss", reduction)
    t = _dice_target(x, target)
    axes = tuple(range(1, x.ndim)) if dims is None else normalize_dims("dice_loss", dims, x.ndim)
    losses = DiceLoss(axes, float(smooth), bool(squared))(x, t)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()
