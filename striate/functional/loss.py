"""Loss functions (checklist F2): cross-entropy, negative log-likelihood and mean squared error.
Binary cross-entropy and the Dice loss live in :mod:`striate.functional.loss_binary`.

Every loss takes a ``reduction``: ``"none"`` (one loss per element or sample), ``"sum"`` or
``"mean"``. Class-index targets are integer tensors; a class axis is always axis 1 of the input
((N, C) or (N, C, d1, d2, ...)), as in PyTorch.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module
from .activation import log_softmax
from .elementwise import mul
from .reduction import sum as _sum

__all__ = ["cross_entropy", "nll_loss", "mse_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(losses, reduction: str):
    """Reduce an array of per-element losses."""
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def _unreduce(gy, shape: tuple, reduction: str):
    """The gradient of each per-element loss, given the gradient of the reduced loss."""
    xp = get_array_module(gy)
    if reduction == "none":
        return gy
    n = int(np.prod(shape))
    g = gy / n if reduction == "mean" else gy
    return xp.broadcast_to(g, shape)


def _float_tensor(op: str, x, arg: str = "input") -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {arg} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _same_shape(op: str, x: Tensor, target: Tensor) -> None:
    if x.shape != target.shape:
        raise ValueError(f"{op}: target shape {target.shape} differs from input shape {x.shape}; "
                         "they must be equal")


def _constant(op: str, arg: str, a, like: Tensor):
    """A weight-like argument as an array of the input's dtype (not differentiated), or None."""
    if a is None:
        return None
    xp = get_array_module(like.data)
    arr = xp.asarray(a.data if isinstance(a, Tensor) else a)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{op}: {arg} must be numeric, got dtype {arr.dtype}")
    return arr.astype(like.dtype)


# ---------------------------------------------------------------------------------------------
# Negative log-likelihood and cross-entropy
# ---------------------------------------------------------------------------------------------
class _ClassIndexLoss(Function):
    """What NLL and softmax cross-entropy share: per-position class weights and the reduction.

    For every position i (a sample, or a sample and pixel) with target t_i:
        w_i = weight[t_i] * [t_i != ignore_index]
        reduction: none -> loss_i;  sum -> sum_i loss_i;  mean -> sum_i loss_i / sum_i w_i
    """

    def __init__(self, target, weight, ignore_index: int, reduction: str):
        self.target, self.weight = target, weight
        self.ignore_index, self.reduction = ignore_index, reduction

    def _weights(self, x):
        """Set ``t_safe`` (ignored targets read class 0), ``w`` and ``flat``, the flat indices
        of x[i, t_i] in an (N, C, *) array."""
        xp = get_array_module(x)
        valid = self.target != self.ignore_index
        self.t_safe = xp.where(valid, self.target, 0)                  # (N, *)
        self.w = valid.astype(x.dtype)
        if self.weight is not None:
            self.w = self.w * self.weight[self.t_safe]
        n, c = x.shape[:2]
        spatial = self.t_safe.size // max(n, 1)
        rows = (xp.arange(n)[:, None] * c + self.t_safe.reshape(n, spatial)) * spatial
        self.flat = (rows + xp.arange(spatial)[None, :]).reshape(self.t_safe.shape)

    def _reduce(self, losses):
        if self.reduction != "mean":
            return _reduce(losses, self.reduction)
        self.denom = self.w.sum()
        with np.errstate(invalid="ignore"):  # every target ignored: 0/0 = nan, as PyTorch
            return losses.sum() / self.denom

    def _coef(self, gy):
        """w_i times the gradient of loss_i, for every position: (N, *)."""
        return self.w * (gy / self.denom if self.reduction == "mean" else gy)


class NLLLoss(_ClassIndexLoss):
    """Negative log-likelihood of class indices, given log-probabilities x (class axis 1).

    Forward:  loss_i = -w_i * x[i, t_i]   (w_i and the reduction: see :class:`_ClassIndexLoss`)
    Backward: gx[i, c] = -w_i * g_i * [c == t_i], g_i the gradient of loss_i.

    Shapes: x (N, C, *), target (N, *) integers, loss (N, *) or ().
    """

    def forward(self, x):
        self._weights(x)
        self.x_shape = x.shape
        return self._reduce(-self.w * x.reshape(-1)[self.flat])

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        gx.reshape(-1)[self.flat] = -self._coef(gy)
        return gx


