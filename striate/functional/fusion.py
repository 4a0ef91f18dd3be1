"""Inference fusion on the oneDNN path: conv -> eval batch norm -> + residual -> ReLU in one pass.

At inference a CNN's convolution is followed by memory-bound ops that each read and write the
whole activation: batch normalisation with fixed statistics, the residual sum, the ReLU. On
ResNet-20 at batch 128 they took a third of an inference step (measured on the 2-core machine:
52.8 ms of convolutions, 8.3 ms batch norm, 7.0 ms ReLU, 5.4 ms sums). oneDNN can do all three
inside the convolution's own pass over its output, so when nothing records a graph (under
:func:`striate.no_grad`, or when no input requires a gradient) and the oneDNN kernels run a
convolution, ``F.conv1d/2d/3d`` return a :class:`PendingConv`: a tensor whose array is computed
on first use. Until then three ops fold into it instead of making a pass of their own:

- ``F.batch_norm`` with fixed statistics (evaluation): with s = gamma / sqrt(var + eps),

      s * (conv(x, w) + b - mean) + beta = conv(x, s w) + (s (b - mean) + beta),

  so the weights and bias are scaled per output channel (a few thousand values) and the pass
  over y disappears;
- a sum with a tensor of the same shape (a residual): oneDNN's binary ``add`` post-op;
- ``F.relu``: applied in place to the convolution's output as soon as it is computed (the
  threaded loop of :mod:`striate.kernels.onednn.eltwise`). Not oneDNN's ReLU post-op: that maps
  NaN to 0, and a network whose statistics or inputs went NaN must show it. Measured on a
  ResNet-20 inference step (batch 128, 2 threads, alternating runs), the post-op and the
  in-place pass took the same time within the machine's noise (53-59 ms a step either way).

Anything else that touches the tensor (another op, ``.data``, ``.numpy()``, printing) runs the
convolution then, once, with the post-ops gathered so far. A convolution is left pending only
inside a module's forward, and whatever the outermost module returns, and whatever a forward
hook is given, has run: a pending tensor does not leave the forward pass through its output or a
hook, so no later in-place change of an input, a weight or an addend (an optimiser step, a
reused input buffer) can reach it. (A forward that stores an intermediate tensor on the module
itself keeps it as it is: reading it later runs it then.) The reference kernels
(``striate.use_kernels("reference")``), a recorded graph and op observers
(:func:`striate.autograd.observe_ops`, which ``striate.analysis`` uses) turn it off: then every op
runs as written. The fused result equals the unfused one up to float32 rounding (the scaled
weights round once more than BN applied after the convolution).

Training has one fusion of its own, batch norm followed by ReLU
(:func:`striate.functional.batch_norm_relu`, which ``nn.Sequential`` and the residual blocks
call). :func:`enabled` (or ``STRIATE_FUSION=0`` in the environment) switches both off.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from .. import autograd, kernels
from ..autograd import Tensor

__all__ = ["PendingConv", "wanted", "defer_conv", "fold_batch_norm", "fold_add", "fold_relu",
           "enabled", "settle", "enter", "leave"]

_enabled = os.environ.get("STRIATE_FUSION", "1") != "0"
_calls = threading.local()  # .depth: modules being called in this thread (nn.Module.__call__)


def enter() -> None:
    """A module's forward starts (``nn.Module.__call__``): convolutions may stay pending."""
    _calls.depth = getattr(_calls, "depth", 0) + 1


def leave() -> bool:
    """A module's forward ended; True when it was the outermost one of this thread."""
    _calls.depth -= 1
    return _calls.depth == 0


def enabled(flag: bool | None = None) -> bool:
    """Whether fusion is on (the default, unless ``STRIATE_FUSION=0``): inference fusion, and
    batch norm + ReLU in training. ``enabled(False)`` turns both off (every op then runs on its
    own, as the reference does), ``enabled(True)`` on again. Returns the setting in force after
    the call."""
    global _enabled
    if flag is not None:
        _enabled = bool(flag)
    return _enabled


