"""Small helpers the layer modules share: argument tuples and parameter allocation."""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import get_default_dtype
from .module import Parameter

__all__ = ["is_int", "ntuple", "empty_parameter"]


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def ntuple(layer: str, arg: str, value, n: int) -> tuple:
    """``value`` (an int, or a sequence of ``n`` ints) as an ``n``-tuple, like torch's ``_pair``.

    Raises:
        TypeError: anything else, naming the layer and the argument.
    """
    if is_int(value):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(map(is_int, value)):
        return tuple(int(v) for v in value)
    raise TypeError(f"{layer}: {arg} must be an int or a tuple of {n} ints, got {value!r}")


def empty_parameter(*shape) -> Parameter:
    """A Parameter of ``shape`` in the default dtype, to be filled by an init scheme."""
    return Parameter(np.zeros(shape, dtype=get_default_dtype()))
