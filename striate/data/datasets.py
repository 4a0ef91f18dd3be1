"""Datasets: samples by index, and the ways to split them.

A :class:`Dataset` answers ``len(ds)`` and ``ds[i] -> (image, label)``. The loader asks for whole
batches through ``ds.get_batch(indices, rng)``; the base class builds a batch one item at a time,
and :class:`ArrayDataset` overrides it with one fancy-indexing slice per batch, so an in-memory
dataset never runs a Python loop over its samples.

Splits follow the two usual rules: :func:`random_split` draws a seeded permutation (PyTorch's
``random_split``), :func:`validation_split` holds out the *last* fraction, unshuffled (Keras'
``fit(validation_split=...)``), so the split is the same on every run and every machine.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from ..backend import get_generator

__all__ = ["Dataset", "ArrayDataset", "Subset", "random_split", "validation_split",
           "default_collate"]


def default_collate(items):
    """Stack a list of ``(image, label)`` pairs into ``(images (B, ...), labels (B,))`` arrays."""
    images = np.stack([np.asarray(image) for image, _ in items])
    labels = np.asarray([label for _, label in items])
    if labels.dtype.kind in "iub":
        labels = labels.astype(np.int64)
    return images, labels


class Dataset(ABC):
    """Samples by index: subclasses define ``__len__`` and ``__getitem__(i) -> (image, label)``.

    ``get_batch(indices, rng)`` returns a whole batch; override it when a batch can be read faster
    than one item at a time (see :class:`ArrayDataset`).
    """

    @abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    @abstractmethod
    def __getitem__(self, index):
        """Sample ``index`` as an ``(image, label)`` pair."""

    def get_batch(self, indices, rng=None):
        """``(images (B, ...), labels (B,))`` for ``indices``: a loop over ``__getitem__``.

        ``rng`` is for datasets whose transforms are random (the loader passes its own seeded
        generator); the generic version has no transform of its own and ignores it.
        """
        return default_collate([self[int(i)] for i in indices])


def _check_index(name: str, index, n: int) -> int:
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise TypeError(f"{name}: index must be an int, got {type(index).__name__}")
    if not -n <= index < n:
        raise IndexError(f"{name}: index {index} is out of range for {n} samples")
    return int(index) % n


class ArrayDataset(Dataset):
    """A dataset held in memory as two arrays, read a batch at a time by one slice.

    Args:
        images: ``(N, C, H, W)`` array (any dtype; uint8 is kept as is until the loader turns it
            into floats). ``(N, H, W)`` is taken as grey images and gets a channel axis
            ``(N, 1, H, W)``.
        labels: ``(N,)`` array; integer labels become int64.
        transform: optional callable ``transform(batch, rng) -> batch`` applied to every batch
            (and to a single ``(C, H, W)`` image by ``ds[i]``), e.g. an augmentation pipeline.

    Example::

        x, y = load_fashion_mnist()
        ds = ArrayDataset(x, y)            # images (60000, 1, 28, 28) uint8
        image, label = ds[0]
    """

    def __init__(self, images, labels, transform=None):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim == 3:
            images = images[:, None]  # (N, H, W) -> (N, 1, H, W)
        if labels.ndim < 1 or len(images) != len(labels):
            raise ValueError(f"ArrayDataset: images hold {len(images)} samples "
                             f"{tuple(images.shape)} but labels have shape {tuple(labels.shape)}")
        if labels.dtype.kind in "iub":
            labels = labels.astype(np.int64, copy=False)
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        index = _check_index("ArrayDataset", index, len(self))
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image, get_generator())
        return image, self.labels[index]

    def get_batch(self, indices, rng=None):
        """One fancy-indexing slice of each array, then the transform on the whole batch."""
        indices = np.asarray(indices, dtype=np.int64)
        images, labels = self.images[indices], self.labels[indices]
        if self.transform is not None:
            images = self.transform(images, rng if rng is not None else get_generator())
        return images, labels


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (batches stay vectorised)."""

    def __init__(self, dataset, indices):
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}) for a dataset of {n} "
                             f"samples, got min {indices.min()}, max {indices.max()}")
        self.dataset, self.indices = dataset, indices % max(n, 1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_check_index("Subset", index, len(self))])]

    def get_batch(self, indices, rng=None):
        return self.dataset.get_batch(self.indices[np.asarray(indices, dtype=np.int64)], rng)


def _split_lengths(lengths, n: int) -> list[int]:
    """Integer lengths, or fractions summing to 1 turned into counts (remainder round-robin)."""
    lengths = list(lengths)
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths):
        if sum(lengths) != n or min(lengths) < 0:
            raise ValueError(f"random_split: lengths {lengths} must be non-negative and sum to "
                             f"the dataset's {n} samples")
        return [int(x) for x in lengths]
    if not math.isclose(sum(lengths), 1.0, abs_tol=1e-6) or min(lengths) < 0:
        raise ValueError(f"random_split: fractions {lengths} must be non-negative and sum to 1")
    counts = [int(math.floor(n * f)) for f in lengths]
    for i in range(n - sum(counts)):  # as PyTorch: hand the remainder out one by one
        counts[i % len(counts)] += 1
    return counts


def random_split(dataset, lengths, seed=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    Args:
        dataset: any :class:`Dataset`.
        lengths: sample counts summing to ``len(dataset)``, or fractions summing to 1 (counts are
            floored and the remainder handed out one each from the first subset on).
        seed: seed of the permutation; ``None`` draws one from Striate's generator (so
            ``striate.manual_seed`` fixes it).

    Returns:
        One Subset per length, in order.
    """
    n = len(dataset)
    counts = _split_lengths(lengths, n)
    rng = np.random.default_rng(seed) if seed is not None else get_generator()
    order = rng.permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def validation_split(data, fraction: float):
    """Hold out the last ``fraction`` of the samples for validation (Keras' rule), unshuffled.

    The training part is the first ``floor(N * (1 - fraction))`` samples, the rest validates,
    exactly as ``keras.Model.fit(validation_split=fraction)``. Shuffle the data beforehand if its
    order is not random (e.g. sorted by class).

    Args:
        data: a :class:`Dataset`, one array, or a tuple/list of arrays of equal length
            (e.g. ``(images, labels)``).
        fraction: the share held out, ``0 < fraction < 1``.

    Returns:
        ``(train, val)``: two :class:`Subset` s, two arrays, or two tuples of arrays, as ``data``.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"validation_split: fraction must lie in (0, 1), got {fraction}")
    if isinstance(data, (tuple, list)):
        lengths = {len(a) for a in data}
        if len(lengths) != 1:
            raise ValueError(f"validation_split: arrays of different lengths {sorted(lengths)}")
        n = lengths.pop()
    else:
        n = len(data)
    split_at = int(math.floor(n * (1.0 - float(fraction))))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split: {n} samples are too few to hold out a fraction "
                         f"{fraction} and keep both parts non-empty")
    if isinstance(data, Dataset):
        return Subset(data, np.arange(split_at)), Subset(data, np.arange(split_at, n))
    if isinstance(data, (tuple, list)):
        return tuple(a[:split_at] for a in data), tuple(a[split_at:] for a in data)
    return data[:split_at], data[split_at:]
