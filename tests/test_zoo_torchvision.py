"""AlexNet and the VGGs against torchvision's layouts, without torchvision.

tests/reference/torchvision_manifest.json (written by scripts/torchvision_manifest.py in a
separate virtual environment that has torchvision) records every state_dict key and shape of
torchvision's models; here the Striate models must reproduce them exactly, so torchvision's
weights load as they are. The logits are checked against PyTorch twins written below (torch is
the test oracle), on narrow or small versions that run in a second on a CPU.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import striate
import striate.nn.init
from striate import models
from striate.models import vgg as vgg_module

tnn = torch.nn

MANIFEST = json.loads((Path(__file__).parent / "reference" / "torchvision_manifest.json")
                      .read_text())
VGGS = [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]
OURS = ["alexnet"] + VGGS
# the other torchvision names in the manifest that Striate builds (checked the same way)
OTHERS = [n for n in MANIFEST["models"] if n not in OURS and n in models.MODELS]
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
# torchvision's googlenet in the manifest has its auxiliary heads
MANIFEST_KWARGS = {"googlenet": {"aux_logits": True}}


@pytest.fixture
def no_random_init():
    """Full-size models whose layout alone is tested are built without drawing their weights
    (~140M draws take seconds per model)."""
    with striate.nn.init.skip_init():
        yield


def _small_alexnet(**kwargs):
    """AlexNet with 16-32 filters and 64 hidden units: the same code paths in milliseconds."""
    kwargs = {"num_classes": 10, "widths": (16, 32, 32, 24, 16), "classifier_width": 64, **kwargs}
    return models.alexnet(**kwargs)


def _layout(model) -> list:
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- the manifest itself ---------------------------------------------------------------------
def test_manifest_covers_the_zoo_and_counts_its_parameters():
    assert set(MANIFEST["models"]) == set(OURS) | {"googlenet"} | {
        f"resnet{d}" for d in (18, 34, 50, 101, 152)}
    for name, entry in MANIFEST["models"].items():
        params = sum(int(np.prod(shape)) for key, shape in entry["state_dict"]
                     if not key.endswith(BUFFERS))
        assert params == entry["num_parameters"], name
    googlenet = MANIFEST["models"]["googlenet"]
    aux = sum(int(np.prod(s)) for k, s in googlenet["state_dict"]
              if k.startswith("aux") and not k.endswith(BUFFERS))
    assert googlenet["num_parameters_without_aux"] == googlenet["num_parameters"] - aux


def test_manifest_logits_check_passed():
    """The script loaded torchvision's random weights into every Striate model it found and
    compared eval-mode logits: float32 rounding only (it grows with depth), and in float64 a
    difference at the level of rounding, where a wrong weight or op would stand out."""
    check = MANIFEST["logits_check"]
    assert set(OURS) <= set(check)
    for name, result in check.items():
        if name == "input":
            continue
        assert "error" not in result, (name, result)
        scale = result["max_abs_logit"]
        assert scale > 0.01, name  # not two arrays of zeros
        assert result["max_abs_diff"] <= 1e-3 * scale, name
        assert result["max_abs_diff_float64"] <= 1e-10 * scale, name


# ---- layouts and parameter counts ------------------------------------------------------------
@pytest.mark.parametrize("name", OURS + OTHERS)
def test_state_dict_keys_and_shapes_are_torchvisions(name, no_random_init):
    model = models.create(name, **MANIFEST_KWARGS.get(name, {}))
    assert _layout(model) == MANIFEST["models"][name]["state_dict"]
    assert model.num_parameters() == MANIFEST["models"][name]["num_parameters"]
    entry = models.MODELS[name]
    assert entry.heavy and entry.description and len(entry.input_size) == 2


def test_published_parameter_counts():
    # torchvision's AlexNet: conv1 64*3*121+64 = 23,296; conv2 192*64*25+192 = 307,392;
    # conv3 384*192*9+384 = 663,936; conv4 256*384*9+256 = 884,992; conv5 256*256*9+256 =
    # 590,080; fc6 9216*4096+4096 = 37,752,832; fc7 4096*4096+4096 = 16,781,312;
    # fc8 4096*1000+1000 = 4,097,000
    by_hand = 23296 + 307392 + 663936 + 884992 + 590080 + 37752832 + 16781312 + 4097000
    assert by_hand == MANIFEST["models"]["alexnet"]["num_parameters"] == 61_100_840
    assert round(by_hand / 1e6, 1) == 61.1
    counts = {n: MANIFEST["models"][n]["num_parameters"] for n in VGGS}
    assert counts["vgg16"] == 138_357_544 and round(counts["vgg16"] / 1e6, 1) == 138.4
    # Simonyan and Zisserman, Table 2: A 133, B 133, D 138, E 144 million
    assert [round(counts[f"vgg{d}"] / 1e6) for d in (11, 13, 16, 19)] == [133, 133, 138, 144]
    # batch norm adds a weight and a bias per channel: VGG-16 has 2*64+2*128+3*256+6*512 channels
    assert counts["vgg16_bn"] - counts["vgg16"] == 2 * (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512)


def test_the_papers_alexnet(no_random_init):
    """Two groups in conv2, conv4, conv5 (each filter sees half the previous layer's maps)."""
    # conv1 96*3*121+96 = 34,944; conv2 256*(96/2)*25+256 = 307,456; conv3 384*256*9+384 =
    # 885,120; conv4 384*(384/2)*9+384 = 663,936; conv5 256*(384/2)*9+256 = 442,624;
    # fc6 256*36*4096+4096 = 37,752,832; fc7 16,781,312; fc8 4,097,000
    by_hand = (34944 + 307456 + 885120 + 663936 + 442624 + 37752832 + 16781312 + 4097000)
    assert by_hand == 60_965_224  # "60 million parameters" (the paper's section 1)
    paper = models.alexnet(variant="paper")
    assert paper.num_parameters() == by_hand
    convs = [m for m in paper.features if isinstance(m, striate.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [type(m).__name__ for m in paper.features][:8] == [
        "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
        "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    # the LRN layers have no parameters: they renumber the later convolutions only
    keys = [k for k, _ in paper.named_parameters() if k.endswith("weight")]
    assert keys == ["features.0.weight", "features.4.weight", "features.8.weight",
                    "features.10.weight", "features.12.weight", "classifier.1.weight",
                    "classifier.4.weight", "classifier.6.weight"]


def test_alexnet_options_one_at_a_time(no_random_init):
    base = models.alexnet()
    # groups=2 halves the weights of conv2, conv4, conv5 (192*64*25, 256*384*9, 256*256*9)
    grouped = models.alexnet(groups=2)
    assert base.num_parameters() - grouped.num_parameters() == (192 * 64 * 25 + 256 * 384 * 9
                                                                + 256 * 256 * 9) // 2
    params = dict(grouped.named_parameters())
    assert list(params) == [k for k, _ in base.named_parameters()]
    assert params["features.3.weight"].shape == (192, 32, 5, 5)
    with_lrn = models.alexnet(lrn=True)
    assert with_lrn.num_parameters() == base.num_parameters()
    assert [type(with_lrn.features[i]).__name__ for i in (2, 6)] == ["LocalResponseNorm"] * 2
    assert models.alexnet(variant="paper", groups=1).features[4].groups == 1  # override
    dropped = models.alexnet(dropout=0.3)
    assert dropped.classifier[0].p == dropped.classifier[3].p == 0.3
    small = models.alexnet(num_classes=10, in_channels=1)
    assert small.features[0].weight.shape == (64, 1, 11, 11)
    assert small.classifier[6].weight.shape == (10, 4096)


def test_alexnet_lrn_is_the_papers_formula(no_random_init):
    """b_c = a_c / (k + alpha * sum_{|c'-c| <= 2} a_c'^2)^beta with the paper's alpha = 1e-4
    on the *sum* (k = 2, n = 5, beta = 0.75); PyTorch's layer writes alpha for the mean."""
    lrn = models.alexnet(lrn=True).features[2]
    a = 10 * _input((2, 7, 3, 3), seed=1)
    padded = np.pad(a ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(padded[:, i:i + 7] for i in range(5))
    expected = a / (2 + 1e-4 * window) ** 0.75
    np.testing.assert_allclose(lrn(striate.tensor(a)).data, expected, rtol=1e-5)


def test_groups_keep_the_halves_apart():
    """With two groups, conv2's first half of filters sees only the first half of conv1's maps
    (in the paper, 128 filters on one GPU see the 48 maps there)."""
    striate.manual_seed(0)
    conv2 = _small_alexnet(variant="paper", widths=(8, 16, 8, 8, 8)).features[4]
    x = _input((1, 8, 9, 9), seed=2)
    y = conv2(striate.tensor(x)).data
    x[:, 4:] += 1.0  # the second group's inputs
    z = conv2(striate.tensor(x)).data
    np.testing.assert_array_equal(y[:, :8], z[:, :8])
    assert np.abs(y[:, 8:] - z[:, 8:]).min() > 0


def test_vgg_width_and_classifier_width(no_random_init):
    narrow = vgg_module.vgg16(num_classes=10, in_channels=1, width=0.125, classifier_width=256)
    convs = [m for m in narrow.features if isinstance(m, striate.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32, 32] + [64] * 6
    assert convs[0].in_channels == 1
    assert [k for k, _ in _layout(narrow)] == [k for k, _ in MANIFEST["models"]["vgg16"]
                                               ["state_dict"]]
    shapes = dict(_layout(narrow))
    assert shapes["classifier.0.weight"] == [256, 64 * 7 * 7]
    assert shapes["classifier.3.weight"] == [256, 256]
    assert shapes["classifier.6.weight"] == [10, 256]
    assert vgg_module.vgg11(width=2).features[0].out_channels == 128


def test_vgg_initialisation_is_torchvisions():
    striate.manual_seed(0)
    model = vgg_module.vgg11_bn(width=0.5, classifier_width=512)
    conv = model.features[4]  # 32 -> 64: He normal on fan_out = 64 * 9
    assert abs(conv.weight.data.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.02
    assert abs(model.classifier[0].weight.data.std() / 0.01 - 1) < 0.02
    assert not model.classifier[0].bias.data.any() and not conv.bias.data.any()
    assert (model.features[1].weight.data == 1).all() and not model.features[1].bias.data.any()


# ---- forward and backward --------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, size", [({}, 64), ({"variant": "paper"}, 63)])
def test_alexnet_forward_backward(kwargs, size):
    """63x63 is the smallest input: conv1 15x15, pool 7, conv2 7, pool 3, conv3-5 3, pool 1.
    The full convolutions with a narrow classifier (its 4096 units only cost time here)."""
    striate.manual_seed(0)
    model = models.alexnet(num_classes=10, classifier_width=256, **kwargs)
    x = striate.tensor(_input((2, 3, size, size), seed=3), requires_grad=True)
    out = model(x)
    assert out.shape == (2, 10) and out.dtype == np.float32
    out.backward(_input((2, 10), seed=4))
    assert x.grad.shape == (2, 3, size, size)
    assert np.isfinite(x.grad.data).all() and np.abs(x.grad.data).sum() > 0
    assert np.abs(model.features[0].weight.grad.data).sum() > 0


@pytest.mark.parametrize("name", VGGS)
def test_narrow_vgg_forward_backward_at_32x32(name):
    striate.manual_seed(0)
    model = models.create(name, num_classes=10, in_channels=1, width=1 / 16, classifier_width=32)
    x = striate.tensor(_input((2, 1, 32, 32), seed=5), requires_grad=True)
    out = model(x)
    assert out.shape == (2, 10)
    out.backward(_input((2, 10), seed=6))
    assert x.grad.shape == (2, 1, 32, 32) and np.abs(x.grad.data).sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.data).all(), pname


# ---- the same logits as PyTorch twins --------------------------------------------------------
class TorchAlexNet(tnn.Module):
    def __init__(self, widths, lrn, groups, hidden, num_classes):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        norm = (lambda: [tnn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)]) if lrn \
            else (lambda: [])
        self.features = tnn.Sequential(
            tnn.Conv2d(3, c1, 11, 4, 2), tnn.ReLU(), *norm(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(c1, c2, 5, padding=2, groups=groups), tnn.ReLU(), *norm(),
            tnn.MaxPool2d(3, 2),
            tnn.Conv2d(c2, c3, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(c3, c4, 3, padding=1, groups=groups), tnn.ReLU(),
            tnn.Conv2d(c4, c5, 3, padding=1, groups=groups), tnn.ReLU(), tnn.MaxPool2d(3, 2))
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(
            tnn.Dropout(), tnn.Linear(c5 * 36, hidden), tnn.ReLU(), tnn.Dropout(),
            tnn.Linear(hidden, hidden), tnn.ReLU(), tnn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TorchVGG11(tnn.Module):
    """Configuration A at a width multiplier, with batch norm."""

    def __init__(self, width, classifier_width, num_classes, in_channels):
        super().__init__()
        layers, cin = [], in_channels
        for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
            if v == "M":
                layers.append(tnn.MaxPool2d(2))
            else:
                cout = int(v * width)
                layers += [tnn.Conv2d(cin, cout, 3, padding=1), tnn.BatchNorm2d(cout), tnn.ReLU()]
                cin = cout
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
        self.classifier = tnn.Sequential(
            tnn.Linear(cin * 49, classifier_width), tnn.ReLU(), tnn.Dropout(),
            tnn.Linear(classifier_width, classifier_width), tnn.ReLU(), tnn.Dropout(),
            tnn.Linear(classifier_width, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _random_state(model, seed):
    """Weights of scale 1/sqrt(fan_in) and batch-norm statistics away from (0, 1), so the logits
    are of order one and evaluation-mode batch norm is not the identity."""
    rng = np.random.default_rng(seed)
    state = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            state[k] = v
        elif k.endswith("running_var"):
            state[k] = rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
        elif v.ndim >= 2:
            state[k] = (rng.standard_normal(v.shape) * np.sqrt(2 / np.prod(v.shape[1:])))
        else:
            state[k] = 0.2 * rng.standard_normal(v.shape)
        state[k] = np.asarray(state[k], dtype=v.dtype)
    return state


def _compare(model, twin, x, seed):
    state = _random_state(model, seed)
    model.load_state_dict(state)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model.eval()
    twin.eval()
    with striate.no_grad():
        ours = model(striate.tensor(x)).data
    with torch.no_grad():
        theirs = twin(torch.from_numpy(x)).numpy()
    assert np.abs(theirs).max() > 0.1  # the comparison is not between two near-zero arrays
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", ["torchvision", "paper"])
def test_small_alexnet_same_logits_as_torch(variant):
    model = _small_alexnet(variant=variant)
    paper = variant == "paper"
    twin = TorchAlexNet((16, 32, 32, 24, 16), lrn=paper, groups=2 if paper else 1, hidden=64,
                        num_classes=10)
    assert [k for k, _ in _layout(model)] == list(twin.state_dict())
    _compare(model, twin, _input((2, 3, 67, 67), seed=7), seed=8)


def test_narrow_vgg11_bn_same_logits_as_torch():
    model = vgg_module.vgg11_bn(num_classes=10, in_channels=1, width=0.125, classifier_width=64)
    twin = TorchVGG11(0.125, 64, 10, 1)
    assert [k for k, _ in _layout(model)] == list(twin.state_dict())
    _compare(model, twin, _input((3, 1, 32, 32), seed=9), seed=10)


# ---- arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize("build, kwargs, error, message", [
    (models.alexnet, {"variant": "caffe"}, ValueError,
     r"alexnet: variant must be one of \['paper', 'torchvision'\], got 'caffe'"),
    (models.alexnet, {"groups": 3}, ValueError,
     r"AlexNet: groups must be a divisor of every width in \(64, 192, 384, 256, 256\), got 3"),
    (models.alexnet, {"groups": 0}, ValueError, "AlexNet: groups must be a positive int, got 0"),
    (models.alexnet, {"widths": (64, 192)}, ValueError,
     r"AlexNet: widths must be 5 positive ints \(conv1 ... conv5\), got \(64, 192\)"),
    (models.alexnet, {"num_classes": 2.5}, TypeError,
     "AlexNet: num_classes must be a positive int, got 2.5"),
    (models.alexnet, {"lrn": "yes"}, TypeError, "AlexNet: lrn must be True or False, got 'yes'"),
    (models.alexnet, {"dropout": 1.5}, ValueError,
     r"AlexNet: dropout must be a probability in \[0, 1\], got 1.5"),
    (vgg_module.vgg16, {"width": 0}, ValueError, "vgg16: width must be a finite multiplier of at "
     r"least 1/64 \(64 \* width filters in the first layer\), got 0"),
    (vgg_module.vgg11_bn, {"width": "half"}, TypeError,
     r"vgg11_bn: width must be a positive number \(filter multiplier\), got 'half'"),
    (vgg_module.vgg19, {"classifier_width": 0}, ValueError,
     "vgg19: classifier_width must be a positive int, got 0"),
    (vgg_module.vgg13, {"in_channels": None}, TypeError,
     "vgg13: in_channels must be a positive int, got None"),
])
def test_bad_arguments_are_named(build, kwargs, error, message):
    with pytest.raises(error, match=message):
        build(**kwargs)


def test_too_small_inputs_are_named():
    with pytest.raises(ValueError, match="AlexNet: the input must be at least 63x63 .*got 62x64"):
        _small_alexnet()(striate.tensor(_input((1, 3, 62, 64))))
    narrow = vgg_module.vgg11(width=1 / 64, classifier_width=8)
    with pytest.raises(ValueError, match=r"VGG: the input must be at least 32x32 \(5 halvings\), "
                                         "got 32x31"):
        narrow(striate.tensor(_input((1, 3, 32, 31))))
