"""Pooling family tests beyond the op table: naive twins, PyTorch's tie/NaN/index rules, edge
cases, argument errors, and the random ops (stochastic and fractional pooling)."""
import numpy as np
import pytest
import torch

import striate
import striate.functional as F
from optable import distinct
from reference import pooling as ref

TF = torch.nn.functional


def _tensor(a, requires_grad=True):
    return striate.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def _distinct(shape, seed=0):
    return distinct(shape)(np.random.default_rng(seed))


# ---------------------------------------------------------------------------------------------
# Naive twins against the vectorised code
# ---------------------------------------------------------------------------------------------
MAX_CONFIGS = [  # kernel, stride, padding, dilation, ceil_mode
    ((2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((3, 2), (1, 2), (1, 0), (2, 1), False),
    ((2, 3), (3, 2), (1, 1), (1, 2), True),
    ((3, 3), (2, 3), (0, 1), (1, 1), True),
]


@pytest.mark.parametrize("k, s, p, d, ceil_mode", MAX_CONFIGS)
def test_max_pool2d_matches_naive_twin(k, s, p, d, ceil_mode):
    x = _distinct((2, 2, 8, 9))
    y_ref, idx_ref = ref.max_pool2d(x, k, s, p, d, ceil_mode)
    xs = _tensor(x)
    y, idx = F.max_pool2d(xs, k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), idx_ref)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(gy)
    np.testing.assert_allclose(xs.grad.numpy(), ref.max_pool2d_backward(gy, idx_ref, x.shape),
                               atol=1e-12)


AVG_CONFIGS = [  # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    ((2, 2), (2, 2), (0, 0), False, True, None),
    ((3, 3), (2, 2), (1, 1), True, True, None),
    ((3, 3), (2, 2), (1, 1), True, False, None),
    ((3, 2), (2, 1), (1, 1), False, True, 4),
    ((2, 3), (3, 2), (1, 0), True, False, None),
]


@pytest.mark.parametrize("k, s, p, ceil_mode, include_pad, divisor", AVG_CONFIGS)
def test_avg_pool2d_matches_naive_twin(k, s, p, ceil_mode, include_pad, divisor):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 8, 9))
    xs = _tensor(x)
    y = F.avg_pool2d(xs, k, s, p, ceil_mode, include_pad, divisor)
    np.testing.assert_allclose(y.numpy(), ref.avg_pool2d(x, k, s, p, ceil_mode, include_pad,
                                                         divisor), atol=1e-12)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    np.testing.assert_allclose(
        xs.grad.numpy(),
        ref.avg_pool2d_backward(gy, x.shape, k, s, p, ceil_mode, include_pad, divisor),
        atol=1e-12)


@pytest.mark.parametrize("out", [(3, 4), (1, 1), (5, 9), (8, 12), (2, 7)])
def test_adaptive_pool2d_matches_naive_twins(out):
    x = _distinct((2, 3, 5, 9))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(_tensor(x), out).numpy(),
                               ref.adaptive_avg_pool2d(x, out), atol=1e-12)
    y_ref, idx_ref = ref.adaptive_max_pool2d(x, out)
    xs = _tensor(x)
    y, idx = F.adaptive_max_pool2d(xs, out, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), idx_ref)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(gy)
    np.testing.assert_allclose(xs.grad.numpy(), ref.max_pool2d_backward(gy, idx_ref, x.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fractional_max_pool2d_matches_naive_twin(dtype):
    rng = np.random.default_rng(3)
    x = _distinct((2, 3, 11, 10)).astype(dtype)
    u = rng.uniform(0, 0.99, size=(2, 3, 2)).astype(dtype)
    y, idx = F.fractional_max_pool2d(striate.tensor(x), (3, 2), output_size=(6, 7),
                                     return_indices=True, samples=u)
    y_ref, idx_ref = ref.fractional_max_pool2d(x, (3, 2), (6, 7), u)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), idx_ref)


