"""ResNets for small images (He, Zhang, Ren and Sun 2016, "Deep Residual Learning for Image
Recognition", CVPR, section 4.2: the CIFAR-10 networks), and their plain twins.

The CIFAR design, for depth 6n + 2::

    conv 3x3, 16                       16@H x W
    stage 1: n basic blocks, 16        16@H x W
    stage 2: n basic blocks, 32        32@H/2 x W/2   (the first block has stride 2)
    stage 3: n basic blocks, 64        64@H/4 x W/4   (the first block has stride 2)
    global average pooling, fully connected to the classes

so ``resnet20`` (n = 3), ``resnet32`` (5), ``resnet44`` (7), ``resnet56`` (9), ``resnet110`` (18)
and ``resnet1202`` (200). When a block halves the resolution and doubles the width the paper uses
shortcut option (A): the input subsampled by 2 with the new channels zero-padded, which adds no
parameter (:class:`~striate.nn.blocks.ZeroPadShortcut`); ``shortcut="projection"`` gives option
(B), a 1x1 convolution with batch norm. The ``plain`` networks are the same stacks without any
shortcut: the paper's Fig. 6 shows plain-56 training *worse* than plain-20 (degradation), while
ResNet-56 trains better than ResNet-20.

Parameters (10 classes, one input channel): resnet20 0.27M, resnet32 0.46M, resnet44 0.66M,
resnet56 0.85M, resnet110 1.7M, resnet1202 19.4M (the paper's Table 6 for 3-channel CIFAR).
The layout works at any input size divisible by 4 (28x28 Fashion-MNIST, 32x32 CIFAR).
"""
from __future__ import annotations

from .. import nn
from ..nn.blocks import BasicBlock, conv3x3

__all__ = ["CifarResNet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
           "resnet1202", "plain20", "plain32", "plain44", "plain56", "plain110"]


class CifarResNet(nn.Module):
    """The CIFAR ResNet of depth ``6 * blocks + 2`` (or its plain twin).

    Args:
        blocks: basic blocks per stage (n; depth 6n + 2).
        num_classes: outputs (logits).
        in_channels: channels of the input images.
        shortcut: ``"identity"`` (option A, the paper's CIFAR choice), ``"projection"``
            (option B) or ``"none"`` (the plain network).
        widths: channels of the three stages.

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, blocks: int, num_classes: int = 10, in_channels: int = 1,
                 shortcut: str = "identity", widths=(16, 32, 64)):
        super().__init__()
        if not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"CifarResNet: blocks must be a positive int, got {blocks!r}")
        self.conv1 = conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages, planes = [], widths[0]
        for i, width in enumerate(widths):
            layer = []
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                layer.append(BasicBlock(planes, width, stride, shortcut=shortcut))
                planes = width
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(planes, num_classes)
        for m in self.modules():  # He et al.: "we initialize the weights as in [13]"
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))


def _builder(blocks: int, shortcut: str, name: str):
    def build(num_classes: int = 10, in_channels: int = 1, **kwargs) -> CifarResNet:
        return CifarResNet(blocks, num_classes, in_channels, shortcut=shortcut, **kwargs)
    kind = "ResNet" if shortcut != "none" else "plain network (no shortcuts)"
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"The CIFAR {kind} of depth {6 * blocks + 2} (He et al. 2016, section "
                     f"4.2); keyword arguments as :class:`CifarResNet`.")
    return build


resnet20 = _builder(3, "identity", "resnet20")
resnet32 = _builder(5, "identity", "resnet32")
resnet44 = _builder(7, "identity", "resnet44")
resnet56 = _builder(9, "identity", "resnet56")
resnet110 = _builder(18, "identity", "resnet110")
resnet1202 = _builder(200, "identity", "resnet1202")
plain20 = _builder(3, "none", "plain20")
plain32 = _builder(5, "none", "plain32")
plain44 = _builder(7, "none", "plain44")
plain56 = _builder(9, "none", "plain56")
plain110 = _builder(18, "none", "plain110")
