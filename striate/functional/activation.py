"""Activation functions and the softmax output layer (checklist A1, A2).

Each is applied element by element, except softmax and log-softmax, which normalise along one
dimension. Where the derivative is a function of the output (sigmoid, tanh, ELU on the negative
side, softmax), forward keeps the output ``y`` for backward instead of the input::

    sigmoid' = y (1 - y)      tanh' = 1 - y^2      elu'(x < 0) = y + alpha

At a kink (x = 0 for ReLU, leaky ReLU and ELU) the gradient is the left-hand one, as in PyTorch:
ReLU passes no gradient at exactly 0.
"""
from __future__ import annotations

import contextlib

from .. import kernels
from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module
from . import fusion
from .elementwise import cast
from .shape import _axis

__all__ = ["relu", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "lecun_tanh", "softmax",
           "log_softmax", "relu_backward_rule", "SELU_ALPHA", "SELU_SCALE", "LECUN_TANH_A",
           "LECUN_TANH_S"]

# Klambauer et al. (2017), "Self-Normalizing Neural Networks", eq. (14): the fixed point
# (mean 0, variance 1) of the activations' moments.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# LeCun et al. (1998), "Gradient-based learning applied to document recognition", appendix A:
# f(a) = A tanh(S a) with S = 2/3 and A = 1.7159, chosen so that f(1) = 1 and f(-1) = -1.
LECUN_TANH_A = 1.7159
LECUN_TANH_S = 2.0 / 3.0


def _float_input(op: str, x) -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind not in "fc":
        raise TypeError(f"{op}: input must be a floating-point tensor, got dtype {x.dtype}")
    return x


# ---------------------------------------------------------------------------------------------
# The rule ReLU's backward applies. "gradient" is the true derivative; the two others are the
# modified backward passes of the attribution methods (checklist V4), which striate.explain
# switches on for the length of one backward pass with relu_backward_rule(...).
_RELU_RULES = ("gradient", "guided", "deconvnet")
_relu_rule = "gradient"


@contextlib.contextmanager
def relu_backward_rule(rule: str):
    """Run every ReLU backward inside the block with ``rule`` instead of the derivative.

    ``"gradient"``: gx = gy * [x > 0] (the chain rule, the default).
    ``"guided"``: gx = gy * [x > 0] * [gy > 0] (guided backpropagation, Springenberg et al. 2015).
    ``"deconvnet"``: gx = gy * [gy > 0] (Zeiler & Fergus 2014: the forward input's sign is
    ignored, the ReLU is applied to the signal going down).

    The rule is read when backward runs, so it is the backward call that goes in the block::

        logits = model(x)
        with F.relu_backward_rule("guided"):
            logits.backward(one_hot)
    """
    global _relu_rule
    if rule not in _RELU_RULES:
        raise ValueError(f"relu_backward_rule: rule must be one of {', '.join(_RELU_RULES)}, "
                         f"got {rule!r}")
    previous, _relu_rule = _relu_rule, rule
    try:
        yield
    finally:
        _relu_rule = previous


class ReLU(Function):
    """y = max(x, 0);  gx = gy * [x > 0]  (0 at x = 0, as PyTorch).

    Inside :func:`relu_backward_rule` the backward is guided (gx = gy * [x > 0] * [gy > 0]) or
    deconvnet's (gx = gy * [gy > 0]) instead.

    With the oneDNN kernels selected, large float32 arrays run both passes in one threaded loop
    each (:mod:`striate.kernels.onednn.eltwise`; NumPy's ufuncs use one core), and the backward
    reads the mask [x > 0] off the output, [y > 0], which the next layer keeps anyway.
    """

    def forward(self, x):
        self.fast = kernels.eltwise_kernels(x)
        if self.fast is not None:
            y = self.fast.relu_forward(x)
            self.y = y if self.needs_input_grad[0] else None
            return y
        if self.needs_input_grad[0]:  # the mask only when a backward will read it
            self.positive = x > 0
        return get_array_module(x).maximum(x, 0)                      # NaN stays NaN

    def backward(self, gy):
        if self.fast is not None:
            return relu_mask_gradient(self.y, gy, self.fast)
        return _masked(gy, self.positive)


