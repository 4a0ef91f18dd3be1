"""Convolution forward, backward-data and backward-weights through oneDNN, on channels-last arrays.

Each function computes exactly what the reference convolution computes (cross-correlation, as in
``torch.nn.functional.conv2d``), for 1, 2 or 3 spatial dimensions, on float32 NumPy arrays:

- activations channels-last and C-contiguous: ``x`` is (N, *IN, C), e.g. (N, H, W, C) in 2D;
- weights in PyTorch's layout: ``w`` is (K, C/G, *KER), e.g. (K, C/G, KH, KW);
- per spatial axis, with stride s, dilation d and zero padding p_l before and p_r after::

      OUT = floor((IN + p_l + p_r - d * (KER - 1) - 1) / s) + 1

  (``p_r`` may differ from ``p_l``: asymmetric or 'same' padding needs no copy).

The passes, for groups G (each group g sees its C/G input and K/G output channels)::

    forward          y[n, o, k]  = b[k] + sum_{c, t} x[n, s*o + d*t - p_l, c] * w[k, c, t]
    backward-data    gx[n, i, c] = sum_{k, t : s*o + d*t - p_l = i} gy[n, o, k] * w[k, c, t]
    backward-weights gw[k, c, t] = sum_{n, o} gy[n, o, k] * x[n, s*o + d*t - p_l, c]
                     gb[k]       = sum_{n, o} gy[n, o, k]

(o, i, t run over output, input and kernel positions; x is zero outside the input.)

oneDNN creates one primitive per configuration; it is cached in the C library, so the first call
with a new shape pays the creation (a JIT compile, a few ms) and later calls only run it.
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import tuning
from ._library import Config, load

__all__ = [
    "conv_forward", "conv_backward_data", "conv_backward_weights", "conv_output_shape",
    "implementation_name",
]

_KINDS = {"forward": 0, "backward_data": 1, "backward_weights": 2}
_FLOAT32 = np.dtype(np.float32)


def _tuple(value, nsp: int, name: str, op: str) -> tuple:
    """An int or a tuple of ``nsp`` ints, as a tuple of ``nsp`` ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nsp
    value = tuple(int(v) for v in value)
    if len(value) != nsp:
        raise ValueError(f"{op}: {name} needs {nsp} values (one per spatial axis), got {value}")
    return value


def conv_output_shape(x_shape, w_shape, stride=1, padding_l=0, padding_r=None, dilation=1,
                      groups=1) -> tuple:
    """The channels-last output shape (N, *OUT, K) of a convolution of ``x_shape`` by ``w_shape``.

    Args:
        x_shape: (N, *IN, C), channels last.
        w_shape: (K, C/G, *KER).
        stride, padding_l, padding_r, dilation: an int or one int per spatial axis;
            ``padding_r`` defaults to ``padding_l``. Dilation 1 is a dense kernel.
        groups: G, dividing both C and K.
    """
    return _plan(tuple(x_shape), tuple(w_shape), stride, padding_l, padding_r, dilation, groups,
                 False, "conv_output_shape")[1]


def _tuned(plan, kind: int) -> Config:
    """The plan's configuration for pass ``kind`` with the implementation :mod:`.tuning` chose
    (chosen on the first call of that pass, then kept in the plan)."""
    config, _, tuned = plan
    chosen = tuned.get(kind)
    if chosen is None:
        name = tuning.choose(kind, config)
        chosen = tuned[kind] = Config.from_buffer_copy(config)
        chosen.impl = name.encode()
    return chosen


def _memoised(plans: dict, make, key: tuple, op: str):
    """``plans[key]``, made by ``make(*key, op)`` and kept on first use: the checked C
    configuration of one call's shapes and settings (each wrapper module keeps its own
    ``_plans``; :func:`striate.kernels.onednn.clear_cache` empties them)."""
    try:
        return plans[key]
    except KeyError:
        pass
    except TypeError:  # a list among the settings: not hashable, not memoised
        return make(*key, op)
    plan = plans[key] = make(*key, op)
    return plan


_plans: dict = {}


def _plan(x_shape, w_shape, stride, padding_l, padding_r, dilation, groups, with_bias, op,
          add=False):
    """The C configuration and output shape for one convolution, checked and memoised.
    ``add``: the forward adds a residual in its pass (oneDNN's binary post-op)."""
    return _memoised(_plans, _make_plan, (x_shape, w_shape, stride, padding_l, padding_r,
                                          dilation, groups, with_bias, add), op)


