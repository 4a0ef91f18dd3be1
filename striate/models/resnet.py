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

The ImageNet ResNets of the paper's Table 1 (:class:`ResNet`, ``resnet18`` ... ``resnet152``) have
torchvision's layout and ``state_dict`` keys (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``/``.1``, ``fc``), so its weights load as they are::

    conv 7x7/2, 64; max pool 3x3/2            64@H/4 x W/4
    layer1: basic or bottleneck blocks, 64    H/4     (output 64 or 256 channels)
    layer2: ..., 128, first block stride 2    H/8
    layer3: ..., 256, first block stride 2    H/16
    layer4: ..., 512, first block stride 2    H/32
    global average pooling, fully connected to the classes

with shortcut option (B) (a 1x1 projection with batch norm) wherever the shape changes.
Parameters (1000 classes, 3 input channels), torchvision's and the paper's: resnet18 11,689,512
(11.7M), resnet34 21,797,672 (21.8M), resnet50 25,557,032 (25.6M), resnet101 44,549,160
(44.5M), resnet152 60,192,808 (60.2M). They are laid out for 224x224 (a 7x7 map before the
pooling), but the adaptive pooling takes any size: the registry's 64x64 (a 2x2 map in
``layer4``) keeps Fashion-MNIST training on a CPU affordable; from 32x32 down, ``layer4`` sees 1x1.
"""
from __future__ import annotations

from .. import nn
from ..nn.blocks import BasicBlock, Bottleneck, conv1x1

__all__ = ["CifarResNet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
           "resnet1202", "plain20", "plain32", "plain44", "plain56", "plain110",
           "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


class CifarResNet(nn.Module):
    """The CIFAR ResNet of depth ``6 * blocks + 2`` (or its plain twin).

    Args:
        blocks: basic blocks per stage (n; depth 6n + 2).
        num_classes: outputs (logits).
        in_channels: channels of the input images.
        shortcut: ``"identity"`` (option A, the paper's CIFAR choice), ``"projection"``
            (option B) or ``"none"`` (the plain network).
        widths: channels of the three stages.
        batch_norm: False drops every batch norm (biased convolutions instead): the ablation
            of the batch-norm experiment.

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, blocks: int, num_classes: int = 10, in_channels: int = 1,
                 shortcut: str = "identity", widths=(16, 32, 64), batch_norm: bool = True):
        super().__init__()
        if not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"CifarResNet: blocks must be a positive int, got {blocks!r}")
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(widths[0]) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        stages, planes = [], widths[0]
        for i, width in enumerate(widths):
            layer = []
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                layer.append(BasicBlock(planes, width, stride, shortcut=shortcut,
                                        batch_norm=batch_norm))
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
        x = nn.batch_norm_relu(self.bn1, self.relu, self.conv1(x))
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


# ---- the ImageNet ResNets (the paper's Table 1) ----------------------------------------------
class ResNet(nn.Module):
    """The ImageNet ResNet of He et al. 2016 (Table 1), in torchvision's layout.

    Args:
        block: :class:`~striate.nn.blocks.BasicBlock` (ResNet-18/34) or
            :class:`~striate.nn.blocks.Bottleneck` (ResNet-50/101/152).
        layers: blocks in each of the four stages, e.g. ``[2, 2, 2, 2]`` for ResNet-18.
        num_classes: outputs (logits); 1000 for ImageNet.
        in_channels: channels of the input images (3 for RGB).
        zero_init_residual: start the last batch norm of every residual branch at scale 0, so
            each block begins as the identity (Goyal et al. 2017, "Accurate, Large Minibatch
            SGD"; torchvision's option); it helps deep nets train at the start.

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes); any H, W (224 in the paper).
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3,
                 zero_init_residual: bool = False):
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise ValueError(f"ResNet: block must be BasicBlock or Bottleneck, got {block!r}")
        if (len(layers) != 4
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                           for n in layers)):
            raise ValueError(f"ResNet: layers must be four positive ints (blocks per stage), "
                             f"got {layers!r}")
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ResNet: {name} must be a positive int, got {value!r}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():  # "we initialize the weights as in [13]" (He et al. 2015)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage: the first block changes stride and width (with a projection shortcut,
        option B), the others keep them (identity shortcuts)."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(nn.batch_norm_relu(self.bn1, self.relu, self.conv1(x)))  # N, 64, H/4, W/4
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


def _resnet(block, layers, name: str):
    def build(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
        return ResNet(block, layers, num_classes, in_channels, **kwargs)
    depth = 2 + (2 if block is BasicBlock else 3) * sum(layers)
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"ResNet-{depth} (He et al. 2016, Table 1): {block.__name__} stages of "
                     f"{list(layers)}; keyword arguments as :class:`ResNet`.")
    return build


resnet18 = _resnet(BasicBlock, [2, 2, 2, 2], "resnet18")
resnet34 = _resnet(BasicBlock, [3, 4, 6, 3], "resnet34")
resnet50 = _resnet(Bottleneck, [3, 4, 6, 3], "resnet50")
resnet101 = _resnet(Bottleneck, [3, 4, 23, 3], "resnet101")
resnet152 = _resnet(Bottleneck, [3, 8, 36, 3], "resnet152")
