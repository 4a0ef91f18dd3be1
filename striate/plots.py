"""Plots of a training run: learning curves and the confusion matrix, written as PNG files.

Matplotlib is imported only when a plot is drawn (``import striate`` never needs it), and only
its object-oriented API is used: a ``Figure`` saved straight to a file, no ``pyplot`` state, no
window, and no change to the backend of a program that imported Striate.

Example::

    history = train.fit(model, data, epochs=10, validation_split=0.1)
    plot_learning_curves(history, "run/learning_curves.png")
    m = train.confusion_matrix(y_test, train.predict(model, x_test))
    plot_confusion_matrix(m, "run/confusion_matrix.png", FASHION_MNIST_CLASSES)
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_learning_curves", "plot_confusion_matrix"]


def _figure(width: float, height: float, columns: int = 1):
    """A fresh ``(figure, axes)`` that belongs to no pyplot state."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("striate.plots: drawing plots needs matplotlib; "
                          "install it with `pip install matplotlib`") from err
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, axes


def _series(history) -> dict:
    """``{key: [value per epoch]}`` from a History or a plain dict."""
    series = getattr(history, "history", history)
    if not isinstance(series, dict):
        raise TypeError(f"plot_learning_curves: expected a History or a dict of lists, "
                        f"got {type(history).__name__}")
    return series


def plot_learning_curves(history, path, title: str | None = None) -> None:
    """Loss and metrics per epoch, training beside validation, one panel per quantity.

    Args:
        history: a :class:`~striate.train.History` or ``{key: [value per epoch]}`` with
            ``loss`` and optionally ``val_loss``, ``accuracy``, ``val_accuracy``, ... (keys
            ``lr`` and ``time`` are not drawn).
        path: the PNG file to write.
        title: a title over the panels.
    """
    series = _series(history)
    names = [k for k in series if not k.startswith("val_") and k not in ("lr", "time")]
    if not names:
        raise ValueError("plot_learning_curves: the history holds no loss or metric to draw")
    figure, axes = _figure(5.0 * len(names), 3.8, columns=len(names))
    for ax, name in zip(axes, names):
        epochs = np.arange(1, len(series[name]) + 1)
        ax.plot(epochs, series[name], marker="o", label=f"training {name}")
        if f"val_{name}" in series:
            val = series[f"val_{name}"]
            ax.plot(np.arange(1, len(val) + 1), val, marker="o", label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
    if title:
        figure.suptitle(title)
    figure.savefig(path)


def plot_confusion_matrix(matrix, path, class_names=None, title: str | None = None,
                          normalize: bool = True) -> None:
    """A heat map of a confusion matrix, rows the true class and columns the prediction.

    Args:
        matrix: ``(C, C)`` counts, ``matrix[i, j]`` = samples of class i predicted as j (as
            :func:`striate.train.confusion_matrix` returns).
        path: the PNG file to write.
        class_names: C labels for the axes; by default the class indices.
        title: the plot's title.
        normalize: colour each row by its share of the class (the diagonal is then the per-class
            accuracy); the cells are annotated with the counts either way.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square (C, C) matrix, "
                         f"got shape {m.shape}")
    c = len(m)
    names = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    if len(names) != c:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for a {c}x{c} matrix")
    shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalize else m
    size = max(4.0, 0.6 * c + 2.0)
    figure, (ax,) = _figure(size + 1.0, size)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    figure.colorbar(image, ax=ax, label="fraction of the true class" if normalize else "count")
    ax.set_xticks(range(c), names, rotation=45, ha="right")
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if c <= 30:  # beyond that the numbers would not fit in the cells
        dark = 0.5 * (shown.max() if shown.size else 1)
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > dark else "black")
    ax.set_title(title or f"confusion matrix ({int(m.sum())} samples)")
    figure.savefig(path)
