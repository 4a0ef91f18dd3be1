"""How many threads the heavy kernels use: oneDNN's OpenMP pool and NumPy's BLAS, together.

Striate's time goes to two thread pools: oneDNN's (convolutions, and the other fast kernels;
GNU OpenMP) and the BLAS that NumPy was built with (matrix products: linear layers, the reference
convolutions; OpenBLAS's own pthreads in NumPy's wheels). Both start one thread per core, which
is the default here too. :func:`set_num_threads` sets both at once, so that a benchmark or a
process sharing the machine can hold Striate to ``n`` cores, as ``torch.set_num_threads`` does::

    striate.set_num_threads(1)      # e.g. one training process per core
    striate.get_num_threads()       # -> 1

The pools also must not fight over the cores between calls: see :mod:`striate.kernels.onednn`
(OpenMP's short spin) and ``striate/__init__.py`` (OpenBLAS's ``OPENBLAS_THREAD_TIMEOUT``).
"""
from __future__ import annotations

import numbers
import os

from . import onednn

__all__ = ["set_num_threads", "get_num_threads"]

_threads: int | None = None


def _blas_limit(n: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl is a dependency; without it BLAS keeps its own count
        return
    threadpool_limits(limits=n, user_api="blas")


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in oneDNN's kernels and in NumPy's BLAS from now on.

    Raises:
        ValueError: ``n`` is not a positive int.
    """
    global _threads
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    n = int(n)
    if onednn.available():
        onednn.set_num_threads(n)
    _blas_limit(n)
    _threads = n


def get_num_threads() -> int:
    """The thread count set by :func:`set_num_threads`, else oneDNN's (OpenMP's) default, else
    the number of cores."""
    if _threads is not None:
        return _threads
    if onednn.available():
        return onednn.get_num_threads()
    return os.cpu_count() or 1
