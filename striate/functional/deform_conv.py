"""Deformable convolution (checklist C11), as ``torchvision.ops.deform_conv2d``.

A convolution reads its input on a fixed grid: output pixel ``p0`` sees the pixels ``p0 + p_k``,
where ``p_k`` runs over the kernel's KH*KW positions. Deformable convolution (Dai et al. 2017,
"Deformable Convolutional Networks", DCNv1) adds a learned offset ``dp_k`` to every kernel
position of every output pixel, so the kernel can bend to the shape of what it looks at. The
offsets are real numbers, so the input is read between pixels by bilinear interpolation. DCNv2
(Zhu et al. 2019, "Deformable ConvNets v2") also multiplies each sample by a learned modulation
scalar ``m_k`` (usually a sigmoid output in [0, 1])::

    y(p0) = sum_k  w_k * m_k * x(p0 + p_k + dp_k)

    x(p) = sum_q G(q, p) x(q),   G(q, p) = max(0, 1 - |q_y - p_y|) * max(0, 1 - |q_x - p_x|)

``q`` runs over the integer pixels; only the four around ``p`` have ``G > 0``, and a pixel off the
image counts as 0 (so a point with ``y <= -1``, ``y >= H``, ``x <= -1`` or ``x >= W`` reads 0).
The offsets usually come from an ordinary convolution over the same input (in a layer, not here).

The computation is an im2col whose columns are sampled instead of copied, then one matrix product
with the weights, as for a plain convolution.
"""
from __future__ import annotations

import numbers

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module

__all__ = ["deform_conv2d"]

# The four pixels around a sampling point, as (row step, column step) from (floor y, floor x).
_NEIGHBOURS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _neighbours(ys, xs, height: int, width: int):
    """The four pixels around each sampling point.

    Args:
        ys, xs: sampling coordinates, any shape S.
    Returns:
        ``(indices, inside, ly, lx)``: for each neighbour its flat index ``row * width + col``
        (0 where off the image) and whether it lies on the image, each of shape S; and the
        fractional parts ``ly = y - floor(y)``, ``lx = x - floor(x)``.
    """
    xp = get_array_module(ys)
    y0, x0 = xp.floor(ys), xp.floor(xs)
    indices, inside = [], []
    for dy, dx in _NEIGHBOURS:
        row, col = y0 + dy, x0 + dx
        ok = (row >= 0) & (row < height) & (col >= 0) & (col < width)
        indices.append(xp.where(ok, row * width + col, 0).astype(xp.int64))
        inside.append(ok)
    return indices, inside, ys - y0, xs - x0


