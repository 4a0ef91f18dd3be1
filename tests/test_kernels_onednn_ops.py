"""Batch normalisation and pooling on both kernel paths — the readable reference and oneDNN.

The fast kernels run on float32 inputs stored channels-last (as the convolutions leave them), so
every case here builds its input that way: an (N, C, *S) view of an (N, *S, C) array. Each case
runs forward and backward on each path against PyTorch (float32, to 1e-5 of the largest
magnitude), the two paths against each other, and checks with the primitive cache's counters that
the oneDNN path really ran (or, for the cases left to the reference, that it did not).
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


def channels_last(shape, seed=0, scale=1.0, offset=0.0, dtype=np.float32):
    """A random (N, C, *S) array stored channels-last (a view of an (N, *S, C) array)."""
    n, c, *s = shape
    a = np.random.default_rng(seed).standard_normal((n, *s, c)) * scale + offset
    return np.moveaxis(a.astype(dtype), -1, 1)


def ops_calls() -> int:
    """Calls so far into the batch-norm / pooling primitive cache (0 without oneDNN)."""
    if not onednn.available():
        return 0
    info = onednn.ops_cache_info()
    return info["hits"] + info["misses"]


# ---------------------------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------------------------
BN_SHAPES = [(16, 5), (8, 6, 9), (4, 16, 7, 6), (3, 4, 3, 5, 4), (128, 32, 3, 3)]


def run_batch_norm(shape, training, affine, seed=0):
    """Striate's and PyTorch's y, gx, g_gamma, g_beta and running statistics for one case."""
    c = shape[1]
    rng = np.random.default_rng(seed + 1)
    x = channels_last(shape, seed, scale=2.0, offset=0.5)
    gy = channels_last(shape, seed + 2)
    w = (rng.random(c) + 0.5).astype(np.float32) if affine else None
    b = rng.standard_normal(c).astype(np.float32) if affine else None
    mean0 = rng.standard_normal(c).astype(np.float32)
    var0 = (rng.random(c) + 0.5).astype(np.float32)

    xs = striate.Tensor(x, requires_grad=True)
    ws = None if w is None else striate.tensor(w, requires_grad=True)
    bs = None if b is None else striate.tensor(b, requires_grad=True)
    mean, var = mean0.copy(), var0.copy()
    y = F.batch_norm(xs, mean, var, ws, bs, training=training, momentum=0.3)
    y.backward(gy)

    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    wt = None if w is None else torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    mean_t, var_t = torch.tensor(mean0), torch.tensor(var0)
    yt = TF.batch_norm(xt, mean_t, var_t, wt, bt, training=training, momentum=0.3)
    yt.backward(torch.tensor(np.ascontiguousarray(gy)))

    ours = dict(y=y.numpy(), gx=xs.grad.numpy(), mean=mean, var=var)
    theirs = dict(y=yt, gx=xt.grad, mean=mean_t, var=var_t)
    if affine:
        ours.update(g_gamma=ws.grad.numpy(), g_beta=bs.grad.numpy())
        theirs.update(g_gamma=wt.grad, g_beta=bt.grad)
    return ours, theirs


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_on_each_kernel_path(shape, training, affine, kernels):
    before = ops_calls()
    ours, theirs = run_batch_norm(shape, training, affine)
    for name, value in theirs.items():
        assert_close(ours[name], value, name)
    fast = kernels == "onednn" and len(shape) > 2  # (N, C) stays on the reference
    assert (ops_calls() > before) == fast, "the oneDNN path was not taken as expected"


@needs_onednn
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", BN_SHAPES[1:], ids=str)
def test_batch_norm_paths_agree(shape, training):
    previous = striate.kernels.current()
    try:
        results = {}
        for path in ("reference", "onednn"):
            striate.kernels.use_kernels(path)
            results[path], _ = run_batch_norm(shape, training, affine=True, seed=3)
    finally:
        striate.kernels.use_kernels(previous)
    for name, value in results["reference"].items():
        assert_close(results["onednn"][name], value, name, tol=2e-6)


def is_channels_last(a) -> bool:
    return np.moveaxis(a, 1, -1).flags.c_contiguous


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_output_and_gradient_stay_channels_last(training, on_onednn):
    """y and gx leave the Function stored channels last, like the convolutions' (the leaf's
    ``.grad`` is autograd's C-order copy), even for a channels-first gy."""
    from striate.functional.normalization import BatchNorm, BatchNormInference
    x = channels_last((4, 8, 5, 6))
    w, b = np.ones(8, np.float32), np.zeros(8, np.float32)
    fn = (BatchNorm(1e-5) if training else
          BatchNormInference(np.zeros(8), np.ones(8), 1e-5))  # float64 statistics, cast
    fn.needs_input_grad = (True, True, True)
    y = fn.forward(x, w, b)
    assert fn.fast is onednn and is_channels_last(y)
    gx, g_gamma, g_beta = fn.backward(np.ones(y.shape, np.float32))  # C-order gy
    assert is_channels_last(gx) and g_gamma.shape == g_beta.shape == (8,)
    np.testing.assert_allclose(g_beta, x[:, 0].size)
    if training:
        np.testing.assert_allclose(gx, 0, atol=1e-5)  # d/dx of sum(x_hat) is 0


