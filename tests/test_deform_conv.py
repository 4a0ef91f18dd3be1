"""Deformable convolution (C11): against conv2d, shifted convolutions, a naive loop twin, a
PyTorch twin built on grid_sample, finite differences, and its argument errors.

torchvision (the op's usual home) is not a test dependency, so PyTorch checks it only through
the cases where deformable convolution reduces to something PyTorch has.
"""
import numpy as np
import pytest
import torch

import striate
from reference.deform_conv import deform_conv2d as deform_conv2d_naive
from striate.functional.deform_conv import deform_conv2d

torch.set_num_threads(1)

# (input shape, weight shape, stride, padding, dilation, offset_groups)
CONFIGS = {
    "plain": ((2, 3, 5, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "stride-pad": ((1, 2, 7, 6), (3, 2, 3, 2), (2, 1), (2, 0), (1, 1), 1),
    "dilation": ((1, 2, 7, 7), (2, 2, 3, 3), (1, 2), (1, 2), (2, 2), 1),
    "groups": ((2, 4, 5, 5), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    "offset-groups": ((1, 4, 5, 5), (3, 4, 2, 2), (1, 1), (0, 1), (1, 1), 2),
    "both-groups": ((1, 6, 6, 5), (4, 3, 3, 3), (2, 2), (1, 1), (1, 1), 3),
}


def _out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _make(name, rng, offsets="fractional", with_mask=False, with_bias=True):
    """Float64 arrays (x, offset, weight, bias, mask) and the keyword settings for one config."""
    xs, ws, stride, padding, dilation, og = CONFIGS[name]
    n, _, h, w = xs
    kh, kw = ws[2:]
    oh = _out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = _out_size(w, kw, stride[1], padding[1], dilation[1])
    off_shape = (n, 2 * og * kh * kw, oh, ow)
    if offsets == "zero":
        offset = np.zeros(off_shape)
    else:  # an integer part plus a fraction in [0.2, 0.8]: never on a kink of the interpolation
        offset = rng.integers(-2, 2, off_shape) + rng.uniform(0.2, 0.8, off_shape)
    mask = rng.uniform(0.1, 1.0, (n, og * kh * kw, oh, ow)) if with_mask else None
    bias = rng.standard_normal(ws[0]) if with_bias else None
    arrays = (rng.standard_normal(xs), offset, rng.standard_normal(ws), bias, mask)
    return arrays, dict(stride=stride, padding=padding, dilation=dilation)


def _striate(arrays, dtype=np.float64, requires_grad=False):
    return [None if a is None else striate.tensor(a.astype(dtype), requires_grad=requires_grad)
            for a in arrays]


def _call(tensors, kwargs):
    x, offset, weight, bias, mask = tensors
    return deform_conv2d(x, offset, weight, bias, mask=mask, **kwargs)


# ---- reductions to ordinary convolution ----------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("name", CONFIGS)
def test_zero_offsets_equal_conv2d(name, with_mask, dtype):
    arrays, kwargs = _make(name, np.random.default_rng(0), offsets="zero")
    if with_mask:  # a mask of ones changes nothing
        arrays = arrays[:4] + (np.ones((arrays[1].shape[0], arrays[1].shape[1] // 2)
                                       + arrays[1].shape[2:]),)
    x, _, w, b, _ = arrays
    y = _call(_striate(arrays, dtype), kwargs)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b),
                                     groups=x.shape[1] // w.shape[1], **kwargs)
    assert y.dtype == dtype and y.shape == tuple(ref.shape)
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == np.float32 else dict(atol=1e-12, rtol=1e-10)
    np.testing.assert_allclose(y.numpy(), ref.numpy(), **tol)


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, -2), (-1, 2), (3, 1)])
def test_integer_offsets_equal_conv_of_shifted_input(dy, dx):
    """A constant integer offset (dy, dx) reads x[y + dy, x + dx]: a conv of the shifted input."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 3))
    offset = np.zeros((2, 18, 6, 7))
    offset[:, 0::2], offset[:, 1::2] = dy, dx
    y = deform_conv2d(striate.tensor(x), striate.tensor(offset), striate.tensor(w), padding=1)
    # the zero-padded input (padding 1), shifted: shifted[h, w] = x[h - 1 + dy, w - 1 + dx],
    # zero wherever that falls off the image
    s = 4
    padded = torch.nn.functional.pad(torch.tensor(x), (s, s, s, s))
    shifted = padded[:, :, s - 1 + dy:s + dy + 7, s - 1 + dx:s + dx + 8]
    ref = torch.nn.functional.conv2d(shifted, torch.tensor(w))
    np.testing.assert_allclose(y.numpy(), ref.numpy(), atol=1e-12, rtol=1e-10)


# ---- the naive loop twin -----------------------------------------------------------------------
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("name", CONFIGS)
def test_matches_naive_twin(name, with_mask):
    arrays, kwargs = _make(name, np.random.default_rng(2), with_mask=with_mask)
    want = deform_conv2d_naive(*arrays[:4], mask=arrays[4], **kwargs)
    got64 = _call(_striate(arrays), kwargs).numpy()
    got32 = _call(_striate(arrays, np.float32), kwargs).numpy()
    np.testing.assert_allclose(got64, want, atol=1e-12, rtol=1e-10)
    np.testing.assert_allclose(got32, want, atol=1e-4, rtol=1e-4)


def test_points_off_the_image_read_zero():
    """torchvision's rule: y <= -1, y >= H, x <= -1 or x >= W reads 0; just inside does not."""
    x = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    w = np.ones((1, 1, 1, 1))
    cases = {(-1.0, 0.0): 0.0, (0.0, -1.0): 0.0, (3.0, 0.0): 0.0, (0.0, 4.0): 0.0,
             (-0.75, 0.0): 0.25 * 1.0, (2.5, 3.0): 0.5 * 12.0, (1.0, 3.25): 0.75 * 8.0}
    for (dy, dx), want in cases.items():
        offset = np.zeros((1, 2, 3, 4))
        offset[0, :, 0, 0] = dy, dx  # output pixel (0, 0) of a 1x1 kernel reads (dy, dx)
        y = deform_conv2d(striate.tensor(x), striate.tensor(offset), striate.tensor(w))
        assert y[0, 0, 0, 0].item() == pytest.approx(want), (dy, dx)
        assert deform_conv2d_naive(x, offset, w)[0, 0, 0, 0] == pytest.approx(want), (dy, dx)


