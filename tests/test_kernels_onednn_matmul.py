"""The fully connected layer on both kernel paths — the readable reference and oneDNN's matmul.

On float32 NumPy arrays with the oneDNN kernels selected, ``Linear``'s three products (y = x W^T +
b, gx = gy W, gW = gy^T x) run on oneDNN. Each case runs forward and backward on each path against
``torch.nn.functional.linear`` (float32, to 1e-5 of the largest magnitude), the two paths against
each other, and checks with the matmul primitive cache's counters that the oneDNN path really ran
(or, for float64, that it did not). The wrapper :func:`striate.kernels.onednn.matmul` is checked
directly too: transposes, bias, ``out``, empty products and argument errors.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
import striate.kernels
from kernel_paths import PATHS, assert_close, needs_onednn
from striate.kernels import onednn

TF = torch.nn.functional


def matmul_calls() -> int:
    """Calls so far into the matmul primitive cache (0 without oneDNN)."""
    if not onednn.available():
        return 0
    info = onednn.matmul_cache_info()
    return info["hits"] + info["misses"]


def random(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def run_linear(x, w, b, gy):
    """Striate's y, gx, gW, gb (None where not computed) for NumPy inputs."""
    xs, ws = striate.tensor(x, requires_grad=True), striate.tensor(w, requires_grad=True)
    bs = None if b is None else striate.tensor(b, requires_grad=True)
    y = F.linear(xs, ws, bs)
    y.backward(gy)
    return (y.numpy(), xs.grad.numpy(), ws.grad.numpy(),
            None if bs is None else bs.grad.numpy())


def torch_linear(x, w, b, gy):
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    y = TF.linear(xt, wt, bt)
    y.backward(torch.tensor(gy))
    return y, xt.grad, wt.grad, None if bt is None else bt.grad


# (x shape, out features): a batch, LeNet-5's and the Fashion-MNIST CNN's layers, leading batch
# axes, a single vector, one feature in or out
CASES = [((16, 7), 5), ((128, 400), 120), ((128, 3136), 256), ((128, 64), 10),
         ((2, 3, 4, 9), 6), ((9,), 4), ((5, 1), 3), ((6, 8), 1)]


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("x_shape,out", CASES, ids=str)
def test_linear_matches_torch(x_shape, out, bias, kernels):
    x, w = random(x_shape, 0), random((out, x_shape[-1]), 1)
    b = random((out,), 2) if bias else None
    gy = random(x_shape[:-1] + (out,), 3)
    before = matmul_calls()
    ours = run_linear(x, w, b, gy)
    # oneDNN: forward, gx and gW, one call each; the reference: none
    assert matmul_calls() - before == (3 if kernels == "onednn" else 0)
    for name, a, r in zip(("y", "gx", "gW", "gb"), ours, torch_linear(x, w, b, gy)):
        if r is None:
            assert a is None
        else:
            assert a.dtype == np.float32, name
            assert_close(a, r, name)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("x_shape,out", CASES, ids=str)
def test_linear_paths_agree(x_shape, out, bias):
    x, w = random(x_shape, 4), random((out, x_shape[-1]), 5)
    b = random((out,), 6) if bias else None
    gy = random(x_shape[:-1] + (out,), 7)
    previous = striate.kernels.current()
    try:
        results = {}
        for path in ("reference", "onednn"):
            striate.kernels.use_kernels(path)
            results[path] = run_linear(x, w, b, gy)
    finally:
        striate.kernels.use_kernels(previous)
    for name, a, r in zip(("y", "gx", "gW", "gb"), results["onednn"], results["reference"]):
        if r is None:
            assert a is None
        else:
            assert_close(a, r, name)


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
def test_linear_non_contiguous_input(kernels):
    """A transposed (strided) input and weight, and a strided upstream gradient."""
    x = random((7, 12), 0).T                    # (12, 7), F-ordered
    w = random((7, 5), 1).T                     # (5, 7), F-ordered
    b = random((10,), 2)[::2]                   # (5,), stride 2
    gy = random((5, 12), 3).T                   # (12, 5), F-ordered
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    before = matmul_calls()
    ours = run_linear(x, w, b, gy)
    assert matmul_calls() - before == (3 if kernels == "onednn" else 0)
    for name, a, r in zip(("y", "gx", "gW", "gb"), ours,
                          torch_linear(x, np.ascontiguousarray(w), np.ascontiguousarray(b),
                                       np.ascontiguousarray(gy))):
        assert_close(a, r, name)
    assert ours[1].shape == x.shape


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
@pytest.mark.parametrize("x_shape", [(0, 4), (2, 0, 4)], ids=str)
def test_linear_empty_batch(x_shape, kernels):
    x, w, b = random(x_shape, 0), random((3, 4), 1), random((3,), 2)
    gy = np.zeros(x_shape[:-1] + (3,), np.float32)
    y, gx, gw, gb = run_linear(x, w, b, gy)
    assert y.shape == x_shape[:-1] + (3,) and gx.shape == x_shape
    np.testing.assert_array_equal(gw, np.zeros((3, 4), np.float32))
    np.testing.assert_array_equal(gb, np.zeros(3, np.float32))


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
def test_linear_only_requested_gradients(kernels):
    x, w, b = random((6, 4), 0), random((3, 4), 1), random((3,), 2)
    xs, ws = striate.tensor(x), striate.tensor(w, requires_grad=True)
    bs = striate.tensor(b)
    before = matmul_calls()
    F.linear(xs, ws, bs).backward(random((6, 3), 3))
    assert matmul_calls() - before == (2 if kernels == "onednn" else 0)  # forward and gW
    assert xs.grad is None and bs.grad is None
    assert_close(ws.grad.numpy(), random((6, 3), 3).T @ x, "gW")


