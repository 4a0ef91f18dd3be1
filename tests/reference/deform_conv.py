"""Naive loop twin of deformable convolution: one output pixel, one kernel position at a time.

Slow and obviously correct; ``tests/test_deform_conv.py`` checks the vectorised op against it.
"""
import math

import numpy as np


def bilinear(plane: np.ndarray, y: float, x: float) -> float:
    """x(p) = sum_q max(0, 1 - |q_y - y|) * max(0, 1 - |q_x - x|) * plane[q], 0 off the image."""
    height, width = plane.shape
    total = 0.0
    for qy in (math.floor(y), math.floor(y) + 1):
        for qx in (math.floor(x), math.floor(x) + 1):
            if 0 <= qy < height and 0 <= qx < width:
                weight = max(0.0, 1 - abs(qy - y)) * max(0.0, 1 - abs(qx - x))
                total += weight * plane[qy, qx]
    return total


def deform_conv2d(x, offset, weight, bias=None, stride=(1, 1), padding=(0, 0),
                  dilation=(1, 1), mask=None) -> np.ndarray:
    """y[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] * m * x[n, c](p), p deformed."""
    n_batch, channels = x.shape[:2]
    out_channels, channels_per_group, kh, kw = weight.shape
    groups = channels // channels_per_group
    out_per_group = out_channels // groups
    offset_groups = offset.shape[1] // (2 * kh * kw)
    channels_per_offset_group = channels // offset_groups
    out_h, out_w = offset.shape[2:]
    y = np.zeros((n_batch, out_channels, out_h, out_w))
    for n in range(n_batch):
        for o in range(out_channels):
            for oh in range(out_h):
                for ow in range(out_w):
                    total = 0.0 if bias is None else bias[o]
                    for cw in range(channels_per_group):
                        c = (o // out_per_group) * channels_per_group + cw
                        g = c // channels_per_offset_group
                        for i in range(kh):
                            for j in range(kw):
                                k = i * kw + j
                                dy = offset[n, g * 2 * kh * kw + 2 * k, oh, ow]
                                dx = offset[n, g * 2 * kh * kw + 2 * k + 1, oh, ow]
                                py = oh * stride[0] - padding[0] + i * dilation[0] + dy
                                px = ow * stride[1] - padding[1] + j * dilation[1] + dx
                                m = 1.0 if mask is None else mask[n, g * kh * kw + k, oh, ow]
                                total += weight[o, cw, i, j] * m * bilinear(x[n, c], py, px)
                    y[n, o, oh, ow] = total
    return y
