"""Normalisation layers: batch normalisation (R3) and local response normalisation (R4).

Both normalise across the channel axis 1 of an (N, C, ...) tensor. Batch normalisation
standardises each channel with statistics over the batch and every spatial position, then applies
a learned per-channel scale and shift; at evaluation time it uses running averages of those
statistics instead. Local response normalisation (AlexNet) divides each activation by a power of
the energy of its neighbours in the adjacent channels at the same position.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import autograd, kernels
from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module
from . import fusion
from .activation import relu, relu_backward_rule_in_force, relu_mask_gradient

__all__ = ["batch_norm", "batch_norm_relu", "local_response_norm"]


def _per_channel(a, ndim: int):
    """A (C,) array shaped (1, C, 1, ..., 1) to broadcast against an (N, C, ...) input."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def _stat_axes(ndim: int) -> tuple:
    """Every axis but the channel axis 1: (0, 2, 3, ...)."""
    return (0,) + tuple(range(2, ndim))


def _fast_kernels(x, *arrays):
    """oneDNN's batch-normalisation kernels when selected and able to run this case, else None.

    They compute the reference formulas of :class:`BatchNorm` and :class:`BatchNormInference` on
    float32 NumPy data with 1 to 3 spatial axes stored channels-last, as the convolutions leave it
    (``moveaxis(x, 1, -1)`` C-contiguous), with float32 parameters and statistics.
    """
    fast = kernels.norm_kernels(x)
    if fast is None or x.size == 0 or not np.moveaxis(x, 1, -1).flags.c_contiguous:
        return None
    if any(a is not None and a.dtype != x.dtype for a in arrays):
        return None
    return fast


