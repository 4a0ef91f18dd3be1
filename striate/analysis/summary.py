"""A model's layer table: output shapes, parameters, multiply-adds, receptive fields, memory.

One forward pass of zeros, under :func:`~striate.autograd.no_grad` and in evaluation mode, watched
from two sides: forward hooks on every module give the rows (one per call, in the order the calls
start), and an op observer (:func:`~striate.autograd.observe_ops`) sees every op, also those a
``forward`` runs between its layers (a residual sum, a concatenation), to count its multiply-adds
and to follow the receptive field of every tensor computed from the input
(:mod:`striate.analysis.fields`).

What is counted:

- parameters: a row counts the parameters its module owns directly, once, at its first call
  (a module called twice shows them once), so the rows add up to the model's total.
- multiply-adds (MACs): an op's, in the row of the innermost module running it. A convolution
  ``N * C_out * (C_in / groups) * KH * KW * OH * OW`` (one per weight per output position;
  the bias additions are not counted, as is usual); a transposed convolution
  ``N * C_in * (C_out / groups) * KH * KW * H * W`` (each input value scatters its kernel); a
  deformable one its weighted sums only (not the bilinear sampling); a linear layer
  ``N * in * out``; a matmul ``M * K * P``; LeNet's trainable subsampling one per output (its
  coefficient times the window's sum). Pooling, batch norm, activations, dropout, additions
  count 0: they do no multiply-accumulate (their comparisons and additions are one per element at
  most, small next to the convolutions). ``torch.utils.flop_counter`` counts FLOPs = 2 * MACs.
- activation memory: a row shows the bytes of its output at the given batch size; the total is
  every array the forward computed from the input, each once (an op whose result is a view of
  its input, such as a slice, adds nothing): roughly what a training forward keeps for backward.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..autograd import no_grad, observe_ops
from ..backend import get_array_module
from ..functional.conv import ConvNd, ConvTransposeNd
from ..functional.deform_conv import DeformConv2d
from ..functional.elementwise import MatMul
from ..functional.linear import Linear, RBFUnits
from ..functional.pooling_special import Subsample2d
from ..nn.layers import is_int
from ..nn.module import Module
from . import fields as rf
from .probe import check_input_shape, evaluating, hooked, zeros_input
from .receptive import FieldTracker, output_tensors

__all__ = ["LayerSummary", "ModelSummary", "summary", "count_macs"]


def count_macs(fn, inputs, out) -> int:
    """The multiply-accumulates of one op ``out = fn(*inputs)`` (see the module docstring)."""
    if isinstance(fn, ConvNd):
        return out.numel() * math.prod(inputs[1].shape[1:])
    if isinstance(fn, DeformConv2d):
        return out.numel() * math.prod(inputs[2].shape[1:])
    if isinstance(fn, ConvTransposeNd):
        return inputs[0].numel() * math.prod(inputs[1].shape[1:])
    if isinstance(fn, (Linear, RBFUnits)):
        return out.numel() * inputs[1].shape[-1]
    if isinstance(fn, MatMul):
        return out.numel() * inputs[0].shape[-1]
    if isinstance(fn, Subsample2d):  # LeNet's coefficient times each window's sum
        return out.numel()
    return 0


def _square(values):
    """A per-axis tuple as one number when every axis agrees; ``None`` stays ``None``."""
    if values is None or not values:
        return None
    return values[0] if all(v == values[0] for v in values) else tuple(values)


@dataclass
class LayerSummary:
    """One call of one module.

    Attributes:
        name: the dotted module path (``layer1.0.conv1``; ``""`` for the model itself).
        type: the module's class name.
        depth: 0 for the model, 1 for its children, ...
        leaf: the module has no child modules.
        output_shape: the output's shape (a list of shapes for several outputs).
        params, trainable_params: parameters the module owns directly, counted at its first call.
        macs: multiply-adds of the ops run while this was the innermost module.
        receptive_field, jump, offset: of the output's units, in input pixels (size r, jump
            j, and t, where unit 0's field starts; the table shows r and j): a number when
            every spatial axis agrees, a tuple per axis otherwise, ``None`` without spatial
            input and ``"?"`` when unknown (see :mod:`striate.analysis.fields`).
        activation_bytes: bytes of the output.
    """

    name: str
    type: str
    depth: int
    leaf: bool
    output_shape: tuple | list | None = None
    params: int = 0
    trainable_params: int = 0
    macs: int = 0
    receptive_field: object = None
    jump: object = None
    activation_bytes: int = 0
    offset: object = None

    def to_dict(self) -> dict:
        return asdict(self)


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n:,} ({n / scale:.2f} {unit})"
    return f"{n:,}"


def _geometry(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, tuple):
        return "x".join(f"{a:g}" for a in v)
    return v if isinstance(v, str) else f"{v:g}"


@dataclass
class ModelSummary:
    """What :func:`summary` returns: the rows and the totals; ``str()`` is the table.

    Attributes:
        model: the model's class name.
        input_shape: the shape it ran on, batch axis included.
        dtype: the input's dtype.
        rows: one :class:`LayerSummary` per module call, in the order the calls start.
        total_params, trainable_params: the model's (``model.num_parameters()``), including
            modules the forward never called.
        total_macs: multiply-adds of the whole forward pass at this batch size.
        activation_bytes: every array the forward computed from the input, each once.
        input_bytes, param_bytes, buffer_bytes: the input's, the parameters', the buffers'.
    """

    model: str
    input_shape: tuple
    dtype: str
    rows: list = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0
    activation_bytes: int = 0
    input_bytes: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["rows"] = [r.to_dict() for r in self.rows]
        return out

    def __getitem__(self, name: str) -> LayerSummary:
        """The first row of the module called ``name`` (its dotted path)."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"ModelSummary: no layer named {name!r}; layers: "
                       f"{', '.join(r.name for r in self.rows if r.name)}")

    def __str__(self) -> str:
        head = ("Layer (type)", "Output shape", "Params", "Trainable", "MACs", "RF", "Jump",
                "Memory")
        table = [head]
        for r in self.rows:
            label = "  " * r.depth + (f"{r.name} ({r.type})" if r.name else r.type)
            container = not r.leaf and not r.params and not r.macs
            shape = (", ".join(map(str, r.output_shape)) if isinstance(r.output_shape, list)
                     else str(r.output_shape))
            table.append((label, shape,
                          "--" if container else f"{r.params:,}",
                          "--" if container else f"{r.trainable_params:,}",
                          "--" if container else f"{r.macs:,}",
                          _geometry(r.receptive_field), _geometry(r.jump),
                          _bytes(r.activation_bytes)))
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        lines = [f"{self.model} summary: input {self.input_shape}, {self.dtype}"]

        def line(cells):
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        rule = "-" * len(line(head))
        lines += [rule, line(head), rule] + [line(row) for row in table[1:]] + [rule]
        called = sum(r.params for r in self.rows)
        lines += [f"Total params: {self.total_params:,} (trainable {self.trainable_params:,}, "
                  f"non-trainable {self.total_params - self.trainable_params:,})"]
        if called != self.total_params:
            lines.append(f"  of which in modules the forward did not call: "
                         f"{self.total_params - called:,}")
        lines += [f"Total multiply-adds: {_count(self.total_macs)} for a batch of "
                  f"{self.input_shape[0]}",
                  f"Memory: input {_bytes(self.input_bytes)}, activations "
                  f"{_bytes(self.activation_bytes)}, parameters {_bytes(self.param_bytes)}, "
                  f"buffers {_bytes(self.buffer_bytes)}"]
        if self.rows and self.rows[0].receptive_field is not None:
            lines.append(f"Receptive field of the output: "
                         f"{_geometry(self.rows[0].receptive_field)} input pixels "
                         f"(jump {_geometry(self.rows[0].jump)})")
        if any(r.receptive_field == "?" for r in self.rows):
            lines.append("RF ?: an op changed the spatial size in a way the receptive-field "
                         "rules do not know (striate.analysis.fields)")
        return "\n".join(lines)