def _make_plan(x_shape, w_shape, stride, padding_l, padding_r, dilation, groups, with_bias, add,
               op):
    nsp = len(x_shape) - 2
    if nsp not in (1, 2, 3) or len(w_shape) != nsp + 2:
        raise ValueError(f"{op}: expected x (N, *IN, C) and w (K, C/G, *KER) with 1 to 3 spatial "
                         f"axes, got x {x_shape} and w {w_shape}")
    n, c, k = x_shape[0], x_shape[-1], w_shape[0]
    groups = int(groups)
    if groups < 1 or c % groups or k % groups:
        raise ValueError(f"{op}: groups={groups} must divide the {c} input and {k} output channels")
    if w_shape[1] * groups != c:
        raise ValueError(f"{op}: weight has {w_shape[1]} input channels per group, input has {c} "
                         f"channels (groups={groups})")
    stride = _tuple(stride, nsp, "stride", op)
    dilation = _tuple(dilation, nsp, "dilation", op)
    pad_l = _tuple(padding_l, nsp, "padding_l", op)
    pad_r = pad_l if padding_r is None else _tuple(padding_r, nsp, "padding_r", op)
    if min(stride) < 1 or min(dilation) < 1 or min(pad_l) < 0 or min(pad_r) < 0:
        raise ValueError(f"{op}: stride and dilation must be >= 1 and padding >= 0, got stride "
                         f"{stride}, dilation {dilation}, padding {pad_l} / {pad_r}")
    ker, size_in = w_shape[2:], x_shape[1:-1]
    out = tuple((i + pl + pr - d * (kk - 1) - 1) // s + 1
                for i, kk, s, d, pl, pr in zip(size_in, ker, stride, dilation, pad_l, pad_r))
    if min(out) < 1:
        raise ValueError(f"{op}: the (dilated) kernel {ker} does not fit in the padded input "
                         f"{size_in} (padding {pad_l} / {pad_r}, dilation {dilation})")
    config = Config(nsp=nsp, n=n, c=c, k=k, groups=groups, with_bias=int(with_bias),
                    post_add=int(add))
    for field, values in (("in_", size_in), ("ker", ker), ("out", out), ("stride", stride),
                          ("dilation", dilation), ("pad_l", pad_l), ("pad_r", pad_r)):
        getattr(config, field)[:nsp] = values
    return config, (n,) + out + (k,), {}  # {pass: its configuration with an implementation}


