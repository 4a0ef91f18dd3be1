"""Layer classes against torch.nn: names, shapes, default init, forward, backward, modes, reprs.

One table drives the generic checks: every row builds a Striate layer and its PyTorch twin (the
torch.nn class of the same name, or a small torch module written here for the layers PyTorch
lacks). The torch twin's parameters are randomised, its state_dict is loaded into the Striate
layer, and both run the same input; outputs, input gradients and parameter gradients (under a
random upstream gradient) must agree, and so must the state_dict after the pass (running stats).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
from striate.nn.activation import (ELU, SELU, LeakyReLU, LeCunTanh, LogSoftmax, ReLU, Sigmoid,
                                   Softmax, Tanh)
from striate.nn.conv import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d,
                             ConvTranspose3d, DeformConv2d)
from striate.nn.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d
from striate.nn.linear import Flatten, Identity, Linear, RBFOutput, conv2d_from_linear
from striate.nn.losses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, MSELoss,
                               NLLLoss)
from striate.nn.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, LocalResponseNorm
from striate.nn.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
                                AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
                                AvgPool1d, AvgPool2d, AvgPool3d, FractionalMaxPool2d,
                                GlobalAvgPool2d, GlobalMaxPool2d, LPPool1d, LPPool2d, LPPool3d,
                                MaxPool1d, MaxPool2d, MaxPool3d, SpatialPyramidPool2d,
                                StochasticPool2d, Subsampling2d)

tnn = torch.nn
TF = torch.nn.functional


# ---------------------------------------------------------------------------------------------
# Torch twins of the layers PyTorch does not have
# ---------------------------------------------------------------------------------------------
class TorchSubsampling(tnn.Module):
    def __init__(self, channels, k=2):
        super().__init__()
        self.k = k
        self.weight = tnn.Parameter(torch.rand(channels))
        self.bias = tnn.Parameter(torch.rand(channels))

    def forward(self, x):
        sums = TF.avg_pool2d(x, self.k) * self.k ** 2
        return sums * self.weight[:, None, None] + self.bias[:, None, None]


class TorchRBF(tnn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = tnn.Parameter(torch.randn(n_out, n_in))

    def forward(self, x):
        return ((x[:, None, :] - self.weight[None]) ** 2).sum(-1)


class TorchFn(tnn.Module):
    """A parameter-free twin given as a function."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def torch_lecun_tanh(x):
    return 1.7159 * torch.tanh(2 * x / 3)


def torch_spp(x, levels=(1, 2, 3)):
    return torch.cat([TF.adaptive_max_pool2d(x, n).flatten(1) for n in levels], 1)


def torch_stochastic_eval(x, k=2):
    return TF.avg_pool2d(x * x, k) / TF.avg_pool2d(x, k)


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
@dataclass
class LayerCase:
    name: str
    ours: Callable
    theirs: Callable
    shape: tuple
    positive: bool = False
    train: bool = True
    same_repr: bool = True  # the torch twin is the torch.nn class of the same name
    atol: float = 1e-5


def _frac_samples():
    return np.random.default_rng(7).random((2, 3, 2)).astype(np.float32)


