"""Activation family tests beyond the op table: constants, kinks, stability, errors."""
import math
import warnings

import numpy as np
import pytest
import torch

import striate
import striate.functional as F

TF = torch.nn.functional


def _grad(fn, x):
    t = striate.tensor(x, requires_grad=True)
    fn(t).backward(np.ones(x.shape, dtype=x.dtype))
    return t.grad.numpy()


def _torch_grad(fn, x):
    t = torch.tensor(x, requires_grad=True)
    fn(t).backward(torch.ones_like(t))
    return t.grad.numpy()


def test_lecun_tanh_constants_map_plus_minus_one_to_plus_minus_one():
    y = F.lecun_tanh(striate.tensor(np.array([-1.0, 0.0, 1.0]))).numpy()
    np.testing.assert_allclose(y, [-1.0, 0.0, 1.0], atol=1e-4)
    assert math.isclose(F.LECUN_TANH_A, 1 / math.tanh(2 / 3), rel_tol=1e-4)


def test_lecun_tanh_second_derivative_peaks_near_one():
    a = np.linspace(0.01, 3, 30001)
    x = striate.tensor(a, requires_grad=True)
    F.lecun_tanh(x).backward(np.ones_like(a))
    first = x.grad.numpy()
    second = np.gradient(first, a)
    peak = a[np.argmax(np.abs(second))]
    assert abs(peak - math.atanh(1 / math.sqrt(3)) * 1.5) < 1e-3   # exactly 0.98766
    assert abs(peak - 1.0) < 0.02
    np.testing.assert_allclose(first[0], F.LECUN_TANH_A * F.LECUN_TANH_S, rtol=1e-3)


def test_selu_constants_match_torch():
    assert math.isclose(F.SELU_SCALE * F.SELU_ALPHA, 1.7580993408473766, rel_tol=1e-15)
    x = np.linspace(-30, 3, 50)
    np.testing.assert_allclose(F.selu(striate.tensor(x)).numpy(),
                               TF.selu(torch.tensor(x)).numpy(), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name, fn, ref", [
    ("relu", F.relu, torch.relu),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    ("elu", lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
    ("selu", F.selu, TF.selu),
])
def test_gradient_at_the_kink_matches_torch(name, fn, ref):
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    np.testing.assert_allclose(_grad(fn, x), _torch_grad(ref, x), rtol=1e-12, err_msg=name)


def test_relu_passes_no_gradient_at_zero():
    np.testing.assert_array_equal(_grad(F.relu, np.array([-1.0, 0.0, 1.0])), [0.0, 0.0, 1.0])


def test_relu_inplace_keyword_is_accepted_and_input_kept():
    x = striate.tensor(np.array([-1.0, 2.0]))
    y = F.relu(x, inplace=True)
    np.testing.assert_array_equal(x.numpy(), [-1.0, 2.0])
    np.testing.assert_array_equal(y.numpy(), [0.0, 2.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_elu_are_stable_for_extreme_inputs(dtype):
    x = np.array([-1000.0, -90.0, 0.0, 90.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = F.sigmoid(striate.tensor(x)).numpy()
        e = F.elu(striate.tensor(x)).numpy()
        g = _grad(F.sigmoid, x)
    np.testing.assert_allclose(s, torch.sigmoid(torch.tensor(x)).numpy(), atol=1e-7)
    np.testing.assert_allclose(e, TF.elu(torch.tensor(x)).numpy(), rtol=1e-6)
    assert np.isfinite(g).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_are_stable_for_huge_logits(dtype):
    x = np.array([[1000.0, 0.0, -1000.0], [5e4, 5e4, 5e4 - 1]], dtype=dtype)
    p = F.softmax(striate.tensor(x), dim=1).numpy()
    logp = F.log_softmax(striate.tensor(x), dim=1).numpy()
    assert np.isfinite(p).all() and np.isfinite(logp).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(logp, TF.log_softmax(torch.tensor(x), 1).numpy(), rtol=1e-6)


def test_softmax_dtype_argument_casts_first():
    x = striate.tensor(np.array([[1.0, 2.0, 3.0]], dtype=np.float32), requires_grad=True)
    y = F.softmax(x, dim=1, dtype=np.float64)
    assert y.dtype == np.float64
    y.backward(np.array([[1.0, 0.0, 0.0]]))
    assert x.grad.dtype == np.float32


def test_outputs_keep_float32():
    x = striate.tensor(np.linspace(-2, 2, 7, dtype=np.float32))
    for fn in (F.relu, F.leaky_relu, F.elu, F.selu, F.sigmoid, F.tanh, F.lecun_tanh):
        assert fn(x).dtype == np.float32, fn.__name__
    assert F.softmax(x, 0).dtype == np.float32 and F.log_softmax(x, 0).dtype == np.float32


def test_integer_input_is_a_type_error():
    x = striate.tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="relu: input must be a floating-point tensor"):
        F.relu(x)
    with pytest.raises(TypeError, match="softmax: input must be a floating-point"):
        F.softmax(x, 0)


def test_softmax_dim_out_of_range():
    with pytest.raises(ValueError, match="softmax: dim=2 is out of range for 2 dimensions"):
        F.softmax(striate.tensor(np.zeros((2, 3))), dim=2)
