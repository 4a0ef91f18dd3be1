"""Visualisations (V1, V3, V6, V7) against hand-computed cases and a PyTorch twin: filter grids
tile the normalised weights, feature maps are the layer's output, total variation, Gram matrices
and the style and content losses equal torch's values and gradients, the optimisers move their
objectives the promised way and are seeded, top_patches finds a planted pattern, the receptive
field follows the stride arithmetic, bad arguments are named, and ``striate visualize`` writes
its PNGs from a tiny checkpoint.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import striate
from striate import models, nn
from striate.autograd import Tensor
from striate.cli import main
from striate import explain as V
from striate.explain._common import _resize_bilinear
from striate.train import save_checkpoint

torch.set_num_threads(1)
PNG = b"\x89PNG"


def tiny_classifier(seed: int = 0, classes: int = 3) -> nn.Sequential:
    """conv 3x3 pad 1 (4) -> ReLU -> max pool 2 -> flatten -> linear: (N, 1, 8, 8) -> (N, 3)."""
    striate.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, classes))


def tiny_features(seed: int = 0, channels: int = 3) -> nn.Sequential:
    """A random-weight VGG-style stack: conv, ReLU, conv, ReLU, avg pool, conv."""
    striate.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1))


def torch_twin(model: nn.Sequential) -> torch.nn.Sequential:
    """The same layers in torch, with the same weights (float64)."""
    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            layers.append(torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size,
                                          padding=m.padding, bias=m.bias is not None))
        elif isinstance(m, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(m, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(m.kernel_size))
        elif isinstance(m, nn.AvgPool2d):
            layers.append(torch.nn.AvgPool2d(m.kernel_size))
        elif isinstance(m, nn.Flatten):
            layers.append(torch.nn.Flatten())
        elif isinstance(m, nn.Linear):
            layers.append(torch.nn.Linear(m.in_features, m.out_features))
    twin = torch.nn.Sequential(*layers).double()
    twin.load_state_dict({k: torch.tensor(v, dtype=torch.float64)
                          for k, v in model.state_dict().items()})
    return twin


def image(shape, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def hooks_left(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


# ---- grids -----------------------------------------------------------------------------------
def test_make_grid_places_tiles_row_by_row_with_padding():
    tiles = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    grid = V.make_grid(tiles, columns=2, padding=1, fill=-1)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1)
    for k in range(5):
        top, left = 1 + (k // 2) * 3, 1 + (k % 2) * 4
        np.testing.assert_array_equal(grid[top:top + 2, left:left + 3], tiles[k])
    assert (grid[0] == -1).all() and (grid[:, 4] == -1).all()
    assert (grid[7:9, 5:8] == -1).all()  # the sixth cell is empty


def test_filter_grid_tiles_each_filter_normalised_by_its_own_range(tmp_path):
    model = tiny_classifier()
    w = model[0].weight.numpy().astype(float)                       # (4, 1, 3, 3)
    grid = V.filter_grid(model, path=tmp_path / "f.png")
    assert grid.shape == (2 * 4 + 1, 2 * 4 + 1)                     # 4 tiles, 2 per row
    for k in range(4):
        top, left = 1 + (k // 2) * 4, 1 + (k % 2) * 4
        tile = grid[top:top + 3, left:left + 3]
        want = (w[k, 0] - w[k].min()) / (w[k].max() - w[k].min())
        np.testing.assert_allclose(tile, want, atol=1e-7)
        assert tile.min() == 0 and tile.max() == pytest.approx(1)
    assert (tmp_path / "f.png").read_bytes()[:4] == PNG
    # the same by the layer's name and given the conv itself
    np.testing.assert_array_equal(V.filter_grid(model, "0"), grid)
    np.testing.assert_array_equal(V.filter_grid(model[0]), grid)


def test_filter_grid_of_rgb_and_multichannel_filters():
    rgb = nn.Conv2d(3, 2, 2)
    w = rgb.weight.numpy().astype(float)
    grid = V.filter_grid(rgb, columns=2)
    assert grid.shape == (4, 7, 3)
    np.testing.assert_allclose(grid[1:3, 4:6], ((w[1] - w[1].min()) / np.ptp(w[1]))
                               .transpose(1, 2, 0), atol=1e-7)
    deep = nn.Conv2d(2, 3, 3)                                     # a row of C tiles per filter
    w = deep.weight.numpy().astype(float)
    grid = V.filter_grid(deep)
    assert grid.shape == (3 * 4 + 1, 2 * 4 + 1)
    f = 2
    both = grid[1 + f * 4:4 + f * 4]
    np.testing.assert_allclose(both[:, 5:8], (w[f, 1] - w[f].min()) / np.ptp(w[f]), atol=1e-7)
    tiles = [both[:, 1:4], both[:, 5:8]]  # one scale per filter, not per tile:
    assert min(t.min() for t in tiles) == 0 and max(t.max() for t in tiles) == pytest.approx(1)
    assert not all(t.min() == 0 and t.max() == pytest.approx(1) for t in tiles)


# ---- feature maps ----------------------------------------------------------------------------
def test_feature_maps_equal_the_layer_output_and_torchs(tmp_path):
    model = tiny_features(channels=1)
    model.train()
    x = image((1, 8, 8))
    maps, grid = V.feature_maps(model, x, "3", path=tmp_path / "maps.png")
    with striate.no_grad():
        want = model[3](model[2](model[1](model[0](Tensor(x[None]))))).numpy()[0]
    np.testing.assert_allclose(maps, want, rtol=1e-6, atol=1e-6)
    twin = torch_twin(model)
    with torch.no_grad():
        theirs = twin[:4](torch.tensor(x[None], dtype=torch.float64)).numpy()[0]
    np.testing.assert_allclose(maps, theirs, rtol=1e-4, atol=1e-5)
    assert maps.shape == (6, 8, 8) and grid.shape == (2 * 9 + 1, 3 * 9 + 1)  # 3 per row
    np.testing.assert_allclose(grid[1:9, 1:9], (maps[0] - maps[0].min()) / np.ptp(maps[0]),
                               atol=1e-6)
    assert (tmp_path / "maps.png").read_bytes()[:4] == PNG
    # the model is left as it was: no hooks, training mode, parameters still trainable
    assert hooks_left(model) == 0 and model.training and model[0].training
    assert all(p.requires_grad for p in model.parameters())
    np.testing.assert_array_equal(V.feature_maps(model, x, model[3])[0], maps)


def test_a_shared_module_gives_its_first_call():
    lenet = models.lenet5()
    x = image((1, 28, 28))
    maps, _ = V.feature_maps(lenet, x, "relu")                 # LeNet-5 reuses one ReLU
    with striate.no_grad():
        want = lenet.relu(lenet.c1(Tensor(x[None]))).numpy()[0]
    np.testing.assert_allclose(maps, want, rtol=1e-6)
    assert maps.shape == (6, 28, 28)


# ---- receptive fields and top patches --------------------------------------------------------
def test_receptive_field_of_lenet5_by_hand():
    lenet = models.lenet5()
    # c1: 5x5 pad 2 -> r 5, offset -2; s2: 2x2/2 -> r 6, jump 2; c3: 5x5 -> r 6 + 4*2 = 14;
    # s4: 2x2/2 -> r 14 + 1*2 = 16, jump 4
    assert V.receptive_field(lenet, "c1", (1, 28, 28)) == ((5, 5), (1, 1), (-2, -2))
    assert V.receptive_field(lenet, "c3", (1, 28, 28)) == ((14, 14), (2, 2), (-2, -2))
    assert V.receptive_field(lenet, "s4", (1, 28, 28)) == ((16, 16), (4, 4), (-2, -2))
    # f6 (after c5, a dense layer on s4's 5x5 map): r = 16 + (5 - 1) * 4 = 32 from -2 on, the
    # input with c1's padding (the field counts it; it is not clipped to the 28x28 image)
    assert V.receptive_field(lenet, "f6", (1, 28, 28)) == ((32, 32), (20, 20), (-2, -2))
    assert V.receptive_field is striate.analysis.receptive_field   # one implementation


class TwoBranches(nn.Module):
    """A strided 3x3 conv plus a strided 1x1 shortcut: the windows do not form a chain."""

    def __init__(self):
        super().__init__()
        self.main = nn.Conv2d(1, 2, 3, stride=2, padding=1)
        self.shortcut = nn.Conv2d(1, 2, 1, stride=2)

    def forward(self, x):
        return self.main(x) + self.shortcut(x)


def test_receptive_field_of_size_changing_branches():
    # followed op by op, the branches need not form a chain: main 3x3/2 pad 1 sees [-1, 2) of
    # the input, jump 2; the 1x1/2 shortcut [0, 1); their sum the union [-1, 2)
    model = TwoBranches()
    assert V.receptive_field(model, "main", (1, 8, 8)) == ((3, 3), (2, 2), (-1, -1))
    assert V.receptive_field(model, model.shortcut, (1, 8, 8)) == ((1, 1), (2, 2), (0, 0))
    assert V.receptive_field(model, model, (1, 8, 8)) == ((3, 3), (2, 2), (-1, -1))


def planted():
    """Six 12x12 images of faint noise; image 4 holds a bright 3x3 cross at rows 5-7, cols 6-8;
    a conv whose kernel is that cross, then ReLU and 2x2 max pooling."""
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.float32)
    images = np.random.default_rng(0).uniform(0, 0.1, (6, 1, 12, 12)).astype(np.float32)
    images[4, 0, 5:8, 6:9] += cross
    model = nn.Sequential(nn.Conv2d(1, 1, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2))
    model[0].weight.data[...] = cross
    return model, images


def test_top_patches_returns_the_planted_pattern(tmp_path):
    model, images = planted()
    best = V.top_patches(model, images, "2", unit=0, k=3, batch_size=4,
                         path=tmp_path / "top.png")
    # the cross's conv response peaks at conv position (5, 6), i.e. pool cell (2, 3), whose
    # field (3x3 conv then 2x2/2 pool: size 4, jump 2, offset 0) is rows 4-7, cols 6-9
    assert tuple(best.positions[0]) == (4, 2, 3)
    assert tuple(best.boxes[0]) == (4, 6, 8, 10)
    np.testing.assert_array_equal(best.patches[0], images[4, :, 4:8, 6:10])
    a = V.layer_activations(model, images, "2")[:, 0]
    assert best.scores[0] == pytest.approx(a[4].max()) and best.scores[0] > 5
    assert best.patches.shape == (3, 1, 4, 4) and len(set(best.positions[:, 0])) == 3
    assert (np.diff(best.scores) <= 0).all()
    np.testing.assert_allclose(best.scores, np.sort(a.reshape(6, -1).max(1))[::-1][:3])
    assert (tmp_path / "top.png").read_bytes()[:4] == PNG


def test_top_patches_fill_outside_the_image():
    model, images = planted()
    padded = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, bias=False))
    padded[0].weight.data[...] = model[0].weight.data
    padded[0].weight.data[0, 0, 1, 1] = 2                       # the centre counts double
    images[2, 0, 0, 0] += 5                                     # the strongest at the corner
    best = V.top_patches(padded, images, "0", unit=0, k=1, fill=-1.0)
    assert tuple(best.positions[0]) == (2, 0, 0) and tuple(best.boxes[0]) == (-1, -1, 2, 2)
    assert (best.patches[0, 0, 0] == -1).all() and (best.patches[0, 0, :, 0] == -1).all()
    np.testing.assert_array_equal(best.patches[0, 0, 1:, 1:], images[2, 0, :2, :2])
    assert best.scores[0] == pytest.approx(10, abs=0.5)


def test_top_patches_of_branches_and_of_a_fractional_field():
    images = np.random.default_rng(3).uniform(0, 0.1, (4, 1, 8, 8)).astype(np.float32)
    images[1, 0, 5, 2] = 3.0
    model = TwoBranches()                  # the sum sees rows [2i - 1, 2i + 2), jump 2
    model.main.weight.data[...] = 1.0
    model.shortcut.weight.data[...] = 1.0
    best = V.top_patches(model, images, model, unit=0, k=1)
    i, j = best.positions[0, 1:]
    assert best.positions[0, 0] == 1 and tuple(best.boxes[0]) == (2 * i - 1, 2 * j - 1,
                                                                   2 * i + 2, 2 * j + 2)
    assert 2 * i - 1 <= 5 < 2 * i + 2 and 2 * j - 1 <= 2 < 2 * j + 2
    # a 2x2/2 transposed conv: unit y at [y/2 - 1/2, y/2 + 1) (r 1.5, j 0.5, t -0.5) is
    # widened to whole pixels, 2 of them, one of which is input pixel floor(y/2) it copies
    up = nn.Sequential(nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False))
    up[0].weight.data[...] = 1.0
    best = V.top_patches(up, images, "0", unit=0, k=2)
    assert best.patches.shape == (2, 1, 2, 2) and best.boxes.dtype == np.int64
    y, x = best.positions[0, 1:]
    top, left, bottom, right = best.boxes[0]
    assert (bottom - top, right - left) == (2, 2) and top <= y // 2 < bottom
    assert left <= x // 2 < right and best.scores[0] == pytest.approx(3.0)


# ---- total variation, Gram matrices, style and content losses --------------------------------
def test_total_variation_by_hand():
    x = Tensor(np.array([[[[1.0, 2.0, 4.0], [0.0, 3.0, 3.0]]]]))
    # (i, j) = (0, 0): right 2 - 1 = 1, down 0 - 1 = -1 -> 2; (0, 1): right 2, down 1 -> 5
    assert V.total_variation(x).item() == pytest.approx(7.0)
    assert V.total_variation(x, reduction="mean").item() == pytest.approx(3.5)
    assert V.total_variation(x, beta=1).item() == pytest.approx(np.sqrt(2) + np.sqrt(5))


def torch_tv(x, beta):
    corner = x[:, :, :-1, :-1]
    terms = (x[:, :, :-1, 1:] - corner) ** 2 + (x[:, :, 1:, :-1] - corner) ** 2
    return (terms if beta == 2 else (terms + 1e-8) ** (beta / 2)).sum()


@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5])
def test_total_variation_gradient_equals_torchs(beta):
    a = np.random.default_rng(2).normal(size=(2, 3, 5, 6))
    x = Tensor(a, requires_grad=True)
    tv = V.total_variation(x, beta=beta)
    tv.backward()
    t = torch.tensor(a, requires_grad=True)
    want = torch_tv(t, beta)
    want.backward()
    assert tv.item() == pytest.approx(want.item(), rel=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_gram_matrix_and_the_losses_equal_torchs():
    rng = np.random.default_rng(3)
    feats = [rng.normal(size=(1, 4, 5, 6)), rng.normal(size=(1, 3, 4, 4))]
    style = [rng.normal(size=(1, 4, 7, 3)), rng.normal(size=(1, 3, 2, 5))]   # other sizes
    content = [rng.normal(size=f.shape) for f in feats]
    ours = [Tensor(f, requires_grad=True) for f in feats]
    theirs = [torch.tensor(f, requires_grad=True) for f in feats]

    def gram(t):
        n, c, h, w = t.shape
        f = t.reshape(n, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)

    np.testing.assert_allclose(V.gram_matrix(ours[0]).numpy(), gram(theirs[0]).detach().numpy(),
                               rtol=1e-12)
    loss = V.style_loss(ours, [Tensor(s) for s in style]) \
        + 0.5 * V.content_loss(ours, [Tensor(c) for c in content])
    want = sum(((gram(t) - gram(torch.tensor(s))) ** 2).sum() for t, s in zip(theirs, style)) / 2 \
        + 0.5 * sum(((t - torch.tensor(c)) ** 2).mean() for t, c in zip(theirs, content)) / 2
    loss.backward()
    want.backward()
    assert loss.item() == pytest.approx(want.item(), rel=1e-12)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-14)


# ---- optimising the input --------------------------------------------------------------------
def test_class_model_raises_the_score_and_is_seeded(tmp_path):
    model = tiny_classifier()
    target = 2
    # on an 8x8 input a 2-pixel jitter and a blur would be drastic; one pixel, no blur
    kwargs = dict(steps=40, lr=0.1, jitter=1, blur_every=0, path=tmp_path / "cm.png")
    out = V.class_model(model, target, (1, 8, 8), seed=5, **kwargs)

    def score(a):
        with striate.no_grad():
            return model(Tensor(a[None])).numpy()[0, target]

    assert out.image.shape == (1, 8, 8) and len(out.history) == 40
    assert abs(out.history[0]) < 0.5 and score(out.image) > out.history[0] + 1.5
    blurred = V.class_model(model, target, (1, 8, 8), steps=40, lr=0.1, jitter=1,
                            blur_every=10, blur_sigma=0.5, seed=5)
    assert score(blurred.image) > blurred.history[0] + 0.5
    assert np.abs(np.diff(blurred.image, axis=2)).mean() < np.abs(np.diff(out.image, axis=2)).mean()
    again = V.class_model(model, target, (1, 8, 8), seed=5, **kwargs)
    np.testing.assert_array_equal(again.image, out.image)
    np.testing.assert_array_equal(again.history, out.history)
    other = V.class_model(model, target, (1, 8, 8), seed=6, **kwargs)
    assert not np.array_equal(other.image, out.image)
    assert (tmp_path / "cm.png").read_bytes()[:4] == PNG
    clipped = V.class_model(model, target, (1, 8, 8), steps=10, clip=(-0.5, 0.25))
    assert clipped.image.min() >= -0.5 and clipped.image.max() <= 0.25
    assert hooks_left(model) == 0 and all(p.grad is None for p in model.parameters())


def test_invert_lowers_its_objective():
    model = tiny_features(channels=1)
    x = image((1, 8, 8), seed=4)
    out = V.invert(model, x, "1", steps=60, lr=0.1, tv_weight=0.01)
    assert out.history[-1] < 0.2 * out.history[0], out.history[[0, -1]]
    np.testing.assert_allclose(out.history, out.terms["match"] + 0.01 * out.terms["tv"],
                               rtol=1e-5)
    assert out.terms["match"][0] == pytest.approx(1.0, abs=0.1)   # from near-zero noise
    # the reconstruction resembles the image (corr) much more than the starting noise did
    assert np.corrcoef(out.image.ravel(), x.ravel())[0, 1] > 0.7


def test_deep_dream_raises_the_layer_norm():
    model = tiny_features(channels=1)
    x = image((1, 12, 12), seed=5)

    def norm(a):
        return np.linalg.norm(V.layer_activations(model, a[None], "3"))

    out = V.deep_dream(model, x, "3", steps=8, lr=0.05)
    assert norm(out.image) > 1.5 * norm(x)
    assert out.history[-1] > out.history[0] and len(out.history) == 8
    octaves = V.deep_dream(model, x, "3", steps=4, octaves=2, octave_scale=1.5)
    assert octaves.image.shape == x.shape and len(octaves.history) == 8
    assert norm(octaves.image) > norm(x)


def test_resize_bilinear_equals_torch_interpolate():
    a = np.random.default_rng(6).normal(size=(2, 5, 7))
    for size in ((3, 4), (8, 11), (5, 7)):
        want = torch.nn.functional.interpolate(torch.tensor(a[None]), size=size,
                                               mode="bilinear", align_corners=False)[0]
        np.testing.assert_allclose(_resize_bilinear(a, size), want.numpy(), atol=1e-12)


def test_style_transfer_lowers_the_style_loss_from_torchs_value():
    model = tiny_features()
    content, style = image((3, 8, 8), seed=7), image((3, 6, 6), seed=8)
    out = V.style_transfer(model, content, style, ["5"], ["1", "3"], steps=15, lr=0.05,
                           style_weight=10.0)
    # step 0 starts at the content image: no content loss; the style term is torch's
    twin = torch_twin(model)
    with torch.no_grad():
        def grams(a):
            t = torch.tensor(a[None], dtype=torch.float64)
            f1 = twin[:2](t)
            f3 = twin[2:4](f1)
            return [(f.reshape(f.shape[1], -1) @ f.reshape(f.shape[1], -1).T) / f[0].numel()
                    for f in (f1, f3)]

        want = sum(((g - h) ** 2).sum() for g, h in zip(grams(content), grams(style))) / 2
    assert out.terms["content"][0] == 0
    assert out.terms["style"][0] == pytest.approx(want.item(), rel=1e-4)
    assert out.history[0] == pytest.approx(10.0 * want.item(), rel=1e-4)
    assert out.terms["style"][-1] < 0.5 * out.terms["style"][0]
    assert out.terms["content"][-1] > 0
    noise = V.style_transfer(model, content, style, ["5"], ["1"], steps=2, init="noise")
    assert not np.allclose(noise.image, content)


# ---- bad arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, fragments", [
    (lambda m, x: V.feature_maps(m, x, "nope"), ValueError,
     ["feature_maps: layer must be one of '0', '1'", "got 'nope'"]),
    (lambda m, x: V.feature_maps(m, x[None, None], "0"), ValueError,
     ["feature_maps: x must be one image, (C, H, W) or (1, C, H, W)", "shape (1, 1, 1, 8, 8)"]),
    (lambda m, x: V.feature_maps(m, [1, 2], "0"), TypeError, ["x must be a (C, H, W) array"]),
    (lambda m, x: V.feature_maps(m, x, "4"), ValueError,
     ["layer must be a layer with spatial output", "got an output of shape (1, 3)"]),
    (lambda m, x: V.feature_maps(m, x, nn.ReLU()), ValueError,
     ["layer must be a module of the model", "got a ReLU module"]),
    (lambda m, x: V.class_model(m, 7, (1, 8, 8)), ValueError,
     ["class_model: target must be a class index in [0, 3), got 7"]),
    (lambda m, x: V.class_model(m, 0, (8, 8)), ValueError,
     ["class_model: input_shape must be (C, H, W)", "got (8, 8)"]),
    (lambda m, x: V.class_model(m, 0, (1, 8, 8), steps=0), ValueError,
     ["class_model: steps must be an int >= 1, got 0"]),
    (lambda m, x: V.class_model(m, 0, (1, 8, 8), clip=(1, 0)), ValueError,
     ["class_model: clip must be None or (low, high) with low < high, got (1, 0)"]),
    (lambda m, x: V.class_model("model", 0, (1, 8, 8)), TypeError,
     ["class_model: model must be a striate.nn.Module, got 'model'"]),
    (lambda m, x: V.deep_dream(m, x, "0", octave_scale=1.0), ValueError,
     ["deep_dream: octave_scale must be a number > 1, got 1.0"]),
    (lambda m, x: V.invert(m, x, "0", tv_beta=0), ValueError,
     ["invert: tv_beta must be a positive number, got 0"]),
    (lambda m, x: V.invert(nn.Sequential(nn.Conv2d(1, 2, 3, bias=False)), 0 * x, "0"),
     ValueError,
     ["invert: x must be an image whose activation at the layer is not all zero"]),
    (lambda m, x: V.top_patches(m, x[None], "0", unit=9), ValueError,
     ["top_patches: unit must be an int in [0, 4) (the layer's channels), got 9"]),
    (lambda m, x: V.top_patches(m, x[None], "0", unit=0, k=0), ValueError,
     ["top_patches: k must be an int >= 1, got 0"]),
    (lambda m, x: V.filter_grid(nn.Sequential(nn.Linear(3, 2))), ValueError,
     ["filter_grid: model must be a model with a 2-D convolution", "got a Sequential module"]),
    (lambda m, x: V.filter_grid(m, "4"), ValueError,
     ["filter_grid: layer must be a 2-D convolution", "got a Linear module"]),
    (lambda m, x: V.style_transfer(m, x, x[:1], ["0"], []), TypeError,
     ["style_transfer: style_layers must be a non-empty list of modules or dotted names"]),
    (lambda m, x: V.style_transfer(tiny_features(), np.ones((3, 8, 8)), x, ["0"], ["0"]),
     ValueError, ["style_transfer: style must be an image with the content's 3 channels",
                  "got 1 channels"]),
    (lambda m, x: V.style_transfer(m, x, x, ["0"], ["0"], init="zeros"), ValueError,
     ["style_transfer: init must be 'content' or 'noise', got 'zeros'"]),
    (lambda m, x: V.total_variation(np.ones((1, 1, 3, 3))), TypeError,
     ["total_variation: x must be a Tensor (N, C, H, W) with H, W >= 2", "an array of shape"]),
    (lambda m, x: V.total_variation(Tensor(np.ones((1, 1, 3, 3))), reduction="max"), ValueError,
     ["total_variation: reduction must be 'sum' or 'mean', got 'max'"]),
])
def test_bad_arguments_name_the_argument(call, error, fragments):
    model, x = tiny_classifier(), image((1, 8, 8))
    with pytest.raises(error) as info:
        call(model, x)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


# ---- the command line ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-weight LeNet-5 checkpoint with Fashion-MNIST-like metadata, and a 28x28 PNG."""
    from PIL import Image
    folder = tmp_path_factory.mktemp("visualize")
    striate.manual_seed(0)
    classes = [f"class{i}" for i in range(9)] + ["Ankle boot"]
    save_checkpoint(folder / "model.safetensors", models.lenet5(), model_name="lenet5",
                    model_args={"num_classes": 10, "in_channels": 1},
                    extra={"mean": [0.3], "std": [0.35], "classes": classes,
                           "input_size": [28, 28], "channels": 1})
    pixels = np.zeros((28, 28), np.uint8)
    pixels[8:20, 6:22] = 200
    Image.fromarray(pixels).save(folder / "boot.png")
    return folder


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("what", [["--filters"], ["--filters", "--layer", "c3"],
                                  ["--class-model", "Ankle boot", "--steps", "3"],
                                  ["--class-model", "2", "--steps", "3"],
                                  ["--dream", "boot.png", "--steps", "2", "--layer", "c1"],
                                  ["--dream", "boot.png", "--steps", "2", "--invert"]])
