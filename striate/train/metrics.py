"""Classification metrics on arrays: accuracy, top-k accuracy, the confusion matrix, per-class
accuracy (checklist D1: top-1 and top-5 error), and the names ``fit(metrics=[...])`` accepts.

Metrics take ``(y_true, y_pred)`` in that order, as Keras and scikit-learn do (losses take
``(input, target)``, as PyTorch does). ``y_pred`` is either predicted labels of ``y_true``'s shape
or scores with a class axis 1 — logits or probabilities ``(N, C)``, or ``(N, C, d1, ...)`` for
dense prediction against labels ``(N, d1, ...)`` — whose argmax over axis 1 is the prediction.
Tensors are accepted wherever arrays are.

Example::

    >>> y = np.array([0, 1, 2, 2])
    >>> scores = np.array([[.8, .1, .1], [.2, .7, .1], [.5, .1, .4], [.1, .2, .7]])
    >>> accuracy(y, scores)
    0.75
    >>> confusion_matrix(y, scores, num_classes=3)
    array([[1, 0, 0],
           [0, 1, 0],
           [1, 0, 1]])
"""
from __future__ import annotations

import functools
import re

import numpy as np

from ..backend import to_numpy
from .segmentation import dice_score, pixel_accuracy

__all__ = ["accuracy", "top_k_accuracy", "confusion_matrix", "per_class_accuracy",
           "get_metric"]


def _array(name: str, arg: str, a) -> np.ndarray:
    a = to_numpy(getattr(a, "data", a))
    if a.dtype == object:
        raise TypeError(f"{name}: {arg} must be a numeric array, got dtype object")
    return a


