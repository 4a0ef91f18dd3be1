"""Fully connected layers (checklist F1, A2): Linear, Flatten, Identity, LeNet-5's RBF output.

A fully connected layer is a convolution whose kernel covers its whole input:
:func:`conv2d_from_linear` turns a Linear layer that follows a flatten of (C, H, W) maps into the
Conv2d with kernel (H, W) computing the same numbers, the trick that lets a classifier slide over
larger images (OverFeat, fully convolutional networks).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..backend import get_generator
from . import regularizers
from ._checks import check
from .conv import Conv2d, reset_fan_in_uniform
from .layers import empty_parameter, is_int
from .module import Module

__all__ = ["Linear", "Flatten", "Identity", "RBFOutput", "conv2d_from_linear"]


class Linear(Module):
    """Fully connected layer ``y = x W^T + b``, as ``torch.nn.Linear``.

    Args:
        in_features: the size of each input's last axis.
        out_features: the number of output units.
        bias: learn a bias per output unit.
        kernel_regularizer, bias_regularizer: optional penalties (F5), e.g. ``L2(1e-4)``.

    Shapes:
        input (*, in_features); output (*, out_features).

    Parameters:
        weight (out_features, in_features) ~ U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's
        ``kaiming_uniform_(a=sqrt(5))``); bias (out_features,) ~ the same uniform.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 kernel_regularizer=None, bias_regularizer=None):
        super().__init__()
        for arg, v in (("in_features", in_features), ("out_features", out_features)):
            if not is_int(v) or v <= 0:
                raise ValueError(f"Linear: {arg} must be a positive int, got {v!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty_parameter(out_features, in_features)
        self.register_parameter("bias", empty_parameter(out_features) if bias else None)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_fan_in_uniform(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flatten axes ``start_dim`` .. ``end_dim`` into one, as ``torch.nn.Flatten`` (keeps the batch
    axis by default): (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for arg, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            check("Flatten", arg, v, is_int(v), "an int", TypeError)
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input; accepts and ignores any arguments, as ``torch.nn.Identity``."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class RBFOutput(Module):
    """LeNet-5's Euclidean radial basis function output layer (A2): y_i = sum_j (x_j - w_ij)^2.

    Each output unit measures the squared distance between the input (LeNet: the 84 outputs of
    F6) and its centre, the prototype of class i; the prediction is the class with the *smallest*
    output, and the loss pushes the correct unit's output down (LeCun et al. 1998, section II.B).

    Args:
        in_features, out_features: the input size and the number of classes (LeNet: 84, 10).
        centers: optional (out_features, in_features) array of starting centres. LeNet drew
            each digit's centre as a stylised 7x12 bitmap of +-1 (84 = 7 * 12). Default: random
            +-1 codes, the alternative the paper names ("chosen at random with equal
            probabilities for -1 and +1").
        trainable: learn the centres (LeNet kept them fixed, "at least initially"). Fixed
            centres are a buffer, like batch norm's running statistics: saved in the
            ``state_dict`` but not returned by ``parameters()``, so no optimiser sees them and
            ``num_parameters()`` leaves them out.

    Shapes:
        input (N, in_features); output (N, out_features), every entry >= 0.

    Parameters:
        weight (out_features, in_features): the centres (a buffer when not trainable).
    """

    def __init__(self, in_features: int, out_features: int, centers=None, trainable: bool = True):
        super().__init__()
        for arg, v in (("in_features", in_features), ("out_features", out_features)):
            if not is_int(v) or v <= 0:
                raise ValueError(f"RBFOutput: {arg} must be a positive int, got {v!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty_parameter(out_features, in_features)
        if centers is None:
            self.reset_parameters()
        else:
            centers = np.asarray(centers)
            if centers.shape != (out_features, in_features):
                raise ValueError(f"RBFOutput: centers must have shape "
                                 f"{(out_features, in_features)}, got {centers.shape}")
            self.weight.data[...] = centers
        if not trainable:
            centres = self.weight.detach()
            del self.weight  # from the parameters ...
            self.register_buffer("weight", centres)  # ... to the buffers, under the same name

    def reset_parameters(self) -> None:
        """Random +-1 codes, each entry -1 or +1 with probability 1/2."""
        signs = get_generator().integers(0, 2, size=self.weight.shape) * 2 - 1
        self.weight.data[...] = signs

    def forward(self, x):
        return F.rbf_units(x, self.weight)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"trainable={self.weight.requires_grad}")


def conv2d_from_linear(linear: Linear, input_shape) -> Conv2d:
    """The Conv2d equal to ``linear`` applied to a flattened (C, H, W) input (F1).

    ``linear(flatten(x))`` for x (N, C, H, W) equals ``conv(x)`` reshaped from
    (N, out_features, 1, 1); on a larger input the convolution slides the classifier over every
    H x W window, giving a map of scores.

    Args:
        linear: a Linear layer with in_features = C * H * W.
        input_shape: (C, H, W), the shape its input had before flattening.

    Returns:
        A Conv2d(C, out_features, (H, W)) sharing no memory with ``linear``.
    """
    if len(input_shape) != 3 or int(np.prod(input_shape)) != linear.in_features:
        raise ValueError(f"conv2d_from_linear: input_shape must be (C, H, W) with C*H*W = "
                         f"{linear.in_features} (the layer's in_features), got {input_shape!r}")
    channels, height, width = input_shape
    conv = Conv2d(channels, linear.out_features, (height, width), bias=linear.bias is not None)
    conv.weight.data[...] = linear.weight.data.reshape(conv.weight.shape)
    if linear.bias is not None:
        conv.bias.data[...] = linear.bias.data
    return conv