def test_stochastic_pool2d_eval_matches_naive_twin():
    x = np.random.default_rng(0).uniform(0, 2, size=(2, 3, 7, 8))
    x[0, 0, :3, :3] = 0  # an all-zero window
    y = F.stochastic_pool2d(_tensor(x), 3, 2, training=False)
    np.testing.assert_allclose(y.numpy(), ref.stochastic_pool2d_eval(x, (3, 3), (2, 2)),
                               atol=1e-12)
    assert y.numpy()[0, 0, 0, 0] == 0


# ---------------------------------------------------------------------------------------------
# PyTorch's rules: indices, ties, NaN, -inf, ceil_mode
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, t_op, shape, kwargs", [
    (F.max_pool1d, TF.max_pool1d, (2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
    (F.max_pool2d, TF.max_pool2d, (2, 3, 7, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
    (F.max_pool3d, TF.max_pool3d, (1, 2, 5, 6, 7), dict(kernel_size=(2, 3, 2), padding=1)),
    (F.adaptive_max_pool1d, TF.adaptive_max_pool1d, (2, 3, 11), dict(output_size=4)),
    (F.adaptive_max_pool3d, TF.adaptive_max_pool3d, (1, 2, 5, 6, 7), dict(output_size=3)),
])
def test_return_indices_match_torch(op, t_op, shape, kwargs):
    x = _distinct(shape)
    y, idx = op(_tensor(x), **kwargs, return_indices=True)
    y_t, idx_t = t_op(torch.tensor(x), **kwargs, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), y_t.numpy())
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
    assert idx.dtype == np.int64 and not idx.requires_grad


def _compare_with_torch(op, t_op, x, **kwargs):
    """Forward values, indices and input gradient of a max-type op against PyTorch's."""
    xs, xt = _tensor(x), torch.tensor(x, requires_grad=True)
    y, idx = op(xs, **kwargs, return_indices=True)
    y_t, idx_t = t_op(xt, **kwargs, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), y_t.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
    gy = np.random.default_rng(2).standard_normal(y.shape)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), atol=1e-12)  # sums' order


def test_ties_go_to_the_first_maximum_like_torch():
    x = np.random.default_rng(0).integers(0, 3, size=(2, 2, 7, 7)).astype(np.float64)
    _compare_with_torch(F.max_pool2d, TF.max_pool2d, x, kernel_size=3, stride=2, padding=1)
    _compare_with_torch(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, output_size=(3, 2))


def test_nan_and_infinities_follow_torch():
    x = _distinct((1, 2, 6, 6))
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = np.nan  # two NaN in one window: the last one is reported
    x[0, 1, :2, :2] = -np.inf  # windows of -inf after padding: never report the padding
    x[0, 1, 2, 3] = np.inf
    _compare_with_torch(F.max_pool2d, TF.max_pool2d, x, kernel_size=2, stride=2, padding=1)
    _compare_with_torch(F.max_pool2d, TF.max_pool2d, x, kernel_size=3, stride=1, padding=1)
    _compare_with_torch(F.adaptive_max_pool2d, TF.adaptive_max_pool2d, x, output_size=(4, 3))


def test_ceil_mode_drops_a_window_starting_in_the_right_padding():
    # H = 4, k = 2, s = 3, p = 1: ceil gives 3 windows, but the third would start at 5 >= H + p
    x = _tensor(_distinct((1, 1, 4, 4)))
    assert F.max_pool2d(x, 2, 3, 1, ceil_mode=True).shape == (1, 1, 2, 2)
    assert F.avg_pool2d(x, 2, 3, 1, ceil_mode=True).shape == (1, 1, 2, 2)
    # without padding the last partial window is kept: H = 5, k = 2, s = 2 -> 3 windows
    assert F.max_pool2d(_tensor(np.ones((1, 1, 5, 5))), 2, ceil_mode=True).shape == (1, 1, 3, 3)