def relu_backward_rule_in_force() -> str:
    """The rule ReLU backward passes use now (see :func:`relu_backward_rule`)."""
    return _relu_rule


def relu_mask_gradient(y, gy, fast=None):
    """The gradient through a ReLU whose output was ``y`` ([y > 0] = [x > 0]), under the backward
    rule in force, shaped and stored as ``y``: gy * [y > 0] (the chain rule; on ``fast``, the
    oneDNN kernels' threaded loop, when gy is stored as y), guided or deconvnet's."""
    if _relu_rule == "gradient" and fast is not None and fast.same_layout(y, gy):
        return fast.relu_backward(y, gy)                               # gy * [y > 0]
    return _masked(gy, y > 0)


def _masked(gy, positive):
    """The gradient through a ReLU under the rule in force, given [x > 0], stored as the mask
    (that is, as x was: a gradient in another layout is not passed on down the network)."""
    xp = get_array_module(gy)
    gx = xp.empty_like(positive, dtype=gy.dtype)
    if _relu_rule == "deconvnet":
        return xp.maximum(gy, 0, out=gx)                               # gy * [gy > 0]
    xp.multiply(gy, positive, out=gx)                                  # gy * [x > 0]
    if _relu_rule == "guided":
        xp.maximum(gx, 0, out=gx)                                      # ... * [gy > 0]
    return gx


class LeakyReLU(Function):
    """y = x if x > 0 else s x;  gx = gy if x > 0 else s gy  (s = negative_slope)."""

    def __init__(self, negative_slope: float):
        self.slope = negative_slope

    def forward(self, x):
        xp = get_array_module(x)
        self.positive = x > 0
        return xp.where(self.positive, x, x * self.slope).astype(x.dtype)

    def backward(self, gy):
        xp = get_array_module(gy)
        return xp.where(self.positive, gy, gy * self.slope).astype(gy.dtype)


class ELU(Function):
    """Scaled exponential linear unit (ELU when ``scale`` = 1, SELU with its constants).

    Forward:  y = scale * x                       for x > 0
              y = scale * alpha * (e^x - 1)       for x <= 0
    Backward: gx = gy * scale                     for x > 0
              gx = gy * (y + scale * alpha)       for x <= 0  (= gy * scale * alpha * e^x)
    """

    def __init__(self, alpha: float, scale: float = 1.0):
        self.alpha, self.scale = alpha, scale

    def forward(self, x):
        xp = get_array_module(x)
        self.positive = x > 0
        negative = self.scale * self.alpha * xp.expm1(xp.minimum(x, 0))  # min: no overflow
        self.y = xp.where(self.positive, self.scale * x, negative).astype(x.dtype)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        slope = xp.where(self.positive, self.scale, self.y + self.scale * self.alpha)
        return (gy * slope).astype(gy.dtype)


class Sigmoid(Function):
    """Logistic sigmoid y = 1 / (1 + e^-x);  gx = gy * y * (1 - y).

    Computed as e^x / (1 + e^x) for x < 0 so that e^-x never overflows.
    """

    def forward(self, x):
        xp = get_array_module(x)
        z = xp.exp(-xp.abs(x))                                   # in (0, 1]
        self.y = xp.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype)
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)


class Tanh(Function):
    """y = tanh x;  gx = gy * (1 - y^2)."""

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)


class LeCunTanh(Function):
    """LeNet-5's squashing function y = A tanh(S x), A = 1.7159, S = 2/3.

    Backward: gx = gy * A S (1 - tanh^2(S x)) = gy * S (A - y^2 / A).
    """

    def forward(self, x):
        self.y = LECUN_TANH_A * get_array_module(x).tanh(LECUN_TANH_S * x)
        return self.y.astype(x.dtype)

    def backward(self, gy):
        return gy * (LECUN_TANH_S * (LECUN_TANH_A - self.y * self.y / LECUN_TANH_A))


