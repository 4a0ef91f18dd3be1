"""Fast kernels for the heavy ops, and the switch that chooses between them and the reference.

Every op's math lives once, readable, in ``striate.functional`` (the *reference* kernels). Where a
measurement showed the reference cannot keep up, an op hands the same computation to a fast kernel
from this package when one is selected and can run it:

- ``onednn``: oneDNN's convolution, batch normalisation and pooling on channels-last float32 arrays,
  and the fully connected layer's matrix products (CPU; needs Debian's ``libdnnl-dev`` at install
  time);
- ``reference``: NumPy/CuPy only.

The selection starts from the environment variable ``STRIATE_KERNELS`` (``onednn`` when unset) and
changes with :func:`use_kernels`. When ``onednn`` is selected but was not built, Striate says so
once and runs on the reference kernels::

    import striate.kernels
    striate.kernels.use_kernels("reference")     # e.g. to compare against the readable code
    striate.kernels.current()                    # -> 'reference'
"""
from __future__ import annotations

import os
import warnings

from . import onednn

__all__ = ["KERNELS", "use_kernels", "current", "conv_kernels", "norm_kernels", "pool_kernels",
           "matmul_kernels", "eltwise_kernels", "KernelWarning"]

KERNELS = ("onednn", "reference")
_DEFAULT = "onednn"


class KernelWarning(UserWarning):
    """Issued once when the selected fast kernels are not available."""


def _from_environment() -> str:
    name = os.environ.get("STRIATE_KERNELS", "").strip().lower()
    if name and name not in KERNELS:
        warnings.warn(f"Striate: STRIATE_KERNELS={name!r} is not one of {KERNELS}, "
                      f"using {_DEFAULT!r}", KernelWarning, stacklevel=3)
        return _DEFAULT
    return name or _DEFAULT


_selected = _from_environment()
_told = False


def use_kernels(name: str) -> str:
    """Select the kernels the ops use: ``"onednn"`` or ``"reference"``; returns :func:`current`."""
    global _selected
    if name not in KERNELS:
        raise ValueError(f"use_kernels: name must be one of {KERNELS}, got {name!r}")
    _selected = name
    return current()


def current() -> str:
    """The kernels in use: the selected ones, or ``"reference"`` when they are not available."""
    global _told
    if _selected == "onednn" and not onednn.available():
        if not _told:
            _told = True
            reason = onednn.unavailable_reason()
            warnings.warn("Striate: oneDNN kernels not available, using the reference kernels"
                          + (f" ({reason})" if reason else ""), KernelWarning, stacklevel=2)
        return "reference"
    return _selected


def conv_kernels(x, spatial_dims: int | None = None):
    """The fast convolution module for input array ``x``, or None to use the reference.

    Returns :mod:`striate.kernels.onednn` when it is selected, available and supports ``x``
    (a NumPy float32 array with 1 to 3 spatial axes: ``x.ndim - 2`` unless ``spatial_dims`` is
    given), else None.
    """
    if current() != "onednn" or type(x).__module__.split(".")[0] != "numpy":
        return None
    return onednn if onednn.supports(x.dtype, x.ndim - 2 if spatial_dims is None
                                     else spatial_dims) else None


def _numpy_float32(a) -> bool:
    return type(a).__module__.split(".")[0] == "numpy" and a.dtype == "float32"


def _onednn_float32(x) -> bool:
    """oneDNN is selected and available, and ``x`` is a NumPy float32 array."""
    return current() == "onednn" and _numpy_float32(x)


def norm_kernels(x):
    """The fast batch-normalisation module for input array ``x`` (N, C, *S), or None.

    Returns :mod:`striate.kernels.onednn` when it is selected and available and ``x`` is a NumPy
    float32 array with 1 to 3 spatial axes, else None (the op still checks the storage order).
    (N, C) inputs stay on the reference: on (128, 120) and (128, 1024) it measured 3-8x faster
    than oneDNN's call.
    """
    return onednn if _onednn_float32(x) and 3 <= x.ndim <= 5 else None


def pool_kernels(x, spatial_dims: int):
    """The fast pooling module for input array ``x`` (N, C, *S) pooled over its last
    ``spatial_dims`` axes, or None.

    Returns :mod:`striate.kernels.onednn` when it is selected and available and ``x`` is a batched
    NumPy float32 array (``x.ndim == spatial_dims + 2``) with 1 to 3 spatial axes, else None.
    """
    return (onednn if _onednn_float32(x) and spatial_dims in (1, 2, 3)
            and x.ndim == spatial_dims + 2 else None)


def matmul_kernels(x, *arrays):
    """The fast matrix-product module for the fully connected layer's input ``x``, or None.

    Returns :mod:`striate.kernels.onednn` when it is selected and available and ``x`` and every
    other array given (the weights, the bias; None skipped) are NumPy float32 arrays, else None.
    On oneDNN the layer's products share OpenMP's threads with the convolutions instead of
    fighting NumPy's BLAS threads for the cores (see :mod:`striate.functional.linear`).
    """
    if not _onednn_float32(x) or not all(a is None or _numpy_float32(a) for a in arrays):
        return None
    return onednn


# Below this many values NumPy's single-threaded ufunc beats the call into the C loop (measured:
# (128, 120) ReLU forward 9 us in NumPy, 18 us through ctypes and OpenMP).
ELTWISE_MIN_SIZE = 65536


def eltwise_kernels(x):
    """The fast elementwise module (ReLU) for array ``x``, or None.

    Returns :mod:`striate.kernels.onednn` when it is selected and available and ``x`` is a dense
    NumPy float32 array (C-contiguous, or an axis permutation of one, as the channels-last
    activations are) of at least :data:`ELTWISE_MIN_SIZE` values, else None.
    """
    if not _onednn_float32(x) or x.size < ELTWISE_MIN_SIZE or not onednn.dense(x):
        return None
    return onednn
