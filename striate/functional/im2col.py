"""im2col and col2im: convolution as one matrix product (checklist C12), and the array kernels
the convolution ops in :mod:`striate.functional.conv` run on.

A convolution layer slides a K-channel bank of C x KH x KW filters over the input. *im2col*
("image to columns") copies every receptive field the filters see into one row of a matrix; the
layer is then a single matrix product with the filters flattened the same way (the Toeplitz-matrix
view of the lectures)::

    cols = im2col(x, (KH, KW))                   # (N, OH, OW, C, KH, KW)
    y = cols.reshape(N * OH * OW, C * KH * KW) @ w.reshape(K, C * KH * KW).T
    # y: (N*OH*OW, K), the convolution in channels-last order

*col2im* is im2col's adjoint: it adds every row back onto the input positions it was copied from
(overlapping fields sum). That is exactly what the input gradient of a convolution needs.

The output size along each spatial axis, for input size H, kernel K, padding P on both sides,
stride S and dilation D, is

    OH = (H + 2P - D(K-1) - 1) // S + 1

(W2 = (W1 - F + 2P)/S + 1 of the lectures, with the dilated kernel size F = D(K-1) + 1 and the
division floored, as PyTorch does when the stride does not divide evenly).

The kernels below (``_forward``, ``_backward_data``, ``_backward_weights``) keep activations
*channels last*, (N, *S, C): then the copy into columns moves runs of KW*C neighbouring values,
and the columns come out in the order the matrix product wants. They are the reference
computation; a faster library (oneDNN, cuDNN) can replace any one of the three, since each takes
and returns plain arrays.
"""
from __future__ import annotations

import itertools
import numbers
import threading

from ..autograd import Tensor
from ..backend import get_array_module

__all__ = ["conv_output_size", "im2col", "col2im"]


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding=0,
                     dilation: int = 1) -> int:
    """The output length of a convolution along one axis.

    ``OH = (H + P_before + P_after - D(K-1) - 1) // S + 1``; with equal padding P on both sides
    this is the lectures' W2 = (W1 - F + 2P)/S + 1 for the dilated kernel F = D(K-1) + 1. A stride
    that does not divide (W1 - F + 2P) evenly is allowed and floors, as in PyTorch: the last
    positions of the input that no full window reaches are left out (7x7 input, 3x3 filter,
    stride 3: (7 - 3)/3 + 1 = 2.33 "doesn't fit", so 2 outputs and the last row unused).

    Args:
        size: the input length H.
        kernel_size: the kernel length K.
        stride: S. padding: P on both sides, or a ``(before, after)`` pair. dilation: D.

    Returns:
        The output length; 0 or less means the dilated kernel is longer than the padded input.
    """
    before, after = (padding, padding) if isinstance(padding, numbers.Integral) else padding
    return (size + before + after - dilation * (kernel_size - 1) - 1) // stride + 1


# ---------------------------------------------------------------------------------------------
# Channels-last building blocks
# ---------------------------------------------------------------------------------------------
# The batch is processed in chunks whose columns take about this many bytes: small enough to
# stay in cache between im2col writing them and the matrix product reading them. Measured on
# ResNet-20's 16-channel 3x3 layer (batch 128): 2.3x faster than one batch-sized product, and the
# columns never need to be kept for the backward pass (rebuilding a chunk is cheap).
_CHUNK_BYTES = 4 << 20
_SCRATCH_MAX_BYTES = 64 << 20
_scratch_buffers = {}  # (purpose, thread, array module, dtype) -> a reused flat buffer


