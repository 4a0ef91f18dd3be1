"""Pooling over sliding windows (checklist P1, P2 and the Lp pooling of P5): max, average, Lp.

A pooling layer slides a window over every channel plane on its own and replaces the window by one
number: its maximum (P1), its mean (P2) or its Lp norm. Along each spatial axis with input size I,
kernel K, stride S, padding P and dilation D there are

    O = floor((I + 2P - D(K - 1) - 1) / S) + 1      windows (ceil instead of floor in ceil_mode),

and in ceil_mode a last window that would start in the right padding is dropped: PyTorch's rule,
every window starts inside the input or its left padding. Padding is at most K // 2.

How the windows are visited. Instead of copying every window out (im2col), the code loops over the
K = KH*KW kernel offsets. For the offset (kh, kw) the strided slice

    xpad[..., kh*D : kh*D + S*(OH-1) + 1 : S,  kw*D : kw*D + S*(OW-1) + 1 : S]     # (N, C, OH, OW)

is a view holding, for every window at once, its element at that offset. The maximum is a running
``maximum`` over the K views, the mean a running sum. Average pooling's backward adds gy / q back
into the same views of a zeroed gradient (one offset never visits a position twice, so ``+=`` is
exact). Max pooling keeps only each window's argmax offset and its backward adds gy at the argmax
positions with one ``add.at`` over flat indices. Measured on NumPy (batch 128): the offset loop
beats gathering windows with ``sliding_window_view`` + argmax by 2-8x, and for overlapping windows
the flat scatter beats a strided ``+=`` per offset by 3-4x.

Inputs are (N, C, *spatial) or unbatched (C, *spatial), as in PyTorch; the ops only look at the last
1, 2 or 3 axes.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"]

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


# ---------------------------------------------------------------------------------------------
# Arguments and window geometry (shared with the adaptive and special pooling modules)
# ---------------------------------------------------------------------------------------------
def is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def as_tuple(op: str, arg: str, value, d: int) -> tuple:
    """``value`` (an int, or a sequence of ``d`` ints or of one) as a ``d``-tuple of ints."""
    if is_int(value):
        return (int(value),) * d
    if isinstance(value, (tuple, list)) and len(value) in (1, d) and all(map(is_int, value)):
        return tuple(int(v) for v in value) * (d if len(value) == 1 else 1)
    raise TypeError(f"{op}: {arg} must be an int or a tuple of {d} ints, got {value!r}")


def check_input(op: str, x, d: int) -> Tensor:
    """``x`` as a Tensor, checked: floating point, shape (N, C, *spatial) or (C, *spatial)."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: expected an input of shape (N, C, {_AXES[d]}) or unbatched "
                         f"(C, {_AXES[d]}), got shape {x.shape}")
    if 0 in x.shape[-d - 1:]:
        raise ValueError(f"{op}: only the batch dimension may be empty, got shape {x.shape}")
    return x


