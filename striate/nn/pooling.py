"""Pooling layers (checklist P1-P5): each wraps the functional op of the same name.

Max, average, adaptive and Lp pooling store their arguments as ``torch.nn`` does (so the reprs
match); the layers without a PyTorch twin are the lectures': global pooling (NIN, GoogLeNet),
stochastic pooling, spatial pyramid pooling and LeNet-5's trainable subsampling.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from .. import functional as F
from . import init
from ._checks import check, int_tuple, is_real
from .layers import empty_parameter, is_int, ntuple
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d",
           "FractionalMaxPool2d", "StochasticPool2d", "SpatialPyramidPool2d", "GlobalAvgPool2d",
           "GlobalMaxPool2d", "Subsampling2d"]


def _check_windows(layer: str, nd: int, kernel_size, stride=None, padding=0, dilation=1) -> None:
    """Check a pooling layer's window arguments as its functional op will (ints or tuples of
    ``nd`` ints or of one; stride None or empty for kernel_size; padding at most kernel_size // 2,
    PyTorch's rule), raising now, with the layer's name, rather than at the first forward."""
    kernel = int_tuple(layer, "kernel_size", kernel_size, nd, one=True)
    if stride is not None and not (isinstance(stride, (tuple, list)) and len(stride) == 0):
        int_tuple(layer, "stride", stride, nd, one=True)
    pad = int_tuple(layer, "padding", padding, nd, low=0, one=True)
    int_tuple(layer, "dilation", dilation, nd, one=True)
    check(layer, "padding", padding, all(p <= k // 2 for p, k in zip(pad, kernel)),
          f"at most half the kernel size (kernel_size // 2) for kernel_size={kernel_size!r}")


def _check_output_size(layer: str, nd: int, output_size) -> None:
    """An adaptive pool's output_size: an int, or ``nd`` entries each an int or None (keep that
    input size), as the functional op takes it; the ints positive."""
    if is_int(output_size) or output_size is None:
        entries = (output_size,)
    else:
        entries = output_size
        check(layer, "output_size", output_size,
              isinstance(entries, (tuple, list)) and len(entries) == nd
              and all(e is None or is_int(e) for e in entries),
              f"an int or a tuple of {nd} ints (or None)", TypeError)
    check(layer, "output_size", output_size, all(e is None or e >= 1 for e in entries),
          "positive (None keeps that input size)")


# ---------------------------------------------------------------------------------------------
# Max and average pooling
# ---------------------------------------------------------------------------------------------
class _MaxPoolNd(Module):
    _fn = None
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        _check_windows(type(self).__name__, self._nd, kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return self._fn(x, self.kernel_size, self.stride, self.padding, self.dilation,
                        self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1D max pooling over (N, C, L), as ``torch.nn.MaxPool1d``; see :class:`MaxPool2d`."""

    _nd = 1
    _fn = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """2D max pooling (P1), as ``torch.nn.MaxPool2d``; the gradient goes to each window's maximum.

    Args:
        kernel_size: the window, an int or (KH, KW): 2 (stride 2) in LeNet and VGG, 3 with
            stride 2 in AlexNet (overlapping pooling).
        stride: default ``kernel_size``.
        padding: -inf padding on every side, at most kernel_size // 2.
        dilation: spacing between a window's elements.
        return_indices: also return the flat index of each maximum in its plane.
        ceil_mode: round the output size up.

    Shapes:
        input (N, C, H, W); output (N, C, OH, OW), OH = floor((H + 2P - D(K - 1) - 1) / S) + 1.
    """

    _fn = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """3D max pooling over (N, C, D, H, W), as ``torch.nn.MaxPool3d``."""

    _nd = 3
    _fn = staticmethod(F.max_pool3d)


