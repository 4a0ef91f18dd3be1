"""What a layer or a unit responds to, read off the network without optimising anything
(checklist V1, V6):

- :func:`filter_grid`: a convolution's kernels tiled as images, each normalised to [0, 1] by its
  own minimum and maximum (V1).
- :func:`feature_maps`: any layer's output maps for one input (V1); :func:`layer_activations`
  the raw outputs of several layers for a batch.
- :func:`top_patches`: the dataset crops that excite one unit most, each crop the unit's
  receptive field (V6, the "nearest-activation patches" of Long et al.; the field, with where it
  starts, comes from :func:`striate.analysis.receptive_field`, re-exported here).
- :func:`make_grid`, :func:`save_image`: tiles into one image, an image into a PNG.

Images optimised to excite or match a layer are in :mod:`striate.explain.synthesis` (class
models, inversion, DeepDream) and :mod:`striate.explain.style` (style transfer).

All of them take images in the model's own input space (already normalised the way the model was
trained), return NumPy arrays, freeze the model while they run (evaluation mode, no parameter
gradients; both restored afterwards) and, given ``path``, write a PNG (matplotlib, imported only
then, object-oriented API: no pyplot state, no window). Layers are modules or dotted names
(:mod:`striate.explain._common` says how their outputs are captured).

What we saw with LeNet-5 trained on Fashion-MNIST by ``striate train lenet5 --limit 20000
--epochs 2`` (0.85 test accuracy, about a minute on a CPU; what we saw, not a promise): feature
maps of ``c1`` show the garment's outline and edges; the 16 top patches of a ``c3`` unit share
one shape (unit 0: a bright vertical body with dark sides, from dresses and tops); its 5x5
first-layer filters after two epochs look noisy rather than like clean edge detectors.

References:
    Long, Zhang, Darrell (2014), "Do Convnets Learn Correspondence?", NIPS.
    Yosinski, Clune, Nguyen, Fuchs, Lipson (2015), "Understanding Neural Networks Through Deep
    Visualization", ICML deep learning workshop.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..analysis.probe import frozen
from ..analysis.receptive import ReceptiveField, receptive_field
from ..autograd import Tensor, no_grad
from ..backend import to_numpy
from ..nn.module import Module
from ._common import (_check, _check_count, _check_model, _image, _is_int, _layer_name,
                      _model_dtype, _on_model_device, _resolve_layer, _run_to, _Said,
                      _unit_range)

__all__ = ["TopPatches", "ReceptiveField", "make_grid", "save_image", "filter_grid",
           "feature_maps", "layer_activations", "receptive_field", "top_patches"]


class TopPatches(NamedTuple):
    """What :func:`top_patches` returns, best first.

    Attributes:
        patches: ``(k, C, RH, RW)`` crops of the receptive field (``fill`` outside the image).
        scores: ``(k,)`` the unit's activation at the position.
        positions: ``(k, 3)`` ints ``(image index, row, column)``, row and column in the layer's
            output map.
        boxes: ``(k, 4)`` ints ``(top, left, bottom, right)`` of the crop in image pixels, the
            bottom and right excluded; they may reach outside the image.
    """

    patches: np.ndarray
    scores: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray


def layer_activations(model: Module, x, layers) -> list:
    """The outputs of ``layers`` for the input batch ``x``, as NumPy arrays (no graph kept).

    Args:
        model: any :class:`~striate.nn.Module`.
        x: ``(N, C, H, W)`` input batch.
        layers: a module or dotted name, or a list of them.

    Returns:
        A list with one array per layer (one array if ``layers`` was a single layer).

    Example::

        a, = layer_activations(model, images, ["c3"])     # (N, 16, 10, 10) for LeNet-5
    """
    fn = "layer_activations"
    _check_model(fn, model)
    single = not isinstance(layers, (list, tuple))
    mods = [_resolve_layer(fn, model, m) for m in ([layers] if single else layers)]
    a = _on_model_device(model, np.asarray(x, dtype=_model_dtype(model)))
    with frozen(model), no_grad():
        outs = [to_numpy(t.data) for t in _run_to(model, Tensor(a), mods)]
    return outs[0] if single else outs


# ---------------------------------------------------------------------------------------------
# Grids and PNGs
# ---------------------------------------------------------------------------------------------
def make_grid(tiles, columns: int | None = None, padding: int = 1, fill: float = 1.0):
    """Tile ``K`` equal images into one, row by row, with ``padding`` pixels of ``fill`` around.

    Args:
        tiles: ``(K, h, w)`` grey or ``(K, h, w, 3)`` colour tiles.
        columns: tiles per row; default ``ceil(sqrt(K))``.
        padding: pixels between tiles and around the grid.
        fill: the value of the padding (and of empty cells).

    Returns:
        ``(R * (h + p) + p, columns * (w + p) + p[, 3])`` with ``R = ceil(K / columns)``; tile
        ``k`` sits at row ``k // columns``, column ``k % columns``, its top-left corner at
        ``(p + r * (h + p), p + c * (w + p))``.
    """
    t = np.asarray(tiles, dtype=np.float64)
    _check("make_grid", "tiles", t, (t.ndim == 3 or (t.ndim == 4 and t.shape[3] == 3))
           and len(t) > 0, "(K, h, w) or (K, h, w, 3) with K >= 1")
    columns = math.ceil(math.sqrt(len(t))) if columns is None else columns
    _check_count("make_grid", "columns", columns)
    _check_count("make_grid", "padding", padding, low=0)
    k, h, w = t.shape[:3]
    rows = math.ceil(k / columns)
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding)
                   + t.shape[3:], fill, dtype=np.float64)
    for i in range(k):
        top = padding + (i // columns) * (h + padding)
        left = padding + (i % columns) * (w + padding)
        grid[top:top + h, left:left + w] = t[i]
    return grid


def save_image(path, image, title: str | None = None, cmap: str = "gray") -> None:
    """Write a ``(H, W)`` or ``(H, W, 3)`` array with values in [0, 1] as a PNG, pixels sharp."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("striate.explain: drawing images needs matplotlib; "
                          "install it with `pip install matplotlib`") from err
    a = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    height, width = a.shape[:2]
    scale = max(1.0, 6.0 / max(height, width) * 100) / 100  # at least 6 inches on the long side
    figure = Figure(figsize=(max(2.0, width * scale), max(2.0, height * scale) + 0.4), dpi=100)
    ax = figure.add_axes((0, 0, 1, 0.92 if title else 1))
    ax.imshow(a, cmap=None if a.ndim == 3 else cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=10)
    figure.savefig(path)