def pool_output_size(in_size, kernel, stride, padding, dilation, ceil_mode) -> tuple:
    """PyTorch's pooling output size along each axis (see the module docstring)."""
    out = []
    for n, k, s, p, d in zip(in_size, kernel, stride, padding, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + p:  # the last window would start in the right padding
            o -= 1
        out.append(o)
    return tuple(out)


@dataclass(frozen=True)
class Windows:
    """Where one pooling op's windows lie: per spatial axis its kernel, stride, padding, dilation,
    and the input and output sizes."""

    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    in_size: tuple
    out_size: tuple

    @property
    def pad_after(self) -> tuple:
        """Cells to add after each axis so the last window fits (more than P in ceil_mode, 0 when
        the windows stop short of the right padding)."""
        return tuple(max(0, (o - 1) * s + d * (k - 1) + 1 - p - n) for n, k, s, p, d, o in
                     zip(self.in_size, self.kernel, self.stride, self.padding, self.dilation,
                         self.out_size))

    @property
    def overlapping(self) -> bool:
        """Whether two windows can share an input position (stride < dilated kernel)."""
        return any(s < d * (k - 1) + 1 for k, s, d in zip(self.kernel, self.stride, self.dilation))

    def offsets(self) -> list:
        """The kernel offsets (row-major, PyTorch's scan order) as index tuples: ``xpad[index]``
        is a strided view, shaped like the output, of every window's element at that offset."""
        return [(Ellipsis,) + tuple(slice(j * d, j * d + s * (o - 1) + 1, s) for j, s, d, o in
                                    zip(offset, self.stride, self.dilation, self.out_size))
                for offset in itertools.product(*(range(k) for k in self.kernel))]

    def window_starts(self, axis: int) -> np.ndarray:
        """Where each window starts along ``axis``, in unpadded input coordinates."""
        return np.arange(self.out_size[axis]) * self.stride[axis] - self.padding[axis]


def make_windows(op: str, x: Tensor, d: int, kernel_size, stride, padding, dilation,
                 ceil_mode: bool) -> Windows:
    """Check the window arguments of a pooling op against its input and lay the windows out."""
    kernel = as_tuple(op, "kernel_size", kernel_size, d)
    stride = kernel if stride is None or stride in ((), []) else as_tuple(op, "stride", stride, d)
    padding = as_tuple(op, "padding", padding, d)
    dilation = as_tuple(op, "dilation", dilation, d)
    for arg, value, low in (("kernel_size", kernel, 1), ("stride", stride, 1),
                            ("padding", padding, 0), ("dilation", dilation, 1)):
        if min(value) < low:
            raise ValueError(f"{op}: {arg} must be {'positive' if low else 'non-negative'}, "
                             f"got {value}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding must be at most half the kernel size (kernel_size // 2),"
                         f" got padding={padding} for kernel_size={kernel}")
    in_size = x.shape[-d:]
    out_size = pool_output_size(in_size, kernel, stride, padding, dilation, ceil_mode)
    if min(out_size) < 1:
        padded = tuple(n + 2 * p for n, p in zip(in_size, padding))
        raise ValueError(f"{op}: the window (kernel_size={kernel}, dilation={dilation}) is larger "
                         f"than the padded input {padded}; the output would be {out_size}")
    return Windows(kernel, stride, padding, dilation, tuple(in_size), out_size)


# ---------------------------------------------------------------------------------------------
# Array helpers
# ---------------------------------------------------------------------------------------------
def inner(before, sizes) -> tuple:
    """The index of the unpadded block inside an array padded by ``before`` on its last axes."""
    return (Ellipsis,) + tuple(slice(b, b + n) for b, n in zip(before, sizes))


def pad_constant(x, before, after, value):
    """``x`` inside a block of ``value``, widened by ``before``/``after`` cells on its last axes."""
    if not any(before) and not any(after):
        return x
    xp = get_array_module(x)
    lead = x.ndim - len(before)
    shape = x.shape[:lead] + tuple(n + b + a for n, b, a in zip(x.shape[lead:], before, after))
    out = xp.full(shape, value, dtype=x.dtype)
    out[inner(before, x.shape[lead:])] = x
    return out


def first_max_offset(values, y):
    """For every window, the offset k (an index into ``values``) of its maximum, by PyTorch's rule.

    PyTorch scans a window in order and takes an element when ``v > best or isnan(v)``: among tied
    maxima the first wins, and a window holding NaN reports its last NaN. ``values[k]`` holds every
    window's element at offset k and ``y`` the window maxima (same shapes). Offset k scores K - k
    where it equals the maximum, so the best score marks the first maximum; a NaN window matches
    nowhere (NaN != NaN) and is settled by a second pass, run only when NaN is present.
    """
    xp = get_array_module(y)
    K = len(values)
    itype = np.int8 if K < 127 else np.int32
    score = xp.zeros(y.shape, dtype=itype)
    for k, v in enumerate(values):
        xp.maximum(score, (v == y) * itype(K - k), out=score)
    arg = itype(K) - score
    if (score == 0).any():
        for k, v in enumerate(values):
            xp.copyto(arg, itype(k), where=xp.isnan(v))  # a later NaN overwrites an earlier one
    return arg


def scatter_to_planes(gy, indices, in_shape, d: int):
    """The input gradient of max-type pooling: each window's gradient added at the element it chose.

    ``indices`` (shaped like gy) holds flat indices into each plane, the last ``d`` axes of
    ``in_shape``. Offsetting them by the plane's start gives positions in the flattened gx, where
    gy is added with ``add.at``, so windows that chose the same element add up.
    """
    xp = get_array_module(gy)
    planes, plane = math.prod(in_shape[:-d]), math.prod(in_shape[-d:])
    windows = math.prod(gy.shape[-d:])
    flat = indices.reshape(planes, windows) + (xp.arange(planes) * plane)[:, None]
    gx = xp.zeros(planes * plane, dtype=gy.dtype)
    xp.add.at(gx, flat.ravel(), gy.ravel())
    return gx.reshape(in_shape)


# ---------------------------------------------------------------------------------------------
# The fast path
# ---------------------------------------------------------------------------------------------
def fast_kernels(x, w: Windows, algorithm: str):
    """oneDNN's pooling kernels when selected and able to run this case, else None.

    They compute what :class:`MaxPool` and :class:`AvgPool` compute, on batched float32 NumPy
    inputs stored channels-last as the convolutions leave them (``moveaxis(x, 1, -1)``
    C-contiguous), with ``w.pad_after`` as the right padding (PyTorch's ceil_mode). Left to the
    reference: dilated windows (oneDNN 2.6 runs them on its reference code, 15x slower than this
    module's on 16 channels at 28x28), and average pooling counting the padding, in ceil_mode, when
    a last window overhangs the right padding (PyTorch divides by the window clipped to the padded
    input, oneDNN by the whole kernel).
    """
    fast = kernels.pool_kernels(x, len(w.kernel))
    if fast is None or x.size == 0 or not np.moveaxis(x, 1, -1).flags.c_contiguous:
        return None
    if max(w.dilation) > 1:
        return None
    if algorithm == "avg_include_padding" and any(a > p for a, p in zip(w.pad_after, w.padding)):
        return None
    return fast


def _fast_args(w: Windows, algorithm: str) -> dict:
    return dict(kernel=w.kernel, stride=w.stride, padding_l=w.padding, padding_r=w.pad_after,
                dilation=w.dilation, algorithm=algorithm)


_LOWEST32 = np.finfo(np.float32).min


def _fast_forward(fn, x, algorithm: str):
    """y from the fast kernels for the pooling Function ``fn``, stored channels last; a training
    max pooling keeps oneDNN's workspace (each window's winning offset) for backward.

    Returns None where oneDNN's max pooling departs from PyTorch's rules, for the reference to
    redo: it skips NaN (PyTorch propagates it) and reports a window of -inf as the lowest finite
    float. One max over x (NaN-propagating) and one min over y detect both.
    """
    x = np.moveaxis(x, 1, -1)
    training = algorithm == "max" and any(fn.needs_input_grad)
    y = fn.fast.pool_forward(x, training=training, **_fast_args(fn.windows, algorithm))
    y, fn.workspace = y if training else (y, None)
    if algorithm == "max" and (np.isnan(x.max()) or y.min() == _LOWEST32):
        return None
    fn.in_shape = x.shape[:1] + x.shape[-1:] + x.shape[1:-1]
    return np.moveaxis(y, -1, 1)  # (N, C, *O)


def _fast_backward(fn, gy, algorithm: str):
    gy = np.ascontiguousarray(np.moveaxis(gy, 1, -1), dtype=np.float32)  # (N, *O, C)
    n, c, *size = fn.in_shape
    gx = fn.fast.pool_backward(gy, (n, *size, c), workspace=fn.workspace,
                               **_fast_args(fn.windows, algorithm))
    return np.moveaxis(gx, -1, 1)


# ---------------------------------------------------------------------------------------------
# Max pooling (P1)
# ---------------------------------------------------------------------------------------------
class MaxPool(Function):
    """Max pooling over the windows of :class:`Windows`, in 1, 2 or 3 spatial dimensions (P1).

    Forward, with xpad the input padded by -inf and k running over the kernel offsets:

        y[n, c, o] = max_k xpad[n, c, o*S + k*D]

    Backward routes each window's gradient to its argmax only (the first maximum in scan order,
    the last NaN if the window holds one: PyTorch's rule):

        gx[n, c, i] = sum of gy[n, c, o] over the windows o whose maximum sits at i.

    Forward keeps only each window's argmax offset (int8, shaped like y), not the input; backward
    turns it into flat plane indices and adds gy there (:func:`scatter_to_planes`).
    Shapes: x (N, C, *I), y and gy (N, C, *O).
    """

    def __init__(self, windows: Windows, return_indices: bool = False):
        self.windows, self.return_indices = windows, return_indices

    def forward(self, x):
        self.fast = None if self.return_indices else fast_kernels(x, self.windows, "max")
        if self.fast is not None:
            y = _fast_forward(self, x, "max")
            if y is not None:
                return y
            self.fast = None  # NaN or a window of -inf: PyTorch's rules, below
        xp = get_array_module(x)
        w = self.windows
        xpad = pad_constant(x, w.padding, w.pad_after, -xp.inf)
        values = [xpad[index] for index in w.offsets()]  # K strided views, each (N, C, *O)
        y = values[0].copy()
        for v in values[1:]:
            xp.maximum(y, v, out=y)
        self.arg = first_max_offset(values, y)  # (N, C, *O): the offset of each window's maximum
        if any(w.padding):
            self._skip_padding(y)
        self.in_shape = x.shape
        if self.return_indices:
            self.indices = self.plane_indices()
        return y

    def _skip_padding(self, y) -> None:
        """A window whose in-bounds elements are all -inf ties with its -inf padding: PyTorch then
        reports the first in-bounds element, never the padding."""
        xp = get_array_module(y)
        all_neg_inf = y == -xp.inf
        if not all_neg_inf.any():
            return
        w = self.windows
        offsets = list(itertools.product(*(range(k) for k in w.kernel)))
        for k in reversed(range(len(offsets))):
            inside = np.ones((), dtype=bool)
            for axis, j in enumerate(offsets[k]):
                pos = w.window_starts(axis) + j * w.dilation[axis]
                shape = (-1,) + (1,) * (len(w.kernel) - axis - 1)
                inside = inside & ((pos >= 0) & (pos < w.in_size[axis])).reshape(shape)
            xp.copyto(self.arg, self.arg.dtype.type(k), where=all_neg_inf & xp.asarray(inside))

    def plane_indices(self):
        """Flat index into its unpadded input plane of every window's maximum (int64), as PyTorch's
        ``return_indices``: h * W + w in 2-D, (d * H + h) * W + w in 3-D.

        Kernel offset (a, b) of the window starting at (h0, w0) sits at (h0 + a*DH) * W + w0 + b*DW:
        a base per window plus a delta per offset, looked up by the argmax offset.
        """
        xp = get_array_module(self.arg)
        w = self.windows
        d = len(w.kernel)
        strides = [math.prod(w.in_size[axis + 1:]) for axis in range(d)]  # of a flattened plane
        delta = [sum(j * dil * st for j, dil, st in zip(offset, w.dilation, strides))
                 for offset in itertools.product(*(range(k) for k in w.kernel))]
        base = sum((w.window_starts(axis) * strides[axis]).reshape((-1,) + (1,) * (d - axis - 1))
                   for axis in range(d))
        return xp.asarray(delta, dtype=np.int64).take(self.arg) + xp.asarray(base)

    def backward(self, gy):
        if self.fast is not None:
            return _fast_backward(self, gy, "max")
        indices = self.indices if self.return_indices else self.plane_indices()
        return scatter_to_planes(gy, indices, self.in_shape, len(self.windows.kernel))


# ---------------------------------------------------------------------------------------------
# Average pooling (P2)
# ---------------------------------------------------------------------------------------------
def window_sum(xpad, w: Windows):
    """Every window's sum: sum_k xpad[..., o*S + k*D], shaped (..., *O)."""
    indices = w.offsets()
    total = xpad[indices[0]].copy()
    for index in indices[1:]:
        total += xpad[index]
    return total


def spread(g, w: Windows, padded_shape, in_shape):
    """The adjoint of :func:`window_sum`: each window's ``g`` added to every element it summed,
    then the padding cut away. Shapes: g (..., *O) -> gx ``in_shape``."""
    xp = get_array_module(g)
    gxpad = xp.zeros(padded_shape, dtype=g.dtype)
    for index in w.offsets():
        if w.overlapping:
            gxpad[index] += g
        else:
            gxpad[index] = g
    return gxpad[inner(w.padding, in_shape[-len(w.kernel):])]


class AvgPool(Function):
    """Average pooling over the windows of :class:`Windows` (P2).

    Forward, with xpad the zero-padded input and q[o] the window's divisor:

        y[n, c, o] = (1 / q[o]) sum_k xpad[n, c, o*S + k]

    q is ``divisor_override`` when given; else the window's size clipped to the padded input
    (``count_include_pad``, so zeros of the padding count but a ceil_mode overhang does not), or
    the number of its elements inside the input. Backward shares each gradient equally:

        gx[n, c, i] = sum over the windows o that contain i of gy[n, c, o] / q[o].

    Shapes: x (N, C, *I), y and gy (N, C, *O), q (*O).
    """

    def __init__(self, windows: Windows, count_include_pad: bool = True, divisor_override=None):
        self.windows = windows
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def divisor(self) -> np.ndarray:
        """q (*O) as described above; a product of one factor per axis."""
        w = self.windows
        if self.divisor_override is not None:
            return np.asarray(self.divisor_override)
        q = np.ones((), dtype=np.int64)
        for axis, (n, k, p) in enumerate(zip(w.in_size, w.kernel, w.padding)):
            start = w.window_starts(axis)
            end = np.minimum(start + k, n + p)
            if self.count_include_pad:
                size = end - start
            else:
                size = np.minimum(end, n) - np.maximum(start, 0)
            q = q * size.reshape((-1,) + (1,) * (len(w.kernel) - axis - 1))
        return q

    def _algorithm(self) -> str | None:
        """The fast kernels' name for this averaging; None (the reference) with a divisor
        override."""
        if self.divisor_override is not None:
            return None
        return "avg_include_padding" if self.count_include_pad else "avg_exclude_padding"

    def forward(self, x):
        algorithm = self._algorithm()
        self.fast = None if algorithm is None else fast_kernels(x, self.windows, algorithm)
        if self.fast is not None:
            return _fast_forward(self, x, algorithm)
        xp = get_array_module(x)
        w = self.windows
        xpad = pad_constant(x, w.padding, w.pad_after, 0)
        self.q = xp.asarray(self.divisor(), dtype=x.dtype)
        self.in_shape, self.padded_shape = x.shape, xpad.shape
        return window_sum(xpad, w) / self.q

    def backward(self, gy):
        if self.fast is not None:
            return _fast_backward(self, gy, self._algorithm())
        return spread(gy / self.q, self.windows, self.padded_shape, self.in_shape)


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def max_pool_nd(op, d, input, kernel_size, stride, padding, dilation, ceil_mode,  # noqa: A002
                return_indices):
    """Max pooling over the last ``d`` axes; ``op`` names the caller in error messages."""
    x = check_input(op, input, d)
    windows = make_windows(op, x, d, kernel_size, stride, padding, dilation, ceil_mode)
    fn = MaxPool(windows, bool(return_indices))
    y = fn(x)
    return (y, Tensor(fn.indices)) if return_indices else y


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L); see :func:`max_pool2d`."""
    return max_pool_nd("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode=False, return_indices=False):
    """2-D max pooling (P1), like ``torch.nn.functional.max_pool2d``.

    y[n, c, oh, ow] = max over kh, kw of xpad[n, c, oh*SH + kh*DH, ow*SW + kw*DW], with xpad the
    input padded by -inf. The gradient goes to each window's maximum only.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W), floating point.
        kernel_size: the window, an int or (KH, KW); 2 (with stride 2) is LeNet's and VGG's,
            3 with stride 2 AlexNet's overlapping pooling.
        stride: the step between windows; default ``kernel_size``.
        padding: -inf cells added on every side, at most ``kernel_size // 2``.
        dilation: the spacing between a window's elements.
        ceil_mode: round the output size up, keeping a last partial window (which must start
            inside the input or its left padding).
        return_indices: also return, for every window, the flat index h * W + w of its maximum
            in its input plane (int64, not differentiable), as PyTorch does.

    Returns:
        y (N, C, OH, OW) with OH = floor((H + 2P - D(KH - 1) - 1) / S) + 1 (ceil in ceil_mode),
        and the indices when asked.
    """
    return max_pool_nd("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode=False, return_indices=False):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W); see :func:`max_pool2d`. Indices
    are (d * H + h) * W + w."""
    return max_pool_nd("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)


def avg_pool_nd(op, d, input, kernel_size, stride, padding, ceil_mode,  # noqa: A002
                count_include_pad, divisor_override):
    """Average pooling over the last ``d`` axes; ``op`` names the caller in error messages."""
    x = check_input(op, input, d)
    windows = make_windows(op, x, d, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not is_int(divisor_override) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, "
                         f"got {divisor_override!r}")
    return AvgPool(windows, bool(count_include_pad), divisor_override)(x)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L); see :func:`avg_pool2d`."""
    return avg_pool_nd("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    """2-D average pooling (P2), like ``torch.nn.functional.avg_pool2d``.

    y[n, c, oh, ow] = (1 / q) * sum over kh, kw of xpad[n, c, oh*SH + kh, ow*SW + kw], with xpad
    the zero-padded input. Backward shares each window's gradient equally, gy / q to each element.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W), floating point.
        kernel_size: the window, an int or (KH, KW).
        stride: the step between windows; default ``kernel_size``.
        padding: zeros added on every side, at most ``kernel_size // 2``.
        ceil_mode: round the output size up (see :func:`max_pool2d`).
        count_include_pad: q counts the zero padding (the window clipped to the padded input);
            False: q counts only the elements inside the input.
        divisor_override: a fixed q for every window.

    Returns:
        y (N, C, OH, OW), OH as for :func:`max_pool2d` with dilation 1.
    """
    return avg_pool_nd("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W); see :func:`avg_pool2d`."""
    return avg_pool_nd("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override)

