"""Residual blocks and the Inception module against torch twins with torchvision's names.

torchvision is not installed, so the twins are written here from torchvision's layout
(``models/resnet.py``, ``models/googlenet.py``): same attribute names, same order, same maths.
A block's state_dict must then load into its twin as is, and forward, backward and the batch
norms' running statistics must agree in training and in evaluation.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import striate
from striate.nn.blocks import (BasicBlock, BasicConv2d, Bottleneck, Inception, InceptionAux,
                               ZeroPadShortcut)
from striate.nn.conv import Conv2d
from striate.nn.module import Sequential
from striate.nn.normalization import BatchNorm2d

tnn = torch.nn
TF = torch.nn.functional


# ---------------------------------------------------------------------------------------------
# Torch twins, torchvision's layout
# ---------------------------------------------------------------------------------------------
def t_conv3x3(cin, cout, stride=1, groups=1):
    return tnn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=False)


def t_conv1x1(cin, cout, stride=1):
    return tnn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class TZeroPad(tnn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return TF.pad(x, (0, 0, 0, 0, 0, self.cout - self.cin))


def t_downsample(cin, cout, stride, shortcut):
    if shortcut == "none" or (stride == 1 and cin == cout):
        return None
    if shortcut == "identity":
        return TZeroPad(cin, cout, stride)
    return tnn.Sequential(t_conv1x1(cin, cout, stride), tnn.BatchNorm2d(cout))


class TBasicBlock(tnn.Module):
    def __init__(self, inplanes, planes, stride=1, shortcut="projection"):
        super().__init__()
        self.conv1 = t_conv3x3(inplanes, planes, stride)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = t_conv3x3(planes, planes)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = t_downsample(inplanes, planes, stride, shortcut)
        self.shortcut = shortcut

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut != "none":
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class TBottleneck(tnn.Module):
    def __init__(self, inplanes, planes, stride=1, shortcut="projection", groups=1,
                 base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = t_conv1x1(inplanes, width)
        self.bn1 = tnn.BatchNorm2d(width)
        self.conv2 = t_conv3x3(width, width, stride, groups)
        self.bn2 = tnn.BatchNorm2d(width)
        self.conv3 = t_conv1x1(width, planes * 4)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = t_downsample(inplanes, planes * 4, stride, shortcut)
        self.shortcut = shortcut

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut != "none":
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class TBasicConv2d(tnn.Module):
    def __init__(self, cin, cout, batch_norm=True, **kwargs):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=not batch_norm, **kwargs)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001) if batch_norm else None

    def forward(self, x):
        x = self.conv(x)
        return TF.relu(x if self.bn is None else self.bn(x))


class TInception(tnn.Module):
    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, k=5, bn=True):
        super().__init__()
        self.branch1 = TBasicConv2d(cin, ch1x1, bn, kernel_size=1)
        self.branch2 = tnn.Sequential(TBasicConv2d(cin, ch3x3red, bn, kernel_size=1),
                                      TBasicConv2d(ch3x3red, ch3x3, bn, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(TBasicConv2d(cin, ch5x5red, bn, kernel_size=1),
                                      TBasicConv2d(ch5x5red, ch5x5, bn, kernel_size=k,
                                                   padding=k // 2))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                      TBasicConv2d(cin, pool_proj, bn, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TInceptionAux(tnn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.conv = TBasicConv2d(cin, 128, kernel_size=1)
        self.fc1 = tnn.Linear(2048, 1024)
        self.fc2 = tnn.Linear(1024, num_classes)
        self.dropout = tnn.Dropout(p=0.7)

    def forward(self, x):
        x = torch.flatten(self.conv(TF.adaptive_avg_pool2d(x, (4, 4))), 1)
        return self.fc2(self.dropout(TF.relu(self.fc1(x))))


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
def _randomise(module: tnn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if name.endswith("weight") and
                                                          p.ndim > 1 else 0.5) + (
                1.0 if p.ndim == 1 and name.endswith("weight") else 0.0))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def _check_twins(ours, theirs, shape, train=True, rtol=1e-4, atol=1e-4):
    """Same keys and shapes; load theirs into ours; forward, backward and buffers agree."""
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    assert all(sd[k].shape == tuple(tsd[k].shape) for k in sd)
    _randomise(theirs)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.train(train)
    theirs.train(train)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xs, xt = striate.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xs), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), rtol=rtol,
                                   atol=10 * atol, err_msg=name)
    tsd = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, tsd[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    return y


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("inp, planes, stride, shortcut", [
    (4, 4, 1, "projection"), (4, 8, 2, "projection"), (4, 8, 1, "projection"),
    (4, 8, 2, "identity"), (4, 4, 1, "none"), (4, 8, 2, "none"),
])
def test_basic_block_equals_torchvision_layout(inp, planes, stride, shortcut, train):
    torch.manual_seed(0)
    ours = BasicBlock(inp, planes, stride, shortcut=shortcut)
    y = _check_twins(ours, TBasicBlock(inp, planes, stride, shortcut), (2, inp, 6, 5), train)
    assert y.shape == (2, planes, -(-6 // stride), -(-5 // stride))


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("inp, planes, stride, shortcut, groups, base_width", [
    (16, 4, 1, "projection", 1, 64), (8, 4, 2, "projection", 1, 64),
    (16, 4, 1, "none", 1, 64), (8, 4, 2, "identity", 1, 64), (8, 4, 2, "projection", 2, 32),
])
def test_bottleneck_equals_torchvision_layout(inp, planes, stride, shortcut, groups, base_width,
                                              train):
    torch.manual_seed(0)
    ours = Bottleneck(inp, planes, stride, shortcut=shortcut, groups=groups,
                      base_width=base_width)
    theirs = TBottleneck(inp, planes, stride, shortcut, groups, base_width)
    y = _check_twins(ours, theirs, (2, inp, 5, 5), train)
    assert y.shape[1] == planes * 4


def test_block_state_dict_keys_are_torchvisions():
    keys = list(BasicBlock(64, 128, 2).state_dict())
    assert keys[:2] == ["conv1.weight", "bn1.weight"]
    assert "downsample.0.weight" in keys and "downsample.1.running_var" in keys
    assert "conv1.bias" not in keys  # the batch norm carries the shift
    keys = list(Bottleneck(256, 64).state_dict())
    assert [k for k in keys if k.endswith("conv3.weight")] == ["conv3.weight"]
    assert not any(k.startswith("downsample") for k in keys)  # 256 -> 64*4: identity
    assert Bottleneck(64, 64).conv3.weight.shape == (256, 64, 1, 1)


def test_identity_block_adds_the_input_and_plain_block_does_not():
    striate.manual_seed(0)
    block = BasicBlock(3, 3, shortcut="projection")
    plain = BasicBlock(3, 3, shortcut="none")
    plain.load_state_dict(block.state_dict())
    # Zero the residual branch's last scale: the block then passes relu(x), the plain one 0.
    block.bn2.weight.data[...] = 0
    block.bn2.bias.data[...] = 0
    plain.load_state_dict(block.state_dict())
    x = striate.randn(2, 3, 4, 4)
    np.testing.assert_allclose(block(x).numpy(), np.maximum(x.numpy(), 0))
    np.testing.assert_allclose(plain(x).numpy(), 0)


def test_zero_pad_shortcut_and_explicit_downsample():
    x = striate.randn(2, 3, 5, 5)
    y = ZeroPadShortcut(3, 5, stride=2)(x).numpy()
    np.testing.assert_array_equal(y[:, :3], x.numpy()[:, :, ::2, ::2])
    np.testing.assert_array_equal(y[:, 3:], 0)
    down = Sequential(Conv2d(3, 6, 1, stride=2, bias=False), BatchNorm2d(6))
    block = BasicBlock(3, 6, 2, downsample=down)
    assert block.downsample is down and block(x).shape == (2, 6, 3, 3)
    with pytest.raises(ValueError, match="BasicBlock: shortcut must be one of"):
        BasicBlock(3, 3, shortcut="option-c")
    with pytest.raises(ValueError, match="Bottleneck: shortcut='none' .* takes no downsample"):
        Bottleneck(3, 3, shortcut="none", downsample=down)
    with pytest.raises(ValueError, match="ZeroPadShortcut: out_planes"):
        ZeroPadShortcut(4, 2)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("k, bn", [(5, True), (3, True), (5, False)],
                         ids=["paper-5x5", "torchvision-3x3", "paper-no-bn"])
def test_inception_equals_torch_twin(k, bn, train):
    torch.manual_seed(0)
    widths = (6, 4, 3, 5, 2, 3, 2)
    ours = Inception(*widths, branch3_kernel_size=k, batch_norm=bn)
    y = _check_twins(ours, TInception(*widths, k=k, bn=bn), (2, 6, 5, 6), train)
    assert ours.out_channels == 4 + 5 + 3 + 2 == y.shape[1]
    assert y.shape == (2, 14, 5, 6)


def test_inception_names_and_sizes_match_torchvision():
    block = Inception(192, 64, 96, 128, 16, 32, 32, branch3_kernel_size=3)  # inception (3a)
    keys = list(block.state_dict())
    assert keys[:3] == ["branch1.conv.weight", "branch1.bn.weight", "branch1.bn.bias"]
    assert "branch2.1.conv.weight" in keys and "branch4.1.bn.num_batches_tracked" in keys
    assert block.branch3[1].conv.weight.shape == (32, 16, 3, 3)
    assert Inception(192, 64, 96, 128, 16, 32, 32).branch3[1].conv.weight.shape == (32, 16, 5, 5)
    assert block.branch1.bn.eps == 0.001 and block.out_channels == 256
    assert repr(block.branch4[0]) == repr(tnn.MaxPool2d(3, 1, 1, ceil_mode=True))
    with pytest.raises(ValueError, match="Inception: branch3_kernel_size must be 5"):
        Inception(4, 1, 1, 1, 1, 1, 1, branch3_kernel_size=7)


def test_inception_aux_equals_torch_twin_in_eval():
    torch.manual_seed(0)
    ours = InceptionAux(8, 5)
    _check_twins(ours, TInceptionAux(8, 5), (2, 8, 14, 14), train=False)
    assert isinstance(ours.conv, BasicConv2d)
    ours.train()
    assert ours(striate.randn(2, 8, 14, 14)).shape == (2, 5)
