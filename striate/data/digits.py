"""scikit-learn's bundled 8x8 handwritten digits: a whole dataset in a second, for quick runs.

1797 images of the digits 0-9 from the UCI "optical recognition of handwritten digits" set, each
an 8x8 block of counts 0-16 (how many of a 4x4 patch's pixels were ink). They ship inside
scikit-learn, so nothing is downloaded.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_default_dtype

__all__ = ["load_digits"]


def load_digits(dtype=None):
    """Load the 8x8 digits as a small image dataset.

    Args:
        dtype: float dtype of the images; ``None`` for Striate's default (float32).

    Returns:
        ``(images, labels)``: ``(1797, 1, 8, 8)`` floats in ``[0, 1]`` (the counts divided by 16)
        and int64 labels 0-9.

    Raises:
        ImportError: scikit-learn is not installed (``pip install scikit-learn``).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as err:
        raise ImportError("load_digits: needs scikit-learn, which bundles the 8x8 digits; "
                          "install it with `pip install scikit-learn`") from err
    bunch = sklearn_load_digits()
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    images = (np.asarray(bunch.images, dtype=np.float64) / 16.0).astype(dtype)
    return images[:, None], np.asarray(bunch.target, dtype=np.int64)  # (N, 8, 8) -> (N, 1, 8, 8)
