"""Dropout family tests: mask statistics, scaling rules, channel masks, reproducibility, errors."""
import warnings

import numpy as np
import pytest

import striate
import striate.functional as F


def _ones(*shape):
    return striate.tensor(np.ones(shape))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_drop_rate_is_p(p):
    striate.manual_seed(0)
    y = F.dropout(_ones(200, 500), p=p).numpy()
    n = y.size
    rate = (y == 0).mean()
    assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p))


def test_inverted_dropout_preserves_the_expectation():
    striate.manual_seed(1)
    x = np.random.default_rng(0).uniform(1, 2, (100, 1000))
    y = F.dropout(striate.tensor(x), p=0.4).numpy()
    ratio = y.mean(axis=0) / x.mean(axis=0)        # per column, averaged over 100 rows
    assert abs(ratio.mean() - 1) < 0.01


def test_weight_scaling_keeps_values_while_training():
    striate.manual_seed(2)
    y = F.dropout(_ones(50, 50), p=0.3, scaling="weight").numpy()
    assert set(np.unique(y)) == {0.0, 1.0}


def test_gradient_is_the_scaled_mask():
    striate.manual_seed(3)
    x = striate.tensor(np.random.default_rng(1).uniform(0.5, 1.5, (6, 7)), requires_grad=True)
    y = F.dropout(x, p=0.3)
    gy = np.random.default_rng(2).standard_normal(y.shape)
    y.backward(gy)
    mask = (y.numpy() != 0) / 0.7
    np.testing.assert_allclose(x.grad.numpy(), gy * mask, rtol=1e-12)
    np.testing.assert_allclose(y.numpy(), x.numpy() * mask, rtol=1e-12)


def test_evaluation_mode():
    x = striate.randn(4, 5)
    assert F.dropout(x, p=0.5, training=False) is x
    np.testing.assert_allclose(F.dropout(x, p=0.25, training=False, scaling="weight").numpy(),
                               0.75 * x.numpy(), rtol=1e-6)
    assert F.dropout2d(striate.randn(2, 3, 4, 4), 0.5, training=False).shape == (2, 3, 4, 4)


def test_p_one_gives_zeros_and_p_zero_the_identity():
    x = striate.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    y = F.dropout(x, p=1.0)
    np.testing.assert_array_equal(y.numpy(), 0)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    assert F.dropout(x, p=0.0) is x


@pytest.mark.parametrize("p", [-0.1, 1.5, True, "0.5"])
def test_p_outside_zero_one_is_an_error(p):
    with pytest.raises(ValueError, match="dropout: dropout probability p has to be between 0 "
                                         "and 1"):
        F.dropout(striate.randn(2, 2), p=p)


