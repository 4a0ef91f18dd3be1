"""Dense prediction: the Dice score and pixel accuracy of segmentation logits, and the Dice + BCE
loss that trains U-Net and V-Net (checklist M8, D2).

The model outputs logits ``(N, C, d1, ...)`` (2-D images or 3-D volumes). With one channel the
task is binary: a pixel is foreground where its logit is positive (probability above 0.5) and the
target is a mask of 0s and 1s, ``(N, 1, d1, ...)`` or ``(N, d1, ...)``. With C >= 2 channels the
prediction is the argmax over classes, class 0 is the background, and the target is a class map
``(N, d1, ...)`` of ints (or one-hot ``(N, C, d1, ...)``).

Dice, 2 |P & T| / (|P| + |T|), is the overlap of the predicted and the true foreground: 1 for a
perfect mask, 0 for a disjoint one, and unlike pixel accuracy it does not reward predicting
background everywhere when the objects are small. The metrics are means over samples (one Dice
per image), as :func:`~striate.train.fit` needs to average them over batches.

Example::

    history = train.fit(model, (images, masks), loss="dice_bce", metrics=["dice", "pixel_accuracy"])
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import Tensor, as_tensor
from ..backend import to_numpy

__all__ = ["dice_score", "pixel_accuracy", "dice_bce_loss", "predicted_masks"]


def _numpy(a) -> np.ndarray:
    return to_numpy(getattr(a, "data", a))


def predicted_masks(name: str, y_true, y_pred) -> tuple[np.ndarray, np.ndarray, int]:
    """``(true labels, predicted labels, classes)``, both int64 of shape (N, d1, ...).

    Raises:
        ValueError: shapes that do not pair up, naming ``name`` and both shapes.
    """
    t, s = _numpy(y_true), _numpy(y_pred)
    if s.ndim < 3:
        raise ValueError(f"{name}: y_pred must be logits (N, C, d1, ...) of a dense prediction, "
                         f"got shape {s.shape}")
    classes = max(s.shape[1], 2)
    if t.shape == s.shape:          # a mask with a channel axis, or one-hot classes
        t = t[:, 0] if s.shape[1] == 1 else t.argmax(axis=1)
    if t.shape != s.shape[:1] + s.shape[2:]:
        raise ValueError(f"{name}: y_true must be a mask (N, d1, ...) or (N, C, d1, ...) for "
                         f"logits of shape {s.shape}, got shape {t.shape}")
    labels = (s[:, 0] > 0) if s.shape[1] == 1 else s.argmax(axis=1)
    return np.rint(t).astype(np.int64), labels.astype(np.int64), classes


def dice_score(y_true, y_pred) -> float:
    """Mean over samples of the Dice coefficient of the foreground.

    Args:
        y_true: masks (N, d1, ...) / (N, 1, d1, ...) of 0 and 1, or class maps (see above).
        y_pred: logits (N, C, d1, ...).

    Returns:
        The mean of ``2 |P & T| / (|P| + |T|)`` per sample, in [0, 1]; a sample with neither
        predicted nor true foreground counts 1. With C >= 2 classes, each sample's value is the
        mean over the classes 1..C-1.
    """
    t, p, classes = predicted_masks("dice_score", y_true, y_pred)
    if not t.size:
        return float("nan")
    axes = tuple(range(1, t.ndim))
    per_class = []
    for c in range(1, classes):
        tc, pc = t == c, p == c
        both = (tc & pc).sum(axis=axes)
        total = tc.sum(axis=axes) + pc.sum(axis=axes)
        per_class.append(np.where(total > 0, 2 * both / np.maximum(total, 1), 1.0))
    return float(np.mean(per_class))


def pixel_accuracy(y_true, y_pred) -> float:
    """The fraction of pixels (voxels) whose predicted class is the true one."""
    t, p, _ = predicted_masks("pixel_accuracy", y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def dice_bce_loss(input, target) -> Tensor:  # noqa: A002 - the torch name
    """Cross-entropy plus soft Dice loss on segmentation logits.

    One channel: ``binary_cross_entropy_with_logits(x, t) + dice_loss(sigmoid(x), t)`` with one
    Dice per sample. C >= 2 channels: ``cross_entropy(x, t) + dice_loss(softmax(x), t)`` with one
    Dice per sample and class. The cross-entropy gives every pixel a gradient from the first step;
    the Dice term (V-Net's loss) balances a small foreground against a large background.

    Args:
        input: logits (N, C, d1, ...).
        target: one channel: a mask of 0s and 1s, (N, 1, d1, ...) or (N, d1, ...) (ints are
            converted to floats); C >= 2: a class map (N, d1, ...) of ints.

    Returns:
        A scalar Tensor.
    """
    x, t = as_tensor(input), as_tensor(target)
    if x.ndim < 3:
        raise ValueError(f"dice_bce_loss: input must be logits (N, C, d1, ...), got shape "
                         f"{x.shape}")
    if x.shape[1] == 1:
        if t.ndim == x.ndim - 1:
            t = F.unsqueeze(t, 1)
        if t.dtype != x.dtype:
            t = Tensor(t.data.astype(x.dtype))
        return (F.binary_cross_entropy_with_logits(x, t)
                + F.dice_loss(F.sigmoid(x), t))
    spatial = tuple(range(2, x.ndim))
    return F.cross_entropy(x, t) + F.dice_loss(F.softmax(x, dim=1), t, dims=spatial)
