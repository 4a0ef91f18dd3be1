"""striate.data.augment: vectorised augmentation checked against exact cases and loop twins."""
import math

import numpy as np
import pytest

import striate
from striate.data import (ColorJitter, Compose, Normalize, RandomAffine, RandomCrop,
                          RandomErasing, RandomHorizontalFlip, RandomRotation, RandomScale,
                          RandomTranslation, RandomVerticalFlip, ToFloat, affine)


def _batch(n=4, c=3, h=6, w=6, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def _rng(seed=0):
    return np.random.default_rng(seed)


ALL = [
    RandomHorizontalFlip(), RandomVerticalFlip(), RandomCrop(6, padding=2),
    RandomCrop((4, 5), padding=1, padding_mode="reflect"), RandomAffine(20, (0.1, 0.1), (0.9, 1.1)),
    RandomRotation(30), RandomTranslation(2, 1), RandomScale((0.8, 1.2)),
    ColorJitter(0.4, 0.4, 0.4), RandomErasing(p=1.0), RandomErasing(value="random"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_shape_and_dtype_kept(t, dtype):
    x = _batch(dtype=dtype)
    y = t(x, _rng())
    expected = (4, 3) + (t.size if isinstance(t, RandomCrop) else (6, 6))
    assert y.shape == expected and y.dtype == dtype
    assert t(x[0], _rng()).shape == expected[1:]  # a single image works too


@pytest.mark.parametrize("t", ALL, ids=lambda t: type(t).__name__)
def test_reproducible_and_different_per_image(t):
    x = np.repeat(_batch(n=1, seed=1), 16, axis=0)  # 16 copies of one image
    a, b = t(x, _rng(5)), t(x, _rng(5))
    np.testing.assert_array_equal(a, b)
    distinct = {a[i].tobytes() for i in range(16)}
    assert len(distinct) > 1  # the copies got different parameters


def test_default_rng_is_striates_generator():
    x = _batch()
    striate.manual_seed(3)
    a = RandomRotation(45)(x)
    striate.manual_seed(3)
    np.testing.assert_array_equal(a, RandomRotation(45)(x))


# ---- flips -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,axis", [(RandomHorizontalFlip, -1), (RandomVerticalFlip, -2)])
def test_flips(cls, axis):
    x = _batch(n=32, dtype=np.float32)
    np.testing.assert_array_equal(cls(p=0.0)(x, _rng()), x)
    np.testing.assert_array_equal(cls(p=1.0)(x, _rng()), np.flip(x, axis))
    y = cls(p=0.5)(x, _rng())
    flipped = [np.array_equal(y[i], np.flip(x[i], axis)) for i in range(32)]
    kept = [np.array_equal(y[i], x[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept)) and 0 < sum(flipped) < 32
    as_bytes = (x * 255).astype(np.uint8)  # whole-pixel moves keep any dtype
    np.testing.assert_array_equal(cls(p=1.0)(as_bytes, _rng()), np.flip(as_bytes, axis))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: p must lie in \[0, 1\]"):
        cls(p=1.5)


# ---- geometry --------------------------------------------------------------------------------
def _affine_loop(x, angle, translate, scale, fill):
    """Naive twin of ``affine``: every output pixel of every image, one at a time."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    for k in range(n):
        a = math.radians(angle[k])
        for i in range(h):
            for j in range(w):
                u, v = j - cx - translate[k][0], i - cy - translate[k][1]
                sx = (math.cos(a) * u - math.sin(a) * v) / scale[k] + cx
                sy = (math.sin(a) * u + math.cos(a) * v) / scale[k] + cy
                x0, y0 = math.floor(sx), math.floor(sy)
                value = np.zeros(c)
                for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                    weight = (1 - abs(sx - xx)) * (1 - abs(sy - yy))
                    inside = 0 <= yy < h and 0 <= xx < w
                    value += weight * (x[k, :, yy, xx] if inside else fill)
                out[k, :, i, j] = value
    return out


@pytest.mark.parametrize("fill", [0.0, 0.5])
def test_affine_matches_loop_twin(fill):
    x = _batch(n=3, c=2, h=7, w=5)
    angle, translate, scale = [17.0, -130.0, 0.0], [[0.5, -1.2], [2.0, 0.0], [0.0, 0.3]], \
        [1.0, 0.7, 1.4]
    np.testing.assert_allclose(affine(x, angle, translate, scale, fill),
                               _affine_loop(x, angle, translate, scale, fill), atol=1e-12)


def test_affine_keeps_a_constant_image_when_fill_matches():
    x = np.full((2, 1, 5, 5), 0.7)
    np.testing.assert_allclose(affine(x, [33.0, 71.0], np.zeros((2, 2)), [0.6, 1.3], fill=0.7),
                               0.7, atol=1e-12)


@pytest.mark.parametrize("degrees,k", [(90, 1), (-90, -1), (180, 2), (270, 3)])
def test_rotation_by_right_angles_is_rot90(degrees, k):
    x = _batch(n=3, dtype=np.float32)
    y = RandomRotation((degrees, degrees))(x, _rng())
    np.testing.assert_allclose(y, np.rot90(x, k, axes=(-2, -1)), atol=1e-6)


def test_rotation_of_a_non_square_image_by_180():
    x = _batch(n=2, h=4, w=7)
    np.testing.assert_allclose(RandomRotation((180, 180))(x, _rng()), x[..., ::-1, ::-1],
                               atol=1e-12)


def _shift(image, dx, dy):
    """``image`` moved dx pixels right and dy down, zeros where nothing moved in."""
    out = np.zeros_like(image)
    h, w = image.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[..., max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def test_translation_by_whole_pixels_is_a_shift():
    x = _batch(n=20)
    y = RandomTranslation(2, 3)(x, _rng(1))
    shifts = []
    for k in range(20):
        matches = [(dx, dy) for dx in range(-2, 3) for dy in range(-3, 4)
                   if np.array_equal(y[k], _shift(x[k], dx, dy))]
        assert len(matches) == 1, f"image {k} is no exact shift of its input"
        shifts.append(matches[0])
    assert len(set(shifts)) > 5
    np.testing.assert_array_equal(affine(x, np.zeros(20), np.tile([1.0, -2.0], (20, 1)),
                                         np.ones(20)), _shift(x, 1, -2))


def test_scale_zooms_about_the_centre():
    ramp = np.tile(np.arange(9, dtype=np.float64), (1, 1, 9, 1))  # value = column index
    y = RandomScale((2.0, 2.0))(ramp, _rng())
    np.testing.assert_allclose(y[0, 0, 4], (np.arange(9) - 4) / 2 + 4)
    np.testing.assert_array_equal(RandomScale((1.0, 1.0))(ramp, _rng()), ramp)


def test_affine_translate_fraction_rounds_to_pixels():
    params = RandomAffine(translate=(0.25, 0.5)).sample_params(100, 8, 4, _rng())
    shift = params[1]
    assert np.array_equal(shift, np.rint(shift))
    assert np.abs(shift[:, 0]).max() <= 1 and np.abs(shift[:, 1]).max() <= 4


def test_interpolating_transforms_need_floats():
    x = np.zeros((1, 1, 4, 4), np.uint8)
    for t in (RandomRotation(10), ColorJitter(brightness=0.5)):
        with pytest.raises(TypeError, match="expected a floating-point batch, got uint8; put "
                                            "ToFloat"):
            t(x, _rng())


# ---- crop ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_crop_is_a_window_of_the_padded_image(mode):
    x = _batch(n=12, c=2, h=5, w=6)
    y = RandomCrop((4, 5), padding=(2, 1), padding_mode=mode, fill=-1.0)(x, _rng(2))
    numpy_mode = dict(mode="constant", constant_values=-1.0) if mode == "constant" else \
        dict(mode=mode)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), **numpy_mode)  # (12, 2, 7, 10)
    offsets = []
    for k in range(12):
        found = [(i, j) for i in range(7 - 4 + 1) for j in range(10 - 5 + 1)
                 if np.array_equal(y[k], padded[k, :, i:i + 4, j:j + 5])]
        assert found, f"image {k} is no window of its padded image"
        offsets.append(found[0])
    assert len(set(offsets)) > 3


def test_crop_without_padding_and_errors():
    x = _batch()
    np.testing.assert_array_equal(RandomCrop(6)(x, _rng()), x)
    with pytest.raises(ValueError, match=r"RandomCrop: crop size \(8, 8\) is larger"):
        RandomCrop(8)(x, _rng())
    with pytest.raises(ValueError, match="RandomCrop: padding_mode must be"):
        RandomCrop(4, padding=1, padding_mode="wrap")


# ---- erasing ---------------------------------------------------------------------------------
def test_erasing_blanks_one_rectangle_in_the_area_range():
    h, w = 20, 24
    x = np.ones((64, 3, h, w))
    scale = (0.05, 0.3)
    y = RandomErasing(p=1.0, scale=scale, ratio=(0.5, 2.0), value=0.0)(x, _rng(3))
    areas = []
    for k in range(64):
        zero = y[k, 0] == 0
        assert np.array_equal(zero, (y[k] == 0).all(axis=0))  # every channel alike
        rows, cols = np.nonzero(zero)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert zero.sum() == box  # a filled rectangle
        areas.append(box)
        side = math.sqrt(scale[1] * h * w * 2.0)  # the longest side a box can get
        assert scale[0] * h * w - side <= box <= scale[1] * h * w + side  # rounding h and w
    assert len(set(areas)) > 10


def test_erasing_matches_its_boxes_and_loop_twin():
    x = _batch(n=10, c=3, h=8, w=9)
    t = RandomErasing(p=0.6, value=[0.1, 0.2, 0.3])
    y = t(x, _rng(4))
    erase, top, left, h, w = t.sample_boxes(10, 8, 9, _rng(4))
    expected = x.copy()
    for k in range(10):
        if erase[k]:
            expected[k, :, top[k]:top[k] + h[k], left[k]:left[k] + w[k]] = \
                np.array([0.1, 0.2, 0.3])[:, None, None]
    np.testing.assert_array_equal(y, expected)
    assert 0 < erase.sum() < 10 and (h < 8).all() and (w < 9).all()


def test_erasing_p0_is_identity_and_random_value():
    x = _batch()
    np.testing.assert_array_equal(RandomErasing(p=0.0)(x, _rng()), x)
    y = RandomErasing(p=1.0, value="random")(x, _rng())
    changed = (y != x).any(axis=1)
    assert changed.any() and y.dtype == x.dtype
    with pytest.raises(ValueError, match="RandomErasing: value has 2 entries"):
        RandomErasing(p=1.0, value=[0, 0])(x, _rng())


# ---- colour ----------------------------------------------------------------------------------
def test_contrast_keeps_the_mean():
    grey = 0.4 + 0.2 * _batch(n=8, c=1)
    y = ColorJitter(contrast=0.5)(grey, _rng())
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), grey.mean(axis=(1, 2, 3)), atol=1e-12)
    spread = y.std(axis=(1, 2, 3)) / grey.std(axis=(1, 2, 3))  # = the per-image factor c
    assert (spread >= 0.5 - 1e-9).all() and (spread <= 1.5 + 1e-9).all() and spread.std() > 0
    rgb = 0.4 + 0.2 * _batch(n=8, c=3)
    luma = np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
    y = ColorJitter(contrast=0.5)(rgb, _rng())
    np.testing.assert_allclose((y * luma).sum(1).mean(axis=(1, 2)),
                               (rgb * luma).sum(1).mean(axis=(1, 2)), atol=1e-12)


def test_brightness_scales_and_clamps():
    x = 0.1 + 0.5 * _batch(n=8)
    y = ColorJitter(brightness=0.3)(x, _rng())
    ratio = y / x
    per_image = ratio.reshape(8, -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image))
    assert (per_image[:, 0] >= 0.7).all() and (per_image[:, 0] <= 1.3).all()
    assert ColorJitter(brightness=(3.0, 3.0))(x, _rng()).max() == 1.0
    assert ColorJitter(brightness=(3.0, 3.0), bounds=None)(x, _rng()).max() > 1.0


def test_saturation():
    grey = np.repeat(_batch(n=4, c=1), 3, axis=1)  # R = G = B: nothing to saturate
    np.testing.assert_allclose(ColorJitter(saturation=0.9)(grey, _rng()), grey, atol=1e-12)
    x = _batch(n=4)
    y = ColorJitter(saturation=(0.0, 0.0))(x, _rng())  # factor 0: fully grey
    np.testing.assert_allclose(y[:, 0], y[:, 1], atol=1e-12)
    with pytest.raises(ValueError, match="ColorJitter: saturation needs 3-channel RGB images"):
        ColorJitter(saturation=0.5)(_batch(c=1), _rng())


# ---- pipelines -------------------------------------------------------------------------------
def test_compose_pipeline_on_uint8():
    x = (255 * _batch(n=8)).astype(np.uint8)
    pipeline = Compose([ToFloat(), RandomCrop(6, padding=1), RandomHorizontalFlip(),
                        RandomRotation(10), ColorJitter(0.2, 0.2, 0.2), RandomErasing(),
                        Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])])
    a, b = pipeline(x, _rng(9)), pipeline(x, _rng(9))
    assert a.shape == (8, 3, 6, 6) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="Compose: every transform must be callable"):
        Compose([ToFloat(), 3])
    with pytest.raises(ValueError, match=r"expected a \(N, C, H, W\) batch"):
        RandomHorizontalFlip()(np.zeros((4, 4)))
