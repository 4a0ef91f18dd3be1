"""Transforms on whole batches: the protocol, :class:`Compose`, and preprocessing (D3).

Every transform is a callable ``t(x, rng=None)`` on a batch ``x`` of shape ``(N, C, H, W)`` (a
single ``(C, H, W)`` image is treated as a batch of one and comes back unbatched). Random
transforms draw every per-sample parameter from ``rng``, a ``numpy.random.Generator``:

* the :class:`~striate.data.DataLoader` passes its own seeded generator, one per batch derived
  from the loader's seed, epoch and batch index, so augmentation is reproducible and a resumed run
  sees exactly the batches it would have seen;
* called directly with ``rng=None``, a transform draws from Striate's generator
  (``striate.backend.get_generator()``, seeded by ``striate.manual_seed``).

Transforms hold settings only, never a generator, so one pipeline can serve several loaders.
Subclasses implement ``apply(x, rng)`` on 4-d batches; :class:`Transform` handles the rest.

Preprocessing: :class:`ToFloat` (uint8 -> floats in [0, 1]), :class:`Normalize` (per channel
``(x - mean) / std``) and :func:`compute_mean_std` (a dataset's per-channel statistics).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module, get_default_dtype, get_generator

__all__ = ["Transform", "Compose", "ToFloat", "Normalize", "compute_mean_std"]


class Transform:
    """Base class: call with ``(x, rng=None)``; subclasses implement ``apply(x, rng)``.

    ``x`` is ``(N, C, H, W)`` or a single ``(C, H, W)`` image; ``rng`` a NumPy Generator or
    ``None`` for Striate's generator.
    """

    def __call__(self, x, rng=None):
        name = type(self).__name__
        if getattr(x, "ndim", None) not in (3, 4):
            raise ValueError(f"{name}: expected a (N, C, H, W) batch or a (C, H, W) image, "
                             f"got shape {getattr(x, 'shape', type(x).__name__)}")
        rng = get_generator() if rng is None else rng
        if x.ndim == 3:
            return self.apply(x[None], rng)[0]
        return self.apply(x, rng)

    def apply(self, x, rng):
        """Transform the 4-d batch ``x`` with parameters drawn from ``rng``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({settings})"


class Compose(Transform):
    """Apply ``transforms`` in order, all drawing from the same ``rng``.

    Example::

        augment = Compose([ToFloat(), RandomCrop(32, padding=4), RandomHorizontalFlip(),
                           Normalize(CIFAR_MEAN, CIFAR_STD)])
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {t!r}")

    def apply(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x


def require_float(name: str, x) -> None:
    """Raise TypeError unless ``x`` holds floats (interpolating transforms need them)."""
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point batch, got {x.dtype}; put ToFloat() "
                        "first")


class ToFloat(Transform):
    """uint8 ``[0, 255]`` -> floats in ``[0, 1]`` (``x / 255``); other dtypes are only cast.

    Args:
        dtype: the float dtype; ``None`` means Striate's default (float32).
    """

    def __init__(self, dtype=None):
        self.dtype = dtype

    def apply(self, x, rng):
        dtype = get_default_dtype() if self.dtype is None else np.dtype(self.dtype)
        if x.dtype == np.uint8:
            return x.astype(dtype) / dtype.type(255)
        return x.astype(dtype, copy=False)


class Normalize(Transform):
    """Per-channel standardisation ``y[:, c] = (x[:, c] - mean[c]) / std[c]``.

    Args:
        mean: a number or one value per channel.
        std: a number or one positive value per channel.
    """

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("Normalize: mean and std must be numbers or 1-d sequences")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    def apply(self, x, rng):
        require_float("Normalize", x)
        channels = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, channels):
                raise ValueError(f"Normalize: {name} has {v.size} values, the batch has "
                                 f"{channels} channels")
        xp = get_array_module(x)
        mean = xp.asarray(self.mean, dtype=x.dtype).reshape(1, -1, 1, 1)
        std = xp.asarray(self.std, dtype=x.dtype).reshape(1, -1, 1, 1)
        return (x - mean) / std


def _image_chunks(data, batch_size: int):
    """Yield float64 ``(B, C, ...)`` chunks of an array or a Dataset's images."""
    if hasattr(data, "get_batch"):
        for start in range(0, len(data), batch_size):
            images, _ = data.get_batch(np.arange(start, min(start + batch_size, len(data))))
            yield np.asarray(images)
    else:
        data = np.asarray(data)
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size]


def compute_mean_std(data, batch_size: int = 4096):
    """Per-channel mean and standard deviation of a dataset's images, for :class:`Normalize`.

    uint8 images are measured on the ``[0, 1]`` scale :class:`ToFloat` gives them, so the result
    plugs straight into ``Normalize`` after ``ToFloat`` (Fashion-MNIST's train split gives about
    0.286 and 0.353). Sums are accumulated in float64 one chunk at a time, so a large dataset is
    never copied whole.

    Args:
        data: ``(N, C, H, W)`` array (``(N, H, W)`` counts as one channel) or a Dataset.
        batch_size: samples per chunk.

    Returns:
        ``(mean, std)``: float64 arrays of shape ``(C,)``; ``std`` is the population value
        (divides by the number of pixels, not one less).
    """
    total = total_sq = None
    count = 0
    for chunk in _image_chunks(data, batch_size):
        scale = 255.0 if chunk.dtype == np.uint8 else 1.0
        chunk = chunk.astype(np.float64) / scale
        if chunk.ndim == 3:
            chunk = chunk[:, None]
        axes = (0,) + tuple(range(2, chunk.ndim))
        s, sq = chunk.sum(axis=axes), np.square(chunk).sum(axis=axes)
        total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
        count += chunk.size // chunk.shape[1]
    if count == 0:
        raise ValueError("compute_mean_std: the dataset is empty")
    mean = total / count
    return mean, np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