def _channels_last(a):
    """(N, C, *S) -> its (N, *S, C) view, made C-contiguous (a copy unless stored so)."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1), dtype=np.float32)


def _contiguous(a):
    """A (C,) parameter as the contiguous array the fast kernels read (None stays None)."""
    return None if a is None else np.ascontiguousarray(a)


class BatchNorm(Function):
    """Batch normalisation with the batch's statistics (training mode).

    Forward, per channel c over its m = N * (spatial size) values (Ioffe & Szegedy, 2015):
        mu = (1/m) sum x,   var = (1/m) sum (x - mu)^2   (biased),   sigma = sqrt(var + eps)
        x_hat = (x - mu) / sigma,   y = gamma * x_hat + beta
    Backward, the sums again over the m values of each channel:
        g_gamma = sum gy * x_hat,   g_beta = sum gy
        gx = (1/m) * (gamma / sigma) * (m * gy - sum gy - x_hat * sum (gy * x_hat))
    (mu and sigma depend on every x of the channel, hence the two subtracted sums).

    Shapes: x, y, gy, gx (N, C, *); gamma, beta (C,) or None (then 1 and 0).
    After forward, ``batch_mean`` and ``batch_var`` (biased) hold the (C,) statistics.
    """

    def __init__(self, eps: float):
        self.eps = eps

    def forward(self, x, gamma, beta):
        self.fast = _fast_kernels(x, gamma, beta)
        if self.fast is not None:
            return self._fast_forward(x, gamma, beta)
        axes = _stat_axes(x.ndim)
        self.count = x.size // x.shape[1]
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        self.inv_std = 1 / get_array_module(x).sqrt(var + self.eps)      # (1, C, 1, ...)
        self.x_hat = centered * self.inv_std
        self.gamma = gamma
        self.batch_mean, self.batch_var = mean.reshape(-1), var.reshape(-1)
        y = self.x_hat if gamma is None else self.x_hat * _per_channel(gamma, x.ndim)
        return y if beta is None else y + _per_channel(beta, x.ndim)

    def _fast_forward(self, x, gamma, beta):
        """The same y and statistics from oneDNN on the channels-last data; backward then
        recomputes x_hat from x and the statistics instead of keeping it."""
        self.x = np.moveaxis(x, 1, -1)
        self.gamma, self.beta = _contiguous(gamma), _contiguous(beta)
        y, self.batch_mean, self.batch_var = self.fast.batch_norm_forward(
            self.x, self.gamma, self.beta, self.eps)
        return np.moveaxis(y, -1, 1)  # (N, C, *S), stored channels last

    def backward(self, gy):
        if self.fast is not None:
            return self._fast_backward(gy, global_stats=False)
        axes = _stat_axes(gy.ndim)
        sum_gy = gy.sum(axis=axes, keepdims=True)                        # (1, C, 1, ...)
        sum_gy_xhat = (gy * self.x_hat).sum(axis=axes, keepdims=True)    # (1, C, 1, ...)
        gx = g_gamma = g_beta = None
        if self.needs_input_grad[0]:
            scale = self.inv_std
            if self.gamma is not None:
                scale = scale * _per_channel(self.gamma, gy.ndim)
            gx = scale * (gy - (sum_gy + self.x_hat * sum_gy_xhat) / self.count)
        if self.needs_input_grad[1]:
            g_gamma = sum_gy_xhat.reshape(-1)
        if self.needs_input_grad[2]:
            g_beta = sum_gy.reshape(-1)
        return gx, g_gamma, g_beta

    def _fast_backward(self, gy, global_stats: bool, relu_workspace=None):
        """gx, g_gamma, g_beta from oneDNN (g_beta only when asked: it costs a pass); with the
        workspace of a fused ReLU (:class:`BatchNormReLU`), gy is masked in the same pass."""
        mean, var = ((self.mean32, self.var32) if global_stats
                     else (self.batch_mean, self.batch_var))
        beta = self.beta if self.needs_input_grad[2] else None  # given, g_beta is computed
        gx, g_gamma, g_beta = self.fast.batch_norm_backward(
            self.x, _channels_last(gy), mean, var, self.gamma, beta, self.eps,
            global_stats=global_stats, relu_workspace=relu_workspace)
        return (np.moveaxis(gx, -1, 1) if self.needs_input_grad[0] else None,
                g_gamma if self.needs_input_grad[1] else None,
                g_beta if self.needs_input_grad[2] else None)


class BatchNormInference(Function):
    """Batch normalisation with fixed statistics (evaluation mode): an affine map per channel.

    Forward:  x_hat = (x - mean) / sqrt(var + eps),  y = gamma * x_hat + beta
    Backward: gx = gy * gamma / sqrt(var + eps),  g_gamma = sum gy * x_hat,  g_beta = sum gy
    (sums over every axis but the channel axis). ``mean`` and ``var`` are (C,) constants.
    """

    def __init__(self, mean, var, eps: float):
        self.mean, self.var, self.eps = mean, var, eps

    def forward(self, x, gamma, beta):
        self.fast = _fast_kernels(x, gamma, beta)
        if self.fast is not None:
            return self._fast_forward(x, gamma, beta)
        xp = get_array_module(x)
        self.x, self.gamma = x, gamma
        self.inv_std = _per_channel(1 / xp.sqrt(self.var.astype(x.dtype) + self.eps), x.ndim)
        y = (x - _per_channel(self.mean.astype(x.dtype), x.ndim)) * self.inv_std
        if gamma is not None:
            y = y * _per_channel(gamma, x.ndim)
        return y if beta is None else y + _per_channel(beta, x.ndim)

    def _fast_forward(self, x, gamma, beta):
        """The same y from oneDNN on the channels-last data (statistics cast to float32)."""
        self.x = np.moveaxis(x, 1, -1)
        self.gamma, self.beta = _contiguous(gamma), _contiguous(beta)
        self.mean32 = np.ascontiguousarray(self.mean, dtype=np.float32)
        self.var32 = np.ascontiguousarray(self.var, dtype=np.float32)
        y, _, _ = self.fast.batch_norm_forward(self.x, self.gamma, self.beta, self.eps,
                                               mean=self.mean32, var=self.var32)
        return np.moveaxis(y, -1, 1)

    _fast_backward = BatchNorm._fast_backward

    def backward(self, gy):
        if self.fast is not None:
            return self._fast_backward(gy, global_stats=True)
        axes = _stat_axes(gy.ndim)
        gx = g_gamma = g_beta = None
        if self.needs_input_grad[0]:
            scale = self.inv_std
            if self.gamma is not None:
                scale = scale * _per_channel(self.gamma, gy.ndim)
            gx = gy * scale
        if self.needs_input_grad[1]:
            x_hat = (self.x - _per_channel(self.mean.astype(gy.dtype), gy.ndim)) * self.inv_std
            g_gamma = (gy * x_hat).sum(axis=axes)
        if self.needs_input_grad[2]:
            g_beta = gy.sum(axis=axes)
        return gx, g_gamma, g_beta


class BatchNormReLU(Function):
    """relu(batch norm(x)) with the batch's statistics, as one oneDNN pass each way (its
    ``fuse_norm_relu``): the formulas of :class:`BatchNorm` and of ReLU, where

        forward    y = max(gamma * x_hat + beta, 0)      (no separate pass over the BN output)
        backward   the BN backward of gy * [y > 0], the mask read from one bit per value that
                   the forward wrote (a workspace), in the BN backward's own pass.

    Built only on the oneDNN path (see :func:`batch_norm_relu`). Measured at 2 threads, forward +
    backward of (128, 16, 28, 28): 1.2 ms against 1.9-2.3 ms for batch norm, then ReLU.

    NaN stays NaN, as in the unfused ops: a NaN or infinite input makes its channel's statistics
    NaN, which is checked (with gamma and beta) after the forward; then the output and the
    backward are the unfused ops' (batch norm, then the NaN-keeping ReLU). The ReLU backward
    rules of :func:`~striate.functional.activation.relu_backward_rule` (guided, deconvnet) apply
    too: the backward then masks gy itself, from the output, before the batch-norm backward.
    """

    def __init__(self, eps: float, fast):
        self.eps, self.fast = eps, fast

    def forward(self, x, gamma, beta):
        self.x = np.moveaxis(x, 1, -1)
        self.gamma, self.beta = _contiguous(gamma), _contiguous(beta)
        y, self.batch_mean, self.batch_var, self.workspace = self.fast.batch_norm_forward(
            self.x, self.gamma, self.beta, self.eps, relu=True)
        finite = all(a is None or np.isfinite(a).all()
                     for a in (self.batch_mean, self.batch_var, self.gamma, self.beta))
        if not finite:  # the unfused ops, whose NaN handling is the reference's
            self.workspace = None
            y, self.batch_mean, self.batch_var = self.fast.batch_norm_forward(
                self.x, self.gamma, self.beta, self.eps)
            y = self.fast.relu_forward(y, out=y) if self.fast.dense(y) else np.maximum(y, 0)
        self.y = y
        return np.moveaxis(y, -1, 1)  # (N, C, *S), stored channels last

    def backward(self, gy):
        if self.workspace is not None and relu_backward_rule_in_force() == "gradient":
            return BatchNorm._fast_backward(self, gy, False, relu_workspace=self.workspace)
        # gy * [y > 0], or the guided / deconvnet rule's, then the plain batch-norm backward
        g = relu_mask_gradient(self.y, _channels_last(gy), self.fast)
        return BatchNorm._fast_backward(self, np.moveaxis(g, -1, 1), False)


def _raw(a):
    return a.data if isinstance(a, Tensor) else a


def _check_channels(arg: str, a, channels: int) -> None:
    if a is not None and _raw(a).size != channels:
        raise ValueError(f"batch_norm: {arg} should contain {channels} elements (one per channel "
                         f"of the input), got {_raw(a).size}")


def _update_running(running, stat, factor: float) -> None:
    """running <- (1 - factor) * running + factor * stat, written into running's own array."""
    arr = _raw(running)
    arr[...] = ((1 - factor) * arr + factor * stat.reshape(arr.shape)).astype(arr.dtype)


