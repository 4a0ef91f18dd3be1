"""Striate: convolutional neural networks from first principles.

Every op of the CNN lectures, written out in NumPy (CuPy on a GPU) with its forward and backward
side by side, on a small reverse-mode autodiff engine, and checked against PyTorch::

    import striate
    import striate.functional as F

    x = striate.randn(8, 1, 28, 28)
    w = striate.randn(6, 1, 5, 5, requires_grad=True)
    loss = F.relu(F.conv2d(x, w, padding=2)).mean()
    loss.backward()            # w.grad now holds d loss / d w
"""
from __future__ import annotations

import os

# OpenBLAS's idle threads otherwise spin after every NumPy product and slow the oneDNN kernels'
# OpenMP threads (measured: a conv after a matmul 8 ms instead of 3-5). Effective only when
# striate is imported before NumPy; a user's own setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

from . import backend  # noqa: E402
from .autograd import (Function, Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad,
                       set_grad_enabled, tensor)
from .backend import (get_array_module, get_default_dtype, get_rng_state, manual_seed,
                      set_default_dtype, set_rng_state)
from . import functional
from .functional import cat, stack, where
from .gradcheck import GradcheckError, gradcheck
from .kernels import use_kernels
from .kernels.memory import keep_freed_memory
from .kernels.threads import get_num_threads, set_num_threads
from . import data, nn, optim, train  # noqa: E402
from . import analysis  # noqa: E402  (after nn: it reads the layers)

keep_freed_memory()  # freed arrays are reused by the next step, not returned to the system

__version__ = "0.1.0"

float32 = np.float32
float64 = np.float64
int64 = np.int64

__all__ = [
    "Tensor", "Function", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "set_grad_enabled", "manual_seed", "get_rng_state", "set_rng_state", "get_default_dtype",
    "set_default_dtype", "get_array_module", "gradcheck", "GradcheckError", "functional",
    "zeros", "ones", "full", "arange", "randn", "rand", "zeros_like", "ones_like", "cat", "stack",
    "where", "float32", "float64", "int64", "backend", "use_kernels", "set_num_threads",
    "get_num_threads", "nn", "optim", "data", "train", "analysis",
]


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def _dtype(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (default dtype float32)."""
    return Tensor(np.zeros(_shape(shape), _dtype(dtype)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (default dtype float32)."""
    return Tensor(np.ones(_shape(shape), _dtype(dtype)), requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``."""
    return Tensor(np.full(tuple(shape), fill_value, _dtype(dtype)), requires_grad=requires_grad)


def zeros_like(x, requires_grad: bool = False) -> Tensor:
    x = as_tensor(x)
    return Tensor(get_array_module(x.data).zeros_like(x.data), requires_grad=requires_grad)


def ones_like(x, requires_grad: bool = False) -> Tensor:
    x = as_tensor(x)
    return Tensor(get_array_module(x.data).ones_like(x.data), requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in ``[start, stop)``, like ``torch.arange``."""
    if stop is None:
        start, stop = 0, start
    return Tensor(np.arange(start, stop, step, dtype=dtype))


def randn(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from Striate's seeded generator."""
    data = backend.get_generator().standard_normal(_shape(shape)).astype(_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from Striate's seeded generator."""
    data = backend.get_generator().random(_shape(shape)).astype(_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)
