"""Weight initialisation schemes (checklist F6), as ``torch.nn.init`` names them.

Each function fills a tensor in place from Striate's seeded generator and returns it.

- Fixed Gaussian: w ~ N(mean, std^2), e.g. std = 0.01 (AlexNet, early VGG).
- Xavier / Glorot (Glorot & Bengio 2010): Var(w) = gain^2 * 2 / (fan_in + fan_out), keeping the
  variance of activations and of gradients about constant across layers for tanh-like units.
  Uniform version: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).
- He / Kaiming (He et al. 2015): Var(w) = gain^2 / fan, gain = sqrt(2) for ReLU, so
  Var = 2 / fan_in: a ReLU halves the second moment, the factor 2 restores it.
  Uniform version: U(-b, b) with b = gain * sqrt(3 / fan).

For a convolution weight (out, in/groups, k...), fan_in = in/groups * prod(k) and
fan_out = out * prod(k), as in PyTorch.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from ..autograd import Tensor
from ..backend import get_array_module, get_generator

__all__ = ["calculate_gain", "calculate_fan_in_and_fan_out", "uniform_", "normal_", "constant_",
           "zeros_", "ones_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "skip_init"]

_skipping = False


@contextlib.contextmanager
def skip_init():
    """Inside this context the random schemes (``uniform_``, ``normal_`` and the Xavier and
    Kaiming ones built on them) leave their tensor as it is, so building a model allocates its
    parameters without drawing them: for counting parameters, or for loading weights right after
    (like ``torch.nn.utils.skip_init``). Striate's generator is not advanced.

    Example::

        with striate.nn.init.skip_init():
            count = striate.models.create("vgg16").num_parameters()   # no 138M random draws
    """
    global _skipping
    previous, _skipping = _skipping, True
    try:
        yield
    finally:
        _skipping = previous


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The gain that keeps the activation variance for ``nonlinearity`` (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: (in * receptive field, out * receptive field)."""
    if tensor.ndim < 2:
        raise ValueError(f"init: fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor: Tensor, values) -> Tensor:
    xp = get_array_module(tensor.data)
    tensor.data[...] = xp.asarray(values, dtype=tensor.dtype)
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    if _skipping:
        return tensor
    return _fill(tensor, get_generator().uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2) (the lectures' fixed-variance Gaussian, e.g. std=0.01)."""
    if _skipping:
        return tensor
    return _fill(tensor, get_generator().normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, value: float) -> Tensor:
    """Fill with ``value``."""
    tensor.data[...] = value
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0 (e.g. biases)."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1 (e.g. a batch norm's weight)."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """U(-b, b), b = gain * sqrt(3 / fan); ``a`` is the leaky-ReLU slope in the gain."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """N(0, std^2), std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
