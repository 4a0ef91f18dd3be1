"""Constructor argument checks the layers share, with one message format:

    ``<Layer>: <arg> must be <what was expected>, got <what came>``

as in ``MaxPool2d: kernel_size must be positive, got 0``. Integer tuples are parsed by the existing
helpers (:func:`striate.nn.layers.ntuple` for layers that store n-tuples, as the convolutions do;
the pooling ops' ``as_tuple``, which also takes a 1-tuple, for the pooling layers), so a layer
rejects at construction exactly what its forward would reject later.
"""
from __future__ import annotations

import numbers

from ..functional.pooling import as_tuple
from .layers import ntuple

__all__ = ["check", "is_real", "int_tuple"]


def check(layer: str, arg: str, value, ok: bool, expected: str, error=ValueError):
    """Raise ``error("<layer>: <arg> must be <expected>, got <value!r>")`` unless ``ok``;
    return ``value``."""
    if not ok:
        raise error(f"{layer}: {arg} must be {expected}, got {value!r}")
    return value


def is_real(v) -> bool:
    """A real number (int, float, NumPy scalar), not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def int_tuple(layer: str, arg: str, value, n: int, low: int = 1, *, one: bool = False) -> tuple:
    """``value`` (an int or a tuple of ``n`` ints; with ``one`` also a 1-tuple) as an ``n``-tuple
    of ints, each at least ``low``.

    Raises:
        TypeError: not an int or a tuple of ints (the parser's message).
        ValueError: an entry below ``low`` ("must be positive" or "non-negative").
    """
    t = as_tuple(layer, arg, value, n) if one else ntuple(layer, arg, value, n)
    check(layer, arg, value, min(t) >= low, "positive" if low >= 1 else "non-negative")
    return t
