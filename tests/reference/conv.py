"""Naive loop twins of the convolution family: slow, obviously correct, never shipped.

Every output value is written as the lecture's sum, one multiply-add at a time. The padding is
NumPy's ``np.pad`` (independent of Striate's ``pad``). Arguments are per-axis tuples and
``(before, after)`` padding pairs, so these twins also check 'same' and the padding modes.
"""
from __future__ import annotations

import itertools

import numpy as np

_NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_input(x, pads, mode: str = "zeros"):
    """x (N, C, *S) padded by ``((before, after), ...)`` per spatial axis."""
    return np.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in pads), mode=_NP_MODES[mode])


def conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1,
           mode="zeros"):
    """y[n, k, i, j] = b[k] + sum_c,u,v x_p[n, g*Cg + c, i*SH + u*DH, j*SW + v*DW] w[k, c, u, v]

    Seven nested loops: batch, filter, output row, output column, channel, kernel row, column.
    """
    x = pad_input(x, pads, mode)
    n_batch, _, height, width = x.shape
    n_filters, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh = (height - dh * (kh - 1) - 1) // sh + 1
    ow = (width - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n_batch, n_filters, oh, ow))
    per_group = n_filters // groups
    for n in range(n_batch):
        for k in range(n_filters):
            g = k // per_group
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0 if b is None else b[k]
                    for c in range(cg):
                        for u in range(kh):
                            for v in range(kw):
                                acc += (x[n, g * cg + c, i * sh + u * dh, j * sw + v * dw]
                                        * w[k, c, u, v])
                    y[n, k, i, j] = acc
    return y


def conv_nd(x, w, b=None, stride=None, pads=None, dilation=None, groups=1, mode="zeros"):
    """The same sum in any number of spatial axes, over output positions and kernel taps."""
    nd = x.ndim - 2
    stride = stride or (1,) * nd
    dilation = dilation or (1,) * nd
    x = pad_input(x, pads or ((0, 0),) * nd, mode)
    n_filters, cg, *kernel_size = w.shape
    out_size = [(s - d * (k - 1) - 1) // st + 1
                for s, k, st, d in zip(x.shape[2:], kernel_size, stride, dilation)]
    y = np.zeros((x.shape[0], n_filters, *out_size))
    per_group = n_filters // groups
    for n in range(x.shape[0]):
        for k in range(n_filters):
            g = k // per_group
            for o in itertools.product(*(range(s) for s in out_size)):
                acc = 0.0 if b is None else b[k]
                for c in range(cg):
                    for m in itertools.product(*(range(s) for s in kernel_size)):
                        pos = tuple(oi * st + mi * d for oi, mi, st, d in zip(o, m, stride,
                                                                              dilation))
                        acc += x[(n, g * cg + c) + pos] * w[(k, c) + m]
                y[(n, k) + o] = acc
    return y


def conv_transpose_nd(x, w, b=None, stride=None, padding=None, output_padding=None, groups=1,
                      dilation=None):
    """Transposed convolution as a scatter: every input value adds its scaled kernel.

    ``y[n, g*Cog + c, i*S + m*D - P] += x[n, k, i] * w[k, c, m]`` for the input channels k of
    group g; the output is (I - 1)*S - 2P + D(K - 1) + output_padding + 1 long.
    """
    nd = x.ndim - 2
    stride = stride or (1,) * nd
    dilation = dilation or (1,) * nd
    padding = padding or (0,) * nd
    output_padding = output_padding or (0,) * nd
    n_in, cog, *kernel_size = w.shape
    in_size = x.shape[2:]
    full = [(i - 1) * s + d * (k - 1) + 1 + op for i, s, d, k, op in
            zip(in_size, stride, dilation, kernel_size, output_padding)]
    y = np.zeros((x.shape[0], cog * groups, *full))
    per_group = n_in // groups
    for n in range(x.shape[0]):
        for k in range(n_in):
            g = k // per_group
            for i in itertools.product(*(range(s) for s in in_size)):
                for c in range(cog):
                    for m in itertools.product(*(range(s) for s in kernel_size)):
                        pos = tuple(ii * s + mi * d for ii, mi, s, d in zip(i, m, stride,
                                                                            dilation))
                        y[(n, g * cog + c) + pos] += x[(n, k) + i] * w[(k, c) + m]
    y = y[(slice(None), slice(None)) + tuple(slice(p, f - p) for p, f in zip(padding, full))]
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * nd)
    return y


def convolve2d_single(image, kernel):
    """Full 2D convolution of one channel, straight from the definition (scipy's mode='full').

    S(i, j) = sum_m sum_n I(i - m, j - n) K(m, n), over the (H + KH - 1) x (W + KW - 1) positions
    where the flipped kernel overlaps the image.
    """
    h, w = image.shape
    kh, kw = kernel.shape
    out = np.zeros((h + kh - 1, w + kw - 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for m in range(kh):
                for n in range(kw):
                    if 0 <= i - m < h and 0 <= j - n < w:
                        out[i, j] += image[i - m, j - n] * kernel[m, n]
    return out
