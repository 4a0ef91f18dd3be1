"""The ImageNet ResNets (resnet18 ... resnet152) and GoogLeNet: parameter counts (torchvision's
exact numbers, the papers' rounded ones), torchvision's state_dict layout (from
tests/reference/torchvision_manifest.json, written by scripts/torchvision_manifest.py), the
auxiliary heads and their 0.3-weighted loss through ``googlenet_loss`` and ``train.fit``, torch
twins in torchvision's layout (the ResNets' written here, GoogLeNet's in benchmarks/twins.py;
same logits, input gradient and parameter gradients in float64), ``striate train googlenet`` end to end, and the argument checks.

Forward passes run at 32x32 (ResNets, a 1/16-width GoogLeNet) or 64x64 (a 1/8-width GoogLeNet
twin; the full GoogLeNet only in the command-line run, on eight 64x64 images), never at 224x224,
so the file stays fast on a CPU. The big models are built once each (a module-scoped fixture).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import striate
from striate import models, optim, train
from striate.models import resnet
from striate.models.googlenet import GoogLeNet, GoogLeNetOutputs, googlenet, googlenet_loss
from striate.nn.blocks import BasicBlock, Bottleneck

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import twins  # noqa: E402  (GoogLeNet's PyTorch twin lives with the benchmarks)

tnn = torch.nn
TF = torch.nn.functional

MANIFEST = Path(__file__).parent / "reference" / "torchvision_manifest.json"
RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
# torchvision's counts for 1000 classes and 3 channels; the papers' rounded ones beside them
COUNTS = {"resnet18": (11_689_512, 11.7), "resnet34": (21_797_672, 21.8),
          "resnet50": (25_557_032, 25.6), "resnet101": (44_549_160, 44.5),
          "resnet152": (60_192_808, 60.2)}
GOOGLENET, GOOGLENET_WITH_AUX = 6_624_904, 13_004_888


def _builder(name):
    return googlenet if name == "googlenet" else getattr(resnet, name)


@pytest.fixture(scope="module", params=RESNETS + ["googlenet"])
def big(request):
    """``(name, model)`` at 1000 classes, 3 channels; module scope, so pytest builds each model
    once for the count and the layout tests (and drops it before building the next)."""
    return request.param, _builder(request.param)()


def _manifest() -> dict:
    if not MANIFEST.is_file():
        pytest.skip(f"{MANIFEST} is absent: run scripts/torchvision_manifest.py (in a separate "
                    "virtual environment with torchvision) to write it")
    return json.loads(MANIFEST.read_text())["models"]


# ---- parameter counts and layout -------------------------------------------------------------
def test_parameter_counts_are_torchvisions_and_the_papers(big):
    name, model = big
    if name == "googlenet":
        assert model.num_parameters() == GOOGLENET_WITH_AUX
        assert googlenet(aux_logits=False).num_parameters() == GOOGLENET
        assert round(GOOGLENET / 1e6, 1) == 6.6        # "6.6M" without the auxiliary heads
        return
    exact, published = COUNTS[name]
    assert model.num_parameters() == exact
    assert round(exact / 1e6, 1) == published


def test_state_dict_equals_the_torchvision_manifest(big):
    name, model = big
    expected = _manifest()[name]
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == expected["state_dict"]               # keys, order and shapes
    assert model.num_parameters() == expected["num_parameters"]
    if name == "googlenet":
        lean = googlenet(aux_logits=False)
        keys = [[k, list(v.shape)] for k, v in lean.state_dict().items()]
        assert keys == [row for row in expected["state_dict"]
                        if not row[0].startswith(("aux1.", "aux2."))]
        assert lean.num_parameters() == expected["num_parameters_without_aux"]


def test_googlenet_paper_5x5_count_by_hand():
    # the paper's 5x5 in branch 3 adds (25 - 9) * #5x5reduce * #5x5 per module
    pairs = [(16, 32), (32, 96), (16, 48), (24, 64), (24, 64), (32, 64), (32, 128), (32, 128),
             (48, 128)]
    extra = sum(16 * r * c for r, c in pairs)
    assert extra == 380_928
    assert googlenet(aux_logits=False, branch3_kernel_size=5).num_parameters() == \
        GOOGLENET + extra


# by hand, from the papers' tables: (keys that must be there, keys that must not)
KEYS = {
    "resnet18": (["layer1.1.bn2.weight", "layer2.0.downsample.1.running_var"],
                 ["layer1.0.downsample.0.weight", "layer1.2.conv1.weight",
                  "layer1.0.conv3.weight"]),
    "resnet34": (["layer3.5.conv2.weight", "layer4.2.bn2.bias"], ["layer3.6.conv1.weight"]),
    "resnet50": (["layer1.0.downsample.0.weight", "layer4.2.conv3.weight"],   # 64 -> 256
                 ["layer4.3.conv1.weight", "layer1.1.downsample.0.weight"]),
    "resnet101": (["layer3.22.conv3.weight"], ["layer3.23.conv1.weight"]),
    "resnet152": (["layer2.7.conv3.weight", "layer3.35.bn3.running_mean"],
                  ["layer2.8.conv1.weight", "layer3.36.conv1.weight"]),
    "googlenet": (["inception3a.branch3.1.conv.weight", "inception5b.branch4.1.bn.running_var",
                   "aux1.conv.conv.weight", "aux2.fc2.bias", "conv3.bn.weight"],
                  ["conv1.conv.bias", "inception4e.branch5.0.conv.weight", "aux3.fc1.weight"]),
}


def test_state_dict_keys_by_hand(big):
    name, model = big
    keys = list(model.state_dict())
    head = ["conv1.conv.weight", "conv1.bn.weight"] if name == "googlenet" else \
        ["conv1.weight", "bn1.weight"]
    assert keys[:2] == head and keys[-2:] == ["fc.weight", "fc.bias"]
    present, absent = KEYS[name]
    assert set(present) <= set(keys)
    assert not set(absent) & set(keys)


def test_registry_entries():
    for name in RESNETS + ["googlenet"]:
        entry = models.MODELS[name]
        assert entry.heavy and entry.input_size == (64, 64) and entry.task == "classify"
        assert entry.description
    # the CIFAR family keeps its names
    assert isinstance(models.create("resnet20"), resnet.CifarResNet)
    assert isinstance(models.create("resnet18", num_classes=4), resnet.ResNet)


# ---- forward, backward, auxiliary heads --------------------------------------------------------
def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_resnet_forward_backward_on_a_small_input(name="resnet18", size=32):
    """(ResNet-50's bottleneck path runs forward and backward against its twin below.)"""
    striate.manual_seed(0)
    model = models.create(name, num_classes=7, in_channels=1)
    x = striate.tensor(_x((2, 1, size, size)), requires_grad=True)
    out = model(x)
    assert out.shape == (2, 7) and out.dtype == np.float32
    out.backward(_x(out.shape, 1))
    assert x.grad.shape == x.shape and np.isfinite(x.grad.data).all()
    assert np.abs(x.grad.data).sum() > 0
    assert np.abs(model.conv1.weight.grad.data).sum() > 0
    model.eval()
    with striate.no_grad():
        assert model(striate.tensor(_x((1, 1, size, size)))).shape == (1, 7)


def test_zero_init_residual_makes_every_block_start_as_the_identity():
    model = resnet.resnet18(zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8 and all((b.bn2.weight.data == 0).all() for b in blocks)
    assert not (model.layer1[0].bn1.weight.data == 0).any()
    x = striate.tensor(np.abs(_x((2, 64, 8, 8))))       # after a ReLU: x >= 0
    np.testing.assert_allclose(model.layer1[1](x).numpy(), x.numpy())
    deep = resnet.resnet50(zero_init_residual=True)
    assert all((m.bn3.weight.data == 0).all() for m in deep.modules()
               if isinstance(m, Bottleneck))
    assert (resnet.resnet18().layer1[1].bn2.weight.data == 1).all()


def _tiny_googlenet(**kwargs):
    """1/16 of the widths: 4 filters in conv1, 64 features before the classifier."""
    kwargs.setdefault("num_classes", 5)
    kwargs.setdefault("in_channels", 1)
    return googlenet(width=1 / 16, **kwargs)


# the tiny GoogLeNet's tests share one input shape: the kernels are set up once per shape
def test_googlenet_auxiliary_outputs_in_training_only(size=32):
    striate.manual_seed(0)
    model = _tiny_googlenet()
    assert model.fc.in_features == 64 and model.conv1.conv.out_channels == 4
    x = striate.tensor(_x((8, 1, size, size)), requires_grad=True)
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs) and len(out) == 3
    assert [o.shape for o in out] == [(8, 5)] * 3
    (out.logits.sum() + out.aux1.sum() * 2 + out.aux2.sum() * 3).backward()
    assert x.grad.shape == x.shape and np.abs(x.grad.data).sum() > 0
    for head in ("aux1", "aux2"):
        assert np.abs(getattr(model, head).fc2.weight.grad.data).sum() > 0
    model.eval()
    with striate.no_grad():
        logits = model(striate.tensor(_x((8, 1, size, size))))
    assert isinstance(logits, striate.Tensor) and logits.shape == (8, 5)


def test_googlenet_smallest_input_is_15():
    model = _tiny_googlenet()
    with striate.no_grad():
        out = model(striate.randn(8, 1, 15, 15))
        assert [o.shape for o in out] == [(8, 5)] * 3
        with pytest.raises(ValueError, match="max_pool2d"):
            model(striate.randn(8, 1, 14, 14))


def test_googlenet_without_aux_heads():
    model = _tiny_googlenet(aux_logits=False)
    assert model.aux1 is None and model.aux2 is None
    assert not any(k.startswith("aux") for k in model.state_dict())
    out = model(striate.randn(8, 1, 32, 32))           # training mode, yet only the logits
    assert isinstance(out, striate.Tensor) and out.shape == (8, 5)


def test_narrow_googlenet_scales_every_width():
    model = googlenet(num_classes=10, in_channels=1, width=0.25)
    assert model.conv3.conv.out_channels == 48 and model.inception3a.out_channels == 64
    assert model.fc.in_features == 256
    assert model.aux1.conv.conv.out_channels == 32 and model.aux1.fc1.in_features == 32 * 16
    assert model.aux1.fc1.out_features == 256
    assert model.num_parameters() < googlenet(num_classes=10, in_channels=1).num_parameters() / 10


# ---- the auxiliary loss ------------------------------------------------------------------------
def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _batch(n=8, size=32, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 1, size, size)).astype(np.float32),
            rng.integers(0, classes, n))


