"""Data: file formats, datasets, the loader, preprocessing and augmentation.

* File formats (nothing is downloaded): IDX for MNIST-style sets (:func:`load_fashion_mnist`
  reads Debian's ``dataset-fashion-mnist``), CIFAR python batches, folders of images, and
  scikit-learn's bundled 8x8 digits.
* Generated: :func:`make_shapes` / :func:`make_shapes3d`, noisy shapes and their masks (a
  segmentation task for U-Net and V-Net).
* :class:`Dataset`, :class:`ArrayDataset`, :class:`Subset`, :func:`random_split` and
  :func:`validation_split` (Keras' hold-out-the-last-fraction rule).
* :class:`DataLoader`: ``(x, y)`` Tensors, seeded per-epoch shuffling, resumable state,
  background prefetch.
* Transforms on whole batches, ``t(batch, rng)``: :class:`ToFloat`, :class:`Normalize`,
  :func:`compute_mean_std`, and the augmentations of :mod:`striate.data.augment`.

Example::

    from striate.data import (ArrayDataset, Compose, DataLoader, Normalize, RandomCrop,
                              RandomHorizontalFlip, ToFloat, load_fashion_mnist,
                              validation_split)

    x, y = load_fashion_mnist(split="train")           # (60000, 28, 28) uint8, (60000,) int64
    (x_train, y_train), (x_val, y_val) = validation_split((x, y), 0.1)
    augment = Compose([ToFloat(), RandomCrop(28, padding=2), RandomHorizontalFlip(),
                       Normalize(0.286, 0.353)])
    train = DataLoader(ArrayDataset(x_train, y_train, augment), batch_size=128, shuffle=True,
                       seed=0, prefetch=2)
    for xb, yb in train:                                # xb (128, 1, 28, 28) float32, yb int64
        ...
"""
from .augment import (ColorJitter, RandomAffine, RandomCrop, RandomErasing, RandomHorizontalFlip,
                      RandomRotation, RandomScale, RandomTranslation, RandomVerticalFlip, affine)
from .cifar import (CIFAR10_CLASSES, RestrictedUnpickler, cifar_class_names, load_cifar10,
                    load_cifar100, safe_unpickle)
from .datasets import (ArrayDataset, Dataset, Subset, default_collate, random_split,
                       validation_split)
from .digits import load_digits
from .shapes import make_shapes, make_shapes3d
from .folder import IMAGE_EXTENSIONS, ImageFolder, read_image
from .idx import (FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, KMNIST_CLASSES, load_emnist,
                  load_fashion_mnist, load_kmnist, load_mnist, read_idx, write_idx)
from .loader import DataLoader
from .transforms import Compose, Normalize, ToFloat, Transform, compute_mean_std

__all__ = [
    # file formats
    "read_idx", "write_idx", "load_mnist", "load_fashion_mnist", "load_kmnist", "load_emnist",
    "FASHION_MNIST_DIR", "FASHION_MNIST_CLASSES", "KMNIST_CLASSES",
    "load_cifar10", "load_cifar100", "cifar_class_names", "safe_unpickle", "RestrictedUnpickler",
    "CIFAR10_CLASSES", "ImageFolder", "read_image", "IMAGE_EXTENSIONS", "load_digits",
    "make_shapes", "make_shapes3d",
    # datasets and loading
    "Dataset", "ArrayDataset", "Subset", "random_split", "validation_split", "default_collate",
    "DataLoader",
    # transforms
    "Transform", "Compose", "ToFloat", "Normalize", "compute_mean_std",
    "RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "RandomAffine", "RandomRotation",
    "RandomTranslation", "RandomScale", "ColorJitter", "RandomErasing", "affine",
]