@pytest.mark.parametrize("case", ["float64", "channels-first", "no-spatial", "float64-gamma"])
def test_batch_norm_cases_left_to_the_reference(case, on_onednn):
    shape = (6, 4, 5, 5)
    x = channels_last(shape, dtype=np.float64 if case == "float64" else np.float32)
    if case == "channels-first":
        x = np.ascontiguousarray(x)
    if case == "no-spatial":
        x = np.ascontiguousarray(x[:, :, 0, 0])
    w = np.ones(4, np.float64 if case == "float64-gamma" else x.dtype)
    before = ops_calls()
    xs = striate.Tensor(x, requires_grad=True)
    y = F.batch_norm(xs, None, None, striate.tensor(w, requires_grad=True), None, training=True)
    y.backward(np.ones(y.shape, y.dtype))
    assert ops_calls() == before
    yt = TF.batch_norm(torch.tensor(np.ascontiguousarray(x), dtype=torch.float64), None, None,
                       torch.tensor(w, dtype=torch.float64), None, training=True)
    assert_close(y.numpy(), yt, "y", tol=1e-5)


def test_batch_norm_layer_trains_on_the_fast_path(on_onednn):
    """BatchNorm2d in train and eval mode after a convolution (whose output is channels-last):
    same outputs and running statistics as PyTorch's layer."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 9, 9)).astype(np.float32)
    w = (rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32)
    layer, layer_t = striate.nn.BatchNorm2d(6), torch.nn.BatchNorm2d(6)
    before = ops_calls()
    for step in range(3):
        h = F.conv2d(striate.tensor(x + step), striate.tensor(w), padding=1)
        ht = TF.conv2d(torch.tensor(x + step), torch.tensor(w), padding=1)
        assert_close(layer(h).numpy(), layer_t(ht), f"train step {step}")
    assert_close(layer.running_mean.numpy(), layer_t.running_mean, "running_mean", tol=1e-6)
    assert_close(layer.running_var.numpy(), layer_t.running_var, "running_var", tol=1e-6)
    layer.eval()
    layer_t.eval()
    assert_close(layer(h).numpy(), layer_t(ht), "eval")
    assert ops_calls() > before


@needs_onednn
def test_batch_norm_with_fused_relu_and_its_workspace():
    """relu=True: y = relu(batch norm) and a workspace, which the backward reads to mask gy;
    equal to batch norm, ReLU, ReLU backward, batch-norm backward one by one."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 7, 6, 8)).astype(np.float32)
    gamma = rng.uniform(0.5, 2, 8).astype(np.float32)
    beta = rng.standard_normal(8).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    y, mean, var, ws = onednn.batch_norm_forward(x, gamma, beta, relu=True)
    assert ws.dtype == np.uint8 and ws.size >= x.size // 8
    y0, mean0, var0 = onednn.batch_norm_forward(x, gamma, beta)
    np.testing.assert_array_equal(y, np.maximum(y0, 0))
    np.testing.assert_array_equal(mean, mean0)
    np.testing.assert_array_equal(var, var0)
    fused = onednn.batch_norm_backward(x, gy, mean, var, gamma, beta, relu_workspace=ws)
    plain = onednn.batch_norm_backward(x, gy * (y > 0), mean, var, gamma, beta)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="relu_workspace must be the uint8 workspace"):
        onednn.batch_norm_backward(x, gy, mean, var, gamma, beta, relu_workspace=ws[:2])
    with pytest.raises(ValueError, match="comes from a training forward"):
        onednn.batch_norm_backward(x, gy, mean, var, gamma, beta, global_stats=True,
                                   relu_workspace=ws)
    y_eval, _, _ = onednn.batch_norm_forward(x, gamma, beta, mean=mean, var=var, relu=True)
    np.testing.assert_array_equal(y_eval, np.maximum(
        onednn.batch_norm_forward(x, gamma, beta, mean=mean, var=var)[0], 0))


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------
# (name, shape, kwargs): max_pool{d}d / avg_pool{d}d arguments
POOL_CASES = [
    ("max", (4, 6, 28, 28), dict(kernel_size=2, stride=2)),             # LeNet
    ("max", (4, 16, 10, 10), dict(kernel_size=2)),
    ("max", (3, 5, 13, 13), dict(kernel_size=3, stride=2)),             # overlapping (AlexNet)
    ("max", (3, 5, 13, 12), dict(kernel_size=3, stride=2, padding=1)),
    ("max", (2, 4, 9, 10), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("max", (2, 4, 10, 9), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                                ceil_mode=True)),
    ("max", (3, 7, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max", (2, 3, 5, 6, 7), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("avg", (4, 6, 28, 28), dict(kernel_size=2, stride=2)),
    ("avg", (3, 5, 13, 13), dict(kernel_size=3, stride=2, padding=1)),
    ("avg", (3, 5, 13, 13), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", (2, 4, 11, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg", (2, 4, 9, 10), dict(kernel_size=3, stride=2, ceil_mode=True,
                                count_include_pad=False)),
    ("avg", (3, 7, 11), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", (2, 3, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                  count_include_pad=False)),
]


def _pool_id(case):
    kind, shape, kwargs = case
    return f"{kind}{len(shape) - 2}d-{shape}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


def run_pool(kind, shape, kwargs, x=None):
    d = len(shape) - 2
    x = channels_last(shape) if x is None else x
    gy_seed = np.random.default_rng(5)
    xs = striate.Tensor(x, requires_grad=True)
    y = getattr(F, f"{kind}_pool{d}d")(xs, **kwargs)
    gy = np.moveaxis(gy_seed.standard_normal(y.shape[:1] + y.shape[2:] + y.shape[1:2])
                     .astype(np.float32), -1, 1)
    y.backward(gy)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    yt = getattr(TF, f"{kind}_pool{d}d")(xt, **kwargs)
    yt.backward(torch.tensor(np.ascontiguousarray(gy)))
    return (y.numpy(), xs.grad.numpy()), (yt, xt.grad)


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_id)
def test_pooling_on_each_kernel_path(case, kernels):
    kind, shape, kwargs = case
    before = ops_calls()
    (y, gx), (yt, gxt) = run_pool(kind, shape, kwargs)
    assert_close(y, yt, "y")
    assert_close(gx, gxt, "gx")
    assert (ops_calls() > before) == (kernels == "onednn")
    if kernels == "onednn":
        assert is_channels_last(y)  # stored channels last, like the convolutions' output


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_gradient_stays_channels_last(kind, on_onednn):
    from striate.functional.pooling import AvgPool, MaxPool, make_windows
    x = channels_last((2, 5, 8, 8))
    w = make_windows("test", striate.Tensor(x), 2, 3, 2, 1, 1, True)
    fn = MaxPool(w) if kind == "max" else AvgPool(w, count_include_pad=False)
    fn.needs_input_grad = (True,)
    y = fn.forward(x)
    gx = fn.backward(np.ones(y.shape, np.float32))  # C-order gy
    assert fn.fast is onednn and is_channels_last(y) and is_channels_last(gx)


@needs_onednn
@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_id)
def test_pooling_paths_agree(case):
    kind, shape, kwargs = case
    previous = striate.kernels.current()
    try:
        out = {}
        for path in ("reference", "onednn"):
            striate.kernels.use_kernels(path)
            out[path], _ = run_pool(kind, shape, kwargs)
    finally:
        striate.kernels.use_kernels(previous)
    for a, b, name in zip(out["onednn"], out["reference"], ("y", "gx")):
        assert_close(a, b, name, tol=1e-6)


def test_max_pooling_ties_go_to_the_first_maximum(on_onednn):
    x = np.zeros((2, 3, 3, 16), np.float32)  # every window a tie, overlapping windows
    before = ops_calls()
    (y, gx), (yt, gxt) = run_pool("max", (2, 16, 3, 3), dict(kernel_size=2, stride=1),
                                  x=np.moveaxis(x, -1, 1))
    np.testing.assert_array_equal(gx, gxt.numpy())
    assert ops_calls() > before


@pytest.mark.parametrize("special", ["nan", "-inf window"])
def test_max_pooling_follows_torch_on_nan_and_minus_inf(special, on_onednn):
    x = channels_last((2, 16, 6, 6))
    if special == "nan":
        x[0, 3, 1, 1] = np.nan
        x[1, :, 4, :] = np.nan
    else:
        x[0, 2, :2, :2] = -np.inf
    (y, gx), (yt, gxt) = run_pool("max", x.shape, dict(kernel_size=2, stride=2), x=x)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(gx, gxt.numpy())


@pytest.mark.parametrize("case", [
    ("float64", "max", dict(kernel_size=2)),
    ("channels-first", "max", dict(kernel_size=2)),
    ("channels-first", "avg", dict(kernel_size=2)),
    ("unbatched", "max", dict(kernel_size=2)),
    ("return_indices", "max", dict(kernel_size=2, return_indices=True)),
    ("dilation", "max", dict(kernel_size=3, stride=1, padding=1, dilation=2)),
    ("divisor_override", "avg", dict(kernel_size=2, divisor_override=3)),
    ("include-pad ceil overhang", "avg", dict(kernel_size=3, stride=2, padding=1,
                                              ceil_mode=True)),
], ids=lambda case: f"{case[0]}-{case[1]}")
def test_pooling_cases_left_to_the_reference(case, on_onednn):
    what, kind, kwargs = case
    x = channels_last((2, 4, 8, 8), dtype=np.float64 if what == "float64" else np.float32)
    if what == "channels-first":
        x = np.ascontiguousarray(x)
    if what == "unbatched":
        x = x[0]
    before = ops_calls()
    xs = striate.Tensor(x, requires_grad=True)
    out = getattr(F, f"{kind}_pool2d")(xs, **kwargs)
    y = out[0] if kwargs.get("return_indices") else out
    y.backward(np.ones(y.shape, y.dtype))
    assert ops_calls() == before
    out_t = getattr(TF, f"{kind}_pool2d")(torch.tensor(np.ascontiguousarray(x)), **kwargs)
    yt = out_t[0] if kwargs.get("return_indices") else out_t
    assert_close(y.numpy(), yt, "y")


def test_lenet_block_runs_on_onednn_throughout(on_onednn):
    """conv -> relu -> max pool -> conv -> batch norm: channels-last from end to end."""
    rng = np.random.default_rng(0)
    x = striate.tensor(rng.standard_normal((4, 1, 12, 12)).astype(np.float32))
    w1 = striate.tensor(rng.standard_normal((6, 1, 5, 5)).astype(np.float32), requires_grad=True)
    w2 = striate.tensor(rng.standard_normal((16, 6, 3, 3)).astype(np.float32),
                        requires_grad=True)
    before = ops_calls()
    h = F.max_pool2d(F.relu(F.conv2d(x, w1)), 2)
    h = F.batch_norm(F.conv2d(h, w2), None, None, training=True)
    h.sum().backward()
    xt = torch.tensor(x.numpy())
    w1t = torch.tensor(w1.numpy(), requires_grad=True)
    w2t = torch.tensor(w2.numpy(), requires_grad=True)
    ht = TF.max_pool2d(TF.relu(TF.conv2d(xt, w1t)), 2)
    ht = TF.batch_norm(TF.conv2d(ht, w2t), None, None, training=True)
    ht.sum().backward()
    assert_close(h.numpy(), ht, "y")
    assert_close(w1.grad.numpy(), w1t.grad, "gw1", tol=1e-4)  # sum of x_hat: gradients ~ 0
    assert ops_calls() >= before + 4  # BN forward + backward, pool forward + backward


# ---------------------------------------------------------------------------------------------
# The wrappers' own checks
# ---------------------------------------------------------------------------------------------
@needs_onednn
def test_wrappers_reject_bad_arguments():
    x = np.zeros((2, 5, 5, 3), np.float32)
    with pytest.raises(TypeError, match="float32"):
        onednn.batch_norm_forward(x.astype(np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        onednn.batch_norm_forward(np.moveaxis(x, -1, 1))
    with pytest.raises(ValueError, match="shape"):
        onednn.batch_norm_forward(x, gamma=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="both mean and var"):
        onednn.batch_norm_forward(x, mean=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="workspace"):
        onednn.pool_backward(np.zeros((2, 2, 2, 3), np.float32), x.shape, 2)
    with pytest.raises(ValueError, match="algorithm"):
        onednn.pool_forward(x, 2, algorithm="median")
    with pytest.raises(ValueError, match="smaller than"):
        onednn.pool_forward(x, 2, padding_l=2)
    with pytest.raises(ValueError, match="shape"):
        onednn.pool_backward(np.zeros((2, 3, 3, 3), np.float32), x.shape, 2,
                             algorithm="avg_include_padding")


@needs_onednn
def test_wrappers_report_implementations_and_cache():
    assert onednn.pool_output_shape((2, 9, 10, 3), 3, 2, 0, 1) == (2, 4, 5, 3)
    assert "ref" not in onednn.pool_implementation_name("forward_training", (8, 12, 12, 16), 2)
    assert "ref" not in onednn.batch_norm_implementation_name("backward", (8, 12, 12, 16))
    before = onednn.ops_cache_info()
    x = np.random.default_rng(0).standard_normal((8, 12, 12, 16)).astype(np.float32)
    y, ws = onednn.pool_forward(x, 2, training=True)
    onednn.pool_forward(x, 2, training=True)
    after = onednn.ops_cache_info()
    assert after["hits"] >= before["hits"] + 1
    assert ws.dtype == np.uint8 and y.shape == (8, 6, 6, 16)