def _conv_weight(fn: str, model_or_conv, layer) -> np.ndarray:
    """The 4-D weight of ``layer`` (or of the first module that has one)."""
    _check(fn, "model", model_or_conv, isinstance(model_or_conv, Module),
           "a striate.nn.Module (a model or a convolution layer)", TypeError)
    if layer is not None:
        conv = _resolve_layer(fn, model_or_conv, layer)
    else:
        convs = [m for m in model_or_conv.modules() if _conv_2d_weight(m) is not None]
        _check(fn, "model", model_or_conv, bool(convs),
               "a model with a 2-D convolution (a weight of shape (F, C, KH, KW))")
        conv = convs[0]
    w = _conv_2d_weight(conv)
    _check(fn, "layer", conv, w is not None,
           "a 2-D convolution (a weight of shape (F, C, KH, KW))")
    return to_numpy(w.data).astype(np.float64)


def _conv_2d_weight(m: Module):
    w = m._parameters.get("weight")
    return w if w is not None and w.ndim == 4 else None


def filter_grid(model, layer=None, path=None, columns: int | None = None, padding: int = 1):
    """A convolution's filters as one image, each filter normalised by its own range (V1).

    Filter ``f`` with weight ``W_f`` (shape ``(C, KH, KW)``) is shown as
    ``(W_f - min W_f) / (max W_f - min W_f)``: the per-filter scaling keeps weak filters visible
    and compares shapes, not magnitudes. A 3-channel filter becomes one RGB tile; with one
    channel a grey tile; with any other number of channels every (filter, channel) pair becomes a
    grey tile, one row per filter (then ``columns`` is C), still scaled per filter.

    Args:
        model: a model (its first module with a 4-D ``weight`` is used) or a conv layer.
        layer: the convolution to show (module or dotted name); default the first one.
        path: write the grid as a PNG there.
        columns: tiles per row (default ``ceil(sqrt(F))``, or C for multi-channel filters).
        padding: white pixels between tiles.

    Returns:
        The grid, ``(H, W)`` or ``(H, W, 3)`` in [0, 1] (see :func:`make_grid` for the layout).

    Example::

        grid = filter_grid(lenet, path="c1.png")         # 6 tiles of 5x5, 3 per row
    """
    w = _conv_weight("filter_grid", model, layer)
    f, c = w.shape[:2]
    normalised = _unit_range(w, (1, 2, 3))                        # (F, C, KH, KW)
    if c == 3:
        tiles = normalised.transpose(0, 2, 3, 1)                  # (F, KH, KW, 3)
    else:
        tiles = normalised.reshape(f * c, *w.shape[2:])           # (F*C, KH, KW)
        if c > 1 and columns is None:
            columns = c
    grid = make_grid(tiles, columns, padding)
    if path is not None:
        save_image(path, grid, title=f"{f} filters of {w.shape[2]}x{w.shape[3]}x{c}")
    return grid


