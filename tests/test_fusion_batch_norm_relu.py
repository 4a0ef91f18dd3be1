"""Batch norm + ReLU in training as one oneDNN op (``F.batch_norm_relu``, ``BatchNormReLU``).

Checked: the fused op gives what batch norm then ReLU give on the oneDNN kernels (bit for bit on
2-D data with oneDNN 2.6, within a float32 rounding on 3-D), on the reference kernels and in
PyTorch (float64), forward, backward and running statistics; NaN in an input, gamma or beta comes out as the unfused ops give
it; the guided and deconvnet ReLU rules hold; ``nn.Sequential``, the residual blocks and
GoogLeNet's BasicConv2d fuse exactly when they may (no hooks on either module, fusion on, no op
observer, training mode); a ResNet-20 training step matches the unfused one.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch

import striate
import striate.functional as F
import striate.kernels
from kernel_paths import fusion_off, needs_onednn, reference_kernels
from striate import autograd, models, nn, optim
from striate.functional import fusion
from striate.functional.normalization import BatchNormReLU

pytestmark = needs_onednn


def channels_last_tensor(shape, seed=0, requires_grad=True):
    """An (N, C, *S) float32 tensor stored channels last, as oneDNN's convolutions leave it."""
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    stored = np.ascontiguousarray(np.moveaxis(a, 1, -1))
    return striate.tensor(np.moveaxis(stored, -1, 1), requires_grad=requires_grad)


def run(op, x, gamma, beta, gy, **kwargs):
    """Output, input/parameter gradients and running statistics of op on copies of the inputs."""
    xs = striate.tensor(x.data.copy(), requires_grad=True)
    xs.data = np.moveaxis(np.ascontiguousarray(np.moveaxis(x.data, 1, -1)), -1, 1)
    g = striate.tensor(gamma.copy(), requires_grad=True)
    b = striate.tensor(beta.copy(), requires_grad=True)
    mean, var = np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32)
    y = op(xs, mean, var, g, b, training=True, **kwargs)
    (y * striate.tensor(gy)).sum().backward()
    return y, [y.numpy(), xs.grad.numpy(), g.grad.numpy(), b.grad.numpy(), mean, var]


def unfused(x, mean, var, g, b, **kwargs):
    return F.relu(F.batch_norm(x, mean, var, g, b, **kwargs))


def assert_close(a, b, tol):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    scale = max(float(np.abs(b).max()), 1.0)
    assert float(np.abs(a - b).max()) <= tol * scale, (float(np.abs(a - b).max()), scale)


@pytest.mark.parametrize("shape", [(16, 8, 6, 5), (32, 16, 12, 12), (8, 4, 3, 5, 2), (64, 12)])
def test_equals_batch_norm_then_relu_and_pytorch(shape):
    rng = np.random.default_rng(1)
    x = channels_last_tensor(shape)
    gamma = rng.uniform(0.5, 1.5, shape[1]).astype(np.float32)
    beta = rng.standard_normal(shape[1]).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    y, fused = run(F.batch_norm_relu, x, gamma, beta, gy)
    # (N, C) batch norm stays on the reference kernels (faster there): nothing to fuse
    assert isinstance(y.grad_fn, BatchNormReLU) == (len(shape) > 2)
    _, plain = run(unfused, x, gamma, beta, gy)
    for a, b in zip(fused, plain):  # bit for bit on 2-D data; one rounding apart on 3-D
        assert_close(a, b, 1e-6)
    with reference_kernels():
        _, ref = run(unfused, x, gamma, beta, gy)
    for a, b in zip(fused, ref):
        assert_close(a, b, 1e-5)

    xt = torch.tensor(x.data, dtype=torch.float64, requires_grad=True)
    gt = torch.tensor(gamma, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    mt, vt = torch.zeros(shape[1], dtype=torch.float64), torch.ones(shape[1], dtype=torch.float64)
    yt = torch.relu(torch.nn.functional.batch_norm(xt, mt, vt, gt, bt, training=True))
    (yt * torch.tensor(gy, dtype=torch.float64)).sum().backward()
    for a, b in zip(fused, [yt, xt.grad, gt.grad, bt.grad, mt, vt]):
        assert_close(a, b, 1e-5)


@pytest.mark.parametrize("where", ["input", "gamma", "beta"])
def test_nan_comes_out_as_the_unfused_ops_give_it(where):
    shape = (8, 4, 5, 5)
    x = channels_last_tensor(shape)
    gamma, beta = np.ones(4, np.float32), np.zeros(4, np.float32)
    if where == "input":
        x.data[2, 1, 3, 3] = np.nan
    elif where == "gamma":
        gamma[2] = np.nan
    else:
        beta[3] = np.nan
    gy = np.ones(shape, np.float32)
    _, fused = run(F.batch_norm_relu, x, gamma, beta, gy)
    _, plain = run(unfused, x, gamma, beta, gy)
    assert np.isnan(fused[0]).any()
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)  # NaN in the same places (assert_array_equal: NaN == NaN)


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_the_relu_backward_rules_apply(rule):
    shape = (16, 6, 7, 7)
    x = channels_last_tensor(shape)
    gamma, beta = np.ones(6, np.float32), np.full(6, 0.1, np.float32)
    gy = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    with F.relu_backward_rule(rule):
        _, fused = run(F.batch_norm_relu, x, gamma, beta, gy)
        _, plain = run(unfused, x, gamma, beta, gy)
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)