def _running_factor(momentum, num_batches_tracked) -> float:
    """Count this batch in ``num_batches_tracked`` (in place) and return the averaging factor."""
    if num_batches_tracked is not None:
        _raw(num_batches_tracked)[...] += 1
    if momentum is not None:
        return float(momentum)
    if num_batches_tracked is None:
        raise ValueError("batch_norm: momentum=None (cumulative average) needs "
                         "num_batches_tracked, the count of batches seen so far")
    return 1.0 / float(_raw(num_batches_tracked).reshape(()))


def batch_norm_relu(input, running_mean, running_var, weight=None, bias=None,  # noqa: A002
                    training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5,
                    num_batches_tracked=None) -> Tensor:
    """``relu(batch_norm(...))`` (the same arguments as :func:`batch_norm`), as one fused op
    (:class:`BatchNormReLU`) when training on the oneDNN kernels with a float32 input stored
    channels last, while no :mod:`striate.analysis` observer watches the ops and fusion is on
    (:func:`striate.functional.fusion.enabled`); otherwise the two ops. ``nn.Sequential`` and
    the blocks of :mod:`striate.nn.blocks` call it for a batch norm followed by a ReLU."""
    x = as_tensor(input)
    w = None if weight is None else as_tensor(weight).reshape(-1)
    b = None if bias is None else as_tensor(bias).reshape(-1)
    fast = None
    if (training and x.ndim >= 2 and x.dtype == np.float32 and not autograd._op_observers
            and fusion.enabled()):
        fast = _fast_kernels(x.data, *(None if t is None else t.data for t in (w, b)))
    if fast is None or x.data.size // max(x.shape[1], 1) <= 1:
        return relu(batch_norm(x, running_mean, running_var, weight, bias, training=training,
                               momentum=momentum, eps=eps,
                               num_batches_tracked=num_batches_tracked))
    _check_batch_norm_args(x, running_mean, running_var, weight, bias, momentum)
    fn = BatchNormReLU(eps, fast)
    y = fn(x, w, b)
    _track(fn, running_mean, running_var, momentum, num_batches_tracked, x.data.size // x.shape[1])
    return y


def _check_batch_norm_args(x, running_mean, running_var, weight, bias, momentum) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...) with at least 2 "
                         f"dimensions, got shape {x.shape}")
    if momentum is not None and not isinstance(momentum, numbers.Real):
        raise TypeError(f"batch_norm: momentum must be a number or None, got {momentum!r}")
    for arg, a in (("running_mean", running_mean), ("running_var", running_var),
                   ("weight", weight), ("bias", bias)):
        _check_channels(arg, a, x.shape[1])


