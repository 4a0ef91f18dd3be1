"""The All Convolutional Net (Springenberg, Dosovitskiy, Brox and Riedmiller 2015, "Striving for
Simplicity: The All Convolutional Net", ICLR workshop track): All-CNN-C, its Table 2.

The paper asks whether max pooling is needed at all, and answers with networks made of
convolutions only: each 3x3/2 max pooling of its base model C becomes a 3x3 convolution with
stride 2 (P6, learned subsampling), and the fully connected classifier becomes a 1x1 convolution
with one map per class, averaged over the image (as Network in Network does)::

    input, dropout 0.2
    conv 3x3, 96, ReLU                    96@H x W
    conv 3x3, 96, ReLU                    96@H x W
    conv 3x3, 96, stride 2, ReLU          96@H/2 x W/2    (in place of max pooling)
    dropout 0.5
    conv 3x3, 192, ReLU                   192@H/2 x W/2
    conv 3x3, 192, ReLU                   192@H/2 x W/2
    conv 3x3, 192, stride 2, ReLU         192@H/4 x W/4   (in place of max pooling)
    dropout 0.5
    conv 3x3, 192, ReLU (no padding)      192@(H/4 - 2) x (W/4 - 2)
    conv 1x1, 192, ReLU
    conv 1x1, num_classes                 one map per class
    global average pooling                num_classes

On 32x32 CIFAR images the last maps are 6x6, the paper's "global averaging over 6 x 6"; on 28x28
Fashion-MNIST they are 5x5. Dropout follows the paper: 20% on the input image and 50% after each
layer that replaces a pooling layer. The paper trained with SGD, momentum 0.9 and weight decay
0.001; it does not state an initialisation, so the convolutions start as He et al. (2015)
recommend for ReLU stacks, which keeps the signal alive through nine layers.

One departure: the paper's Table 1 puts a ReLU on the class maps ("1 x 1 conv. 10 ReLU"). Here
the class maps are averaged as they are. With the ReLU a class whose map is negative everywhere
scores 0 on every image and its filter gets no gradient: at this initialisation that happened
to 1 of the 10 maps over 256 Fashion-MNIST test images in half of the seeds tried.

Parameters (width 1, 10 classes, 3-channel input: 1,369,738, the paper's "1.3 M")::

    conv 3x3  3 -> 96        3 * 96 * 9 + 96       =   2,688
    conv 3x3  96 -> 96 (x2)  96 * 96 * 9 + 96      =  83,040 each
    conv 3x3  96 -> 192      96 * 192 * 9 + 192    = 166,080
    conv 3x3  192 -> 192 (x3) 192 * 192 * 9 + 192  = 331,968 each
    conv 1x1  192 -> 192     192 * 192 + 192       =  37,056
    conv 1x1  192 -> 10      192 * 10 + 10         =   1,930

(one input channel: 960 for the first layer, 1,368,010 in all). ``width`` scales the 96 and 192
channels, so ``width=0.25`` (24/48 channels, 86k parameters) trains on a small CPU.
"""
from __future__ import annotations

from .. import nn
from ..nn._checks import check, is_real
from ..nn.layers import is_int

__all__ = ["AllConvNet", "allconv"]


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
               padding: int = 0) -> list:
    """conv -> ReLU, as a list to splice into a Sequential."""
    return [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU()]


def scaled_channels(model: str, channels: int, width) -> int:
    """``channels * width`` rounded, at least 1; ``width`` must be a positive number."""
    check(model, "width", width, is_real(width) and width > 0,
          "a positive number (the channel multiplier, 1 for the paper's widths)")
    return max(1, round(channels * width))


class AllConvNet(nn.Module):
    """All-CNN-C: nine convolutions, strided ones in place of pooling, global average pooling.

    Args:
        num_classes: maps of the last 1x1 convolution (logits after averaging).
        in_channels: channels of the input images.
        width: channel multiplier; 1 gives the paper's 96 and 192 channels.
        dropout: the dropout probabilities on the input and after each strided convolution.

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes), for H, W >= 17 (the last 3x3 convolution
        needs 3x3 maps).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width=1.0,
                 dropout=(0.2, 0.5)):
        super().__init__()
        for arg, v in (("num_classes", num_classes), ("in_channels", in_channels)):
            check("AllConvNet", arg, v, is_int(v) and v > 0, "a positive int")
        check("AllConvNet", "dropout", dropout,
              isinstance(dropout, (tuple, list)) and len(dropout) == 2,
              "a pair (input, after the strided convolutions)", TypeError)
        c1 = scaled_channels("AllConvNet", 96, width)
        c2 = scaled_channels("AllConvNet", 192, width)
        p_input, p_hidden = dropout
        self.features = nn.Sequential(
            nn.Dropout(p_input),
            *_conv_relu(in_channels, c1, 3, padding=1),
            *_conv_relu(c1, c1, 3, padding=1),
            *_conv_relu(c1, c1, 3, stride=2, padding=1),   # (N, c1, H/2, W/2): was max pooling
            nn.Dropout(p_hidden),
            *_conv_relu(c1, c2, 3, padding=1),
            *_conv_relu(c2, c2, 3, padding=1),
            *_conv_relu(c2, c2, 3, stride=2, padding=1),   # (N, c2, H/4, W/4): was max pooling
            nn.Dropout(p_hidden))
        self.classifier = nn.Sequential(
            *_conv_relu(c2, c2, 3),                         # unpadded: 8x8 -> 6x6 on CIFAR
            *_conv_relu(c2, c2, 1),
            nn.Conv2d(c2, num_classes, 1),                  # one map per class, no ReLU
            nn.GlobalAvgPool2d())                           # (N, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x))


def allconv(num_classes: int = 10, in_channels: int = 1, width=1.0) -> AllConvNet:
    """All-CNN-C of Springenberg et al. (2015); ``width`` scales its 96/192 channels.

    Example::

        model = allconv(width=0.25)                     # 24/48 channels
        logits = model(striate.randn(8, 1, 28, 28))     # (8, 10)
    """
    return AllConvNet(num_classes=num_classes, in_channels=in_channels, width=width)