CASES = [
    LayerCase("conv1d", lambda: Conv1d(3, 4, 3, stride=2, padding=1),
              lambda: tnn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 9)),
    LayerCase("conv1d-circular", lambda: Conv1d(3, 4, 3, padding=2, padding_mode="circular"),
              lambda: tnn.Conv1d(3, 4, 3, padding=2, padding_mode="circular"), (2, 3, 7)),
    LayerCase("conv2d", lambda: Conv2d(3, 4, 3), lambda: tnn.Conv2d(3, 4, 3), (2, 3, 6, 7)),
    LayerCase("conv2d-groups-nobias",
              lambda: Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False),
              lambda: tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False),
              (2, 4, 7, 6)),
    LayerCase("conv2d-same-reflect", lambda: Conv2d(3, 4, (3, 2), padding="same",
                                                    padding_mode="reflect"),
              lambda: tnn.Conv2d(3, 4, (3, 2), padding="same", padding_mode="reflect"),
              (2, 3, 5, 6)),
    LayerCase("conv2d-valid-dilated-replicate",
              lambda: Conv2d(2, 3, 3, padding=(1, 2), dilation=2, padding_mode="replicate"),
              lambda: tnn.Conv2d(2, 3, 3, padding=(1, 2), dilation=2, padding_mode="replicate"),
              (2, 2, 7, 7)),
    LayerCase("conv2d-valid-string", lambda: Conv2d(2, 3, 3, padding="valid"),
              lambda: tnn.Conv2d(2, 3, 3, padding="valid"), (1, 2, 5, 5)),
    LayerCase("conv3d", lambda: Conv3d(2, 3, 3, padding=1, stride=(1, 2, 1)),
              lambda: tnn.Conv3d(2, 3, 3, padding=1, stride=(1, 2, 1)), (2, 2, 4, 5, 4)),
    LayerCase("conv_transpose1d", lambda: ConvTranspose1d(3, 4, 3, stride=2),
              lambda: tnn.ConvTranspose1d(3, 4, 3, stride=2), (2, 3, 5)),
    LayerCase("conv_transpose2d",
              lambda: ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
              lambda: tnn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                          groups=2), (2, 4, 4, 3)),
    LayerCase("conv_transpose2d-dilated-nobias",
              lambda: ConvTranspose2d(3, 2, 2, dilation=2, bias=False),
              lambda: tnn.ConvTranspose2d(3, 2, 2, dilation=2, bias=False), (1, 3, 4, 4)),
    LayerCase("conv_transpose3d", lambda: ConvTranspose3d(2, 3, 2, stride=2),
              lambda: tnn.ConvTranspose3d(2, 3, 2, stride=2), (1, 2, 3, 2, 3)),
    LayerCase("linear", lambda: Linear(5, 3), lambda: tnn.Linear(5, 3), (4, 5)),
    LayerCase("linear-3d-nobias", lambda: Linear(5, 3, bias=False),
              lambda: tnn.Linear(5, 3, bias=False), (2, 4, 5)),
    LayerCase("flatten", lambda: Flatten(), lambda: tnn.Flatten(), (2, 3, 4, 5)),
    LayerCase("flatten-range", lambda: Flatten(0, 2), lambda: tnn.Flatten(0, 2), (2, 3, 4, 5)),
    LayerCase("identity", lambda: Identity(7, x=1), lambda: tnn.Identity(7, x=1), (2, 3)),
    LayerCase("batchnorm1d-features", lambda: BatchNorm1d(4), lambda: tnn.BatchNorm1d(4), (8, 4)),
    LayerCase("batchnorm1d-seq", lambda: BatchNorm1d(3, momentum=0.3),
              lambda: tnn.BatchNorm1d(3, momentum=0.3), (4, 3, 5)),
    LayerCase("batchnorm2d", lambda: BatchNorm2d(3), lambda: tnn.BatchNorm2d(3), (4, 3, 3, 4)),
    LayerCase("batchnorm2d-eval", lambda: BatchNorm2d(3), lambda: tnn.BatchNorm2d(3),
              (4, 3, 3, 4), train=False),
    LayerCase("batchnorm2d-cumulative-noaffine", lambda: BatchNorm2d(3, momentum=None,
                                                                     affine=False),
              lambda: tnn.BatchNorm2d(3, momentum=None, affine=False), (4, 3, 3, 4)),
    LayerCase("batchnorm2d-untracked-eval", lambda: BatchNorm2d(3, track_running_stats=False),
              lambda: tnn.BatchNorm2d(3, track_running_stats=False), (4, 3, 3, 4), train=False),
    LayerCase("batchnorm3d", lambda: BatchNorm3d(2, eps=1e-3), lambda: tnn.BatchNorm3d(2, eps=1e-3),
              (2, 2, 3, 3, 4)),
    LayerCase("batchnorm2d-nobias", lambda: BatchNorm2d(3, bias=False),
              lambda: tnn.BatchNorm2d(3, bias=False), (4, 3, 2, 2)),
    LayerCase("lrn", lambda: LocalResponseNorm(3), lambda: tnn.LocalResponseNorm(3),
              (2, 6, 3, 3)),
    LayerCase("lrn-alexnet", lambda: LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0),
              lambda: tnn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), (2, 7, 3, 3)),
    LayerCase("maxpool1d", lambda: MaxPool1d(3, 2, padding=1),
              lambda: tnn.MaxPool1d(3, 2, padding=1), (2, 3, 9)),
    LayerCase("maxpool2d", lambda: MaxPool2d(2), lambda: tnn.MaxPool2d(2), (2, 3, 6, 7)),
    LayerCase("maxpool2d-overlap-ceil", lambda: MaxPool2d(3, 2, ceil_mode=True),
              lambda: tnn.MaxPool2d(3, 2, ceil_mode=True), (2, 3, 8, 8)),
    LayerCase("maxpool3d", lambda: MaxPool3d(2, dilation=(1, 2, 1)),
              lambda: tnn.MaxPool3d(2, dilation=(1, 2, 1)), (1, 2, 4, 6, 4)),
    LayerCase("avgpool1d", lambda: AvgPool1d(3, 2, padding=1, count_include_pad=False),
              lambda: tnn.AvgPool1d(3, 2, padding=1, count_include_pad=False), (2, 3, 8)),
    LayerCase("avgpool2d", lambda: AvgPool2d(2), lambda: tnn.AvgPool2d(2), (2, 3, 6, 6)),
    LayerCase("avgpool2d-ceil-divisor", lambda: AvgPool2d(3, 2, 1, ceil_mode=True,
                                                          divisor_override=4),
              lambda: tnn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4), (2, 2, 6, 7)),
    LayerCase("avgpool3d", lambda: AvgPool3d(2, padding=1),
              lambda: tnn.AvgPool3d(2, padding=1), (1, 2, 3, 4, 4)),
    LayerCase("adaptive_avg1d", lambda: AdaptiveAvgPool1d(3), lambda: tnn.AdaptiveAvgPool1d(3),
              (2, 3, 7)),
    LayerCase("adaptive_avg2d", lambda: AdaptiveAvgPool2d((3, None)),
              lambda: tnn.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    LayerCase("adaptive_avg3d", lambda: AdaptiveAvgPool3d(2), lambda: tnn.AdaptiveAvgPool3d(2),
              (1, 2, 5, 3, 4)),
    LayerCase("adaptive_max1d", lambda: AdaptiveMaxPool1d(4), lambda: tnn.AdaptiveMaxPool1d(4),
              (2, 3, 9)),
    LayerCase("adaptive_max2d", lambda: AdaptiveMaxPool2d((2, 3)),
              lambda: tnn.AdaptiveMaxPool2d((2, 3)), (2, 3, 7, 5)),
    LayerCase("adaptive_max3d", lambda: AdaptiveMaxPool3d(2), lambda: tnn.AdaptiveMaxPool3d(2),
              (1, 2, 5, 3, 4)),
    LayerCase("lppool1d", lambda: LPPool1d(2, 3, 2), lambda: tnn.LPPool1d(2, 3, 2), (2, 3, 9),
              positive=True),
    LayerCase("lppool2d", lambda: LPPool2d(3, 2), lambda: tnn.LPPool2d(3, 2), (2, 3, 6, 5),
              positive=True),
    LayerCase("lppool3d", lambda: LPPool3d(1.5, 2), lambda: tnn.LPPool3d(1.5, 2),
              (1, 2, 4, 4, 4), positive=True),
    LayerCase("fractional_maxpool2d",
              lambda: FractionalMaxPool2d(2, output_size=(5, 4), _random_samples=_frac_samples()),
              lambda: tnn.FractionalMaxPool2d(2, output_size=(5, 4), _random_samples=torch.tensor(
                  _frac_samples())), (2, 3, 9, 7), same_repr=False),
    LayerCase("fractional_maxpool2d-ratio",
              lambda: FractionalMaxPool2d(3, output_ratio=0.6, _random_samples=_frac_samples()),
              lambda: tnn.FractionalMaxPool2d(3, output_ratio=0.6, _random_samples=torch.tensor(
                  _frac_samples())), (2, 3, 10, 9), same_repr=False),
    LayerCase("global_avg", lambda: GlobalAvgPool2d(), lambda: TorchFn(lambda x: x.mean((2, 3))),
              (2, 3, 4, 5), same_repr=False),
    LayerCase("global_max-keepdim", lambda: GlobalMaxPool2d(keepdim=True),
              lambda: TorchFn(lambda x: x.amax((2, 3), keepdim=True)), (2, 3, 4, 5),
              same_repr=False),
    LayerCase("spp", lambda: SpatialPyramidPool2d((1, 2, 3)), lambda: TorchFn(torch_spp),
              (2, 3, 7, 6), same_repr=False),
    LayerCase("stochastic_pool-eval", lambda: StochasticPool2d(2),
              lambda: TorchFn(torch_stochastic_eval), (2, 3, 4, 6), positive=True, train=False,
              same_repr=False),
    LayerCase("subsampling2d", lambda: Subsampling2d(3), lambda: TorchSubsampling(3),
              (2, 3, 6, 4), same_repr=False),
    LayerCase("rbf_output", lambda: RBFOutput(6, 4), lambda: TorchRBF(6, 4), (3, 6),
              same_repr=False),
    LayerCase("relu", lambda: ReLU(), lambda: tnn.ReLU(), (3, 5)),
    LayerCase("leaky_relu", lambda: LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2), (3, 5)),
    LayerCase("elu", lambda: ELU(0.5), lambda: tnn.ELU(0.5), (3, 5)),
    LayerCase("selu", lambda: SELU(), lambda: tnn.SELU(), (3, 5)),
    LayerCase("sigmoid", lambda: Sigmoid(), lambda: tnn.Sigmoid(), (3, 5)),
    LayerCase("tanh", lambda: Tanh(), lambda: tnn.Tanh(), (3, 5)),
    LayerCase("lecun_tanh", lambda: LeCunTanh(), lambda: TorchFn(torch_lecun_tanh), (3, 5),
              same_repr=False),
    LayerCase("softmax", lambda: Softmax(dim=1), lambda: tnn.Softmax(dim=1), (3, 5, 2)),
    LayerCase("log_softmax", lambda: LogSoftmax(dim=-1), lambda: tnn.LogSoftmax(dim=-1), (3, 5)),
    LayerCase("dropout-eval", lambda: Dropout(0.3), lambda: tnn.Dropout(0.3), (3, 5),
              train=False),
    LayerCase("dropout2d-eval", lambda: Dropout2d(0.3), lambda: tnn.Dropout2d(0.3), (2, 3, 2, 2),
              train=False),
]