# ---- backward ----------------------------------------------------------------------------------
def _torch_twin(x, offset, weight, bias, mask, stride, padding, dilation):
    """Deformable convolution from PyTorch pieces: grid_sample (bilinear, zeros off the image,
    align_corners=True reads pixel centres at -1 + 2*i/(size-1)) then a grouped matrix product.
    Autograd then gives reference gradients for every input, offsets and mask included."""
    n, c, h, w = x.shape
    o, cw, kh, kw = weight.shape
    k, (oh, ow) = kh * kw, offset.shape[2:]
    og, groups = offset.shape[1] // (2 * k), c // cw
    i, j = torch.arange(k) // kw, torch.arange(k) % kw
    base_y = ((torch.arange(oh) * stride[0] - padding[0])[None, :, None]
              + (i * dilation[0])[:, None, None])                  # (K, OH, 1)
    base_x = ((torch.arange(ow) * stride[1] - padding[1])[None, None, :]
              + (j * dilation[1])[:, None, None])                  # (K, 1, OW)
    off = offset.reshape(n, og, k, 2, oh, ow)
    ys = base_y + off[:, :, :, 0]                                   # (N, G, K, OH, OW)
    xs = base_x + off[:, :, :, 1]
    grid = torch.stack([2 * xs / (w - 1) - 1, 2 * ys / (h - 1) - 1], dim=-1)
    grid = grid.reshape(n * og, k * oh, ow, 2)
    sampled = torch.nn.functional.grid_sample(x.reshape(n * og, c // og, h, w), grid,
                                              mode="bilinear", padding_mode="zeros",
                                              align_corners=True)  # (N*G, Cg, K*OH, OW)
    sampled = sampled.reshape(n, og, c // og, k, oh * ow)
    if mask is not None:
        sampled = sampled * mask.reshape(n, og, 1, k, oh * ow)
    cols = sampled.reshape(n, groups, cw * k, oh * ow)
    y = weight.reshape(groups, o // groups, cw * k) @ cols
    y = y.reshape(n, o, oh, ow)
    return y if bias is None else y + bias[:, None, None]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("name", CONFIGS)
def test_backward_matches_torch_grid_sample_twin(name, with_mask, dtype):
    # DCNv2 with a bias, DCNv1 without one
    arrays, kwargs = _make(name, np.random.default_rng(3), with_mask=with_mask,
                           with_bias=with_mask)
    arrays = [None if a is None else a.astype(dtype) for a in arrays]
    tensors = _striate(arrays, dtype, requires_grad=True)
    refs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y = _call(tensors, kwargs)
    y_ref = _torch_twin(*refs, **kwargs)
    tol = (dict(atol=1e-12, rtol=1e-10) if dtype == np.float64 else dict(atol=1e-4, rtol=1e-4))
    np.testing.assert_allclose(y.numpy(), y_ref.detach().numpy(), **tol)
    gy = np.random.default_rng(4).standard_normal(y.shape).astype(dtype)
    y.backward(gy)
    y_ref.backward(torch.tensor(gy))
    tol = (dict(atol=1e-10, rtol=1e-8) if dtype == np.float64 else dict(atol=2e-4, rtol=1e-3))
    for arg, t, r in zip(("input", "offset", "weight", "bias", "mask"), tensors, refs):
        if t is not None:
            assert t.grad.dtype == dtype
            np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), **tol,
                                       err_msg=f"{name}: gradient of {arg}")


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("name", ["plain", "stride-pad", "both-groups"])
def test_gradcheck(name, with_mask):
    arrays, kwargs = _make(name, np.random.default_rng(5), with_mask=with_mask)
    tensors = _striate(arrays, requires_grad=True)
    assert striate.gradcheck(lambda *t: _call(t, kwargs), tensors)


def test_float32_gradients_keep_dtype():
    arrays, kwargs = _make("groups", np.random.default_rng(6), with_mask=True)
    tensors = _striate(arrays, np.float32, requires_grad=True)
    _call(tensors, kwargs).sum().backward()
    assert all(t.grad.dtype == np.float32 for t in tensors)


def test_only_requested_gradients():
    arrays, kwargs = _make("offset-groups", np.random.default_rng(7), with_mask=True)
    x, offset, weight, bias, mask = _striate(arrays)
    offset.requires_grad_()
    _call((x, offset, weight, bias, mask), kwargs).sum().backward()
    assert offset.grad is not None
    assert x.grad is None and weight.grad is None and bias.grad is None and mask.grad is None


def test_all_points_off_the_image_give_the_bias_and_no_input_gradient():
    arrays, kwargs = _make("plain", np.random.default_rng(8))
    arrays = (arrays[0], arrays[1] + 50.0) + arrays[2:]
    x, offset, weight, bias, mask = _striate(arrays, requires_grad=True)
    y = _call((x, offset, weight, bias, mask), kwargs)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(arrays[3][:, None, None], y.shape))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    np.testing.assert_array_equal(offset.grad.numpy(), 0)


