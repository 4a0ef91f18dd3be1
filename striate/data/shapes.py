"""A generated segmentation task: noisy images of random shapes and their masks (checklist D2).

Nothing is downloaded: each image is drawn from a seeded generator. A 2-D image holds one to
``max_shapes`` discs, rotated rectangles and triangles, a 3-D volume holds balls and boxes; each
shape is filled with its own grey level, brighter *or* darker than the image's background, and
Gaussian noise is added. The mask marks the pixels (voxels) any shape covers. Because a shape can
be lighter or darker than its surroundings, no global threshold separates it: a network has to
find the edges, as in the cell and membrane images U-Net was made for.

Rasterisation: pixel ``(i, j)`` is the point ``(i, j)`` (row, column); a shape covers a pixel when
that point lies inside it or on its border.

Example::

    from striate.data import make_shapes, make_shapes3d
    images, masks = make_shapes(1000, size=(64, 64), seed=0)   # (1000, 1, 64, 64) float32 each
    volumes, masks3 = make_shapes3d(100, size=(16, 16, 16))   # (100, 1, 16, 16, 16)
"""
from __future__ import annotations

import numpy as np

__all__ = ["make_shapes", "make_shapes3d", "disc_mask", "rectangle_mask", "triangle_mask",
           "ball_mask", "box_mask", "SHAPES_2D", "SHAPES_3D"]

SHAPES_2D = ("disc", "rectangle", "triangle")
SHAPES_3D = ("ball", "box")


# ---- rasterisers -------------------------------------------------------------------------------
def _grid(shape):
    return np.indices(tuple(shape), dtype=np.float64)


def disc_mask(shape, centre, radius: float) -> np.ndarray:
    """Pixels of an ``(H, W)`` grid within ``radius`` of ``centre = (row, col)``: bool (H, W)."""
    i, j = _grid(shape)
    return (i - centre[0]) ** 2 + (j - centre[1]) ** 2 <= radius ** 2


def rectangle_mask(shape, centre, half_sizes, angle: float = 0.0) -> np.ndarray:
    """A rectangle of half height and width ``half_sizes = (a, b)`` around ``centre``, turned by
    ``angle`` radians (counter-clockwise on the page): |u| <= a and |v| <= b in its own frame."""
    i, j = _grid(shape)
    di, dj = i - centre[0], j - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * di + s * dj, -s * di + c * dj
    eps = 1e-9  # border pixels stay inside despite rounding in the rotation
    return (np.abs(u) <= half_sizes[0] + eps) & (np.abs(v) <= half_sizes[1] + eps)


def triangle_mask(shape, vertices) -> np.ndarray:
    """Pixels inside the triangle with ``vertices = ((r0, c0), (r1, c1), (r2, c2))`` or on its
    edges: the three edge functions (cross products) have one sign."""
    i, j = _grid(shape)
    p = np.asarray(vertices, dtype=np.float64)
    sides = []
    for k in range(3):
        (ai, aj), (bi, bj) = p[k], p[(k + 1) % 3]
        sides.append((bi - ai) * (j - aj) - (bj - aj) * (i - ai))
    eps = 1e-9
    return (((sides[0] >= -eps) & (sides[1] >= -eps) & (sides[2] >= -eps))
            | ((sides[0] <= eps) & (sides[1] <= eps) & (sides[2] <= eps)))


def ball_mask(shape, centre, radius: float) -> np.ndarray:
    """Voxels of a ``(D, H, W)`` grid within ``radius`` of ``centre = (d, h, w)``."""
    k, i, j = _grid(shape)
    return (k - centre[0]) ** 2 + (i - centre[1]) ** 2 + (j - centre[2]) ** 2 <= radius ** 2


def box_mask(shape, centre, half_sizes) -> np.ndarray:
    """An axis-aligned box (a cube when the half sizes agree) around ``centre``."""
    grid = _grid(shape)
    inside = np.ones(tuple(shape), dtype=bool)
    for axis in range(3):
        inside &= np.abs(grid[axis] - centre[axis]) <= half_sizes[axis]
    return inside