IDS = [c.name for c in CASES]


def _randomise(theirs: tnn.Module, seed: int = 1) -> None:
    """Move the twin away from its default init, so a mixed-up parameter cannot pass."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + 0.2)
        for name, b in theirs.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(3)


def _pair(case: LayerCase):
    torch.manual_seed(0)
    ours, theirs = case.ours(), case.theirs()
    _randomise(theirs)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.train(case.train)
    theirs.train(case.train)
    return ours, theirs


def _input(case: LayerCase, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(case.shape).astype(np.float32)
    return np.abs(x) + 0.1 if case.positive else x


def _assert_state_equal(ours, theirs, atol=1e-6):
    ts = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, ts[k].numpy(), rtol=1e-5, atol=atol, err_msg=k)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_state_dict_names_shapes_and_dtypes_equal_torch(case):
    ours, theirs = case.ours(), case.theirs()
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape), k
        assert sd[k].dtype == np.dtype(str(tsd[k].dtype).replace("torch.", "")), k
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_and_backward_equal_torch(case):
    ours, theirs = _pair(case)
    x = _input(case)
    xs, xt = striate.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xs), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=case.atol)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=case.atol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-4,
                                   atol=10 * case.atol, err_msg=name)
    _assert_state_equal(ours, theirs)  # running statistics after the pass


@pytest.mark.parametrize("case", [c for c in CASES if c.same_repr], ids=lambda c: c.name)
def test_repr_equals_torch(case):
    assert repr(case.ours()) == repr(case.theirs())


@pytest.mark.parametrize("ours, theirs", [
    (ReLU(inplace=True), tnn.ReLU(inplace=True)), (ELU(inplace=True), tnn.ELU(inplace=True)),
    (LeakyReLU(0.1, True), tnn.LeakyReLU(0.1, True)), (SELU(True), tnn.SELU(True)),
    (Dropout(0.1, True), tnn.Dropout(0.1, True)),
])
def test_inplace_flag_shows_in_repr_as_in_torch(ours, theirs):
    assert repr(ours) == repr(theirs)


# ---------------------------------------------------------------------------------------------
# Default initialisation: the same distributions as PyTorch's
# ---------------------------------------------------------------------------------------------
def _uniform_bound_and_std(a: np.ndarray):
    return np.abs(a).max(), a.std()


@pytest.mark.parametrize("ours, theirs, fan_in", [
    (lambda: Conv2d(32, 64, 3), lambda: tnn.Conv2d(32, 64, 3), 32 * 9),
    (lambda: Conv2d(32, 64, 3, groups=4), lambda: tnn.Conv2d(32, 64, 3, groups=4), 8 * 9),
    (lambda: Conv1d(16, 256, 5), lambda: tnn.Conv1d(16, 256, 5), 16 * 5),
    (lambda: Conv3d(8, 64, 3), lambda: tnn.Conv3d(8, 64, 3), 8 * 27),
    (lambda: ConvTranspose2d(64, 32, 3), lambda: tnn.ConvTranspose2d(64, 32, 3), 32 * 9),
    (lambda: Linear(200, 300), lambda: tnn.Linear(200, 300), 200),
    (lambda: DeformConv2d(32, 64, 3), lambda: tnn.Conv2d(32, 64, 3), 32 * 9),
], ids=["conv2d", "conv2d-groups", "conv1d", "conv3d", "conv_transpose2d", "linear",
        "deform_conv2d"])
def test_default_init_is_torch_uniform_fan_in(ours, theirs, fan_in):
    striate.manual_seed(0)
    torch.manual_seed(0)
    a, b = ours(), theirs()
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        w, wt = getattr(a, name).numpy(), getattr(b, name).detach().numpy()
        assert w.dtype == np.float32
        for arr in (w, wt):  # both within the bound, filling it, with the uniform's std
            top, std = _uniform_bound_and_std(arr)
            assert top <= bound
            if arr.size > 1000:
                assert top > 0.99 * bound
                assert std == pytest.approx(bound / math.sqrt(3), rel=0.05)
        assert abs(w.mean()) < 4 * bound / math.sqrt(3 * w.size)


def test_default_init_of_normalisation_and_lenet_layers():
    bn, tbn = BatchNorm2d(5), tnn.BatchNorm2d(5)
    _assert_state_equal(bn, tbn, atol=0)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    striate.manual_seed(0)
    sub = Subsampling2d(1000)
    for p in (sub.weight.numpy(), sub.bias.numpy()):
        assert np.abs(p).max() <= 0.6 and np.abs(p).max() > 0.59  # U(-2.4/4, 2.4/4)
    rbf = RBFOutput(84, 10)
    assert set(np.unique(rbf.weight.numpy())) == {-1.0, 1.0}
    centers = np.where(np.arange(84 * 10).reshape(10, 84) % 3, 1.0, -1.0)
    fixed = RBFOutput(84, 10, centers=centers, trainable=False)
    np.testing.assert_array_equal(fixed.weight.numpy(), centers)
    assert not fixed.weight.requires_grad
    with pytest.raises(ValueError, match=r"RBFOutput: centers must have shape \(10, 84\)"):
        RBFOutput(84, 10, centers=np.ones((84, 10)))


# ---------------------------------------------------------------------------------------------
# Train and evaluation behaviour
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ours, theirs, shape", [
    (lambda: BatchNorm1d(4), lambda: tnn.BatchNorm1d(4), (6, 4)),
    (lambda: BatchNorm2d(3, momentum=0.3), lambda: tnn.BatchNorm2d(3, momentum=0.3),
     (4, 3, 3, 3)),
    (lambda: BatchNorm2d(3, momentum=None), lambda: tnn.BatchNorm2d(3, momentum=None),
     (4, 3, 3, 3)),
    (lambda: BatchNorm3d(2), lambda: tnn.BatchNorm3d(2), (2, 2, 2, 3, 3)),
], ids=["bn1d", "bn2d-momentum", "bn2d-cumulative", "bn3d"])
def test_batchnorm_running_stats_equal_torch_after_three_steps(ours, theirs, shape):
    a, b = ours(), theirs()
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
        a(striate.tensor(x))
        b(torch.tensor(x))
    _assert_state_equal(a, b)
    assert int(a.num_batches_tracked.item()) == 3
    a.eval()
    b.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(a(striate.tensor(x)).numpy(), b(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    _assert_state_equal(a, b)  # evaluation leaves the statistics alone


def test_batchnorm_reset_and_errors():
    bn = BatchNorm2d(2)
    bn(striate.randn(3, 2, 2, 2))
    bn.reset_running_stats()
    _assert_state_equal(bn, tnn.BatchNorm2d(2), atol=0)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a \(N, C, H, W\) input"):
        bn(striate.randn(3, 2, 2))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a \(N, C\) or \(N, C, L\)"):
        BatchNorm1d(2)(striate.randn(3, 2, 2, 2))
    with pytest.raises(ValueError, match="BatchNorm2d: momentum must be a number in"):
        BatchNorm2d(2, momentum=2.0)
    with pytest.raises(ValueError, match="BatchNorm3d: num_features must be a positive int"):
        BatchNorm3d(0)


@pytest.mark.parametrize("cls", [Dropout, Dropout1d, Dropout2d, Dropout3d])
def test_dropout_is_identity_in_eval_and_random_in_training(cls):
    shape = {Dropout: (40, 50), Dropout1d: (20, 30, 4), Dropout2d: (10, 30, 2, 3),
             Dropout3d: (10, 30, 2, 2, 2)}[cls]
    x = striate.tensor(np.random.default_rng(0).random(shape).astype(np.float32) + 1)
    layer = cls(0.25).eval()
    assert layer(x) is x or np.array_equal(layer(x).numpy(), x.numpy())
    layer.train()
    striate.manual_seed(0)
    y = layer(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / 0.75, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.25) < 0.06
    if cls is not Dropout:  # whole channels
        per_channel = kept.reshape(shape[0], shape[1], -1)
        assert np.all(per_channel.all(-1) | ~per_channel.any(-1))


def test_dropout_weight_scaling_and_alpha_dropout():
    x = striate.ones(10, 10)
    layer = Dropout(0.2, scaling="weight")
    assert repr(layer) == "Dropout(p=0.2, inplace=False, scaling=weight)"
    assert set(np.unique(layer(x).numpy())) <= {0.0, 1.0}
    np.testing.assert_allclose(layer.eval()(x).numpy(), 0.8)
    alpha = AlphaDropout(0.3)
    assert repr(alpha) == repr(tnn.AlphaDropout(0.3))
    assert np.array_equal(alpha.eval()(x).numpy(), x.numpy())
    assert not np.array_equal(alpha.train()(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="Dropout: dropout probability p has to be between"):
        Dropout(1.5)
    with pytest.raises(ValueError, match="Dropout2d: scaling must be one of"):
        Dropout2d(0.5, scaling="paper")


def test_stochastic_pool_samples_in_training_and_averages_in_eval():
    layer = StochasticPool2d(2)
    x = np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32)
    striate.manual_seed(0)
    y = layer(striate.tensor(x)).numpy()
    windows = x.reshape(2, 3, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 2, 4)
    assert np.all(np.any(np.isclose(windows, y[..., None]), axis=-1))  # one element of each
    expected = (windows ** 2).sum(-1) / windows.sum(-1)
    np.testing.assert_allclose(layer.eval()(striate.tensor(x)).numpy(), expected, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Layer-specific behaviour
# ---------------------------------------------------------------------------------------------
def test_conv_transpose_output_size_equals_torch():
    torch.manual_seed(0)
    theirs = tnn.ConvTranspose2d(3, 2, 3, stride=3, padding=1)
    ours = ConvTranspose2d(3, 2, 3, stride=3, padding=1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    for size in [(10, 10), (11, 12), (1, 2, 12, 10)]:
        y = ours(striate.tensor(x), output_size=size)
        yt = theirs(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: requested output size \(13, 10\)"):
        ours(striate.tensor(x), output_size=(13, 10))


def test_deform_conv_with_zero_offsets_is_torch_conv2d():
    torch.manual_seed(0)
    theirs = tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    ours = DeformConv2d(4, 6, 3, stride=2, padding=1, groups=2)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 6)).astype(np.float32)
    offset = striate.zeros(2, 18, 3, 3)
    for mask in (None, striate.ones(2, 9, 3, 3)):
        y = ours(striate.tensor(x), offset, mask)
        np.testing.assert_allclose(y.numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)
    assert repr(ours) == ("DeformConv2d(4, 6, kernel_size=(3, 3), stride=(2, 2), "
                          "padding=(1, 1), groups=2)")


def test_fully_connected_layer_as_a_convolution():
    striate.manual_seed(0)
    fc = Linear(3 * 4 * 5, 7)
    conv = conv2d_from_linear(fc, (3, 4, 5))
    x = striate.randn(2, 3, 4, 5)
    np.testing.assert_allclose(conv(x).numpy().reshape(2, 7), fc(Flatten()(x)).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert conv(striate.randn(1, 3, 6, 8)).shape == (1, 7, 3, 4)  # slides over a bigger image
    with pytest.raises(ValueError, match="conv2d_from_linear: input_shape must be"):
        conv2d_from_linear(fc, (3, 4, 4))


def test_max_pool_return_indices_and_fractional_output():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y, idx = MaxPool2d(2, return_indices=True)(striate.tensor(x))
    yt, idxt = tnn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())
    assert FractionalMaxPool2d(2, output_ratio=(0.5, 0.7))(striate.tensor(x)).shape == \
        (2, 3, 3, 4)
    with pytest.raises(ValueError, match="FractionalMaxPool2d: give exactly one of"):
        FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="FractionalMaxPool2d: output_ratio must be"):
        FractionalMaxPool2d(2, output_ratio=1.5)


def test_softmax_without_dim_follows_torch_legacy_rule():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    with pytest.warns(UserWarning, match="Softmax: implicit dimension choice"):
        y = Softmax()(striate.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yt = tnn.Softmax()(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-5, atol=1e-6)


def test_layers_built_under_float64_default_match_torch_double():
    striate.set_default_dtype(np.float64)
    try:
        torch.manual_seed(0)
        ours = [Conv2d(2, 3, 3, padding=1), BatchNorm2d(3), Linear(3 * 25, 4)]
        theirs = [tnn.Conv2d(2, 3, 3, padding=1).double(), tnn.BatchNorm2d(3).double(),
                  tnn.Linear(3 * 25, 4).double()]
    finally:
        striate.set_default_dtype(np.float32)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    y, yt = striate.tensor(x), torch.tensor(x)
    for a, b in zip(ours, theirs):
        a.load_state_dict({k: v.numpy() for k, v in b.state_dict().items()})
        assert all(p.dtype == np.float64 for p in a.parameters())
        y, yt = a(y), b(yt)
        if isinstance(a, BatchNorm2d):
            y, yt = F.flatten(y, 1), yt.flatten(1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_layers_take_unbatched_input():
    conv = Conv2d(2, 3, 3, padding=1)
    assert conv(striate.randn(2, 5, 5)).shape == (3, 5, 5)
    assert MaxPool2d(2)(striate.randn(3, 4, 4)).shape == (3, 2, 2)
    assert Linear(4, 2)(striate.randn(4)).shape == (2,)


@pytest.mark.parametrize("build, match", [
    (lambda: Conv2d(3, 4, 3, groups=2), r"Conv2d: in_channels \(3\) and out_channels \(4\) must"),
    (lambda: Conv2d(3, 4, 3, padding="full"), "Conv2d: padding must be an int, a tuple of 2"),
    (lambda: Conv1d(3, 4, 3, padding_mode="mirror"), "Conv1d: padding_mode must be one of"),
    (lambda: Conv3d(0, 4, 3), "Conv3d: in_channels must be a positive int"),
    (lambda: Conv2d(1, 4, (3, 0)), r"Conv2d: kernel_size must be positive, got \(3, 0\)"),
    (lambda: Conv1d(1, 4, 3, stride=0), r"Conv1d: stride must be positive"),
    (lambda: ConvTranspose2d(3, 4, 3, padding_mode="reflect"),
     "ConvTranspose2d: only padding_mode='zeros' is supported"),
    (lambda: ConvTranspose1d(3, 4, 3, padding="same"), "ConvTranspose1d: padding must be an int"),
    (lambda: Linear(0, 3), "Linear: in_features must be a positive int"),
    (lambda: LocalResponseNorm(0), "LocalResponseNorm: size must be a positive int"),
    (lambda: SpatialPyramidPool2d(mode="sum"), "SpatialPyramidPool2d: mode must be"),
    (lambda: Subsampling2d(0), "Subsampling2d: channels must be a positive int"),
    (lambda: DeformConv2d(3, 4, 3, groups=2), r"DeformConv2d: in_channels \(3\)"),
])
def test_constructor_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_kernel_size_type_error():
    with pytest.raises(TypeError, match=r"Conv2d: kernel_size must be an int or a tuple of 2 ints"):
        Conv2d(3, 4, (3, 3, 3))


# ---------------------------------------------------------------------------------------------
# Loss modules
# ---------------------------------------------------------------------------------------------
def _logits(shape=(6, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _labels(n=6, c=4, seed=1):
    return np.random.default_rng(seed).integers(0, c, n)


_W = np.array([1.0, 2.0, 0.5, 1.5], np.float32)
_P = 1 / (1 + np.exp(-_logits()))
_T = (np.random.default_rng(2).random((6, 4)) > 0.5).astype(np.float32)

LOSS_CASES = [
    ("cross_entropy", lambda: CrossEntropyLoss(), lambda: tnn.CrossEntropyLoss(),
     _logits(), _labels()),
    ("cross_entropy-weighted", lambda: CrossEntropyLoss(_W, ignore_index=2, label_smoothing=0.1),
     lambda: tnn.CrossEntropyLoss(torch.tensor(_W), ignore_index=2, label_smoothing=0.1),
     _logits(), _labels()),
    ("cross_entropy-sum", lambda: CrossEntropyLoss(reduction="sum"),
     lambda: tnn.CrossEntropyLoss(reduction="sum"), _logits(), _labels()),
    ("nll", lambda: NLLLoss(_W), lambda: tnn.NLLLoss(torch.tensor(_W)), _logits(), _labels()),
    ("mse", lambda: MSELoss(), lambda: tnn.MSELoss(), _logits(), _T),
    ("mse-none", lambda: MSELoss(reduction="none"), lambda: tnn.MSELoss(reduction="none"),
     _logits(), _T),
    ("bce", lambda: BCELoss(_W), lambda: tnn.BCELoss(torch.tensor(_W)), _P, _T),
    ("bce_logits", lambda: BCEWithLogitsLoss(pos_weight=_W),
     lambda: tnn.BCEWithLogitsLoss(pos_weight=torch.tensor(_W)), _logits(), _T),
]


@pytest.mark.parametrize("name, ours, theirs, x, t", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_modules_equal_torch(name, ours, theirs, x, t):
    a, b = ours(), theirs()
    assert [(k, v.shape) for k, v in a.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in b.state_dict().items()]
    xs, xt = striate.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    loss, loss_t = a(xs, striate.tensor(t)), b(xt, torch.tensor(t))
    np.testing.assert_allclose(loss.numpy(), loss_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    gy = np.random.default_rng(3).standard_normal(loss.shape).astype(np.float32)
    loss.backward(gy)
    loss_t.backward(torch.tensor(gy))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert repr(a) == repr(b)


def test_dice_loss_module_wraps_the_functional():
    p = striate.tensor(_P)
    per_sample = 1 - (2 * (_P * _T).sum(1) + 1) / (_P.sum(1) + _T.sum(1) + 1)
    assert DiceLoss()(p, striate.tensor(_T)).item() == pytest.approx(per_sample.mean(), rel=1e-5)
    assert DiceLoss(smooth=0.5, reduction="none", dims=(1,))(p, striate.tensor(_T)).shape == (6,)
    assert repr(DiceLoss(squared=True)) == "DiceLoss(smooth=1.0, squared=True)"


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing must be in"):
        CrossEntropyLoss(label_smoothing=2.0)
    with pytest.raises(TypeError):
        CrossEntropyLoss(None, -1)  # torch's positional size_average is not accepted
