"""ReLU forward and backward on oneDNN's OpenMP threads (``_omp_eltwise.c``).

They compute what :class:`striate.functional.activation.ReLU` computes, over every value of a
float32 NumPy array whose memory is *dense* (C-contiguous, or a permutation of a C-contiguous
array, as the channels-last activations are: an ``(N, C, H, W)`` array stored ``(N, H, W, C)``)::

    forward    y = max(x, 0)                 (NaN stays NaN)
    backward   gx = gy * [y > 0]             (y > 0 exactly where x > 0; 0 at x = 0, as PyTorch)

The backward reads the forward's *output*, which the next layer keeps anyway, instead of a mask
of x > 0: one pass less in the forward and no mask in memory. Both passes run on oneDNN's OpenMP
threads; NumPy's ufuncs use one core. (oneDNN's own eltwise ReLU maps NaN to 0, so it is not
used: a diverging network must reach its loss as NaN.)

Measured on the 2-core machine, (128, 16, 28, 28) float32 channels-last (ResNet-20's first
stage), 2 threads: NumPy's forward (``x > 0`` for the mask, then ``maximum``) 0.86 ms and
backward (``gy * mask``) 0.89 ms; see :func:`striate.functional.activation.ReLU` for oneDNN's.
"""
from __future__ import annotations

import numpy as np

from ._library import load
from .conv import _FLOAT32

__all__ = ["dense", "same_layout", "relu_forward", "relu_backward"]


def dense(a) -> bool:
    """True when ``a`` is a float32 NumPy array whose values fill one block of memory in some
    axis order (positive strides, no gaps, no overlaps): the flat layout the kernels read."""
    if not isinstance(a, np.ndarray) or a.dtype != _FLOAT32:
        return False
    if a.flags.c_contiguous:
        return True
    expected = a.itemsize  # from the fastest axis out, each stride spans the axes inside it
    for stride, size in sorted(zip(a.strides, a.shape)):
        if size > 1:
            if stride != expected:
                return False
            expected *= size
    return a.size > 0


def same_layout(a, b) -> bool:
    """True when float32 arrays ``a`` and ``b`` have one shape and store it in one order (the
    strides agree on every axis longer than 1; a length-1 axis's stride means nothing)."""
    return (isinstance(b, np.ndarray) and b.dtype == a.dtype and b.shape == a.shape
            and all(sa == sb for sa, sb, n in zip(a.strides, b.strides, a.shape) if n > 1))


def _check_dense(a, name: str, op: str) -> None:
    if not dense(a):
        raise ValueError(f"{op}: {name} must be a dense float32 NumPy array (C-contiguous or "
                         f"an axis permutation of one), got "
                         f"{getattr(a, 'dtype', type(a).__name__)} with strides "
                         f"{getattr(a, 'strides', None)}")


def relu_forward(x, out=None) -> np.ndarray:
    """y = max(x, 0), shaped and stored as ``x`` (``out``, when given, must be stored so too)."""
    op = "relu_forward"
    _check_dense(x, "x", op)
    y = np.empty_like(x) if out is None else out
    if not same_layout(x, y) or not y.flags.writeable:
        raise ValueError(f"{op}: out must be a writeable array shaped and stored as x "
                         f"{x.shape} {x.strides}, got {y.shape} {y.strides}")
    load().srelu_forward(x.size, x.ctypes.data, y.ctypes.data)
    return y


def relu_backward(y, gy, out=None) -> np.ndarray:
    """gx = gy * [y > 0], from the forward's output ``y``; ``gy`` (and ``out``) shaped and
    stored as ``y``."""
    op = "relu_backward"
    _check_dense(y, "y", op)
    gx = np.empty_like(y) if out is None else out
    for name, a in (("gy", gy), ("out", gx)):
        if not same_layout(y, a) or (a is gx and not gx.flags.writeable):
            raise ValueError(f"{op}: {name} must be a float32 array shaped and stored as y "
                             f"{y.shape} {y.strides}, got {getattr(a, 'shape', a)} "
                             f"{getattr(a, 'strides', '')}")
    load().srelu_backward(y.size, y.ctypes.data, gy.ctypes.data, gx.ctypes.data)
    return gx
