"""AlexNet (Krizhevsky, Sutskever and Hinton 2012, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS), in torchvision's layout by default and in the paper's.

The paper's network (its Fig. 2 and section 3), for a 224x224 RGB image::

    conv1  96@11x11 stride 4 -> ReLU -> LRN -> max pool 3x3/2     96@55x55 -> 27x27
    conv2 256@5x5   pad 2, 2 groups -> ReLU -> LRN -> max pool    256@27x27 -> 13x13
    conv3 384@3x3   pad 1 (sees both groups)  -> ReLU             384@13x13
    conv4 384@3x3   pad 1, 2 groups           -> ReLU             384@13x13
    conv5 256@3x3   pad 1, 2 groups -> ReLU -> max pool 3x3/2     256@13x13 -> 6x6
    fc6 9216 -> 4096 -> ReLU, fc7 4096 -> 4096 -> ReLU, fc8 4096 -> 1000, dropout 0.5 on fc6, fc7

Why these parts: ReLUs train several times faster than tanh units (the paper's Fig. 1); the
"groups" are the two GPUs the net was split over (each held half the kernels of a layer, and
conv2, conv4 and conv5 saw only the half of the previous layer on their own GPU); local response
normalisation (LRN) makes neighbouring channels compete ("lateral inhibition", -1.4 % top-1
error); pooling windows of 3 with stride 2 overlap, which the paper found harder to overfit
(-0.4 %); dropout in fc6 and fc7 cut overfitting of the 60M parameters.

torchvision's ``alexnet`` (the default here, ``variant="torchvision"``) follows the one-GPU
"one weird trick" variant (Krizhevsky 2014): widths 64/192/384/256/256, no LRN, no groups, the
same overlapping pooling and dropout 0.5, an ``AdaptiveAvgPool2d((6, 6))`` before the classifier
so other input sizes still reach 9216 features, and 61,100,840 parameters with 1000 classes.
``variant="paper"`` gives the 2012 network: widths 96/256/384/384/256, LRN after conv1 and conv2,
``groups=2`` in conv2, conv4 and conv5, 60,965,224 parameters ("60 million" in the paper).

Which options keep torchvision's layout (``state_dict`` keys ``features.0.weight`` ...
``classifier.6.bias`` with torchvision's shapes, so its weights load): ``widths``, ``groups``,
``lrn`` and ``classifier_width`` (4096) at their defaults, ``in_channels=3`` and
``num_classes=1000``; ``dropout`` has no parameters and may change. ``groups > 1``, other
``widths``, ``classifier_width``, ``in_channels`` or ``num_classes`` keep the key names and
change shapes; ``lrn=True`` adds two parameter-free modules to ``features``, which renumbers the
convolutions after conv1 (``features.4`` is conv2), so the paper's variant has its own keys.

Where this differs from the paper, on purpose: the classifier is torchvision's in every variant
(dropout *before* fc6 and fc7, where the paper drops the outputs of fc6 and fc7; at evaluation
time the two are the same function), conv1 pads by 2 at 224x224 (the paper's 227x227 without
padding gives the same 55x55), and the initialisation is PyTorch's default, not the paper's
N(0, 0.01) weights with biases of 1 in conv2, conv4, conv5 and the FC layers.

Sizes: at least 63x63 (pool5 needs a 3x3 input); at 224x224 every stage has the sizes above.
"""
from __future__ import annotations

from .. import nn
from ..nn._checks import check, is_real

__all__ = ["AlexNet", "alexnet", "TORCHVISION_WIDTHS", "PAPER_WIDTHS"]

TORCHVISION_WIDTHS = (64, 192, 384, 256, 256)
PAPER_WIDTHS = (96, 256, 384, 384, 256)
_VARIANTS = {"torchvision": dict(widths=TORCHVISION_WIDTHS, lrn=False, groups=1),
             "paper": dict(widths=PAPER_WIDTHS, lrn=True, groups=2)}


def _lrn(on: bool) -> list:
    """The paper's LRN as a list of one layer (none when ``on`` is False): k = 2, n = 5,
    alpha = 1e-4, beta = 0.75, where the paper's alpha multiplies the *sum* of the n squares;
    PyTorch's (and Striate's) alpha multiplies their mean, hence alpha = 5 * 1e-4 here."""
    return [nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)] if on else []


