"""Max and average pooling forward and backward through oneDNN.

Each function computes what :class:`striate.functional.pooling.MaxPool` and ``AvgPool`` compute,
for 1, 2 or 3 spatial axes, on float32 NumPy arrays stored channels-last, (N, *IN, C) C-contiguous
(``channels_last=True``, as the convolutions produce them), or channels-first, (N, C, *IN). Along
each spatial axis, with kernel K, stride S, dilation D (1 = dense) and padding p_l before and p_r
after the input::

    OUT = floor((IN + p_l + p_r - D * (K - 1) - 1) / S) + 1

    max                  y[o] = max over the in-bounds k of x[o*S + k*D - p_l]
    avg_include_padding  y[o] = (1 / prod K) sum_k x[o*S + k*D - p_l]     (x = 0 outside)
    avg_exclude_padding  y[o] = (1 / q[o]) sum_k x[o*S + k*D - p_l],  q[o] the in-bounds count

The backward passes send each window's gradient to its maximum (the first in scan order; the
training forward records it in a *workspace* that backward reads) or share it out as gy / q.
Uneven padding (``padding_r`` larger or smaller than ``padding_l``) expresses PyTorch's ceil_mode.
"""
from __future__ import annotations

import ctypes

import numpy as np

from ._library import PoolConfig, load
from .conv import _call, _check, _memoised, _output, _tuple

__all__ = ["pool_forward", "pool_backward", "pool_output_shape", "pool_implementation_name"]

ALGORITHMS = {"max": 0, "avg_include_padding": 1, "avg_exclude_padding": 2}
_plans: dict = {}


def _plan(x_shape, kernel, stride, padding_l, padding_r, dilation, algorithm, channels_last, op):
    """(C configuration, output shape, workspace bytes or None), checked and memoised."""
    return _memoised(_plans, _make_plan, (x_shape, kernel, stride, padding_l, padding_r,
                                          dilation, algorithm, channels_last), op)


def _make_plan(x_shape, kernel, stride, padding_l, padding_r, dilation, algorithm, channels_last,
               op):
    nsp = len(x_shape) - 2
    if nsp not in (1, 2, 3):
        raise ValueError(f"{op}: expected x with 1 to 3 spatial axes, got shape {x_shape}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{op}: algorithm must be one of {sorted(ALGORITHMS)}, "
                         f"got {algorithm!r}")
    kernel = _tuple(kernel, nsp, "kernel", op)
    stride = kernel if stride is None else _tuple(stride, nsp, "stride", op)
    dilation = _tuple(dilation, nsp, "dilation", op)
    pad_l = _tuple(padding_l, nsp, "padding_l", op)
    pad_r = pad_l if padding_r is None else _tuple(padding_r, nsp, "padding_r", op)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(pad_l + pad_r) < 0:
        raise ValueError(f"{op}: kernel, stride and dilation must be >= 1 and padding >= 0, got "
                         f"kernel {kernel}, stride {stride}, dilation {dilation}, padding "
                         f"{pad_l} / {pad_r}")
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p >= s for p, s in zip(pad_l + pad_r, span + span)):
        raise ValueError(f"{op}: padding {pad_l} / {pad_r} must be smaller than the (dilated) "
                         f"kernel {span}: a window would lie wholly in the padding")
    n, c = x_shape[0], x_shape[-1] if channels_last else x_shape[1]
    size_in = x_shape[1:-1] if channels_last else x_shape[2:]
    out = tuple((i + pl + pr - s) // st + 1
                for i, s, st, pl, pr in zip(size_in, span, stride, pad_l, pad_r))
    if min(out) < 1:
        raise ValueError(f"{op}: the (dilated) kernel {span} does not fit in the padded input "
                         f"{size_in} (padding {pad_l} / {pad_r})")
    config = PoolConfig(nsp=nsp, n=n, c=c, channels_last=int(channels_last),
                        alg=ALGORITHMS[algorithm])
    for field, values in (("in_", size_in), ("ker", kernel), ("out", out), ("stride", stride),
                          ("dilation", dilation), ("pad_l", pad_l), ("pad_r", pad_r)):
        getattr(config, field)[:nsp] = values
    y_shape = (n,) + out + (c,) if channels_last else (n, c) + out
    workspace = None
    if algorithm == "max" and n > 0 and c > 0:
        size = ctypes.c_int64()
        if load().spool_workspace_bytes(ctypes.byref(config), ctypes.byref(size)) != 0:
            raise RuntimeError(f"{op}: oneDNN failed ({load().sconv_last_error().decode()})")
        workspace = size.value
    return config, y_shape, workspace


