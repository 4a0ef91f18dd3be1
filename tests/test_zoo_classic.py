"""The classic models of the zoo: LeNet-5 as published (1998), All-CNN-C and Network in Network.

Parameter counts against sums worked out by hand, LeNet's C3 connection table against the rule the
paper states in words, and every model against a PyTorch twin written from the paper (LeNet-5's
here, All-CNN-C's and NIN's in benchmarks/twins.py): the state_dict loads into it as is, and the
eval-mode logits agree. All-CNN-C and NIN are ``heavy`` in the
registry, so their shape, gradient and memorisation checks run here at a narrow width.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
from striate import models, nn, optim
from striate.models.lenet import C3_TABLE, TableConv2d, parse_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import twins  # noqa: E402  (the PyTorch twins of All-CNN-C and NIN live with the benchmarks)

tnn = torch.nn
tF = torch.nn.functional


def _input(n=2, c=1, size=(28, 28), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c) + tuple(size)).astype(np.float32)


def _load_into(twin, model):
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return twin.eval()


def _same_eval_logits(model, twin, x):
    model.eval()
    with striate.no_grad():
        ours = model(striate.tensor(x)).data
    with torch.no_grad():
        theirs = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    return ours


def _memorise(model, x, steps=60, lr=3e-3):
    """Adam on 16 random images with random labels; returns (first loss, last loss, accuracy)."""
    y = striate.tensor(np.random.default_rng(3).integers(0, 10, len(x)))
    x = striate.tensor(x)
    opt = optim.Adam(list(model.parameters()), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with striate.no_grad():
        accuracy = (model(x).data.argmax(axis=1) == y.data).mean()
    return losses[0], losses[-1], accuracy


def _assert_every_gradient(model, x):
    x = striate.tensor(x, requires_grad=True)
    out = model(x)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * striate.tensor(g)).sum().backward()
    assert np.isfinite(x.grad.data).all() and np.abs(x.grad.data).sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.data).sum() > 0, name


# =============================================================================================
# LeNet-5 as published
# =============================================================================================
def _paper_c3_table():
    """Table I from the rule the paper states in words (section II.B): "The first six C3 feature
    maps take inputs from every contiguous subsets of three feature maps in S2. The next six take
    input from every contiguous subset of four. The next three take input from some
    discontinuous subsets of four. Finally, the last one takes input from all S2 feature maps."
    The text does not say which discontinuous subsets; those three come from the table itself.
    """
    columns = [{j % 6, (j + 1) % 6, (j + 2) % 6} for j in range(6)]
    columns += [{(j + d) % 6 for d in range(4)} for j in range(6)]
    columns += [{0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5}]
    columns += [set(range(6))]
    return np.array([[i in col for col in columns] for i in range(6)])


def test_lenet5_1998_parameter_count_is_the_papers_60000():
    # C1 6*(25+1)=156, S2 6*2=12, C3 60*25+16=1516, S4 16*2=32, C5 120*(16*25+1)=48120,
    # F6 84*(120+1)=10164; the 10x84 RBF centres are fixed (a buffer), so they count 0
    assert 156 + 12 + 1516 + 32 + 48120 + 10164 == 60000
    model = models.create("lenet5_1998")
    per_layer = {name: sum(p.numel() for p in getattr(model, name).parameters())
                 for name in ("c1", "s2", "c3", "s4", "c5", "f6", "output")}
    assert per_layer == dict(c1=156, s2=12, c3=1516, s4=32, c5=48120, f6=10164, output=0)
    assert model.num_parameters() == model.num_parameters(trainable_only=True) == 60000
    assert models.lenet5_1998(in_channels=3).num_parameters() == 60000 + 6 * 2 * 25
    assert model.state_dict()["output.weight"].shape == (10, 84)  # saved, though not trained
    assert models.lenet5_1998(num_classes=4).output.weight.shape == (4, 84)


def test_c3_connection_table_is_table_i_of_the_paper():
    table = parse_table(C3_TABLE)
    assert table.shape == (6, 16) and table.sum() == 60
    np.testing.assert_array_equal(table, _paper_c3_table())
    assert table.sum(axis=0).tolist() == [3] * 6 + [4] * 9 + [6]
    c3 = models.lenet5_1998().c3
    np.testing.assert_array_equal(c3.table, table)
    assert c3.weight.shape == (60, 5, 5) and c3.bias.shape == (16,)


def test_c3_maps_read_only_their_inputs_and_missing_connections_stay_zero():
    striate.manual_seed(0)
    c3 = TableConv2d(parse_table(C3_TABLE), 5)
    x = _input(1, 6, (14, 14), seed=1)
    base = c3(striate.tensor(x)).data
    for i in range(6):  # perturb S2 map i: exactly the C3 maps of row i of the table change
        moved = x.copy()
        moved[:, i] += 1.0
        changed = np.abs(c3(striate.tensor(moved)).data - base).max(axis=(0, 2, 3)) > 0
        np.testing.assert_array_equal(changed, c3.table[i])
    # a training step with weight decay moves every kernel but cannot create a connection
    before = c3.weight.data.copy()
    opt = optim.SGD(list(c3.parameters()), lr=0.1, weight_decay=0.1)
    out = c3(striate.tensor(x))
    out.backward(np.random.default_rng(2).standard_normal(out.shape).astype(np.float32))
    opt.step()
    assert (np.abs(c3.weight.data - before).sum(axis=(1, 2)) > 0).all()
    dense = c3.dense_weight().data  # (16, 6, 5, 5)
    assert (dense[~c3.table.T] == 0).all() and (dense[c3.table.T] != 0).all()
    np.testing.assert_array_equal(dense[c3.table.T], c3.weight.data)  # column-major order


def test_lecun_tanh_values():
    a = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], np.float32)
    y = nn.LeCunTanh()(striate.tensor(a)).data
    np.testing.assert_allclose(y, 1.7159 * np.tanh(2 * a / 3), rtol=1e-6)
    np.testing.assert_allclose(y[[1, 3, 5]], [-1.0, 0.0, 1.0], atol=1e-4)  # f(+-1) = +-1
    big = nn.LeCunTanh()(striate.tensor(np.array([50.0], np.float32))).data
    np.testing.assert_allclose(big, [1.7159], rtol=1e-6)  # the asymptote A = 1.7159
    t = striate.tensor(np.zeros(1, np.float32), requires_grad=True)
    nn.LeCunTanh()(t).sum().backward()
    np.testing.assert_allclose(t.grad.data, [1.7159 * 2 / 3], rtol=1e-6)  # slope S*A at 0


def test_lenet5_1998_pads_small_inputs_into_the_32x32_field():
    striate.manual_seed(0)
    model = models.lenet5_1998().eval()
    x = _input(2, seed=3)
    with striate.no_grad():
        padded = model(striate.tensor(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))))).data
        np.testing.assert_array_equal(model(striate.tensor(x)).data, padded)
        assert model(striate.tensor(_input(2, size=(32, 32)))).shape == (2, 10)
    with pytest.raises(ValueError, match=r"LeNet5_1998: input must be \(N, C, H, W\) with H, W "
                                         r"<= 32 .*got shape \(2, 1, 40, 40\)"):
        model(striate.tensor(_input(2, size=(40, 40))))


def test_lenet5_1998_logits_are_minus_distances_to_fixed_centres():
    striate.manual_seed(0)
    model = models.lenet5_1998()
    centres = model.output.weight.data.copy()
    assert set(np.unique(centres)) == {-1.0, 1.0}
    assert "output.weight" not in dict(model.named_parameters())
    first, last, accuracy = _memorise(model, _input(16, seed=2), steps=20)
    assert last < first and accuracy > 0.5
    np.testing.assert_array_equal(model.output.weight.data, centres)  # Adam left them alone
    x = _input(3, seed=4)
    with striate.no_grad():
        logits = model(striate.tensor(x)).data
    assert (logits <= 0).all()  # minus squared distances


def test_rbf_output_fixed_centres_are_a_buffer():
    """The fix this model needed in striate.nn: frozen centres are state, not parameters."""
    centres = np.where(np.arange(40).reshape(4, 10) % 3, 1.0, -1.0)
    fixed = nn.RBFOutput(10, 4, centers=centres, trainable=False)
    assert list(fixed.parameters()) == [] and fixed.num_parameters() == 0
    assert [name for name, _ in fixed.named_buffers()] == ["weight"]
    np.testing.assert_array_equal(fixed.state_dict()["weight"], centres)
    other = nn.RBFOutput(10, 4, trainable=False)
    other.load_state_dict(fixed.state_dict())
    np.testing.assert_array_equal(other.weight.data, centres)
    assert nn.RBFOutput(10, 4).num_parameters() == 40  # trainable centres still count


class TorchTableConv(tnn.Module):
    """C3 by scattering the 60 kernels into a dense weight (index_put), another route than ours."""

    def __init__(self, table):
        super().__init__()
        outs, ins = np.nonzero(table.T)  # column by column, inputs in increasing order
        self.outs, self.ins = torch.from_numpy(outs), torch.from_numpy(ins)
        self.shape = (table.shape[1], table.shape[0], 5, 5)
        self.weight = tnn.Parameter(torch.zeros(len(outs), 5, 5))
        self.bias = tnn.Parameter(torch.zeros(table.shape[1]))

    def forward(self, x):
        dense = torch.zeros(self.shape).index_put((self.outs, self.ins), self.weight)
        return tF.conv2d(x, dense, self.bias)


class TorchSubsampling(tnn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = tnn.Parameter(torch.zeros(channels))
        self.bias = tnn.Parameter(torch.zeros(channels))

    def forward(self, x):
        sums = tF.avg_pool2d(x, 2) * 4
        return sums * self.weight[:, None, None] + self.bias[:, None, None]


class TorchRBF(tnn.Module):
    def __init__(self, classes):
        super().__init__()
        self.register_buffer("weight", torch.zeros(classes, 84))

    def forward(self, x):
        return ((x[:, None, :] - self.weight[None]) ** 2).sum(-1)


class TorchLeNet5_1998(tnn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = tnn.Conv2d(1, 6, 5)
        self.s2 = TorchSubsampling(6)
        self.c3 = TorchTableConv(_paper_c3_table())
        self.s4 = TorchSubsampling(16)
        self.c5 = tnn.Conv2d(16, 120, 5)
        self.f6 = tnn.Linear(120, 84)
        self.output = TorchRBF(10)

    def forward(self, x):
        def f(a):
            return 1.7159 * torch.tanh(2 * a / 3)
        x = tF.pad(x, (2, 2, 2, 2))
        for layer in (self.c1, self.s2, self.c3, self.s4, self.c5):
            x = f(layer(x))
        return -self.output(f(self.f6(x.flatten(1))))


def test_lenet5_1998_same_logits_and_c3_gradient_as_the_torch_twin():
    striate.manual_seed(0)
    model = models.lenet5_1998()
    twin = _load_into(TorchLeNet5_1998(), model)
    x = _input(4, seed=6)
    _same_eval_logits(model, twin, x)
    g = np.random.default_rng(7).standard_normal((4, 10)).astype(np.float32)
    model(striate.tensor(x)).backward(g)
    twin(torch.from_numpy(x)).backward(torch.from_numpy(g))
    np.testing.assert_allclose(model.c3.weight.grad.data, twin.c3.weight.grad.numpy(),
                               rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("make, error, message", [
    (lambda: models.lenet5_1998(num_classes=0), ValueError,
     "LeNet5_1998: num_classes must be a positive int, got 0"),
    (lambda: models.lenet5_1998(in_channels=1.5), ValueError,
     "LeNet5_1998: in_channels must be a positive int, got 1.5"),
    (lambda: TableConv2d(np.ones((6, 16))), TypeError,
     r"TableConv2d: table must be a 2-D boolean array \(input maps, output maps\), got "
     r"float64 of shape \(6, 16\)"),
    (lambda: TableConv2d(np.eye(6, 16, dtype=bool)), ValueError,
     r"TableConv2d: table must give every output map \(column\) an input, got none for output "
     r"maps \[6, 7, 8, 9, 10, 11, 12, 13, 14, 15\]"),
    (lambda: TableConv2d(parse_table(C3_TABLE), 0), ValueError,
     "TableConv2d: kernel_size must be positive, got 0"),
])
def test_lenet5_1998_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


# =============================================================================================
# All-CNN-C and Network in Network (heavy at the paper's width: checked here narrow)
# =============================================================================================
def test_allconv_parameter_count_is_the_papers_1_3m():
    # 3 input channels: 3*96*9+96=2688, 2 x (96*96*9+96)=2 x 83040, 96*192*9+192=166080,
    # 3 x (192*192*9+192)=3 x 331968, 192*192+192=37056, 192*10+10=1930
    expected = 2688 + 2 * 83040 + 166080 + 3 * 331968 + 37056 + 1930
    assert expected == 1369738  # the paper's Table 3: "1.3 M"
    assert models.allconv(in_channels=3).num_parameters() == expected
    assert models.allconv().num_parameters() == expected - 2688 + (96 * 9 + 96)
    # width 1/4: 24 and 48 channels; 1*24*9+24, 2 x (24*24*9+24), 24*48*9+48, 3 x (48*48*9+48),
    # 48*48+48, 48*10+10
    assert models.allconv(width=0.25).num_parameters() == (
        240 + 2 * 5208 + 10416 + 3 * 20784 + 2352 + 490) == 86266


def test_nin_parameter_count():
    # 3 input channels: 3*192*25+192=14592, 192*160+160=30880, 160*96+96=15456,
    # 96*192*25+192=460992, 2 x (192*192+192)=2 x 37056, 192*192*9+192=331968, 37056, 192*10+10
    expected = 14592 + 30880 + 15456 + 460992 + 2 * 37056 + 331968 + 37056 + 1930
    assert expected == 966986
    assert models.nin(in_channels=3).num_parameters() == expected
    assert models.nin().num_parameters() == expected - 14592 + (192 * 25 + 192)


def test_allconv_layout_strided_convs_and_no_pooling():
    model = models.allconv(width=0.25)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 9
    assert [c.stride for c in convs] == [(1, 1)] * 2 + [(2, 2)] + [(1, 1)] * 2 + [(2, 2)] \
        + [(1, 1)] * 3
    assert [c.kernel_size for c in convs] == [(3, 3)] * 7 + [(1, 1)] * 2
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in model.modules())
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.5, 0.5]
    with striate.no_grad():  # 32x32: 8x8 after the strided convs, 6x6 averaged (the paper's)
        maps = model.features(striate.tensor(_input(1, size=(32, 32))))
        assert maps.shape == (1, 48, 8, 8)
        assert model.classifier[:-1](maps).shape == (1, 10, 6, 6)


def test_nin_layout_three_mlpconv_layers():
    model = models.nin(width=0.25)
    kernels = [[m.kernel_size for m in block.modules() if isinstance(m, nn.Conv2d)]
               for block in (model.block1, model.block2, model.block3)]
    assert kernels == [[(5, 5), (1, 1), (1, 1)], [(5, 5), (1, 1), (1, 1)],
                       [(3, 3), (1, 1), (1, 1)]]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2
    assert not any(isinstance(m, nn.Linear) for m in model.modules())  # no fully connected


@pytest.mark.parametrize("name", ["allconv", "nin"])
@pytest.mark.parametrize("num_classes, in_channels, size", [(10, 1, (28, 28)), (3, 3, (32, 32))])
def test_narrow_output_shape(name, num_classes, in_channels, size):
    model = models.create(name, num_classes=num_classes, in_channels=in_channels, width=0.125)
    out = model(striate.tensor(_input(2, in_channels, size)))
    assert out.shape == (2, num_classes) and out.dtype == np.float32


@pytest.mark.parametrize("name", ["allconv", "nin"])
def test_narrow_gradient_reaches_the_input_and_every_parameter(name):
    striate.manual_seed(0)
    _assert_every_gradient(models.create(name, width=0.125), _input(2, seed=1))


@pytest.mark.parametrize("make, size", [
    (lambda: models.AllConvNet(width=0.125, dropout=(0.0, 0.0)), (20, 20)),
    (lambda: models.NetworkInNetwork(width=0.25, dropout=0.0), (16, 16)),
])
def test_narrow_memorises_a_tiny_batch(make, size):
    """Dropout off, so that 60 steps suffice; dropout's own behaviour is tested elsewhere."""
    striate.manual_seed(0)
    first, last, accuracy = _memorise(make(), _input(16, size=size, seed=2))
    assert last < 0.1 * first and accuracy == 1.0


