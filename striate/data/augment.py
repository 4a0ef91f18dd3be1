"""Data augmentation (R5), vectorised over the batch.

Each transform works on a whole ``(N, C, H, W)`` batch at once: the per-sample random parameters
(a flip or not, an angle, an offset, a factor, a rectangle) are drawn as length-N arrays from the
``rng`` passed in (see :mod:`striate.data.transforms` for the protocol), then applied with array
operations. There is no Python loop over the samples anywhere in this module.

Geometry goes through one routine, :func:`affine`: every output pixel asks where it came from
(the inverse of the sample's rotation, scaling and translation about the image centre) and reads
that point by bilinear interpolation, treating the outside of the image as ``fill``. Rotation,
translation and scaling are :class:`RandomAffine` with the other two switched off. Flips and
crops move whole pixels and keep any dtype; the interpolating transforms need floats.

Conventions follow torchvision: a positive angle turns the image counter-clockwise, ``translate``
is a fraction of the image size rounded to whole pixels, ColorJitter factors are drawn from
``[max(0, 1 - b), 1 + b]`` and results are clamped to ``[0, 1]``, RandomErasing uses Zhong et al.'s
defaults (p 0.5, area 2-33 %, aspect ratio 0.3-3.3, up to ten tries per image).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from .transforms import Transform, require_float

__all__ = ["RandomHorizontalFlip", "RandomVerticalFlip", "RandomCrop", "RandomAffine",
           "RandomRotation", "RandomTranslation", "RandomScale", "ColorJitter", "RandomErasing",
           "affine"]


def _probability(name: str, p) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name}: p must lie in [0, 1], got {p}")
    return float(p)


def _pair(name: str, arg: str, value, symmetric: bool = False):
    """``v`` -> ``(-v, v)`` when ``symmetric`` else ``(v, v)``; a 2-sequence is kept as is."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        if symmetric and value < 0:
            raise ValueError(f"{name}: {arg} must be non-negative, got {value}")
        return (-float(value), float(value)) if symmetric else (float(value), float(value))
    value = tuple(float(v) for v in value)
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name}: {arg} must be a number or a (low, high) pair, got {value}")
    return value


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``: ``y[n] = x[n, :, :, ::-1]``."""

    def __init__(self, p: float = 0.5):
        self.p = _probability("RandomHorizontalFlip", p)

    def apply(self, x, rng):
        xp = get_array_module(x)
        flip = xp.asarray(rng.random(len(x)) < self.p).reshape(-1, 1, 1, 1)
        return xp.where(flip, x[..., ::-1], x)


class RandomVerticalFlip(Transform):
    """Mirror each image upside down with probability ``p``: ``y[n] = x[n, :, ::-1, :]``."""

    def __init__(self, p: float = 0.5):
        self.p = _probability("RandomVerticalFlip", p)

    def apply(self, x, rng):
        xp = get_array_module(x)
        flip = xp.asarray(rng.random(len(x)) < self.p).reshape(-1, 1, 1, 1)
        return xp.where(flip, x[..., ::-1, :], x)


class RandomCrop(Transform):
    """Pad every image, then cut a ``size`` window at a random place in each (AlexNet, ResNet).

    Args:
        size: output ``(h, w)``, or one int for a square.
        padding: ``None``/0, an int for all four sides, ``(pad_x, pad_y)``, or
            ``(left, top, right, bottom)`` (torchvision's order).
        padding_mode: ``"constant"`` (with ``fill``), ``"edge"``, ``"reflect"`` or ``"symmetric"``.
        fill: the constant for ``"constant"`` padding.

    Shapes: ``(N, C, H, W) -> (N, C, h, w)``; the window's top-left corner is uniform over the
    ``(H + top + bottom - h + 1) x (W + left + right - w + 1)`` places.
    """

    def __init__(self, size, padding=None, padding_mode: str = "constant", fill=0):
        self.size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
        padding = 0 if padding is None else padding
        if np.isscalar(padding):
            padding = (padding,) * 4
        elif len(padding) == 2:
            padding = (padding[0], padding[1], padding[0], padding[1])
        if len(padding) != 4 or min(padding) < 0:
            raise ValueError(f"RandomCrop: padding must be non-negative: an int, (pad_x, pad_y) "
                             f"or (left, top, right, bottom), got {padding}")
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("RandomCrop: padding_mode must be 'constant', 'edge', 'reflect' or "
                             f"'symmetric', got {padding_mode!r}")
        self.padding = tuple(int(p) for p in padding)
        self.padding_mode, self.fill = padding_mode, fill

    def apply(self, x, rng):
        xp = get_array_module(x)
        left, top, right, bottom = self.padding
        pad = ((0, 0), (0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            x = xp.pad(x, pad, mode="constant", constant_values=self.fill)
        else:
            x = xp.pad(x, pad, mode=self.padding_mode)
        n, c, height, width = x.shape
        h, w = self.size
        if h > height or w > width:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image "
                             f"{(height, width)}")
        oy = rng.integers(0, height - h + 1, size=n)
        ox = rng.integers(0, width - w + 1, size=n)
        rows = xp.asarray(oy[:, None] + np.arange(h))  # (N, h)
        cols = xp.asarray(ox[:, None] + np.arange(w))  # (N, w)
        batch = xp.arange(n)[:, None, None, None]
        chan = xp.arange(c)[None, :, None, None]
        return x[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, h, w)


def affine(x, angle, translate, scale, fill: float = 0.0):
    """Rotate, scale and translate each image of a batch about its centre, bilinearly.

    Sample n's output pixel at ``p' = (x', y')`` (column, row; rows grow downwards) shows the input
    at ``p = S_n^{-1} R_n^{-1} (p' - c - t_n) + c``, with ``c = ((W-1)/2, (H-1)/2)`` the centre,
    ``t_n`` the translation in pixels and ``R_n`` the counter-clockwise rotation by ``angle[n]``::

        x - cx = ( cos a * u - sin a * v) / s      u = x' - cx - tx
        y - cy = ( sin a * u + cos a * v) / s      v = y' - cy - ty

    The point is read by bilinear interpolation from its four neighbours; neighbours outside the
    image count as ``fill``. Integer translations and multiples of 90 degrees on square images land
    exactly on pixels, so they move values without blurring them.

    Args:
        x: ``(N, C, H, W)`` float batch.
        angle: ``(N,)`` angles in degrees.
        translate: ``(N, 2)`` shifts ``(tx, ty)`` in pixels (right, down).
        scale: ``(N,)`` positive zoom factors.
        fill: the value outside the image.

    Returns:
        ``(N, C, H, W)`` array of ``x``'s dtype.
    """
    require_float("affine", x)
    xp = get_array_module(x)
    n, c, height, width = x.shape
    a = np.deg2rad(np.asarray(angle, dtype=np.float64))[:, None]  # (N, 1)
    t = np.asarray(translate, dtype=np.float64).reshape(n, 2)
    s = np.asarray(scale, dtype=np.float64)[:, None]
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    rows, cols = np.divmod(np.arange(height * width), width)  # output pixels, (P,) each
    u = cols[None, :] - cx - t[:, :1]  # (N, P)
    v = rows[None, :] - cy - t[:, 1:]
    src_x = xp.asarray((np.cos(a) * u - np.sin(a) * v) / s + cx)
    src_y = xp.asarray((np.sin(a) * u + np.cos(a) * v) / s + cy)
    x0, y0 = xp.floor(src_x), xp.floor(src_y)
    fx, fy = src_x - x0, src_y - y0
    flat = x.reshape(n, c, height * width)
    out = xp.zeros_like(flat)
    coverage = xp.zeros(src_x.shape, dtype=x.dtype)  # (N, P) weight that fell inside the image
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                           (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):  # the four neighbours
        ix, iy = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
        inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
        weight = (weight * inside).astype(x.dtype)
        index = xp.clip(iy, 0, height - 1) * width + xp.clip(ix, 0, width - 1)  # (N, P)
        out += weight[:, None, :] * xp.take_along_axis(flat, index[:, None, :], axis=2)
        coverage += weight
    if fill != 0:
        out += (1 - coverage)[:, None, :] * x.dtype.type(fill)
    return out.reshape(n, c, height, width)


class RandomAffine(Transform):
    """Random rotation, translation and scaling of each image in one bilinear resampling.

    Args:
        degrees: angle range in degrees: ``d`` for ``[-d, d]`` or ``(low, high)``; 0 for none.
        translate: ``(fx, fy)``: maximal shift as a fraction of the width and height; each image
            moves by ``round(U(-fx*W, fx*W))`` pixels right (and likewise down); ``None`` for none.
        scale: ``(low, high)`` zoom range, or ``None`` for 1.
        fill: value of the pixels that come from outside the image.

    Each image draws its own angle, shift and zoom; see :func:`affine` for the mapping.
    """

    def __init__(self, degrees=0.0, translate=None, scale=None, fill: float = 0.0):
        name = type(self).__name__
        self.degrees = _pair(name, "degrees", degrees, symmetric=True)
        if translate is not None:
            translate = tuple(float(f) for f in translate)
            if len(translate) != 2 or not all(0.0 <= f <= 1.0 for f in translate):
                raise ValueError(f"{name}: translate must be (fx, fy) with fractions in [0, 1], "
                                 f"got {translate}")
        self.translate = translate
        if scale is not None:
            scale = _pair(name, "scale", scale)
            if scale[0] <= 0:
                raise ValueError(f"{name}: scale must be positive, got {scale}")
        self.scale, self.fill = scale, float(fill)

    def sample_params(self, n: int, height: int, width: int, rng):
        """Per-sample ``angle (N,)``, ``translate (N, 2)`` in pixels and ``scale (N,)``."""
        angle = rng.uniform(*self.degrees, size=n)
        shift = np.zeros((n, 2))
        if self.translate is not None:
            limit = np.array([self.translate[0] * width, self.translate[1] * height])
            shift = np.rint(rng.uniform(-limit, limit, size=(n, 2)))
        scale = np.ones(n) if self.scale is None else rng.uniform(*self.scale, size=n)
        return angle, shift, scale

    def apply(self, x, rng):
        require_float(type(self).__name__, x)
        angle, shift, scale = self.sample_params(len(x), x.shape[2], x.shape[3], rng)
        return affine(x, angle, shift, scale, self.fill)


class RandomRotation(RandomAffine):
    """Rotate each image by an angle drawn from ``[-d, d]`` (or ``(low, high)``), counter-clockwise
    for positive angles, about its centre; corners from outside get ``fill``."""

    def __init__(self, degrees, fill: float = 0.0):
        super().__init__(degrees=degrees, fill=fill)


class RandomScale(RandomAffine):
    """Zoom each image about its centre by a factor drawn from ``scale_range = (low, high)``."""

    def __init__(self, scale_range=(0.9, 1.1), fill: float = 0.0):
        super().__init__(scale=scale_range, fill=fill)


class RandomTranslation(RandomAffine):
    """Shift each image by whole pixels: ``dx`` uniform in ``{-max_dx..max_dx}``, ``dy`` likewise.

    ``y[n, :, i, j] = x[n, :, i - dy, j - dx]`` (``fill`` where that falls outside): Keras'
    width/height shift given in pixels. Integer shifts never interpolate.
    """

    def __init__(self, max_dx: int, max_dy: int, fill: float = 0.0):
        if int(max_dx) < 0 or int(max_dy) < 0:
            raise ValueError(f"RandomTranslation: shifts must be non-negative, got "
                             f"({max_dx}, {max_dy})")
        super().__init__(fill=fill)
        self.max_dx, self.max_dy = int(max_dx), int(max_dy)

    def sample_params(self, n, height, width, rng):
        shift = np.stack([rng.integers(-self.max_dx, self.max_dx + 1, size=n),
                          rng.integers(-self.max_dy, self.max_dy + 1, size=n)], axis=1)
        return np.zeros(n), shift.astype(np.float64), np.ones(n)


# ITU-R 601 luma. torchvision's rgb_to_grayscale uses 0.2989 for red; 0.299 makes the weights sum
# to exactly 1, so a grey image (R = G = B) is its own grey level and saturation leaves it alone.
_GREY_WEIGHTS = (0.299, 0.587, 0.114)


def _grey(x):
    """``(N, C, H, W) -> (N, 1, H, W)`` luma for RGB; the channel mean otherwise."""
    xp = get_array_module(x)
    if x.shape[1] == 3:
        w = xp.asarray(_GREY_WEIGHTS, dtype=x.dtype).reshape(1, 3, 1, 1)
        return (x * w).sum(axis=1, keepdims=True)
    return x.mean(axis=1, keepdims=True)


class ColorJitter(Transform):
    """Random brightness, contrast and saturation, one factor of each per image.

    With factors ``b, c, s`` drawn per image from ``[max(0, 1 - v), 1 + v]`` (or the given
    ``(low, high)``), applied in this fixed order, each result clamped to ``bounds``:

    * brightness ``x <- b * x``;
    * contrast ``x <- c * x + (1 - c) * m``, ``m`` the image's mean grey level (luma for RGB), so
      the mean is kept when nothing is clamped;
    * saturation ``x <- s * x + (1 - s) * grey(x)``, RGB only.

    torchvision applies the three in a random order per call; here the order is fixed so that one
    vectorised pass serves the batch. Hue is not implemented.

    Args:
        brightness, contrast, saturation: jitter strength ``v >= 0`` or a ``(low, high)`` range.
        bounds: ``(low, high)`` clamp after each step (``(0, 1)``, the range of ToFloat's output);
            ``None`` for no clamping (e.g. on normalised data).
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, bounds=(0.0, 1.0)):
        self.brightness = self._range("brightness", brightness)
        self.contrast = self._range("contrast", contrast)
        self.saturation = self._range("saturation", saturation)
        self.bounds = None if bounds is None else tuple(float(b) for b in bounds)

    @staticmethod
    def _range(arg, value):
        if isinstance(value, (int, float, np.integer, np.floating)):
            if value < 0:
                raise ValueError(f"ColorJitter: {arg} must be non-negative, got {value}")
            return (max(0.0, 1.0 - value), 1.0 + value)
        return _pair("ColorJitter", arg, value)

    def _factor(self, low_high, n, xp, dtype, rng):
        factor = rng.uniform(low_high[0], low_high[1], size=n)
        return xp.asarray(factor, dtype=dtype).reshape(-1, 1, 1, 1)

    def _clamp(self, x):
        return x if self.bounds is None else get_array_module(x).clip(x, *self.bounds)

    def apply(self, x, rng):
        require_float("ColorJitter", x)
        xp, n = get_array_module(x), len(x)
        if self.saturation != (1.0, 1.0) and x.shape[1] != 3:
            raise ValueError(f"ColorJitter: saturation needs 3-channel RGB images, the batch has "
                             f"{x.shape[1]} channels")
        if self.brightness != (1.0, 1.0):
            x = self._clamp(x * self._factor(self.brightness, n, xp, x.dtype, rng))
        if self.contrast != (1.0, 1.0):
            c = self._factor(self.contrast, n, xp, x.dtype, rng)
            mean = _grey(x).mean(axis=(1, 2, 3), keepdims=True)  # (N, 1, 1, 1)
            x = self._clamp(c * x + (1 - c) * mean)
        if self.saturation != (1.0, 1.0):
            s = self._factor(self.saturation, n, xp, x.dtype, rng)
            x = self._clamp(s * x + (1 - s) * _grey(x))
        return x


class RandomErasing(Transform):
    """Random Erasing (Zhong et al., 2020): blank a random rectangle of each image.

    With probability ``p``, an image gets a rectangle of area ``A * U(scale)`` (``A = H * W``) and
    aspect ratio ``h / w = exp(U(log ratio))``, ``h, w`` rounded to whole pixels, placed uniformly
    inside the image. As torchvision, a candidate must satisfy ``h < H`` and ``w < W``; ten
    candidates are drawn per image and the first that fits is used (none fits: the image is kept).

    Args:
        p: probability of erasing an image.
        scale: ``(low, high)`` share of the image area.
        ratio: ``(low, high)`` aspect ratio ``h / w``.
        value: a number, one number per channel, or ``"random"`` for standard-normal noise.
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0):
        self.p = _probability("RandomErasing", p)
        self.scale = _pair("RandomErasing", "scale", scale)
        self.ratio = _pair("RandomErasing", "ratio", ratio)
        if not (0.0 <= self.scale[0] and self.scale[1] <= 1.0):
            raise ValueError(f"RandomErasing: scale must lie in [0, 1], got {self.scale}")
        if self.ratio[0] <= 0:
            raise ValueError(f"RandomErasing: ratio must be positive, got {self.ratio}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', "
                             f"got {value!r}")
        self.value = value

    def sample_boxes(self, n: int, height: int, width: int, rng):
        """Per image: erase or not, and the box ``(top, left, h, w)``; each an ``(N,)`` array."""
        tries = 10
        area = height * width * rng.uniform(*self.scale, size=(n, tries))
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]),
                                    size=(n, tries)))
        hs = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        ws = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (hs < height) & (ws < width)
        first = fits.argmax(axis=1)  # the first candidate that fits (0 if none does)
        h, w = hs[np.arange(n), first], ws[np.arange(n), first]
        top = (rng.random(n) * (height - h + 1)).astype(np.int64)
        left = (rng.random(n) * (width - w + 1)).astype(np.int64)
        erase = (rng.random(n) < self.p) & fits.any(axis=1)
        return erase, top, left, h, w

    def apply(self, x, rng):
        xp = get_array_module(x)
        n, c, height, width = x.shape
        erase, top, left, h, w = self.sample_boxes(n, height, width, rng)
        rows, cols = np.arange(height), np.arange(width)
        in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])  # (N, H)
        in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])  # (N, W)
        mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]
        mask = xp.asarray(mask[:, None])  # (N, 1, H, W)
        if isinstance(self.value, str):
            require_float("RandomErasing(value='random')", x)
            value = xp.asarray(rng.standard_normal(x.shape), dtype=x.dtype)
        else:
            value = xp.asarray(np.asarray(self.value, dtype=np.float64), dtype=x.dtype)
            if value.ndim == 1:
                if value.size not in (1, c):
                    raise ValueError(f"RandomErasing: value has {value.size} entries, the batch "
                                     f"has {c} channels")
                value = value.reshape(1, -1, 1, 1)
        return xp.where(mask, value, x)
