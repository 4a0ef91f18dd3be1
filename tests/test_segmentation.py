"""Segmentation (checklist M8, D2): U-Net and V-Net, the generated shapes task, the Dice metric and
loss, and ``striate train unet``.

U-Net keeps the input size (padded convs) or reproduces the paper's 572 -> 388 (valid convs),
concatenates each skip before its decoder, has the parameter count worked out by hand, passes
gradients to the input and computes what a PyTorch twin computes from the same state_dict. V-Net's
stages add their input, and a few steps lower its Dice loss. The shapes' masks are the drawn
shapes, and the data are the same for the same seed. A short run reaches a useful Dice in
seconds; the README's full command is a ``slow`` test.
"""
from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
from striate import cli_segment, models, optim, train
from striate.cli import main
from striate.data import make_shapes, make_shapes3d
from striate.data.shapes import (ball_mask, box_mask, disc_mask, rectangle_mask,
                                 triangle_mask)
from striate.kernels.threads import get_num_threads, set_num_threads
from striate.models.unet import UNet, unet, unet_output_size
from striate.models.vnet import ResidualStage, VNet, stage_convs, vnet

tnn = torch.nn


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One kernel thread: on a shared 2-core runner, two threads spinning for each small conv
    cost ten times more than they save (measured under load: 83 s against 6 s for the short
    training test)."""
    previous = get_num_threads()
    set_num_threads(1)
    yield
    set_num_threads(previous)


def _input(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- U-Net: shapes, errors, parameters -------------------------------------------------------
@pytest.mark.parametrize("depth, size, num_classes", [(1, (8, 12), 1), (2, (16, 8), 3),
                                                      (3, (24, 32), 2)])
def test_unet_output_has_the_input_size(depth, size, num_classes):
    model = UNet(in_channels=2, num_classes=num_classes, base_width=4, depth=depth)
    out = model(striate.tensor(_input(2, 2, *size)))
    assert out.shape == (2, num_classes) + size and out.dtype == np.float32


def test_unet_names_the_model_expectation_and_input_on_bad_sizes():
    model = UNet(base_width=2, depth=3)
    with pytest.raises(ValueError, match=r"UNet\(depth=3, padding='same'\): input height and "
                                         r"width must be multiples of 2\*\*depth = 8 .*got "
                                         r"\(30, 32\)"):
        model(striate.tensor(_input(1, 1, 30, 32)))
    with pytest.raises(ValueError, match=r"expected input \(N, 1, H, W\), got shape "
                                         r"\(1, 3, 32, 32\)"):
        model(striate.tensor(_input(1, 3, 32, 32)))
    valid = UNet(base_width=1, depth=2, padding="valid")
    with pytest.raises(ValueError, match=r"input size 66 does not fit.*near it: \[.*68"):
        valid(striate.tensor(_input(1, 1, 66, 68)))
    for kwargs, arg in (({"depth": 0}, "depth"), ({"base_width": 2.5}, "base_width"),
                        ({"padding": "full"}, "padding"), ({"num_classes": 0}, "num_classes")):
        with pytest.raises(ValueError, match=f"UNet: {arg} must be"):
            UNet(**kwargs)


def test_unet_valid_padding_gives_the_papers_388_from_572():
    assert unet_output_size(572, 4, "valid") == 388       # Fig. 1
    assert unet_output_size(570, 4, "valid") is None      # a pooling would meet an odd size
    assert unet_output_size(64, 3, "same") == 64 and unet_output_size(60, 3, "same") is None
    model = UNet(in_channels=1, num_classes=2, base_width=1, depth=4, padding="valid",
                 batch_norm=False)
    model.eval()
    with striate.no_grad():
        assert model(striate.tensor(_input(1, 1, 572, 572))).shape == (1, 2, 388, 388)


def _record_inputs(modules):
    """Make every module in ``modules`` log the shape and value of its input and output."""
    seen = []
    for m in modules:
        def forward(x, _orig=m.forward):
            y = _orig(x)
            seen.append((x.data.copy(), y.data.copy()))
            return y
        m.forward = forward
    return seen


def test_unet_concatenates_each_skip_before_its_decoder():
    model = UNet(in_channels=1, num_classes=1, base_width=3, depth=3)
    encoded = _record_inputs(model.encoders)
    decoded = _record_inputs(model.decoders)
    model(striate.tensor(_input(2, 1, 16, 16)))
    widths = [3, 6, 12, 24]
    assert [m[0].in_channels for m in model.decoders] == [24, 12, 6]   # 2 w_l, deepest first
    assert [u.out_channels for u in model.upconvs] == [12, 6, 3]       # up-conv halves
    for i, (x, _) in enumerate(decoded):
        level = 2 - i
        side = 16 // 2**level
        assert x.shape == (2, 2 * widths[level], side, side)
        # the first half of the decoder's input is the contracting path's output at that level
        np.testing.assert_array_equal(x[:, :widths[level]], encoded[level][1])


def test_unet_parameter_count_by_hand():
    # k = 4, depth 2, one input and one output channel; 3x3 conv c -> c': c' (9 c + 1)
    enc = 4 * (9 * 1 + 1) + 4 * (9 * 4 + 1) + 8 * (9 * 4 + 1) + 8 * (9 * 8 + 1)
    bottom = 16 * (9 * 8 + 1) + 16 * (9 * 16 + 1)
    up = (4 * 16 * 8 + 8) + (4 * 8 * 4 + 4)                   # 2x2 up-convs 16->8, 8->4
    dec = 8 * (9 * 16 + 1) + 8 * (9 * 8 + 1) + 4 * (9 * 8 + 1) + 4 * (9 * 4 + 1)
    head = 4 * 1 + 1
    total = enc + bottom + up + dec + head
    assert total == 7397
    assert UNet(1, 1, 4, 2, batch_norm=False).num_parameters() == total
    # batch norm: each 3x3 conv loses its bias (c') and gains a scale and a shift (2 c')
    convs3x3 = [4, 4, 8, 8, 16, 16, 8, 8, 4, 4]
    assert UNet(1, 1, 4, 2, batch_norm=True).num_parameters() == total + sum(convs3x3)


def test_unet_paper_configuration_has_31_million_parameters():
    model = UNet(in_channels=1, num_classes=2, base_width=64, depth=4, padding="valid",
                 batch_norm=False)
    assert model.num_parameters() == 31_030_658  # the sum in striate/models/unet.py


def test_unet_gradient_reaches_the_input_and_every_parameter():
    striate.manual_seed(0)
    model = UNet(in_channels=1, num_classes=2, base_width=4, depth=2)
    x = striate.tensor(_input(2, 1, 16, 16), requires_grad=True)
    out = model(x)
    (out * striate.tensor(_input(*out.shape, seed=1))).sum().backward()
    assert x.grad is not None and np.isfinite(x.grad.data).all()
    assert np.abs(x.grad.data).sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.data).sum() > 0, name


# ---- U-Net against a PyTorch twin ------------------------------------------------------------
class TorchUNet(tnn.Module):
    """The same network in PyTorch, written from the paper's description."""

    def __init__(self, in_channels, num_classes, width, depth, padding, batch_norm):
        super().__init__()
        w = [width * 2**level for level in range(depth + 1)]

        def double(c_in, c_out):
            layers = []
            for c in (c_in, c_out):
                layers.append(tnn.Conv2d(c, c_out, 3, padding=1 if padding == "same" else 0,
                                         bias=not batch_norm))
                if batch_norm:
                    layers.append(tnn.BatchNorm2d(c_out))
                layers.append(tnn.ReLU())
            return tnn.Sequential(*layers)

        self.encoders = tnn.ModuleList([double(c, o) for c, o in
                                        zip([in_channels] + w[:depth - 1], w[:depth])])
        self.pool = tnn.MaxPool2d(2)
        self.bottleneck = double(w[depth - 1], w[depth])
        levels = list(reversed(range(depth)))
        self.upconvs = tnn.ModuleList([tnn.ConvTranspose2d(w[l + 1], w[l], 2, stride=2)
                                       for l in levels])
        self.decoders = tnn.ModuleList([double(2 * w[l], w[l]) for l in levels])
        self.head = tnn.Conv2d(w[0], num_classes, 1)

    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, decoder, skip in zip(self.upconvs, self.decoders, reversed(skips)):
            x = up(x)
            top, left = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            skip = skip[:, :, top:top + x.shape[2], left:left + x.shape[3]]
            x = decoder(torch.cat([skip, x], dim=1))
        return self.head(x)


