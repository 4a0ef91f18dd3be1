"""Shape ops: reshape, transpose, permute, flatten, cat, stack, split, where, indexing and pad.

None of these changes a value; each only moves values around. So each backward moves the output
gradient back to where the value came from: the inverse reshape or permutation, a slice of the
concatenated gradient, or a scatter-add for indexing and padding (an element copied to several
places receives the sum of their gradients).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module

__all__ = ["reshape", "transpose", "permute", "flatten", "squeeze", "unsqueeze", "cat", "stack",
           "split", "where", "getitem", "pad", "pad_indices"]


def _axis(op: str, dim: int, ndim: int, arg: str = "dim") -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: {arg} must be an int, got {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: {arg}={dim} is out of range for {ndim} dimensions")
    return int(dim) % ndim


class Reshape(Function):
    """y = x viewed with another shape;  gx = gy viewed with x's shape."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


class Permute(Function):
    """y = x with its axes reordered;  gx = gy with the inverse permutation."""

    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return gy.transpose(tuple(np.argsort(self.axes)))


class Concat(Function):
    """y = [x_1, ..., x_k] joined along ``axis``;  g x_i = the slice of gy that x_i filled."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = get_array_module(*xs)
        self.bounds = np.cumsum([0] + [x.shape[self.axis] for x in xs])
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        index = [slice(None)] * gy.ndim
        gxs = []
        for i, needed in enumerate(self.needs_input_grad):
            index[self.axis] = slice(self.bounds[i], self.bounds[i + 1])
            gxs.append(gy[tuple(index)] if needed else None)
        return tuple(gxs)


class Where(Function):
    """y = a where cond else b;  ga = gy where cond, gb = gy elsewhere (summed to their shapes)."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return get_array_module(a).where(self.cond, a, b)

    def backward(self, gy):
        from .elementwise import sum_to
        xp = get_array_module(gy)
        zero = xp.zeros((), dtype=gy.dtype)
        ga = sum_to(xp.where(self.cond, gy, zero), self.a_shape) if self.needs_input_grad[0] \
            else None
        gb = sum_to(xp.where(self.cond, zero, gy), self.b_shape) if self.needs_input_grad[1] \
            else None
        return ga, gb


def _is_basic_index(index) -> bool:
    """True when indexing makes a view (ints, slices, None, Ellipsis): no element repeats."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))
               for p in parts)


class GetItem(Function):
    """y = x[index];  gx = zeros with gy added at the indexed places (repeats accumulate)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros_like(gy, shape=self.in_shape)  # stored as gy is (e.g. channels last)
        if _is_basic_index(self.index):
            gx[self.index] = gy
        else:
            xp.add.at(gx, self.index, gy)
        return gx