# ---- argument errors ---------------------------------------------------------------------------
def _args(x=(1, 4, 5, 5), offset=(1, 18, 3, 3), weight=(2, 4, 3, 3), bias=(2,), mask=None):
    return [None if s is None else striate.tensor(np.zeros(s)) for s in (x, offset, weight,
                                                                          bias, mask)]


def _raises(exc, match, **shapes):
    x, offset, weight, bias, mask = _args(**shapes)
    with pytest.raises(exc, match=match):
        deform_conv2d(x, offset, weight, bias, mask=mask)


def test_error_offset_channels():
    _raises(ValueError, r"deform_conv2d: offset has 17 channels, expected a positive multiple "
            r"of 2\*KH\*KW = 18", offset=(1, 17, 3, 3))
    _raises(ValueError, "offset has 0 channels", offset=(1, 0, 3, 3))


def test_error_offset_spatial_and_batch():
    _raises(ValueError, r"deform_conv2d: offset has shape \(1, 18, 4, 3\), expected "
            r"\(1, 18, 3, 3\)", offset=(1, 18, 4, 3))
    _raises(ValueError, r"offset has shape \(2, 18, 3, 3\), expected \(1, 18, 3, 3\)",
            offset=(2, 18, 3, 3))


def test_error_mask_shape():
    _raises(ValueError, r"deform_conv2d: mask has shape \(1, 18, 3, 3\), expected "
            r"\(1, 9, 3, 3\)", mask=(1, 18, 3, 3))
    _raises(ValueError, r"mask has shape \(1, 9, 3, 3\), expected \(1, 18, 3, 3\)",
            offset=(1, 36, 3, 3), mask=(1, 9, 3, 3))