# ---------------------------------------------------------------------------------------------
# P1 / P2: where the gradient goes
# ---------------------------------------------------------------------------------------------
def test_max_pool_routes_the_gradient_to_the_argmax_only():
    x = _tensor([[[[1, 5, 2, 0],
                   [3, 4, 8, 7],
                   [0, 0, 1, 2],
                   [9, 0, 3, 1]]]])
    y = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.numpy(), [[[[5, 8], [9, 3]]]])
    y.backward(np.array([[[[10., 20.], [30., 40.]]]]))
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 10, 0, 0],
                                                     [0, 0, 20, 0],
                                                     [0, 0, 0, 0],
                                                     [30, 0, 40, 0]]]])


def test_overlapping_max_pool_accumulates_at_a_shared_maximum():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the maximum of all four overlapping 3x3/2 windows
    xs = _tensor(x)
    F.max_pool2d(xs, 3, 2).backward(np.ones((1, 1, 2, 2)))
    assert xs.grad.numpy()[0, 0, 2, 2] == 4 and xs.grad.numpy().sum() == 4


def test_avg_pool_shares_the_gradient_equally():
    xs = _tensor(np.random.default_rng(0).standard_normal((1, 1, 4, 4)))
    F.avg_pool2d(xs, 2).backward(np.array([[[[4., 8.], [12., 16.]]]]))
    np.testing.assert_array_equal(xs.grad.numpy()[0, 0], np.kron([[1, 2], [3, 4]], np.ones((2, 2))))


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------
POOLS = [
    (lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: TF.max_pool2d(x, 3, 2, 1)),
    (lambda x: F.avg_pool2d(x, 3, 2, 1), lambda x: TF.avg_pool2d(x, 3, 2, 1)),
    (lambda x: F.adaptive_max_pool2d(x, (2, 3)), lambda x: TF.adaptive_max_pool2d(x, (2, 3))),
    (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), lambda x: TF.adaptive_avg_pool2d(x, (2, 3))),
    (lambda x: F.lp_pool2d(x, 2, 2), lambda x: TF.lp_pool2d(x, 2, 2)),
]


@pytest.mark.parametrize("op, t_op", POOLS)
@pytest.mark.parametrize("case", ["batch-of-one", "non-contiguous", "empty-batch"])
def test_edge_inputs(op, t_op, case):
    x = _distinct((3, 2, 6, 7))
    if case == "batch-of-one":
        x = x[:1]
    elif case == "non-contiguous":
        x = x.transpose(0, 1, 3, 2)[:, :, ::-1]  # a strided view with a negative stride
    else:
        x = x[:0]
    xs, xt = _tensor(x), torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    y, y_t = op(xs), t_op(xt)
    assert y.shape == tuple(y_t.shape)
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), atol=1e-12)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(gy)
    y_t.backward(torch.tensor(gy))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("op", [
    lambda x: F.max_pool1d(x[..., 0], 2), lambda x: F.max_pool3d(x[:, :, None], (1, 2, 2)),
    lambda x: F.avg_pool3d(x[:, :, None], (1, 3, 3), padding=(0, 1, 1)),
    lambda x: F.lp_pool2d(x, 3, 2), lambda x: F.global_avg_pool2d(x),
    lambda x: F.global_max_pool2d(x), lambda x: F.spatial_pyramid_pool2d(x),
    lambda x: F.stochastic_pool2d(x, 2), lambda x: F.stochastic_pool2d(x, 2, training=False),
    lambda x: F.fractional_max_pool2d(x, 2, output_size=3),
    lambda x: F.subsample2d(x, striate.ones(2, dtype=np.float64), None),
])
def test_empty_batch_everywhere(op):
    x = _tensor(np.zeros((0, 2, 6, 6)))
    y = op(x)
    assert y.shape[0] == 0
    y.backward(np.zeros(y.shape))
    assert x.grad.shape == x.shape


def test_lp_pool_zero_window_gets_zero_gradient_like_torch():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    x[0, 0, :2, :2] = 0
    xs, xt = _tensor(x), torch.tensor(x, requires_grad=True)
    F.lp_pool2d(xs, 2, 2).backward(np.ones((1, 2, 2, 2)))
    TF.lp_pool2d(xt, 2, 2).backward(torch.ones(1, 2, 2, 2, dtype=torch.float64))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), atol=1e-12)
    assert not np.isnan(xs.grad.numpy()).any()


