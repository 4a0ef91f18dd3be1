"""What the visualisations share (private): argument checks that name the function and the
argument, layers by module or dotted name, capturing a layer's output, and two image operations.

A layer is named by the module object or by its dotted name from ``model.named_modules()``
(``"features.0.0"``, ``"c3"``). Its output is captured with a forward hook
(:meth:`~striate.nn.Module.register_forward_hook`), removed again when the method returns. A
module called more than once in a forward pass (LeNet-5's shared ``relu``) gives its *first*
call's output; the forward pass stops as soon as every requested layer has been seen, so the
layers after it cost nothing. While a method runs the model is frozen
(:func:`striate.analysis.probe.frozen`: evaluation mode, no parameter gradients, both restored
afterwards).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..analysis.probe import hooked, layer_names, named_layer
from ..autograd import Tensor
from ..backend import get_array_module, to_numpy
from ..nn.module import Module


# ---------------------------------------------------------------------------------------------
# Argument checks: "<function>: <argument> must be <expected>, got <what came>"
# ---------------------------------------------------------------------------------------------
class _Said(str):
    """A description of what came, shown as is (other values are shown by ``repr``)."""


def _check(fn: str, arg: str, value, ok: bool, expected: str, error=ValueError):
    if not ok:
        raise error(f"{fn}: {arg} must be {expected}, got {_describe(value)}")
    return value


def _describe(value) -> str:
    if isinstance(value, _Said):
        return str(value)
    if isinstance(value, (np.ndarray, Tensor)):
        kind = "a Tensor" if isinstance(value, Tensor) else "an array"
        return f"{kind} of shape {tuple(value.shape)}"
    if isinstance(value, Module):
        return f"a {type(value).__name__} module"
    return repr(value)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_count(fn: str, arg: str, value, low: int = 1) -> int:
    return int(_check(fn, arg, value, _is_int(value) and value >= low, f"an int >= {low}"))


def _check_number(fn: str, arg: str, value, low: float = 0.0) -> float:
    return float(_check(fn, arg, value, _is_real(value) and value >= low, f"a number >= {low}"))


def _check_model(fn: str, model) -> Module:
    return _check(fn, "model", model, isinstance(model, Module), "a striate.nn.Module", TypeError)


def _image(fn: str, arg: str, x, dtype) -> np.ndarray:
    """One image as a ``(1, C, H, W)`` float array; ``(C, H, W)`` or a batch of one accepted."""
    _check(fn, arg, x, isinstance(x, (np.ndarray, Tensor)), "a (C, H, W) array", TypeError)
    a = to_numpy(x.data) if isinstance(x, Tensor) else np.asarray(x)
    a = a[None] if a.ndim == 3 else a
    _check(fn, arg, x, a.ndim == 4 and a.shape[0] == 1, "one image, (C, H, W) or (1, C, H, W)")
    _check(fn, arg, _Said(f"dtype {a.dtype}"), a.dtype.kind in "fiu", "a numeric array", TypeError)
    return a.astype(dtype)


def _model_dtype(model: Module):
    for p in model.parameters():
        return p.dtype
    return np.dtype(np.float32)


def _on_model_device(model: Module, a: np.ndarray):
    """``a`` on the array module of the model's parameters (NumPy or CuPy)."""
    for p in model.parameters():
        return get_array_module(p.data).asarray(a)
    return a


def _resolve_layer(fn: str, model: Module, layer, arg: str = "layer") -> Module:
    """The module named (dotted name) or given (object) by ``layer``."""
    found = named_layer(model, layer)
    if found is not None:
        return found[1]
    names = layer_names(model)
    if isinstance(layer, Module):
        expected, error = "a module of the model (one of its named_modules())", ValueError
    elif isinstance(layer, str):
        expected, error = f"one of {_listed(names)}", ValueError
    else:
        expected = f"a module or a dotted name from named_modules() ({_listed(names)})"
        error = TypeError
    raise error(f"{fn}: {arg} must be {expected}, got {_describe(layer)}")


def _layer_name(layer) -> str:
    return layer if isinstance(layer, str) else type(layer).__name__


def _listed(names, limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# ---------------------------------------------------------------------------------------------
# Capturing a layer's output
# ---------------------------------------------------------------------------------------------
class _StopForward(Exception):
    """Raised from a hook once every wanted output is in hand: the rest of the forward is moot."""


def _run_to(model: Module, x: Tensor, layers: list) -> list:
    """The first output of each module in ``layers`` during ``model(x)`` (``None`` in ``layers``
    means the model's own output), stopping the forward once all are seen."""
    wanted = [m for m in layers if m is not None]
    seen = {}

    def hook(module, inputs, output):
        if id(module) in seen:
            return
        if not isinstance(output, Tensor):
            raise TypeError(f"layer {type(module).__name__} returns a "
                            f"{type(output).__name__}, not a tensor; pick a module whose "
                            "output is one tensor")
        seen[id(module)] = output
        if all(id(m) in seen for m in wanted) and None not in layers:
            raise _StopForward

    out = None
    with hooked({id(m): m for m in wanted}.values(), after=hook):
        try:
            out = model(x)
        except _StopForward:
            pass
    missing = [type(m).__name__ for m in wanted if id(m) not in seen]
    if missing:
        raise ValueError(f"the forward pass never called the layer(s) {missing}")
    return [out if m is None else seen[id(m)] for m in layers]


# ---------------------------------------------------------------------------------------------
# Image operations
# ---------------------------------------------------------------------------------------------
def _unit_range(a: np.ndarray, axes) -> np.ndarray:
    """``(a - min) / (max - min)`` over ``axes``; a constant slice becomes 0.5."""
    low = a.min(axis=axes, keepdims=True)
    span = a.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (a - low) / np.where(span > 0, span, 1), 0.5)


def _resize_bilinear(image: np.ndarray, size) -> np.ndarray:
    """Bilinear resize of the last two axes to ``size = (h, w)``, half-pixel centres (source
    coordinate ``(i + 0.5) * H / h - 0.5``, clamped to the image), as
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``."""
    def taps(n_out, n_in):
        s = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(s).astype(np.int64)
        return i0, np.minimum(i0 + 1, n_in - 1), s - i0

    (y0, y1, fy), (x0, x1, fx) = taps(size[0], image.shape[-2]), taps(size[1], image.shape[-1])
    rows = image[..., y0, :] * (1 - fy)[:, None] + image[..., y1, :] * fy[:, None]
    return (rows[..., x0] * (1 - fx) + rows[..., x1] * fx).astype(image.dtype)

