"""The model zoo: one module per family, and a registry by name.

The registry is a plain dict from a name to a :class:`ModelEntry`: the function that builds the
model (its keyword arguments are the model's arguments, stored in checkpoints to rebuild it), the
input size the architecture is laid out for, and a one-line description. A new model is one more
line in :data:`MODELS`.

Example::

    from striate import models
    models.list_models()                          # ['fmnist-cnn', 'lenet5', 'plain110', ...]
    model = models.create("lenet5", num_classes=10)
    models.MODELS["lenet5"].input_size            # (28, 28)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .alexnet import AlexNet, alexnet
from .lenet import LeNet5, lenet5
from .lenet import LeNet5_1998, lenet5_1998
from .allconv import AllConvNet, allconv
from .nin import NetworkInNetwork, nin
from . import resnet as _resnet
from .resnet import CifarResNet
from .resnet import ResNet
from .googlenet import GoogLeNet, googlenet, googlenet_loss
from .simple import FashionCNN, fmnist_cnn
from .unet import UNet, unet
from .vnet import VNet, vnet
from . import vgg as _vgg
from .vgg import VGG

__all__ = ["ModelEntry", "MODELS", "create", "list_models", "get_entry", "LeNet5", "lenet5",
           "LeNet5_1998", "lenet5_1998", "AllConvNet", "allconv", "NetworkInNetwork", "nin",
           "FashionCNN", "fmnist_cnn", "CifarResNet", "UNet", "unet", "VNet", "vnet",
           "AlexNet", "alexnet", "VGG",
           "ResNet", "GoogLeNet", "googlenet", "googlenet_loss"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes:
        builder: ``builder(**kwargs) -> Module``; every builder takes ``num_classes`` and
            ``in_channels``.
        input_size: the ``(H, W)`` the architecture is laid out for; the command line resizes
            images to it.
        description: one line for ``striate models``.
        task: ``"classify"`` (images to logits) or ``"segment"`` (images to per-pixel logits).
        heavy: too large for the per-model checks on the CPU in CI (output shape, gradients,
            memorising a batch at ``input_size``); such a model has its own, cheaper tests.
    """

    builder: Callable
    input_size: tuple[int, ...]
    description: str
    task: str = "classify"
    heavy: bool = False


MODELS: dict[str, ModelEntry] = {
    "lenet5": ModelEntry(lenet5, (28, 28),
                         "LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, 61.7k params"),
    "fmnist-cnn": ModelEntry(fmnist_cnn, (28, 28),
                             "two conv stages with batch norm, max pooling and dropout "
                             "(Fashion-MNIST benchmark family)"),
}
MODELS["lenet5_1998"] = ModelEntry(
    lenet5_1998, (28, 28), "LeNet-5 as published (LeCun et al. 1998): scaled tanh, trainable "
    "subsampling, C3 connection table, fixed RBF centres; 60,000 params, padded to 32x32")
MODELS["allconv"] = ModelEntry(
    allconv, (28, 28), "All-CNN-C (Springenberg et al. 2015): strided convs instead of pooling, "
    "global average of class maps, 1.37M params; width= makes it narrow", heavy=True)
MODELS["nin"] = ModelEntry(
    nin, (28, 28), "Network in Network (Lin et al. 2014), CIFAR-10 model: 3 mlpconv layers, "
    "global average pooling, 0.96M params; width= makes it narrow", heavy=True)
for _depth, _n in ((20, 3), (32, 5), (44, 7), (56, 9), (110, 18), (1202, 200)):
    MODELS[f"resnet{_depth}"] = ModelEntry(
        getattr(_resnet, f"resnet{_depth}"), (28, 28),
        f"CIFAR-style ResNet-{_depth} (He et al. 2016), 3 stages of {_n} basic blocks, "
        "zero-padding shortcuts")
    if _depth != 1202:
        MODELS[f"plain{_depth}"] = ModelEntry(
            getattr(_resnet, f"plain{_depth}"), (28, 28),
            f"ResNet-{_depth} without its shortcuts (the paper's plain network)")
MODELS["unet"] = ModelEntry(unet, (64, 64),
                            "U-Net (Ronneberger et al. 2015), depth 3, width 16, padded convs "
                            "with batch norm; per-pixel logits", task="segment")
MODELS["vnet"] = ModelEntry(vnet, (16, 16, 16),
                            "V-Net (Milletari et al. 2016), 3-D residual stages, depth 3, width 8, "
                            "3x3x3 convs; per-voxel logits", task="segment")
MODELS["alexnet"] = ModelEntry(
    alexnet, (224, 224), "AlexNet (Krizhevsky et al. 2012) in torchvision's layout, 61.1M params; "
    "variant='paper' adds LRN and the two-group split", heavy=True)
for _depth in (11, 13, 16, 19):
    for _bn in ("", "_bn"):
        MODELS[f"vgg{_depth}{_bn}"] = ModelEntry(
            getattr(_vgg, f"vgg{_depth}{_bn}"), (32, 32),
            f"VGG-{_depth}{' with batch norm' if _bn else ''} (Simonyan and Zisserman 2015) in "
            "torchvision's layout; width= and classifier_width= make it narrow", heavy=True)
MODELS["googlenet"] = ModelEntry(
    googlenet, (64, 64), "GoogLeNet / Inception v1 (Szegedy et al. 2015) in torchvision's layout, "
    "6.6M params, 2 auxiliary heads in training; width= makes it narrow", heavy=True)
for _depth, _blocks in ((18, "basic"), (34, "basic"), (50, "bottleneck"), (101, "bottleneck"),
                        (152, "bottleneck")):
    MODELS[f"resnet{_depth}"] = ModelEntry(
        getattr(_resnet, f"resnet{_depth}"), (64, 64),
        f"ImageNet ResNet-{_depth} (He et al. 2016) in torchvision's layout, {_blocks} blocks, "
        "projection shortcuts", heavy=True)


def list_models() -> list[str]:
    """The registered names, sorted."""
    return sorted(MODELS)


def get_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` of ``name``.

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return MODELS[name]


def create(name: str, **kwargs):
    """Build the registered model ``name`` with ``kwargs`` (e.g. ``num_classes=10``).

    Raises:
        ValueError: unknown name; the message lists the known ones.
        TypeError: an argument the model does not take.
    """
    return get_entry(name).builder(**kwargs)