def test_float32_stays_float32():
    x = striate.tensor(np.ones((1, 2, 4, 4), dtype=np.float32), requires_grad=True)
    for y in (F.max_pool2d(x, 2), F.avg_pool2d(x, 3, 1, 1), F.adaptive_avg_pool2d(x, 3),
              F.adaptive_max_pool2d(x, 3), F.lp_pool2d(x, 2, 2), F.global_avg_pool2d(x),
              F.stochastic_pool2d(x, 2), F.stochastic_pool2d(x, 2, training=False),
              F.fractional_max_pool2d(x, 2, output_size=2), F.spatial_pyramid_pool2d(x)):
        assert y.dtype == np.float32
        y.backward(np.ones(y.shape, dtype=np.float32))
        assert x.grad.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Argument errors: they name the op and the argument
# ---------------------------------------------------------------------------------------------
X4 = np.zeros((1, 2, 5, 5))


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.max_pool2d(_tensor(np.zeros((5, 5))), 2), ValueError,
     r"max_pool2d: expected an input of shape \(N, C, H, W\)"),
    (lambda: F.max_pool1d(_tensor(X4), 2), ValueError, r"max_pool1d: expected an input"),
    (lambda: F.max_pool2d(striate.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2), TypeError,
     r"max_pool2d: input must be a floating-point tensor, got dtype int64"),
    (lambda: F.avg_pool2d(_tensor(np.zeros((1, 0, 4, 4))), 2), ValueError,
     r"avg_pool2d: only the batch dimension may be empty"),
    (lambda: F.max_pool2d(_tensor(X4), 6), ValueError,
     r"max_pool2d: the window \(kernel_size=\(6, 6\).*larger than the padded input \(5, 5\)"),
    (lambda: F.max_pool2d(_tensor(X4), 3, dilation=3), ValueError,
     r"max_pool2d: the window .*dilation=\(3, 3\)"),
    (lambda: F.max_pool2d(_tensor(X4), 0), ValueError, r"max_pool2d: kernel_size must be positive"),
    (lambda: F.avg_pool2d(_tensor(X4), 2, stride=0), ValueError,
     r"avg_pool2d: stride must be positive, got \(0, 0\)"),
    (lambda: F.max_pool2d(_tensor(X4), 3, padding=2), ValueError,
     r"max_pool2d: padding must be at most half the kernel size"),
    (lambda: F.avg_pool3d(_tensor(np.zeros((1, 1, 4, 4, 4))), 2, padding=-1), ValueError,
     r"avg_pool3d: padding must be non-negative"),
    (lambda: F.max_pool2d(_tensor(X4), 2, dilation=0), ValueError,
     r"max_pool2d: dilation must be positive"),
    (lambda: F.max_pool2d(_tensor(X4), (2, 2, 2)), TypeError,
     r"max_pool2d: kernel_size must be an int or a tuple of 2 ints"),
    (lambda: F.max_pool2d(_tensor(X4), 2.0), TypeError, r"max_pool2d: kernel_size must be an int"),
    (lambda: F.avg_pool2d(_tensor(X4), 2, divisor_override=0), ValueError,
     r"avg_pool2d: divisor_override must be a non-zero int"),
    (lambda: F.adaptive_avg_pool2d(_tensor(X4), (0, 2)), ValueError,
     r"adaptive_avg_pool2d: output_size must be positive"),
    (lambda: F.adaptive_max_pool2d(_tensor(X4), (2, 2, 2)), TypeError,
     r"adaptive_max_pool2d: output_size must be an int or a tuple of 2 ints"),
    (lambda: F.adaptive_max_pool3d(_tensor(np.zeros((1, 1, 3, 3, 3))), (2, 1.5, 2)), TypeError,
     r"adaptive_max_pool3d: output_size entries must be ints or None"),
    (lambda: F.lp_pool2d(_tensor(X4), 0, 2), ValueError, r"lp_pool2d: norm_type must be a non-zero number"),
    (lambda: F.lp_pool2d(_tensor(X4), "2", 2), TypeError, r"lp_pool2d: norm_type must be a number"),
    (lambda: F.stochastic_pool2d(_tensor(-np.ones((1, 1, 4, 4))), 2), ValueError,
     r"stochastic_pool2d: input must be non-negative"),
    (lambda: F.spatial_pyramid_pool2d(_tensor(np.zeros((1, 2, 3, 8)))), ValueError,
     r"spatial_pyramid_pool2d: the input plane \(3, 8\) is smaller than the largest level 4"),
    (lambda: F.spatial_pyramid_pool2d(_tensor(X4), levels=(1, 0)), ValueError,
     r"spatial_pyramid_pool2d: levels must be a non-empty sequence of positive ints"),
    (lambda: F.spatial_pyramid_pool2d(_tensor(X4), mode="min"), ValueError,
     r"spatial_pyramid_pool2d: mode must be 'max' or 'avg'"),
    (lambda: F.subsample2d(_tensor(X4), _tensor(np.ones(3)), None), ValueError,
     r"subsample2d: weight must have shape \(2,\)"),
    (lambda: F.subsample2d(_tensor(X4), _tensor(np.ones(2)), striate.tensor(np.ones(2, int))),
     TypeError, r"subsample2d: bias must be a floating-point tensor"),
    (lambda: F.fractional_max_pool2d(_tensor(X4), 2), ValueError,
     r"fractional_max_pool2d: give exactly one of output_size and output_ratio"),
    (lambda: F.fractional_max_pool2d(_tensor(X4), 3, output_size=4), ValueError,
     r"fractional_max_pool2d: output height 4 with kernel_size 3 needs an input height of at "
     r"least 6, got 5"),
    (lambda: F.fractional_max_pool2d(_tensor(X4), 2, output_ratio=1.5), ValueError,
     r"fractional_max_pool2d: output_ratio must be"),
    (lambda: F.fractional_max_pool2d(_tensor(X4), 2, output_size=3, samples=np.zeros((1, 3, 2))),
     ValueError, r"fractional_max_pool2d: samples must have shape \(1, 2, 2\)"),
    (lambda: F.fractional_max_pool2d(_tensor(X4), 2, output_size=3, samples=np.ones((1, 2, 2))),
     ValueError, r"fractional_max_pool2d: samples must lie in \[0, 1\)"),
])
def test_bad_arguments_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# Global and spatial pyramid pooling (P3, P5)
# ---------------------------------------------------------------------------------------------
def test_global_pooling_shapes():
    x = _tensor(_distinct((2, 3, 5, 4)))
    assert F.global_avg_pool2d(x).shape == (2, 3)
    assert F.global_avg_pool2d(x, keepdim=True).shape == (2, 3, 1, 1)
    assert F.global_max_pool2d(x, keepdim=True).shape == (2, 3, 1, 1)
    assert F.global_max_pool2d(x[0]).shape == (3,)