def pad_indices(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of each padded position along one axis, for the copying modes.

    ``reflect`` mirrors without repeating the edge (``dcb|abcd|cba``), ``replicate`` repeats the
    edge (``aaa|abcd|ddd``), ``circular`` wraps around (``bcd|abcd|abc``).
    """
    pos = np.arange(-before, size + after)
    if mode == "reflect":
        period = 2 * (size - 1)
        pos = np.abs(pos) % period if period else np.zeros_like(pos)
        return np.where(pos >= size, period - pos, pos)
    if mode == "replicate":
        return np.clip(pos, 0, size - 1)
    if mode == "circular":
        return pos % size
    raise ValueError(f"pad: unknown mode {mode!r}")


class Pad(Function):
    """Pad the last ``len(widths)`` axes.

    ``constant``: y is x placed inside a block filled with ``value``; gx is gy's inner block.
    The copying modes gather ``x`` along each padded axis with :func:`pad_indices`; their backward
    scatter-adds gy back along the same indices, axis by axis in reverse order, so a value copied
    into the border receives the border's gradient too.
    """

    def __init__(self, widths, mode, value):
        self.widths, self.mode, self.value = widths, mode, value  # ((before, after), ...) by axis

    def forward(self, x):
        xp = get_array_module(x)
        lead = x.ndim - len(self.widths)
        self.in_shape = x.shape
        if self.mode == "constant":
            out_shape = x.shape[:lead] + tuple(
                n + b + a for n, (b, a) in zip(x.shape[lead:], self.widths))
            y = xp.full_like(x, self.value, shape=out_shape)  # stored as x is
            dst, src = self._blocks(lead, x.shape)
            y[dst] = x[src]
            return y
        self.indices = [pad_indices(n, b, a, self.mode)
                        for n, (b, a) in zip(x.shape[lead:], self.widths)]
        for axis, idx in enumerate(self.indices, start=lead):
            x = xp.take(x, xp.asarray(idx), axis=axis)
        return x

    def _blocks(self, lead, in_shape):
        """Where the kept part of x lands in y, and which part of x is kept.

        A positive width adds a border; a negative one crops that many elements of x.
        """
        dst, src = [Ellipsis], [Ellipsis]
        for n, (b, a) in zip(in_shape[lead:], self.widths):
            start, stop = max(-b, 0), n - max(-a, 0)
            src.append(slice(start, stop))
            dst.append(slice(max(b, 0), max(b, 0) + stop - start))
        return tuple(dst), tuple(src)

    def backward(self, gy):
        xp = get_array_module(gy)
        lead = gy.ndim - len(self.widths)
        if self.mode == "constant":
            dst, src = self._blocks(lead, self.in_shape)
            gx = xp.zeros_like(gy, shape=self.in_shape)
            gx[src] = gy[dst]
            return gx
        g = gy
        for axis in reversed(range(lead, gy.ndim)):
            idx = self.indices[axis - lead]
            moved = xp.moveaxis(g, axis, 0)
            acc = xp.zeros((self.in_shape[axis],) + moved.shape[1:], dtype=gy.dtype)
            xp.add.at(acc, xp.asarray(idx), moved)
            g = xp.moveaxis(acc, 0, axis)
        return g


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def reshape(x, *shape) -> Tensor:
    """``x`` with a new shape of the same size; one entry may be -1."""
    x = as_tensor(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        target = np.empty(x.shape, dtype=np.bool_).reshape(shape).shape  # resolves -1, checks size
    except ValueError:
        raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} "
                         f"({x.numel()} elements) as {tuple(shape)}") from None
    if target == x.shape:
        return x
    return Reshape(target)(x)


def permute(x, *dims) -> Tensor:
    """Reorder the axes: output axis i is input axis ``dims[i]``."""
    x = as_tensor(x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    axes = tuple(_axis("permute", d, x.ndim) for d in dims)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of {x.ndim} axes")
    return Permute(axes)(x)


def transpose(x, dim0: int, dim1: int) -> Tensor:
    """Swap two axes."""
    x = as_tensor(x)
    axes = list(range(x.ndim))
    a, b = _axis("transpose", dim0, x.ndim, "dim0"), _axis("transpose", dim1, x.ndim, "dim1")
    axes[a], axes[b] = axes[b], axes[a]
    return Permute(axes)(x)


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _axis("flatten", start_dim, x.ndim, "start_dim"), _axis("flatten", end_dim, x.ndim,
                                                                   "end_dim")
    if s > e:
        raise ValueError(f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim})")
    return reshape(x, x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def squeeze(x, dim=None) -> Tensor:
    """Drop axes of size 1 (only ``dim`` when given)."""
    x = as_tensor(x)
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    d = _axis("squeeze", dim, x.ndim)
    return reshape(x, x.shape[:d] + x.shape[d + 1:]) if x.shape[d] == 1 else x


def unsqueeze(x, dim: int) -> Tensor:
    """Insert an axis of size 1 at ``dim``."""
    x = as_tensor(x)
    d = _axis("unsqueeze", dim, x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing axis; all other sizes must agree."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    ref = tensors[0]
    axis = _axis("cat", dim, ref.ndim)
    for i, t in enumerate(tensors[1:], start=1):
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if j != axis):
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match "
                             f"tensor 0's {ref.shape} outside dim {dim}")
    return Concat(axis)(*tensors)


def stack(tensors, dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new axis ``dim``."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors[1:], start=1):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, expected {tensors[0].shape}")
    d = _axis("stack", dim, tensors[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in tensors], dim=d)


def split(x, split_size_or_sections, dim: int = 0) -> list[Tensor]:
    """Cut ``x`` along ``dim`` into chunks of one size (the last may be smaller) or given sizes."""
    x = as_tensor(x)
    axis = _axis("split", dim, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - s) for s in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {dim} "
                             f"has size {n}")
    out, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        out.append(getitem(x, index))
        start += size
    return out


def where(condition, x, y) -> Tensor:
    """``x`` where ``condition`` holds, else ``y`` (broadcast together)."""
    x_t = x if isinstance(x, Tensor) else None
    y_t = y if isinstance(y, Tensor) else None
    like = x_t if x_t is not None else y_t
    x, y = as_tensor(x, like=like), as_tensor(y, like=like)
    cond = condition.data if isinstance(condition, Tensor) else condition
    xp = get_array_module(x.data)
    cond = xp.asarray(cond)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {cond.dtype}")
    return Where(cond)(x, y)


def getitem(x, index) -> Tensor:
    """``x[index]`` with NumPy's basic and advanced indexing; differentiable."""
    x = as_tensor(x)

    def raw(i):
        return i.data if isinstance(i, Tensor) else i

    index = tuple(raw(i) for i in index) if isinstance(index, tuple) else raw(index)
    return GetItem(index)(x)


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x, pad, mode: str = "constant", value: float = 0.0) -> Tensor:  # noqa: A002
    """Pad like ``torch.nn.functional.pad``.

    Args:
        x: the tensor.
        pad: ``(left, right)`` for the last axis, then ``(top, bottom)`` for the one before, ...
            (an even number of ints). In ``constant`` mode negative amounts crop.
        mode: ``constant`` (fill with ``value``), ``reflect`` (mirror, the edge not repeated),
            ``replicate`` (repeat the edge) or ``circular`` (wrap around).
        value: the fill value for ``constant``.
    """
    x = as_tensor(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of amounts, at most 2 per axis of the "
                         f"{x.ndim}-d input, got {pad}")
    if not all(isinstance(p, (int, np.integer)) for p in pad):
        raise TypeError(f"pad: amounts must be ints, got {pad}")
    # torch lists the last axis first; we store widths in axis order
    widths = tuple((int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2))[::-1]
    lead = x.ndim - len(widths)
    for (b, a), n in zip(widths, x.shape[lead:]):
        if mode != "constant" and (b < 0 or a < 0):
            raise ValueError(f"pad: {mode} padding needs non-negative amounts, got {pad}")
        if mode == "reflect" and (b >= n or a >= n):
            raise ValueError(f"pad: reflect padding must be smaller than the padded axis "
                             f"(size {n}), got {pad}")
        if mode == "circular" and (b > n or a > n):
            raise ValueError(f"pad: circular padding can wrap at most once (axis size {n}), "
                             f"got {pad}")
        if n + b + a < 0:
            raise ValueError(f"pad: amounts {pad} crop an axis of size {n} below zero")
    if all(b == 0 and a == 0 for b, a in widths):
        return x
    return Pad(widths, mode, value)(x)
