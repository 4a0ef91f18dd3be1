"""Running a model once to look at it: the harness that :func:`~striate.analysis.summary`,
:func:`~striate.analysis.receptive_field` and :mod:`striate.explain` share.

- :func:`evaluating` / :func:`frozen`: evaluation mode (batch norm on its running statistics, no
  dropout) and, for ``frozen``, no parameter gradients, inside a ``with`` block; every module's
  flag and every parameter's ``requires_grad`` come back as they were (a model may mix training
  and evaluation parts).
- :func:`hooked`: forward hooks that are removed on leaving the block, also when the forward
  raised.
- :func:`named_layer`: a layer given as a module object or as its dotted name from
  ``model.named_modules()`` (``"layer2.0.conv1"``).
- :func:`zeros_input`: a batch of zeros of the model's dtype, on its device.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..autograd import Tensor
from ..backend import get_array_module, get_default_dtype
from ..nn.layers import is_int
from ..nn.module import Module

__all__ = ["evaluating", "frozen", "hooked", "named_layer", "layer_names", "check_input_shape",
           "zeros_input"]


@contextlib.contextmanager
def evaluating(model: Module):
    """``model.eval()`` inside the block; each module's training flag restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)


@contextlib.contextmanager
def frozen(model: Module):
    """Evaluation mode and no parameter gradients inside the block (only the input's gradient is
    wanted); both restored after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    with evaluating(model):
        for p, _ in flags:
            p.requires_grad = False
        try:
            yield model
        finally:
            for p, flag in flags:
                p.requires_grad = flag


@contextlib.contextmanager
def hooked(modules, after=None, before=None):
    """Inside the block ``before(module, args)`` runs before each call of ``modules`` and
    ``after(module, args, output)`` after it (either may be ``None``); the hooks are removed on
    leaving, in reverse order."""
    handles = []
    try:
        for m in modules:
            if before is not None:
                handles.append(m.register_forward_pre_hook(before))
            if after is not None:
                handles.append(m.register_forward_hook(after))
        yield
    finally:
        for h in reversed(handles):
            h.remove()


def named_layer(model: Module, layer):
    """``(dotted name, module)`` for ``layer``: a module of ``model`` (the model itself too,
    named ``""``) or a non-empty dotted name from ``model.named_modules()``. ``None`` when it is
    neither, so that each caller words its own error."""
    for name, m in model.named_modules():
        if m is layer if isinstance(layer, Module) else (name == layer and name != ""):
            return name, m
    return None


def layer_names(model: Module) -> list:
    """The dotted names of the model's modules, the model's own ``""`` left out."""
    return [name for name, _ in model.named_modules() if name]


def check_input_shape(fn: str, model, input_shape) -> tuple:
    """``model`` a Module and ``input_shape`` one input's shape without the batch axis
    (positive ints), else the error names ``fn`` and the argument."""
    if not isinstance(model, Module):
        raise TypeError(f"{fn}: model must be a striate.nn.Module, got {type(model).__name__}")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if not shape or not all(is_int(v) and v > 0 for v in shape):
        raise ValueError(f"{fn}: input_shape must be a tuple of positive ints, one image's "
                         f"(C, H, W) without the batch axis, got {input_shape!r}")
    return tuple(int(v) for v in shape)


def zeros_input(model: Module, shape, batch_size: int = 1, dtype=None) -> Tensor:
    """Zeros ``(batch_size, *shape)`` on the array module of the model's parameters (NumPy or
    CuPy), in ``dtype``; default the first floating parameter's (the default dtype without one).
    """
    params = list(model.parameters())
    if dtype is None:
        floating = [p.dtype for p in params if p.dtype.kind == "f"]
        dtype = floating[0] if floating else get_default_dtype()
    xp = get_array_module(params[0].data) if params else np
    return Tensor(xp.zeros((batch_size,) + tuple(shape), dtype=np.dtype(dtype)))
