"""Family-specific tests for linear and rbf_units (the op table checks values and gradients)."""
import numpy as np
import pytest
import torch

import striate
import striate.functional as F


def _t(*shape, dtype=np.float64, requires_grad=False, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return striate.tensor(data, requires_grad=requires_grad)


# ---- linear: argument errors -------------------------------------------------------------------
def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match="linear: input has 5 features, weight expects 4"):
        F.linear(_t(3, 5), _t(2, 4))


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)])
def test_linear_weight_must_be_2d(shape):
    with pytest.raises(ValueError, match=r"linear: weight must be 2-D .*got shape"):
        F.linear(_t(3, 4), _t(*shape))


def test_linear_scalar_input():
    with pytest.raises(ValueError, match="linear: input must have at least one dimension"):
        F.linear(_t(), _t(2, 1))


@pytest.mark.parametrize("shape", [(3,), (1,), (2, 2)])
def test_linear_bias_shape(shape):
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(2,\)"):
        F.linear(_t(3, 4), _t(2, 4), _t(*shape))


def test_linear_integer_input():
    with pytest.raises(TypeError, match="linear: input must be a floating-point tensor"):
        F.linear(striate.tensor(np.ones((3, 4), dtype=np.int64)), _t(2, 4))


def test_linear_dtype_mismatch():
    with pytest.raises(TypeError, match="linear: weight has dtype float32, input has float64"):
        F.linear(_t(3, 4), _t(2, 4, dtype=np.float32))


# ---- linear: behaviour -------------------------------------------------------------------------
def test_linear_only_requested_gradients():
    x, w, b = _t(3, 4), _t(2, 4, requires_grad=True), _t(2)
    F.linear(x, w, b).sum().backward()
    assert x.grad is None and b.grad is None and w.grad is not None


def test_linear_keeps_float32():
    y = F.linear(_t(3, 4, dtype=np.float32), _t(2, 4, dtype=np.float32))
    assert y.dtype == np.float32


def test_linear_empty_batch():
    x, w, b = _t(0, 4), _t(2, 4, requires_grad=True), _t(2, requires_grad=True)
    y = F.linear(x, w, b)
    assert y.shape == (0, 2)
    y.backward(np.zeros((0, 2)))
    np.testing.assert_array_equal(w.grad.numpy(), 0)
    np.testing.assert_array_equal(b.grad.numpy(), 0)


def test_linear_weight_gradient_sums_over_all_leading_axes():
    x, w = _t(2, 3, 4), _t(5, 4, requires_grad=True, seed=1)
    gy = np.random.default_rng(2).standard_normal((2, 3, 5))
    F.linear(x, w).backward(gy)
    expected = np.einsum("abo,abi->oi", gy, x.numpy())
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12)


# ---- rbf_units ---------------------------------------------------------------------------------
def test_rbf_units_zero_at_its_centre():
    w = _t(10, 84)
    x = striate.tensor(w.numpy()[[3, 7]])
    y = F.rbf_units(x, w).numpy()
    assert y.shape == (2, 10)
    np.testing.assert_array_equal(y.argmin(axis=1), [3, 7])
    np.testing.assert_allclose(y[[0, 1], [3, 7]], 0, atol=1e-12)


def test_rbf_units_lenet_size_matches_torch_cdist():
    x, w = _t(16, 84, dtype=np.float32), _t(10, 84, dtype=np.float32, seed=1)
    y = F.rbf_units(x, w).numpy()
    ref = torch.cdist(torch.tensor(x.numpy()).double(), torch.tensor(w.numpy()).double()) ** 2
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-5)


def test_rbf_units_feature_mismatch():
    with pytest.raises(ValueError, match="rbf_units: input has 5 features, centers have 4"):
        F.rbf_units(_t(3, 5), _t(2, 4))


@pytest.mark.parametrize("x_shape, w_shape, arg", [((5,), (2, 5), "input"),
                                                   ((2, 3, 5), (2, 5), "input"),
                                                   ((3, 5), (5,), "centers")])
def test_rbf_units_rank(x_shape, w_shape, arg):
    with pytest.raises(ValueError, match=f"rbf_units: {arg} must be 2-D"):
        F.rbf_units(_t(*x_shape), _t(*w_shape))


def test_rbf_units_integer_input():
    with pytest.raises(TypeError, match="rbf_units: input must be a floating-point tensor"):
        F.rbf_units(striate.tensor(np.ones((3, 4), dtype=np.int64)), _t(2, 4))