def _labels(name: str, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """``(true labels, predicted labels)`` of one shape, taking the argmax of scores."""
    t, p = _array(name, "y_true", y_true), _array(name, "y_pred", y_pred)
    if t.dtype.kind not in "iub":
        raise TypeError(f"{name}: y_true must hold integer class labels, got dtype {t.dtype}")
    if p.ndim == t.ndim + 1:
        p = p.argmax(axis=1)  # scores (N, C, ...) -> labels (N, ...)
    elif p.shape == t.shape and p.dtype.kind not in "iub":
        raise TypeError(f"{name}: y_pred of y_true's shape {t.shape} must hold integer labels, "
                        f"got dtype {p.dtype}; pass scores with a class axis 1 instead")
    if p.shape != t.shape:
        raise ValueError(f"{name}: y_pred must be labels of y_true's shape {t.shape} or scores "
                         f"with a class axis 1, got shape {p.shape}")
    return t, p


def accuracy(y_true, y_pred) -> float:
    """The fraction of predictions equal to the true label (top-1 accuracy).

    Args:
        y_true: ``(N, ...)`` integer labels.
        y_pred: ``(N, ...)`` integer labels, or ``(N, C, ...)`` scores (argmax over axis 1).

    Returns:
        ``mean(argmax(y_pred) == y_true)``, a float in [0, 1] (NaN for empty input).
    """
    t, p = _labels("accuracy", y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def top_k_accuracy(y_true, y_pred, k: int = 5) -> float:
    """The fraction of samples whose true label is among the ``k`` highest scores.

    ImageNet's "top-5 error" is ``1 - top_k_accuracy(y, scores, 5)``. Ties at the k-th score are
    broken by class index (the lower index wins), as a stable sort would.

    Args:
        y_true: ``(N, ...)`` integer labels.
        y_pred: ``(N, C, ...)`` scores.
        k: how many of the best classes count, ``1 <= k``; ``k >= C`` gives 1.

    Returns:
        A float in [0, 1].
    """
    t = _array("top_k_accuracy", "y_true", y_true)
    s = _array("top_k_accuracy", "y_pred", y_pred)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"top_k_accuracy: k must be a positive int, got {k!r}")
    if t.dtype.kind not in "iub":
        raise TypeError(f"top_k_accuracy: y_true must hold integer class labels, "
                        f"got dtype {t.dtype}")
    if s.ndim != t.ndim + 1 or s.shape[:1] + s.shape[2:] != t.shape:
        raise ValueError(f"top_k_accuracy: y_pred must be scores (N, C, ...) for labels of "
                         f"shape {t.shape}, got shape {s.shape}")
    num_classes = s.shape[1]
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"top_k_accuracy: labels must lie in [0, {num_classes}), "
                         f"got min {t.min()}, max {t.max()}")
    true_score = np.take_along_axis(s, t[:, None], axis=1)[:, 0]          # (N, ...)
    # rank of the true class = classes scoring higher, plus equal-scoring ones of lower index
    higher = (s > true_score[:, None]).sum(axis=1)
    index = np.arange(num_classes).reshape((1, num_classes) + (1,) * (t.ndim - 1))
    tied_before = ((s == true_score[:, None]) & (index < t[:, None])).sum(axis=1)
    hits = higher + tied_before < k
    return float(np.mean(hits)) if t.size else float("nan")


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        y_true: ``(N, ...)`` integer labels.
        y_pred: ``(N, ...)`` integer labels or ``(N, C, ...)`` scores.
        num_classes: C; by default the largest label seen plus one.

    Returns:
        ``M`` of shape ``(C, C)``, int64: ``M[i, j]`` is the number of samples of true class
        ``i`` predicted as ``j`` (rows true, columns predicted, as scikit-learn). The diagonal
        holds the correct predictions; ``M.sum()`` is the number of samples.
    """
    t, p = _labels("confusion_matrix", y_true, y_pred)
    t, p = t.reshape(-1).astype(np.int64), p.reshape(-1).astype(np.int64)
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"confusion_matrix: num_classes must be a positive int, "
                         f"got {num_classes!r}")
    for arg, a in (("y_true", t), ("y_pred", p)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {arg} labels must lie in [0, {num_classes}), "
                             f"got min {a.min()}, max {a.max()}")
    counts = np.bincount(num_classes * t + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_accuracy(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """The accuracy within each true class (its recall): ``M[i, i] / sum_j M[i, j]``.

    Args:
        y_true, y_pred, num_classes: as for :func:`confusion_matrix`.

    Returns:
        ``(C,)`` float64; NaN for a class with no samples in ``y_true``.
    """
    m = confusion_matrix(y_true, y_pred, num_classes)
    support = m.sum(axis=1)
    out = np.full(len(m), np.nan)
    seen = support > 0
    out[seen] = np.diag(m)[seen] / support[seen]
    return out


_TOP_K = re.compile(r"top_?(\d+)_accuracy")


def get_metric(metric) -> tuple[str, callable]:
    """Resolve an entry of ``fit(metrics=[...])`` to ``(name, fn(y_true, y_pred) -> float)``.

    Names: ``"accuracy"`` (or ``"acc"``), ``"top_k_accuracy"`` (k = 5, logged as
    ``top_5_accuracy``) and ``"top_<k>_accuracy"`` / ``"top<k>_accuracy"`` for any k; for
    segmentation ``"dice"`` and ``"pixel_accuracy"`` (:mod:`~striate.train.segmentation`). A
    callable is used as is, logged under its ``__name__``. The fit loop averages a metric over
    batches weighted by batch size, so it must be a mean over samples.
    """
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__), metric
    if not isinstance(metric, str):
        raise TypeError(f"get_metric: a metric must be a name or a callable, "
                        f"got {type(metric).__name__}")
    if metric in ("accuracy", "acc"):
        return "accuracy", accuracy
    if metric in ("dice", "pixel_accuracy"):  # segmentation logits vs masks
        return metric, dice_score if metric == "dice" else pixel_accuracy
    k = 5 if metric == "top_k_accuracy" else None
    match = _TOP_K.fullmatch(metric)
    if match:
        k = int(match.group(1))
    if k is None:
        raise ValueError(f"get_metric: unknown metric {metric!r}; use 'accuracy', "
                         "'top_k_accuracy', 'top_<k>_accuracy', 'dice', "
                         "'pixel_accuracy' or a callable "
                         "fn(y_true, y_pred) -> float")
    return f"top_{k}_accuracy", functools.partial(top_k_accuracy, k=k)
