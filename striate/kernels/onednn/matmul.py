"""Matrix products through oneDNN: the three passes of the fully connected layer.

:func:`matmul` computes ``C = op(A) op(B) (+ bias)`` on float32 2-D C-contiguous NumPy arrays,
where ``op(A)`` is A or, with ``trans_a``, A's transpose (read in place: no copy), likewise B.
:class:`striate.functional.linear.Linear` runs on it as::

    forward    y  = x W^T + b     matmul(x, w, b, trans_b=True)     (M, in), (out, in) -> (M, out)
    gx         gx = gy W          matmul(gy, w)                     (M, out), (out, in) -> (M, in)
    gW         gW = gy^T x        matmul(gy, x, trans_a=True)       (M, out), (M, in) -> (out, in)

Why: NumPy's BLAS (OpenBLAS) threads spin after each product and fight oneDNN's OpenMP threads
for the cores; with the products on oneDNN, every heavy op of a training step shares one OpenMP
runtime. The primitive for each (M, K, N, transposes, bias) is created once (a JIT compile) and
cached in the C library (:func:`matmul_cache_info`).
"""
from __future__ import annotations

import ctypes

import numpy as np

from ._library import MatmulConfig, load
from .conv import _call, _check, _memoised, _output

__all__ = ["matmul", "matmul_implementation_name", "matmul_cache_info"]

_plans: dict = {}


def _plan(a_shape, b_shape, trans_a: bool, trans_b: bool, with_bias: bool, op: str):
    """The C configuration and output shape (M, N) for one product, checked and memoised."""
    return _memoised(_plans, _make_plan, (a_shape, b_shape, trans_a, trans_b, with_bias), op)


def _make_plan(a_shape, b_shape, trans_a: bool, trans_b: bool, with_bias: bool, op: str):
    if len(a_shape) != 2 or len(b_shape) != 2:
        raise ValueError(f"{op}: a and b must be 2-D, got shapes {a_shape} and {b_shape}")
    m, k = a_shape[::-1] if trans_a else a_shape
    k_b, n = b_shape[::-1] if trans_b else b_shape
    if k != k_b:
        raise ValueError(
            f"{op}: op(a) is ({m}, {k}) and op(b) is ({k_b}, {n}): inner sizes differ "
            f"(a {a_shape}{' transposed' if trans_a else ''}, "
            f"b {b_shape}{' transposed' if trans_b else ''})")
    config = MatmulConfig(m=m, k=k, n=n, trans_a=int(trans_a), trans_b=int(trans_b),
                          with_bias=int(with_bias))
    return config, (m, n)


def matmul(a, b, bias=None, trans_a: bool = False, trans_b: bool = False,
           out=None) -> np.ndarray:
    """``op(a) @ op(b) + bias``, op the identity or (``trans_a``, ``trans_b``) the transpose.

    Args:
        a: (M, K) float32 C-contiguous, or (K, M) with ``trans_a`` (then read as its transpose).
        b: (K, N) float32 C-contiguous, or (N, K) with ``trans_b``.
        bias: (N,) float32, added to every row, or None.
        out: optional preallocated (M, N) float32 C-contiguous array, not overlapping a, b, bias.

    Returns:
        (M, N) float32 (``out`` when given).
    """
    op = "matmul"
    _check(a, None, "a", op)
    _check(b, None, "b", op)
    config, shape = _plan(a.shape, b.shape, bool(trans_a), bool(trans_b), bias is not None, op)
    if bias is not None:
        _check(bias, (shape[1],), "bias", op)
    c = _output(out, shape, "out", op)
    if c.size == 0 or config.k == 0:  # an empty product: oneDNN wants M, K, N >= 1
        c[...] = 0 if bias is None else bias
        return c
    _call(load().smatmul, op, config, a, b, bias, c)
    return c


def matmul_implementation_name(a_shape, b_shape, trans_a: bool = False, trans_b: bool = False,
                               with_bias: bool = False) -> str:
    """The oneDNN implementation chosen for this product, e.g. ``'brg:avx512_core'`` or
    ``'gemm:jit'``. Creates and caches the primitive if needed."""
    op = "matmul_implementation_name"
    config, _ = _plan(tuple(a_shape), tuple(b_shape), bool(trans_a), bool(trans_b),
                      bool(with_bias), op)
    name = load().smatmul_impl_name(ctypes.byref(config))
    if name is None:
        raise RuntimeError(f"{op}: oneDNN failed ({load().sconv_last_error().decode()})")
    return name.decode()


def matmul_cache_info() -> dict:
    """The matrix-product primitive cache: ``entries``, ``hits``, ``misses``."""
    values = [ctypes.c_long() for _ in range(3)]
    load().smatmul_cache_info(*(ctypes.byref(v) for v in values))
    return dict(zip(("entries", "hits", "misses"), (v.value for v in values)))