def _check(array, shape, name: str, op: str) -> np.ndarray:
    """``array`` as the float32 C-contiguous array of ``shape`` the C code reads or writes."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{op}: {name} must be a NumPy array, got {type(array).__name__}")
    if array.dtype != _FLOAT32:
        raise TypeError(f"{op}: {name} must be float32 (oneDNN has no float64 on the CPU), "
                        f"got {array.dtype}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {array.shape}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{op}: {name} must be C-contiguous (channels-last activations are "
                         f"(N, *spatial, C) arrays), got strides {array.strides}")
    return array


def _output(out, shape, name: str, op: str) -> np.ndarray:
    if out is None:
        return np.empty(shape, _FLOAT32)
    _check(out, shape, name, op)
    if not out.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only")
    return out


def _call(function, op: str, config, *arrays) -> None:
    status = function(ctypes.byref(config), *(None if a is None else a.ctypes.data
                                               for a in arrays))
    if status != 0:
        message = load().sconv_last_error().decode()
        raise RuntimeError(f"{op}: oneDNN failed ({message})")


def conv_forward(x, w, b=None, stride=1, padding_l=0, padding_r=None, dilation=1, groups=1,
                 out=None, add=None) -> np.ndarray:
    """y = conv(x, w) + b, then y += add when asked (oneDNN's binary post-op, in the same pass
    over y).

    Args:
        x: (N, *IN, C) float32, channels last, C-contiguous.
        w: (K, C/G, *KER) float32, PyTorch's layout.
        b: (K,) float32 or None.
        stride, padding_l, padding_r, dilation, groups: see :func:`conv_output_shape`.
        out: optional preallocated (N, *OUT, K) float32 array to write into.
        add: None, or an (N, *OUT, K) float32 C-contiguous array added to y (a residual).

    Returns:
        y: (N, *OUT, K), channels last (``out`` when given).
    """
    op = "conv_forward"
    _check(x, None, "x", op)
    _check(w, None, "w", op)
    plan = _plan(x.shape, w.shape, stride, padding_l, padding_r, dilation, groups,
                 b is not None, op, add is not None)
    y_shape = plan[1]
    if b is not None:
        _check(b, (w.shape[0],), "b", op)
    if add is not None:
        _check(add, y_shape, "add", op)
    y = _output(out, y_shape, "out", op)
    if x.size == 0 or w.size == 0:
        y[...] = 0 if b is None else b
        if add is not None:
            y += add
        return y
    _call(load().sconv_forward, op, _tuned(plan, 0), x, w, b, y, add)
    return y


def conv_backward_data(gy, w, x_shape, stride=1, padding_l=0, padding_r=None, dilation=1,
                       groups=1, out=None) -> np.ndarray:
    """gx = d loss / d x from gy = d loss / d y (a transposed convolution of gy by w).

    Args:
        gy: (N, *OUT, K) float32, channels last, C-contiguous.
        w: (K, C/G, *KER) float32.
        x_shape: the forward input's shape (N, *IN, C).
        stride, padding_l, padding_r, dilation, groups: as in the forward pass.
        out: optional preallocated (N, *IN, C) float32 array to write into.

    Returns:
        gx: (N, *IN, C), channels last.
    """
    op = "conv_backward_data"
    x_shape = tuple(x_shape)
    _check(w, None, "w", op)
    plan = _plan(x_shape, w.shape, stride, padding_l, padding_r, dilation, groups, False, op)
    y_shape = plan[1]
    _check(gy, y_shape, "gy", op)
    gx = _output(out, x_shape, "out", op)
    if gx.size == 0 or w.size == 0:
        gx[...] = 0
        return gx
    _call(load().sconv_backward_data, op, _tuned(plan, 1), gy, w, gx)
    return gx


def conv_backward_weights(x, gy, w_shape, stride=1, padding_l=0, padding_r=None, dilation=1,
                          groups=1, with_bias=False, out=None, out_bias=None) -> tuple:
    """gw = d loss / d w and, with ``with_bias``, gb = d loss / d b, from x and gy.

    Args:
        x: (N, *IN, C) float32, the forward input, channels last, C-contiguous.
        gy: (N, *OUT, K) float32, channels last, C-contiguous.
        w_shape: the weights' shape (K, C/G, *KER).
        stride, padding_l, padding_r, dilation, groups: as in the forward pass.
        with_bias: also compute gb, the sum of gy over all axes but the last.
        out, out_bias: optional preallocated (K, C/G, *KER) and (K,) float32 arrays.

    Returns:
        (gw, gb): gw (K, C/G, *KER); gb (K,), or None without ``with_bias``.
    """
    op = "conv_backward_weights"
    w_shape = tuple(w_shape)
    _check(x, None, "x", op)
    plan = _plan(x.shape, w_shape, stride, padding_l, padding_r, dilation, groups,
                 bool(with_bias), op)
    y_shape = plan[1]
    _check(gy, y_shape, "gy", op)
    gw = _output(out, w_shape, "out", op)
    gb = _output(out_bias, (w_shape[0],), "out_bias", op) if with_bias else None
    if x.size == 0 or gw.size == 0:
        gw[...] = 0
        if gb is not None:
            gb[...] = gy.reshape(-1, w_shape[0]).sum(axis=0)
        return gw, gb
    _call(load().sconv_backward_weights, op, _tuned(plan, 2), x, gy, gw, gb)
    return gw, gb


def implementation_name(kind: str, x_shape, w_shape, stride=1, padding_l=0, padding_r=None,
                        dilation=1, groups=1, with_bias=False, add=False) -> str:
    """The oneDNN implementation chosen for a pass, e.g. ``'brgconv:avx512_core'``.

    ``kind`` is 'forward', 'backward_data' or 'backward_weights'; ``add``: the forward's residual
    post-op (see :func:`conv_forward`). Creates and caches the primitive if it is not
    cached yet.
    """
    op = "implementation_name"
    if kind not in _KINDS:
        raise ValueError(f"{op}: kind must be one of {sorted(_KINDS)}, got {kind!r}")
    plan = _plan(tuple(x_shape), tuple(w_shape), stride, padding_l, padding_r, dilation,
                 groups, bool(with_bias), op, bool(add) and kind == "forward")
    name = load().sconv_impl_name(_KINDS[kind], ctypes.byref(_tuned(plan, _KINDS[kind])))
    if name is None:
        raise RuntimeError(f"{op}: oneDNN failed ({load().sconv_last_error().decode()})")
    return name.decode()
