"""Normalization family tests beyond the op table: running statistics, modes, LRN vs the paper."""
import numpy as np
import pytest
import torch

import striate
import striate.functional as F

TF = torch.nn.functional


def _batches(shape, steps, seed=0):
    rng = np.random.default_rng(seed)
    per_channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    return [rng.standard_normal(shape) * 2 + rng.normal(1, 1, per_channel) for _ in range(steps)]


@pytest.mark.parametrize("momentum", [0.1, 0.3])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (3, 3, 4, 4), (2, 3, 2, 3, 3)])
def test_running_statistics_follow_torch_over_several_steps(shape, momentum):
    channels = shape[1]
    mean, var = striate.zeros(channels, dtype=np.float64), striate.ones(channels, dtype=np.float64)
    mean_ref, var_ref = torch.zeros(channels, dtype=torch.float64), torch.ones(
        channels, dtype=torch.float64)
    w, b = np.linspace(0.5, 1.5, channels), np.linspace(-1, 1, channels)
    for x in _batches(shape, steps=4):
        y = F.batch_norm(striate.tensor(x), mean, var, striate.tensor(w), striate.tensor(b),
                         training=True, momentum=momentum)
        y_ref = TF.batch_norm(torch.tensor(x), mean_ref, var_ref, torch.tensor(w),
                              torch.tensor(b), training=True, momentum=momentum)
        np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean.numpy(), mean_ref.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), var_ref.numpy(), rtol=1e-12)
    x = _batches(shape, steps=1, seed=1)[0]
    y = F.batch_norm(striate.tensor(x), mean, var, striate.tensor(w), striate.tensor(b))
    y_ref = TF.batch_norm(torch.tensor(x), mean_ref, var_ref, torch.tensor(w), torch.tensor(b))
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-10, atol=1e-12)


def test_running_variance_uses_the_unbiased_estimate():
    x = np.array([[1.0], [2.0], [6.0]])
    mean, var = np.zeros(1), np.ones(1)
    F.batch_norm(striate.tensor(x), mean, var, training=True, momentum=1.0)
    np.testing.assert_allclose(mean, [3.0])
    np.testing.assert_allclose(var, [np.var(x, ddof=1)])


def test_running_statistics_as_numpy_arrays_are_updated_in_place():
    mean, var = np.zeros(3, dtype=np.float32), np.ones(3, dtype=np.float32)
    mean_id = id(mean)
    F.batch_norm(striate.tensor(_batches((4, 3, 2), 1)[0].astype(np.float32)), mean, var,
                 training=True)
    assert id(mean) == mean_id and mean.dtype == np.float32
    assert not np.allclose(mean, 0) and not np.allclose(var, 1)


def test_momentum_none_is_a_cumulative_average_like_torch():
    layer = torch.nn.BatchNorm2d(3, momentum=None, affine=False).double()
    mean, var = np.zeros(3), np.ones(3)
    count = np.zeros((), dtype=np.int64)
    for x in _batches((2, 3, 3, 3), steps=5):
        F.batch_norm(striate.tensor(x), mean, var, training=True, momentum=None,
                     num_batches_tracked=count)
        layer(torch.tensor(x))
    assert int(count) == 5 == int(layer.num_batches_tracked)
    np.testing.assert_allclose(mean, layer.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var, layer.running_var.numpy(), rtol=1e-12)


def test_counter_is_incremented_with_a_momentum_too():
    count = striate.tensor(np.array(2, dtype=np.int64))
    F.batch_norm(striate.randn(4, 2), np.zeros(2), np.ones(2), training=True,
                 num_batches_tracked=count)
    assert count.item() == 3


def test_training_without_running_statistics_tracks_nothing():
    x = _batches((5, 2), 1)[0]
    y = F.batch_norm(striate.tensor(x), None, None, training=True)
    np.testing.assert_allclose(y.numpy().mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.numpy().var(axis=0), 1, rtol=1e-4)


def test_evaluation_does_not_touch_running_statistics():
    mean, var = np.array([0.5, -1.0]), np.array([2.0, 0.5])
    x = striate.tensor(_batches((3, 2, 4), 1)[0], requires_grad=True)
    y = F.batch_norm(x, mean, var, training=False)
    np.testing.assert_array_equal(mean, [0.5, -1.0])
    expected = (x.numpy() - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(
        1 / np.sqrt(var[None, :, None] + 1e-5), x.shape), rtol=1e-12)