def test_argument_errors():
    with pytest.raises(ValueError, match="scaling must be one of"):
        F.dropout(striate.randn(2, 2), scaling="paper")
    with pytest.raises(TypeError, match="dropout: input must be a floating-point tensor"):
        F.dropout(striate.tensor(np.ones(3, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"dropout2d: expected a 4-d \(N, C, H, W\) input"):
        F.dropout2d(striate.randn(2, 3))
    with pytest.raises(ValueError, match="dropout1d: expected a 2-d"):
        F.dropout1d(striate.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="dropout3d: expected a 4-d"):
        F.dropout3d(striate.randn(2, 3, 4))


def _assert_whole_channels(y, keep_value, channel_axes):
    """Every channel is all 0 or all keep_value; return the fraction of dropped channels."""
    reduce = tuple(range(len(channel_axes), y.ndim))
    dropped = (y == 0).all(axis=reduce)
    kept = np.isclose(y, keep_value).all(axis=reduce)
    assert (dropped | kept).all()
    return dropped.mean()


def test_dropout2d_zeros_whole_channels_at_rate_p():
    striate.manual_seed(4)
    y = F.dropout2d(_ones(40, 50, 3, 3), p=0.3).numpy()
    rate = _assert_whole_channels(y, 1 / 0.7, (0, 1))
    assert abs(rate - 0.3) < 5 * np.sqrt(0.3 * 0.7 / 2000)


def test_dropout1d_and_3d_batched_and_unbatched():
    striate.manual_seed(5)
    _assert_whole_channels(F.dropout1d(_ones(4, 6, 5), 0.5).numpy(), 2.0, (0, 1))
    _assert_whole_channels(F.dropout1d(_ones(6, 5), 0.5).numpy(), 2.0, (0,))
    _assert_whole_channels(F.dropout3d(_ones(2, 4, 2, 3, 2), 0.5).numpy(), 2.0, (0, 1))
    y = F.dropout3d(_ones(8, 2, 3, 2), 0.5).numpy()
    _assert_whole_channels(y, 2.0, (0,))


def test_dropout2d_reads_a_3d_input_as_n_c_l_with_a_warning():
    striate.manual_seed(6)
    with pytest.warns(UserWarning, match="read as \\(N, C, L\\)"):
        y = F.dropout2d(_ones(4, 6, 5), 0.5).numpy()
    _assert_whole_channels(y, 2.0, (0, 1))


def test_channel_gradient_is_the_channel_mask():
    striate.manual_seed(7)
    x = striate.tensor(np.ones((3, 4, 2, 2)), requires_grad=True)
    y = F.dropout2d(x, 0.5)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_masks_are_reproducible_under_manual_seed_and_fresh_per_call():
    striate.manual_seed(123)
    a, b = F.dropout(_ones(20, 20)).numpy(), F.dropout(_ones(20, 20)).numpy()
    striate.manual_seed(123)
    a2 = F.dropout(_ones(20, 20)).numpy()
    np.testing.assert_array_equal(a, a2)
    assert not np.array_equal(a, b)


def test_weight_scaling_is_the_monte_carlo_mean_for_a_linear_layer():
    """For y = dropout(x) @ W the average over masks is exactly (1 - p) x @ W (R1)."""
    rng = np.random.default_rng(0)
    x, w, p, samples = rng.uniform(0, 1, (1, 64)), rng.standard_normal((64, 5)), 0.5, 20000
    striate.manual_seed(8)
    xs = striate.tensor(np.repeat(x, samples, axis=0))
    masked = (F.dropout(xs, p, scaling="weight") @ striate.tensor(w)).numpy()   # (samples, 5)
    test_time = (F.dropout(striate.tensor(x), p, training=False, scaling="weight")
                 @ striate.tensor(w)).numpy()[0]
    standard_error = masked.std(axis=0) / np.sqrt(samples)
    assert (np.abs(masked.mean(axis=0) - test_time) < 5 * standard_error).all()
    np.testing.assert_allclose(test_time, (1 - p) * (x @ w)[0], rtol=1e-12)
    striate.manual_seed(9)
    inverted = (F.dropout(xs, p) @ striate.tensor(w)).numpy()
    assert (np.abs(inverted.mean(axis=0) - (x @ w)[0]) < 5 * inverted.std(axis=0)
            / np.sqrt(samples)).all()


def test_alpha_dropout_keeps_zero_mean_unit_variance():
    striate.manual_seed(10)
    x = striate.tensor(np.random.default_rng(0).standard_normal((400, 500)))
    y = F.alpha_dropout(x, p=0.2, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    dropped = np.isclose(y, -1.7580993408473766 * (1 - 0.2) / np.sqrt(
        (1.7580993408473766 ** 2 * 0.2 + 1) * 0.8))
    assert abs(dropped.mean() - 0.2) < 0.01
    assert F.alpha_dropout(x, p=0.2) is x                      # training defaults to False


def test_no_numpy_warnings_in_training():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout(striate.randn(3, 3), 1.0)
        F.alpha_dropout(striate.randn(3, 3), 1.0, training=True)
