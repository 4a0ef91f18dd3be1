"""Keras-style L1/L2 regularisers (F5): values, gradients, wiring into layers, weight decay."""
import numpy as np
import pytest
import torch

import striate
import striate.functional as F
from striate.nn import regularizers
from striate.nn.conv import Conv2d, ConvTranspose2d, DeformConv2d
from striate.nn.linear import Linear
from striate.nn.module import Sequential
from striate.nn.normalization import BatchNorm2d
from striate.nn.regularizers import L1, L1L2, L2, regularization_loss


def _w(seed=0, shape=(4, 5)):
    data = np.random.default_rng(seed).standard_normal(shape)
    data[0, 0] = 0.0  # L1's gradient at exactly 0 is 0
    return striate.tensor(data, requires_grad=True)


def test_l2_value_and_gradient_are_kerass():
    w = _w()
    penalty = L2(0.03)(w)
    assert penalty.item() == pytest.approx(0.03 * (w.numpy() ** 2).sum(), rel=1e-12)
    penalty.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * 0.03 * w.numpy(), rtol=1e-12)


def test_l1_value_and_gradient():
    w = _w()
    penalty = L1(0.2)(w)
    assert penalty.item() == pytest.approx(0.2 * np.abs(w.numpy()).sum(), rel=1e-12)
    penalty.backward()
    np.testing.assert_allclose(w.grad.numpy(), 0.2 * np.sign(w.numpy()), rtol=1e-12)
    assert w.grad.numpy()[0, 0] == 0


def test_l1l2_is_the_sum_and_zero_strengths_give_zero():
    w = _w(1)
    both = L1L2(l1=0.1, l2=0.05)(w)
    assert both.item() == pytest.approx(L1(0.1)(w).item() + L2(0.05)(w).item(), rel=1e-12)
    both.backward()
    np.testing.assert_allclose(w.grad.numpy(), 0.1 * np.sign(w.numpy()) + 0.1 * w.numpy())
    zero = L1L2()(w)
    assert zero.item() == 0.0 and zero.requires_grad


def test_defaults_names_and_config_follow_keras():
    assert L1().l1 == 0.01 and L2().l2 == 0.01 and (L1L2().l1, L1L2().l2) == (0.0, 0.0)
    assert isinstance(regularizers.get("l2"), L2) and regularizers.get(None) is None
    assert repr(L2(1e-4)) == "L2(l2=0.0001)" and L1L2(0.1, 0.2).get_config() == {"l1": 0.1,
                                                                                   "l2": 0.2}
    with pytest.raises(ValueError, match="regularizer: expected None, a Regularizer"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="L2: l2 must be a non-negative number"):
        L2(-1.0)


def test_per_layer_regularizers_sum_into_regularization_loss():
    striate.manual_seed(0)
    conv = Conv2d(2, 3, 3, kernel_regularizer=L2(1e-2), bias_regularizer=L1(1e-3))
    fc = Linear(4, 2, kernel_regularizer="l1")
    model = Sequential(conv, BatchNorm2d(3), Sequential(fc))
    total = regularization_loss(model)
    expected = (1e-2 * (conv.weight.numpy() ** 2).sum() + 1e-3 * np.abs(conv.bias.numpy()).sum()
                + 0.01 * np.abs(fc.weight.numpy()).sum())
    assert total.item() == pytest.approx(expected, rel=1e-5)
    total.backward()
    np.testing.assert_allclose(conv.weight.grad.numpy(), 2e-2 * conv.weight.numpy(), rtol=1e-5)
    np.testing.assert_allclose(conv.bias.grad.numpy(), 1e-3 * np.sign(conv.bias.numpy()))
    assert fc.bias.grad is None  # no bias regulariser there