def test_training_gradient_sums_to_zero_per_channel():
    # d/dx of a normalised output cannot change the channel's mean: sum over a channel of gx = 0
    x = striate.tensor(_batches((4, 3, 5), 1)[0], requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    y.backward(np.random.default_rng(3).standard_normal(y.shape))
    np.testing.assert_allclose(x.grad.numpy().sum(axis=(0, 2)), 0, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(running_mean=np.zeros(4), running_var=np.ones(3)),
     "running_mean should contain 3 elements .* got 4"),
    (dict(running_mean=np.zeros(3), running_var=np.ones(2)),
     "running_var should contain 3 elements .* got 2"),
    (dict(running_mean=np.zeros(3), running_var=np.ones(3), weight=np.ones(4)),
     "weight should contain 3 elements .* got 4"),
    (dict(running_mean=np.zeros(3), running_var=np.ones(3), bias=np.ones(2)),
     "bias should contain 3 elements"),
    (dict(running_mean=None, running_var=None, training=False),
     "running_mean and running_var must be given in evaluation mode"),
    (dict(running_mean=None, running_var=np.ones(3), training=True, momentum=None),
     "momentum=None .* needs num_batches_tracked"),
])
def test_batch_norm_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.batch_norm(striate.randn(4, 3), **kwargs)


def test_one_value_per_channel_in_training_is_an_error_like_torch():
    for shape in [(1, 3), (1, 3, 1, 1)]:
        with pytest.raises(ValueError, match="expected more than 1 value per channel when "
                                             "training"):
            F.batch_norm(striate.randn(*shape), np.zeros(3), np.ones(3), training=True)
    F.batch_norm(striate.randn(1, 3), np.zeros(3), np.ones(3), training=False)  # eval is fine


def test_batch_norm_input_type_and_rank_errors():
    with pytest.raises(TypeError, match="batch_norm: input must be a floating-point tensor"):
        F.batch_norm(striate.tensor(np.ones((2, 3), dtype=np.int64)), None, None, training=True)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.batch_norm(striate.randn(3), np.zeros(3), np.ones(3))


# ---------------------------------------------------------------------------------------------
def _alexnet_lrn_loop(a, k=2.0, n=5, alpha=1e-4, beta=0.75):
    """Krizhevsky et al. (2012), section 3.3, written as a loop over kernel maps i:
    b_i = a_i / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a_j^2)^beta."""
    b = np.empty_like(a)
    channels = a.shape[1]
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        energy = (a[:, lo:hi + 1] ** 2).sum(axis=1)
        b[:, i] = a[:, i] / (k + alpha * energy) ** beta
    return b


def test_lrn_with_alpha_times_n_is_alexnets_formula():
    a = np.random.default_rng(0).uniform(0, 40, (2, 9, 3, 3))
    ours = F.local_response_norm(striate.tensor(a), size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)
    np.testing.assert_allclose(ours.numpy(), _alexnet_lrn_loop(a), rtol=1e-12)
    direct = F.local_response_norm(striate.tensor(a), size=5, alpha=1e-4, beta=0.75, k=2.0)
    assert not np.allclose(direct.numpy(), _alexnet_lrn_loop(a), rtol=1e-6)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 9])
def test_lrn_window_matches_torch_for_every_size(size):
    x = np.random.default_rng(size).standard_normal((2, 6, 3))
    y = F.local_response_norm(striate.tensor(x), size, alpha=0.7, beta=0.6, k=1.2)
    y_ref = TF.local_response_norm(torch.tensor(x), size, alpha=0.7, beta=0.6, k=1.2)
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-12)
    assert striate.gradcheck(
        lambda t: F.local_response_norm(t, size, alpha=0.7, beta=0.6, k=1.2),
        [striate.tensor(x, requires_grad=True)])


def test_lrn_errors():
    with pytest.raises(ValueError, match="local_response_norm: expected an input of 3 or more"):
        F.local_response_norm(striate.randn(2, 3), 2)
    with pytest.raises(ValueError, match="size must be a positive int, got 0"):
        F.local_response_norm(striate.randn(2, 3, 4), 0)
    with pytest.raises(TypeError, match="floating-point"):
        F.local_response_norm(striate.tensor(np.ones((2, 3, 4), dtype=np.int64)), 2)
