"""Pooling variants of the lectures (checklist P4, P5): LeNet's trainable subsampling, Lp pooling,
stochastic pooling and fractional max pooling.

- LeNet-5's S2 and S4 layers (LeCun et al. 1998) sum each 2x2 window, scale the sum by a trainable
  coefficient and add a trainable bias: two parameters per feature map, then a squashing function.
- Lp pooling takes the window's p-norm: between average (p = 1, up to scale) and max (p -> inf).
- Stochastic pooling (Zeiler & Fergus 2013) picks one activation per window at random, with
  probability proportional to its value, while training, and uses the expected value at test time.
- Fractional max pooling (Graham 2014) shrinks by a non-integer factor, placing overlapping windows
  at pseudo-random positions drawn per image and channel.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module, get_generator
from .elementwise import abs as _abs
from .elementwise import mul, neg, pow
from .pooling import (Windows, as_tuple, avg_pool_nd, check_input, first_max_offset,
                      make_windows, max_pool_nd, scatter_to_planes, spread, window_sum)

__all__ = ["subsample2d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "stochastic_pool2d",
           "fractional_max_pool2d"]


# ---------------------------------------------------------------------------------------------
# LeNet's trainable subsampling (P4)
# ---------------------------------------------------------------------------------------------
class Subsample2d(Function):
    """y[n, c, o] = w[c] * s[n, c, o] + b[c], with s the window sums (LeNet-5's S2/S4, P4).

    Backward, with the sums over n and the windows o:

        gx[n, c, i] = sum over the windows o containing i of w[c] gy[n, c, o]
        gw[c] = sum_{n, o} gy[n, c, o] s[n, c, o],     gb[c] = sum_{n, o} gy[n, c, o]

    Shapes: x (N, C, H, W), w and b (C,), s, y and gy (N, C, OH, OW).
    """

    def __init__(self, windows: Windows):
        self.windows = windows

    def forward(self, x, w, b):
        self.in_shape, self.w = x.shape, w
        self.s = window_sum(x, self.windows)
        y = self.s * w[:, None, None]
        return y if b is None else y + b[:, None, None]

    def backward(self, gy):
        per_channel = tuple(a for a in range(gy.ndim) if a != gy.ndim - 3)  # all but C
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = spread(gy * self.w[:, None, None], self.windows, self.in_shape, self.in_shape)
        if self.needs_input_grad[1]:
            gw = (gy * self.s).sum(axis=per_channel)
        if self.needs_input_grad[2]:
            gb = gy.sum(axis=per_channel)
        return gx, gw, gb


def subsample2d(input, weight, bias=None, kernel_size=2, stride=None) -> Tensor:  # noqa: A002
    """LeNet-5's trainable subsampling (P4): y[n, c] = weight[c] * (sums of x[n, c]) + bias[c].

    The layer then applies its squashing function (LeNet: scaled tanh) to y. With weight = 1/K
    and bias = 0 it is average pooling.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        weight: (C,), one trainable coefficient per feature map.
        bias: (C,) or None.
        kernel_size: the window (LeNet: 2); stride defaults to it (non-overlapping windows).

    Returns:
        (N, C, OH, OW), OH = floor((H - KH) / SH) + 1.
    """
    op = "subsample2d"
    x = check_input(op, input, 2)
    channels = x.shape[-3]
    params = []
    for arg, p in (("weight", weight), ("bias", bias)):
        if p is None and arg == "bias":
            params.append(None)
            continue
        p = as_tensor(p)
        if p.dtype.kind != "f":
            raise TypeError(f"{op}: {arg} must be a floating-point tensor, got dtype {p.dtype}")
        if p.shape != (channels,):
            raise ValueError(f"{op}: {arg} must have shape ({channels},) (one per channel of the "
                             f"input {x.shape}), got {p.shape}")
        params.append(p)
    windows = make_windows(op, x, 2, kernel_size, stride, 0, 1, False)
    return Subsample2d(windows)(x, *params)


# ---------------------------------------------------------------------------------------------
# Lp pooling (P5)
# ---------------------------------------------------------------------------------------------
class LpRoot(Function):
    """y = s^(1/p);  gs = gy * y / (p s), and 0 where s = 0 (PyTorch's rule for a zero window)."""

    def __init__(self, p: float):
        self.p = p

    def forward(self, s):
        self.s = s
        self.y = s ** (1.0 / self.p)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        nonzero = self.s != 0
        safe_s = xp.where(nonzero, self.s, 1)
        return xp.where(nonzero, gy * self.y / (self.p * safe_s), 0).astype(gy.dtype)


def _lp_pool(op, d, input, norm_type, kernel_size, stride, ceil_mode):
    x = check_input(op, input, d)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.number)):
        raise TypeError(f"{op}: norm_type must be a number, got {norm_type!r}")
    if norm_type == 0 or norm_type != norm_type:  # p = 0 has no root; NaN is no p
        raise ValueError(f"{op}: norm_type must be a non-zero number (usually p >= 1, or inf), "
                         f"got {norm_type}")
    kernel = as_tuple(op, "kernel_size", kernel_size, d)
    if norm_type == math.inf:  # the largest |x| of the window
        return max_pool_nd(op, d, _abs(x), kernel, stride, 0, 1, ceil_mode, False)
    if norm_type == -math.inf:  # the smallest |x| of the window
        return neg(max_pool_nd(op, d, neg(_abs(x)), kernel, stride, 0, 1, ceil_mode, False))
    # PyTorch's formula: the window mean of x^p times the kernel size, then the p-th root. In
    # ceil_mode a partial window's mean is over its own elements, so it is scaled up to K of them.
    mean = avg_pool_nd(op, d, pow(x, float(norm_type)), kernel, stride, 0, ceil_mode, True, None)
    return LpRoot(float(norm_type))(mul(mean, float(math.prod(kernel))))


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """1-D power-average pooling over (N, C, L); see :func:`lp_pool2d`."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """2-D power-average (Lp) pooling (P5), like ``torch.nn.functional.lp_pool2d``.

    y = (sum over the window of x^p)^(1/p): p = 1 is sum pooling, p = 2 the window's Euclidean
    norm, p -> inf max pooling of |x| (``norm_type=inf`` gives exactly that). No padding. As in
    PyTorch, x^p is taken as is: a negative x with a non-integer p gives NaN, and a window whose
    sum is zero gets a zero gradient.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        norm_type: p (any non-zero number, as PyTorch allows; p >= 1 is a norm), or +-inf.
        kernel_size, stride, ceil_mode: as in :func:`avg_pool2d`.
    """
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """3-D power-average pooling over (N, C, D, H, W); see :func:`lp_pool2d`."""
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# ---------------------------------------------------------------------------------------------
# Stochastic pooling (P5)
# ---------------------------------------------------------------------------------------------
class StochasticPool(Function):
    """Stochastic pooling (Zeiler & Fergus 2013) of non-negative activations a, P5.

    In each window the activations define probabilities p_i = a_i / sum_j a_j.

    Training: one draw m ~ p per window (from Striate's generator), y = a_m, and the gradient goes
    to the drawn element: gx[m] += gy. Drawing by the inverse CDF: with u uniform in [0, 1),
    m is the first offset whose running sum a_0 + ... + a_m exceeds u * sum_j a_j.

    Evaluation: the expectation y = sum_i p_i a_i = sum_i a_i^2 / sum_j a_j, with
        dy/da_i = (2 a_i - y) / sum_j a_j.

    A window of zeros gives y = 0 and no gradient. Shapes: x (N, C, H, W), y and gy (N, C, OH, OW).
    """

    def __init__(self, windows: Windows, training: bool):
        self.windows, self.training = windows, training

    def forward(self, x):
        self.x = x
        self.total = window_sum(x, self.windows)  # sum_j a_j per window
        return self._draw(x) if self.training else self._expectation(x)

    def _draw(self, x):
        xp = get_array_module(x)
        threshold = get_generator(xp).random(self.total.shape) * self.total
        indices = self.windows.offsets()
        self.choice = xp.full(self.total.shape, len(indices), dtype=np.int32)  # K: none yet
        y = xp.zeros_like(self.total)
        running = xp.zeros_like(self.total)
        for k, index in enumerate(indices):
            running += x[index]  # ends equal to total: the same additions in the same order
            chosen = (running > threshold) & (self.choice == len(indices))
            xp.copyto(self.choice, k, where=chosen)
            xp.copyto(y, x[index], where=chosen)
        return y

    def _expectation(self, x):
        xp = get_array_module(x)
        squares = sum(x[index] * x[index] for index in self.windows.offsets())
        self.nonzero = self.total > 0
        self.y = xp.where(self.nonzero, squares / xp.where(self.nonzero, self.total, 1), 0)
        return self.y.astype(x.dtype)

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.x.shape, dtype=gy.dtype)
        if self.training:
            for k, index in enumerate(self.windows.offsets()):
                gx[index] += gy * (self.choice == k)
            return gx
        scale = xp.where(self.nonzero, gy / xp.where(self.nonzero, self.total, 1), 0)
        for index in self.windows.offsets():
            gx[index] += scale * (2 * self.x[index] - self.y)
        return gx


def stochastic_pool2d(input, kernel_size, stride=None,  # noqa: A002
                      training: bool = True) -> Tensor:
    """Stochastic pooling (Zeiler & Fergus 2013), P5, of non-negative activations (after a ReLU).

    Each window is a distribution p_i = a_i / sum_j a_j over its elements. In training one element
    per window is drawn from p (Striate's generator: seed it with :func:`striate.manual_seed`) and
    passed on, its gradient to that element alone; in evaluation the output is the expectation
    sum_i p_i a_i, with its exact gradient. An all-zero window outputs 0.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point, non-negative.
        kernel_size: the window, an int or (KH, KW); stride defaults to it.
        training: draw (True) or take the expectation (False).

    Returns:
        (N, C, OH, OW), OH = floor((H - KH) / SH) + 1.
    """
    op = "stochastic_pool2d"
    x = check_input(op, input, 2)
    windows = make_windows(op, x, 2, kernel_size, stride, 0, 1, False)
    if x.data.size and float(x.data.min()) < 0:
        raise ValueError(f"{op}: input must be non-negative (the probabilities are a / sum a; "
                         f"pool after a ReLU), got a minimum of {float(x.data.min())}")
    return StochasticPool(windows, bool(training))(x)


# ---------------------------------------------------------------------------------------------
# Fractional max pooling (P5)
# ---------------------------------------------------------------------------------------------
def fractional_starts(u, n_in: int, n_out: int, k: int):
    """PyTorch's pseudo-random window starts along one axis, for samples ``u`` in [0, 1).

    With alpha = (I - K) / (O - 1) the i-th window starts at floor((i + u) alpha) - floor(u alpha)
    for i < O - 1, and the last one ends at the input's end (start I - K). The arithmetic is in
    u's dtype, as PyTorch's (float32 rounding decides some floors).

    Returns:
        int64 (*u.shape, O).
    """
    xp = get_array_module(u)
    starts = xp.empty(u.shape + (n_out,), dtype=np.int64)
    if n_out > 1:
        real = u.dtype.type
        alpha = real(n_in - k) / real(n_out - 1)
        i = xp.arange(n_out - 1, dtype=u.dtype)
        starts[..., :-1] = (((i + u[..., None]) * alpha).astype(np.int64)
                            - (u * alpha).astype(np.int64)[..., None])
    starts[..., -1] = n_in - k
    return starts


class FractionalMaxPool2d(Function):
    """Fractional max pooling (Graham 2014), P5: KH x KW windows at pseudo-random starts.

    For plane (n, c), the samples u = samples[n, c] give the row starts r = fractional_starts(
    u[1], H, OH, KH) and column starts q = fractional_starts(u[0], W, OW, KW) (PyTorch's order:
    u[0] for the width). Then

        y[n, c, i, j] = max over a < KH, b < KW of x[n, c, r_i + a, q_j + b],

    the gradient to the maximum (first in scan order; windows may overlap, so ``add.at``).
    Shapes: x (N, C, H, W), samples (N, C, 2), y and gy (N, C, OH, OW).
    """

    def __init__(self, kernel: tuple, out_size: tuple, samples):
        self.kernel, self.out_size, self.samples = kernel, out_size, samples

    def forward(self, x):
        xp = get_array_module(x)
        (kh, kw), (oh, ow), (h, w) = self.kernel, self.out_size, x.shape[-2:]
        rows = fractional_starts(self.samples[..., 1], h, oh, kh)  # (N, C, OH)
        cols = fractional_starts(self.samples[..., 0], w, ow, kw)  # (N, C, OW)
        values = []
        for a in range(kh):
            x_rows = xp.take_along_axis(x, (rows + a)[..., :, None], axis=-2)  # (N, C, OH, W)
            for b in range(kw):
                values.append(xp.take_along_axis(x_rows, (cols + b)[..., None, :], axis=-1))
        y = values[0].copy()
        for v in values[1:]:
            xp.maximum(y, v, out=y)
        a, b = xp.divmod(first_max_offset(values, y).astype(np.int64), kw)
        self.indices = (rows[..., :, None] + a) * w + cols[..., None, :] + b  # (N, C, OH, OW)
        self.in_shape = x.shape
        return y

    def backward(self, gy):
        return scatter_to_planes(gy, self.indices, self.in_shape, 2)


def _fractional_output_size(op, x, kernel, output_size, output_ratio) -> tuple:
    if (output_size is None) == (output_ratio is None):
        raise ValueError(f"{op}: give exactly one of output_size and output_ratio")
    if output_size is not None:
        size = as_tuple(op, "output_size", output_size, 2)
    else:
        ratio = (output_ratio,) * 2 if isinstance(output_ratio, (int, float)) else output_ratio
        if len(ratio) != 2 or not all(0 < r < 1 for r in ratio):
            raise ValueError(f"{op}: output_ratio must be a number or a pair in (0, 1), "
                             f"got {output_ratio!r}")
        size = tuple(int(n * r) for n, r in zip(x.shape[-2:], ratio))
    for axis, o, k, n in zip(("height", "width"), size, kernel, x.shape[-2:]):
        if o < 1:
            raise ValueError(f"{op}: output {axis} must be positive, got output size {size}")
        if o + k - 1 > n:
            raise ValueError(f"{op}: output {axis} {o} with kernel_size {k} needs an input "
                             f"{axis} of at least {o + k - 1}, got {n}")
    return size


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                          return_indices=False, _random_samples=None, *, samples=None):
    """Fractional max pooling (Graham 2014), P5, like ``torch.nn.functional.fractional_max_pool2d``.

    The output size is any size below the input's (e.g. a ratio of 1/sqrt(2)); the windows, of a
    fixed ``kernel_size``, start at pseudo-random places set by two samples per image and channel
    (see :class:`FractionalMaxPool2d`), so a given sample reproduces PyTorch's windows exactly.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        kernel_size: the window, an int or (KH, KW).
        output_size: (OH, OW) or an int; or instead
        output_ratio: OH = int(H * ratio) (a number or a pair, each in (0, 1)).
        return_indices: also return the flat index h * W + w of each maximum (int64).
        samples: (N, C, 2) in [0, 1) ((1, C, 2) for an unbatched input); ``[..., 0]`` sets the
            columns, ``[..., 1]`` the rows. PyTorch's name ``_random_samples`` is accepted too.
            Default: drawn from Striate's generator.
    """
    op = "fractional_max_pool2d"
    x = check_input(op, input, 2)
    kernel = as_tuple(op, "kernel_size", kernel_size, 2)
    if min(kernel) < 1:
        raise ValueError(f"{op}: kernel_size must be positive, got {kernel}")
    out_size = _fractional_output_size(op, x, kernel, output_size, output_ratio)
    if samples is not None and _random_samples is not None:
        raise ValueError(f"{op}: give samples or _random_samples, not both")
    samples = samples if samples is not None else _random_samples
    xp = get_array_module(x.data)
    batch, channels = (x.shape[0] if x.ndim == 4 else 1), x.shape[-3]
    if samples is None:
        u = get_generator(xp).random((batch, channels, 2), dtype=x.dtype)
    else:
        u = xp.asarray(samples.data if isinstance(samples, Tensor) else samples)
        if u.shape != (batch, channels, 2):
            raise ValueError(f"{op}: samples must have shape {(batch, channels, 2)}, got {u.shape}")
        if u.size and not (float(u.min()) >= 0 and float(u.max()) < 1):
            raise ValueError(f"{op}: samples must lie in [0, 1)")
        u = u.astype(x.dtype)
    fn = FractionalMaxPool2d(kernel, out_size, u.reshape(x.shape[:-2] + (2,)))
    y = fn(x)
    return (y, Tensor(fn.indices)) if return_indices else y