class SoftmaxCrossEntropy(_ClassIndexLoss):
    """Cross-entropy of class indices on logits x, fused with the softmax (class axis 1).

    Forward, with p = softmax(x) over the classes (the maximum subtracted first):
        loss_i = -w_i log p[i, t_i] = w_i (log sum_c e^{x_ic} - x_{i t_i})
    Backward: gx[i, c] = w_i g_i (p[i, c] - [c == t_i]), g_i the gradient of loss_i.
    Equal to nll_loss(log_softmax(x)) but one pass cheaper each way.

    Shapes: x (N, C, *), target (N, *) integers, loss (N, *) or ().
    """

    def forward(self, x):
        xp = get_array_module(x)
        self._weights(x)
        shifted = x - x.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        self.p = e / total                                               # (N, C, *)
        log_p_target = shifted.reshape(-1)[self.flat] - xp.log(total[:, 0])
        return self._reduce(-self.w * log_p_target)

    def backward(self, gy):
        coef = self._coef(gy)                                            # (N, *)
        gx = (self.p * coef[:, None]).astype(gy.dtype)
        gx.reshape(-1)[self.flat] -= coef
        return gx


def _class_target(op: str, x: Tensor, target, ignore_index: int | None):
    """Check an integer class-index target against an (N, C, *) input; return its array."""
    target = as_tensor(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype "
                        f"{target.dtype} (shape {target.shape})")
    expected = x.shape[:1] + x.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: target shape {target.shape} does not match input shape "
                         f"{x.shape}: expected {expected} (the input's shape without the class "
                         "axis 1)")
    t = target.data
    classes = x.shape[1]
    bad = (t < 0) | (t >= classes)
    if ignore_index is not None:
        bad &= t != ignore_index
    if bad.any():
        value = int(t[bad].reshape(-1)[0])
        also = "" if ignore_index is None else f", or ignore_index={ignore_index}"
        raise ValueError(f"{op}: target value {value} is out of range for {classes} classes "
                         f"(expected 0 <= target < {classes}{also})")
    return t


def _batched(x: Tensor, target: Tensor | None):
    """An unbatched (C,) input and () target become (1, C) and (1,); report whether it was."""
    if x.ndim != 1:
        return x, target, False
    target = None if target is None else as_tensor(target).reshape(1, *as_tensor(target).shape)
    return x.reshape(1, -1), target, True


def _check_weight(op: str, weight, x: Tensor):
    w = _constant(op, "weight", weight, x)
    if w is not None and w.shape != (x.shape[1],):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({x.shape[1]},), "
                         f"got shape {w.shape}")
    return w


def nll_loss(input, target, weight=None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood loss, as ``torch.nn.functional.nll_loss``.

    loss_i = -weight[t_i] * input[i, t_i]; positions whose target is ``ignore_index`` count
    neither in the sum nor in the mean's denominator sum_i weight[t_i] (so "mean" is the
    weighted mean; with every position ignored it is 0/0 = nan, as PyTorch).

    Args:
        input: log-probabilities (N, C), (N, C, d1, ...) or unbatched (C,).
        target: integer class indices (N,), (N, d1, ...) or ().
        weight: optional (C,) rescaling of each class.
        ignore_index: target value that contributes nothing.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
    """
    x = _float_tensor("nll_loss", input)
    _check_reduction("nll_loss", reduction)
    if x.ndim == 0:
        raise ValueError("nll_loss: input must have a class axis, got a 0-d tensor")
    x, target, unbatched = _batched(x, target)
    t = _class_target("nll_loss", x, target, ignore_index)
    loss = NLLLoss(t, _check_weight("nll_loss", weight, x), ignore_index, reduction)(x)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


def cross_entropy(input, target, weight=None, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy, as ``torch.nn.functional.cross_entropy``.

    With class indices t (an integer tensor): nll_loss(log_softmax(input, 1), t, ...), computed
    by the fused :class:`SoftmaxCrossEntropy` (gx = p - one-hot(t)). With label smoothing e, the
    target becomes (1 - e) one-hot(t) + e / C, i.e.

        loss_i = (1 - e) * (-w_{t_i} log p_{i,t_i}) + (e / C) * (-sum_c w_c log p_{i,c}),

    ignored positions contributing 0 and "mean" dividing by sum_i w_{t_i} as in :func:`nll_loss`.

    With class probabilities (a float target of the input's shape, each row summing to 1):
    loss_i = -sum_c w_c q_{i,c} log p_{i,c}, q = (1 - e) target + e / C, and "mean" divides by the
    number of positions N * d1 * ... (``ignore_index`` does not apply).

    Args:
        input: unnormalised scores (logits) (N, C), (N, C, d1, ...) or unbatched (C,).
        target: class indices (N,), (N, d1, ...), () or class probabilities of input's shape.
        weight: optional (C,) rescaling of each class.
        ignore_index: class-index target value that contributes nothing.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        label_smoothing: e in [0, 1].
    """
    op = "cross_entropy"
    x = _float_tensor(op, input)
    _check_reduction(op, reduction)
    if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class axis, got a 0-d tensor")
    target = as_tensor(target)
    if target.dtype.kind == "f" and target.shape != x.shape:
        raise TypeError(f"{op}: a float target must hold class probabilities of the input's "
                        f"shape {x.shape}; got shape {target.shape}. Class-index targets must "
                        "be integers")
    unbatched_none = x.ndim == 1 and reduction == "none"
    x, target, _ = _batched(x, target)
    w = _check_weight(op, weight, x)
    if target.dtype.kind == "f":
        loss = _soft_target_loss(log_softmax(x, dim=1), target, w, reduction, label_smoothing)
    elif label_smoothing == 0:
        t = _class_target(op, x, target, ignore_index)
        loss = SoftmaxCrossEntropy(t, w, ignore_index, reduction)(x)
    else:
        t = _class_target(op, x, target, ignore_index)
        loss = _smoothed_cross_entropy(x, t, w, ignore_index, reduction, label_smoothing)
    return loss.reshape(()) if unbatched_none else loss


