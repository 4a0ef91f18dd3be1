"""Normalisation layers: BatchNorm1d/2d/3d (checklist R3) and LocalResponseNorm (R4).

Batch normalisation (Ioffe & Szegedy 2015) standardises every channel with the mean and variance
of the current batch while training, and with running averages of them at evaluation time:

    training:  y = (x - mean_B) / sqrt(var_B + eps) * weight + bias
               running_mean <- (1 - momentum) running_mean + momentum mean_B
               running_var  <- (1 - momentum) running_var  + momentum var_B * m / (m - 1)
    eval:      y = (x - running_mean) / sqrt(running_var + eps) * weight + bias

with m the number of values per channel in the batch. Names, shapes and defaults are PyTorch's:
``weight`` (C,) = 1 and ``bias`` (C,) = 0 (when ``affine``; ``bias=False`` drops the shift),
buffers ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1 and ``num_batches_tracked`` (an int64
scalar) = 0 (when ``track_running_stats``), so a ``state_dict`` loads into ``torch.nn.BatchNorm2d`` as is.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from ..backend import get_default_dtype
from . import init
from ._checks import check, is_real
from .activation import ReLU
from .layers import empty_parameter, is_int
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LocalResponseNorm", "batch_norm_relu"]


class _BatchNorm(Module):
    _input_dims = (4,)
    _shape_name = "(N, C, H, W)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        if not is_int(num_features) or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if momentum is not None and (not isinstance(momentum, numbers.Real)
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be a number in [0, 1] or None (cumulative "
                             f"average), got {momentum!r}")
        check(name, "eps", eps, is_real(eps), "a positive number", TypeError)
        check(name, "eps", eps, eps > 0, "a positive number")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = empty_parameter(num_features)
            self.register_parameter("bias", empty_parameter(num_features) if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            dtype = get_default_dtype()
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Statistics reset; weight = 1, bias = 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        return self._forward(x, F.batch_norm)

    def _forward(self, x, op):
        if x.ndim not in self._input_dims:
            raise ValueError(f"{type(self).__name__}: expected a {self._shape_name} input "
                             f"({' or '.join(f'{d}-d' for d in self._input_dims)}), "
                             f"got shape {x.shape}")
        if self.training and not self.track_running_stats:
            mean, var = None, None
        else:
            mean, var = self.running_mean, self.running_var  # None when not tracked
        # Batch statistics while training, and at evaluation when there are no running ones.
        use_batch = self.training or mean is None
        counter = self.num_batches_tracked if self.training else None
        return op(x, mean, var, self.weight, self.bias, training=use_batch,
                  momentum=self.momentum, eps=self.eps, num_batches_tracked=counter)

    def _fused_with_next(self, x, following):
        """relu(self(x)) as one op (``F.batch_norm_relu``) when ``following`` is a plain ReLU
        and neither module has hooks nor overrides forward; else None (call them one by one).
        ``nn.Sequential`` asks each module this of the next one."""
        if (type(following) is not ReLU or following._forward_pre_hooks
                or following._forward_hooks):
            return None
        return self.fused_relu(x)

    def fused_relu(self, x):
        """``F.relu(self(x))`` as one op (``F.batch_norm_relu``), or None when this module has
        hooks or a subclass overrides forward (they must see the batch norm's own output)."""
        if (type(self).forward is not _BatchNorm.forward or self._forward_pre_hooks
                or self._forward_hooks):
            return None
        return self._forward(x, F.batch_norm_relu)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


def batch_norm_relu(bn, relu, x):
    """``relu(bn(x))`` for a batch-norm module (or an Identity standing in for one) and a ReLU
    module: one fused op when :meth:`_BatchNorm._fused_with_next` allows it, else the two
    calls. The blocks of :mod:`striate.nn.blocks` and the ResNet stems use it."""
    fused = getattr(bn, "_fused_with_next", None)
    y = None if fused is None else fused(x, relu)
    return relu(bn(x)) if y is None else y


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features or (N, C, L) sequences, as ``torch.nn.BatchNorm1d``.

    See :class:`BatchNorm2d` for the arguments.
    """

    _input_dims = (2, 3)
    _shape_name = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) feature maps, one mean and variance per channel (R3).

    Args:
        num_features: C.
        eps: added to the variance before the square root.
        momentum: the new batch's weight in the running averages; ``None``: a cumulative
            (equal-weight) average over all batches seen, factor 1 / num_batches_tracked.
        affine: learn the per-channel scale ``weight`` (gamma) and shift ``bias`` (beta).
        bias: with ``affine``, also learn the shift (keyword-only, as in PyTorch 2.13).
        track_running_stats: keep running statistics and use them at evaluation; without them
            the layer normalises with batch statistics in evaluation too.

    Shapes:
        input and output (N, C, H, W).
    """

    _input_dims = (4,)
    _shape_name = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) volumes, as ``torch.nn.BatchNorm3d``."""

    _input_dims = (5,)
    _shape_name = "(N, C, D, H, W)"


class LocalResponseNorm(Module):
    """Local response normalisation across channels (R4), as ``torch.nn.LocalResponseNorm``.

    b_c = a_c / (k + alpha / n * sum_{c' near c} a_{c'}^2)^beta over n = ``size`` channels.
    PyTorch's alpha multiplies the *mean* over the window, AlexNet's the sum: the paper's layer
    (k=2, n=5, alpha=1e-4, beta=0.75) is ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)``.
    See :func:`striate.functional.local_response_norm`.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        if not is_int(size) or size <= 0:
            raise ValueError(f"LocalResponseNorm: size must be a positive int, got {size!r}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
