"""Convolution layers: Conv1d/2d/3d, ConvTranspose1d/2d/3d and DeformConv2d (checklist C1-C12).

Each layer owns its weight and bias and calls the functional op of the same name; the names,
shapes and default initialisation are PyTorch's, so a ``state_dict`` moves between the two:

- ``ConvNd.weight``: (out_channels, in_channels / groups, *kernel_size)
- ``ConvTransposeNd.weight``: (in_channels, out_channels / groups, *kernel_size)
- ``bias``: (out_channels,) or absent with ``bias=False``

Default initialisation (PyTorch's ``reset_parameters``): ``kaiming_uniform_(w, a=sqrt(5))``, i.e.
w ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with
fan_in = weight.shape[1] * prod(kernel_size) (for a transposed convolution that is
out_channels / groups * prod(kernel_size), as in PyTorch).

Every layer here also takes Keras-style ``kernel_regularizer`` / ``bias_regularizer`` (F5; see
:mod:`striate.nn.regularizers`).
"""
from __future__ import annotations

import math

from .. import functional as F
from . import init
from . import regularizers
from ._checks import check, int_tuple
from .layers import empty_parameter, is_int
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d", "DeformConv2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def reset_fan_in_uniform(weight, bias) -> None:
    """PyTorch's default for convolution and linear layers: kaiming_uniform_(a=sqrt(5)) on the
    weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


class _ConvNd(Module):
    """What the plain and the transposed convolutions share: arguments, parameters, repr."""

    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, padding_mode, output_padding, kernel_regularizer, bias_regularizer):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels),
                       ("groups", groups)):
            check(name, arg, v, is_int(v) and v > 0, "a positive int")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, "
                             f"got {padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple of {nd} ints, 'same' "
                                 f"or 'valid', got {padding!r}")
        else:
            padding = int_tuple(name, "padding", padding, nd, low=0)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, nd)
        self.stride = int_tuple(name, "stride", stride, nd)
        self.padding = padding
        self.dilation = int_tuple(name, "dilation", dilation, nd)
        self.output_padding = int_tuple(name, "output_padding", output_padding, nd, low=0)
        # PyTorch's rule (ConvTranspose's _output_padding): each entry < stride or < dilation.
        check(name, "output_padding", output_padding,
              all(op < max(s, d) for op, s, d in
                  zip(self.output_padding, self.stride, self.dilation)),
              f"smaller than either stride {self.stride} or dilation {self.dilation}")
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = empty_parameter(*shape)
        self.register_parameter("bias", empty_parameter(out_channels) if bias else None)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation (see the module docstring)."""
        reset_fan_in_uniform(self.weight, self.bias)

    def extra_repr(self) -> str:
        nd = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 kernel_regularizer=None, bias_regularizer=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, kernel_regularizer, bias_regularizer)

    def forward(self, x):
        return self._fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, self.padding_mode)


