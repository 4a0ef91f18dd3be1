"""The conv family beyond the op table: naive twins, the identities of the lectures, edge cases
and error messages.

The op table (tests/opspecs/conv.py) already checks every configuration against PyTorch forward
and backward and by finite differences. Here: the fast code against the loop twins in
tests/reference/conv.py; true convolution vs cross-correlation (C1); output sizes (C5); 1x1,
depthwise-separable and spatially separable convolutions (C7-C9); transposed convolution as the
adjoint (C10); the backward pass written as correlations and im2col/col2im (C12).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
from reference import conv as ref
from striate.functional import conv as conv_module

torch.set_num_threads(1)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def leaf(a, requires_grad=True):
    return striate.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---------------------------------------------------------------------------------------------
# The fast code against the naive loop twins
# ---------------------------------------------------------------------------------------------
CONV2D_CASES = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(2, 3), padding=(2, 1), dilation=(1, 2)),
    dict(padding="same", dilation=2),
    dict(padding="same", stride=2),
    dict(padding=2, padding_mode="reflect"),
    dict(padding=(1, 2), padding_mode="replicate"),
    dict(padding=2, padding_mode="circular", stride=2),
]


def _pairs(kwargs, size, kernel_size):
    """The (before, after) padding pairs the fast code should use, worked out independently."""
    nd = len(size)
    stride = kwargs.get("stride", 1)
    stride = (stride,) * nd if isinstance(stride, int) else stride
    dilation = kwargs.get("dilation", 1)
    dilation = (dilation,) * nd if isinstance(dilation, int) else dilation
    padding = kwargs.get("padding", 0)
    if padding == "same":
        pairs = []
        for s, k, st, d in zip(size, kernel_size, stride, dilation):
            out = -(-s // st)
            total = max((out - 1) * st + d * (k - 1) + 1 - s, 0)
            pairs.append((total // 2, total - total // 2))
        return stride, tuple(pairs), dilation
    padding = (padding,) * nd if isinstance(padding, int) else padding
    return stride, tuple((p, p) for p in padding), dilation


@pytest.mark.parametrize("kwargs", CONV2D_CASES, ids=str)
def test_conv2d_matches_seven_loop_twin(kwargs):
    x, w, b = randn(2, 3, 7, 8), randn(4, 3, 3, 2, seed=1), randn(4, seed=2)
    stride, pairs, dilation = _pairs(kwargs, (7, 8), (3, 2))
    want = ref.conv2d(x, w, b, stride, pairs, dilation,
                      mode=kwargs.get("padding_mode", "zeros"))
    got = F.conv2d(leaf(x), leaf(w), leaf(b), **kwargs).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shapes, kwargs", [
    (((2, 4, 9), (6, 2, 3)), dict(stride=2, padding=1, groups=2)),
    (((2, 3, 8), (2, 3, 4)), dict(padding="same", dilation=3)),
    (((1, 4, 5, 4, 6), (4, 1, 3, 2, 3)), dict(stride=(1, 2, 2), padding=1, groups=4)),
    (((1, 2, 4, 5, 4), (3, 2, 2, 3, 2)), dict(padding="same", stride=2)),
    (((2, 4, 6, 6), (4, 2, 3, 3)), dict(padding=1, dilation=2, groups=2)),
], ids=str)
def test_conv_nd_matches_loop_twin(shapes, kwargs):
    (x_shape, w_shape) = shapes
    x, w = randn(*x_shape), randn(*w_shape, seed=1)
    nd = len(x_shape) - 2
    stride, pairs, dilation = _pairs(kwargs, x_shape[2:], w_shape[2:])
    want = ref.conv_nd(x, w, None, stride, pairs, dilation, kwargs.get("groups", 1))
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    np.testing.assert_allclose(conv(leaf(x), leaf(w), **kwargs).numpy(), want, atol=1e-12)


@pytest.mark.parametrize("shapes, kwargs", [
    (((2, 4, 5), (4, 3, 3)), dict(stride=2, padding=1, output_padding=1)),
    (((2, 4, 4, 5), (4, 3, 3, 2)), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
    (((2, 4, 3, 3), (4, 2, 2, 2)), dict(stride=2, groups=2)),
    (((1, 2, 4, 4), (2, 3, 3, 3)), dict(dilation=2, padding=1, output_padding=1)),
    (((1, 2, 3, 2, 3), (2, 2, 2, 3, 2)), dict(stride=(2, 1, 2), padding=(0, 1, 1))),
], ids=str)
def test_conv_transpose_matches_scatter_twin(shapes, kwargs):
    (x_shape, w_shape) = shapes
    nd = len(x_shape) - 2
    x, w = randn(*x_shape), randn(*w_shape, seed=1)
    groups = kwargs.get("groups", 1)
    b = randn(w_shape[1] * groups, seed=2)

    def per_axis(name, default):
        v = kwargs.get(name, default)
        return (v,) * nd if isinstance(v, int) else v

    want = ref.conv_transpose_nd(x, w, b, per_axis("stride", 1), per_axis("padding", 0),
                                 per_axis("output_padding", 0), groups, per_axis("dilation", 1))
    conv_t = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
    np.testing.assert_allclose(conv_t(leaf(x), leaf(w), leaf(b), **kwargs).numpy(), want,
                               atol=1e-12)


def test_float32_stays_float32_and_close_to_the_twin():
    x, w = randn(2, 3, 6, 6), randn(4, 3, 3, 3, seed=1)
    y = F.conv2d(striate.tensor(x.astype(np.float32)), striate.tensor(w.astype(np.float32)),
                 padding=1)
    assert y.dtype == np.float32
    want = ref.conv2d(x, w, pads=((1, 1), (1, 1)))
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# C1: true convolution vs cross-correlation
# ---------------------------------------------------------------------------------------------
def test_convolve2d_is_correlation_with_the_flipped_kernel():
    x, w, b = randn(2, 3, 7, 6), randn(4, 3, 3, 2, seed=1), randn(4, seed=2)
    got = F.convolve2d(leaf(x), leaf(w), leaf(b), stride=2, padding=1).numpy()
    want = F.conv2d(leaf(x), leaf(w[:, :, ::-1, ::-1].copy()), leaf(b), stride=2,
                    padding=1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert F.correlate2d is F.conv2d


def test_convolve2d_single_channel_is_the_textbook_full_convolution():
    image, kernel = randn(5, 6), randn(3, 2, seed=1)
    got = F.convolve2d(leaf(image[None, None]), leaf(kernel[None, None]), padding=(2, 1))
    np.testing.assert_allclose(got.numpy()[0, 0], ref.convolve2d_single(image, kernel),
                               atol=1e-12)


@pytest.mark.parametrize("nd", [1, 3])
def test_convolve_1d_3d_flip_every_axis(nd):
    x, w = randn(1, 2, *(5,) * nd), randn(3, 2, *(3,) * nd, seed=1)
    conv, convolve = {1: (F.conv1d, F.convolve1d), 3: (F.conv3d, F.convolve3d)}[nd]
    flipped = w[(Ellipsis,) + (slice(None, None, -1),) * nd].copy()
    np.testing.assert_allclose(convolve(leaf(x), leaf(w), padding=1).numpy(),
                               conv(leaf(x), leaf(flipped), padding=1).numpy(), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# C4/C5: padding and output sizes
# ---------------------------------------------------------------------------------------------
def test_conv_output_size_lecture_examples():
    assert F.conv_output_size(7, 3) == 5                  # (7 - 3)/1 + 1
    assert F.conv_output_size(7, 3, stride=2) == 3        # (7 - 3)/2 + 1
    assert F.conv_output_size(7, 3, stride=3) == 2        # 2.33 does not fit: floored
    assert F.conv_output_size(32, 5) == 28                # LeNet C1
    assert F.conv_output_size(227, 11, stride=4) == 55    # AlexNet conv1
    assert F.conv_output_size(28, 5, padding=2) == 28     # 'same' by hand
    assert F.conv_output_size(7, 3, dilation=2) == 3      # dilated kernel spans 5
    assert F.conv_output_size(6, 4, padding=(1, 2)) == 6  # asymmetric pair


@pytest.mark.parametrize("size", [5, 7, 8])
@pytest.mark.parametrize("kernel, stride, padding, dilation",
                         [(3, 1, 0, 1), (3, 2, 1, 1), (4, 3, 2, 1), (3, 2, 0, 2), (2, 3, 0, 1)])
def test_output_shape_matches_torch(size, kernel, stride, padding, dilation):
    x, w = randn(1, 1, size, size + 1), randn(1, 1, kernel, kernel)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation)
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), **kwargs).shape
    assert F.conv2d(leaf(x), leaf(w), **kwargs).shape == tuple(want)
    assert F.conv_output_size(size, kernel, stride, padding, dilation) == want[2]


@pytest.mark.parametrize("size", [5, 6, 7, 8])
@pytest.mark.parametrize("kernel, stride, dilation", [(3, 2, 1), (4, 2, 1), (3, 3, 2), (1, 2, 1),
                                                       (5, 4, 1)])
def test_same_padding_any_stride(size, kernel, stride, dilation):
    """'same' gives ceil(size / stride) outputs, padded as TensorFlow splits it."""
    x, w = randn(1, 2, size, size), randn(3, 2, kernel, kernel, seed=1)
    y = F.conv2d(leaf(x), leaf(w), padding="same", stride=stride, dilation=dilation)
    assert y.shape[2:] == (-(-size // stride),) * 2
    total = max((-(-size // stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    before, after = total // 2, total - total // 2
    tx = torch.nn.functional.pad(torch.tensor(x), (before, after, before, after))
    want = torch.nn.functional.conv2d(tx, torch.tensor(w), stride=stride, dilation=dilation)
    np.testing.assert_allclose(y.numpy(), want.numpy(), atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_stride1_matches_torch_even_kernel():
    x, w = randn(2, 2, 6, 5), randn(3, 2, 4, 2, seed=1)
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same")
    np.testing.assert_allclose(F.conv2d(leaf(x), leaf(w), padding="same").numpy(),
                               want.numpy(), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# C7-C9: 1x1, depthwise-separable and spatially separable convolutions
# ---------------------------------------------------------------------------------------------
def test_1x1_conv_is_a_per_pixel_linear_map():
    x, w, b = randn(2, 5, 4, 3), randn(3, 5, 1, 1, seed=1), randn(3, seed=2)
    xt, wt, bt = leaf(x), leaf(w), leaf(b)
    y = F.conv2d(xt, wt, bt)
    # every pixel's C-vector through the same fully connected layer: (N, H, W, C) @ (C, K) + b
    xl, wl, bl = leaf(x), leaf(w), leaf(b)
    y_fc = (xl.permute(0, 2, 3, 1) @ wl.reshape(3, 5).T + bl).permute(0, 3, 1, 2)
    np.testing.assert_allclose(y.numpy(), y_fc.numpy(), atol=1e-12)
    gy = randn(*y.shape, seed=3)
    y.backward(gy)
    y_fc.backward(gy)
    for a, c in ((xt, xl), (wt, wl), (bt, bl)):
        np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), atol=1e-12)


def test_depthwise_then_pointwise_is_a_full_conv_with_the_product_kernel():
    x, depth, point = randn(2, 3, 6, 6), randn(3, 1, 3, 3, seed=1), randn(5, 3, 1, 1, seed=2)
    separable = F.conv2d(F.conv2d(leaf(x), leaf(depth), padding=1, groups=3), leaf(point))
    full = point[:, :, 0, 0][:, :, None, None] * depth[:, 0][None]  # (5, 3, 3, 3)
    np.testing.assert_allclose(separable.numpy(),
                               F.conv2d(leaf(x), leaf(full), padding=1).numpy(), atol=1e-12)
    # parameters: 27 + 15 = 42 against the full kernel's 135
    assert depth.size + point.size < full.size


def test_spatially_separable_is_the_outer_product_kernel():
    x, column, row = randn(2, 1, 7, 6), randn(4, seed=1), randn(3, seed=2)
    two_pass = F.conv2d(F.conv2d(leaf(x), leaf(column.reshape(1, 1, 4, 1))),
                        leaf(row.reshape(1, 1, 1, 3)))
    outer = np.outer(column, row).reshape(1, 1, 4, 3)
    np.testing.assert_allclose(two_pass.numpy(), F.conv2d(leaf(x), leaf(outer)).numpy(),
                               atol=1e-12)


# ---------------------------------------------------------------------------------------------
# C10: transposed convolution is the adjoint of convolution
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, output_padding", [
    (dict(stride=2, padding=1), 0),
    (dict(stride=2, padding=1), 1),
    (dict(stride=3, padding=2, dilation=2, groups=2), 2),
    (dict(padding=1, dilation=2), 0),
], ids=str)
def test_conv_transpose_is_the_adjoint_of_conv(kwargs, output_padding):
    """<conv(x, w), y> == <x, conv_transpose(y, w)> for the input size conv_transpose picks."""
    w = randn(4, 4 // kwargs.get("groups", 1), 3, 3, seed=1)  # conv: 4 -> 4 channels
    y = randn(2, 4, 4, 5, seed=2)
    xt = F.conv_transpose2d(leaf(y), leaf(w), output_padding=output_padding, **kwargs)
    x = randn(*xt.shape, seed=3)
    conv = F.conv2d(leaf(x), leaf(w), **kwargs)
    assert conv.shape == y.shape
    np.testing.assert_allclose((conv.numpy() * y).sum(), (x * xt.numpy()).sum(), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# C12: the backward pass as correlations; im2col / col2im
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (2, 1, 1), (3, 0, 2), (2, 2, 1)])
def test_input_gradient_is_full_correlation_with_flipped_transposed_kernel(stride, padding,
                                                                           dilation):
    x, w = leaf(randn(2, 3, 9, 8)), leaf(randn(4, 3, 3, 2, seed=1))
    y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    gy = randn(*y.shape, seed=2)
    y.backward(gy)
    # gy dilated by the stride: S - 1 zeros between neighbours
    oh, ow = gy.shape[2:]
    g = np.zeros((2, 4, (oh - 1) * stride + 1, (ow - 1) * stride + 1))
    g[:, :, ::stride, ::stride] = gy
    kernel = w.numpy()[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).copy()  # flipped, transposed
    full = [dilation * (k - 1) for k in (3, 2)]
    gx_padded = F.conv2d(leaf(g), leaf(kernel), padding=tuple(full), dilation=dilation).numpy()
    # crop the padding; rows the strided windows never reached get no gradient
    want = np.zeros((2, 3, 9 + 2 * padding, 8 + 2 * padding))
    want[:, :, :gx_padded.shape[2], :gx_padded.shape[3]] = gx_padded
    want = want[:, :, padding:padding + 9, padding:padding + 8]
    np.testing.assert_allclose(x.grad.numpy(), want, atol=1e-12)


@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (2, 1, 1), (2, 0, 2)])
def test_weight_gradient_is_correlation_of_input_with_output_gradient(stride, padding, dilation):
    x, w, b = leaf(randn(2, 3, 8, 7)), leaf(randn(4, 3, 3, 3, seed=1)), leaf(randn(4, seed=3))
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    gy = randn(*y.shape, seed=2)
    y.backward(gy)
    # batch as channels: input (C, N, H, W) correlated with gy as kernels (K, N, OH, OW), the
    # roles of stride and dilation swapped; the taps beyond the kernel size are dropped
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    gw = F.conv2d(leaf(xp.transpose(1, 0, 2, 3).copy()), leaf(gy.transpose(1, 0, 2, 3).copy()),
                  stride=dilation, dilation=stride).numpy()  # (C, K, >=3, >=3)
    np.testing.assert_allclose(w.grad.numpy(), gw.transpose(1, 0, 2, 3)[:, :, :3, :3],
                               atol=1e-11)
    np.testing.assert_allclose(b.grad.numpy(), gy.sum(axis=(0, 2, 3)), atol=1e-12)


@pytest.mark.parametrize("shape, kwargs", [
    ((2, 3, 7, 6), dict(kernel_size=3)),
    ((2, 3, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(1, 2))),
    ((2, 2, 9), dict(kernel_size=4, stride=3, padding=2)),
    ((1, 2, 5, 4, 5), dict(kernel_size=2, stride=2, padding=(1, 0, 1))),
], ids=str)
def test_col2im_is_the_adjoint_of_im2col(shape, kwargs):
    x = randn(*shape)
    cols = F.im2col(x, **kwargs)
    c = randn(*cols.shape, seed=1)
    back = F.col2im(c, shape[2:], **{k: v for k, v in kwargs.items() if k != "kernel_size"})
    assert back.shape == x.shape
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-12)


def test_im2col_times_weight_matrix_is_conv2d():
    x, w = randn(2, 3, 7, 6), randn(4, 3, 3, 2, seed=1)
    cols = F.im2col(x, (3, 2), stride=2, padding=1)  # (N, OH, OW, C, KH, KW)
    n, oh, ow = cols.shape[:3]
    y = cols.reshape(n * oh * ow, -1) @ w.reshape(4, -1).T  # (N*OH*OW, K)
    want = F.conv2d(leaf(x), leaf(w), stride=2, padding=1).numpy()
    np.testing.assert_allclose(y.reshape(n, oh, ow, 4).transpose(0, 3, 1, 2), want, atol=1e-12)
    assert cols[1, 2, 1, 0, 1, 1] == x[1, 0, 2 * 2 + 1 - 1, 1 * 2 + 1 - 1]


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------
def test_empty_batch_forward_and_backward():
    x, w, b = leaf(np.zeros((0, 3, 6, 6))), leaf(randn(4, 3, 3, 3)), leaf(randn(4))
    y = F.conv2d(x, w, b, stride=2, padding=1)
    assert y.shape == (0, 4, 3, 3)
    y.backward(np.zeros(y.shape))
    assert x.grad.shape == (0, 3, 6, 6)
    np.testing.assert_array_equal(w.grad.numpy(), 0)
    np.testing.assert_array_equal(b.grad.numpy(), 0)
    yt = F.conv_transpose2d(leaf(np.zeros((0, 3, 2, 2))), leaf(randn(3, 2, 3, 3)), stride=2)
    assert yt.shape == (0, 2, 5, 5)


def test_non_contiguous_inputs():
    base, wbase = randn(3, 2, 6, 7), randn(3, 4, 3, 3, seed=1)
    x = base.transpose(1, 0, 2, 3)        # (2, 3, 6, 7), a transposed view
    w = wbase.transpose(1, 0, 2, 3)       # (4, 3, 3, 3)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    xt, wt = leaf(x), leaf(w)
    xt.data, wt.data = x, w               # keep the views (tensor() copies)
    y = F.conv2d(xt, wt, padding=1, stride=(1, 2))
    tx = torch.tensor(x.copy(), requires_grad=True)
    tw = torch.tensor(w.copy(), requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, padding=1, stride=(1, 2))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-12)
    gy = randn(*y.shape, seed=2).transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2)
    y.backward(gy)
    ty.backward(torch.tensor(gy.copy()))
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(wt.grad.numpy(), tw.grad.numpy(), atol=1e-12)


def test_output_is_stored_channels_last():
    y = F.conv2d(leaf(randn(2, 3, 5, 5)), leaf(randn(4, 3, 3, 3)), padding=1)
    assert y.shape == (2, 4, 5, 5)
    assert np.moveaxis(y.data, 1, -1).flags.c_contiguous


def test_results_do_not_share_the_kernels_scratch_memory():
    x1, x2, w = randn(2, 3, 6, 6), randn(2, 3, 6, 6, seed=1), randn(4, 3, 3, 3, seed=2)
    y1 = F.conv2d(leaf(x1), leaf(w), padding=1).numpy().copy()
    kept = F.conv2d(leaf(x1), leaf(w), padding=1)
    F.conv2d(leaf(x2), leaf(w), padding=1)  # reuses the padded-input and column buffers
    F.conv_transpose2d(leaf(x2), leaf(w.transpose(1, 0, 2, 3).copy()), stride=2)
    np.testing.assert_array_equal(kept.numpy(), y1)


def test_input_gradient_skipped_when_not_needed(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("computed an input gradient nobody asked for")

    monkeypatch.setattr(conv_module, "_backward_data", fail)
    x, w = leaf(randn(2, 1, 8, 8), requires_grad=False), leaf(randn(6, 1, 5, 5))
    y = F.conv2d(x, w, padding=2)
    y.backward(np.ones(y.shape))
    assert x.grad is None and w.grad.shape == w.shape


def test_no_grad_forward():
    with striate.no_grad():
        y = F.conv2d(leaf(randn(1, 2, 4, 4)), leaf(randn(3, 2, 3, 3)))
    assert not y.requires_grad and y.shape == (1, 3, 2, 2)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def x4(c=4, size=6, dtype=np.float64):
    return striate.tensor(randn(2, c, size, size).astype(dtype))


def w4(k=4, c=4, size=3, dtype=np.float64):
    return striate.tensor(randn(k, c, size, size).astype(dtype))


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.conv2d(x4(1, 3), w4(1, 1, 5)), ValueError,
     r"conv2d: kernel 5x5 \(dilated 5x5\) is larger than the padded input 3x3"),
    (lambda: F.conv2d(x4(1, 4), w4(1, 1, 3), dilation=2), ValueError,
     r"conv2d: kernel 3x3 \(dilated 5x5\) is larger than the padded input 4x4"),
    (lambda: F.conv1d(striate.tensor(randn(1, 1, 2)), striate.tensor(randn(1, 1, 5)),
                      padding=1), ValueError, r"conv1d: kernel 5 \(dilated 5\) is larger than "
                                              r"the padded input 4 \(input 2\)"),
    (lambda: F.conv2d(striate.tensor(randn(2, 4, 6)[None, None]), w4()), ValueError,
     r"conv2d: expected a 4-d input \(N, C, H, W\) or an unbatched 3-d one, got shape"),
    (lambda: F.conv2d(x4(), striate.tensor(randn(4, 4, 3))), ValueError,
     r"conv2d: expected a 4-d weight"),
    (lambda: F.conv2d(x4(4), w4(4, 3)), ValueError,
     r"conv2d: weight has 3 input channels per group, input has 4 channels \(groups=1\)"),
    (lambda: F.conv2d(x4(4), w4(4, 2), groups=3), ValueError,
     r"conv2d: groups=3 does not divide the input's 4 channels"),
    (lambda: F.conv2d(x4(4), w4(6, 1), groups=4), ValueError,
     r"conv2d: groups=4 does not divide the 6 filters"),
    (lambda: F.conv2d(x4(4), w4(4, 4), groups=0), ValueError,
     r"conv2d: groups must be a positive int"),
    (lambda: F.conv2d(x4(), w4(), padding=-1), ValueError,
     r"conv2d: padding must be non-negative, got \(-1, -1\)"),
    (lambda: F.conv2d(x4(), w4(), stride=(1, 0)), ValueError,
     r"conv2d: stride must be positive, got \(1, 0\)"),
    (lambda: F.conv3d(striate.tensor(randn(1, 1, 4, 4, 4)), striate.tensor(randn(1, 1, 2, 2, 2)),
                      dilation=0), ValueError, r"conv3d: dilation must be positive"),
    (lambda: F.conv2d(x4(), w4(), stride=1.5), TypeError,
     r"conv2d: stride must be an int or a tuple of 2 ints, got 1.5"),
    (lambda: F.conv2d(x4(), w4(), padding=(1, 1, 1)), ValueError,
     r"conv2d: padding must be an int or a tuple of 2 ints, got \(1, 1, 1\)"),
    (lambda: F.conv2d(x4(), w4(), padding="full"), ValueError,
     r"conv2d: padding must be an int, a tuple of 2 ints, 'same' or 'valid', got 'full'"),
    (lambda: F.conv2d(x4(), w4(), padding=1, padding_mode="mirror"), ValueError,
     r"conv2d: padding_mode must be one of .*got 'mirror'"),
    (lambda: F.conv2d(x4(size=3), w4(), padding=3, padding_mode="reflect"), ValueError,
     r"conv2d: padding_mode='reflect' needs padding smaller than the input size"),
    (lambda: F.conv2d(striate.tensor(np.ones((1, 4, 6, 6), np.int64)), w4()), TypeError,
     r"conv2d: input must be a floating-point tensor, got dtype int64"),
    (lambda: F.conv2d(x4(), striate.tensor(np.ones((4, 4, 3, 3), np.int64))), TypeError,
     r"conv2d: weight must be a floating-point tensor"),
    (lambda: F.conv2d(x4(dtype=np.float32), w4()), TypeError,
     r"conv2d: weight is float64 but input is float32"),
    (lambda: F.conv2d(x4(), w4(), striate.tensor(randn(3))), ValueError,
     r"conv2d: bias must have shape \(4,\) for 4 output channels, got \(3,\)"),
    (lambda: F.conv_transpose2d(x4(), w4(4, 2), stride=2, output_padding=2), ValueError,
     r"conv_transpose2d: output_padding \(2, 2\) must be smaller than either stride \(2, 2\) "
     r"or dilation \(1, 1\)"),
    (lambda: F.conv_transpose2d(x4(4), w4(3, 2)), ValueError,
     r"conv_transpose2d: weight has 3 input channels \(weight.shape\[0\]\), input has 4"),
    (lambda: F.conv_transpose2d(x4(4), w4(4, 2), groups=3), ValueError,
     r"conv_transpose2d: groups=3 does not divide the input's 4 channels"),
    (lambda: F.conv_transpose2d(x4(), w4(4, 2), padding="same"), ValueError,
     r"conv_transpose2d: padding must be an int or a tuple of 2 ints"),
    (lambda: F.conv_transpose2d(x4(size=1), w4(4, 2, 1), padding=1), ValueError,
     r"conv_transpose2d: output size -1x-1 is too small"),
    (lambda: F.conv_transpose2d(x4(), w4(4, 2), striate.tensor(randn(4))), ValueError,
     r"conv_transpose2d: bias must have shape \(2,\)"),
    (lambda: F.convolve2d(x4(4), w4(4, 3)), ValueError,
     r"convolve2d: weight has 3 input channels per group"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()