def feature_maps(model, x, layer, path=None, columns: int | None = None, padding: int = 1):
    """A layer's output maps for one input image, as arrays and as a grid (V1).

    Args:
        model: any :class:`~striate.nn.Module`.
        x: one image ``(C, H, W)`` (or ``(1, C, H, W)``) in the model's input space.
        layer: the module or its dotted name; its output must be ``(1, C', H', W')``.
        path: write the grid (each map normalised by its own range) as a PNG.
        columns, padding: the grid's layout (:func:`make_grid`).

    Returns:
        ``(maps, grid)``: the raw activations ``(C', H', W')`` and the grid in [0, 1].

    Example::

        maps, grid = feature_maps(lenet, image, "c1", path="c1_maps.png")  # maps (6, 28, 28)
    """
    fn = "feature_maps"
    _check_model(fn, model)
    a = _image(fn, "x", x, _model_dtype(model))
    maps = layer_activations(model, a, _resolve_layer(fn, model, layer))[0]
    _check(fn, "layer", _Said(f"an output of shape {(1,) + maps.shape}"), maps.ndim == 3,
           "a layer with spatial output (1, C, H, W)")
    grid = make_grid(_unit_range(maps, (1, 2)), columns, padding)
    if path is not None:
        save_image(path, grid, title=f"{len(maps)} feature maps of {_layer_name(layer)} "
                                     f"({maps.shape[1]}x{maps.shape[2]})")
    return maps, grid


# ---------------------------------------------------------------------------------------------
# Top patches
# ---------------------------------------------------------------------------------------------
def _crop(image: np.ndarray, top: int, left: int, h: int, w: int, fill: float) -> np.ndarray:
    """``image[:, top:top+h, left:left+w]`` with ``fill`` where the box leaves the image."""
    c, height, width = image.shape
    out = np.full((c, h, w), fill, dtype=image.dtype)
    y0, y1 = max(top, 0), min(top + h, height)
    x0, x1 = max(left, 0), min(left + w, width)
    if y0 < y1 and x0 < x1:
        out[:, y0 - top:y1 - top, x0 - left:x1 - left] = image[:, y0:y1, x0:x1]
    return out