def _smoothed_cross_entropy(x: Tensor, t, w, ignore_index: int, reduction: str,
                            smoothing: float) -> Tensor:
    """(1 - e) * nll(log p) + (e / C) * (the loss against a uniform target), composed."""
    logp = log_softmax(x, dim=1)
    loss = NLLLoss(t, w, ignore_index, reduction)(logp)
    smooth = _uniform_target_loss(logp, t, w, ignore_index, reduction)
    return (1 - smoothing) * loss + (smoothing / x.shape[1]) * smooth


def _class_axis_shape(w, ndim: int):
    return w.reshape((1, -1) + (1,) * (ndim - 2))


def _soft_target_loss(logp: Tensor, target: Tensor, w, reduction: str, smoothing: float):
    """-sum_c w_c q_c log p_c per position, q = (1 - e) target + e / C."""
    classes = logp.shape[1]
    q = target if smoothing == 0 else target * (1 - smoothing) + smoothing / classes
    if w is not None:
        q = mul(q, _class_axis_shape(w, logp.ndim))
    losses = -_sum(mul(logp, q), dim=1)                                 # (N, *)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def _uniform_target_loss(logp: Tensor, t, w, ignore_index: int, reduction: str):
    """-sum_c w_c log p_c per position (0 where ignored), reduced as nll_loss reduces."""
    valid = (t != ignore_index).astype(logp.dtype)                      # (N, *)
    weighted = logp if w is None else mul(logp, _class_axis_shape(w, logp.ndim))
    losses = -_sum(weighted, dim=1) * valid
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    xp = get_array_module(logp.data)
    denom = valid.sum() if w is None else (valid * w[xp.where(valid > 0, t, 0)]).sum()
    return losses.sum() / denom


# ---------------------------------------------------------------------------------------------
# Regression and binary losses
# ---------------------------------------------------------------------------------------------
class MSELoss(Function):
    """loss = (x - t)^2, reduced;  gx = 2 (x - t) g,  gt = -gx  (g the per-element gradient)."""

    def __init__(self, reduction: str):
        self.reduction = reduction

    def forward(self, x, t):
        self.diff = x - t
        return _reduce(self.diff * self.diff, self.reduction)

    def backward(self, gy):
        gx = 2 * self.diff * _unreduce(gy, self.diff.shape, self.reduction)
        return (gx if self.needs_input_grad[0] else None,
                -gx if self.needs_input_grad[1] else None)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error (x - t)^2, as ``torch.nn.functional.mse_loss``.

    ``input`` and ``target`` must have the same shape (PyTorch broadcasts them with a warning;
    Striate refuses, since a broadcast target is nearly always a bug).
    """
    x, t = _float_tensor("mse_loss", input), _float_tensor("mse_loss", target, "target")
    _check_reduction("mse_loss", reduction)
    _same_shape("mse_loss", x, t)
    return MSELoss(reduction)(x, t)