class Softmax(Function):
    """y_i = e^{x_i - m} / sum_j e^{x_j - m} along ``axis`` (m = max_j x_j, for stability).

    Backward (the Jacobian dy_i/dx_j = y_i (delta_ij - y_j) applied to gy):
        gx = y * (gy - sum_j gy_j y_j)
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, gy):
        return self.y * (gy - (gy * self.y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - m - log sum_j e^{x_j - m} along ``axis`` (m = max_j x_j).

    Backward (dy_i/dx_j = delta_ij - softmax_j):  gx = gy - softmax(x) * sum_j gy_j,
    with softmax(x) = e^y recovered from the kept output.
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        self.y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def relu(input, inplace: bool = False) -> Tensor:  # noqa: A002 - the torch name
    """Rectified linear unit max(x, 0).

    Args:
        input: a floating tensor of any shape.
        inplace: accepted for PyTorch compatibility and ignored: a new tensor is returned (an
            in-place write would overwrite what the graph keeps for backward).
    """
    x = _float_input("relu", input)
    folded = fusion.fold_relu(x)
    if folded is not None:  # inference on oneDNN: applied as the convolution runs
        return folded
    return ReLU()(x)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """x for x > 0, ``negative_slope`` * x otherwise. ``inplace`` is ignored (see :func:`relu`)."""
    return LeakyReLU(float(negative_slope))(_float_input("leaky_relu", input))


def elu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """Exponential linear unit: x for x > 0, alpha (e^x - 1) otherwise (Clevert et al., 2015).

    ``inplace`` is ignored (see :func:`relu`).
    """
    return ELU(float(alpha))(_float_input("elu", input))


def selu(input, inplace: bool = False) -> Tensor:  # noqa: A002
    """Scaled ELU: ``SELU_SCALE`` * elu(x, ``SELU_ALPHA``) with the constants of Klambauer et al.

    scale = 1.0507009873554804934..., alpha = 1.6732632423543772848... keep zero-mean,
    unit-variance activations at zero mean and unit variance. ``inplace`` is ignored.
    """
    return ELU(SELU_ALPHA, SELU_SCALE)(_float_input("selu", input))


def sigmoid(input) -> Tensor:  # noqa: A002
    """Logistic sigmoid 1 / (1 + e^-x), in (0, 1)."""
    return Sigmoid()(_float_input("sigmoid", input))


def tanh(input) -> Tensor:  # noqa: A002
    """Hyperbolic tangent, in (-1, 1)."""
    return Tanh()(_float_input("tanh", input))


def lecun_tanh(input) -> Tensor:  # noqa: A002
    """LeNet-5's scaled tanh f(a) = 1.7159 tanh(2a/3) (LeCun et al. 1998, appendix A).

    The constants are chosen so that f(1) = 1 and f(-1) = -1 (A = 1 / tanh(2/3) = 1.7159 to four
    decimals), the gain f'(0) = A S = 1.14 is close to 1, and the second derivative
    f''(a) = -2 A S^2 tanh(S a) (1 - tanh^2(S a)) reaches its extrema near a = +-1 (exactly at
    a = +-atanh(1/sqrt(3)) / S = +-0.988): with targets of +-1 the units work where the curve bends
    most, not in the flat saturated tails. Range (-1.7159, 1.7159).
    """
    return LeCunTanh()(_float_input("lecun_tanh", input))


def _normalised(op: str, fn_cls, input, dim, dtype) -> Tensor:
    x = _float_input(op, input) if dtype is None else cast(as_tensor(input), dtype)
    if x.ndim == 0:
        return fn_cls(None)(x)
    return fn_cls(_axis(op, dim, x.ndim))(x)


def softmax(input, dim: int, dtype=None) -> Tensor:  # noqa: A002
    """Softmax along ``dim``: e^{x_i} / sum_j e^{x_j}, computed after subtracting the maximum.

    Args:
        input: a floating tensor.
        dim: the dimension that sums to 1 (required; PyTorch's implicit choice is deprecated).
        dtype: cast the input to this dtype first (e.g. float64 for extra precision).
    """
    return _normalised("softmax", Softmax, input, dim, dtype)


def log_softmax(input, dim: int, dtype=None) -> Tensor:  # noqa: A002
    """log(softmax(x)) along ``dim``, as x - max - log sum e^{x - max}: no overflow or log(0)."""
    return _normalised("log_softmax", LogSoftmax, input, dim, dtype)