# ---- random shapes -----------------------------------------------------------------------------
def _random_shape(rng, kind: str, size) -> np.ndarray:
    """The mask of one shape of ``kind`` with random position and extent, scaled to ``size``."""
    m = min(size)
    centre = [rng.uniform(0.15 * n, 0.85 * n) for n in size]
    if kind == "disc":
        return disc_mask(size, centre, rng.uniform(0.08, 0.2) * m)
    if kind == "rectangle":
        half = rng.uniform(0.06, 0.2, size=2) * m
        return rectangle_mask(size, centre, half, rng.uniform(0, np.pi))
    if kind == "triangle":  # a jittered equilateral triangle, so it never degenerates to a line
        radius = rng.uniform(0.12, 0.25) * m
        angles = (rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(3) / 3
                  + rng.uniform(-0.4, 0.4, 3))
        vertices = [(centre[0] + radius * np.sin(a), centre[1] + radius * np.cos(a))
                    for a in angles]
        return triangle_mask(size, vertices)
    if kind == "ball":
        return ball_mask(size, centre, rng.uniform(0.18, 0.32) * m)
    return box_mask(size, centre, rng.uniform(0.12, 0.28, size=3) * m)


def _check(op: str, n, size, ndim: int, max_shapes, noise, kinds, known) -> tuple:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{op}: n must be an int >= 0, got {n!r}")
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size),) * ndim
    if (not isinstance(size, (tuple, list)) or len(size) != ndim
            or not all(isinstance(s, (int, np.integer)) and s >= 4 for s in size)):
        raise ValueError(f"{op}: size must be an int or a tuple of {ndim} ints, each >= 4, "
                         f"got {size!r}")
    if not isinstance(max_shapes, (int, np.integer)) or max_shapes < 1:
        raise ValueError(f"{op}: max_shapes must be an int >= 1, got {max_shapes!r}")
    if not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"{op}: noise must be a number >= 0 (the noise's standard deviation), "
                         f"got {noise!r}")
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in kinds if k not in known]
    if not kinds or unknown:
        raise ValueError(f"{op}: kinds must be a non-empty selection of {known}, got {kinds!r}")
    return tuple(int(s) for s in size), kinds


def _draw(n: int, size: tuple, seed, max_shapes: int, noise: float, kinds: tuple):
    """``n`` images of ``size`` and their masks; every random draw comes from ``seed``."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, 1) + size, dtype=np.float32)
    masks = np.zeros((n, 1) + size, dtype=np.float32)
    for k in range(n):
        background = rng.uniform(0.2, 0.8)
        image = np.full(size, background)
        for _ in range(rng.integers(1, max_shapes + 1)):
            shape = _random_shape(rng, kinds[rng.integers(len(kinds))], size)
            level = background + rng.choice((-1, 1)) * rng.uniform(0.25, 0.5)
            if not 0 <= level <= 1:  # the other side of the background stays within [0, 1]
                level = 2 * background - level
            image[shape] = level
            masks[k, 0][shape] = 1
        if noise:
            image = image + rng.normal(0.0, noise, size)
        images[k, 0] = np.clip(image, 0.0, 1.0)
    return images, masks


def make_shapes(n: int, size=(64, 64), *, seed=0, max_shapes: int = 3, noise: float = 0.1,
                kinds=SHAPES_2D):
    """``n`` noisy grey images of random shapes and their binary masks.

    Args:
        n: the number of images.
        size: ``(H, W)`` (or one int for a square), each at least 4.
        seed: seed of the generator; the same seed gives the same images.
        max_shapes: each image holds 1 to ``max_shapes`` shapes (they may overlap).
        noise: standard deviation of the Gaussian noise added to every pixel.
        kinds: the shapes drawn, a selection of ``"disc"``, ``"rectangle"`` (rotated),
            ``"triangle"``.

    Returns:
        ``(images, masks)``, both float32 ``(n, 1, H, W)``: images in [0, 1] (background level
        U(0.2, 0.8), each shape 0.25 to 0.5 lighter or darker), masks 1 where a shape lies and 0
        elsewhere (the target of a one-channel logit map).
    """
    size, kinds = _check("make_shapes", n, size, 2, max_shapes, noise, kinds, SHAPES_2D)
    return _draw(int(n), size, seed, int(max_shapes), float(noise), kinds)


def make_shapes3d(n: int, size=(16, 16, 16), *, seed=0, max_shapes: int = 2, noise: float = 0.1,
                  kinds=SHAPES_3D):
    """``n`` noisy volumes of random balls and boxes and their binary masks (for V-Net).

    Args and returns as :func:`make_shapes`, in three dimensions: ``size = (D, H, W)``, kinds
    ``"ball"`` and ``"box"`` (axis-aligned; a cube when its sides agree), results
    ``(n, 1, D, H, W)`` float32.
    """
    size, kinds = _check("make_shapes3d", n, size, 3, max_shapes, noise, kinds, SHAPES_3D)
    return _draw(int(n), size, seed, int(max_shapes), float(noise), kinds)
