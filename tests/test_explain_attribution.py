"""Attribution methods (V2, V4, V5) against independent references.

Saliency and Grad-CAM equal PyTorch's gradients of a twin network with the same weights (Grad-CAM
through torch forward hooks); guided backpropagation, deconvnet and occlusion equal Captum's
GuidedBackprop, Deconvolution and Occlusion, and hand-worked numbers on a tiny network; occlusion
finds a planted region; SmoothGrad reduces to saliency without noise. The model's modes come back
as they were, bad arguments are named, and ``striate explain`` writes a PNG for every method.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from striate import functional as F
from striate import models, nn
from striate.backend import manual_seed
from striate.cli import main
from striate.explain import (deconvnet, grad_cam, guided_backprop, last_conv_layer, occlusion,
                             plot_attribution, saliency, smoothgrad)
from striate.train import save_checkpoint

captum_attr = pytest.importorskip("captum.attr")
PIL = pytest.importorskip("PIL.Image")


# ---- the twin networks -----------------------------------------------------------------------
def _layers(lib):
    """conv, BN, ReLU, max pool, conv, ReLU, dropout, linear: (N, 3, 9, 9) -> (N, 5)."""
    return [lib.Conv2d(3, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
            lib.Conv2d(4, 6, 3), lib.ReLU(), lib.Dropout(0.5), lib.Flatten(), lib.Linear(24, 5)]


@pytest.fixture
def twins():
    """``(striate model in train mode, its torch twin in eval mode, x (3, 3, 9, 9))``, float64,
    batch norm with non-trivial running statistics, so evaluation mode matters."""
    manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(*_layers(nn)).double()
    state = model.state_dict()
    state["1.weight"] = rng.uniform(0.5, 1.5, 4)
    state["1.bias"] = rng.normal(0, 0.2, 4)
    state["1.running_mean"] = rng.normal(0, 0.3, 4)
    state["1.running_var"] = rng.uniform(0.5, 2.0, 4)
    model.load_state_dict(state)
    twin = torch.nn.Sequential(*_layers(torch.nn)).double()
    twin.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in
                          model.state_dict().items()})
    return model.train(), twin.eval(), rng.normal(size=(3, 3, 9, 9))


def _torch_input_grad(twin, x, target):
    xt = torch.tensor(x, requires_grad=True)
    scores = twin(xt)
    scores[torch.arange(len(x)), torch.as_tensor(target)].sum().backward()
    return xt.grad.numpy()


# ---- saliency, SmoothGrad ---------------------------------------------------------------------
@pytest.mark.parametrize("target", [2, [0, 4, 1]])
def test_saliency_is_max_abs_input_gradient_of_the_score_as_torch(twins, target):
    model, twin, x = twins
    expected = np.abs(_torch_input_grad(twin, x, np.array(np.broadcast_to(target, 3)))).max(1)
    got = saliency(model, x, target)
    assert got.shape == (3, 9, 9)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_smoothgrad_without_noise_is_saliency_and_is_seeded(twins):
    model, _, x = twins
    np.testing.assert_allclose(smoothgrad(model, x, 1, samples=3, noise=0.0),
                               saliency(model, x, 1), rtol=1e-12)
    a = smoothgrad(model, x, 1, samples=4, noise=0.2, seed=7)
    np.testing.assert_array_equal(a, smoothgrad(model, x, 1, samples=4, noise=0.2, seed=7))
    assert not np.allclose(a, smoothgrad(model, x, 1, samples=4, noise=0.2, seed=8))
    assert not np.allclose(a, saliency(model, x, 1))
    # the documented formula: noise std = noise * (max - min) of each image, maps averaged
    rng = np.random.default_rng(7)
    sigma = 0.2 * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))[:, None, None, None]
    maps = [saliency(model, x + rng.standard_normal(x.shape) * sigma, 1) for _ in range(4)]
    np.testing.assert_allclose(a, np.mean(maps, axis=0), rtol=1e-10)


# ---- guided backpropagation, deconvnet ------------------------------------------------------
def _hand_net():
    """max pool 2x2 -> flatten -> linear W1 (4x2) -> ReLU -> linear W2 (2x4), no biases."""
    net = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 4, bias=False), nn.ReLU(),
                        nn.Linear(4, 2, bias=False)).double()
    net.load_state_dict({"2.weight": np.array([[1.0, 1], [2, 0], [1, -1], [0, -1]]),
                         "4.weight": np.array([[1.0, -1, 2, -3], [1, 1, 1, 1]])})
    return net


# x's two 2x2 windows have their maxima 1 at (0, 1) and 2 at (0, 2): pooled p = (1, 2).
# h = W1 p = (3, 2, -1, -2); for class 0 the ReLU receives gy = W2[0] = (1, -1, 2, -3).
#   gradient: gh = gy [h > 0]          = (1, -1, 0, 0)  -> gp = W1^T gh = (-1, 1)
#   guided:   gh = gy [h > 0] [gy > 0] = (1, 0, 0, 0)   -> gp = (1, 1)
#   deconv:   gh = gy [gy > 0]         = (1, 0, 2, 0)   -> gp = (1, 1) + 2 (1, -1) = (3, -1)
# and max pooling puts gp back at the two maxima' positions, zeros elsewhere.
HAND_X = np.array([[[[0.5, 1.0, 2.0, -1.0], [-2.0, 0.0, 1.5, 0.5]]]])


@pytest.mark.parametrize("method, top_row", [
    (saliency, [0, 1, 1, 0]),            # |(-1, 1)|
    (guided_backprop, [0, 1, 1, 0]),
    (deconvnet, [0, 3, -1, 0]),
])
def test_relu_rules_on_a_hand_worked_network(method, top_row):
    got = method(_hand_net(), HAND_X, 0)
    expected = np.array([[top_row, [0, 0, 0, 0]]], dtype=float)
    np.testing.assert_array_equal(np.reshape(got, (1, 2, 4)), expected)


def test_rules_end_with_the_call_and_reach_functional_relu_calls():
    net = _hand_net()
    guided_backprop(net, HAND_X, 0)
    x = nn.Parameter(HAND_X.copy())
    net(x)[0, 0].backward()                       # an ordinary backward again: gp = (-1, 1)
    np.testing.assert_array_equal(x.grad.numpy()[0, 0, 0], [0, -1, 1, 0])

    class FunctionalReLU(nn.Module):               # F.relu in forward instead of an nn.ReLU
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            h = self.inner[2](self.inner[1](self.inner[0](x)))
            return self.inner[4](F.relu(h))

    wrapped = FunctionalReLU(_hand_net())
    np.testing.assert_array_equal(deconvnet(wrapped, HAND_X, 0)[0, 0, 0], [0, 3, -1, 0])
    with pytest.raises(ValueError, match="rule must be one of gradient, guided, deconvnet, "
                                         "got 'sideways'"):
        with F.relu_backward_rule("sideways"):
            pass


@pytest.mark.filterwarnings("ignore:.*(require gradients|backward hooks on ReLU)")
@pytest.mark.parametrize("method, reference", [(guided_backprop, "GuidedBackprop"),
                                               (deconvnet, "Deconvolution")])
def test_guided_backprop_and_deconvnet_equal_captum(twins, method, reference):
    model, twin, x = twins
    target = [3, 0, 2]
    expected = getattr(captum_attr, reference)(twin).attribute(torch.tensor(x),
                                                               target=target).detach().numpy()
    got = method(model, x, target)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert not np.allclose(got, _torch_input_grad(twin, x, target))  # the rule changed something


# ---- Grad-CAM --------------------------------------------------------------------------------
def _torch_grad_cam(twin, layer, x, target):
    """Selvaraju et al.'s formula on the torch twin, A and dS/dA caught by a forward hook."""
    caught = {}

    def hook(module, args, out):
        out.retain_grad()
        caught["a"] = out

    handle = layer.register_forward_hook(hook)
    scores = twin(torch.tensor(x))
    handle.remove()
    scores[torch.arange(len(x)), torch.as_tensor(target)].sum().backward()
    a = caught["a"]
    weights = a.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * a).sum(dim=1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear",
                                          align_corners=False)
    return cam[:, 0].detach().numpy()