def test_googlenet_loss_weighs_the_aux_heads_by_0_3():
    striate.manual_seed(0)
    x, y = _batch()
    out = _tiny_googlenet()(striate.tensor(x))
    logits, aux1, aux2 = (o.numpy() for o in out)
    expected = _cross_entropy(logits, y) + 0.3 * (_cross_entropy(aux1, y) +
                                                   _cross_entropy(aux2, y))
    yt = striate.tensor(y)
    assert googlenet_loss(out, yt).item() == pytest.approx(expected, rel=1e-5)
    assert googlenet_loss(out, yt, aux_weight=0.0).item() == pytest.approx(
        _cross_entropy(logits, y), rel=1e-5)
    assert googlenet_loss(out.logits, yt).item() == pytest.approx(_cross_entropy(logits, y),
                                                                  rel=1e-5)
    assert abs(expected - _cross_entropy(logits, y)) > 0.1   # the heads do count


@pytest.mark.parametrize("aux_loss_weight, loss", [(0.3, "cross_entropy"),
                                                   (None, googlenet_loss)])
def test_fit_adds_the_aux_losses(aux_loss_weight, loss):
    """One batch at learning rate 0 and without dropout: fit's logged loss is the loss of the
    model's outputs, the accuracy that of the main logits, val_loss the eval-mode loss."""
    striate.manual_seed(0)
    x, y = _batch()
    model = _tiny_googlenet(dropout=0.0, aux_dropout=0.0)
    opt = optim.SGD(list(model.parameters()), lr=0.0)
    h = train.fit(model, (x, y), epochs=1, batch_size=8, shuffle=False, optimizer=opt,
                  loss=loss, verbose=0, validation_data=(x, y), aux_loss_weight=aux_loss_weight)
    model.eval()                  # first: a training-mode forward moves the running statistics
    with striate.no_grad():
        eval_logits = model(striate.tensor(x)).numpy()
    assert h.history["val_loss"][0] == pytest.approx(_cross_entropy(eval_logits, y), rel=1e-5)
    np.testing.assert_allclose(train.predict(model, x), eval_logits, rtol=1e-6)
    model.train()
    logits, aux1, aux2 = (o.numpy() for o in model(striate.tensor(x)))
    weight = 0.3 if aux_loss_weight is None else aux_loss_weight
    expected = _cross_entropy(logits, y) + weight * (_cross_entropy(aux1, y) +
                                                      _cross_entropy(aux2, y))
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert h.history["accuracy"][0] == pytest.approx(train.accuracy(y, logits))


