"""Pooling to a fixed output size (checklist P3): adaptive, global and spatial pyramid pooling.

Adaptive pooling chooses the windows from the sizes instead of taking a kernel: along an axis of
input size I and output size O, output cell i pools the bin

    [floor(i * I / O), ceil((i + 1) * I / O))           (PyTorch's rule)

so bins cover the input, neighbours may share an element, and any input size gives the same
output size: what lets a network with a fully connected head take images of any size. Global
pooling is the case O = 1 (Network-in-Network and GoogLeNet end with a global average instead of
fully connected layers); spatial pyramid pooling (He et al. 2014) concatenates several of them.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..autograd import Function, Tensor
from ..backend import get_array_module
from .pooling import check_input, first_max_offset, is_int, scatter_to_planes
from .reduction import mean
from .shape import cat, reshape

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
           "global_avg_pool2d", "global_max_pool2d", "spatial_pyramid_pool2d"]


def adaptive_bins(n_in: int, n_out: int):
    """(start, end) of the ``n_out`` bins over ``n_in`` elements, as integer arrays (exact:
    floor(i*I/O) and ceil((i+1)*I/O) in integer arithmetic)."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def averaging_matrix(n_in: int, n_out: int) -> np.ndarray:
    """A (O, I): row o holds 1 / (size of bin o) over bin o and 0 elsewhere; A @ v averages v per
    bin."""
    start, end = adaptive_bins(n_in, n_out)
    i = np.arange(n_in)
    inside = (i >= start[:, None]) & (i < end[:, None])
    return inside / (end - start)[:, None]


def bin_table(n_in: int, n_out: int) -> np.ndarray:
    """(O, widest bin) element indices of each bin; a shorter bin repeats its last element, which
    changes neither its maximum nor where the maximum is first (or, for NaN, last) found."""
    start, end = adaptive_bins(n_in, n_out)
    width = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(width), end[:, None] - 1)


def _apply_along(y, a, axis: int):
    """``a`` (O, I) applied along ``axis`` of y: out[..., o, ...] = sum_i a[o, i] y[..., i, ...]."""
    xp = get_array_module(y)
    return xp.moveaxis(xp.moveaxis(y, axis, -1) @ a.T, -1, axis)


class AdaptiveAvgPool(Function):
    """Adaptive average pooling (P3) to ``out_size`` over the last len(out_size) axes.

    A box of bins is a product of intervals, so its mean is one averaging matrix per axis
    (:func:`averaging_matrix`), applied axis after axis; in 2-D

        y[n, c] = A_H @ x[n, c] @ A_W^T,        gx[n, c] = A_H^T @ gy[n, c] @ A_W.

    Shapes: x (N, C, *I), y and gy (N, C, *O), A_axis (O_axis, I_axis).
    """

    def __init__(self, out_size: tuple):
        self.out_size = out_size

    def forward(self, x):
        xp = get_array_module(x)
        d = len(self.out_size)
        self.matrices = [xp.asarray(averaging_matrix(n, o), dtype=x.dtype)
                         for n, o in zip(x.shape[-d:], self.out_size)]
        self.x = x  # for its layout: gx is stored as x is (channels last inside a network)
        y = x
        for axis, a in enumerate(self.matrices, start=x.ndim - d):
            y = _apply_along(y, a, axis)
        return xp.ascontiguousarray(y)

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = gy
        for axis, a in enumerate(self.matrices, start=gy.ndim - len(self.out_size)):
            gx = _apply_along(gx, a.T, axis)
        out = xp.empty_like(self.x, dtype=gy.dtype)
        out[...] = gx
        return out


class AdaptiveMaxPool(Function):
    """Adaptive max pooling (P3): y = the maximum of each bin; the gradient goes to its argmax
    (the first maximum in scan order, the last NaN: PyTorch's rule).

    Each axis gets a :func:`bin_table` T (O, width). For every combination of table columns the
    gathered x[..., T_D[:, a], T_H[:, b], T_W[:, c]] (an open-mesh index, shaped like y) holds one
    element of every bin; a running maximum over them is y. Backward adds gy at the chosen
    elements (bins may share elements, so with ``add.at``).

    Shapes: x (N, C, *I), y and gy (N, C, *O); forward keeps the chosen flat plane indices (int64).
    """

    def __init__(self, out_size: tuple):
        self.out_size = out_size

    def forward(self, x):
        xp = get_array_module(x)
        d = len(self.out_size)
        in_size = x.shape[-d:]
        tables = [bin_table(n, o) for n, o in zip(in_size, self.out_size)]
        values = []
        for columns in itertools.product(*(range(t.shape[1]) for t in tables)):
            mesh = np.ix_(*(t[:, j] for t, j in zip(tables, columns)))
            values.append(x[(Ellipsis,) + tuple(xp.asarray(m) for m in mesh)])  # (N, C, *O)
        y = values[0].copy()
        for v in values[1:]:
            xp.maximum(y, v, out=y)
        arg = first_max_offset(values, y)
        # the chosen element's position along each axis, then its flat index in the plane
        columns = xp.unravel_index(arg.astype(np.int64), tuple(t.shape[1] for t in tables))
        self.indices = 0
        for axis, (t, j) in enumerate(zip(tables, columns)):
            o = xp.arange(t.shape[0]).reshape((-1,) + (1,) * (d - axis - 1))
            self.indices = self.indices * in_size[axis] + xp.asarray(t)[o, j]
        self.in_shape = x.shape
        return y

    def backward(self, gy):
        return scatter_to_planes(gy, self.indices, self.in_shape, len(self.out_size))


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def _output_size(op: str, output_size, x: Tensor, d: int) -> tuple:
    """``output_size`` (an int, or d entries each an int or None for "keep") as d positive ints."""
    entries = (output_size,) * d if is_int(output_size) or output_size is None else output_size
    if not isinstance(entries, (tuple, list)) or len(entries) != d:
        raise TypeError(f"{op}: output_size must be an int or a tuple of {d} ints (or None), "
                        f"got {output_size!r}")
    size = []
    for entry, n in zip(entries, x.shape[-d:]):
        if entry is not None and not is_int(entry):
            raise TypeError(f"{op}: output_size entries must be ints or None, got {output_size!r}")
        size.append(n if entry is None else int(entry))
    if min(size) < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return tuple(size)