@needs_onednn
def test_float64_stays_on_the_reference(on_onednn):
    x, w, b = (random((8, 5), 0, np.float64), random((3, 5), 1, np.float64),
               random((3,), 2, np.float64))
    gy = random((8, 3), 3, np.float64)
    before = matmul_calls()
    y, gx, gw, gb = run_linear(x, w, b, gy)
    assert matmul_calls() == before
    assert y.dtype == gx.dtype == gw.dtype == gb.dtype == np.float64
    np.testing.assert_allclose(y, x @ w.T + b, rtol=1e-12)
    np.testing.assert_allclose(gw, gy.T @ x, rtol=1e-12)


@needs_onednn
def test_onednn_linear_primitive_is_cached(on_onednn):
    """The second step with the same shapes reuses the three primitives of the first."""
    x, w, b = random((32, 20), 0), random((10, 20), 1), random((10,), 2)
    gy = random((32, 10), 3)
    run_linear(x, w, b, gy)
    info = onednn.matmul_cache_info()
    run_linear(x, w, b, gy)
    after = onednn.matmul_cache_info()
    assert after["misses"] == info["misses"]
    assert after["hits"] == info["hits"] + 3
    assert after["entries"] == info["entries"]


# ---------------------------------------------------------------------------------------------
# The wrapper itself
# ---------------------------------------------------------------------------------------------
@needs_onednn
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_matmul_transposes_and_bias(trans_a, trans_b, bias):
    m, k, n = 13, 17, 11
    a = random((k, m) if trans_a else (m, k), 0)
    b = random((n, k) if trans_b else (k, n), 1)
    c = random((n,), 2) if bias else None
    expected = ((a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
                + (0 if c is None else c))
    assert_close(onednn.matmul(a, b, c, trans_a=trans_a, trans_b=trans_b), expected, "C")
    name = onednn.matmul_implementation_name(a.shape, b.shape, trans_a, trans_b, bias)
    assert isinstance(name, str) and name


@needs_onednn
def test_matmul_writes_into_out():
    a, b = random((4, 3), 0), random((3, 5), 1)
    out = np.full((4, 5), np.nan, np.float32)
    assert onednn.matmul(a, b, out=out) is out
    assert_close(out, a @ b, "out")


@needs_onednn
@pytest.mark.parametrize("a_shape,b_shape", [((0, 3), (3, 4)), ((2, 0), (0, 4)),
                                             ((2, 3), (3, 0))], ids=str)
def test_matmul_empty_products(a_shape, b_shape):
    a, b = np.ones(a_shape, np.float32), np.ones(b_shape, np.float32)
    np.testing.assert_array_equal(onednn.matmul(a, b), np.zeros((a_shape[0], b_shape[1])))
    bias = np.arange(b_shape[1], dtype=np.float32)
    np.testing.assert_array_equal(onednn.matmul(a, b, bias),
                                  np.broadcast_to(bias, (a_shape[0], b_shape[1])))


@needs_onednn
def test_matmul_argument_errors():
    a, b = random((4, 3), 0), random((3, 5), 1)
    with pytest.raises(ValueError, match="matmul: op\\(a\\) is \\(4, 3\\) and op\\(b\\) is "
                                         "\\(5, 3\\): inner sizes differ"):
        onednn.matmul(a, b, trans_b=True)
    with pytest.raises(ValueError, match="matmul: a and b must be 2-D"):
        onednn.matmul(a[0], b)
    with pytest.raises(TypeError, match="matmul: a must be float32"):
        onednn.matmul(a.astype(np.float64), b)
    with pytest.raises(ValueError, match="matmul: b must be C-contiguous"):
        onednn.matmul(a, np.asfortranarray(b))
    with pytest.raises(ValueError, match=r"matmul: bias must have shape \(5,\)"):
        onednn.matmul(a, b, random((4,), 2))
    with pytest.raises(ValueError, match=r"matmul: out must have shape \(4, 5\)"):
        onednn.matmul(a, b, out=np.empty((5, 4), np.float32))


@needs_onednn
def test_small_product_leaves_the_thread_count_alone():
    """Small products run on one thread for that call only (SMALL_PRODUCT in _dnnl_matmul.c)."""
    before = onednn.get_num_threads()
    a, b = random((8, 4), 0), random((4, 3), 1)
    assert_close(onednn.matmul(a, b), a @ b, "C")
    assert onednn.get_num_threads() == before


@needs_onednn
def test_clear_cache_empties_the_matmul_cache():
    a, b = random((8, 4), 0), random((4, 3), 1)
    onednn.matmul(a, b)
    onednn.clear_cache()
    assert onednn.matmul_cache_info() == {"entries": 0, "hits": 0, "misses": 0}
    assert_close(onednn.matmul(a, b), a @ b, "C")
    assert onednn.matmul_cache_info()["misses"] == 1