@pytest.mark.parametrize("name, twin", [
    ("allconv", lambda: twins.torch_model("allconv", in_channels=3, width=0.25)),
    ("nin", lambda: twins.torch_model("nin", in_channels=3, width=0.25)),
])
def test_narrow_same_logits_as_the_torch_twin(name, twin):
    striate.manual_seed(0)
    model = models.create(name, in_channels=3, width=0.25)
    _same_eval_logits(model, _load_into(twin(), model), _input(2, 3, (32, 32), seed=6))


@pytest.mark.parametrize("make, error, message", [
    (lambda: models.allconv(width=0), ValueError,
     r"AllConvNet: width must be a positive number \(the channel multiplier, 1 for the paper's "
     r"widths\), got 0"),
    (lambda: models.nin(width="wide"), ValueError,
     "NetworkInNetwork: width must be a positive number .*got 'wide'"),
    (lambda: models.nin(num_classes=-1), ValueError,
     "NetworkInNetwork: num_classes must be a positive int, got -1"),
    (lambda: models.allconv(in_channels=0), ValueError,
     "AllConvNet: in_channels must be a positive int, got 0"),
    (lambda: models.AllConvNet(dropout=0.5), TypeError,
     r"AllConvNet: dropout must be a pair \(input, after the strided convolutions\), got 0.5"),
])
def test_allconv_and_nin_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()
