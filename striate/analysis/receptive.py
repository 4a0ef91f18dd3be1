"""Where in the input a layer's units look: the receptive field of one layer (checklist C13).

:func:`receptive_field` runs the model once on zeros and follows the field of every tensor
computed from the input, op by op (:mod:`striate.analysis.fields`), as the summary does, then
reads it off the layer's output::

    >>> from striate import analysis, models
    >>> analysis.receptive_field(models.lenet5(), "c3", (1, 28, 28))
    ReceptiveField(size=(14, 14), jump=(2, 2), offset=(-2, -2))

Along each spatial axis unit ``i`` of the layer sees the input pixels
``[offset + i * jump, offset + i * jump + size)``: c3's unit (0, 0) sees rows and columns -2 to
11 (two of them in c1's zero padding), unit (0, 1) the columns 0 to 13. Because every op is
followed, not only the windows in call order, this holds for any graph: residual sums,
concatenated branches, projection shortcuts, transposed convolutions, adaptive pooling.

:class:`FieldTracker` is the op observer behind it, which :func:`~striate.analysis.summary`
extends with its multiply-adds and memory.
"""
from __future__ import annotations

import weakref
from typing import NamedTuple

from ..autograd import Tensor, no_grad, observe_ops
from ..nn.module import Module
from . import fields as rf
from .probe import check_input_shape, evaluating, hooked, layer_names, named_layer, zeros_input

__all__ = ["ReceptiveField", "FieldTracker", "receptive_field"]


class ReceptiveField(NamedTuple):
    """The field of a layer's units, one entry per spatial axis of the input (rows, columns).

    Unit ``(i, j)`` sees the input rows ``[offset[0] + i * jump[0], ... + size[0])`` and the
    columns likewise. The field may reach past the image (into the padding): the offset is then
    negative, or the end beyond the size. Values are ints, or fractions of a pixel after a
    transposed convolution.

    Attributes:
        size: r, the input pixels one unit sees along each axis.
        jump: j, the input pixels between two neighbouring units (the product of the strides).
        offset: t, where unit 0's field starts, in input pixels (top-left, not the centre).
    """

    size: tuple
    jump: tuple
    offset: tuple


class FieldTracker:
    """The receptive field of every tensor computed from the model's input during a forward
    pass: ``observe_ops(tracker.on_op)`` applies :func:`~striate.analysis.fields.propagate` to
    each op. Tensors are held by weak references, so the pass frees them as usual."""

    def __init__(self):
        self.fields = {}  # id(tensor) -> (weak reference to it, its Field)

    def field_of(self, t):
        """The :class:`~striate.analysis.fields.Field` of ``t``; ``None`` for a tensor not
        computed from the input (a weight, a constant)."""
        entry = None if t is None else self.fields.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def remember(self, t: Tensor, f) -> None:
        key = id(t)
        self.fields[key] = (weakref.ref(t, lambda _, key=key: self.fields.pop(key, None)), f)

    def on_op(self, fn, inputs, out):
        """Follow one op ``out = fn(*inputs)``; returns the output's field (``None`` when no
        input came from the model's input)."""
        f = rf.propagate(fn, inputs, [self.field_of(t) for t in inputs], out)
        if f is not None:
            self.remember(out, f)
        return f


def output_tensors(out) -> list:
    """The tensors a module returned: its output, or those in its tuple or list of outputs."""
    if isinstance(out, Tensor):
        return [out]
    return [t for t in (out if isinstance(out, (tuple, list)) else ()) if isinstance(t, Tensor)]


def _layer(fn: str, model: Module, layer) -> Module:
    found = named_layer(model, layer)
    if found is None:
        names = layer_names(model)
        shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        what = (f"a {type(layer).__name__} that is not part of {type(model).__name__}"
                if isinstance(layer, Module) else repr(layer))
        raise ValueError(f"{fn}: layer must be a module of the model or its dotted name "
                         f"({shown}), got {what}")
    return found[1]


def receptive_field(model: Module, layer, input_shape) -> ReceptiveField:
    """The receptive field of the units of ``layer``'s output: size, jump and offset per axis.

    The model runs once on zeros, in evaluation mode and without a graph (its training flags are
    restored after); every op's rule (:mod:`striate.analysis.fields`) carries the three numbers
    from the input (r = j = 1, t = 0) to the layer::

        r_out = r_in + (k - 1) * d * j_in     (a window of k taps, dilation d)
        j_out = j_in * s                      (stride s)
        t_out = t_in - p * j_in               (p cells of padding before the first)

    and for a sum or concatenation of branches the union of their fields. A module called more
    than once gives its first call's field; a layer after a flatten or a global pooling sees the
    whole (padded) input.

    Args:
        model: any :class:`~striate.nn.Module`, sequential or not.
        layer: a module of the model or its dotted name from ``model.named_modules()``.
        input_shape: one input without the batch axis: ``(C, H, W)`` (or ``(C, L)``,
            ``(C, D, H, W)``).

    Returns:
        :class:`ReceptiveField` ``(size, jump, offset)``, each a tuple with one entry per
        spatial axis (empty for an input without spatial axes).

    Raises:
        TypeError: ``model`` is not a Module.
        ValueError: a bad ``input_shape`` or ``layer``, a layer the forward never calls or
            whose output does not come from the input, or an op whose field the rules do not
            know (an unknown resizing).

    Example::

        >>> receptive_field(models.create("resnet20"), "layer2.0", (1, 28, 28))
        ReceptiveField(size=(21, 21), jump=(2, 2), offset=(-10, -10))
    """
    fn = "receptive_field"
    shape = check_input_shape(fn, model, input_shape)
    target = _layer(fn, model, layer)
    x = zeros_input(model, shape)
    tracker = FieldTracker()
    tracker.remember(x, rf.input_field(shape[1:]))
    seen = []

    def hook(module, args, out):
        if not seen:
            tensors = output_tensors(out)
            seen.append(tracker.field_of(tensors[0]) if tensors else None)

    with evaluating(model), hooked([target], after=hook), no_grad(), \
            observe_ops(tracker.on_op):
        model(x)
    name = layer if isinstance(layer, str) else type(layer).__name__
    if not seen:
        raise ValueError(f"{fn}: the forward pass never called the layer {name!r}")
    f = seen[0]
    if f is None:
        raise ValueError(f"{fn}: the output of {name!r} is not computed from the input")
    if not f.known:
        raise ValueError(f"{fn}: an op before {name!r} changes the spatial size in a way the "
                         "receptive-field rules do not know (striate.analysis.fields)")
    return ReceptiveField(f.size, f.jump, f.offset)
