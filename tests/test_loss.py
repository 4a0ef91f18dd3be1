"""Loss family tests beyond the op table: target checks, edge values, Dice's meaning."""
import warnings

import numpy as np
import pytest
import torch

import striate
import striate.functional as F

TF = torch.nn.functional


def _labels(*values):
    return striate.tensor(np.array(values, dtype=np.int64))


def test_cross_entropy_is_nll_of_log_softmax():
    rng = np.random.default_rng(0)
    x, t = striate.tensor(rng.standard_normal((5, 3))), _labels(0, 2, 1, 1, 0)
    np.testing.assert_allclose(F.cross_entropy(x, t).item(),
                               F.nll_loss(F.log_softmax(x, 1), t).item(), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    x = np.array([[1e4, 0.0, -1e4], [0.0, 3e4, 0.0]], dtype=dtype)
    t = np.array([1, 1])
    loss = F.cross_entropy(striate.tensor(x), striate.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(loss, TF.cross_entropy(torch.tensor(x), torch.tensor(t),
                                                       reduction="none").numpy(), rtol=1e-6)


def test_every_target_ignored_gives_nan_like_torch():
    x = np.random.default_rng(1).standard_normal((3, 4))
    t = np.full(3, -100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(striate.tensor(x), striate.tensor(t)).item()
    assert np.isnan(loss) and torch.isnan(TF.cross_entropy(torch.tensor(x), torch.tensor(t)))


def test_nll_loss_unbatched_like_torch():
    x = np.random.default_rng(2).standard_normal(4)
    for reduction in ("none", "mean"):
        ours = F.nll_loss(striate.tensor(x), _labels(3).reshape(()), reduction=reduction)
        ref = TF.nll_loss(torch.tensor(x), torch.tensor(3), reduction=reduction)
        assert ours.shape == tuple(ref.shape)
        np.testing.assert_allclose(ours.numpy(), ref.numpy())


def test_custom_ignore_index():
    x = np.random.default_rng(3).standard_normal((4, 3))
    t = np.array([0, 255, 2, 255])
    ours = F.cross_entropy(striate.tensor(x), striate.tensor(t), ignore_index=255)
    ref = TF.cross_entropy(torch.tensor(x), torch.tensor(t), ignore_index=255)
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-14)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_out_of_range_class_index_names_value_and_classes(fn):
    x = striate.randn(3, 5)
    with pytest.raises(ValueError, match=r"target value 7 is out of range for 5 classes"):
        fn(x, _labels(1, 7, 2))
    with pytest.raises(ValueError, match=r"target value -1 is out of range for 5 classes"):
        fn(x, _labels(1, -1, 2))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_target_shape_mismatch(fn):
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match input shape "
                                         r"\(3, 5\): expected \(3,\)"):
        fn(striate.randn(3, 5), _labels(0, 1, 2, 3))
    with pytest.raises(ValueError, match=r"expected \(2, 4, 4\)"):
        fn(striate.randn(2, 3, 4, 4), striate.tensor(np.zeros((2, 4), dtype=np.int64)))


def test_float_targets_where_class_indices_are_needed():
    with pytest.raises(TypeError, match="nll_loss: target must hold integer class indices, got "
                                        "dtype float32"):
        F.nll_loss(striate.randn(3, 5), striate.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match=r"cross_entropy: a float target must hold class "
                                        r"probabilities of the input's shape \(3, 5\)"):
        F.cross_entropy(striate.randn(3, 5), striate.tensor([0.0, 1.0, 2.0]))


def test_loss_argument_errors():
    x = striate.randn(3, 4)
    with pytest.raises(ValueError, match="cross_entropy: reduction must be one of"):
        F.cross_entropy(x, _labels(0, 1, 2), reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have one entry per class, shape \(4,\)"):
        F.cross_entropy(x, _labels(0, 1, 2), weight=np.ones(3))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(x, _labels(0, 1, 2), label_smoothing=1.5)
    with pytest.raises(TypeError, match="cross_entropy: input must be a floating-point"):
        F.cross_entropy(_labels(0, 1, 2), _labels(0, 1, 2))


@pytest.mark.parametrize("fn", [F.mse_loss, F.binary_cross_entropy,
                                F.binary_cross_entropy_with_logits])
def test_elementwise_losses_need_equal_shapes_and_float_targets(fn):
    x = striate.rand(3, 4)
    with pytest.raises(ValueError, match=r"target shape \(4,\) differs from input shape \(3, 4\)"):
        fn(x, striate.rand(4))
    with pytest.raises(TypeError, match="target must be a floating-point tensor, got dtype int64"):
        fn(x, striate.tensor(np.ones((3, 4), dtype=np.int64)))


def test_binary_cross_entropy_rejects_values_outside_zero_one():
    with pytest.raises(ValueError, match="binary_cross_entropy: all elements of input should be "
                                         "between 0 and 1"):
        F.binary_cross_entropy(striate.tensor([0.5, 1.2]), striate.tensor([0.0, 1.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_clamps_the_log_at_minus_100(dtype):
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30], dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = F.binary_cross_entropy(striate.tensor(x), striate.tensor(t), reduction="none")
    ref = TF.binary_cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)
    assert ours.numpy()[0] == 100


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_is_stable(dtype):
    x = np.array([-200.0, -30.0, 0.0, 30.0, 200.0], dtype=dtype)
    t = np.array([1.0, 0.3, 0.5, 0.0, 1.0], dtype=dtype)
    pw = np.array([2.0], dtype=dtype)
    for kwargs in ({}, {"pos_weight": pw}):
        xs = striate.tensor(x, requires_grad=True)
        ours = F.binary_cross_entropy_with_logits(xs, striate.tensor(t), reduction="sum",
                                                  **kwargs)
        ours.backward()
        xt = torch.tensor(x, requires_grad=True)
        ref = TF.binary_cross_entropy_with_logits(
            xt, torch.tensor(t), reduction="sum", **{k: torch.tensor(v) for k, v in kwargs.items()})
        ref.backward()
        np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-6)
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_logits_loss_equals_probability_loss_on_sigmoid():
    rng = np.random.default_rng(4)
    x, t = striate.tensor(rng.standard_normal((3, 4))), striate.tensor(rng.uniform(0, 1, (3, 4)))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, t).item(),
                               F.binary_cross_entropy(F.sigmoid(x), t).item(), rtol=1e-12)


