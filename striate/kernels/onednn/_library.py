"""Finding and loading the compiled oneDNN kernels (``_dnnl_conv.c``, ``_dnnl_ops.c``,
``_dnnl_matmul.c``) with ctypes.

``pip install`` builds the C files (with ``_dnnl_common.c``) into one shared library next to this
file when oneDNN's headers and library are present (see ``build.py``); it is loaded on first use.
ctypes releases the GIL for the duration of each call.

Loading it starts oneDNN's OpenMP runtime (GNU libgomp), whose threads by default spin for a
while after each call, waiting for the next one. Measured on the 2-core machine, batch 128:

- alone, spinning helps small layers: LeNet's 6->16 forward+backward took 0.87 ms spinning,
  1.07-1.19 ms with ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep at once), 0.88 ms with
  ``GOMP_SPINCOUNT=10000``;
- beside NumPy's OpenBLAS threads, which spin too, both pools fight: a conv layer followed by a
  small matmul took 8 ms instead of 2.5-5 ms with any OpenMP setting, unless OpenBLAS stops
  spinning early (``OPENBLAS_THREAD_TIMEOUT=4``, read when NumPy loads: then 2.9 / 5.2 ms);
- with other processes busy on both cores, the default spinning made a layer 17x slower than on
  a quiet machine (``OMP_WAIT_POLICY=PASSIVE``: 3.6x).

So unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``, a short spin (10000 iterations)
is set before the runtime starts (too late if another library started it already in this process).
"""
from __future__ import annotations

import ctypes
import importlib.util
import os

__all__ = ["Config", "NormConfig", "PoolConfig", "MatmulConfig", "load", "available", "unavailable_reason"]

_MODULE = "striate.kernels.onednn._dnnl_conv"


class Config(ctypes.Structure):
    """One convolution, laid out as ``sconv_cfg`` in ``_dnnl_conv.c`` (dilation 1 = dense; impl:
    the name of the oneDNN implementation to run, empty for oneDNN's first choice, see
    :mod:`.tuning`)."""

    _fields_ = [
        ("nsp", ctypes.c_int64),
        ("n", ctypes.c_int64), ("c", ctypes.c_int64), ("k", ctypes.c_int64),
        ("groups", ctypes.c_int64),
        ("in_", ctypes.c_int64 * 3), ("ker", ctypes.c_int64 * 3), ("out", ctypes.c_int64 * 3),
        ("stride", ctypes.c_int64 * 3), ("dilation", ctypes.c_int64 * 3),
        ("pad_l", ctypes.c_int64 * 3), ("pad_r", ctypes.c_int64 * 3),
        ("with_bias", ctypes.c_int64),
        ("post_add", ctypes.c_int64),
        ("impl", ctypes.c_char * 56),
    ]


class NormConfig(ctypes.Structure):
    """One batch normalisation, laid out as ``sbnorm_cfg`` in ``_dnnl_ops.c``."""

    _fields_ = [
        ("nsp", ctypes.c_int64), ("n", ctypes.c_int64), ("c", ctypes.c_int64),
        ("sp", ctypes.c_int64 * 3), ("channels_last", ctypes.c_int64),
        ("flags", ctypes.c_int64), ("eps", ctypes.c_double),
    ]


class PoolConfig(ctypes.Structure):
    """One pooling, laid out as ``spool_cfg`` in ``_dnnl_ops.c`` (alg 0 max, 1 average including
    padding, 2 average excluding it; dilation 1 = dense)."""

    _fields_ = [
        ("nsp", ctypes.c_int64), ("n", ctypes.c_int64), ("c", ctypes.c_int64),
        ("in_", ctypes.c_int64 * 3), ("out", ctypes.c_int64 * 3),
        ("channels_last", ctypes.c_int64), ("alg", ctypes.c_int64),
        ("ker", ctypes.c_int64 * 3), ("stride", ctypes.c_int64 * 3),
        ("dilation", ctypes.c_int64 * 3), ("pad_l", ctypes.c_int64 * 3),
        ("pad_r", ctypes.c_int64 * 3),
    ]


class MatmulConfig(ctypes.Structure):
    """One matrix product C (M, N) = op(A) op(B) (+ bias), laid out as ``smatmul_cfg`` in
    ``_dnnl_matmul.c`` (trans_a: A given as its (K, M) transpose; trans_b: B as its (N, K))."""

    _fields_ = [
        ("m", ctypes.c_int64), ("k", ctypes.c_int64), ("n", ctypes.c_int64),
        ("trans_a", ctypes.c_int64), ("trans_b", ctypes.c_int64), ("with_bias", ctypes.c_int64),
    ]