def _adaptive_avg(op, d, input, output_size):
    x = check_input(op, input, d)
    return AdaptiveAvgPool(_output_size(op, output_size, x, d))(x)


def _adaptive_max(op, d, input, output_size, return_indices):
    x = check_input(op, input, d)
    fn = AdaptiveMaxPool(_output_size(op, output_size, x, d))
    y = fn(x)
    return (y, Tensor(fn.indices)) if return_indices else y


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    """Average over L bins of (N, C, L) to (N, C, output_size); see :func:`adaptive_avg_pool2d`."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Adaptive average pooling (P3), like ``torch.nn.functional.adaptive_avg_pool2d``.

    y[n, c, i, j] is the mean of x[n, c] over the rows [floor(i*H/OH), ceil((i+1)*H/OH)) and the
    columns [floor(j*W/OW), ceil((j+1)*W/OW)).

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        output_size: OH or (OH, OW); an entry None keeps that input size.

    Returns:
        (N, C, OH, OW).
    """
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):  # noqa: A002
    """Adaptive average pooling of (N, C, D, H, W) to (N, C, OD, OH, OW); see the 2-D one."""
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):  # noqa: A002
    """Maximum over L bins of (N, C, L); see :func:`adaptive_max_pool2d`."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    """Adaptive max pooling (P3), like ``torch.nn.functional.adaptive_max_pool2d``.

    y[n, c, i, j] is the maximum of x[n, c] over the bins of :func:`adaptive_avg_pool2d`; the
    gradient goes to that maximum only.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        output_size: OH or (OH, OW); an entry None keeps that input size.
        return_indices: also return the flat index h * W + w of each maximum (int64).
    """
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):  # noqa: A002
    """Adaptive max pooling of (N, C, D, H, W); see :func:`adaptive_max_pool2d`."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


def global_avg_pool2d(input, keepdim: bool = False) -> Tensor:  # noqa: A002
    """Global average pooling (P3, Network-in-Network): the mean of each channel plane.

    (N, C, H, W) -> (N, C), or (N, C, 1, 1) with ``keepdim``; likewise for unbatched (C, H, W).
    """
    x = check_input("global_avg_pool2d", input, 2)
    return mean(x, dim=(-2, -1), keepdim=keepdim)


def global_max_pool2d(input, keepdim: bool = False) -> Tensor:  # noqa: A002
    """Global max pooling (P3): the maximum of each channel plane, its gradient to the argmax.

    (N, C, H, W) -> (N, C), or (N, C, 1, 1) with ``keepdim``; likewise for unbatched (C, H, W).
    """
    x = check_input("global_max_pool2d", input, 2)
    y = AdaptiveMaxPool((1, 1))(x)
    return y if keepdim else reshape(y, y.shape[:-2])


def spatial_pyramid_pool2d(input, levels=(1, 2, 4), mode: str = "max") -> Tensor:  # noqa: A002
    """Spatial pyramid pooling (He et al. 2014): a fixed-length vector from any image size.

    For each level n the input is pooled adaptively to n x n (max or average per bin), flattened
    channel-major to C*n*n values, and the levels are concatenated:

        (N, C, H, W) -> (N, C * sum(n^2 for n in levels))       ((C, H, W) -> (C * sum n^2,))

    The bins are PyTorch's adaptive ones (see the module docstring); the paper's windows
    (size ceil(H/n), stride floor(H/n)) differ from them only at the borders.

    Args:
        input: floating point, with H, W >= max(levels).
        levels: the pyramid's grid sizes, e.g. (1, 2, 4) (21 bins per channel).
        mode: ``"max"`` or ``"avg"``.
    """
    op = "spatial_pyramid_pool2d"
    x = check_input(op, input, 2)
    if (not isinstance(levels, (tuple, list)) or not levels
            or not all(is_int(n) and n > 0 for n in levels)):
        raise ValueError(f"{op}: levels must be a non-empty sequence of positive ints, "
                         f"got {levels!r}")
    if mode not in ("max", "avg"):
        raise ValueError(f"{op}: mode must be 'max' or 'avg', got {mode!r}")
    if min(x.shape[-2:]) < max(levels):
        raise ValueError(f"{op}: the input plane {x.shape[-2:]} is smaller than the largest "
                         f"level {max(levels)}")
    pool = AdaptiveMaxPool if mode == "max" else AdaptiveAvgPool
    lead, channels = x.shape[:-3], x.shape[-3]
    parts = [reshape(pool((n, n))(x), lead + (channels * n * n,)) for n in levels]
    return cat(parts, dim=-1)
