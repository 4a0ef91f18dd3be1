"""Receptive fields followed op by op through a forward pass (checklist C13).

Every unit of a feature map sees a window of the input image: its receptive field. Along one
spatial axis the field of a layer's units has a size r (in input pixels), a jump j (the input
pixels between the fields of two neighbouring units) and an offset t (the input coordinate where
unit 0's field starts, negative when it reaches into the padding): unit i sees the input pixels
``[t + i j, t + i j + r)``. The offset counts from the top-left edge of the field, not its
centre, so it is a pixel index that a crop can use directly. The input itself has r = j = 1,
t = 0; a window of k taps with dilation d, stride s and p cells of padding before the first
(a convolution or a pooling) gives::

    r_out = r_in + (k - 1) * d * j_in
    j_out = j_in * s
    t_out = t_in - p * j_in

so two stacked 3x3 convolutions see 5x5, three see 7x7, and a 2x2/2 pooling before a 3x3
convolution gives r = 6, j = 2. Padding shifts the windows (t) but changes neither r nor j.

The other rules, each an op of :mod:`striate.functional`:

- transposed convolution (stride s, "fractionally strided"): the units come s times closer,
  j_out = j_in / s, and the kernel spans (k - 1) d of those: r_out = r_in + (k - 1) * d * j_out;
  output 0 gathers the inputs from (p - (k - 1) d) / s on: t_out = t_in + (p - (k - 1) d) j_out.
  All three may then be fractions of an input pixel (a decoder's units sit between input pixels).
- adaptive pooling from n to o cells: the widest bin is the kernel, the mean distance between
  bin centres the stride (k = s = n / o when o divides n); bin 0 starts at cell 0, t_out = t_in.
  Global pooling (o = 1) covers the whole map: r_out = r_in + (n - 1) * j_in.
- a fully connected layer mixes every cell of the map it is given, whether or not a flatten came
  first: r_out = r_in + (n - 1) * j_in along every axis, t_out = t_in, so its units see the whole
  input (or more: the field counts the padding too). A flatten (any reshape) keeps each element's
  field.
- a sum, a product, a concatenation of channels: the union of the inputs' fields, from the
  smallest start to the largest end (a residual block's output sees as far as its longest
  branch). When the inputs lie on one grid with one jump, as branches do, this is every unit's
  exact field. An input broadcast over the map (a squeeze-and-excitation gate, one cell that sees
  the whole image) has another jump: the output keeps the jump of the inputs on its grid and the
  union of unit 0's fields, exact for unit 0 only (a broadcast field does not move with the unit).
- padding: t_out = t_in - p_before * j_in along a padded spatial axis (a negative width crops).
  An activation, normalisation, dropout: nothing changes.
- concatenation along a spatial axis: the first input's offset along that axis (its units come
  first), the union along the others.
- a strided slice ``x[..., a::2]``: j_out = 2 j_in, t_out = t_in + a j_in (a reversing slice
  ``::-1`` gives the lowest kept cell's offset, the units then run the other way). A reduction
  (``mean`` over H, W) mixes the reduced axes like a global pooling; a softmax over a spatial
  axis mixes that axis.

An op that changes the spatial size without being one of these gives an unknown field, shown as
"?", for itself and everything computed from it. Deformable convolution gets its nominal grid's
field (its learned offsets can reach further).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..functional.activation import LogSoftmax, Softmax
from ..functional.conv import ConvNd, ConvTransposeNd
from ..functional.deform_conv import DeformConv2d
from ..functional.elementwise import MatMul
from ..functional.linear import Linear, RBFUnits
from ..functional.pooling import Windows
from ..functional.pooling_adaptive import AdaptiveAvgPool, AdaptiveMaxPool, adaptive_bins
from ..functional.pooling_special import FractionalMaxPool2d
from ..functional.reduction import Max, Mean, Sum, Var
from ..functional.shape import Concat, GetItem, Pad, Permute, Reshape

__all__ = ["Field", "input_field", "propagate"]


@dataclass(frozen=True)
class Field:
    """The receptive field of a tensor's units, per spatial axis of the model's input.

    Attributes:
        size: r per axis, in input pixels; ``None`` when unknown.
        jump: j per axis, input pixels between neighbouring units.
        offset: t per axis, the input coordinate where unit 0's field starts (unit i's starts
            at t + i j).
        grid: the units per axis of the map they sit on (what a dense layer or a global
            pooling mixes).
        spatial: the tensor's last ``len(size)`` axes are that map (False after a flatten).
    """

    size: tuple | None
    jump: tuple | None
    offset: tuple | None
    grid: tuple | None
    spatial: bool

    @property
    def known(self) -> bool:
        return self.size is not None


UNKNOWN = Field(None, None, None, None, False)


def input_field(spatial_shape) -> Field:
    """The field of the input pixels themselves: r = j = 1, t = 0 on every axis."""
    nd = len(spatial_shape)
    return Field((1,) * nd, (1,) * nd, (0,) * nd, tuple(spatial_shape), True)


def _number(v):
    """An integral float as an int (fields stay ints except after transposed convolutions)."""
    return int(v) if float(v).is_integer() else float(v)


def _field(size, jump, offset, grid, spatial: bool) -> Field:
    return Field(tuple(map(_number, size)), tuple(map(_number, jump)),
                 tuple(map(_number, offset)), tuple(grid), spatial)


def _trailing(shape, nd: int):
    return tuple(shape[len(shape) - nd:]) if len(shape) >= nd + 1 else None


def _window(f: Field, out, kernel, stride, dilation, pad_before,
            transposed: bool = False) -> Field:
    """A sliding window of ``kernel`` taps: r_out = r_in + (k-1) d j, j_out = j_in s,
    t_out = t_in - p j_in; for a transposed convolution j_out = j_in / s, its taps lie j_out
    apart and t_out = t_in + (p - (k-1) d) j_out."""
    nd = len(f.size)
    if not f.spatial:  # a window over features (ECA's conv over pooled channels) mixes them all
        return _mix(f, range(nd), False)
    if len(kernel) != nd:
        return UNKNOWN
    size, jump, offset = [], [], []
    for r, j, t, k, s, d, p in zip(f.size, f.jump, f.offset, kernel, stride, dilation,
                                   pad_before):
        if transposed:
            j_out = j / s
            size.append(r + (k - 1) * d * j_out)
            offset.append(t + (p - (k - 1) * d) * j_out)
        else:
            j_out = j * s
            size.append(r + (k - 1) * d * j)
            offset.append(t - p * j)
        jump.append(j_out)
    return _field(size, jump, offset, _trailing(out.shape, nd), True)


def _adaptive(f: Field, out, out_size) -> Field:
    """Adaptive pooling from n to o cells per axis: bin i spans [floor(i n / o), ceil((i+1) n / o)).
    The widest bin is the kernel; the jump is the mean distance between bin centres (n / o cells
    when o divides n; 0 when o > n = 1 copies one cell o times); bin 0 starts at cell 0."""
    nd = len(f.size)
    if not f.spatial or len(out_size) != nd:
        return UNKNOWN
    size, jump = [], []
    for r, j, n, o in zip(f.size, f.jump, f.grid, _trailing(out.shape, nd)):
        start, end = adaptive_bins(n, o)
        centres = (start + end - 1) / 2
        size.append(r + (int((end - start).max()) - 1) * j)
        jump.append(j * (n if o == 1 else (centres[-1] - centres[0]) / (o - 1)))
    return _field(size, jump, f.offset, _trailing(out.shape, nd), True)


def _mix(f: Field, axes, spatial: bool, grid=None) -> Field:
    """Every unit sees every cell of the map along ``axes`` (a dense layer, a global pooling):
    r += (n - 1) j and j *= n there, t stays (cell 0 is the first mixed), and the map shrinks to
    one cell along them."""
    size, jump, cells = list(f.size), list(f.jump), list(f.grid)
    for a in axes:
        size[a] += (cells[a] - 1) * jump[a]
        jump[a] *= cells[a]
        cells[a] = 1
    return _field(size, jump, f.offset, cells if grid is None else grid, spatial)


def _union(fields, nd: int) -> tuple:
    """``(size, offset)`` per axis of the union of unit 0's fields: from the smallest start to
    the largest end ``t + r``."""
    offset = [min(f.offset[a] for f in fields) for a in range(nd)]
    end = [max(f.offset[a] + f.size[a] for f in fields) for a in range(nd)]
    return [e - t for e, t in zip(end, offset)], offset


def _combine(fields, out) -> Field:
    """Elementwise ops: the union of the inputs' fields; the jump of the inputs laid out on the
    output's grid (a broadcast (N, C, 1, 1) gate does not set the spacing)."""
    nd = len(fields[0].size)
    grid = _trailing(out.shape, nd)
    on_grid = [f for f in fields if f.spatial and f.grid == grid] or fields
    size, offset = _union(fields, nd)
    jump = [max(f.jump[a] for f in on_grid) for a in range(nd)]
    spatial = any(f.spatial for f in fields) and grid is not None
    if spatial and not any(f.spatial and f.grid == grid for f in fields):
        return None  # the spatial size changed: not an elementwise op
    return _field(size, jump, offset, grid if spatial else fields[0].grid, spatial)