def test_weight_must_broadcast_to_the_input():
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(striate.randn(2, 4), striate.rand(2, 4),
                                           pos_weight=np.ones(3))


# ---------------------------------------------------------------------------------------------
def test_dice_of_a_perfect_prediction_is_zero_and_of_a_disjoint_one_near_one():
    t = np.zeros((2, 1, 8, 8))
    t[:, :, 2:5, 3:7] = 1
    perfect = F.dice_loss(striate.tensor(t), striate.tensor(t), smooth=0.0)
    np.testing.assert_allclose(perfect.item(), 0.0, atol=1e-15)
    disjoint = F.dice_loss(striate.tensor(1 - t), striate.tensor(t), smooth=0.0)
    np.testing.assert_allclose(disjoint.item(), 1.0)


def test_dice_smooth_makes_an_empty_sample_count_as_perfect():
    empty = striate.tensor(np.zeros((1, 1, 4, 4)))
    np.testing.assert_allclose(F.dice_loss(empty, empty).item(), 0.0)


def test_dice_matches_hand_computed_value():
    p = np.array([[0.9, 0.2, 0.6, 0.0]])
    t = np.array([[1.0, 0.0, 1.0, 1.0]])
    s = 1.0
    expected = 1 - (2 * 1.5 + s) / (1.7 + 3 + s)
    squared = 1 - (2 * 1.5 + s) / (0.81 + 0.04 + 0.36 + 3 + s)
    np.testing.assert_allclose(F.dice_loss(striate.tensor(p), striate.tensor(t)).item(), expected)
    np.testing.assert_allclose(
        F.dice_loss(striate.tensor(p), striate.tensor(t), squared=True).item(), squared)


def test_dice_integer_class_map_is_one_hot_encoded():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((2, 3, 4, 4))
    probs = F.softmax(striate.tensor(logits), dim=1)
    labels = rng.integers(0, 3, (2, 4, 4))
    one_hot = np.moveaxis(np.eye(3)[labels], -1, 1)
    for dims in (None, (2, 3)):
        a = F.dice_loss(probs, striate.tensor(labels), dims=dims, reduction="none")
        b = F.dice_loss(probs, striate.tensor(one_hot), dims=dims, reduction="none")
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14)
    assert a.shape == (2, 3)


def test_dice_target_errors():
    with pytest.raises(ValueError, match=r"dice_loss: target value 3 is out of range for 3 "
                                         r"classes \(expected 0 <= target < 3\)"):
        F.dice_loss(striate.rand(1, 3, 2, 2), striate.tensor(np.full((1, 2, 2), 3)))
    with pytest.raises(ValueError, match="dice_loss: target shape"):
        F.dice_loss(striate.rand(1, 3, 2, 2), striate.rand(1, 3, 2))
    with pytest.raises(ValueError, match="integer class map without the class axis"):
        F.dice_loss(striate.rand(1, 3, 2, 2), striate.tensor(np.zeros((1, 3, 2, 2), dtype=int)))
