"""Network in Network (Lin, Chen and Yan 2014, "Network In Network", ICLR), its CIFAR-10
network (M4).

A convolution filter is a linear model of its window; NIN replaces it by a small multilayer
perceptron slid over the image, the "mlpconv" layer: a spatial convolution followed by two 1x1
convolutions, each with ReLU (a 1x1 convolution is a fully connected layer applied at every
position, across the channels). The last mlpconv layer has one map per class and global average
pooling turns each map into its class score, in place of fully connected layers: no parameters to
overfit, and each map reads as a confidence map of its class::

    mlpconv 5x5: 192, 1x1: 160, 1x1: 96          96@H x W
    max pool 3x3/2, dropout 0.5                  96@H/2 x W/2
    mlpconv 5x5: 192, 1x1: 192, 1x1: 192         192@H/2 x W/2
    max pool 3x3/2, dropout 0.5                  192@H/4 x W/4
    mlpconv 3x3: 192, 1x1: 192, 1x1: num_classes num_classes@H/4 x W/4  (no last ReLU)
    global average pooling                       num_classes

The widths are those of the authors' released CIFAR-10 model (cifar10_nin). The paper follows
every mlpconv layer but the last by max pooling that halves the resolution and applies dropout
"on the outputs of all but the last mlpconv layers"; the pools are 3x3 with stride 2 (overlapping,
padded by 1 so that 32 -> 16 -> 8 and 28 -> 14 -> 7). The released model averages in its second
pooling; this one max-pools both times, as the paper's text says. The paper does not state an
initialisation; the convolutions start as He et al. (2015) recommend for ReLU stacks.

One departure: the released model also puts a ReLU on the class maps. Here the class maps are
averaged as they are. With the ReLU a class whose map is negative everywhere scores 0 on every
image and its filter gets no gradient: at this initialisation that happened to 1 or 2 of the 10
maps over 256 Fashion-MNIST test images in three of four seeds tried.

Parameters (width 1, 10 classes, 3-channel input: 966,986, about 0.97 M)::

    mlpconv 1  3*192*25 + 192 = 14,592;  192*160 + 160 = 30,880;  160*96 + 96  = 15,456
    mlpconv 2  96*192*25 + 192 = 460,992; 192*192 + 192 = 37,056 (twice)
    mlpconv 3  192*192*9 + 192 = 331,968; 192*192 + 192 = 37,056;  192*10 + 10 = 1,930

(one input channel: 4,992 for the first convolution, 957,386 in all). ``width`` scales every
width but the class maps, so ``width=0.25`` (48/40/24, 48/48/48, 48/48) trains on a small CPU.
"""
from __future__ import annotations

from .. import nn
from ..nn._checks import check
from ..nn.layers import is_int
from .allconv import scaled_channels

__all__ = ["NetworkInNetwork", "mlpconv", "nin"]


def mlpconv(in_channels: int, widths, kernel_size: int, last_relu: bool = True) -> nn.Sequential:
    """One mlpconv layer: a KxK convolution (padded to keep H x W), then two 1x1 convolutions,
    each followed by ReLU (the last one only with ``last_relu``); ``widths`` are the three output
    channel counts."""
    c1, c2, c3 = widths
    layers = [nn.Conv2d(in_channels, c1, kernel_size, padding=kernel_size // 2), nn.ReLU(),
              nn.Conv2d(c1, c2, 1), nn.ReLU(),
              nn.Conv2d(c2, c3, 1)]
    return nn.Sequential(*layers, nn.ReLU()) if last_relu else nn.Sequential(*layers)


class NetworkInNetwork(nn.Module):
    """Three mlpconv layers with max pooling and dropout between them, then global averaging.

    Args:
        num_classes: maps of the last mlpconv layer (logits after averaging).
        in_channels: channels of the input images.
        width: channel multiplier; 1 gives the CIFAR-10 model's widths (192/160/96,
            192/192/192, 192/192).
        dropout: the probability of the dropout after each of the first two mlpconv layers.

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width=1.0,
                 dropout: float = 0.5):
        super().__init__()
        for arg, v in (("num_classes", num_classes), ("in_channels", in_channels)):
            check("NetworkInNetwork", arg, v, is_int(v) and v > 0, "a positive int")

        def scaled(*channels):
            return [scaled_channels("NetworkInNetwork", c, width) for c in channels]

        widths1, widths2 = scaled(192, 160, 96), scaled(192, 192, 192)
        widths3 = scaled(192, 192) + [num_classes]
        self.block1 = mlpconv(in_channels, widths1, 5)       # (N, 96, H, W)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)    # (N, 96, H/2, W/2)
        self.drop1 = nn.Dropout(dropout)
        self.block2 = mlpconv(widths1[-1], widths2, 5)       # (N, 192, H/2, W/2)
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)    # (N, 192, H/4, W/4)
        self.drop2 = nn.Dropout(dropout)
        self.block3 = mlpconv(widths2[-1], widths3, 3,       # (N, num_classes, H/4, W/4)
                              last_relu=False)               # class maps: no ReLU (see above)
        self.gap = nn.GlobalAvgPool2d()                      # (N, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.drop1(self.pool1(self.block1(x)))
        x = self.drop2(self.pool2(self.block2(x)))
        return self.gap(self.block3(x))


def nin(num_classes: int = 10, in_channels: int = 1, width=1.0) -> NetworkInNetwork:
    """Network in Network's CIFAR-10 model (Lin et al. 2014); ``width`` scales its channels.

    Example::

        model = nin(width=0.25)
        logits = model(striate.randn(8, 1, 28, 28))     # (8, 10)
    """
    return NetworkInNetwork(num_classes=num_classes, in_channels=in_channels, width=width)