def _spatial_axis(f: Field, ndim: int, axis: int):
    """Which of the field's axes (0 .. nd-1) tensor axis ``axis`` is; ``None`` for another."""
    nd = len(f.size)
    a = axis % ndim - (ndim - nd)
    return a if f.spatial and a >= 0 else None


def _pad(f: Field, x, out, widths) -> Field:
    """Padding: the map grows by ``(before, after)`` cells per padded axis (the last
    ``len(widths)`` axes), each unit keeps its field, unit 0 is now ``before`` cells earlier."""
    offset = list(f.offset)
    for axis, (before, _) in enumerate(widths, start=x.ndim - len(widths)):
        a = _spatial_axis(f, x.ndim, axis)
        if a is not None:
            offset[a] -= before * f.jump[a]
    grid = _trailing(out.shape, len(f.size))
    return _field(f.size, f.jump, offset, grid if f.spatial else f.grid, f.spatial)


def _concat(fields, x, out, axis: int) -> Field:
    """Concatenation: the union of the inputs' fields; along a spatial axis the map grows and
    unit 0 is the first input's."""
    nd = len(fields[0].size)
    grid = _trailing(out.shape, nd)
    size, offset = _union(fields, nd)
    jump = [max(f.jump[a] for f in fields) for a in range(nd)]
    along = _spatial_axis(fields[0], x.ndim, axis)
    if along is not None:
        size[along], offset[along] = fields[0].size[along], fields[0].offset[along]
    spatial = all(f.spatial for f in fields) and grid is not None
    return _field(size, jump, offset, grid if spatial else fields[0].grid, spatial)


