"""The engine: graph building, accumulation, grad modes, tensor conversions, the backend."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import striate
import striate.functional as F


def leaf(a, dtype="float64"):
    return striate.tensor(np.asarray(a, dtype=dtype), requires_grad=True)


def test_node_used_twice_gets_the_sum_of_both_paths():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x + x          # dy/dx = 2x + 1, x reached through three edges
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_diamond_graph_matches_torch():
    a = np.random.default_rng(0).standard_normal((3, 4))
    x, xt = leaf(a), torch.tensor(a, requires_grad=True)
    h, ht = F.exp(x), torch.exp(xt)
    y = (h * h.sum(dim=0) - F.log(h + 2)).mean()
    yt = (ht * ht.sum(dim=0) - torch.log(ht + 2)).mean()
    y.backward()
    yt.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, -2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x.numpy())


def test_leaf_grad_is_not_aliased_with_another_leaf():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.data += 10
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_broadcast_gradients_are_summed_back_to_each_shape():
    x, b = leaf(np.ones((2, 3, 4))), leaf(np.ones((3, 1)))
    gy = np.arange(24.0).reshape(2, 3, 4)
    (x * b).backward(gy)
    np.testing.assert_allclose(b.grad.numpy(), gy.sum(axis=(0, 2))[:, None])
    assert x.grad.shape == (2, 3, 4)


def test_backward_with_explicit_gradient_and_shape_check():
    x = leaf(np.ones((2, 2)))
    y = x * 2
    with pytest.raises(RuntimeError, match="one element"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 2), 0.5))
    np.testing.assert_allclose(x.grad.numpy(), np.ones((2, 2)))


def test_backward_twice_needs_retain_graph():
    x = leaf([2.0])
    y = F.exp(x) * 3
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 3 * np.exp(2.0))
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


def test_no_grad_records_nothing_and_restores_the_mode():
    x = leaf([1.0])
    with striate.no_grad():
        y = x * 2
        assert not striate.is_grad_enabled()
    assert striate.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @striate.no_grad()
    def f(t):
        return t * 2

    assert f(x).grad_fn is None
    with striate.no_grad():
        with striate.enable_grad():
            assert (x * 2).requires_grad


def test_detach_cuts_the_graph_but_shares_data():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    y = x * d
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d.numpy())


def test_inputs_without_requires_grad_get_no_gradient():
    x = leaf([1.0, 2.0])
    c = striate.tensor([3.0, 4.0], dtype="float64")
    (x * c).sum().backward()
    assert c.grad is None


def test_indexing_and_slicing_gradients():
    a = np.arange(12.0).reshape(3, 4)
    x, xt = leaf(a), torch.tensor(a, requires_grad=True)
    idx = np.array([0, 2, 0])
    y = x[idx][:, 1:3] * 2 + x[1, 1:3]
    yt = xt[torch.tensor(idx)][:, 1:3] * 2 + xt[1, 1:3]
    gy = np.random.default_rng(0).standard_normal((3, 2))
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


def test_boolean_mask_indexing():
    x = leaf([-1.0, 2.0, -3.0, 4.0])
    y = x[x > 0]
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 1, 0, 1])


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


def test_python_scalars_keep_float32():
    x = striate.tensor(np.ones(3, np.float32), requires_grad=True)
    for y in (x + 1.5, 2.0 * x, x / 3, 1 - x, x ** 2, 2 ** x):
        assert y.dtype == np.float32
    assert striate.tensor([1.0, 2.0]).dtype == np.float32
    assert striate.tensor([1, 2]).dtype == np.int64
    assert striate.tensor(np.ones(2)).dtype == np.float64


def test_tensor_api_basics():
    t = striate.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.numel() == 4 and len(t) == 2
    assert t.sum().item() == 10.0
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(t.numpy(), np.ndarray)
    assert np.asarray(t).shape == (2, 2)
    assert (t > 2).dtype == np.bool_
    assert t.T.shape == (2, 2) and t.T[0, 1].item() == 3.0
    assert "requires_grad" in repr(striate.tensor([1.0], requires_grad=True))
    assert t.double().dtype == np.float64


def test_cast_is_differentiable():
    x = leaf([1.0, 2.0])
    y = x.float() * 3
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        striate.tensor([1, 2], requires_grad=True)


def test_setitem_refuses_a_tensor_that_requires_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 5.0
    with striate.no_grad():
        x[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_manual_seed_makes_random_ops_repeatable():
    striate.manual_seed(7)
    a = striate.randn(4, 5).numpy()
    striate.manual_seed(7)
    b = striate.randn(4, 5).numpy()
    np.testing.assert_array_equal(a, b)
    state = striate.get_rng_state()
    c = striate.rand(3).numpy()
    striate.set_rng_state(state)
    np.testing.assert_array_equal(c, striate.rand(3).numpy())
    with pytest.raises(TypeError, match="int seed"):
        striate.manual_seed(1.5)


def test_default_dtype_switch():
    striate.set_default_dtype("float64")
    try:
        assert striate.zeros(2).dtype == np.float64
        assert striate.tensor([1.0]).dtype == np.float64
    finally:
        striate.set_default_dtype("float32")
    with pytest.raises(TypeError, match="float32 or float64"):
        striate.set_default_dtype("int32")


def test_get_array_module_is_numpy_on_the_cpu():
    assert striate.get_array_module(np.ones(2)) is np
    assert striate.get_array_module(striate.ones(2), None) is np


def test_import_striate_does_not_import_torch():
    code = "import sys, striate, striate.functional; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---- bad input to the tensor algebra ---------------------------------------------------------
@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: F.matmul(striate.ones(2, 3), striate.ones(4, 2)), ValueError,
     r"matmul: inner dimensions differ"),
    (lambda: F.reshape(striate.ones(2, 3), (4, 2)), ValueError, r"reshape: cannot view"),
    (lambda: F.sum(striate.ones(2, 3), dim=2), ValueError, r"sum: dim 2 is out of range"),
    (lambda: F.mean(striate.tensor([1, 2])), TypeError, r"mean: input must be a floating"),
    (lambda: F.log(striate.tensor([1, 2])), TypeError, r"log: input must be a floating"),
    (lambda: F.max(striate.zeros(0)), ValueError, r"max: cannot reduce an empty tensor"),
    (lambda: F.cat([striate.ones(2, 3), striate.ones(3, 3)], dim=1), ValueError,
     r"cat: tensor 1 has shape \(3, 3\)"),
    (lambda: F.stack([striate.ones(2), striate.ones(3)]), ValueError, r"stack: tensor 1"),
    (lambda: F.split(striate.ones(4), [1, 2]), ValueError, r"split: sections \[1, 2\] sum to 3"),
    (lambda: F.permute(striate.ones(2, 3), (0, 0)), ValueError, "permute: dims"),
    (lambda: F.transpose(striate.ones(2, 3), 0, 3), ValueError, r"transpose: dim1=3"),
    (lambda: F.where(striate.ones(2), striate.ones(2), 0.0), TypeError,
     "where: condition must be a boolean"),
    (lambda: F.pad(striate.ones(1, 2, 3), (1, 1, 1)), ValueError, "pad: expected an even"),
    (lambda: F.pad(striate.ones(1, 2, 3), (3, 0), mode="reflect"), ValueError,
     r"pad: reflect padding must be smaller"),
    (lambda: F.pad(striate.ones(1, 2, 3), (-1, 0), mode="replicate"), ValueError,
     "non-negative"),
    (lambda: F.pad(striate.ones(1, 2, 3), (1, 0), mode="mirror"), ValueError,
     "pad: mode must be one of"),
    (lambda: F.clamp(striate.ones(2)), ValueError, "clamp: at least one"),
])
def test_algebra_errors_name_the_op_and_argument(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_empty_tensors_flow_through_sum_and_mean():
    x = leaf(np.zeros((0, 3)))
    y = x.sum(dim=0)
    np.testing.assert_array_equal(y.numpy(), np.zeros(3))
    y.backward(np.ones(3))
    assert x.grad.shape == (0, 3)