class AvgPool1d(Module):
    """1D average pooling over (N, C, L), as ``torch.nn.AvgPool1d`` (arguments kept as 1-tuples,
    as PyTorch keeps them); see :class:`AvgPool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        _check_windows("AvgPool1d", 1, kernel_size, stride, padding)
        self.kernel_size = ntuple("AvgPool1d", "kernel_size", kernel_size, 1)
        self.stride = ntuple("AvgPool1d", "stride", stride if stride is not None
                             else kernel_size, 1)
        self.padding = ntuple("AvgPool1d", "padding", padding, 1)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    _fn = None
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        name = type(self).__name__
        _check_windows(name, self._nd, kernel_size, stride, padding)
        check(name, "divisor_override", divisor_override, divisor_override is None
              or (is_int(divisor_override) and divisor_override != 0), "a non-zero int or None")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return self._fn(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                        self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """2D average pooling (P2), as ``torch.nn.AvgPool2d``; the gradient is shared equally.

    Args:
        kernel_size, stride, padding, ceil_mode: as :class:`MaxPool2d` (zero padding).
        count_include_pad: divide by the window size including padding (True) or by the number
            of input elements in the window.
        divisor_override: a fixed divisor for every window.
    """

    _fn = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """3D average pooling over (N, C, D, H, W), as ``torch.nn.AvgPool3d``."""

    _nd = 3
    _fn = staticmethod(F.avg_pool3d)


# ---------------------------------------------------------------------------------------------
# Adaptive and global pooling (P3)
# ---------------------------------------------------------------------------------------------
class _AdaptiveAvgPoolNd(Module):
    _fn = None
    _nd = 2

    def __init__(self, output_size):
        super().__init__()
        _check_output_size(type(self).__name__, self._nd, output_size)
        self.output_size = output_size

    def forward(self, x):
        return self._fn(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average over bins of (N, C, L) to (N, C, output_size), as ``torch.nn.AdaptiveAvgPool1d``."""

    _nd = 1
    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Adaptive average pooling to a fixed (OH, OW) from any input size (P3), as
    ``torch.nn.AdaptiveAvgPool2d``; bin i covers [floor(i H / OH), ceil((i + 1) H / OH)).
    An entry None keeps that input size."""

    _fn = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Adaptive average pooling of (N, C, D, H, W), as ``torch.nn.AdaptiveAvgPool3d``."""

    _nd = 3
    _fn = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(Module):
    _fn = None
    _nd = 2

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        _check_output_size(type(self).__name__, self._nd, output_size)
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return self._fn(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Maximum over bins of (N, C, L), as ``torch.nn.AdaptiveMaxPool1d``."""

    _nd = 1
    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Adaptive max pooling to (OH, OW) (P3), as ``torch.nn.AdaptiveMaxPool2d``."""

    _fn = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Adaptive max pooling of (N, C, D, H, W), as ``torch.nn.AdaptiveMaxPool3d``."""

    _nd = 3
    _fn = staticmethod(F.adaptive_max_pool3d)


class GlobalAvgPool2d(Module):
    """Global average pooling (P3; Network-in-Network, GoogLeNet): the mean of each map.

    (N, C, H, W) -> (N, C), or (N, C, 1, 1) with ``keepdim`` (= ``AdaptiveAvgPool2d(1)``).
    """

    def __init__(self, keepdim: bool = False):
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x):
        return F.global_avg_pool2d(x, self.keepdim)

    def extra_repr(self) -> str:
        return f"keepdim={self.keepdim}"


class GlobalMaxPool2d(Module):
    """Global max pooling (P3): the maximum of each map, (N, C, H, W) -> (N, C) (or
    (N, C, 1, 1) with ``keepdim``)."""

    def __init__(self, keepdim: bool = False):
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x):
        return F.global_max_pool2d(x, self.keepdim)

    def extra_repr(self) -> str:
        return f"keepdim={self.keepdim}"


class SpatialPyramidPool2d(Module):
    """Spatial pyramid pooling (He et al. 2014, P5): (N, C, H, W) -> (N, C * sum n^2) for any
    H, W >= max(levels), pooling adaptively to n x n for every n in ``levels``.

    Args:
        levels: the pyramid's grid sizes (default (1, 2, 4): 21 bins per channel).
        mode: ``"max"`` or ``"avg"``.
    """

    def __init__(self, levels=(1, 2, 4), mode: str = "max"):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"SpatialPyramidPool2d: mode must be 'max' or 'avg', got {mode!r}")
        name, expected = "SpatialPyramidPool2d", "a non-empty sequence of positive ints"
        grids = tuple(levels) if isinstance(levels, Iterable) and not isinstance(levels, str) \
            else None
        check(name, "levels", levels, grids is not None, expected, TypeError)
        check(name, "levels", levels, len(grids) > 0 and all(is_int(n) and n > 0 for n in grids),
              expected)
        self.levels, self.mode = grids, mode

    def forward(self, x):
        return F.spatial_pyramid_pool2d(x, self.levels, self.mode)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode}"


# ---------------------------------------------------------------------------------------------
# Lp, fractional and stochastic pooling (P5)
# ---------------------------------------------------------------------------------------------
class _LPPoolNd(Module):
    _fn = None
    _nd = 2

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        name = type(self).__name__
        # The functional op's rule: any non-zero p (p >= 1 is a norm; +-inf is max/min of |x|).
        check(name, "norm_type", norm_type, is_real(norm_type), "a number", TypeError)
        check(name, "norm_type", norm_type, norm_type != 0 and norm_type == norm_type,
              "a non-zero number (usually p >= 1, or inf)")
        _check_windows(name, self._nd, kernel_size, stride)
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, x):
        return self._fn(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L), as ``torch.nn.LPPool1d``; see :class:`LPPool2d`."""

    _nd = 1
    _fn = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """Lp pooling (P5), as ``torch.nn.LPPool2d``: y = (sum over the window of x^p)^(1/p); p = 1 is
    sum pooling, p -> inf max pooling."""

    _fn = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W), as ``torch.nn.LPPool3d``."""

    _nd = 3
    _fn = staticmethod(F.lp_pool3d)


class FractionalMaxPool2d(Module):
    """Fractional max pooling (Graham 2014, P5), as ``torch.nn.FractionalMaxPool2d``.

    Shrinks by a non-integer factor: windows of ``kernel_size`` at pseudo-random places, drawn
    afresh for every call (per image and channel) unless ``_random_samples`` fixes them.

    Args:
        kernel_size: the window, an int or (KH, KW).
        output_size: (OH, OW) or an int; or instead
        output_ratio: OH = int(H * ratio), each ratio in (0, 1) (e.g. 1 / sqrt(2)).
        return_indices: also return the flat index of each maximum.
        _random_samples: optional (N, C, 2) samples in [0, 1) fixing the windows (PyTorch's
            name; see :func:`striate.functional.fractional_max_pool2d`).
    """

    def __init__(self, kernel_size, output_size=None, output_ratio=None,
                 return_indices: bool = False, _random_samples=None):
        super().__init__()
        name = "FractionalMaxPool2d"
        if (output_size is None) == (output_ratio is None):
            raise ValueError(f"{name}: give exactly one of output_size and output_ratio, "
                             f"got output_size={output_size!r}, output_ratio={output_ratio!r}")
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, 2)
        self.output_size = None if output_size is None else int_tuple(name, "output_size",
                                                                     output_size, 2)
        self.output_ratio = None
        if output_ratio is not None:
            if isinstance(output_ratio, numbers.Real):
                output_ratio = (output_ratio, output_ratio)
            ratio = tuple(output_ratio)
            if len(ratio) != 2 or not all(0 < r < 1 for r in ratio):
                raise ValueError(f"{name}: output_ratio must be a number or a pair of numbers "
                                 f"in (0, 1), got {output_ratio!r}")
            self.output_ratio = ratio
        self.return_indices = return_indices
        # A buffer, as in PyTorch (saved in the state_dict when given).
        self.register_buffer("_random_samples", _random_samples)

    def forward(self, x):
        return F.fractional_max_pool2d(x, self.kernel_size, self.output_size, self.output_ratio,
                                       self.return_indices, samples=self._random_samples)


class StochasticPool2d(Module):
    """Stochastic pooling (Zeiler & Fergus 2013, P5) of non-negative maps (after a ReLU).

    Training (``self.training``): one element per window, drawn with probability proportional to
    its value; evaluation: the probability-weighted average sum_i p_i a_i.

    Args:
        kernel_size: the window, an int or (KH, KW); stride defaults to it.
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        _check_windows("StochasticPool2d", 2, kernel_size, stride)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size

    def forward(self, x):
        return F.stochastic_pool2d(x, self.kernel_size, self.stride, training=self.training)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Subsampling2d(Module):
    """LeNet-5's trainable subsampling (S2, S4; P4): two parameters per feature map.

        y[n, c] = weight[c] * (sum of each K x K window of x[n, c]) + bias[c]

    LeNet then squashes y (scaled tanh: follow with :class:`~striate.nn.activation.LeCunTanh`).
    With weight = 1 / K^2 and bias = 0 it is average pooling.

    Args:
        channels: C, the number of feature maps (LeNet's S2: 6, S4: 16).
        kernel_size: the window (LeNet: 2); stride defaults to it (non-overlapping).
        bias: learn the per-map bias.

    Parameters:
        weight (C,), bias (C,), initialised as LeNet's (appendix A): U(-2.4 / F, 2.4 / F) with
        F = KH * KW the fan-in of a unit.
    """

    def __init__(self, channels: int, kernel_size=2, stride=None, bias: bool = True):
        super().__init__()
        if not is_int(channels) or channels <= 0:
            raise ValueError(f"Subsampling2d: channels must be a positive int, got {channels!r}")
        self.channels = channels
        self.kernel_size = int_tuple("Subsampling2d", "kernel_size", kernel_size, 2)
        self.stride = self.kernel_size if stride is None else int_tuple("Subsampling2d", "stride",
                                                                        stride, 2)
        self.weight = empty_parameter(channels)
        self.register_parameter("bias", empty_parameter(channels) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 2.4 / math.prod(self.kernel_size)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.subsample2d(x, self.weight, self.bias, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        s = f"{self.channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        return s if self.bias is not None else s + ", bias=False"