class _Tracer(FieldTracker):
    """The bookkeeping of one summary pass: the rows, the call stack, each tensor's field."""

    def __init__(self, model: Module):
        super().__init__()
        self.names = {id(m): name for name, m in model.named_modules()}
        self.rows, self.stack = [], []
        self.counted = set()  # ids of the parameters already in a row
        self.activation_bytes = 0

    def before(self, module, args) -> None:
        row = LayerSummary(self.names[id(module)], type(module).__name__, len(self.stack),
                           not module._modules)
        for p in module._parameters.values():
            if p is not None and id(p) not in self.counted:
                self.counted.add(id(p))
                row.params += p.numel()
                row.trainable_params += p.numel() if p.requires_grad else 0
        self.rows.append(row)
        self.stack.append(row)

    def after(self, module, args, out) -> None:
        row = self.stack.pop()
        outputs = output_tensors(out)
        if not outputs:
            return
        shapes = [tuple(t.shape) for t in outputs]
        row.output_shape = shapes[0] if len(shapes) == 1 else shapes
        row.activation_bytes = sum(t.data.nbytes for t in outputs)
        f = self.field_of(outputs[0])
        if f is not None:
            row.receptive_field = _square(f.size) if f.known else "?"
            row.jump = _square(f.jump) if f.known else "?"
            row.offset = _square(f.offset) if f.known else "?"

    def on_op(self, fn, inputs, out) -> None:
        if self.stack:
            self.stack[-1].macs += count_macs(fn, inputs, out)
        if super().on_op(fn, inputs, out) is None:
            return
        xp = get_array_module(out.data)
        if not any(t is not None and xp.may_share_memory(out.data, t.data) for t in inputs):
            self.activation_bytes += out.data.nbytes  # a new array, not a view of an input


