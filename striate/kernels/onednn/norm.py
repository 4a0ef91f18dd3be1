"""Batch normalisation forward (training and inference) and backward through oneDNN.

Each function computes what :class:`striate.functional.normalization.BatchNorm` (training) and
``BatchNormInference`` (evaluation) compute, per channel c over its m = N * (spatial size) values,
on float32 NumPy arrays with 0 to 3 spatial axes::

    training    mu = (1/m) sum x,   var = (1/m) sum (x - mu)^2   (biased)
    both        x_hat = (x - mu) / sqrt(var + eps),   y = gamma * x_hat + beta
    backward    g_gamma = sum gy * x_hat,   g_beta = sum gy,
                gx = gamma / sqrt(var + eps) * (gy - (g_beta + x_hat * g_gamma) / m)   (training)
                gx = gamma / sqrt(var + eps) * gy              (fixed statistics, evaluation)

Data is stored channels-last, (N, *S, C) C-contiguous (``channels_last=True``, as the
convolutions produce it), or channels-first, (N, C, *S) C-contiguous; gamma, beta, mean and var are
(C,) float32 arrays. gamma and beta may be None (then 1 and 0, with no gradient).
"""
from __future__ import annotations

import ctypes

import numpy as np

from ._library import NormConfig, load
from .conv import _FLOAT32, _call, _check, _memoised, _output

__all__ = ["batch_norm_forward", "batch_norm_backward", "batch_norm_implementation_name"]

# SBN_GLOBAL_STATS, SBN_SCALE, SBN_SHIFT of _dnnl_common.h: Striate's bits, which the C side maps
# onto the loaded oneDNN's dnnl_normalization_flags_t (their values changed in 3.0)
_USE_GLOBAL_STATS, _USE_SCALE, _USE_SHIFT, _FUSE_RELU = 0x1, 0x2, 0x4, 0x8
_plans: dict = {}


def _plan(shape, channels_last: bool, flags: int, eps: float, op: str):
    """The C configuration and the channel count for data of ``shape``, checked and memoised."""
    return _memoised(_plans, _make_plan, (shape, channels_last, flags, eps), op)


def _make_plan(shape, channels_last: bool, flags: int, eps: float, op: str):
    nsp = len(shape) - 2
    if nsp not in (0, 1, 2, 3):
        raise ValueError(f"{op}: expected data with 0 to 3 spatial axes, got shape {shape}")
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps}")
    c = shape[-1] if channels_last else shape[1]
    spatial = shape[1:-1] if channels_last else shape[2:]
    if nsp == 1 and channels_last:
        # oneDNN 2.6 runs nwc batch norm on its reference code (6.5x slower than NumPy on
        # (128, 16, 100)); the same bytes as nhwc with H = 1 get its jit kernel
        nsp, spatial = 2, (1,) + tuple(spatial)
    config = NormConfig(nsp=nsp, n=shape[0], c=c, channels_last=int(channels_last),
                        flags=flags, eps=eps)
    config.sp[:nsp] = spatial
    return config, c


def _vector(a, c: int, name: str, op: str):
    return None if a is None else _check(a, (c,), name, op)