@pytest.mark.parametrize("padding, batch_norm, size", [("same", True, 16), ("valid", False, 44)])
def test_unet_gives_the_logits_and_input_gradient_of_a_pytorch_twin(padding, batch_norm, size):
    striate.manual_seed(0)
    model = UNet(in_channels=2, num_classes=3, base_width=4, depth=2, padding=padding,
                 batch_norm=batch_norm)
    for seed in range(3):  # move the running statistics away from their initial values
        model(striate.tensor(_input(4, 2, size, size, seed=10 + seed) * 2 + 0.5))
    _assert_same_as_twin(model, TorchUNet(2, 3, 4, 2, padding, batch_norm),
                         _input(2, 2, size, size))


def _assert_same_as_twin(model, twin, x):
    """Eval-mode logits and input gradient of ``model`` and its PyTorch ``twin`` (which takes
    the model's state_dict) agree."""
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    model.eval()
    twin.eval()
    xs = striate.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, expected = model(xs), twin(xt)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-4, atol=1e-4)
    g = _input(*out.shape, seed=5)
    (out * striate.tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xs.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---- the shapes dataset ----------------------------------------------------------------------
def test_rasterisers_cover_the_points_inside_and_on_the_border():
    plus = np.zeros((5, 5), bool)
    plus[2, 1:4] = plus[1:4, 2] = True
    np.testing.assert_array_equal(disc_mask((5, 5), (2, 2), 1.0), plus)
    rect = np.zeros((7, 7), bool)
    rect[2:5, 1:6] = True                                # half height 1, half width 2
    np.testing.assert_array_equal(rectangle_mask((7, 7), (3, 3), (1, 2)), rect)
    np.testing.assert_array_equal(rectangle_mask((7, 7), (3, 3), (1, 2), np.pi / 2), rect.T)
    i, j = np.indices((5, 5))
    np.testing.assert_array_equal(triangle_mask((5, 5), [(0, 0), (0, 4), (4, 0)]), i + j <= 4)
    np.testing.assert_array_equal(triangle_mask((5, 5), [(0, 0), (4, 0), (0, 4)]), i + j <= 4)
    assert ball_mask((5, 5, 5), (2, 2, 2), 1.0).sum() == 7    # centre and its 6 neighbours
    box = box_mask((5, 5, 5), (2, 2, 2), (1, 0, 2))
    assert box.sum() == 3 * 1 * 5 and box[1:4, 2, :].all()


def test_shapes_masks_mark_exactly_the_drawn_shapes():
    images, masks = make_shapes(40, size=(32, 24), seed=3, noise=0.0)
    assert images.shape == masks.shape == (40, 1, 32, 24)
    assert images.dtype == masks.dtype == np.float32
    assert set(np.unique(masks)) == {0.0, 1.0} and 0.0 <= images.min() <= images.max() <= 1.0
    for image, mask in zip(images[:, 0], masks[:, 0].astype(bool)):
        assert mask.any() and not mask.all()
        background = image[~mask]
        assert np.ptp(background) == 0                           # one background level
        assert np.abs(image[mask] - background[0]).min() >= 0.25 - 1e-6  # every shape stands out
    fraction = masks.mean()
    assert 0.05 < fraction < 0.5


def test_shapes_noise_has_the_requested_spread():
    images, masks = make_shapes(20, size=48, seed=0, noise=0.1)
    for image, mask in zip(images[:, 0], masks[:, 0].astype(bool)):
        background = image[~mask]
        assert 0.085 < background.std() < 0.115


def test_shapes3d_masks_match_and_the_data_are_seeded():
    volumes, masks = make_shapes3d(10, size=(8, 16, 12), seed=2, noise=0.0)
    assert volumes.shape == masks.shape == (10, 1, 8, 16, 12)
    for volume, mask in zip(volumes[:, 0], masks[:, 0].astype(bool)):
        assert mask.any() and np.ptp(volume[~mask]) == 0
    for make, size in ((make_shapes, (16, 16)), (make_shapes3d, (8, 8, 8))):
        a, b, c = make(6, size, seed=7), make(6, size, seed=7), make(6, size, seed=8)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kwargs, arg", [({"n": -1}, "n"), ({"size": (2, 8)}, "size"),
                                         ({"size": (8, 8, 8)}, "size"),
                                         ({"kinds": ("disc", "star")}, "kinds"),
                                         ({"noise": -0.1}, "noise"), ({"max_shapes": 0},
                                                                      "max_shapes")])