def test_error_channels():
    _raises(ValueError, "deform_conv2d: weight has 3 input channels per group, which does not "
            "divide the input's 4 channels", weight=(2, 3, 3, 3))
    _raises(ValueError, r"deform_conv2d: weight's 3 output channels are not divisible by "
            r"groups=2", weight=(3, 2, 3, 3), bias=(3,))
    _raises(ValueError, "deform_conv2d: the input's 4 channels are not divisible by "
            "offset_groups=3", offset=(1, 54, 3, 3))


def test_error_bias_rank_dtype_and_size():
    _raises(ValueError, r"deform_conv2d: bias must have shape \(2,\), got \(3,\)", bias=(3,))
    _raises(ValueError, r"deform_conv2d: input must be 4-D, got shape \(4, 5, 5\)", x=(4, 5, 5))
    _raises(ValueError, r"deform_conv2d: weight must be 4-D", weight=(2, 36))
    _raises(ValueError, "deform_conv2d: output size would be -1x-1", x=(1, 4, 1, 1),
            offset=(1, 18, 1, 1))
    x, offset, weight, _, _ = _args()
    with pytest.raises(TypeError, match="deform_conv2d: input must be a floating-point tensor"):
        deform_conv2d(striate.tensor(np.zeros((1, 4, 5, 5), dtype=np.int64)), offset, weight)
    with pytest.raises(TypeError, match="deform_conv2d: offset has dtype float32, input has "
                       "float64"):
        deform_conv2d(x, offset.astype(np.float32), weight)
    with pytest.raises(ValueError, match="deform_conv2d: stride must be at least 1"):
        deform_conv2d(x, offset, weight, stride=0)
    with pytest.raises(TypeError, match="deform_conv2d: padding must be an int or a pair"):
        deform_conv2d(x, offset, weight, padding=(1, 1, 1))


def test_empty_batch():
    arrays, kwargs = _make("groups", np.random.default_rng(9), with_mask=True)
    arrays = tuple(a if a is None or a.ndim == 1 else a[:0] if i != 2 else a
                   for i, a in enumerate(arrays))
    tensors = _striate(arrays, requires_grad=True)
    y = _call(tensors, kwargs)
    assert y.shape == (0, 6, 5, 5)
    y.backward(np.zeros(y.shape))
    np.testing.assert_array_equal(tensors[2].grad.numpy(), 0)