def test_visualize_writes_a_png(checkpoint, what, tmp_path, capsys):
    what = [str(checkpoint / w) if w.endswith(".png") else w for w in what]
    status, out, err = run(capsys, "visualize", checkpoint / "model.safetensors", *what,
                           "--out", tmp_path / "fig.png")
    assert status == 0, err
    assert (tmp_path / "fig.png").read_bytes()[:4] == PNG
    assert out.startswith(f"wrote {tmp_path / 'fig.png'}")
    if what[0] == "--class-model":
        assert "class model of " + ("'Ankle boot'" if what[1] == "Ankle boot" else "'class2'") \
            in out
    if what[0] == "--dream":
        assert ("on c1" if "c1" in what else "on c3") in out   # default: the last conv


@pytest.mark.parametrize("what, fragment", [
    ([], "one of the arguments --filters --class-model --dream is required"),
    (["--filters", "--dream", "x.png"], "not allowed with argument"),
    (["--class-model", "Sandal"], "--class-model must be a class index in [0, 10) or a class "
                                  "name"),
    (["--class-model", "1", "--layer", "c1"], "--layer applies to --filters and --dream"),
    (["--filters", "--layer", "f6"], "filter_grid: layer must be a 2-D convolution"),
    (["--dream", "BOOT", "--layer", "nope"], "deep_dream: layer must be one of 'c1'"),
    (["--dream", "missing.png"], "cannot read image missing.png"),
    (["--class-model", "1", "--steps", "0"], "--steps must be at least 1"),
])
def test_visualize_user_errors(checkpoint, what, fragment, tmp_path, capsys):
    what = [str(checkpoint / "boot.png") if w == "BOOT" else w for w in what]
    status, _, err = run(capsys, "visualize", checkpoint / "model.safetensors", *what,
                         "--out", tmp_path / "fig.png")
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert fragment in err, err
    assert not (tmp_path / "fig.png").exists()
