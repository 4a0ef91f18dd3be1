"""Naive loop twins of the pooling ops: one window at a time, written from PyTorch's definitions.

Slow and obviously correct; ``tests/test_pooling.py`` checks the vectorised code against them.
Every function takes and returns float64 NumPy arrays (N, C, H, W).
"""
import math

import numpy as np


def output_size(n, k, s, p, d, ceil_mode):
    """Windows along one axis: floor (or ceil) of (n + 2p - d(k-1) - 1) / s, plus one; in ceil_mode
    a window starting in the right padding is dropped."""
    span = n + 2 * p - d * (k - 1) - 1
    o = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def max_pool2d(x, k, s, p, d=(1, 1), ceil_mode=False):
    """(y, indices): each window's maximum and its flat index h * W + w in the plane.

    PyTorch's scan: start at the window's first in-bounds element with best = -inf, take an element
    when it is larger or NaN.
    """
    n, c, h, w = x.shape
    oh = output_size(h, k[0], s[0], p[0], d[0], ceil_mode)
    ow = output_size(w, k[1], s[1], p[1], d[1], ceil_mode)
    y = np.zeros((n, c, oh, ow))
    idx = np.zeros((n, c, oh, ow), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    rows = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
                    cols = [j * s[1] - p[1] + e * d[1] for e in range(k[1])]
                    rows = [r for r in rows if 0 <= r < h]
                    cols = [q for q in cols if 0 <= q < w]
                    best, where = -np.inf, rows[0] * w + cols[0]
                    for r in rows:
                        for q in cols:
                            v = x[b, ch, r, q]
                            if v > best or np.isnan(v):
                                best, where = v, r * w + q
                    y[b, ch, i, j], idx[b, ch, i, j] = best, where
    return y, idx


def max_pool2d_backward(gy, indices, in_shape):
    """gx: each window's gradient added at its maximum."""
    gx = np.zeros(in_shape)
    n, c, h, w = in_shape
    for b in range(n):
        for ch in range(c):
            for i in range(gy.shape[2]):
                for j in range(gy.shape[3]):
                    r, q = divmod(int(indices[b, ch, i, j]), w)
                    gx[b, ch, r, q] += gy[b, ch, i, j]
    return gx


def _avg_windows(in_shape, k, s, p, ceil_mode, count_include_pad, divisor_override):
    """Yield (i, j, rows, cols, divisor) for every average-pooling window, rows/cols in bounds."""
    h, w = in_shape[2:]
    oh = output_size(h, k[0], s[0], p[0], 1, ceil_mode)
    ow = output_size(w, k[1], s[1], p[1], 1, ceil_mode)
    for i in range(oh):
        for j in range(ow):
            r0, q0 = i * s[0] - p[0], j * s[1] - p[1]
            r1, q1 = min(r0 + k[0], h + p[0]), min(q0 + k[1], w + p[1])
            pool_size = (r1 - r0) * (q1 - q0)
            rows = range(max(r0, 0), min(r1, h))
            cols = range(max(q0, 0), min(q1, w))
            if divisor_override is not None:
                divisor = divisor_override
            elif count_include_pad:
                divisor = pool_size
            else:
                divisor = len(rows) * len(cols)
            yield i, j, rows, cols, divisor


def avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Each window's sum over its in-bounds elements, divided as PyTorch divides."""
    windows = list(_avg_windows(x.shape, k, s, p, ceil_mode, count_include_pad,
                                divisor_override))
    oh, ow = windows[-1][0] + 1, windows[-1][1] + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i, j, rows, cols, divisor in windows:
        total = 0.0
        for r in rows:
            for q in cols:
                total = total + x[:, :, r, q]
        y[:, :, i, j] = total / divisor
    return y


def avg_pool2d_backward(gy, in_shape, k, s, p, ceil_mode=False, count_include_pad=True,
                        divisor_override=None):
    """gx: each window's gradient over its divisor, added to every in-bounds element."""
    gx = np.zeros(in_shape)
    for i, j, rows, cols, divisor in _avg_windows(in_shape, k, s, p, ceil_mode,
                                                  count_include_pad, divisor_override):
        for r in rows:
            for q in cols:
                gx[:, :, r, q] += gy[:, :, i, j] / divisor
    return gx


def adaptive_bin(i, n_in, n_out):
    """range of bin i: [floor(i * I / O), ceil((i + 1) * I / O))."""
    return range(math.floor(i * n_in / n_out), math.ceil((i + 1) * n_in / n_out))


def adaptive_avg_pool2d(x, out):
    y = np.zeros(x.shape[:2] + tuple(out))
    for i in range(out[0]):
        for j in range(out[1]):
            rows, cols = adaptive_bin(i, x.shape[2], out[0]), adaptive_bin(j, x.shape[3], out[1])
            y[:, :, i, j] = x[:, :, rows.start:rows.stop, cols.start:cols.stop].mean(axis=(2, 3))
    return y


def adaptive_max_pool2d(x, out):
    """(y, indices) with PyTorch's scan rule, bin by bin."""
    n, c, h, w = x.shape
    y = np.zeros((n, c) + tuple(out))
    idx = np.zeros((n, c) + tuple(out), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(out[0]):
                for j in range(out[1]):
                    best, where = -np.inf, None
                    for r in adaptive_bin(i, h, out[0]):
                        for q in adaptive_bin(j, w, out[1]):
                            v = x[b, ch, r, q]
                            if where is None or v > best or np.isnan(v):
                                best, where = v, r * w + q
                    y[b, ch, i, j], idx[b, ch, i, j] = best, where
    return y, idx


def fractional_max_pool2d(x, k, out, samples):
    """(y, indices); window starts from PyTorch's interval rule, in the samples' float type."""
    n, c, h, w = x.shape
    real = samples.dtype.type

    def starts(u, n_in, n_out, kk):
        seq = []
        alpha = real(n_in - kk) / real(n_out - 1) if n_out > 1 else None
        for i in range(n_out - 1):
            seq.append(int(real(real(i) + u) * alpha) - int(real(u * alpha)))
        return seq + [n_in - kk]

    y = np.zeros((n, c) + tuple(out))
    idx = np.zeros((n, c) + tuple(out), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            rows = starts(samples[b, ch, 1], h, out[0], k[0])
            cols = starts(samples[b, ch, 0], w, out[1], k[1])
            for i, r0 in enumerate(rows):
                for j, q0 in enumerate(cols):
                    best, where = -np.inf, r0 * w + q0
                    for r in range(r0, r0 + k[0]):
                        for q in range(q0, q0 + k[1]):
                            if x[b, ch, r, q] > best or np.isnan(x[b, ch, r, q]):
                                best, where = x[b, ch, r, q], r * w + q
                    y[b, ch, i, j], idx[b, ch, i, j] = best, where
    return y, idx


def stochastic_pool2d_eval(x, k, s):
    """sum_i p_i a_i with p_i = a_i / sum a per window; 0 for an all-zero window."""
    oh = (x.shape[2] - k[0]) // s[0] + 1
    ow = (x.shape[3] - k[1]) // s[1] + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for b in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    a = x[b, ch, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].ravel()
                    total = a.sum()
                    y[b, ch, i, j] = (a / total * a).sum() if total > 0 else 0.0
    return y