def pool_output_shape(x_shape, kernel, stride=None, padding_l=0, padding_r=None, dilation=1,
                      channels_last: bool = True) -> tuple:
    """The output shape of pooling ``x_shape`` (same layout): see the module docstring."""
    return _plan(tuple(x_shape), kernel, stride, padding_l, padding_r, dilation,
                 "avg_exclude_padding", bool(channels_last), "pool_output_shape")[1]


def pool_forward(x, kernel, stride=None, padding_l=0, padding_r=None, dilation=1,
                 algorithm: str = "max", training: bool = False, channels_last: bool = True,
                 out=None):
    """Max or average pooling of ``x``.

    Args:
        x: (N, *IN, C) float32 C-contiguous, or (N, C, *IN) with ``channels_last=False``.
        kernel, stride, padding_l, padding_r, dilation: an int or one per spatial axis; stride
            defaults to the kernel, ``padding_r`` to ``padding_l``; each padding smaller than the
            dilated kernel.
        algorithm: 'max', 'avg_include_padding' (divide by the kernel size) or
            'avg_exclude_padding' (by the number of in-bounds elements).
        training: for max pooling, also return the workspace :func:`pool_backward` needs.
        out: optional preallocated output.

    Returns:
        y, or (y, workspace) for max pooling with ``training`` (workspace a uint8 array).
    """
    op = "pool_forward"
    _check(x, None, "x", op)
    config, y_shape, ws_bytes = _plan(x.shape, kernel, stride, padding_l, padding_r, dilation,
                                      algorithm, bool(channels_last), op)
    y = _output(out, y_shape, "out", op)
    want_ws = training and algorithm == "max"
    ws = np.empty(ws_bytes or 0, np.uint8) if want_ws else None
    if x.size:
        status = load().spool_forward(ctypes.byref(config), int(want_ws), x.ctypes.data,
                                      y.ctypes.data, None if ws is None else ws.ctypes.data)
        if status != 0:
            raise RuntimeError(f"{op}: oneDNN failed ({load().sconv_last_error().decode()})")
    return (y, ws) if want_ws else y


def pool_backward(gy, x_shape, kernel, stride=None, padding_l=0, padding_r=None, dilation=1,
                  algorithm: str = "max", workspace=None, channels_last: bool = True, out=None):
    """gx = d loss / d x from gy, for the pooling :func:`pool_forward` ran with these settings.

    Args:
        gy: the output's gradient, float32 C-contiguous, in the forward's layout.
        x_shape: the forward input's shape.
        workspace: for max pooling, the array the training forward returned.
        out: optional preallocated gx.

    Returns:
        gx, shaped ``x_shape``.
    """
    op = "pool_backward"
    x_shape = tuple(x_shape)
    config, y_shape, ws_bytes = _plan(x_shape, kernel, stride, padding_l, padding_r, dilation,
                                      algorithm, bool(channels_last), op)
    _check(gy, y_shape, "gy", op)
    if algorithm == "max":
        if not isinstance(workspace, np.ndarray) or workspace.dtype != np.uint8 \
                or workspace.size != ws_bytes or not workspace.flags.c_contiguous:
            raise ValueError(f"{op}: max pooling needs the workspace its training forward "
                             f"returned ({ws_bytes} bytes, uint8)")
    gx = _output(out, x_shape, "out", op)
    if gx.size == 0:
        return gx
    _call(load().spool_backward, op, config, gy, workspace if algorithm == "max" else None, gx)
    return gx


def pool_implementation_name(kind: str, x_shape, kernel, stride=None, padding_l=0,
                             padding_r=None, dilation=1, algorithm: str = "max",
                             channels_last: bool = True) -> str:
    """The oneDNN implementation chosen for a pooling pass ('forward_training',
    'forward_inference' or 'backward'), e.g. ``'jit:avx512_core'``."""
    op = "pool_implementation_name"
    kinds = {"forward_training": 2, "forward_inference": 3, "backward": 4}
    if kind not in kinds:
        raise ValueError(f"{op}: kind must be one of {sorted(kinds)}, got {kind!r}")
    config, _, _ = _plan(tuple(x_shape), kernel, stride, padding_l, padding_r, dilation,
                         algorithm, bool(channels_last), op)
    name = load().sops_impl_name(kinds[kind], ctypes.byref(config))
    if name is None:
        raise RuntimeError(f"{op}: oneDNN failed ({load().sconv_last_error().decode()})")
    return name.decode()