def _axes(axes, ndim: int) -> tuple:
    if axes is None:
        return tuple(range(ndim))
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    return tuple(a % ndim for a in axes)


def _spatial_axes_of(f: Field, ndim: int, axes) -> list:
    """Which of the field's axes (0 .. nd-1) the tensor axes ``axes`` are."""
    nd = len(f.size)
    return [a - (ndim - nd) for a in axes if a >= ndim - nd]


def _reduce(f: Field, x, out, axes, keepdim: bool) -> Field:
    axes = _axes(axes, x.ndim)
    if not f.spatial:
        return _mix(f, range(len(f.size)), False)
    mixed = _spatial_axes_of(f, x.ndim, axes)
    spatial = keepdim or not mixed
    return _mix(f, mixed, spatial, _trailing(out.shape, len(f.size)) if spatial else None)


def _first_cell(entry, n: int) -> int:
    """The lowest cell an index entry keeps along an axis of n cells."""
    if isinstance(entry, slice):
        kept = range(*entry.indices(n))
        return min(kept) if kept else 0
    return int(entry) % n


def _getitem(f: Field, x, out, index) -> Field:
    """Basic slicing: a step along a spatial axis multiplies its jump and the first kept cell
    moves the offset; an integer index there (or anything fancier) leaves the units' fields but
    not the map."""
    nd = len(f.size)
    entries = index if isinstance(index, tuple) else (index,)
    if not f.spatial or not all(isinstance(e, (slice, int, np.integer)) or e is Ellipsis
                                for e in entries):
        return replace(f, spatial=False)
    if Ellipsis in entries:
        at = entries.index(Ellipsis)
        fill = (slice(None),) * (x.ndim - len(entries) + 1)
        entries = entries[:at] + fill + entries[at + 1:]
    entries = entries + (slice(None),) * (x.ndim - len(entries))
    spatial_entries = entries[x.ndim - nd:]
    offset = [t + _first_cell(e, n) * j
              for t, j, e, n in zip(f.offset, f.jump, spatial_entries, x.shape[x.ndim - nd:])]
    if not all(isinstance(e, slice) for e in spatial_entries):
        return replace(f, offset=tuple(map(_number, offset)), spatial=False)
    steps = [abs(e.step or 1) for e in spatial_entries]
    return _field(f.size, [j * s for j, s in zip(f.jump, steps)], offset,
                  _trailing(out.shape, nd), True)


