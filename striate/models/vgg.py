"""VGG networks (Simonyan and Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR), in torchvision's layout.

The paper's Table 1: stacks of 3x3 convolutions (stride 1, padding 1, so the size is kept), each
followed by a ReLU, and five 2x2/2 max poolings, then three fully connected layers::

    A (VGG-11)   64 M 128 M 256 256 M 512 512 M 512 512 M
    B (VGG-13)   64 64 M 128 128 M 256 256 M 512 512 M 512 512 M
    D (VGG-16)   64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M
    E (VGG-19)   64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M
    classifier   FC 4096 -> ReLU -> dropout -> FC 4096 -> ReLU -> dropout -> FC 1000

(a number is a convolution with that many filters, M a max pooling). Why 3x3 only: two stacked
3x3 convolutions see a 5x5 window and three see 7x7, with fewer parameters (27 C^2 against
49 C^2 for 7x7) and a ReLU between each, so the decision function is more discriminative
(section 2.3). The ``_bn`` variants put a batch norm (Ioffe and Szegedy 2015, after the paper)
between each convolution and its ReLU; their convolutions keep their biases, as torchvision's do.

Layout (torchvision's ``VGG``): ``features.N`` is the flat sequence of conv, [batch norm,] ReLU
and pool layers, then ``avgpool`` = ``AdaptiveAvgPool2d((7, 7))`` (the identity at 224x224, and
what lets smaller inputs reach the 512 * 7 * 7 classifier inputs) and ``classifier.0/3/6``.
Parameters with 1000 classes: VGG-11 132,863,336, VGG-13 133,047,848, VGG-16 138,357,544,
VGG-19 143,667,240 (the paper's Table 2: 133, 133, 138, 144 million); batch norm adds 2 per
channel (VGG-16-BN 138,365,992). Initialisation is torchvision's: convolutions He-normal
(fan_out), linear layers N(0, 0.01), biases 0.

Narrow VGGs: ``width`` multiplies every convolution's filters (0.125 gives 8, 16, 32, 64, 64)
and ``classifier_width`` sets fc6 and fc7 (4096 by default), e.g.
``vgg11_bn(num_classes=10, in_channels=1, width=0.125, classifier_width=256)`` has 1.0M
parameters and trains on Fashion-MNIST (resized to 32x32) on a small CPU. Only ``width=1``,
``classifier_width=4096`` and ``in_channels=3`` have torchvision's shapes and load its weights;
the keys are torchvision's for any ``width`` and ``classifier_width``.

Sizes: H and W at least 32 (five halvings); at 224x224 features give 512@7x7.
"""
from __future__ import annotations

import math

from .. import nn
from ..nn._checks import check, is_real

__all__ = ["VGG", "make_layers", "CFGS", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn",
           "vgg13_bn", "vgg16_bn", "vgg19_bn"]

# the paper's Table 1 columns; "M" is a 2x2/2 max pooling
CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def make_layers(cfg, batch_norm: bool = False, in_channels: int = 3,
                width: float = 1.0) -> nn.Sequential:
    """The convolutional part: for each number in ``cfg`` a 3x3 convolution (padding 1) with
    ``round(number * width)`` filters, [batch norm,] ReLU; for each ``"M"`` a 2x2/2 max pool.

    Shapes:
        (N, in_channels, H, W) -> (N, round(cfg[-2] * width), H / 32, W / 32) for the Table 1
        columns (five poolings; sizes rounded down at each).
    """
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        out_channels = round(v * width)
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
        in_channels = out_channels
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``features`` (from :func:`make_layers`), 7x7 average pooling, classifier.

    Args:
        features: the convolutional part, ending with ``out_channels`` channels.
        out_channels: channels that ``features`` outputs (512 for the full networks).
        num_classes: outputs (logits) of the last layer.
        classifier_width: units of the two hidden fully connected layers (fc6, fc7).
        dropout: dropout probability after fc6 and after fc7.

    Shapes:
        (N, C, H, W) -> (N, num_classes).
    """

    def __init__(self, features: nn.Sequential, out_channels: int = 512,
                 num_classes: int = 1000, classifier_width: int = 4096,
                 dropout: float = 0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(out_channels * 7 * 7, classifier_width), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(classifier_width, classifier_width), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(classifier_width, num_classes))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        pools = sum(isinstance(m, nn.MaxPool2d) for m in self.features)
        if x.ndim == 4 and min(x.shape[2:]) < 2 ** pools:
            raise ValueError(f"VGG: the input must be at least {2 ** pools}x{2 ** pools} "
                             f"({pools} halvings), got {x.shape[2]}x{x.shape[3]}")
        x = self.avgpool(self.features(x))                        # (N, C5, 7, 7)
        return self.classifier(x.flatten(1))                      # (N, C5 * 49)


def _check_arguments(name, num_classes, in_channels, width, classifier_width, dropout) -> None:
    """Raise ``<name>: <arg> must be <expected>, got <value>`` for a bad argument."""
    for arg, v in (("num_classes", num_classes), ("in_channels", in_channels),
                   ("classifier_width", classifier_width)):
        check(name, arg, v, _is_int(v), "a positive int", TypeError)
        check(name, arg, v, v > 0, "a positive int")
    check(name, "width", width, is_real(width), "a positive number (filter multiplier)",
          TypeError)
    # the narrowest layers have 64 * width filters: at least one
    check(name, "width", width, math.isfinite(width) and 64 * width >= 1,
          "a finite multiplier of at least 1/64 (64 * width filters in the first layer)")
    check(name, "dropout", dropout, is_real(dropout) and 0 <= dropout <= 1,
          "a probability in [0, 1]")


def _vgg(name: str, cfg: str, batch_norm: bool, num_classes: int, in_channels: int,
         width: float, classifier_width: int, dropout: float) -> VGG:
    _check_arguments(name, num_classes, in_channels, width, classifier_width, dropout)
    features = make_layers(CFGS[cfg], batch_norm, in_channels, width)
    return VGG(features, round(512 * width), num_classes, classifier_width, dropout)


def _builder(name: str, cfg: str, batch_norm: bool, depth: int):
    def build(num_classes: int = 1000, in_channels: int = 3, width: float = 1.0,
              classifier_width: int = 4096, dropout: float = 0.5) -> VGG:
        return _vgg(name, cfg, batch_norm, num_classes, in_channels, width, classifier_width,
                    dropout)
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"VGG-{depth} (configuration {cfg} of Simonyan and Zisserman 2015)"
        f"{' with batch norm' if batch_norm else ''}, torchvision's layout.\n\n"
        "    Args:\n"
        "        num_classes: outputs (logits).\n"
        "        in_channels: channels of the input images.\n"
        "        width: multiplies every convolution's filters (1 = the paper's).\n"
        "        classifier_width: units of fc6 and fc7 (4096 = the paper's).\n"
        "        dropout: dropout probability after fc6 and fc7.\n\n"
        "    Only the defaults (with ``num_classes=1000``) load torchvision's weights.\n")
    return build


vgg11 = _builder("vgg11", "A", False, 11)
vgg13 = _builder("vgg13", "B", False, 13)
vgg16 = _builder("vgg16", "D", False, 16)
vgg19 = _builder("vgg19", "E", False, 19)
vgg11_bn = _builder("vgg11_bn", "A", True, 11)
vgg13_bn = _builder("vgg13_bn", "B", True, 13)
vgg16_bn = _builder("vgg16_bn", "D", True, 16)
vgg19_bn = _builder("vgg19_bn", "E", True, 19)