class PendingConv(Tensor):
    """The output of a oneDNN convolution not run yet, with its post-ops (see the module).

    Reading ``data`` (which every op, ``numpy()`` and printing do) runs it once; ``shape``,
    ``ndim`` and ``dtype`` are known without running it.
    """

    def __init__(self, fast, x, w, b, args: dict, shape: tuple, add=None, relu: bool = False):
        # Tensor.__init__ is not called: it would set ``data``
        self.requires_grad, self.grad, self.grad_fn = False, None, None
        self._fast, self._x, self._w, self._b, self._args = fast, x, w, b, args
        self._shape, self._add, self._relu, self._data = shape, add, relu, None

    @property
    def data(self):
        if self._data is None:
            y = self._fast.conv_forward(self._x, self._w, self._b, **self._args, add=self._add)
            if self._relu and y.size >= kernels.ELTWISE_MIN_SIZE:  # in place, NaN kept
                self._fast.relu_forward(y, out=y)
            elif self._relu:  # small: NumPy's ufunc beats the call into the threaded loop
                np.maximum(y, 0, out=y)
            self._data = np.moveaxis(y, -1, 1)  # (N, K, *O), stored channels last
            self._x = self._w = self._b = self._add = None
        return self._data

    @data.setter
    def data(self, value):
        self._data = value
        self._x = self._w = self._b = self._add = None

    @property
    def shape(self) -> tuple:
        return self._shape if self._data is None else self._data.shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return np.dtype(np.float32) if self._data is None else self._data.dtype

    def _then(self, w=None, b=None, add=None, relu=None) -> "PendingConv":
        """A new pending convolution: this one with other weights, an addend or the ReLU (this
        one stays as it is: something else may still read it)."""
        return PendingConv(self._fast, self._x, self._w if w is None else w,
                           self._b if b is None else b, self._args, self._shape,
                           self._add if add is None else add,
                           self._relu if relu is None else relu)

    @property
    def pending(self) -> bool:
        """True until the convolution has run."""
        return self._data is None


def _active() -> bool:
    return _enabled and getattr(_calls, "depth", 0) > 0 and not autograd._op_observers


def settle(out):
    """``out`` with every pending convolution in it run: a tensor, or a tuple or list of them
    (``nn.Module.__call__`` applies this to what the outermost module returns)."""
    if isinstance(out, PendingConv):
        out.data  # noqa: B018 - runs it
    elif isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, PendingConv):
                item.data  # noqa: B018
    elif isinstance(out, dict):
        for item in out.values():
            if isinstance(item, PendingConv):
                item.data  # noqa: B018
    return out


def _no_graph(*tensors) -> bool:
    return not (autograd.is_grad_enabled() and any(t is not None and t.requires_grad
                                                   for t in tensors))


def wanted(x, w, b) -> bool:
    """Whether conv(x, w) + b may be left pending: fusion is on, a module's forward is running,
    no graph is recorded and nobody observes the ops. Cheap, so that a training step (which
    records a graph) pays only this before its convolution runs as usual."""
    return _active() and _no_graph(x, w, b)


def defer_conv(fast, x, w, b, args: dict, out_shape: tuple):
    """A :class:`PendingConv` for conv(x, w) + b on the oneDNN kernels ``fast``, or None when
    the weights or bias are not float32 (then the caller runs the convolution as usual). The
    caller has checked :func:`wanted`.

    ``x``, ``w``, ``b``: the operand Tensors (x (N, C, *S)); ``args``: the keyword arguments of
    ``fast.conv_forward``; ``out_shape``: the output's (N, K, *O).
    """
    if w.data.dtype != np.float32 or (b is not None and b.data.dtype != np.float32):
        return None
    xd = np.ascontiguousarray(np.moveaxis(x.data, 1, -1))  # as ConvNd: no copy when stored so
    bias = None if b is None else np.ascontiguousarray(b.data)
    return PendingConv(fast, xd, np.ascontiguousarray(w.data), bias, args, tuple(out_shape))


def _foldable(t, relu_ok: bool = False) -> bool:
    return (isinstance(t, PendingConv) and t.pending and not t._relu
            and (relu_ok or t._add is None) and _active())


def fold_batch_norm(x, mean, var, weight, bias, eps: float):
    """Eval batch norm of a pending convolution as scaled weights and bias, or None."""
    if not _foldable(x) or not _no_graph(weight, bias):
        return None
    # in float32, as the batch-norm kernels compute it; a handful of NumPy calls on (C,) vectors
    scale = 1 / np.sqrt(np.asarray(var, dtype=np.float32).reshape(-1) + np.float32(eps))
    if weight is not None:
        scale *= weight.data
    shift = -np.asarray(mean, dtype=np.float32).reshape(-1) * scale
    if x._b is not None:
        shift += x._b * scale
    if bias is not None:
        shift += bias.data
    w = x._w * scale.reshape((-1,) + (1,) * (x._w.ndim - 1))
    return x._then(w=w, b=shift)


def fold_add(a, b):
    """a + b as a pending convolution with an ``add`` post-op, or None. The addend must have
    the output's shape and dtype and be stored channels last (as every oneDNN output is)."""
    for conv, other in ((a, b), (b, a)):
        if not _foldable(conv) or not isinstance(other, Tensor) or not _no_graph(other):
            continue
        z = other.data  # a pending addend runs now: it is needed as it is
        if not conv.pending or z.shape != conv.shape or z.dtype != np.float32:
            continue
        z = np.moveaxis(z, 1, -1)
        if z.flags.c_contiguous:
            return conv._then(add=z)
    return None


def fold_relu(x):
    """relu(x) as a pending convolution that applies the ReLU (in place) as it runs, or None."""
    if not _foldable(x, relu_ok=True):
        return None
    return x._then(relu=True)