def test_shapes_reject_bad_arguments_by_name(kwargs, arg):
    kwargs = {"n": 2, **kwargs}
    with pytest.raises(ValueError, match=f"make_shapes: {arg} must"):
        make_shapes(**kwargs)


# ---- Dice, pixel accuracy, the loss ----------------------------------------------------------
def test_dice_and_pixel_accuracy_by_hand():
    truth = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], np.float32)[:, None, None]  # (2, 1, 1, 4)
    logits = np.array([[3, -1, 2, -2], [-1, -1, -1, -1]], np.float32)[:, None, None]
    # sample 0: P = {0, 2}, T = {0, 1}: 2 * 1 / (2 + 2) = 0.5; sample 1: both empty, 1
    assert train.dice_score(truth, logits) == pytest.approx(0.75)
    assert train.dice_score(truth[:, 0], logits) == pytest.approx(0.75)  # mask without channel
    assert train.pixel_accuracy(truth, logits) == pytest.approx(6 / 8)
    # three classes: argmax, class 0 is the background, Dice averaged over classes 1 and 2
    labels = np.array([[[0, 1, 2, 2]]])                                  # (1, 1, 4)
    scores = np.zeros((1, 3, 1, 4), np.float32)
    scores[0, [0, 1, 1, 2], 0, [0, 1, 2, 3]] = 1                          # predicts 0 1 1 2
    assert train.dice_score(labels, scores) == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert train.get_metric("dice") == ("dice", train.dice_score)
    with pytest.raises(ValueError, match=r"dice_score: y_true must be a mask"):
        train.dice_score(np.zeros((2, 3, 3)), np.zeros((2, 1, 4, 4)))