def fused_ops(model, x):
    """How many BatchNormReLU ops a training forward of model records."""
    out = model(x)
    count, seen, stack = 0, set(), [out]
    while stack:
        t = stack.pop()
        if id(t) in seen or t.grad_fn is None:
            continue
        seen.add(id(t))
        count += isinstance(t.grad_fn, BatchNormReLU)
        stack.extend(i for i in t.grad_fn.inputs if i is not None)
    return count


def test_sequential_blocks_and_basic_conv_fuse_exactly_when_they_may():
    x = channels_last_tensor((4, 3, 8, 8), requires_grad=False)
    seq = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Tanh())
    assert fused_ops(seq, x) == 1
    with fusion_off():
        assert fused_ops(seq, x) == 0
    seen = []
    handle = seq[2].register_forward_hook(lambda m, i, o: seen.append(o.numpy().min()))
    assert fused_ops(seq, x) == 0 and seen == [0.0]  # the hook sees the ReLU's own output
    handle.remove()
    handle = seq[1].register_forward_pre_hook(lambda m, i: None)
    assert fused_ops(seq, x) == 0
    handle.remove()
    with autograd.observe_ops(lambda fn, inputs, out: None):
        assert fused_ops(seq, x) == 0
    seq.eval()
    assert fused_ops(seq, x) == 0
    with reference_kernels():
        seq.train()
        assert fused_ops(seq, x) == 0

    block = nn.BasicBlock(8, 8)
    assert fused_ops(block, channels_last_tensor((4, 8, 8, 8), requires_grad=False)) == 1
    basic = nn.blocks.BasicConv2d(3, 8, kernel_size=3, padding=1)
    assert fused_ops(basic, x) == 1
    resnet = models.create("resnet20")
    assert fused_ops(resnet, striate.tensor(np.zeros((4, 1, 28, 28), np.float32))) == 10


def test_a_resnet20_training_step_equals_the_unfused_one():
    x = np.random.default_rng(0).standard_normal((16, 1, 28, 28)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 10, 16)
    results = []
    for on in (True, False):
        fusion.enabled(on)
        try:
            striate.manual_seed(0)
            model = models.create("resnet20")
            opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            for _ in range(2):
                loss = F.cross_entropy(model(striate.tensor(x)), striate.tensor(y))
                opt.zero_grad()
                loss.backward()
                opt.step()
            results.append([float(loss.item())] + [p.data.copy() for p in model.parameters()]
                           + [b.data.copy() for b in model.buffers()])
        finally:
            fusion.enabled(True)
    fused, plain = results
    assert abs(fused[0] - plain[0]) <= 1e-6 * abs(plain[0])
    for a, b in zip(fused[1:], plain[1:]):
        assert_close(a, b, 1e-5)