class Conv1d(_Conv):
    """1D convolution over (N, C_in, L) -> (N, C_out, L_out), as ``torch.nn.Conv1d``.

    See :class:`Conv2d` for the arguments (one int per axis instead of two).
    """

    _nd = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2D convolution layer, as ``torch.nn.Conv2d``: y = conv2d(x, weight) + bias.

    Args:
        in_channels: C_in, the input's channels.
        out_channels: C_out, the number of filters.
        kernel_size: an int or (KH, KW).
        stride: an int or (SH, SW).
        padding: an int or (PH, PW); ``'valid'`` (none) or ``'same'`` (output size
            ceil(H / SH); PyTorch allows 'same' only at stride 1, Striate pads as TensorFlow
            does at any stride, see :func:`striate.functional.conv2d`).
        dilation: an int or (DH, DW).
        groups: channel groups; ``groups == in_channels`` is a depthwise convolution.
        bias: learn a bias per filter.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        kernel_regularizer, bias_regularizer: optional penalties (F5), e.g. ``L2(1e-4)``.

    Shapes:
        input (N, C_in, H, W) or (C_in, H, W); output (N, C_out, OH, OW),
        OH = (H + 2 PH - DH (KH - 1) - 1) // SH + 1.

    Parameters:
        weight (C_out, C_in / groups, KH, KW), bias (C_out,).

    Example::

        >>> conv = Conv2d(1, 6, 5)          # LeNet-5's C1
        >>> conv(striate.randn(8, 1, 32, 32)).shape
        (8, 6, 28, 28)
    """

    _nd = 2
    _fn = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3D convolution over volumes (N, C_in, D, H, W), as ``torch.nn.Conv3d``.

    See :class:`Conv2d` for the arguments (three ints per axis argument).
    """

    _nd = 3
    _fn = staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    _transposed = True
    _fn = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", kernel_regularizer=None, bias_regularizer=None):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, "
                             f"got {padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of {self._nd} ints "
                             f"(a transposed convolution has no {padding!r}), got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, kernel_regularizer,
                         bias_regularizer)

    def _output_padding(self, x, output_size) -> tuple:
        """The output_padding that makes the output ``output_size`` (PyTorch's rule: the extra
        rows must lie in [0, stride - 1] past the smallest possible size)."""
        if output_size is None:
            return self.output_padding
        nd, name = self._nd, type(self).__name__
        size = tuple(output_size)[-nd:]
        if len(size) != nd or not all(map(is_int, size)):
            raise ValueError(f"{name}: output_size must end with {nd} ints, got {output_size!r}")
        pads = []
        for i, (want, s, p, d, k) in enumerate(zip(size, self.stride, self.padding,
                                                    self.dilation, self.kernel_size)):
            smallest = (x.shape[x.ndim - nd + i] - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= want < smallest + s:
                raise ValueError(f"{name}: requested output size {tuple(size)} is not reachable; "
                                 f"along axis {i} it must lie in [{smallest}, {smallest + s - 1}]")
            pads.append(want - smallest)
        return tuple(pads)

    def forward(self, x, output_size=None):
        output_padding = self._output_padding(x, output_size)
        return self._fn(x, self.weight, self.bias, self.stride, self.padding, output_padding,
                        self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1D transposed convolution, as ``torch.nn.ConvTranspose1d``; see :class:`ConvTranspose2d`."""

    _nd = 1
    _fn = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2D transposed convolution ("deconvolution", learned upsampling), as
    ``torch.nn.ConvTranspose2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: those of
            the convolution this layer transposes (padding crops the output's borders).
        output_padding: extra rows/columns at the end of the output, < stride or < dilation.
        padding_mode: only ``'zeros'``, as in PyTorch.
        kernel_regularizer, bias_regularizer: optional penalties (F5).

    Shapes:
        input (N, C_in, H, W); output (N, C_out, OH, OW),
        OH = (H - 1) SH - 2 PH + DH (KH - 1) + output_padding + 1. ``forward(x, output_size)``
        picks the output_padding that gives ``output_size`` instead.

    Parameters:
        weight (C_in, C_out / groups, KH, KW), bias (C_out,).
    """

    _nd = 2
    _fn = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3D transposed convolution (V-Net's up-convolution), as ``torch.nn.ConvTranspose3d``."""

    _nd = 3
    _fn = staticmethod(F.conv_transpose3d)


class DeformConv2d(Module):
    """Deformable 2D convolution (C11), as ``torchvision.ops.DeformConv2d``.

    The offsets (and DCNv2's modulation mask) are inputs, usually computed by an ordinary
    convolution over the same feature map (with 2*KH*KW and KH*KW output channels per offset
    group), not parameters of this layer.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as
            :class:`Conv2d` (zero padding only).
        kernel_regularizer, bias_regularizer: optional penalties (F5).

    Shapes:
        ``forward(x, offset, mask=None)``: x (N, C_in, H, W); offset
        (N, 2*offset_groups*KH*KW, OH, OW); mask (N, offset_groups*KH*KW, OH, OW) or None;
        output (N, C_out, OH, OW), OH as for :class:`Conv2d`.

    Parameters:
        weight (C_out, C_in / groups, KH, KW), bias (C_out,), initialised as :class:`Conv2d`'s
        (torchvision's ``reset_parameters``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, kernel_regularizer=None,
                 bias_regularizer=None):
        super().__init__()
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels),
                       ("groups", groups)):
            check(name, arg, v, is_int(v) and v > 0, "a positive int")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, 2)
        self.stride = int_tuple(name, "stride", stride, 2)
        self.padding = int_tuple(name, "padding", padding, 2, low=0)
        self.dilation = int_tuple(name, "dilation", dilation, 2)
        self.groups = groups
        self.weight = empty_parameter(out_channels, in_channels // groups, *self.kernel_size)
        self.register_parameter("bias", empty_parameter(out_channels) if bias else None)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_fan_in_uniform(self.weight, self.bias)

    def forward(self, x, offset, mask=None):
        return F.deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding,
                               self.dilation, mask=mask)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