@pytest.mark.parametrize("aux_loss_weight", [0.3, 0.0])
def test_fit_trains_the_aux_heads_through_their_loss(aux_loss_weight):
    """The auxiliary heads learn only from their own losses: with weight 0 Adam leaves them as
    they are (zero gradients), with 0.3 they move; the main path learns either way."""
    striate.manual_seed(0)
    x, y = _batch(seed=3)
    model = _tiny_googlenet(dropout=0.0, aux_dropout=0.0)
    before = model.state_dict()
    epochs = 5 if aux_loss_weight else 1
    h = train.fit(model, (x, y), epochs=epochs, batch_size=8, verbose=0,
                  optimizer=optim.Adam(list(model.parameters()), lr=1e-2),
                  aux_loss_weight=aux_loss_weight)
    after = model.state_dict()
    moved = {k for k in before if k.endswith("weight") and not np.array_equal(before[k], after[k])}
    aux = {k for k in before if k.startswith(("aux1.", "aux2.")) and k.endswith("weight")}
    assert "conv1.conv.weight" in moved and "fc.weight" in moved
    if aux_loss_weight:
        assert aux <= moved
        assert h.history["loss"][-1] < 0.9 * h.history["loss"][0]
    else:
        assert not aux & moved


def test_fit_rejects_a_bad_aux_weight():
    x, y = _batch(n=4)
    for bad in (-0.1, "0.3", True):
        with pytest.raises(ValueError, match="aux_loss_weight must be a number >= 0 or None"):
            train.fit(_tiny_googlenet(), (x, y), verbose=0, aux_loss_weight=bad)


