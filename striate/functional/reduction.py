"""Reductions: sum, mean, max, min, var over some or all dimensions.

``dim`` is an int, a tuple of ints or ``None`` (all dimensions); ``keepdim`` keeps the reduced
dimensions with size 1, as in PyTorch. Backward broadcasts the output gradient back over the
reduced dimensions.
"""
from __future__ import annotations

import builtins

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module

__all__ = ["sum", "mean", "max", "min", "var", "argmax", "argmin"]


def normalize_dims(op: str, dim, ndim: int):
    """``dim`` as a sorted tuple of non-negative axes (or ``None`` for all), checked."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, int) or isinstance(d, bool):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise ValueError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim!r} repeats a dimension")
    return tuple(sorted(out))


def _count(shape, axes) -> int:
    """How many elements each output element reduces over."""
    n = 1
    for i, size in enumerate(shape):
        if axes is None or i in axes:
            n *= size
    return n


def _expand_back(gy, in_shape, axes, keepdim):
    """Re-insert the reduced axes into ``gy`` so it broadcasts against the input."""
    if axes is None:
        return gy.reshape((1,) * len(in_shape))
    if not keepdim:
        xp = get_array_module(gy)
        gy = xp.expand_dims(gy, axes)
    return gy


class Sum(Function):
    """y = sum_{reduced axes} x;  gx = gy broadcast back to x's shape."""

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        xp = get_array_module(gy)
        g = _expand_back(gy, self.in_shape, self.axes, self.keepdim)
        return xp.broadcast_to(g, self.in_shape).copy()


class Mean(Function):
    """y = (1/n) sum x over the reduced axes;  gx = gy / n broadcast back."""

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        self.in_shape = x.shape
        self.count = _count(x.shape, self.axes)
        return x.mean(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        xp = get_array_module(gy)
        g = _expand_back(gy, self.in_shape, self.axes, self.keepdim)
        return xp.broadcast_to(g / builtins.max(self.count, 1), self.in_shape).astype(gy.dtype)


class Max(Function):
    """y = max over the reduced axes.

    The gradient goes to the maximal elements; when several tie, it is split evenly between them
    (the convention of ``torch.amax``), so the function's subgradient is symmetric.
    """

    def __init__(self, axes, keepdim, take_min=False):
        self.axes, self.keepdim, self.take_min = axes, keepdim, take_min

    def forward(self, x):
        reduce = x.min if self.take_min else x.max
        self.x = x
        self.y_keep = reduce(axis=self.axes, keepdims=True)
        return self.y_keep if self.keepdim else reduce(axis=self.axes, keepdims=False)

    def backward(self, gy):
        g = _expand_back(gy, self.x.shape, self.axes, self.keepdim)
        winners = self.x == self.y_keep
        return g * winners / winners.sum(axis=self.axes, keepdims=True)


class Var(Function):
    """y = sum (x - mean)^2 / (n - correction);  gx = gy * 2 (x - mean) / (n - correction)."""

    def __init__(self, axes, keepdim, correction):
        self.axes, self.keepdim, self.correction = axes, keepdim, correction

    def forward(self, x):
        self.in_shape = x.shape
        self.centered = x - x.mean(axis=self.axes, keepdims=True)
        self.denom = builtins.max(_count(x.shape, self.axes) - self.correction, 0)
        sq = (self.centered * self.centered).sum(axis=self.axes, keepdims=self.keepdim)
        return sq / self.denom if self.denom > 0 else sq * float("nan")

    def backward(self, gy):
        g = _expand_back(gy, self.in_shape, self.axes, self.keepdim)
        return (g * (2.0 / self.denom) * self.centered).astype(gy.dtype)


def _reduce(op, fn_cls, x, dim, keepdim, *extra):
    x = as_tensor(x)
    axes = normalize_dims(op, dim, x.ndim)
    return fn_cls(axes, keepdim, *extra)(x)


def sum(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - the torch name
    """Sum over ``dim`` (all dimensions when ``None``)."""
    return _reduce("sum", Sum, x, dim, keepdim)


def mean(x, dim=None, keepdim: bool = False) -> Tensor:
    """Arithmetic mean over ``dim`` (all dimensions when ``None``)."""
    x = as_tensor(x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"mean: input must be a floating-point tensor, got dtype {x.dtype}")
    return _reduce("mean", Mean, x, dim, keepdim)


def _check_nonempty(op, x, dim):
    x = as_tensor(x)
    if x.data.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    return x


def max(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - the torch name
    """Largest value over ``dim``; ties share the gradient (``torch.amax``). See :func:`argmax`."""
    return _reduce("max", Max, _check_nonempty("max", x, dim), dim, keepdim)


def min(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - the torch name
    """Smallest value over ``dim``; ties share the gradient (``torch.amin``)."""
    return _reduce("min", Max, _check_nonempty("min", x, dim), dim, keepdim, True)


def var(x, dim=None, keepdim: bool = False, correction: int = 1) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (1: unbiased, 0: population)."""
    x = as_tensor(x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"var: input must be a floating-point tensor, got dtype {x.dtype}")
    return _reduce("var", Var, x, dim, keepdim, correction)


def argmax(x, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value (flattened when ``dim`` is None); not differentiable."""
    x = as_tensor(x)
    xp = get_array_module(x.data)
    return Tensor(xp.argmax(x.data, axis=dim, keepdims=keepdim))


def argmin(x, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value (flattened when ``dim`` is None); not differentiable."""
    x = as_tensor(x)
    xp = get_array_module(x.data)
    return Tensor(xp.argmin(x.data, axis=dim, keepdims=keepdim))