def _bilinear_weights(ly, lx) -> list:
    """G(q, p) for the four neighbours q of p, in the order of ``_NEIGHBOURS``."""
    return [(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx]


def _gather(x_flat, index, inside):
    """Read pixels of every channel at per-group flat indices, 0 off the image.

    Args:
        x_flat: ``(N, G, Cg, H*W)``, the input split into G offset groups of Cg channels.
        index, inside: ``(N, G, K, P)``, one pixel per kernel position and output pixel.
    Returns:
        ``(N, G, Cg, K, P)``.
    """
    xp = get_array_module(x_flat)
    n, g, k, p = index.shape
    values = xp.take_along_axis(x_flat, index.reshape(n, g, 1, k * p), axis=-1)  # (N, G, Cg, K*P)
    return values.reshape(n, g, x_flat.shape[2], k, p) * inside[:, :, None]


class DeformConv2d(Function):
    """Deformable 2-D convolution (DCNv1; DCNv2 with a mask), torchvision's layout and rules.

    Shapes: input ``x (N, C, H, W)``, offset ``(N, 2*G*KH*KW, OH, OW)``, weight
    ``(O, C/groups, KH, KW)``, bias ``(O,)``, mask ``(N, G*KH*KW, OH, OW)``; G offset groups each
    share one set of offsets (and masks) over C/G consecutive channels. With K = KH*KW, P = OH*OW
    and kernel position ``k = i*KW + j``, offset channel ``g*2K + 2k`` holds ``dy`` and
    ``g*2K + 2k + 1`` holds ``dx``. Output pixel ``(oh, ow)`` samples kernel position k at::

        p_y = oh*stride_h - pad_h + i*dilation_h + dy
        p_x = ow*stride_w - pad_w + j*dilation_w + dx

    Forward: ``cols[n, c, k, p] = m[n, g(c), k, p] * x[n, c](p_k)`` by bilinear interpolation,
    ``(N, C*K, P)``, then per weight group ``y = W (O/groups, C/groups*K) @ cols``, plus b.

    Backward, with ``gcols = W^T gy`` (N, C*K, P) and ``s`` the unmasked samples:

    - ``gb = sum_{n,p} gy``,  ``gW = sum_n gy cols^T``;
    - ``gm[n, g, k, p] = sum_{c in g} gcols * s``;
    - ``gx[q] += m * G(q, p) * gcols`` for the four neighbours q of every sampling point p
      (a scatter-add: many points share a pixel);
    - ``gdy = sum_{c in g} m * gcols * ds/dy`` with
      ``ds/dy = (1-lx)(x(y1,x0) - x(y0,x0)) + lx (x(y1,x1) - x(y0,x1))`` and likewise ``gdx``
      (the derivative of G with respect to the point; one-sided at integer coordinates).
    """

    def __init__(self, stride, padding, dilation, groups: int, offset_groups: int):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.groups, self.offset_groups = groups, offset_groups

    def _sampling_points(self, offset, kh: int, kw: int):
        """Sampling coordinates p0 + p_k + dp_k, each ``(N, G, K, OH*OW)``."""
        xp = get_array_module(offset)
        n, _, oh, ow = offset.shape
        k = kh * kw
        i, j = xp.arange(k) // kw, xp.arange(k) % kw           # kernel row and column of k
        base_y = ((xp.arange(oh) * self.stride[0] - self.padding[0])[None, :, None]
                  + (i * self.dilation[0])[:, None, None])     # (K, OH, 1)
        base_x = ((xp.arange(ow) * self.stride[1] - self.padding[1])[None, None, :]
                  + (j * self.dilation[1])[:, None, None])     # (K, 1, OW)
        off = offset.reshape(n, self.offset_groups, k, 2, oh, ow)
        ys = base_y.astype(offset.dtype) + off[:, :, :, 0]     # (N, G, K, OH, OW)
        xs = base_x.astype(offset.dtype) + off[:, :, :, 1]
        shape = (n, self.offset_groups, k, oh * ow)
        return ys.reshape(shape), xs.reshape(shape)

    def forward(self, x, offset, weight, bias=None, mask=None):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        g, k, p = self.offset_groups, kh * kw, offset.shape[2] * offset.shape[3]
        self.x_flat = x.reshape(n, g, c // g, h * w)
        ys, xs = self._sampling_points(offset, kh, kw)
        self.indices, self.inside, self.ly, self.lx = _neighbours(ys, xs, h, w)
        samples = sum(wq * _gather(self.x_flat, index, ok)       # (N, G, Cg, K, P)
                      for wq, index, ok in zip(self._weights(), self.indices, self.inside))
        if mask is not None:
            samples = samples * mask.reshape(n, g, 1, k, p)
        cw_k = c // self.groups * k
        self.cols = samples.reshape(n, self.groups, cw_k, p)            # (N, groups, Cw*K, P)
        self.w_mat = weight.reshape(self.groups, o // self.groups, cw_k)  # (groups, O/g, Cw*K)
        self.mask, self.x_shape, self.w_shape = mask, x.shape, weight.shape
        self.out_hw = offset.shape[2:]
        y = (self.w_mat @ self.cols).reshape(n, o, *self.out_hw)
        return y if bias is None else y + bias[:, None, None]

    def _weights(self):
        """The neighbours' bilinear weights broadcast over channels: (N, G, 1, K, P) each."""
        return [wq[:, :, None] for wq in _bilinear_weights(self.ly, self.lx)]

    def backward(self, gy):
        n_x, n_off, n_w, n_b, n_m = self.needs_input_grad
        n, o, oh, ow = gy.shape
        gy_mat = gy.reshape(n, self.groups, o // self.groups, oh * ow)  # (N, groups, O/g, P)
        gb = gy.sum(axis=(0, 2, 3)) if n_b else None
        gw = None
        if n_w:
            gw = (gy_mat @ self.cols.swapaxes(-1, -2)).sum(axis=0).reshape(self.w_shape)
        gx = goffset = gmask = None
        if n_x or n_off or n_m:
            gcols = self.w_mat.swapaxes(-1, -2) @ gy_mat                # (N, groups, Cw*K, P)
            gcols = gcols.reshape(self.ly.shape[:2] + self.x_flat.shape[2:3]
                                  + self.ly.shape[2:])                  # (N, G, Cg, K, P)
            gx, goffset, gmask = self._sampling_grads(gcols, n_x, n_off, n_m)
        return gx, goffset, gw, gb, gmask

    def _sampling_grads(self, gcols, need_x: bool, need_offset: bool, need_mask: bool):
        """Gradients of input, offset and mask from the gradient of the columns (N,G,Cg,K,P)."""
        n, g, k, p = self.ly.shape
        gx = goffset = gmask = None
        values = [] if not (need_mask or need_offset) else [
            _gather(self.x_flat, index, ok) for index, ok in zip(self.indices, self.inside)]
        if need_mask:
            samples = sum(wq * v for wq, v in zip(self._weights(), values))
            gmask = (gcols * samples).sum(axis=2).reshape(n, g * k, *self.out_hw)
        gsamples = gcols if self.mask is None else gcols * self.mask.reshape(n, g, 1, k, p)
        if need_x:
            gx = self._scatter(gsamples)
        if need_offset:
            v00, v01, v10, v11 = values
            ly, lx = self.ly[:, :, None], self.lx[:, :, None]
            gdy = (gsamples * ((1 - lx) * (v10 - v00) + lx * (v11 - v01))).sum(axis=2)
            gdx = (gsamples * ((1 - ly) * (v01 - v00) + ly * (v11 - v10))).sum(axis=2)
            xp = get_array_module(gdy)
            goffset = xp.stack([gdy, gdx], axis=3).reshape(n, 2 * g * k, *self.out_hw)
        return gx, goffset, gmask

    def _scatter(self, gsamples):
        """gx: add ``G(q, p) * gsamples`` into the four pixels q around every point p."""
        xp = get_array_module(gsamples)
        n, g, cg, hw = self.x_flat.shape
        planes = (xp.arange(n * g * cg) * hw).reshape(n, g, cg, 1, 1)  # first pixel of each plane
        gx = xp.zeros(n * g * cg * hw, dtype=gsamples.dtype)
        for wq, index, ok in zip(self._weights(), self.indices, self.inside):
            target = (planes + index[:, :, None]).ravel()              # (N*G*Cg*K*P,)
            contribution = (gsamples * (wq * ok[:, :, None])).ravel()
            gx += xp.bincount(target, weights=contribution, minlength=gx.size).astype(gx.dtype)
        return gx.reshape(self.x_shape)


# ---------------------------------------------------------------------------------------------
# Public function
# ---------------------------------------------------------------------------------------------
def _pair(arg: str, value, low: int) -> tuple:
    """An int or a pair of ints, each at least ``low``, as a pair."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 for v in pair):
        raise TypeError(f"deform_conv2d: {arg} must be an int or a pair of ints, got {value!r}")
    if min(pair) < low:
        raise ValueError(f"deform_conv2d: {arg} must be at least {low}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _as_float(arg: str, t, like: Tensor | None = None, ndim: int = 4) -> Tensor:
    """``t`` as a floating tensor of ``like``'s dtype with ``ndim`` axes, or an error naming it."""
    t = as_tensor(t)
    if t.dtype.kind != "f":
        raise TypeError(f"deform_conv2d: {arg} must be a floating-point tensor, "
                        f"got dtype {t.dtype}")
    if like is not None and t.dtype != like.dtype:
        raise TypeError(f"deform_conv2d: {arg} has dtype {t.dtype}, input has {like.dtype}")
    if t.ndim != ndim:
        raise ValueError(f"deform_conv2d: {arg} must be {ndim}-D, got shape {t.shape}")
    return t


def _groups(x: Tensor, offset: Tensor, weight: Tensor) -> tuple:
    """Weight groups (C / weight.shape[1]) and offset groups (offset.shape[1] / (2*KH*KW))."""
    c, (o, cw, kh, kw) = x.shape[1], weight.shape
    if cw == 0 or c % cw:
        raise ValueError(f"deform_conv2d: weight has {cw} input channels per group, which does "
                         f"not divide the input's {c} channels")
    groups = c // cw
    if o % groups:
        raise ValueError(f"deform_conv2d: weight's {o} output channels are not divisible by "
                         f"groups={groups} (input channels {c} / weight's {cw} per group)")
    per_group = 2 * kh * kw
    if offset.shape[1] == 0 or offset.shape[1] % per_group:
        raise ValueError(f"deform_conv2d: offset has {offset.shape[1]} channels, expected a "
                         f"positive multiple of 2*KH*KW = {per_group} (offset_groups*2*KH*KW)")
    offset_groups = offset.shape[1] // per_group
    if c % offset_groups:
        raise ValueError(f"deform_conv2d: the input's {c} channels are not divisible by "
                         f"offset_groups={offset_groups}")
    return groups, offset_groups


def deform_conv2d(input, offset, weight, bias=None, stride=1, padding=0, dilation=1,  # noqa: A002
                  mask=None) -> Tensor:
    """Deformable 2-D convolution, as ``torchvision.ops.deform_conv2d``.

    ``y(p0) = sum_k w_k * m_k * x(p0 + p_k + dp_k)`` with bilinear sampling (zeros off the image);
    DCNv1 without ``mask``, DCNv2 with it. Zero offsets and no mask give ``conv2d``.

    Args:
        input: ``(N, C, H, W)``.
        offset: ``(N, 2*offset_groups*KH*KW, OH, OW)``; for kernel position ``k = i*KW + j``
            of offset group g, channel ``g*2*KH*KW + 2k`` is the row offset dy and ``+ 1`` the
            column offset dx. Offset group g covers input channels ``[g*C/G, (g+1)*C/G)``.
        weight: ``(O, C/groups, KH, KW)``; ``groups = C / weight.shape[1]``.
        bias: ``(O,)`` or ``None``.
        stride, padding, dilation: an int or a pair (height, width); the padding is zeros.
        mask: ``(N, offset_groups*KH*KW, OH, OW)`` modulation scalars, or ``None`` (all ones).

    Returns:
        ``(N, O, OH, OW)`` with ``OH = (H + 2*pad_h - dilation_h*(KH - 1) - 1) // stride_h + 1``
        (and the same for OW).
    """
    x = _as_float("input", input)
    off = _as_float("offset", offset, like=x)
    w = _as_float("weight", weight, like=x)
    stride, padding = _pair("stride", stride, 1), _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    groups, offset_groups = _groups(x, off, w)
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f"deform_conv2d: output size would be {oh}x{ow}: the dilated kernel "
                         f"is larger than the padded input ({h}x{wd}, padding {padding})")
    expected = (n, 2 * offset_groups * kh * kw, oh, ow)
    if off.shape != expected:
        raise ValueError(f"deform_conv2d: offset has shape {off.shape}, expected {expected} "
                         f"(N, 2*offset_groups*KH*KW, OH, OW)")
    m = None if mask is None else _as_float("mask", mask, like=x)
    if m is not None and m.shape != (n, offset_groups * kh * kw, oh, ow):
        raise ValueError(f"deform_conv2d: mask has shape {m.shape}, expected "
                         f"{(n, offset_groups * kh * kw, oh, ow)} (N, offset_groups*KH*KW, OH, OW)")
    b = None if bias is None else _as_float("bias", bias, like=x, ndim=1)
    if b is not None and b.shape != (o,):
        raise ValueError(f"deform_conv2d: bias must have shape ({o},), got {b.shape}")
    op = DeformConv2d(stride, padding, dilation, groups, offset_groups)
    return op(x, off, w, b, m)