def test_striate_train_googlenet_end_to_end(tmp_path, capsys):
    """``striate train googlenet`` (aux heads in training, 0.3-weighted by fit) on a tiny image
    folder, then ``striate evaluate`` rebuilds it from the checkpoint."""
    image = pytest.importorskip("PIL.Image")
    from striate.cli import main
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name, level in (("bright", 220), ("dark", 30)):
            (tmp_path / "shapes" / split / name).mkdir(parents=True)
            for i in range(4):
                pixels = np.clip(level + rng.normal(0, 10, (16, 16)), 0, 255).astype(np.uint8)
                image.fromarray(pixels).save(tmp_path / "shapes" / split / name / f"{i}.png")
    out = tmp_path / "run"
    status = main(["train", "googlenet", "--dataset", f"folder:{tmp_path / 'shapes'}",
                   "--grayscale", "--epochs", "1", "--batch-size", "8", "--out", str(out)])
    text = capsys.readouterr().out
    assert status == 0, text
    count = googlenet(num_classes=2, in_channels=1).num_parameters()    # aux heads included
    assert f"training googlenet ({count:,} parameters)" in text and "test accuracy:" in text
    assert (out / "model.safetensors").is_file() and (out / "history.csv").is_file()
    assert main(["evaluate", str(out / "model.safetensors")]) == 0
    assert "test accuracy:" in capsys.readouterr().out


# ---- torch twins in torchvision's layout -------------------------------------------------------
class TBasicBlock(tnn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class TBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class TResNet(tnn.Module):
    def __init__(self, block, layers, num_classes, in_channels):
        super().__init__()
        self.inplanes = 64
        self.conv1 = tnn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block, 64, layers[0], 1)
        self.layer2 = self._stage(block, 128, layers[1], 2)
        self.layer3 = self._stage(block, 256, layers[2], 2)
        self.layer4 = self._stage(block, 512, layers[3], 2)
        self.fc = tnn.Linear(512 * block.expansion, num_classes)

    def _stage(self, block, planes, n, stride):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = tnn.Sequential(tnn.Conv2d(self.inplanes, planes * block.expansion, 1, stride,
                                             bias=False), tnn.BatchNorm2d(planes * block.expansion))
        blocks = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        return tnn.Sequential(*blocks, *[block(self.inplanes, planes) for _ in range(1, n)])

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(TF.adaptive_avg_pool2d(x, 1), 1))