def _dense(fields, x, out) -> Field:
    """A product over the last axis (a linear layer, a matmul, LeNet's RBF units): on a map it
    mixes that spatial axis; on flattened features it mixes the whole map they came from."""
    f = fields[0] if fields[0] is not None else fields[1]
    nd = len(f.size)
    if f.spatial and fields[0] is not None and fields[1] is None and x.ndim > 1:
        return _mix(f, [nd - 1], True, _trailing(out.shape, nd))
    if fields[0] is not None and fields[1] is not None:
        f = _combine([fields[0], fields[1]], x) or fields[0]
    return _mix(f, range(nd), False)


def _conv_pad_before(padding) -> tuple:
    """A convolution's padding per axis as given to its op (ints, or (before, after) pairs):
    the cells before the first."""
    return tuple(p[0] if isinstance(p, (tuple, list)) else p for p in padding)


def propagate(fn, inputs, fields, out) -> Field | None:
    """The field of ``out = fn(*inputs)`` from the fields of its inputs.

    Args:
        fn: the :class:`~striate.autograd.Function` that ran.
        inputs: its input tensors (``None`` for an absent one).
        fields: the :class:`Field` of each input, ``None`` for one not computed from the model's
            input (a weight, a constant).
        out: its output tensor.

    Returns:
        the output's field; ``None`` when no input came from the model's input; ``UNKNOWN``
        when the op changes the spatial layout in a way these rules do not know.
    """
    known = [f for f in fields if f is not None]
    if not known:
        return None
    if not all(f.known for f in known):
        return UNKNOWN
    if not known[0].size:  # an input without spatial axes (an MLP): nothing to follow
        return known[0]
    f, x = known[0], inputs[0]
    if isinstance(fn, (ConvNd, DeformConv2d)):
        return _window(f, out, inputs[2 if isinstance(fn, DeformConv2d) else 1].shape[2:],
                       fn.stride, fn.dilation, _conv_pad_before(fn.padding))
    if isinstance(fn, ConvTransposeNd):
        return _window(f, out, inputs[1].shape[2:], fn.stride, fn.dilation,
                       _conv_pad_before(fn.padding), transposed=True)
    windows = getattr(fn, "windows", None)
    if isinstance(windows, Windows):  # max, average, Lp, stochastic pooling, LeNet subsampling
        return _window(f, out, windows.kernel, windows.stride, windows.dilation, windows.padding)
    if isinstance(fn, (AdaptiveAvgPool, AdaptiveMaxPool)):
        return _adaptive(f, out, fn.out_size)
    if isinstance(fn, FractionalMaxPool2d):  # the first window starts at cell 0
        stride = [n / o for n, o in zip(f.grid, fn.out_size)]
        return _window(f, out, fn.kernel, stride, (1, 1), (0, 0))
    if isinstance(fn, (Linear, RBFUnits, MatMul)):
        return _dense(fields, x, out)
    if isinstance(fn, (Sum, Mean, Max, Var)):
        return _reduce(f, x, out, fn.axes, fn.keepdim)
    if isinstance(fn, (Softmax, LogSoftmax)):
        return _reduce(f, x, x, fn.axis, True)  # mixes the axis, keeps the shape
    if isinstance(fn, Reshape):
        nd = len(f.size)
        return replace(f, spatial=_trailing(out.shape, nd) == f.grid)  # unflatten: a map again
    if isinstance(fn, Permute):
        nd, ndim = len(f.size), len(fn.axes)
        kept = fn.axes[ndim - nd:] == tuple(range(ndim - nd, ndim))
        return replace(f, spatial=f.spatial and kept)
    if isinstance(fn, GetItem):
        return _getitem(f, x, out, fn.index)
    if isinstance(fn, Pad):
        return _pad(f, x, out, fn.widths)
    if isinstance(fn, Concat):
        return _concat(known, x, out, fn.axis)
    return _combine(known, out) or UNKNOWN
