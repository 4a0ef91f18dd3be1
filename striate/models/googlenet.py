"""GoogLeNet, or Inception v1 (Szegedy et al. 2015, "Going Deeper with Convolutions", CVPR).

Twenty-two layers with weights, most of them inside nine Inception modules
(:class:`~striate.nn.blocks.Inception`: parallel 1x1, 3x3, 5x5 convolutions and a pooled
projection, concatenated on the channel axis), the paper's Table 1::

    conv 7x7/2, 64                   112x112     (for a 224x224 input)
    max pool 3x3/2                    56x56
    conv 1x1, 64; conv 3x3, 192       56x56
    max pool 3x3/2                    28x28
    inception (3a), (3b)              28x28      256, 480 channels
    max pool 3x3/2                    14x14
    inception (4a) ... (4e)           14x14      512, 512, 512, 528, 832
    max pool 2x2/2                     7x7
    inception (5a), (5b)               7x7       832, 1024
    global average pooling, dropout, fully connected to the classes

No fully connected layer sits between the features and the classes: global average pooling
replaced them (after Lin et al.'s Network in Network), which is why 22 layers need only 6.6M
parameters against AlexNet's 61M.

Two auxiliary classifiers (:class:`~striate.nn.blocks.InceptionAux`) on (4a) and (4d) push
gradient into the middle of the network during training; their losses are added with weight 0.3
(:func:`googlenet_loss`, and :func:`striate.train.fit` does the same for any model that returns
a tuple in training mode). At inference they are not evaluated.

The layout is torchvision's (``conv1.conv.weight``, ``conv1.bn``..., ``inception3a.branch1``...,
``aux1.conv``, ``aux1.fc1``, ``aux1.fc2``, ``fc``), batch norm included (torchvision's choice; the
2014 network had none), so torchvision's weights load as they are. That includes torchvision's
3x3 convolution where the paper has 5x5 in each module's third branch (pytorch/vision issue
906); ``branch3_kernel_size=5`` builds the paper's module instead. Parameters for 1000 classes:
6,624,904 without the auxiliary heads (torchvision's count; the paper's 5x5 gives 6,998,552), and
13,004,888 with them.

Small inputs: every pooling rounds up (``ceil_mode``) and the heads pool adaptively, so any input
from 15x15 on works (below 31x31 the third pooling already leaves a 1x1 map, which the auxiliary
heads copy to their 4x4 grid; at 14x14 the third pooling gets a 1x1 map and its 3x3 window fails,
in torchvision too). At 64x64, the size registered for
training on Fashion-MNIST, (4a) and (4d) give 4x4 maps, exactly the grid the auxiliary heads pool
to. ``width`` scales every layer's channels for a narrow GoogLeNet that trains on a CPU.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import functional as F
from .. import nn
from ..autograd import Tensor
from ..nn.blocks import BasicConv2d, Inception, InceptionAux

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "googlenet", "googlenet_loss", "AUX_LOSS_WEIGHT"]

AUX_LOSS_WEIGHT = 0.3  # the paper, section 5: "their loss is added to the total loss ... 0.3"

# the paper's Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
_INCEPTIONS = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNetOutputs(NamedTuple):
    """What a GoogLeNet with auxiliary heads returns in training mode: three (N, classes)."""

    logits: Tensor
    aux1: Tensor
    aux2: Tensor


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) in torchvision's layout.

    Args:
        num_classes: outputs (logits).
        in_channels: channels of the input images.
        aux_logits: build the two auxiliary classifiers ``aux1`` (on 4a) and ``aux2`` (on 4d).
        width: multiplies every layer's channels (rounded, at least 1); 1 is the paper's
            network, 0.25 a narrow one with about 1/16 of the parameters.
        dropout: drop probability before ``fc`` (torchvision's 0.2; the paper used 0.4).
        aux_dropout: drop probability inside the auxiliary heads (the paper's 0.7).
        branch3_kernel_size: 3 (torchvision's layout, loads its weights) or 5 (the paper).

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes) in eval mode, or without the auxiliary
        heads; in training mode with them, a :class:`GoogLeNetOutputs` ``(logits, aux1, aux2)``
        of three (N, num_classes). H, W >= 15.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
                 width: float = 1.0, dropout: float = 0.2, aux_dropout: float = 0.7,
                 branch3_kernel_size: int = 3):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GoogLeNet: {name} must be a positive int, got {value!r}")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise ValueError(f"GoogLeNet: width must be a positive number, got {width!r}")
        if not isinstance(aux_logits, bool):
            raise ValueError(f"GoogLeNet: aux_logits must be True or False, got {aux_logits!r}")

        def w(channels: int) -> int:
            return max(1, int(round(channels * width)))

        self.aux_logits, self.width = aux_logits, width
        self.conv1 = BasicConv2d(in_channels, w(64), kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(w(64), w(64), kernel_size=1)
        self.conv3 = BasicConv2d(w(64), w(192), kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        channels = w(192)
        for name, widths in _INCEPTIONS.items():
            block = Inception(channels, *(w(c) for c in widths),
                              branch3_kernel_size=branch3_kernel_size)
            setattr(self, name, block)
            channels = block.out_channels
            if name == "inception3b":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            elif name == "inception4e":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.aux1 = self.aux2 = None
        if aux_logits:
            self.aux1 = InceptionAux(self.inception4a.out_channels, num_classes, aux_dropout,
                                     conv_channels=w(128), hidden=w(1024))
            self.aux2 = InceptionAux(self.inception4d.out_channels, num_classes, aux_dropout,
                                     conv_channels=w(128), hidden=w(1024))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels, num_classes)
        # torchvision's initialisation: N(0, 0.01^2) weights (truncated at +-2, which at this
        # standard deviation never bites); the batch norms start as the identity
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.01)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))                   # (N, 64, H/4, W/4)
        x = self.maxpool2(self.conv3(self.conv2(x)))       # (N, 192, H/8, W/8)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))   # (N, 480, H/16, W/16)
        x = self.inception4a(x)
        heads = self.training and self.aux_logits
        aux1 = self.aux1(x) if heads else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if heads else None
        x = self.maxpool4(self.inception4e(x))             # (N, 832, H/32, W/32)
        x = self.inception5b(self.inception5a(x))          # (N, 1024, H/32, W/32)
        x = self.dropout(F.flatten(self.avgpool(x), 1))
        logits = self.fc(x)
        return GoogLeNetOutputs(logits, aux1, aux2) if heads else logits

    def extra_repr(self) -> str:
        return f"aux_logits={self.aux_logits}, width={self.width}"


def googlenet(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> GoogLeNet:
    """GoogLeNet (Szegedy et al. 2015) in torchvision's layout; keyword arguments as
    :class:`GoogLeNet` (``aux_logits``, ``width``, ...)."""
    return GoogLeNet(num_classes, in_channels, **kwargs)


def googlenet_loss(outputs, target, aux_weight: float = AUX_LOSS_WEIGHT) -> Tensor:
    """GoogLeNet's training loss: cross-entropy of the logits plus ``aux_weight`` times that of
    each auxiliary head,

        loss = CE(logits, y) + 0.3 * (CE(aux1, y) + CE(aux2, y)).

    Args:
        outputs: a :class:`GoogLeNetOutputs` (or any tuple ``(logits, *aux)``), or plain logits
            (eval mode), whose loss is then the plain cross-entropy.
        target: (N,) class indices.
        aux_weight: the weight of each auxiliary loss (the paper's 0.3).

    Returns:
        A scalar Tensor.
    """
    if not isinstance(outputs, tuple):
        return F.cross_entropy(outputs, target)
    main, *aux = outputs
    loss = F.cross_entropy(main, target)
    for head in aux:
        if head is not None:
            loss = loss + aux_weight * F.cross_entropy(head, target)
    return loss