def _track(fn, running_mean, running_var, momentum, num_batches_tracked, count: int) -> None:
    """Update the running statistics from a training forward's batch statistics."""
    if running_mean is not None or running_var is not None:
        factor = _running_factor(momentum, num_batches_tracked)
        if running_mean is not None:
            _update_running(running_mean, fn.batch_mean, factor)
        if running_var is not None:
            _update_running(running_var, fn.batch_var * (count / (count - 1)), factor)


def batch_norm(input, running_mean, running_var, weight=None, bias=None,  # noqa: A002
               training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5,
               num_batches_tracked=None) -> Tensor:
    """Batch normalisation over channel axis 1, as ``torch.nn.functional.batch_norm``.

    Training normalises with the batch's mean and biased variance over every axis but axis 1,
    then updates the running statistics in place (their arrays are written, so a layer's buffers
    see the new values)::

        running_mean <- (1 - momentum) running_mean + momentum * mean
        running_var  <- (1 - momentum) running_var  + momentum * var * m / (m - 1)   (unbiased)

    Evaluation normalises with ``running_mean`` and ``running_var``. See :class:`BatchNorm` for
    the forward and backward formulas.

    Args:
        input: (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W) floating tensor.
        running_mean, running_var: (C,) Tensors or arrays, updated in place when training; may
            be ``None`` when training (nothing is tracked), required in evaluation.
        weight, bias: the learned (C,) scale gamma and shift beta, or ``None``.
        training: use (and track) batch statistics instead of the running ones.
        momentum: weight of the new batch in the running averages; ``None`` means a cumulative
            (equal-weight) average, factor 1 / num_batches_tracked, as ``torch.nn.BatchNorm2d``.
        eps: added to the variance before the square root.
        num_batches_tracked: optional one-element integer Tensor or array counting the training
            batches; incremented in place on every training call that tracks statistics, and
            required when ``momentum`` is ``None`` (PyTorch keeps this counter in the layer).

    Returns:
        A tensor of the input's shape.
    """
    x = as_tensor(input)
    _check_batch_norm_args(x, running_mean, running_var, weight, bias, momentum)
    channels = x.shape[1]
    w = None if weight is None else as_tensor(weight).reshape(-1)
    b = None if bias is None else as_tensor(bias).reshape(-1)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given in "
                             "evaluation mode (training=False)")
        folded = fusion.fold_batch_norm(x, _raw(running_mean), _raw(running_var), w, b, eps)
        if folded is not None:  # inference on oneDNN: into the convolution's weights
            return folded
        xp = get_array_module(x.data)
        mean = xp.asarray(_raw(running_mean)).reshape(-1)
        var = xp.asarray(_raw(running_var)).reshape(-1)
        return BatchNormInference(mean, var, eps)(x, w, b)
    count = x.data.size // max(channels, 1)
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    fn = BatchNorm(eps)
    y = fn(x, w, b)
    _track(fn, running_mean, running_var, momentum, num_batches_tracked, count)
    return y


