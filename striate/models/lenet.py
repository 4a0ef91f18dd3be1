"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998, "Gradient-Based Learning Applied to Document
Recognition", Proc. IEEE 86(11)), in its modern form.

The paper's network, layer by layer (its Fig. 2), on a 32x32 image::

    C1  conv 5x5, 6 maps          6@28x28
    S2  subsampling 2x2           6@14x14
    C3  conv 5x5, 16 maps         16@10x10   (each map sees a subset of S2's maps: Table I)
    S4  subsampling 2x2           16@5x5
    C5  conv 5x5, 120 maps        120@1x1    (a full connection to S4's 400 values)
    F6  full, 84 units
    output: 10 Euclidean RBF units

The modern version keeps the shape and changes the parts later work replaced: ReLU instead of the
scaled tanh, max pooling instead of trainable subsampling, full connections in C3, and a linear
layer with softmax cross-entropy instead of the RBF output. MNIST-style inputs are 28x28, so C1
pads by 2 to give the paper's 32x32 field (the paper itself padded the 20x20 digits to 32x32 so
that strokes reach the centre of C5's receptive fields).

Parameters (61,706 with 10 classes and one input channel)::

    C1  6 * (1 * 5 * 5 + 1)    =    156
    C3  16 * (6 * 5 * 5 + 1)   =  2,416
    C5  120 * (16 * 5 * 5 + 1) = 48,120
    F6  84 * (120 + 1)         = 10,164
    out 10 * (84 + 1)          =    850
"""
from __future__ import annotations

from .. import nn

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max pooling; layers named as in the paper.

    Args:
        num_classes: outputs of the last layer (logits).
        in_channels: channels of the input image (1 for grey, 3 for RGB).

    Shapes:
        (N, in_channels, 28, 28) -> (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 6, 5, padding=2)  # (N, 6, 28, 28)
        self.s2 = nn.MaxPool2d(2)                           # (N, 6, 14, 14)
        self.c3 = nn.Conv2d(6, 16, 5)                       # (N, 16, 10, 10)
        self.s4 = nn.MaxPool2d(2)                           # (N, 16, 5, 5)
        self.flatten = nn.Flatten()                         # (N, 400)
        self.c5 = nn.Linear(16 * 5 * 5, 120)  # the paper's 5x5 conv on a 5x5 map: a full layer
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.s2(self.relu(self.c1(x)))
        x = self.s4(self.relu(self.c3(x)))
        x = self.relu(self.c5(self.flatten(x)))
        x = self.relu(self.f6(x))
        return self.output(x)


def lenet5(num_classes: int = 10, in_channels: int = 1) -> LeNet5:
    """Modern LeNet-5 for 28x28 images: ReLU, max pooling, 61,706 parameters for 10 classes.

    Example::

        model = lenet5()
        logits = model(striate.randn(8, 1, 28, 28))     # (8, 10)
    """
    return LeNet5(num_classes=num_classes, in_channels=in_channels)
