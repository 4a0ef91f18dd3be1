"""Element-wise arithmetic and matrix multiplication, with NumPy broadcasting.

Binary ops broadcast their inputs as NumPy does. The gradient that comes back has the broadcast
(output) shape; each input's gradient is that, summed over the axes broadcasting stretched
(:func:`sum_to`). Everything else in Striate is built from these and from the ops of its family.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module
from . import fusion

__all__ = ["sum_to", "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs",
           "clamp", "maximum", "minimum", "matmul", "cast"]


def sum_to(g, shape: tuple):
    """Undo broadcasting: sum ``g`` down to ``shape``.

    Axes that broadcasting prepended are summed away; axes where ``shape`` has 1 and ``g`` has more
    are summed with ``keepdims``. This is the one place every binary backward undoes broadcasting.
    """
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _pair(a, b):
    """Make both operands Tensors; a Python scalar takes the other operand's dtype."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def _check_float(op: str, x: Tensor, arg: str = "input") -> None:
    if x.dtype.kind not in "fc":
        raise TypeError(f"{op}: {arg} must be a floating-point tensor, got dtype {x.dtype}")


# ---------------------------------------------------------------------------------------------
class Add(Function):
    """y = a + b;  ga = sum_to(gy), gb = sum_to(gy)."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.a_shape), sum_to(gy, self.b_shape)


class Sub(Function):
    """y = a - b;  ga = sum_to(gy), gb = -sum_to(gy)."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, gy):
        gb = -sum_to(gy, self.b_shape) if self.needs_input_grad[1] else None
        return sum_to(gy, self.a_shape), gb


class Mul(Function):
    """y = a * b;  ga = sum_to(gy * b), gb = sum_to(gy * a)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        ga = sum_to(gy * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b;  ga = sum_to(gy / b), gb = -sum_to(gy * a / b^2)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        ga = sum_to(gy / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = (sum_to(-gy * self.a / (self.b * self.b), self.b.shape)
              if self.needs_input_grad[1] else None)
        return ga, gb


class Neg(Function):
    """y = -x;  gx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = a ** b;  ga = gy * b * a^(b-1),  gb = gy * y * log(a)  (taken as 0 where a == 0)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        a, b = self.a, self.b
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(gy * b * a ** (b - 1), a.shape)
        if self.needs_input_grad[1]:
            safe_log = xp.log(xp.where(a > 0, a, 1))
            gb = sum_to(gy * self.y * safe_log, b.shape)
        return ga, gb


class Exp(Function):
    """y = e^x;  gx = gy * y (the output is kept: the derivative is the function itself)."""

    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    """y = ln x;  gx = gy / x."""

    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.x


class Sqrt(Function):
    """y = sqrt(x);  gx = gy / (2 y)."""

    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)


class Abs(Function):
    """y = |x|;  gx = gy * sign(x)  (0 at x = 0, as PyTorch)."""

    def forward(self, x):
        self.x = x
        return get_array_module(x).abs(x)

    def backward(self, gy):
        return gy * get_array_module(gy).sign(self.x)


class Clamp(Function):
    """y = min(max(x, lo), hi);  gx = gy where lo <= x <= hi, else 0 (PyTorch's convention)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        inside = get_array_module(gy).ones(gy.shape, dtype=bool)
        if self.lo is not None:
            inside &= self.x >= self.lo
        if self.hi is not None:
            inside &= self.x <= self.hi
        return gy * inside


class Maximum(Function):
    """y = max(a, b) element-wise; the gradient goes to the larger input, half to each on a tie."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return get_array_module(a).maximum(a, b)

    def backward(self, gy):
        share_a = (self.a > self.b) + 0.5 * (self.a == self.b)
        ga = sum_to(gy * share_a, self.a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * (1 - share_a), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Cast(Function):
    """y = x as another dtype; gx = gy cast back."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.in_dtype)


class MatMul(Function):
    """y = a @ b (with NumPy's batching and 1-D rules).

    For 2-D operands, ``ga = gy @ b^T`` and ``gb = a^T @ gy``. Batched operands follow the same
    rule on the last two axes, then :func:`sum_to` undoes broadcasting of the batch axes. A 1-D
    operand is treated as a row (left) or column (right) vector, then the axis is dropped again.
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        xp = get_array_module(gy)
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a            # (..., M, K)
        b2 = b[:, None] if b.ndim == 1 else b            # (..., K, P)
        gy2 = gy
        if b.ndim == 1:
            gy2 = gy2[..., None]
        if a.ndim == 1:
            gy2 = gy2[..., None, :]                      # (..., M, P)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = gy2 @ xp.swapaxes(b2, -1, -2)           # (..., M, K)
            ga = sum_to(ga, a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = xp.swapaxes(a2, -1, -2) @ gy2           # (..., K, P)
            gb = sum_to(gb, b2.shape).reshape(b.shape)
        return ga, gb


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def add(a, b) -> Tensor:
    """a + b with broadcasting."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        folded = fusion.fold_add(a, b)
        if folded is not None:  # inference on oneDNN: a post-op of the convolution
            return folded
    return Add()(*_pair(a, b))


def sub(a, b) -> Tensor:
    """a - b with broadcasting."""
    return Sub()(*_pair(a, b))


def mul(a, b) -> Tensor:
    """a * b with broadcasting."""
    return Mul()(*_pair(a, b))


def div(a, b) -> Tensor:
    """a / b with broadcasting."""
    return Div()(*_pair(a, b))


def neg(x) -> Tensor:
    """-x."""
    return Neg()(as_tensor(x))


def pow(a, b) -> Tensor:  # noqa: A001 - the torch name
    """a ** b with broadcasting; either may be a tensor."""
    a, b = _pair(a, b)
    if b.dtype.kind in "iu" and a.dtype.kind == "f":
        b = Tensor(b.data.astype(a.dtype))
    return Pow()(a, b)


def exp(x) -> Tensor:
    """e ** x."""
    x = as_tensor(x)
    _check_float("exp", x)
    return Exp()(x)


def log(x) -> Tensor:
    """Natural logarithm."""
    x = as_tensor(x)
    _check_float("log", x)
    return Log()(x)


def sqrt(x) -> Tensor:
    """Square root."""
    x = as_tensor(x)
    _check_float("sqrt", x)
    return Sqrt()(x)


def abs(x) -> Tensor:  # noqa: A001 - the torch name
    """|x|."""
    return Abs()(as_tensor(x))


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002 - the torch names
    """Limit ``x`` to ``[min, max]``; either bound may be ``None``."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    for arg, v in (("min", min), ("max", max)):
        if v is not None and not isinstance(v, numbers.Real):
            raise TypeError(f"clamp: {arg} must be a number or None, got {type(v).__name__}")
    return Clamp(min, max)(as_tensor(x))


def maximum(a, b) -> Tensor:
    """Element-wise maximum with broadcasting."""
    return Maximum()(*_pair(a, b))


def minimum(a, b) -> Tensor:
    """Element-wise minimum with broadcasting: -max(-a, -b)."""
    a, b = _pair(a, b)
    return neg(maximum(neg(a), neg(b)))


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's (and PyTorch's) batching and 1-D rules."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, "
                         f"got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} "
                         f"({k_a} != {k_b})")
    return MatMul()(a, b)


def cast(x, dtype) -> Tensor:
    """``x`` converted to ``dtype``; gradients flow back between floating dtypes."""
    x = as_tensor(x)
    if np.dtype(dtype) == x.dtype:
        return x
    return Cast(dtype)(x)