# ---------------------------------------------------------------------------------------------
def _channel_window_sum(a, before: int, after: int):
    """s[:, c] = sum of a[:, c'] for c - before <= c' <= c + after (outside channels count 0)."""
    xp = get_array_module(a)
    channels = a.shape[1]
    padded = xp.zeros((a.shape[0], channels + before + after) + a.shape[2:], dtype=a.dtype)
    padded[:, before:before + channels] = a
    s = padded[:, 0:channels].copy()
    for offset in range(1, before + after + 1):
        s += padded[:, offset:offset + channels]
    return s


class LocalResponseNorm(Function):
    """Local response normalisation across channels, as PyTorch computes it.

    Forward, with n = ``size`` and the window W(c) = [c - n//2, c + (n-1)//2] clipped to the
    channels (missing channels count as 0):
        d_c = k + (alpha / n) * sum_{c' in W(c)} x_{c'}^2,      y_c = x_c * d_c^(-beta)
    Backward: x_j appears in its own numerator and in d_c for every c whose window holds j, i.e.
    c in [j - (n-1)//2, j + n//2] (the window mirrored):
        gx_j = gy_j d_j^(-beta) - (2 alpha beta / n) x_j * sum_{c: j in W(c)} gy_c x_c d_c^(-beta-1)

    Shapes: x, y, gy, gx (N, C, *).
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        n = self.size
        energy = _channel_window_sum(x * x, n // 2, (n - 1) // 2)
        self.x = x
        self.d = self.k + (self.alpha / n) * energy
        self.scale = self.d ** -self.beta                                # d^(-beta)
        return x * self.scale

    def backward(self, gy):
        n = self.size
        t = gy * self.x * self.scale / self.d                            # gy_c x_c d_c^(-beta-1)
        spread = _channel_window_sum(t, (n - 1) // 2, n // 2)
        return gy * self.scale - (2 * self.alpha * self.beta / n) * self.x * spread


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75,  # noqa: A002
                        k: float = 1.0) -> Tensor:
    """Local response normalisation across channels, as ``torch.nn.functional.local_response_norm``.

    b_c = a_c / (k + (alpha / n) * sum_{c'} a_{c'}^2)^beta, the sum over the n = ``size``
    channels from c - n//2 to c + (n-1)//2 (centred for odd n; channels past the edges count 0).

    Note how this differs from AlexNet (Krizhevsky et al. 2012, section 3.3), which writes
    b_c = a_c / (k + alpha * sum a^2)^beta with k = 2, n = 5, alpha = 1e-4, beta = 0.75: the paper's
    alpha multiplies the plain *sum*, PyTorch's (and this function's) alpha multiplies the *mean*
    over the n channels. The paper's layer is therefore
    ``local_response_norm(x, size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)`` (alpha times n), and
    PyTorch's default k is 1, not 2.

    Args:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W) floating tensor (3 or more dimensions).
        size: n, the number of neighbouring channels in the window (a positive int).
        alpha, beta, k: as in the formula.
    """
    x = as_tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(f"local_response_norm: input must be a floating-point tensor, "
                        f"got dtype {x.dtype}")
    if x.ndim < 3:
        raise ValueError(f"local_response_norm: expected an input of 3 or more dimensions "
                         f"(N, C, ...), got shape {x.shape}")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    if x.data.size == 0:
        return x
    return LocalResponseNorm(int(size), float(alpha), float(beta), float(k))(x)
