"""The array module, the default dtype and the one random generator.

Every op asks ``xp = get_array_module(x)`` for the module that owns its arrays: NumPy on the CPU,
CuPy on a GPU when the arrays live there. Nothing else in Striate needs to know which one it runs on.

Random numbers come from one generator, seeded by :func:`manual_seed`, so a run that seeds once is
reproducible op by op (dropout masks, stochastic pooling, initialisation, shuffling).
"""
from __future__ import annotations

import numpy as np

try:  # CuPy is optional; without it everything runs on NumPy.
    import cupy as _cupy  # type: ignore
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

__all__ = [
    "get_array_module", "cupy_available", "get_default_dtype", "set_default_dtype",
    "manual_seed", "get_generator", "get_rng_state", "set_rng_state", "to_numpy",
]


def cupy_available() -> bool:
    """True when CuPy imported and can see a GPU."""
    return _cupy is not None


def get_array_module(*arrays):
    """Return ``cupy`` if any of ``arrays`` is a CuPy array, else ``numpy``.

    Accepts arrays, Tensors (their ``.data`` is looked at) and ``None`` (ignored).
    """
    if _cupy is not None:
        for a in arrays:
            a = getattr(a, "data", a)
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def to_numpy(a) -> np.ndarray:
    """Bring an array to the host as a NumPy array (a no-op for NumPy arrays)."""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy.asnumpy(a)
    return np.asarray(a)


# ---------------------------------------------------------------------------------------------
# Default floating dtype
# ---------------------------------------------------------------------------------------------
_default_dtype = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors get from Python floats (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype: ``float32`` or ``float64``."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: expected float32 or float64, got {dtype}")
    _default_dtype = dtype


# ---------------------------------------------------------------------------------------------
# Random generator
# ---------------------------------------------------------------------------------------------
_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the one generator every random op in Striate draws from, and return it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def get_generator(xp=np):
    """The generator random ops draw from.

    On NumPy this is the seeded ``numpy.random.Generator``. On CuPy, a CuPy generator seeded from
    it, so one ``manual_seed`` fixes both.
    """
    if xp is np:
        return _generator
    return xp.random.default_rng(int(_generator.integers(2**63 - 1)))  # pragma: no cover


def get_rng_state() -> dict:
    """The generator's state as a JSON-serialisable dict (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    _generator.bit_generator.state = state