_SIGNATURES = {
    # name: (result type, argument types)
    "sconv_forward": (ctypes.c_int, [ctypes.c_void_p] * 6),
    "sconv_backward_data": (ctypes.c_int, [ctypes.c_void_p] * 4),
    "sconv_backward_weights": (ctypes.c_int, [ctypes.c_void_p] * 5),
    "sconv_impl_name": (ctypes.c_char_p, [ctypes.c_int, ctypes.c_void_p]),
    "sconv_candidates": (ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                                        ctypes.c_int64]),
    "sconv_time": (ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                  ctypes.POINTER(ctypes.c_double)]),
    "sconv_cache_drop": (ctypes.c_int, [ctypes.c_int, ctypes.c_void_p]),
    "sconv_last_error": (ctypes.c_char_p, []),
    "sconv_cache_info": (None, [ctypes.POINTER(ctypes.c_long)] * 3),
    "sconv_cache_clear": (None, []),
    "sconv_set_num_threads": (ctypes.c_int, [ctypes.c_int]),
    "sconv_get_num_threads": (ctypes.c_int, []),
    "sconv_version": (None, [ctypes.POINTER(ctypes.c_int)] * 3),
    "sbnorm_forward": (ctypes.c_int, [ctypes.c_void_p] * 8),
    "sbnorm_backward": (ctypes.c_int, [ctypes.c_void_p] * 11),
    "sbnorm_workspace_bytes": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)]),
    "spool_forward": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p] * 3),
    "spool_backward": (ctypes.c_int, [ctypes.c_void_p] * 4),
    "spool_workspace_bytes": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)]),
    "srelu_forward": (None, [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]),
    "srelu_backward": (None, [ctypes.c_int64] + [ctypes.c_void_p] * 3),
    "sops_impl_name": (ctypes.c_char_p, [ctypes.c_int, ctypes.c_void_p]),
    "sops_cache_info": (None, [ctypes.POINTER(ctypes.c_long)] * 3),
    "sops_cache_clear": (None, []),
    "smatmul": (ctypes.c_int, [ctypes.c_void_p] * 5),
    "smatmul_impl_name": (ctypes.c_char_p, [ctypes.c_void_p]),
    "smatmul_cache_info": (None, [ctypes.POINTER(ctypes.c_long)] * 3),
    "smatmul_cache_clear": (None, []),
}

_library = None
_reason = None


def _find() -> str:
    """The library's path: ``STRIATE_ONEDNN_LIBRARY`` when set (a build of the same sources
    elsewhere, e.g. against another oneDNN version), else the extension next to this file."""
    override = os.environ.get("STRIATE_ONEDNN_LIBRARY")
    if override:
        if not os.path.isfile(override):
            raise OSError(f"STRIATE_ONEDNN_LIBRARY={override!r}: no such file")
        return override
    spec = importlib.util.find_spec(_MODULE)
    if spec is None or not spec.origin:
        raise OSError("the extension was not built (oneDNN's dnnl.h or libdnnl were missing when "
                      "Striate was installed; on Debian: apt-get install libdnnl-dev, then "
                      "reinstall Striate)")
    return spec.origin


def load() -> ctypes.CDLL:
    """The loaded library; raises OSError with the reason when it cannot be loaded."""
    global _library, _reason
    if _library is not None:
        return _library
    if _reason is not None:
        raise OSError(_reason)
    if "OMP_WAIT_POLICY" not in os.environ:  # read once, when libgomp starts
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    try:
        library = ctypes.CDLL(_find())
    except OSError as error:
        _reason = str(error)
        raise
    for name, (restype, argtypes) in _SIGNATURES.items():
        try:
            function = getattr(library, name)
        except AttributeError:  # a library built from older sources, without the newer kernels
            _reason = (f"{_find()} lacks {name}: it was built from older sources; rebuild it "
                       f"(python setup.py build_ext --inplace, or reinstall Striate)")
            raise OSError(_reason) from None
        function.restype = restype
        function.argtypes = argtypes
    _library = library
    return library


def available() -> bool:
    """True when the oneDNN kernels are built and load."""
    try:
        load()
    except OSError:
        return False
    return True


def unavailable_reason() -> str | None:
    """Why :func:`available` is False (None when it is True)."""
    return None if available() else _reason