def _randomise(module: tnn.Module) -> None:
    """Weights of a usable scale, and batch norms that are not the identity in eval mode."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (tnn.Conv2d, tnn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, tnn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(c, generator=g))
                m.bias.copy_(0.2 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))


def _close(actual, desired, err_msg=""):
    """float64 agreement up to summation order: 1e-7 relative, or 1e-9 of the largest entry."""
    np.testing.assert_allclose(actual, desired, rtol=1e-7, atol=1e-9 * np.abs(desired).max(),
                               err_msg=err_msg)


def _compare(ours, theirs, shape, train_mode: bool):
    """Load theirs into ours (float64); outputs, input gradient, parameter gradients and the
    batch norms' running statistics agree."""
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _randomise(theirs)
    theirs.double()
    ours.double().load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.train(train_mode)
    theirs.train(train_mode)
    x = _x(shape, 0, np.float64)
    xs, xt = striate.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ys, yt = ours(xs), theirs(xt)
    ys = ys if isinstance(ys, tuple) else (ys,)
    yt = yt if isinstance(yt, tuple) else (yt,)
    assert len(ys) == len(yt)
    total_s, total_t = 0, 0
    for i, (a, b) in enumerate(zip(ys, yt)):
        _close(a.numpy(), b.detach().numpy())
        gy = _x(a.shape, 10 + i, np.float64)   # random upstream gradients, not .sum()
        total_s = total_s + (a * striate.tensor(gy)).sum()
        total_t = total_t + (b * torch.tensor(gy)).sum()
    total_s.backward()
    total_t.backward()
    _close(xs.grad.numpy(), xt.grad.numpy())
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        if tp[name].grad is None:               # the auxiliary heads in eval mode
            assert p.grad is None or not np.abs(p.grad.numpy()).any(), name
            continue
        _close(p.grad.numpy(), tp[name].grad.numpy(), err_msg=name)
    tsd = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, tsd[k].numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
    return ys


def test_resnet18_equals_its_torch_twin_in_training():
    torch.manual_seed(0)
    ours = resnet.resnet18(num_classes=10, in_channels=3)
    theirs = TResNet(TBasicBlock, [2, 2, 2, 2], 10, 3)
    (y,) = _compare(ours, theirs, (2, 3, 32, 32), True)
    assert y.shape == (2, 10)


def test_bottleneck_resnet_equals_its_torch_twin_in_eval():
    """ResNet-50's code path (bottlenecks, a projection already in layer1: 64 -> 256) with one
    block per stage, to keep float64 cheap."""
    torch.manual_seed(0)
    ours = resnet.ResNet(Bottleneck, [1, 1, 1, 1], num_classes=6, in_channels=1)
    _compare(ours, TResNet(TBottleneck, [1, 1, 1, 1], 6, 1), (2, 1, 32, 32), False)


@pytest.mark.parametrize("train_mode", [True, False], ids=["train", "eval"])
def test_narrow_googlenet_equals_its_torch_twin(train_mode):
    torch.manual_seed(0)
    ours = googlenet(num_classes=7, in_channels=3, width=1 / 8, dropout=0.0, aux_dropout=0.0)
    twin = twins.torch_model("googlenet", num_classes=7, in_channels=3, width=1 / 8, dropout=0.0)
    twin.aux1.dropout.p = twin.aux2.dropout.p = 0.0
    ys = _compare(ours, twin, (2, 3, 64, 64), train_mode)
    assert len(ys) == (3 if train_mode else 1)


# ---- bad arguments -----------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: resnet.ResNet(BasicBlock, [2, 2, 2]), "layers must be four positive ints"),
    (lambda: resnet.ResNet(BasicBlock, [2, 2, 0, 2]), "layers must be four positive ints"),
    (lambda: resnet.ResNet("basic", [2, 2, 2, 2]), "block must be BasicBlock or Bottleneck"),
    (lambda: resnet.resnet18(num_classes=0), "num_classes must be a positive int"),
    (lambda: resnet.resnet50(in_channels=1.5), "in_channels must be a positive int"),
    (lambda: googlenet(width=0), "width must be a positive number"),
    (lambda: googlenet(width="narrow"), "width must be a positive number"),
    (lambda: googlenet(aux_logits="yes"), "aux_logits must be True or False"),
    (lambda: googlenet(num_classes=-1), "num_classes must be a positive int"),
    (lambda: googlenet(branch3_kernel_size=7), "branch3_kernel_size must be 5"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unknown_arguments_are_type_errors():
    with pytest.raises(TypeError):
        models.create("resnet18", depth=18)
    with pytest.raises(TypeError):
        models.create("googlenet", aux=False)
    assert isinstance(GoogLeNet(10, 1, aux_logits=False), GoogLeNet)