def batch_norm_forward(x, gamma=None, beta=None, eps: float = 1e-5, mean=None, var=None,
                       channels_last: bool = True, out=None, out_mean=None,
                       out_var=None, relu: bool = False) -> tuple:
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, with the batch's statistics or given ones;
    with ``relu``, y = max(that, 0) in the same pass (oneDNN's fused ReLU, which maps NaN to 0).

    Args:
        x: (N, *S, C) float32 C-contiguous (channels last), or (N, C, *S) with
            ``channels_last=False``; 0 to 3 spatial axes.
        gamma, beta: (C,) float32 or None.
        eps: added to the variance.
        mean, var: None for training (the batch's mean and biased variance are computed and
            returned), or the (C,) float32 statistics to normalise with (evaluation).
        out, out_mean, out_var: optional preallocated y and (training) statistics arrays.
        relu: apply ReLU to y; training then also returns the workspace (one bit per value,
            where y > 0) that :func:`batch_norm_backward` needs as ``relu_workspace``.

    Returns:
        (y, mean, var): y shaped and stored as x; mean and var the (C,) statistics used; with
        ``relu`` in training, (y, mean, var, workspace).
    """
    op = "batch_norm_forward"
    _check(x, None, "x", op)
    training = mean is None
    if training != (var is None):
        raise ValueError(f"{op}: give both mean and var (evaluation) or neither (training)")
    flags = ((0 if training else _USE_GLOBAL_STATS) | (0 if gamma is None else _USE_SCALE)
             | (0 if beta is None else _USE_SHIFT) | (_FUSE_RELU if relu else 0))
    config, c = _plan(x.shape, bool(channels_last), flags, float(eps), op)
    gamma, beta = _vector(gamma, c, "gamma", op), _vector(beta, c, "beta", op)
    workspace = None
    if relu and training:
        workspace = np.empty(_workspace_bytes(config, op), np.uint8)
    if training:
        mean = _output(out_mean, (c,), "out_mean", op)
        var = _output(out_var, (c,), "out_var", op)
    else:
        mean, var = _check(mean, (c,), "mean", op), _check(var, (c,), "var", op)
    y = _output(out, x.shape, "out", op)
    if x.size == 0:
        if training:
            raise ValueError(f"{op}: training needs at least one value per channel, got shape "
                             f"{x.shape}")
        return y, mean, var
    _call(load().sbnorm_forward, op, config, x, mean, var, gamma, beta, y, workspace)
    return (y, mean, var) if workspace is None else (y, mean, var, workspace)


def _workspace_bytes(config, op: str) -> int:
    size = ctypes.c_int64()
    if load().sbnorm_workspace_bytes(ctypes.byref(config), ctypes.byref(size)) != 0:
        raise RuntimeError(f"{op}: oneDNN failed ({load().sconv_last_error().decode()})")
    return max(size.value, 1)


def batch_norm_backward(x, gy, mean, var, gamma=None, beta=None, eps: float = 1e-5,
                        global_stats: bool = False,
                        channels_last: bool = True, out=None, relu_workspace=None) -> tuple:
    """gx, g_gamma and g_beta from gy and the forward's x and statistics.

    Args:
        x, gy: the forward input and the gradient of its output, same shape and layout, float32
            C-contiguous.
        mean, var: (C,) float32, the statistics the forward normalised with.
        gamma: (C,) float32 or None; given, g_gamma is computed.
        beta: (C,) float32 or None; given, g_beta is computed (no gradient depends on its
            values, but oneDNN 2.6 reads it).
        global_stats: the statistics were fixed (evaluation): mean and var are constants.
        out: optional preallocated gx.
        relu_workspace: the workspace of a training forward with ``relu``: gy is then the
            gradient of relu(batch norm), masked by the workspace in the same pass.

    Returns:
        (gx, g_gamma, g_beta); g_gamma None without gamma, g_beta None without beta.
    """
    op = "batch_norm_backward"
    _check(x, None, "x", op)
    _check(gy, x.shape, "gy", op)
    relu = relu_workspace is not None
    if relu and global_stats:
        raise ValueError(f"{op}: relu_workspace comes from a training forward (global_stats "
                         "is False)")
    flags = ((_USE_GLOBAL_STATS if global_stats else 0) | (0 if gamma is None else _USE_SCALE)
             | (0 if beta is None else _USE_SHIFT) | (_FUSE_RELU if relu else 0))
    config, c = _plan(x.shape, bool(channels_last), flags, float(eps), op)
    mean, var = _check(mean, (c,), "mean", op), _check(var, (c,), "var", op)
    if relu:
        need = _workspace_bytes(config, op)  # one bit per value: the same for every flag set
        if not (isinstance(relu_workspace, np.ndarray) and relu_workspace.dtype == np.uint8
                and relu_workspace.flags.c_contiguous and relu_workspace.size >= need):
            raise ValueError(f"{op}: relu_workspace must be the uint8 workspace the training "
                             f"forward returned ({need} bytes)")
    gamma, beta = _vector(gamma, c, "gamma", op), _vector(beta, c, "beta", op)
    gx = _output(out, x.shape, "out", op)
    g_gamma = None if gamma is None else np.empty(c, _FLOAT32)
    g_beta = None if beta is None else np.empty(c, _FLOAT32)
    if x.size == 0:
        for a in (g_gamma, g_beta):
            if a is not None:
                a[...] = 0
        return gx, g_gamma, g_beta
    _call(load().sbnorm_backward, op, config, x, mean, var, gy, gamma, beta, gx, g_gamma,
          g_beta, relu_workspace)
    return gx, g_gamma, g_beta


def batch_norm_implementation_name(kind: str, shape, channels_last: bool = True,
                                   training: bool = True, affine: bool = True) -> str:
    """The oneDNN implementation chosen for a batch-norm pass ('forward' or 'backward'), e.g.
    ``'bnorm_jit:avx512_core'``. Creates and caches the primitive if needed."""
    op = "batch_norm_implementation_name"
    kinds = {"forward": 0, "backward": 1}
    if kind not in kinds:
        raise ValueError(f"{op}: kind must be one of {sorted(kinds)}, got {kind!r}")
    flags = (0 if training else _USE_GLOBAL_STATS) | (_USE_SCALE | _USE_SHIFT if affine else 0)
    config, _ = _plan(tuple(shape), bool(channels_last), flags, 1e-5, op)
    name = load().sops_impl_name(kinds[kind], ctypes.byref(config))
    if name is None:
        raise RuntimeError(f"{op}: oneDNN failed ({load().sconv_last_error().decode()})")
    return name.decode()
