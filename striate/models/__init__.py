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

from .lenet import LeNet5, lenet5
from . import resnet as _resnet
from .resnet import CifarResNet
from .simple import FashionCNN, fmnist_cnn

__all__ = ["ModelEntry", "MODELS", "create", "list_models", "get_entry", "LeNet5", "lenet5",
           "FashionCNN", "fmnist_cnn", "CifarResNet"]


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
for _depth, _n in ((20, 3), (32, 5), (44, 7), (56, 9), (110, 18), (1202, 200)):
    MODELS[f"resnet{_depth}"] = ModelEntry(
        getattr(_resnet, f"resnet{_depth}"), (28, 28),
        f"CIFAR-style ResNet-{_depth} (He et al. 2016), 3 stages of {_n} basic blocks, "
        "zero-padding shortcuts")
    if _depth != 1202:
        MODELS[f"plain{_depth}"] = ModelEntry(
            getattr(_resnet, f"plain{_depth}"), (28, 28),
            f"ResNet-{_depth} without its shortcuts (the paper's plain network)")


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
