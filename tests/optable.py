"""The op table's row type and the input makers its rows share.

One :class:`OpSpec` per op configuration. ``tests/test_ops.py`` runs every row through the same
checks: forward against PyTorch (float32 with the row's tolerance, float64 tight), backward against
PyTorch with a random upstream gradient, and a float64 finite-difference gradient check.

Rows live in ``tests/opspecs/<family>.py`` as a list named ``OPS``; ``tests/opspecs/__init__.py``
joins them into one table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class OpSpec:
    """One op configuration to check.

    Attributes:
        name: the test id, e.g. ``"conv2d-stride2"``.
        op: the Striate callable, ``op(*tensors, **kwargs)``.
        ref: the PyTorch callable, ``ref(*torch_tensors, **ref_kwargs)``; ``None`` when PyTorch
            has no twin (then only the finite-difference check runs, plus the family's own tests).
        shapes: the input shapes; an entry ``None`` passes ``None`` (an omitted bias).
        kwargs: keyword arguments for ``op`` (and for ``ref`` unless ``ref_kwargs`` is given).
        ref_kwargs: keyword arguments for ``ref`` when PyTorch's differ.
        make_inputs: ``make_inputs(rng) -> list of float64 arrays (or None / int arrays)``, for
            inputs a plain normal draw would not suit (positive values, labels, no ties).
        grad_inputs: indices of the inputs to differentiate; default: every floating input.
        atol32, rtol32: float32 forward/backward tolerance against PyTorch.
        atol64, rtol64: float64 tolerance against PyTorch.
        gradcheck: run the finite-difference check.
        gradcheck_mode: ``"full"`` Jacobian, or ``"random"`` directions for bigger shapes.
        gradcheck_atol, gradcheck_rtol, gradcheck_eps: its tolerances and step.
    """

    name: str
    op: Callable
    ref: Callable | None
    shapes: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    ref_kwargs: dict | None = None
    make_inputs: Callable | None = None
    grad_inputs: tuple | None = None
    atol32: float = 1e-5
    rtol32: float = 1e-4
    atol64: float = 1e-10
    rtol64: float = 1e-8
    gradcheck: bool = True
    gradcheck_mode: str = "full"
    gradcheck_atol: float = 1e-5
    gradcheck_rtol: float = 1e-3
    gradcheck_eps: float = 1e-6

    def inputs(self, seed: int = 0) -> list:
        """The op's inputs as float64 NumPy arrays (or ints / None), the same for each seed."""
        rng = np.random.default_rng(seed)
        if self.make_inputs is not None:
            return list(self.make_inputs(rng))
        return [None if s is None else rng.standard_normal(s) for s in self.shapes]

    def differentiable(self, arrays) -> list[int]:
        if self.grad_inputs is not None:
            return list(self.grad_inputs)
        return [i for i, a in enumerate(arrays)
                if isinstance(a, np.ndarray) and a.dtype.kind == "f"]

    def __repr__(self):
        return self.name


# ---- input makers shared by the families -----------------------------------------------------
def away_from_zero(shape, margin: float = 0.1):
    """Normal draws pushed at least ``margin`` away from 0 (keeps finite differences off kinks)."""
    def make(rng):
        x = rng.standard_normal(shape)
        return np.where(x >= 0, x + margin, x - margin)
    return make


def distinct(shape, spacing: float = 0.05):
    """A random permutation of well-separated values: no ties for max-type ops, even at +-eps."""
    def make(rng):
        n = int(np.prod(shape))
        values = (np.arange(n) - n / 2) * spacing
        return rng.permutation(values).reshape(shape)
    return make


def positive(shape, low: float = 0.5, high: float = 2.0):
    """Uniform draws in [low, high] (for log, sqrt, pow bases)."""
    def make(rng):
        return rng.uniform(low, high, size=shape)
    return make


def inputs_of(*makers):
    """Combine per-input makers into a ``make_inputs`` callable; a shape means a normal draw."""
    def make(rng):
        out = []
        for m in makers:
            if m is None:
                out.append(None)
            elif callable(m):
                out.append(m(rng))
            else:
                out.append(rng.standard_normal(m))
        return out
    return make
