"""The model zoo: every registered model maps images to logits, passes gradients back to the input,
can memorise a tiny batch, and computes what its torch twin (same layout, same state_dict names)
computes. Parameter counts are checked against sums worked out by hand in the docstrings.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
from striate import models, optim

tnn = torch.nn

ALL = models.list_models()
# the deep CIFAR ResNets share resnet20's code; the per-model checks run on the shallow ones
DEEP = {f"{kind}{depth}" for kind in ("resnet", "plain") for depth in (32, 44, 56, 110, 1202)}
SHALLOW = [name for name in ALL if name not in DEEP and not models.MODELS[name].heavy
           and models.MODELS[name].task == "classify"]


def _input(n=2, c=1, size=(28, 28), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c) + tuple(size)).astype(np.float32)


# ---- the registry ----------------------------------------------------------------------------
def test_registry_lists_the_first_models():
    assert ALL == sorted(ALL)
    assert {"lenet5", "fmnist-cnn"} <= set(ALL)
    for name in ALL:
        entry = models.MODELS[name]
        assert len(entry.input_size) in (2, 3) and entry.description
        assert entry.task in ("classify", "segment")


def test_create_passes_arguments_and_rejects_unknown_names():
    model = models.create("lenet5", num_classes=3, in_channels=3)
    assert model.output.out_features == 3 and model.c1.in_channels == 3
    with pytest.raises(ValueError, match=r"unknown model 'resnet9'; known models: .*lenet5"):
        models.create("resnet9")
    with pytest.raises(TypeError):
        models.create("lenet5", depth=5)


# ---- every model -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHALLOW)
@pytest.mark.parametrize("num_classes, in_channels", [(10, 1), (3, 3)])
def test_output_shape(name, num_classes, in_channels):
    model = models.create(name, num_classes=num_classes, in_channels=in_channels)
    size = models.MODELS[name].input_size
    out = model(striate.tensor(_input(4, in_channels, size)))
    assert out.shape == (4, num_classes) and out.dtype == np.float32
    model.eval()
    with striate.no_grad():
        assert model(striate.tensor(_input(1, in_channels, size))).shape == (1, num_classes)


@pytest.mark.parametrize("name", SHALLOW)
def test_gradient_reaches_the_input_and_every_parameter(name):
    striate.manual_seed(0)
    model = models.create(name)
    x = striate.tensor(_input(3, 1, models.MODELS[name].input_size), requires_grad=True)
    out = model(x)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * striate.tensor(g)).sum().backward()
    assert x.grad is not None and np.isfinite(x.grad.data).all()
    assert np.abs(x.grad.data).sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert np.abs(p.grad.data).sum() > 0, pname


@pytest.mark.parametrize("name", SHALLOW)
def test_memorises_a_tiny_batch(name):
    """16 random images with random labels: a working model and backward drive the loss to ~0."""
    striate.manual_seed(0)
    model = models.create(name)
    x = striate.tensor(_input(16, 1, models.MODELS[name].input_size, seed=2))
    y = striate.tensor(np.random.default_rng(3).integers(0, 10, 16))
    opt = optim.Adam(list(model.parameters()), lr=3e-3)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.1 * first
    model.eval()
    with striate.no_grad():
        assert (model(x).data.argmax(axis=1) == y.data).all()


# ---- LeNet-5 ---------------------------------------------------------------------------------
def test_lenet5_parameter_count():
    # C1 6*(25+1)=156, C3 16*(6*25+1)=2416, C5 120*(400+1)=48120, F6 84*(120+1)=10164,
    # output 10*(84+1)=850
    assert 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert models.lenet5().num_parameters() == 61706
    assert models.lenet5(in_channels=3).num_parameters() == 61706 + 6 * 2 * 25


def test_lenet5_layer_names_follow_the_paper():
    keys = list(models.lenet5().state_dict())
    assert keys == ["c1.weight", "c1.bias", "c3.weight", "c3.bias", "c5.weight", "c5.bias",
                    "f6.weight", "f6.bias", "output.weight", "output.bias"]


class TorchLeNet5(tnn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = tnn.Conv2d(1, 6, 5, padding=2)
        self.c3 = tnn.Conv2d(6, 16, 5)
        self.c5 = tnn.Linear(400, 120)
        self.f6 = tnn.Linear(120, 84)
        self.output = tnn.Linear(84, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.c3(x)), 2)
        x = torch.relu(self.c5(x.flatten(1)))
        return self.output(torch.relu(self.f6(x)))


# ---- the Fashion-MNIST CNN -------------------------------------------------------------------
def test_fmnist_cnn_parameter_count():
    # conv 1*32*9 + BN 2*32, conv 32*64*9 + BN 2*64, dense 3136*256+256, dense 256*10+10
    expected = 288 + 64 + 18432 + 128 + 803072 + 2570
    assert models.fmnist_cnn().num_parameters() == expected == 824554


def test_fmnist_cnn_without_batch_norm():
    """The batch-norm ablation: biased convolutions, no BN layers, same head."""
    model = models.FashionCNN(batch_norm=False)
    # conv 1*32*9+32, conv 32*64*9+64, dense 3136*256+256, dense 256*10+10
    assert model.num_parameters() == 320 + 18496 + 803072 + 2570 == 824458
    assert not any(isinstance(m, striate.nn.BatchNorm2d) for m in model.modules())
    assert model(striate.tensor(_input(2))).shape == (2, 10)


def test_fmnist_cnn_checks_its_input_size():
    with pytest.raises(ValueError, match="divisible by 4"):
        models.FashionCNN(input_size=(30, 30))
    assert models.FashionCNN(input_size=(32, 32))(striate.tensor(_input(2, 1, (32, 32)))).shape \
        == (2, 10)


class TorchFashionCNN(tnn.Module):
    def __init__(self):
        super().__init__()
        def stage(cin, cout):
            return tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1, bias=False),
                                  tnn.BatchNorm2d(cout), tnn.ReLU(), tnn.MaxPool2d(2))
        self.features = tnn.Sequential(stage(1, 32), stage(32, 64), tnn.Dropout(0.25))
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(3136, 256), tnn.ReLU(),
                                         tnn.Dropout(0.5), tnn.Linear(256, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


@pytest.mark.parametrize("name, twin", [("lenet5", TorchLeNet5), ("fmnist-cnn", TorchFashionCNN)])
def test_same_logits_as_the_torch_twin(name, twin):
    """The state_dict loads into the torch layout as is and gives the same logits (eval mode)."""
    striate.manual_seed(0)
    model = models.create(name)
    model.train()
    model(striate.tensor(_input(8, seed=5)))  # move the batch norms' running statistics
    model.eval()
    reference = twin()
    reference.load_state_dict({k: torch.from_numpy(np.array(v))
                               for k, v in model.state_dict().items()})
    reference.eval()
    x = _input(4, seed=6)
    with striate.no_grad():
        ours = model(striate.tensor(x)).data
    with torch.no_grad():
        theirs = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


# ---- CIFAR ResNets ---------------------------------------------------------------------------
@pytest.mark.parametrize("depth, published", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85),
                                              (110, 1.7), (1202, 19.4)])
def test_cifar_resnet_parameter_counts_are_the_papers(depth, published):
    """He et al. 2016, Table 6 (3-channel CIFAR-10 input); the plain twin has the same count."""
    count = models.create(f"resnet{depth}", in_channels=3).num_parameters()
    assert round(count / 1e6, 2 if published < 1 else 1) == published
    if depth != 1202:
        assert models.create(f"plain{depth}", in_channels=3).num_parameters() == count


def test_cifar_resnet_depth_counts_the_weighted_layers():
    model = models.create("resnet32")
    convs = [m for m in model.modules() if isinstance(m, striate.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, striate.nn.Linear)]
    assert len(convs) + len(linears) == 32  # no 1x1 projections: option (A) shortcuts
    with pytest.raises(ValueError, match="CifarResNet: blocks must be a positive int"):
        models.CifarResNet(0)


class TorchCifarResNet20(tnn.Module):
    """ResNet-20 with zero-padding (option A) shortcuts, or without shortcuts (plain-20)."""

    def __init__(self, shortcuts=True):
        super().__init__()
        self.shortcuts = shortcuts
        self.conv1 = tnn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = tnn.BatchNorm2d(16)
        self.blocks = tnn.ModuleList()
        cin = 16
        for i, width in enumerate((16, 32, 64)):
            for j in range(3):
                stride = 2 if i and not j else 1
                self.blocks.append(tnn.ModuleDict(dict(
                    conv1=tnn.Conv2d(cin, width, 3, stride, 1, bias=False),
                    bn1=tnn.BatchNorm2d(width),
                    conv2=tnn.Conv2d(width, width, 3, 1, 1, bias=False),
                    bn2=tnn.BatchNorm2d(width))))
                cin = width
        self.fc = tnn.Linear(64, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        for b in self.blocks:
            out = b["bn2"](b["conv2"](torch.relu(b["bn1"](b["conv1"](x)))))
            if self.shortcuts:
                stride, extra = b["conv1"].stride[0], out.shape[1] - x.shape[1]
                out = out + torch.nn.functional.pad(x[:, :, ::stride, ::stride],
                                                    (0, 0, 0, 0, 0, extra))
            x = torch.relu(out)
        return self.fc(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("name", ["resnet20", "plain20"])
def test_cifar_resnet_same_logits_and_input_gradient_as_torch(name):
    """float64: a whole deep net's float32 input gradient is too ill-conditioned to compare."""
    striate.manual_seed(0)
    striate.set_default_dtype(np.float64)
    try:
        model = models.create(name)
    finally:
        striate.set_default_dtype(np.float32)
    reference = TorchCifarResNet20(shortcuts=name == "resnet20").double()
    ours_state, theirs_state = model.state_dict(), reference.state_dict()
    assert [v.shape for v in ours_state.values()] == [tuple(v.shape) for v in
                                                      theirs_state.values()]
    reference.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                               zip(theirs_state, ours_state.values())})
    x = _input(4, seed=7).astype(np.float64)
    xs, xt = striate.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = model(xs), reference(xt)  # training mode: batch statistics
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = np.random.default_rng(8).standard_normal(ours.shape)
    ours.backward(g)
    theirs.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xs.grad.data, xt.grad.numpy(), rtol=1e-7, atol=1e-9)


def test_cifar_resnet_without_batch_norm():
    """The batch-norm ablation: no BN layer, biased convolutions; the same function otherwise."""
    model = models.create("plain20", batch_norm=False)
    assert not any(isinstance(m, striate.nn.BatchNorm2d) for m in model.modules())
    # BN params: stem 2*16, blocks 3*4*(16 + 32 + 64) = 1344 -> 1376; conv biases: stem 16,
    # blocks 3*2*(16 + 32 + 64) = 672 -> 688
    assert model.num_parameters() == 269434 - 1376 + 688 == 268746
    x = striate.tensor(_input(2), requires_grad=True)
    model(x).sum().backward()
    assert np.abs(x.grad.data).sum() > 0
    assert models.create("resnet20").num_parameters() == 269434