@pytest.mark.parametrize("size", [(4, 4), (13, 13), (10, 17)])
def test_spatial_pyramid_pool_gives_a_fixed_length_for_any_size(size):
    x = _tensor(_distinct((2, 3) + size))
    y = F.spatial_pyramid_pool2d(x)
    assert y.shape == (2, 3 * (1 + 4 + 16))
    y.backward(np.ones(y.shape))
    assert x.grad.numpy().sum() == pytest.approx(2 * 3 * 21)  # every bin's gradient lands once


# ---------------------------------------------------------------------------------------------
# LeNet's subsampling (P4)
# ---------------------------------------------------------------------------------------------
def test_subsample_with_quarter_weights_is_average_pooling():
    x = _tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)))
    y = F.subsample2d(x, _tensor(np.full(3, 0.25)), _tensor(np.zeros(3)))
    np.testing.assert_allclose(y.numpy(), F.avg_pool2d(x, 2).numpy(), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Stochastic pooling (P5)
# ---------------------------------------------------------------------------------------------
def test_stochastic_pool_draws_with_probability_proportional_to_activation():
    # one window [1, 2, 3, 4] repeated 20000 times: each value must come out with p = a / 10
    x = np.tile(np.array([[1., 2.], [3., 4.]]), (20000, 1, 1, 1))
    striate.manual_seed(0)
    y = F.stochastic_pool2d(_tensor(x, requires_grad=False), 2).numpy().ravel()
    counts = np.array([(y == v).sum() for v in (1, 2, 3, 4)])
    assert counts.sum() == len(y)
    expected = len(y) * np.array([0.1, 0.2, 0.3, 0.4])
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 16.27  # the 0.999 quantile of chi-square with 3 degrees of freedom


def test_stochastic_pool_mean_of_draws_is_the_evaluation_output():
    x = np.random.default_rng(0).uniform(0, 1, size=(1, 2, 4, 4))
    striate.manual_seed(1)
    xs = _tensor(np.repeat(x, 4000, axis=0), requires_grad=False)
    draws = F.stochastic_pool2d(xs, 2).numpy().mean(axis=0)
    expectation = F.stochastic_pool2d(_tensor(x), 2, training=False).numpy()[0]
    np.testing.assert_allclose(draws, expectation, rtol=0.03)


def test_stochastic_pool_gradient_goes_to_the_drawn_element():
    x = _distinct((2, 3, 6, 6)) + 10.0  # positive, no two equal: the output names its element
    xs = _tensor(x)
    striate.manual_seed(3)
    y = F.stochastic_pool2d(xs, 2, training=True)
    gy = np.random.default_rng(4).standard_normal(y.shape)
    y.backward(gy)
    expected = np.zeros_like(x)
    for n, c, i, j in np.ndindex(y.shape):
        window = x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
        a, b = np.argwhere(window == y.numpy()[n, c, i, j])[0]
        expected[n, c, 2 * i + a, 2 * j + b] = gy[n, c, i, j]
    np.testing.assert_array_equal(xs.grad.numpy(), expected)


def test_stochastic_pool_zero_window_and_reproducibility():
    x = np.random.default_rng(0).uniform(0, 1, size=(2, 2, 6, 6))
    x[:, :, :2, :2] = 0
    for training in (True, False):
        xs = _tensor(x)
        y = F.stochastic_pool2d(xs, 2, training=training)
        assert (y.numpy()[:, :, 0, 0] == 0).all()
        y.backward(np.ones(y.shape))
        assert (xs.grad.numpy()[:, :, :2, :2] == 0).all()
    striate.manual_seed(5)
    a = F.stochastic_pool2d(_tensor(x), 2).numpy()
    striate.manual_seed(5)
    np.testing.assert_array_equal(a, F.stochastic_pool2d(_tensor(x), 2).numpy())


# ---------------------------------------------------------------------------------------------
# Fractional max pooling (P5)
# ---------------------------------------------------------------------------------------------
def test_fractional_max_pool_draws_its_samples_from_the_seeded_generator():
    x = _tensor(_distinct((2, 3, 10, 10)))
    striate.manual_seed(7)
    a, ia = F.fractional_max_pool2d(x, 2, output_ratio=0.7, return_indices=True)
    striate.manual_seed(7)
    b, ib = F.fractional_max_pool2d(x, 2, output_ratio=(0.7, 0.7), return_indices=True)
    assert a.shape == (2, 3, 7, 7)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(ia.numpy(), ib.numpy())


def test_fractional_max_pool_unbatched_matches_torch():
    x = _distinct((3, 9, 8))
    u = np.random.default_rng(0).uniform(0, 0.99, size=(1, 3, 2))
    y, idx = F.fractional_max_pool2d(_tensor(x), 2, output_size=(5, 6), return_indices=True,
                                     _random_samples=u)
    y_t, idx_t = TF.fractional_max_pool2d(torch.tensor(x), 2, output_size=(5, 6),
                                          return_indices=True, _random_samples=torch.tensor(u))
    np.testing.assert_array_equal(y.numpy(), y_t.numpy())
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