def _chunks(n: int, bytes_per_item: int) -> list:
    """Slices cutting a batch of ``n`` into chunks of about ``_CHUNK_BYTES`` of columns."""
    step = max(1, _CHUNK_BYTES // max(bytes_per_item, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _window(offset: int, stride: int, dilation: int, out_size: int) -> slice:
    """The input positions kernel tap ``offset`` meets at output positions 0, 1, ..., OH-1.

    Output position o reads padded input position o*S + offset*D.
    """
    start = offset * dilation
    return slice(start, start + stride * (out_size - 1) + 1, stride)


def _scratch(xp, purpose: str, shape, dtype):
    """An uninitialised array for a temporary that never leaves a kernel.

    Fresh memory costs a page fault per 4 KiB page on its first touch; on this machine that made
    im2col into new arrays 3x slower than into memory touched before. So each kind of temporary
    (``purpose``: the padded input, the columns of a chunk) reuses one buffer per thread and
    dtype, up to ``_SCRATCH_MAX_BYTES``. The next kernel call overwrites it: results never live
    here.
    """
    dtype = xp.dtype(dtype)
    size = _prod(shape)
    key = (purpose, threading.get_ident(), xp.__name__, dtype.str)
    buf = _scratch_buffers.get(key)
    if buf is None or buf.size < size:
        buf = xp.empty(size, dtype=dtype)
        if buf.nbytes <= _SCRATCH_MAX_BYTES:
            _scratch_buffers[key] = buf
    return buf[:size].reshape(shape)


def _pad(x, pads):
    """Zero-pad the spatial axes of channels-last ``x`` (N, *S, C) by ``((before, after), ...)``.

    A negative amount crops instead. Returns a C-contiguous array: ``x`` itself when it already
    is one and nothing is padded, else a scratch array (see :func:`_scratch`).
    """
    xp = get_array_module(x)
    if not any(b or a for b, a in pads):
        return xp.ascontiguousarray(x)
    n, *size, c = x.shape
    out = _scratch(xp, "pad", (n, *(s + b + a for s, (b, a) in zip(size, pads)), c), x.dtype)
    for axis, (b, a) in enumerate(pads, start=1):  # zero the borders
        border = [slice(None)] * out.ndim
        border[axis] = slice(0, max(b, 0))
        out[tuple(border)] = 0
        border[axis] = slice(out.shape[axis] - max(a, 0), out.shape[axis])
        out[tuple(border)] = 0
    src = tuple(slice(max(-b, 0), s - max(-a, 0)) for s, (b, a) in zip(size, pads))
    dst = tuple(slice(max(b, 0), max(b, 0) + max(sl.stop - sl.start, 0))
                for sl, (b, _) in zip(src, pads))
    out[(slice(None),) + dst] = x[(slice(None),) + src]
    return out


def _im2col(x, kernel_size, stride, dilation, groups: int = 1, out=None):
    """Copy every receptive field of the padded, channels-last ``x`` into a row.

    Args:
        x: (N, *S, C), already padded and C-contiguous.
        kernel_size, stride, dilation: one int per spatial axis.
        groups: G; the channels are split into G consecutive groups of C/G.
        out: where to write the columns (a scratch array); a new array when None.

    Returns:
        cols: (N, *O, G, *KS, C/G); ``cols[n, o, g, m, c] = x[n, o*S + m*D, g*C/G + c]``.

    ``sliding_window_view`` gives every window of the dilated kernel's span as a view (no copy):
    windows[n, i, g, c, j] = x[n, i + j, g, c]. Keeping every S-th window start and every D-th
    tap leaves windows[n, o, g, c, m] = x[n, o*S + m*D, g, c]; one copy in (tap, channel) order
    makes the columns. In channels-last order the last kernel axis and the channels are
    neighbours in memory, so the copy moves runs of KW*C values.
    """
    xp = get_array_module(x)
    n, *size, c = x.shape
    nd = len(size)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel_size, dilation)]
    x = x.reshape(n, *size, groups, c // groups)  # (N, *S, G, C/G)
    windows = xp.lib.stride_tricks.sliding_window_view(x, spans, axis=tuple(range(1, nd + 1)))
    windows = windows[(slice(None),) + tuple(slice(None, None, st) for st in stride)
                      + (slice(None), slice(None))
                      + tuple(slice(None, None, d) for d in dilation)]  # (N, *O, G, C/G, *KS)
    order = (0, *range(1, nd + 2), *range(nd + 3, 2 * nd + 3), nd + 2)
    windows = windows.transpose(order)  # (N, *O, G, *KS, C/G)
    if out is None:
        return xp.ascontiguousarray(windows)
    out = out.reshape(windows.shape)
    out[...] = windows
    return out


def _col2im(cols, stride, dilation, out):
    """The adjoint of :func:`_im2col`: add every row back where it was copied from.

    Args:
        cols: (N, *O, G, *KS, C/G).
        stride, dilation: one int per spatial axis.
        out: (N, *S_padded, C), C-contiguous; receives
            ``out[n, o*S + m*D, g*C/G + c] += cols[n, o, g, m, c]``.

    One strided-slice addition per kernel tap m (Chainer's loop): the positions that tap met at
    every output position at once. Overlapping windows add up, as the chain rule wants.
    """
    n, *padded_size, c = out.shape
    nd = len(padded_size)
    out_size = cols.shape[1:nd + 1]
    groups, *kernel_size, cg = cols.shape[nd + 1:]
    out = out.reshape(n, *padded_size, groups, cg)  # a view: (N, *S_padded, G, C/G)
    for taps in itertools.product(*(range(k) for k in kernel_size)):
        window = tuple(_window(m, st, d, o)
                       for m, st, d, o in zip(taps, stride, dilation, out_size))
        out[(slice(None),) + window] += cols[(slice(None),) * (nd + 2) + taps]


def _cols_matrix(cols, groups: int):
    """(N, *O, G, *KS, C/G) -> (G, N*O, KS*C/G): one row per output position and group (a view)."""
    nd = (cols.ndim - 3) // 2
    return cols.reshape(_prod(cols.shape[:nd + 1]), groups, -1).transpose(1, 0, 2)


def _weight_matrix(w, groups: int):
    """Weight (K, C/G, *KS) -> (G, KS*C/G, K/G), rows in the columns' (tap, channel) order."""
    k, cg, *kernel_size = w.shape
    nd = len(kernel_size)
    w = w.reshape(groups, k // groups, cg, *kernel_size)
    w = w.transpose(0, *range(3, 3 + nd), 2, 1)  # (G, *KS, C/G, K/G)
    return w.reshape(groups, -1, k // groups)


def _flip_transpose(w, groups: int):
    """The kernel of the input gradient: (K, C/G, *KS) -> (C, K/G, *KS), every tap reversed.

    ``w_t[g*C/G + c, j, m] = w[g*K/G + j, c, KS - 1 - m]``.
    """
    k, cg, *kernel_size = w.shape
    w = w.reshape(groups, k // groups, cg, *kernel_size).swapaxes(1, 2)  # (G, C/G, K/G, *KS)
    w = w[(Ellipsis,) + (slice(None, None, -1),) * len(kernel_size)]
    return w.reshape(groups * cg, k // groups, *kernel_size)


# ---------------------------------------------------------------------------------------------
# The three kernels of a convolution layer, channels last
# ---------------------------------------------------------------------------------------------
def _forward(x, w, stride, padding, dilation, groups):
    """y = x cross-correlated with w, channels last: per batch chunk, im2col then one product.

    Args:
        x: (N, *S, C), any strides, unpadded. w: (K, C/G, *KS).
        stride, dilation: one int per spatial axis. padding: ``(before, after)`` per axis
            (a negative amount crops). groups: G.

    Returns:
        y: (N, *O, K), C-contiguous.
    """
    xp = get_array_module(x)
    x = _pad(x, padding)  # (N, *S_padded, C)
    n, *size, c = x.shape
    k, _, *kernel_size = w.shape
    out_size = [conv_output_size(s, ks, st, 0, d)
                for s, ks, st, d in zip(size, kernel_size, stride, dilation)]
    y = xp.empty((n, *out_size, k), dtype=x.dtype)
    wm = _weight_matrix(w, groups)  # (G, KS*C/G, K/G)
    per_image = _prod(out_size) * _prod(kernel_size) * c
    for batch in _chunks(n, per_image * x.itemsize):
        scratch = _scratch(xp, "cols", ((batch.stop - batch.start) * per_image,), x.dtype)
        cols = _im2col(x[batch], kernel_size, stride, dilation, groups, out=scratch)
        out = y[batch].reshape(-1, groups, k // groups).transpose(1, 0, 2)  # (G, rows, K/G)
        xp.matmul(_cols_matrix(cols, groups), wm, out=out)
    return y


def _backward_weights(x, gy, w_shape, stride, padding, dilation, groups):
    """gw = the correlation of the input with the output gradient, channels last.

    ``gw[k, c, m] = sum over n, o of gy[n, o, k] * x_padded[n, o*S + m*D, c]``: the columns'
    transpose times gy, summed over batch chunks (the columns are rebuilt, not stored).

    Args:
        x: (N, *S, C) unpadded. gy: (N, *O, K). w_shape: (K, C/G, *KS).

    Returns:
        gw: (K, C/G, *KS) in the weight's layout.
    """
    xp = get_array_module(gy)
    x, gy = _pad(x, padding), xp.ascontiguousarray(gy)
    n, *size, c = x.shape
    k, cg, *kernel_size = w_shape
    gw = xp.zeros((groups, _prod(kernel_size) * cg, k // groups), dtype=gy.dtype)
    per_image = _prod(gy.shape[1:-1]) * _prod(kernel_size) * c
    for batch in _chunks(n, per_image * x.itemsize):
        scratch = _scratch(xp, "cols", ((batch.stop - batch.start) * per_image,), x.dtype)
        cols = _im2col(x[batch], kernel_size, stride, dilation, groups, out=scratch)
        cols = _cols_matrix(cols, groups)
        gy_b = gy[batch].reshape(-1, groups, k // groups).transpose(1, 0, 2)  # (G, rows, K/G)
        gw += xp.matmul(cols.transpose(0, 2, 1), gy_b)  # (G, KS*C/G, K/G)
    nd = len(kernel_size)
    gw = gw.reshape(groups, *kernel_size, cg, k // groups)
    return gw.transpose(0, nd + 2, nd + 1, *range(1, nd + 1)).reshape(w_shape)


def _backward_data(gy, w, in_size, stride, padding, dilation, groups):
    """gx = the full correlation of gy with the flipped, transposed kernel, channels last.

    Stride 1: gy zero-padded by D(KS-1) - P_before before (and what makes the result S long
    after) is correlated with :func:`_flip_transpose` (w) by :func:`_forward`: an im2col and one
    product, 1.35x faster than a scatter. Stride S > 1: the same sum written as a scatter,
    gy @ W^T then :func:`_col2im`, which skips the (S^d - 1)/S^d zeros of a stride-dilated gy.

    Args:
        gy: (N, *O, K), any strides. w: (K, C/G, *KS). in_size: the unpadded input size S.
        stride, padding, dilation, groups: as given to :func:`_forward`.

    Returns:
        gx: (N, *S, C).
    """
    xp = get_array_module(gy)
    n, *out_size, k = gy.shape
    cg, kernel_size = w.shape[1], w.shape[2:]
    if all(s == 1 for s in stride):
        pads = []
        for i, o, ks, d, (b, _) in zip(in_size, out_size, kernel_size, dilation, padding):
            before = d * (ks - 1) - b
            pads.append((before, i + d * (ks - 1) - o - before))
        ones = (1,) * len(in_size)
        return _forward(gy, _flip_transpose(w, groups), ones, pads, dilation, groups)
    gy = xp.ascontiguousarray(gy)
    wt = _weight_matrix(w, groups).transpose(0, 2, 1)  # (G, K/G, KS*C/G)
    padded_size = [i + b + max(a, 0) for i, (b, a) in zip(in_size, padding)]
    gx = xp.zeros((n, *padded_size, groups * cg), dtype=gy.dtype)
    per_image = _prod(out_size) * _prod(kernel_size) * groups * cg
    for batch in _chunks(n, per_image * gy.itemsize):
        gy_b = gy[batch].reshape(-1, groups, k // groups).transpose(1, 0, 2)  # (G, rows, K/G)
        gcols = _scratch(xp, "cols", (groups, gy_b.shape[1], wt.shape[2]), gy.dtype)
        xp.matmul(gy_b, wt, out=gcols)  # (G, rows, KS*C/G)
        gcols = gcols.transpose(1, 0, 2).reshape(-1, *out_size, groups, *kernel_size, cg)
        _col2im(gcols, stride, dilation, out=gx[batch])
    return gx[(slice(None),) + tuple(slice(b, b + i) for i, (b, _) in zip(in_size, padding))]


# ---------------------------------------------------------------------------------------------
# Public array-level im2col / col2im (channels first, as users know them)
# ---------------------------------------------------------------------------------------------
def _per_axis(name: str, value, nd: int, arg: str) -> tuple:
    if isinstance(value, numbers.Integral):
        return (int(value),) * nd
    value = tuple(value)
    if len(value) != nd or not all(isinstance(v, numbers.Integral) for v in value):
        raise ValueError(f"{name}: {arg} must be an int or {nd} ints, got {value}")
    return tuple(int(v) for v in value)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every receptive field of a channels-first array into a row (not differentiable).

    Args:
        x: an array (or Tensor) (N, C, *S) with 1 to 3 spatial axes.
        kernel_size, stride, padding, dilation: an int or one per spatial axis; zero padding.

    Returns:
        cols: array (N, *O, C, *KS) with ``cols[n, o, c, m] = x_padded[n, c, o*S + m*D]`` and
        ``O = (S + 2P - D(KS-1) - 1) // stride + 1``. ``cols.reshape(N*prod(O), -1) @
        w.reshape(K, -1).T`` is the convolution with weights w (K, C, *KS).
    """
    x = x.data if isinstance(x, Tensor) else x
    xp = get_array_module(x)
    nd = x.ndim - 2
    kernel_size = _per_axis("im2col", kernel_size, nd, "kernel_size")
    stride = _per_axis("im2col", stride, nd, "stride")
    padding = [(p, p) for p in _per_axis("im2col", padding, nd, "padding")]
    dilation = _per_axis("im2col", dilation, nd, "dilation")
    x = _pad(xp.moveaxis(x, 1, -1), padding)  # (N, *S_padded, C)
    cols = _im2col(x, kernel_size, stride, dilation)  # (N, *O, 1, *KS, C)
    cols = cols.reshape(cols.shape[:nd + 1] + cols.shape[nd + 2:])
    return xp.ascontiguousarray(xp.moveaxis(cols, -1, nd + 1))  # (N, *O, C, *KS)


def col2im(cols, input_size, stride=1, padding=0, dilation=1):
    """The adjoint of :func:`im2col`: sum every row back onto the input positions it came from.

    ``<im2col(x), c> == <x, col2im(c)>`` for all x, c; the input gradient of a convolution is
    ``col2im(gy @ W)``.

    Args:
        cols: array (N, *O, C, *KS), as :func:`im2col` returns.
        input_size: the spatial size S of the (unpadded) input.
        stride, padding, dilation: as given to :func:`im2col`.

    Returns:
        x: array (N, C, *S); the padding's share is dropped.
    """
    cols = cols.data if isinstance(cols, Tensor) else cols
    xp = get_array_module(cols)
    nd = (cols.ndim - 2) // 2
    input_size = _per_axis("col2im", input_size, nd, "input_size")
    stride = _per_axis("col2im", stride, nd, "stride")
    padding = _per_axis("col2im", padding, nd, "padding")
    dilation = _per_axis("col2im", dilation, nd, "dilation")
    cols = xp.moveaxis(cols, nd + 1, -1)  # (N, *O, *KS, C)
    cols = cols.reshape(cols.shape[:nd + 1] + (1,) + cols.shape[nd + 1:])
    n, c = cols.shape[0], cols.shape[-1]
    x = xp.zeros((n, *(s + 2 * p for s, p in zip(input_size, padding)), c), dtype=cols.dtype)
    _col2im(cols, stride, dilation, out=x)  # (N, *S_padded, C)
    x = x[(slice(None),) + tuple(slice(p, p + s) for s, p in zip(input_size, padding))]
    return xp.ascontiguousarray(xp.moveaxis(x, -1, 1))