def _check_args(model, input_shape, batch_size):
    shape = check_input_shape("summary", model, input_shape)
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"summary: batch_size must be a positive int, got {batch_size!r}")
    return shape


def summary(model: Module, input_shape, batch_size: int = 1, dtype=None) -> ModelSummary:
    """Run ``model`` once on zeros and tabulate every layer (checklist C13).

    Args:
        model: any :class:`~striate.nn.Module`, sequential or not (residual, Inception, U-Net).
        input_shape: one input without the batch axis: ``(C, H, W)`` for images, ``(C, L)`` or
            ``(C, D, H, W)`` for 1-d and 3-d models, ``(F,)`` for a network of dense layers.
        batch_size: images in the pass; MACs and activation memory are for the whole batch.
        dtype: the input's dtype; default the model's parameter dtype (float32 unless changed).

    Returns:
        a :class:`ModelSummary`: ``.rows`` (one :class:`LayerSummary` per module call),
        ``.total_params``, ``.total_macs``, memory totals, ``to_dict()``; ``print()`` it for the
        table. The model's training flags are restored afterwards.

    Raises:
        TypeError: ``model`` is not a Module.
        ValueError: a bad ``input_shape`` or ``batch_size``, or the model's own error for an
            input it cannot take.

    Example::

        >>> from striate import analysis, models
        >>> s = analysis.summary(models.lenet5(), (1, 28, 28))
        >>> s.total_params, s.total_macs
        (61706, 416520)
        >>> s["c3"].receptive_field, s["c3"].jump          # 5x5 conv after a 2x2/2 pooling
        (14, 2)
        >>> print(s)                                        # the table
    """
    shape = _check_args(model, input_shape, batch_size)
    x = zeros_input(model, shape, batch_size, dtype)
    tracer = _Tracer(model)
    tracer.remember(x, rf.input_field(shape[1:]))
    with evaluating(model), hooked(model.modules(), after=tracer.after, before=tracer.before), \
            no_grad(), observe_ops(tracer.on_op):
        model(x)
    params = list(model.parameters())
    return ModelSummary(
        model=type(model).__name__, input_shape=tuple(x.shape), dtype=str(x.dtype),
        rows=tracer.rows, total_params=model.num_parameters(),
        trainable_params=model.num_parameters(trainable_only=True),
        total_macs=sum(r.macs for r in tracer.rows), activation_bytes=tracer.activation_bytes,
        input_bytes=x.data.nbytes, param_bytes=sum(p.data.nbytes for p in params),
        buffer_bytes=sum(b.data.nbytes for b in model.buffers()))