def _check_arguments(num_classes, in_channels, widths, lrn, groups, classifier_width,
                     dropout) -> tuple:
    """Raise ``AlexNet: <arg> must be <expected>, got <value>``; return the widths as a tuple."""
    name = "AlexNet"
    for arg, v in (("num_classes", num_classes), ("in_channels", in_channels),
                   ("groups", groups), ("classifier_width", classifier_width)):
        check(name, arg, v, _is_int(v), "a positive int", TypeError)
        check(name, arg, v, v > 0, "a positive int")
    check(name, "widths", widths, isinstance(widths, (tuple, list)) and len(widths) == 5
          and all(_is_int(w) and w > 0 for w in widths), "5 positive ints (conv1 ... conv5)")
    # conv2, conv4 and conv5 are split, so conv1 ... conv5 must all split evenly
    check(name, "groups", groups, all(w % groups == 0 for w in widths),
          f"a divisor of every width in {tuple(widths)}")
    check(name, "lrn", lrn, isinstance(lrn, bool), "True or False", TypeError)
    check(name, "dropout", dropout, is_real(dropout) and 0 <= dropout <= 1,
          "a probability in [0, 1]")
    return tuple(widths)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class AlexNet(nn.Module):
    """AlexNet: five convolutions and three fully connected layers.

    Args:
        num_classes: outputs (logits) of fc8.
        in_channels: channels of the input images.
        widths: filters of conv1 ... conv5; torchvision's (64, 192, 384, 256, 256) by default,
            the paper's :data:`PAPER_WIDTHS` (96, 256, 384, 384, 256).
        lrn: local response normalisation after the ReLUs of conv1 and conv2 (the paper's).
        groups: channel groups of conv2, conv4 and conv5 (the paper's two-GPU split is 2).
        classifier_width: units of fc6 and fc7 (4096; fewer make a small AlexNet, e.g. for
            28x28 images resized to 64x64, that no longer loads torchvision's weights).
        dropout: dropout probability before fc6 and before fc7.

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes), H and W at least 63.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3,
                 widths=TORCHVISION_WIDTHS, lrn: bool = False, groups: int = 1,
                 classifier_width: int = 4096, dropout: float = 0.5):
        super().__init__()
        c1, c2, c3, c4, c5 = _check_arguments(num_classes, in_channels, widths, lrn, groups,
                                              classifier_width, dropout)
        hidden = classifier_width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 11, stride=4, padding=2), nn.ReLU(inplace=True),
            *_lrn(lrn), nn.MaxPool2d(3, 2),                       # (N, c1, 27, 27) at 224
            nn.Conv2d(c1, c2, 5, padding=2, groups=groups), nn.ReLU(inplace=True),
            *_lrn(lrn), nn.MaxPool2d(3, 2),                       # (N, c2, 13, 13)
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),  # conv3 sees both groups
            nn.Conv2d(c3, c4, 3, padding=1, groups=groups), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1, groups=groups), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2))                                   # (N, c5, 6, 6)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(c5 * 6 * 6, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        if x.ndim == 4 and min(x.shape[2:]) < 63:
            raise ValueError(f"AlexNet: the input must be at least 63x63 (pool5 needs a 3x3 "
                             f"map), got {x.shape[2]}x{x.shape[3]}")
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))                      # (N, c5 * 36)


def alexnet(num_classes: int = 1000, in_channels: int = 3, variant: str = "torchvision",
            **kwargs) -> AlexNet:
    """AlexNet in torchvision's layout (``variant="torchvision"``) or the paper's (``"paper"``).

    Keyword arguments as :class:`AlexNet` (``widths``, ``lrn``, ``groups``,
    ``classifier_width``, ``dropout``) override the variant's, e.g.
    ``alexnet(variant="paper", groups=1)`` is the paper's widths and LRN on one GPU.

    Example::

        model = alexnet()                                   # torchvision's layout and weights
        logits = model(striate.randn(2, 3, 224, 224))       # (2, 1000)
        paper = alexnet(variant="paper", num_classes=10)    # LRN, two groups, 96...256 filters
    """
    if variant not in _VARIANTS:
        raise ValueError(f"alexnet: variant must be one of {sorted(_VARIANTS)}, got {variant!r}")
    return AlexNet(num_classes, in_channels, **{**_VARIANTS[variant], **kwargs})