def test_dice_bce_loss_matches_torch_value_and_gradient():
    x = _input(3, 1, 6, 5)
    t = (np.random.default_rng(1).random((3, 1, 6, 5)) > 0.6).astype(np.float32)
    xs = striate.tensor(x, requires_grad=True)
    loss = train.dice_bce_loss(xs, t)
    loss.backward()
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t)
    p = torch.sigmoid(xt)
    dice = 1 - (2 * (p * tt).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + tt.sum((1, 2, 3)) + 1)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(xt, tt) + dice.mean()
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    np.testing.assert_allclose(xs.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    # a mask without its channel axis, as ints: the same loss
    assert train.dice_bce_loss(x, t[:, 0].astype(np.int64)).item() == pytest.approx(loss.item())


# ---- V-Net -----------------------------------------------------------------------------------
def test_vnet_forward_and_backward_shapes():
    striate.manual_seed(0)
    model = VNet(in_channels=1, num_classes=2, base_width=4, depth=2, kernel_size=3)
    x = striate.tensor(_input(2, 1, 8, 8, 12), requires_grad=True)
    out = model(x)
    assert out.shape == (2, 2, 8, 8, 12)
    (out * striate.tensor(_input(*out.shape, seed=1))).sum().backward()
    assert x.grad.shape == x.shape and np.abs(x.grad.data).sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad.data).sum() > 0, name
    with pytest.raises(ValueError, match=r"VNet\(depth=2\): input depth, height and width must "
                                         r"be multiples of 2\*\*depth = 4 .*got \(8, 8, 10\)"):
        model(striate.tensor(_input(1, 1, 8, 8, 10)))


def test_vnet_has_the_papers_stage_layout():
    model = VNet(in_channels=1, num_classes=2, base_width=2, depth=4, kernel_size=5)

    def convs(stage):
        return [m for m in stage.convs if isinstance(m, striate.nn.Conv3d)]

    assert [len(convs(s)) for s in model.encoders] + [len(convs(model.bottom))] == [1, 2, 3, 3, 3]
    assert [len(convs(s)) for s in model.decoders] == [3, 3, 2, 1]
    assert [s.channels for s in model.encoders] == [2, 4, 8, 16] and model.bottom.channels == 32
    assert [s.channels for s in model.decoders] == [32, 16, 8, 4]   # 2 w_l after the concat
    assert all(c.kernel_size == (5, 5, 5) for s in model.encoders for c in convs(s))
    down = model.downs[0][0]
    assert down.kernel_size == (2, 2, 2) and down.stride == (2, 2, 2)
    assert [stage_convs(level) for level in range(5)] == [1, 2, 3, 3, 3]


