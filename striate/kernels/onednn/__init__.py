"""oneDNN kernels for the CPU: convolution forward, backward-data and backward-weights; batch
normalisation and max / average pooling forward and backward; the matrix products of the fully
connected layer; and ReLU, on the same OpenMP threads.

Measured on this project's machine (``docs/PERFORMANCE.md``), oneDNN's convolution on
channels-last float32 arrays beats im2col + BLAS and PyTorch's own layouts, so the convolution ops
hand their passes to it when it is installed (Debian: ``libdnnl-dev``, oneDNN 2.6; the sources
also build against oneDNN 3.x, see ``build.py``) and the selected kernels are ``"onednn"`` (see
:mod:`striate.kernels`). oneDNN has no float64 convolution on the CPU: float64 stays on the
reference kernels. Batch normalisation and pooling (``norm.py``,
``pool.py``) were kept where they measured faster than the NumPy reference on the same
channels-last arrays (see :mod:`striate.functional.normalization` and ``pooling``). The fully
connected layer's products (``matmul.py``) run here so that a training step's heavy ops all share
oneDNN's OpenMP threads instead of fighting NumPy's BLAS threads (see
:mod:`striate.functional.linear`). ReLU (``eltwise.py``) is a plain OpenMP loop in
``_omp_eltwise.c`` on those threads, not oneDNN's eltwise primitive, which maps NaN to 0.

    from striate.kernels import onednn
    if onednn.available():
        y = onednn.conv_forward(x_nhwc, w, b, stride=1, padding_l=1)      # (N, H, W, K)
"""
from __future__ import annotations

import ctypes

import numpy as np

from ._library import available, load, unavailable_reason
# the modules first: the function matmul below then takes the package attribute "matmul"
from . import conv as _conv, matmul as _matmul, norm as _norm, pool as _pool, tuning
from .conv import (conv_backward_data, conv_backward_weights, conv_forward, conv_output_shape,
                   implementation_name)
from .norm import batch_norm_backward, batch_norm_forward, batch_norm_implementation_name
from .pool import pool_backward, pool_forward, pool_implementation_name, pool_output_shape
from .matmul import matmul, matmul_cache_info, matmul_implementation_name
from .eltwise import dense, relu_backward, relu_forward, same_layout

__all__ = [
    "available", "unavailable_reason", "supports", "version", "conv_forward",
    "conv_backward_data", "conv_backward_weights", "conv_output_shape", "implementation_name",
    "batch_norm_forward", "batch_norm_backward", "batch_norm_implementation_name",
    "pool_forward", "pool_backward", "pool_output_shape", "pool_implementation_name",
    "matmul", "matmul_implementation_name", "matmul_cache_info", "relu_forward", "relu_backward",
    "dense", "same_layout", "cache_info", "ops_cache_info",
    "clear_cache", "set_num_threads", "get_num_threads", "tuning",
]


def supports(dtype, spatial_dims: int) -> bool:
    """True when these kernels can run a convolution of this dtype with 1, 2 or 3 spatial axes."""
    return available() and np.dtype(dtype) == np.float32 and spatial_dims in (1, 2, 3)


def version() -> tuple:
    """oneDNN's (major, minor, patch), as loaded."""
    parts = [ctypes.c_int() for _ in range(3)]
    load().sconv_version(*(ctypes.byref(p) for p in parts))
    return tuple(p.value for p in parts)


def cache_info() -> dict:
    """The convolution primitive cache: ``entries`` (one per pass and configuration), ``hits``,
    ``misses`` (batch norm and pooling: :func:`ops_cache_info`; matrix products:
    :func:`matmul_cache_info`)."""
    values = [ctypes.c_long() for _ in range(3)]
    load().sconv_cache_info(*(ctypes.byref(v) for v in values))
    return dict(zip(("entries", "hits", "misses"), (v.value for v in values)))


def ops_cache_info() -> dict:
    """The batch-norm and pooling primitive cache: ``entries``, ``hits``, ``misses``."""
    values = [ctypes.c_long() for _ in range(3)]
    load().sops_cache_info(*(ctypes.byref(v) for v in values))
    return dict(zip(("entries", "hits", "misses"), (v.value for v in values)))


def clear_cache() -> None:
    """Destroy every cached primitive (convolution, batch norm, pooling, matrix product) and the
    shared scratchpad; reset the counters."""
    load().sops_cache_clear()
    load().smatmul_cache_clear()
    load().sconv_cache_clear()  # last: it also frees the shared scratchpad
    for module in (_conv, _matmul, _norm, _pool):
        module._plans.clear()


def set_num_threads(n: int) -> None:
    """Use ``n`` OpenMP threads in later oneDNN calls (``n <= 0``: OpenMP's default again).

    Primitives are cached per thread count, so switching back and forth costs nothing after the
    first call at each count. Raises RuntimeError if oneDNN was not built on OpenMP.
    """
    if load().sconv_set_num_threads(int(n)) != 0:
        raise RuntimeError("set_num_threads: this oneDNN is not built on OpenMP")
    _conv._plans.clear()  # their implementation choices were for the old thread count


def get_num_threads() -> int:
    """The number of OpenMP threads oneDNN's next call will use."""
    return load().sconv_get_num_threads()