@pytest.mark.parametrize("layer, index", [(None, 4), ("0", 0), ("module", 3)])
def test_grad_cam_equals_the_formula_in_torch(twins, layer, index):
    model, twin, x = twins
    target = [1, 1, 4]
    if layer == "module":
        layer = model[3]                          # the max pool: 4x4 maps upsampled to 9x9
    expected = _torch_grad_cam(twin, twin[index], x, target)
    raw = grad_cam(model, x, target, layer=layer, normalize=False)
    np.testing.assert_allclose(raw, expected, rtol=1e-10, atol=1e-12)
    assert raw.max() > 0
    cam = grad_cam(model, x, target, layer=layer)
    peaks = expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(cam, np.where(peaks > 0, expected / np.where(peaks > 0, peaks, 1),
                                             0), rtol=1e-10, atol=1e-12)
    assert last_conv_layer(model) == "4"


# ---- occlusion -------------------------------------------------------------------------------
def _planted():
    """A linear model whose class 0 looks only at the 2x2 square rows 5-6, columns 1-2."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).double()
    w = np.zeros((2, 1, 8, 8))
    w[0, 0, 5:7, 1:3] = [[1.0, 2.0], [0.5, 1.5]]
    net.load_state_dict({"1.weight": w.reshape(2, 64), "1.bias": np.zeros(2)})
    x = 1.0 + np.random.default_rng(1).uniform(0, 1, (2, 1, 8, 8))
    return net, w[0, 0], x


@pytest.mark.parametrize("by", ["probability", "score"])
def test_occlusion_finds_the_planted_region(by):
    net, _, x = _planted()
    heat = occlusion(net, x, 0, patch=2, stride=1, fill=0.0, by=by, batch_size=5)
    for h in heat:
        i, j = np.unravel_index(np.argmax(h), h.shape)
        assert 5 <= i <= 6 and 1 <= j <= 2, (i, j)
        near = np.zeros_like(h, dtype=bool)
        near[4:8, 0:4] = True                     # patches touching the square
        assert np.all(h[~near] == 0) and np.all(h[near] >= 0)


def test_occlusion_score_drop_by_hand_and_batching_does_not_matter():
    net, w, x = _planted()
    heat = occlusion(net, x, 0, patch=2, stride=2, fill=0.25, by="score", batch_size=3)
    for s in range(2):                             # tiles: each pixel covered by one patch
        expected = np.zeros((8, 8))
        for i in range(0, 8, 2):
            for j in range(0, 8, 2):
                tile = np.s_[i:i + 2, j:j + 2]
                expected[tile] = (w[tile] * (x[s, 0][tile] - 0.25)).sum()
        np.testing.assert_allclose(heat[s], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(occlusion(net, x, 0, patch=2, stride=2, fill=0.25, by="score",
                                         batch_size=64), heat, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("by", ["probability", "score"])
def test_occlusion_equals_captum(twins, by):
    model, twin, x = twins
    target = [2, 0, 3]
    forward = twin if by == "score" else torch.nn.Sequential(twin, torch.nn.Softmax(dim=1))
    expected = captum_attr.Occlusion(forward).attribute(
        torch.tensor(x), sliding_window_shapes=(3, 3, 3), strides=(3, 2, 2), baselines=0.5,
        target=target, perturbations_per_eval=16).numpy()
    got = occlusion(model, x, target, patch=3, stride=2, fill=0.5, by=by)
    # Captum divides by the patch counts in float32 (``single_attrib.float() / weight``)
    np.testing.assert_allclose(got, expected[:, 0], rtol=1e-6, atol=1e-9)


# ---- state, errors, drawing ------------------------------------------------------------------
CALLS = [
    lambda m, x: saliency(m, x, 1),
    lambda m, x: smoothgrad(m, x, 1, samples=2),
    lambda m, x: grad_cam(m, x, 1),
    lambda m, x: guided_backprop(m, x, 1),
    lambda m, x: deconvnet(m, x, 1),
    lambda m, x: occlusion(m, x, 1, patch=3, stride=3),
]


@pytest.mark.parametrize("call", CALLS, ids=["saliency", "smoothgrad", "grad_cam", "guided",
                                              "deconv", "occlusion"])
def test_modes_and_requires_grad_are_restored(twins, call):
    model, _, x = twins
    model[1].eval()                                # a mixed model: BN frozen, the rest training
    model[0].weight.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    call(model, x)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_bad_arguments_are_named(twins):
    model, _, x = twins
    with pytest.raises(ValueError, match=r"saliency: target must lie in \[0, 5\) .*got 7"):
        saliency(model, x, 7)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 5\) .*got \[0, -1, 2\]"):
        guided_backprop(model, x, [0, -1, 2])
    with pytest.raises(ValueError, match=r"one per sample \(3 ints\), got \[1, 2\]"):
        deconvnet(model, x, [1, 2])
    with pytest.raises(ValueError, match=r"grad_cam: x must be a batch of images shaped "
                                         r"\(N, C, H, W\), got shape \(3, 9, 9\)"):
        grad_cam(model, x[0], 1)
    with pytest.raises(ValueError, match=r"grad_cam: unknown layer 'conv9'; the model's layers "
                                         r"are: 0, 1, 2, 3, 4"):
        grad_cam(model, x, 1, layer="conv9")
    with pytest.raises(ValueError, match="a Conv2d that is not part of Sequential"):
        grad_cam(model, x, 1, layer=nn.Conv2d(3, 4, 3))
    with pytest.raises(ValueError, match=r"layer '8' must give feature maps \(N, K, h, w\), "
                                         r"got shape \(3, 5\)"):
        grad_cam(model, x, 1, layer="8")
    with pytest.raises(ValueError, match="has no Conv2d layer"):
        grad_cam(_hand_net(), HAND_X, 0)
    with pytest.raises(ValueError, match="samples must be a positive int, got 0"):
        smoothgrad(model, x, 1, samples=0)
    with pytest.raises(ValueError, match="noise must be a fraction >= 0 .* got -0.1"):
        smoothgrad(model, x, 1, noise=-0.1)
    with pytest.raises(ValueError, match="patch must fit in the 9x9 image, got 12"):
        occlusion(model, x, 1, patch=12)
    with pytest.raises(ValueError, match="by must be 'probability' or 'score', got 'logit'"):
        occlusion(model, x, 1, by="logit")
    with pytest.raises(TypeError, match="model must be a striate.nn.Module"):
        saliency(lambda t: t, x, 1)


def test_plot_attribution_writes_pngs(twins, tmp_path):
    model, _, x = twins
    plot_attribution(x[0], grad_cam(model, x[:1], 1)[0], tmp_path / "cam.png", title="cam")
    plot_attribution(x[0], guided_backprop(model, x[:1], 1)[0], tmp_path / "guided.png")
    for name in ("cam.png", "guided.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="the attribution is 4x4 but the image is 9x9"):
        plot_attribution(x[0], np.zeros((4, 4)), tmp_path / "x.png")


# ---- the command line ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_and_image(tmp_path_factory):
    """An untrained lenet5 for three named classes, saved as `striate train` saves it, a
    20x20 grey PNG (resized to 28x28 on reading) and the class `striate predict` gives it."""
    folder = tmp_path_factory.mktemp("explain")
    manual_seed(0)
    model = models.create("lenet5", num_classes=3, in_channels=1)
    extra = {"mean": [0.3], "std": [0.4], "classes": ["cat", "dog", "emu"],
             "input_size": [28, 28], "channels": 1}
    save_checkpoint(folder / "model.safetensors", model, model_name="lenet5",
                    model_args={"num_classes": 3, "in_channels": 1}, extra=extra)
    pixels = np.zeros((20, 20), np.uint8)
    pixels[4:14, 6:12] = 230
    PIL.fromarray(pixels).save(folder / "shape.png")
    ckpt, image = folder / "model.safetensors", folder / "shape.png"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["predict", str(ckpt), str(image), "--top-k", "1"]) == 0
    return ckpt, image, printed.getvalue().splitlines()[1].split()[1]


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "gradcam", "guided", "deconv",
                                    "occlusion"])
def test_cli_explain_writes_a_png_for_each_method(checkpoint_and_image, tmp_path, capsys,
                                                  method):
    ckpt, image, top = checkpoint_and_image
    out = tmp_path / f"{method}.png"
    assert main(["explain", str(ckpt), str(image), "--method", method, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"predicted: {top} " in printed and f"explained: {top} with" in printed
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_cli_explain_target_and_layer(checkpoint_and_image, tmp_path, capsys):
    ckpt, image, _ = checkpoint_and_image
    argv = ["explain", str(ckpt), str(image), "--method", "gradcam",
            "--out", str(tmp_path / "a.png")]
    assert main(argv + ["--target", "emu", "--layer", "c1"]) == 0
    assert "explained: emu with Grad-CAM" in capsys.readouterr().out
    assert main(argv + ["--target", "1"]) == 0
    assert "explained: dog with" in capsys.readouterr().out
    for extra, fragment in ((["--target", "yak"], "--target must be a class index in [0, 3) or "
                                                  "a class name (cat, dog, emu), got 'yak'"),
                            (["--target", "3"], "got '3'"),
                            (["--layer", "c9"], "unknown layer 'c9'; the model's layers are: c1")):
        assert main(argv + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("striate: error: ") and fragment in err[0]
    assert main(["explain", str(ckpt), str(tmp_path / "none.png")]) == 2
    assert "cannot read image" in capsys.readouterr().err
