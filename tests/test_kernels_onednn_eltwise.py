"""ReLU on both kernel paths: the NumPy reference and the threaded loops of ``_omp_eltwise.c``.

The fast path takes dense float32 arrays of at least ``ELTWISE_MIN_SIZE`` values (the
channels-last activations of a CNN); each case checks against PyTorch, that the two paths agree
bit for bit (the formulas have no rounding), and, by counting calls into the kernels, that the
fast path really ran (or, for the cases left to the reference, that it did not).
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
import striate.kernels
from kernel_paths import PATHS, needs_onednn
from striate.kernels import ELTWISE_MIN_SIZE, onednn
from striate.kernels.onednn.eltwise import same_layout


def channels_last(shape, seed=0):
    n, c, *s = shape
    a = np.random.default_rng(seed).standard_normal((n, *s, c)).astype(np.float32)
    return np.moveaxis(a, -1, 1)


@pytest.fixture
def calls(monkeypatch):
    """Counts of the fast kernels' forward and backward calls."""
    counts = {"forward": 0, "backward": 0}
    if not onednn.available():
        return counts
    forward, backward = onednn.relu_forward, onednn.relu_backward

    def counted_forward(*args, **kwargs):
        counts["forward"] += 1
        return forward(*args, **kwargs)

    def counted_backward(*args, **kwargs):
        counts["backward"] += 1
        return backward(*args, **kwargs)
    monkeypatch.setattr(onednn, "relu_forward", counted_forward)
    monkeypatch.setattr(onednn, "relu_backward", counted_backward)
    return counts


@contextlib.contextmanager
def _kernels(name):
    previous = striate.kernels.current()
    striate.kernels.use_kernels(name)
    try:
        yield
    finally:
        striate.kernels.use_kernels(previous)


def _relu(x, gy, rule="gradient"):
    xs = striate.Tensor(x, requires_grad=True)
    y = F.relu(xs)
    with F.relu_backward_rule(rule):
        y.backward(striate.Tensor(gy))
    return y.data, xs.grad.data


SHAPES = [(8, 16, 28, 28), (4, 32, 14, 14, 2), (2, 8, 64, 64), (1, 1, 300, 300)]


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_relu_on_each_path_equals_torch(shape, layout, kernels, calls):
    x = channels_last(shape) if layout == "channels_last" else \
        np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x[..., ::7] = 0.0  # exactly 0: no gradient there, as in PyTorch
    gy = np.empty_like(x)
    gy[...] = np.random.default_rng(1).standard_normal(shape)
    y, gx = _relu(x, gy)
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    yt = torch.relu(xt)
    yt.backward(torch.from_numpy(np.ascontiguousarray(gy)))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(gx, xt.grad.numpy())
    assert same_layout(x, y)  # the layout is kept (the leaf's .grad is a C-order copy)
    fast = kernels == "onednn" and x.size >= ELTWISE_MIN_SIZE
    assert calls == {"forward": int(fast), "backward": int(fast)}


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
def test_relu_gradient_stays_channels_last(kernels):
    from striate.functional.activation import ReLU
    x = channels_last((8, 16, 28, 28))
    fn = ReLU()
    fn.needs_input_grad = (True,)
    y = fn.forward(x)
    gx = fn.backward(np.moveaxis(np.moveaxis(np.ones(y.shape, np.float32), 1, -1).copy(), -1, 1))
    assert same_layout(x, y) and same_layout(x, gx)
    np.testing.assert_array_equal(gx, (x > 0).astype(np.float32))


@needs_onednn
@pytest.mark.parametrize("rule", ["gradient", "guided", "deconvnet"])
def test_relu_paths_agree_bit_for_bit(rule, calls):
    x = channels_last((8, 16, 28, 28), seed=3)
    gy = channels_last((8, 16, 28, 28), seed=4)
    with _kernels("reference"):
        ref = _relu(x, gy, rule)
    fast = _relu(x, gy, rule)
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(a, b)
    # the modified rules read the mask [y > 0] off the fast forward's output
    assert calls == {"forward": 1, "backward": int(rule == "gradient")}


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
def test_relu_keeps_nan_and_maps_minus_inf_to_zero(kernels, calls):
    x = channels_last((4, 16, 32, 32))
    x[0, 0, 0, :4] = [np.nan, -np.inf, np.inf, -0.0]
    y, gx = _relu(x, np.ones_like(x))
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == 0 and y[0, 0, 0, 2] == np.inf
    assert y[0, 0, 0, 3] == 0
    np.testing.assert_array_equal(gx[0, 0, 0, :4], [0, 0, 1, 0])
    assert torch.relu(torch.tensor([np.nan])).isnan().all()  # what the fast path follows
    assert calls["forward"] == int(kernels == "onednn")


@needs_onednn
@pytest.mark.parametrize("case", ["small", "float64", "strided", "gradient_in_another_layout"])
def test_relu_cases_left_to_the_reference(case, calls):
    shape = (8, 16, 28, 28)
    x = channels_last(shape)
    gy = channels_last(shape, seed=1)
    if case == "small":
        x, gy = x[:1, :4, :8, :8].copy(), gy[:1, :4, :8, :8].copy()
        assert x.size < ELTWISE_MIN_SIZE
    elif case == "float64":
        x, gy = x.astype(np.float64), gy.astype(np.float64)
    elif case == "strided":
        x, gy = x[:, :, ::2], gy[:, :, ::2]
    else:
        gy = np.ascontiguousarray(gy)  # NCHW while y is stored channels-last
    y, gx = _relu(x, gy)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(gx, gy * (x > 0))
    expected_forward = int(case == "gradient_in_another_layout")
    assert calls == {"forward": expected_forward, "backward": 0}


@needs_onednn
def test_relu_wrappers_reject_bad_arguments():
    x = channels_last((2, 4, 8, 8))
    with pytest.raises(ValueError, match="relu_forward: x must be a dense float32 NumPy array"):
        onednn.relu_forward(x[:, :, ::2])
    with pytest.raises(ValueError, match="relu_forward: x must be a dense float32"):
        onednn.relu_forward(x.astype(np.float64))
    with pytest.raises(ValueError, match="relu_forward: out must be a writeable array shaped "
                                         "and stored as x"):
        onednn.relu_forward(x, out=np.empty(x.shape, np.float32))
    y = onednn.relu_forward(x)
    with pytest.raises(ValueError, match="relu_backward: gy must be a float32 array shaped and "
                                         "stored as y"):
        onednn.relu_backward(y, np.ascontiguousarray(y))
    np.testing.assert_array_equal(onednn.relu_backward(y, y), y * (y > 0))
    empty = np.empty((0, 3), np.float32)
    assert onednn.relu_forward(empty).shape == (0, 3)


@needs_onednn
def test_relu_runs_on_the_set_thread_count():
    x = channels_last((16, 16, 28, 28))
    expected = np.maximum(x, 0)
    previous = onednn.get_num_threads()
    try:
        for n in (1, 2, 3):
            onednn.set_num_threads(n)
            np.testing.assert_array_equal(onednn.relu_forward(x), expected)
    finally:
        onednn.set_num_threads(previous)