def test_apply_sets_every_supporting_layer_and_none_clears():
    model = Sequential(Conv2d(2, 3, 3), BatchNorm2d(3), ConvTranspose2d(3, 2, 2),
                       DeformConv2d(2, 2, 3, bias=False), Linear(3, 3))
    assert regularization_loss(model).item() == 0.0
    assert regularizers.apply(model, kernel=L2(0.5), bias="l1") == 4
    weights = [m.weight.numpy() for m in model if hasattr(m, "kernel_regularizer")]
    biases = [m.bias.numpy() for m in model if hasattr(m, "kernel_regularizer")
              and m.bias is not None]
    expected = 0.5 * sum((w ** 2).sum() for w in weights) + 0.01 * sum(np.abs(b).sum()
                                                                       for b in biases)
    assert regularization_loss(model).item() == pytest.approx(expected, rel=1e-5)
    regularizers.apply(model)
    assert regularization_loss(model).item() == 0.0


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_l2_penalty_is_sgd_weight_decay_with_twice_the_strength(momentum):
    """Gradient of l*sum(w^2) is 2*l*w: L2(l) + SGD == torch SGD(weight_decay=2*l)."""
    lam, lr = 0.05, 0.1
    torch.manual_seed(0)
    theirs = torch.nn.Linear(6, 3).double()
    striate.set_default_dtype(np.float64)
    try:
        ours = Linear(6, 3, kernel_regularizer=L2(lam))
    finally:
        striate.set_default_dtype(np.float32)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    opt = torch.optim.SGD([{"params": [theirs.weight], "weight_decay": 2 * lam},
                           {"params": [theirs.bias], "weight_decay": 0.0}], lr=lr,
                          momentum=momentum)
    velocity = {name: 0.0 for name, _ in ours.named_parameters()}
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, t = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
        loss = F.mse_loss(ours(striate.tensor(x)), striate.tensor(t)) + regularization_loss(ours)
        ours.zero_grad()
        loss.backward()
        for name, p in ours.named_parameters():  # torch's SGD: v <- mu v + g, w <- w - lr v
            velocity[name] = momentum * velocity[name] + p.grad.data
            p.data -= lr * velocity[name]
        opt.zero_grad()
        torch.nn.functional.mse_loss(theirs(torch.tensor(x)), torch.tensor(t)).backward()
        opt.step()
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).numpy(), p.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)


def _fit_linear(regularizer, **fit_kwargs):
    """One epoch of plain SGD on a Linear layer through ``train.fit``; returns (layer, history)."""
    from striate import optim, train
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    striate.manual_seed(0)
    layer = Linear(6, 3, kernel_regularizer=regularizer)
    history = train.fit(layer, (x, y), epochs=1, batch_size=8, shuffle=False, verbose=0,
                        optimizer=optim.SGD(layer.parameters(), lr=0.1), **fit_kwargs)
    return layer, history


def test_fit_adds_the_layers_penalties_by_itself_as_keras_does():
    """A kernel_regularizer is in fit's loss without being asked for (Keras' model.losses)."""
    plain, _ = _fit_linear(None)
    auto, history = _fit_linear(L2(0.5))
    explicit, explicit_history = _fit_linear(L2(0.5), regularization_loss=regularization_loss)
    off, _ = _fit_linear(L2(0.5), regularization_loss=None)
    np.testing.assert_array_equal(auto.weight.numpy(), explicit.weight.numpy())
    assert history.history["loss"] == explicit_history.history["loss"]
    np.testing.assert_array_equal(off.weight.numpy(), plain.weight.numpy())
    assert not np.allclose(auto.weight.numpy(), plain.weight.numpy())
    # the decay shrinks the weights: L2(0.5) with lr 0.1 scales them by 0.9 per step, plus data
    assert np.abs(auto.weight.numpy()).sum() < np.abs(plain.weight.numpy()).sum()


def test_evaluate_includes_the_penalty_and_bad_value_is_named():
    from striate import train
    layer, _ = _fit_linear(L2(0.5))
    x = np.ones((4, 6), np.float32)
    y = np.zeros(4, np.int64)
    with_penalty = train.evaluate(layer, (x, y))["loss"]
    without = train.evaluate(layer, (x, y), regularization_loss=None)["loss"]
    assert with_penalty == pytest.approx(without + regularization_loss(layer).item(), rel=1e-5)
    with pytest.raises(ValueError, match="evaluate: regularization_loss must be .auto."):
        train.evaluate(layer, (x, y), regularization_loss="yes")