def _field_boxes(field: ReceptiveField, positions: np.ndarray) -> np.ndarray:
    """``(k, 4)`` boxes ``(top, left, bottom, right)`` of the fields of the units at
    ``positions`` ``(k, 2)`` (row, column): ``offset + position * jump`` up to ``+ size``, all of
    one size. A field of fractions of a pixel (after a transposed convolution) is widened to the
    whole pixels it touches."""
    start = positions * np.asarray(field.jump) + np.asarray(field.offset)      # (k, 2)
    top_left = np.floor(start).astype(np.int64)
    size = (np.ceil(start + np.asarray(field.size)) - top_left).max(axis=0).astype(np.int64)
    return np.concatenate([top_left, top_left + size], axis=1)


def top_patches(model, images, layer, unit: int, k: int = 9, batch_size: int = 64,
                fill: float = 0.0, path=None) -> TopPatches:
    """The ``k`` image crops that excite one unit (channel) of a layer most (V6).

    For every image the unit's map ``A[n, unit]`` is reduced to its maximum, at position
    ``(i, j)``; the ``k`` images with the largest maxima are kept (one patch per image, so
    overlapping near-copies of one place don't fill the list), and from each the receptive field
    of unit ``(i, j)`` is cropped (:func:`striate.analysis.receptive_field`): rows
    ``[offset + i * jump, ... + size)``, likewise columns, ``fill`` where the field reaches past
    the border (padding). Ties go to the lower image index and the first position in row-major
    order.

    Args:
        model: the network.
        images: ``(N, C, H, W)`` images in the model's input space.
        layer: module or dotted name; output ``(N, C', H', W')`` (or ``(N, C')``: whole images,
            with the padding the field counts, e.g. 32x32 crops for LeNet-5's dense layers).
        unit: the channel, ``0 <= unit < C'``.
        k: how many patches (at most N).
        batch_size: images per forward pass.
        fill: the value outside the image.
        path: write the patches as a grid PNG (one joint scaling, so patches compare).

    Returns:
        :class:`TopPatches` ``(patches, scores, positions, boxes)``, best first.

    Example::

        best = top_patches(lenet, x_test[:2000], "c3", unit=5, k=16, path="c3_unit5.png")
    """
    fn = "top_patches"
    _check_model(fn, model)
    _check(fn, "images", images, isinstance(images, np.ndarray) and images.ndim == 4
           and len(images) > 0, "an (N, C, H, W) array with N >= 1", TypeError)
    mod = _resolve_layer(fn, model, layer)
    k = min(_check_count(fn, "k", k), len(images))
    _check_count(fn, "batch_size", batch_size)
    best, where = [], []
    for start in range(0, len(images), batch_size):
        a = layer_activations(model, images[start:start + batch_size], mod)
        _check(fn, "unit", unit, _is_int(unit) and 0 <= unit < a.shape[1],
               f"an int in [0, {a.shape[1]}) (the layer's channels)")
        maps = a[:, unit].reshape(len(a), -1)                     # (B, H'*W')
        best.append(maps.max(axis=1))
        where.append(maps.argmax(axis=1))
    best, where = np.concatenate(best), np.concatenate(where)
    width = a.shape[3] if a.ndim == 4 else 1
    order = np.argsort(-best, kind="stable")[:k]
    positions = np.stack([order, where[order] // width, where[order] % width], axis=1)
    boxes = _field_boxes(receptive_field(model, mod, images.shape[1:]), positions[:, 1:])
    rh, rw = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
    patches = np.stack([_crop(np.asarray(images[n]), top, left, rh, rw, fill)
                        for n, (top, left) in zip(order, boxes[:, :2])])
    result = TopPatches(patches, best[order], positions.astype(np.int64), boxes.astype(np.int64))
    if path is not None:
        tiles = _unit_range(patches.astype(np.float64), None)
        tiles = tiles[:, 0] if tiles.shape[1] == 1 else tiles[:, :3].transpose(0, 2, 3, 1)
        save_image(path, make_grid(tiles), title=f"top {k} patches of unit {unit} "
                                                  f"({rh}x{rw} receptive field)")
    return result