def test_residual_stage_adds_its_input():
    striate.manual_seed(0)
    stage = ResidualStage(4, 4, num_convs=2, kernel_size=3, activation="relu")
    x = striate.tensor(_input(2, 4, 6, 6, 6))
    np.testing.assert_allclose(stage(x).data, F.relu(stage.convs(x) + x).data, rtol=1e-6)
    for m in stage.convs:  # without the convolutions' contribution only the input is left
        if isinstance(m, striate.nn.Conv3d):
            m.weight.data[...] = 0
            m.bias.data[...] = 0
    np.testing.assert_array_equal(stage(x).data, np.maximum(x.data, 0))
    # a first stage repeats its one-channel input to its width; otherwise it projects
    first = ResidualStage(1, 4, num_convs=1, kernel_size=3, activation="relu")
    one = striate.tensor(np.abs(_input(1, 1, 4, 4, 4)))
    np.testing.assert_array_equal(first.shortcut(one).data, np.repeat(one.data, 4, axis=1))
    assert first.projection is None
    assert ResidualStage(3, 4, 1, 3).projection.weight.shape == (4, 3, 1, 1, 1)


class TorchResidualStage(tnn.Module):
    def __init__(self, cin, c, num_convs, k, act, bn):
        super().__init__()
        layers = []
        for i in range(num_convs):
            layers.append(tnn.Conv3d(cin if i == 0 else c, c, k, padding=k // 2, bias=not bn))
            if bn:
                layers.append(tnn.BatchNorm3d(c))
            if i < num_convs - 1:
                layers.append(act())
        self.convs = tnn.Sequential(*layers)
        self.projection = None if c % cin == 0 else tnn.Conv3d(cin, c, 1, bias=False)
        self.cin, self.c, self.act = cin, c, act()

    def forward(self, x):
        short = (self.projection(x) if self.projection is not None
                 else x.repeat(1, self.c // self.cin, 1, 1, 1))
        return self.act(self.convs(x) + short)


class TorchVNet(tnn.Module):
    """V-Net written again from the paper's Fig. 1, with Striate's names."""

    def __init__(self, cin, classes, width, depth, k, act, bn):
        super().__init__()
        act = {"elu": tnn.ELU, "relu": tnn.ReLU}[act]
        w = [width * 2**level for level in range(depth + 1)]

        def norm_act(conv, c):
            return tnn.Sequential(conv, *([tnn.BatchNorm3d(c)] if bn else []), act())
        self.encoders = tnn.ModuleList([
            TorchResidualStage(cin if l == 0 else w[l], w[l], stage_convs(l), k, act, bn)
            for l in range(depth)])
        self.downs = tnn.ModuleList([
            norm_act(tnn.Conv3d(w[l], w[l + 1], 2, stride=2, bias=not bn), w[l + 1])
            for l in range(depth)])
        self.bottom = TorchResidualStage(w[depth], w[depth], stage_convs(depth), k, act, bn)
        levels = range(depth - 1, -1, -1)
        self.ups = tnn.ModuleList([
            norm_act(tnn.ConvTranspose3d(2 * w[l + 1] if l < depth - 1 else w[depth], w[l], 2,
                                         stride=2, bias=not bn), w[l]) for l in levels])
        self.decoders = tnn.ModuleList([
            TorchResidualStage(2 * w[l], 2 * w[l], stage_convs(l), k, act, bn) for l in levels])
        self.head = tnn.Conv3d(2 * w[0], classes, 1)

    def forward(self, x):
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.bottom(x)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = decoder(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


@pytest.mark.parametrize("activation, batch_norm", [("elu", False), ("relu", True)])
def test_vnet_gives_the_logits_and_input_gradient_of_a_pytorch_twin(activation, batch_norm):
    striate.manual_seed(0)
    model = VNet(in_channels=1, num_classes=2, base_width=4, depth=2, kernel_size=3,
                 activation=activation, batch_norm=batch_norm)
    for seed in range(2):  # move the running statistics away from their initial values
        model(striate.tensor(_input(2, 1, 8, 8, 8, seed=10 + seed) * 2 + 0.5))
    _assert_same_as_twin(model, TorchVNet(1, 2, 4, 2, 3, activation, batch_norm),
                         _input(2, 1, 8, 8, 8))


def test_vnet_dice_loss_falls_in_a_few_steps():
    striate.manual_seed(0)
    volumes, masks = make_shapes3d(8, size=(16, 16, 16), seed=0)
    x = striate.tensor((volumes - volumes.mean()) / volumes.std())
    model = vnet(base_width=4, depth=2)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = F.dice_loss(F.sigmoid(model(x)), masks, squared=True)  # the paper's form
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


# ---- training --------------------------------------------------------------------------------
def test_unet_learns_the_shapes_quickly():
    """A small U-Net on 32x32 shapes: a useful Dice in a few seconds (the README's run: 0.9+)."""
    striate.manual_seed(0)
    x, m = make_shapes(384, size=(32, 32), seed=0)
    x_test, m_test = make_shapes(128, size=(32, 32), seed=1)
    mean, std = x.mean(), x.std()
    model = unet(base_width=8, depth=2)
    start = time.perf_counter()
    history = train.fit(model, ((x - mean) / std, m), epochs=3, loss="dice_bce",
                        metrics=["dice", "pixel_accuracy"], batch_size=16, seed=0, verbose=0,
                        optimizer=optim.Adam(model.parameters(), lr=5e-3))
    seconds = time.perf_counter() - start
    assert history.history["loss"][-1] < history.history["loss"][0]
    scores = train.evaluate(model, ((x_test - mean) / std, m_test), loss="dice_bce",
                            metrics=["dice", "pixel_accuracy"])
    assert scores["dice"] >= 0.8, (scores, seconds)
    assert scores["pixel_accuracy"] >= 0.95


@pytest.fixture
def small_shapes(monkeypatch):
    """The CLI's shapes splits cut to 48 training and 16 test images."""
    monkeypatch.setattr(cli_segment, "SHAPES_TRAIN", 48)
    monkeypatch.setattr(cli_segment, "SHAPES_TEST", 16)


def test_cli_trains_and_evaluates_unet(tmp_path, capsys, small_shapes):
    out = tmp_path / "unet"
    assert main(["train", "unet", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "on shapes (64x64): 48 training images" in printed
    dice = float(re.search(r"test Dice: ([0-9.]+) \(16 images", printed).group(1))
    assert 0.0 <= dice <= 1.0 and re.search(r"test pixel accuracy: [0-9.]+", printed)
    for name in ("model.safetensors", "history.csv", "learning_curves.png", "predictions.png"):
        assert (out / name).is_file(), name
    assert (out / "history.csv").read_text().startswith("epoch,loss,dice,pixel_accuracy")
    meta = json.loads((out / "model.safetensors.json").read_text())
    assert meta["model"]["args"] == {"num_classes": 1, "in_channels": 1}
    assert meta["extra"]["task"] == "segment" and meta["extra"]["input_size"] == [64, 64]
    assert main(["evaluate", str(out / "model.safetensors")]) == 0
    again = capsys.readouterr().out
    assert f"test Dice: {dice:.4f}" in again  # the checkpoint gives the same score back
    assert main(["predict", str(out / "model.safetensors"), str(out / "predictions.png")]) == 2
    assert "segmentation model unet" in capsys.readouterr().err


def test_cli_trains_vnet_on_volumes(tmp_path, capsys, small_shapes):
    assert main(["train", "vnet", "--epochs", "1", "--limit", "16", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "on shapes (16x16x16): 16 training volumes" in printed and "test Dice:" in printed


@pytest.mark.parametrize("argv, message", [
    (["train", "lenet5", "--dataset", "shapes"], "lenet5 is a classification model"),
    (["train", "unet", "--dataset", "digits"], "unet is a segmentation model"),
    (["train", "unet", "--augment", "flip"], "moves an image but not its mask"),
])
def test_cli_rejects_mismatched_tasks_in_one_line(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_models_lists_the_segmentation_models(capsys, monkeypatch):
    assert models.MODELS["unet"].task == models.MODELS["vnet"].task == "segment"
    monkeypatch.setattr(models, "list_models", lambda: ["unet", "vnet"])  # not the whole zoo
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"unet\s+64x64\s+482,449 params", out)
    assert re.search(r"vnet\s+16x16x16\s+871,657 params", out)


@pytest.mark.slow
def test_unet_cli_reaches_dice_090(tmp_path, capsys):
    """The README's command: 4 epochs on 2,000 shapes (64x64), test Dice >= 0.9."""
    assert main(["train", "unet", "--dataset", "shapes", "--epochs", "4",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    dice = float(re.search(r"test Dice: ([0-9.]+)", out).group(1))
    assert dice >= 0.9, out
