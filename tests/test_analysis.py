"""``striate.analysis.summary`` and ``striate summary``: output shapes against the output-size
formula, parameter and multiply-add counts by hand and against PyTorch's FLOP counter, receptive
fields and jumps of the lectures' stacks (two 3x3 -> 5, three -> 7, AlexNet 195, VGG-16 212),
non-sequential models (residual sums, Inception's concatenation), and the fields' offsets by hand,
against the input gradient's support and against the chain composition on LeNet-5 and ResNet-20.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import striate
from striate import analysis, models, nn
from striate.autograd import Function, observe_ops
from striate.cli import main

torch.set_num_threads(1)  # torch's threads slow NumPy's down on a small machine (10x here)


def final(layers, input_shape, **kwargs):
    """The model's own row (its output) of the summary of ``nn.Sequential(*layers)``."""
    return analysis.summary(nn.Sequential(*layers), input_shape, **kwargs).rows[0]


@pytest.fixture(scope="module")
def resnet20_summary():
    return analysis.summary(models.create("resnet20"), (1, 28, 28))


def torch_macs(model, x) -> int:
    """Multiply-adds by PyTorch's FLOP counter, which counts 2 FLOPs per multiply-add."""
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


# ---- receptive fields -------------------------------------------------------------------------
@pytest.mark.parametrize("n, expected", [(1, 3), (2, 5), (3, 7)])
def test_stacked_3x3_convolutions_see_5x5_then_7x7(n, expected):
    layers = [nn.Conv2d(2, 2, 3, padding=1) for _ in range(n)]
    row = final(layers, (2, 12, 12))
    assert row.receptive_field == expected and row.jump == 1


def test_pooling_then_conv_gives_field_6_and_jump_2():
    s = analysis.summary(nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(1, 1, 3)), (1, 12, 12))
    assert (s["0"].receptive_field, s["0"].jump) == (2, 2)
    assert (s["1"].receptive_field, s["1"].jump) == (6, 2)  # 2 + (3 - 1) * 2


def test_dilation_spreads_the_taps():
    # r = 1 + (3 - 1) * d for each layer: 1 + 2 + 4 + 8 = 15 after d = 1, 2, 4
    s = analysis.summary(nn.Sequential(*(nn.Conv2d(1, 1, 3, dilation=d, padding=d)
                                         for d in (1, 2, 4))), (1, 20, 20))
    assert [s[str(i)].receptive_field for i in range(3)] == [3, 7, 15]
    assert final([nn.MaxPool2d(2, dilation=2)], (1, 9, 9)).receptive_field == 3


def alexnet_features():
    """torchvision's AlexNet up to its classifier."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))


def test_alexnet_features_receptive_field_by_hand():
    # r_out = r_in + (k - 1) j_in, j_out = j_in s, from r = j = 1:
    # conv 11/4: r = 1 + 10 = 11, j = 4      pool 3/2: r = 11 + 2*4 = 19, j = 8
    # conv 5:    r = 19 + 4*8 = 51           pool 3/2: r = 51 + 2*8 = 67, j = 16
    # conv 3 x3: r = 67 + 2*16 = 99, 131, 163
    # pool 3/2:  r = 163 + 2*16 = 195, j = 32
    s = analysis.summary(alexnet_features(), (3, 224, 224))
    fields = [(r.receptive_field, r.jump) for r in s.rows[1:] if r.type != "ReLU"]
    assert fields == [(11, 4), (19, 8), (51, 8), (67, 16), (99, 16), (131, 16), (163, 16),
                      (195, 32)]
    assert s.rows[0].output_shape == (1, 256, 6, 6)  # 224 -> 55 -> 27 -> 27 -> 13 -> 13 -> 6


def test_vgg16_features_receptive_field_by_hand():
    # Each 3x3 conv adds 2 j, each 2x2/2 pool adds j and doubles j:
    # block 1 (j 1):  3, 5,        pool 6,   j 2
    # block 2 (j 2):  10, 14,      pool 16,  j 4
    # block 3 (j 4):  24, 32, 40,  pool 44,  j 8
    # block 4 (j 8):  60, 76, 92,  pool 100, j 16
    # block 5 (j 16): 132, 164, 196, pool 212, j 32
    layers, c = [], 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2))
    s = analysis.summary(nn.Sequential(*layers), (3, 32, 32))  # the field needs no 224 image
    pools = [(r.receptive_field, r.jump) for r in s.rows if r.type == "MaxPool2d"]
    assert pools == [(6, 2), (16, 4), (44, 8), (100, 16), (212, 32)]


def test_non_square_fields_are_tuples_and_1d_3d_work():
    row = final([nn.Conv2d(1, 1, (3, 5), stride=(1, 2))], (1, 9, 9))
    assert row.receptive_field == (3, 5) and row.jump == (1, 2)
    assert final([nn.Conv1d(1, 2, 5), nn.MaxPool1d(2)], (1, 20)).receptive_field == 6
    row = final([nn.Conv3d(1, 2, 3), nn.MaxPool3d(2)], (1, 6, 6, 8))
    assert (row.receptive_field, row.jump, row.output_shape) == (4, 2, (1, 2, 2, 2, 3))


def test_transposed_convolution_divides_the_jump_by_its_stride():
    # conv 3: r 3, j 1; transposed 4/2: j = 1/2, r = 3 + (4 - 1) * 1/2 = 4.5; conv 3: 4.5 + 2/2
    s = analysis.summary(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1),
                                       nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1),
                                       nn.Conv2d(2, 1, 3, padding=1)), (1, 8, 8))
    assert (s["1"].receptive_field, s["1"].jump, s["1"].output_shape) == (4.5, 0.5, (1, 2, 16, 16))
    assert (s["2"].receptive_field, s["2"].jump) == (5.5, 0.5)


@pytest.mark.parametrize("n, o, expected", [
    (12, 3, (6, 4)),  # bins of 4: r = 3 + 3 * 1, j = 4
    (7, 3, (5, 2)),   # bins [0, 3), [2, 5), [4, 7): widest 3, centres 1, 3, 5
    (1, 7, (3, 0)),   # one cell copied 7 times (VGG's 7x7 pooling on a 32x32 image)
])
def test_adaptive_pooling_windows(n, o, expected):
    row = final([nn.Conv2d(1, 1, 3, padding=1), nn.AdaptiveAvgPool2d(o)], (1, n, n))
    assert (row.receptive_field, row.jump) == expected


@pytest.mark.parametrize("head", [
    [nn.GlobalAvgPool2d()], [nn.AdaptiveAvgPool2d(1)], [nn.AdaptiveMaxPool2d(1), nn.Flatten()],
    [nn.Flatten(), nn.Linear(2 * 9 * 9, 4)]])
def test_global_pooling_and_dense_layers_cover_the_whole_map(head):
    # the 9x9 map of 3x3 fields, mixed whole: 3 + (9 - 1) * 1 = 11 >= the 9x9 input
    assert final([nn.Conv2d(1, 2, 3, padding=1)] + head, (1, 9, 9)).receptive_field == 11


def test_flatten_keeps_each_elements_field_lenet_c5_sees_the_padded_32x32():
    s = analysis.summary(models.lenet5(), (1, 28, 28))
    assert [(s[n].receptive_field, s[n].jump) for n in ("c1", "s2", "c3", "s4", "flatten")] == \
        [(5, 1), (6, 2), (14, 2), (16, 4), (16, 4)]
    assert s["c5"].receptive_field == 32  # 16 + (5 - 1) * 4: the paper's 32x32 field


def test_concatenated_branches_take_the_largest_field():
    block = nn.Inception(4, 2, 2, 2, 2, 2, 2)  # branches: 1x1, 3x3, 5x5, pool 3 + 1x1
    s = analysis.summary(nn.Sequential(block), (4, 9, 9))
    assert [s[f"0.branch{i}"].receptive_field for i in (1, 2, 3, 4)] == [1, 3, 5, 3]
    assert s["0"].receptive_field == 5 and s["0"].output_shape == (1, 8, 9, 9)


def test_residual_sum_takes_the_largest_field_of_its_inputs(resnet20_summary):
    s = resnet20_summary
    # layer1 ends at 3 + 6 * 2 = 15; layer2.0: conv 3/2 -> 17 (j 2), conv 3 -> 21; shortcut 15
    assert (s["layer2.0.downsample"].receptive_field, s["layer2.0.downsample"].jump) == (15, 2)
    assert (s["layer2.0"].receptive_field, s["layer2.0"].jump) == (21, 2)


class Upsample2x(Function):
    """Nearest-neighbour upsampling: an op the receptive-field rules do not know."""

    def forward(self, x):
        return x.repeat(2, axis=-1).repeat(2, axis=-2)


class Up(nn.Module):
    def forward(self, x):
        return Upsample2x()(x)


def test_an_unknown_op_that_resizes_gives_an_unknown_field():
    s = analysis.summary(nn.Sequential(nn.Conv2d(1, 1, 3), Up(), nn.Conv2d(1, 1, 3)), (1, 6, 6))
    assert s["0"].receptive_field == 3
    assert s["1"].receptive_field == "?" and s["2"].receptive_field == "?"
    assert "RF ?" in str(s)


# ---- where the field starts (the offset) and one layer's field ---------------------------------
def ones_model(model):
    """Every parameter 1, in float64: a unit's gradient is then positive on all its field."""
    for p in model.parameters():
        p.data[...] = 1.0
    return model.double()


def true_field(model, input_shape, index) -> tuple:
    """Per spatial axis the input pixels ``(first, last + 1)`` that the output unit at
    ``index`` depends on: where d out[index] / dx is not 0 (all weights 1, no ReLU)."""
    x = striate.Tensor(np.ones((1,) + input_shape), requires_grad=True)
    out = model(x)
    gy = np.zeros(out.shape)
    gy[(0, 0) + index] = 1.0
    out.backward(gy)
    hit = np.nonzero(x.grad.numpy()[0, 0])
    return tuple((int(a.min()), int(a.max()) + 1) for a in hit)


def clipped(field, index, input_shape) -> tuple:
    """``[offset + i * jump, ... + size)`` per axis, cut to the image."""
    return tuple((max(t + i * j, 0), min(t + i * j + r, n)) for r, j, t, i, n in
                 zip(*field, index, input_shape[1:]))


def test_offset_by_hand_conv_pool_conv_and_against_the_gradient():
    # t_out = t_in - p j_in, r_out = r_in + (k - 1) j_in, j_out = j_in s, from r = j = 1, t = 0:
    # conv 3x3 pad 1:  r = 1 + 2*1 = 3, j = 1, t = 0 - 1*1 = -1
    # pool 2x2/2:      r = 3 + 1*1 = 4, j = 2, t = -1 - 0 = -1
    # conv 3x3 pad 1:  r = 4 + 2*2 = 8, j = 2, t = -1 - 1*2 = -3
    # so unit (i, j) sees rows [2i - 3, 2i + 5): unit 0 reaches 3 pixels into the padding
    model = ones_model(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2),
                                     nn.Conv2d(1, 1, 3, padding=1)))
    fields = [analysis.receptive_field(model, str(i), (1, 12, 12)) for i in range(3)]
    assert fields == [((3, 3), (1, 1), (-1, -1)), ((4, 4), (2, 2), (-1, -1)),
                      ((8, 8), (2, 2), (-3, -3))]
    assert fields[2] == analysis.ReceptiveField(size=(8, 8), jump=(2, 2), offset=(-3, -3))
    for index in [(0, 0), (2, 3), (5, 5), (3, 0)]:
        assert true_field(model, (1, 12, 12), index) == clipped(fields[2], index, (1, 12, 12))
    s = analysis.summary(model, (1, 12, 12))
    assert [s[str(i)].offset for i in range(3)] == [-1, -1, -3]


class ProjectionBlock(nn.Module):
    """A residual block with a projection shortcut: 3x3/2 pad 1 -> 3x3 pad 1, plus 1x1/2."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 1, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(1, 1, 3, padding=1)
        self.shortcut = nn.Conv2d(1, 1, 1, stride=2)

    def forward(self, x):
        return self.conv2(self.conv1(x)) + self.shortcut(x)


def test_residual_block_offset_is_the_union_of_its_branches():
    # conv1: r 3, j 2, t -1; conv2: r 3 + 2*2 = 7, t -1 - 1*2 = -3; shortcut: r 1, j 2, t 0.
    # union of [-3, 4) and [0, 1): [-3, 4), the main branch's
    block = ones_model(ProjectionBlock())
    field = analysis.receptive_field(block, block, (1, 11, 11))
    assert field == ((7, 7), (2, 2), (-3, -3))
    assert analysis.receptive_field(block, "shortcut", (1, 11, 11)) == ((1, 1), (2, 2), (0, 0))
    for index in [(0, 0), (2, 2), (5, 1)]:
        assert true_field(block, (1, 11, 11), index) == clipped(field, index, (1, 11, 11))


class ShiftedBranches(nn.Module):
    """Two 3x3 branches that see different windows: a valid conv, and a padded one cropped
    from its third cell on; their sum sees more than either."""

    def __init__(self):
        super().__init__()
        self.valid = nn.Conv2d(1, 1, 3)
        self.padded = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.valid(x) + self.padded(x)[:, :, 2:, 2:]


def test_a_sum_of_shifted_branches_sees_the_union_not_the_larger_field():
    # valid: unit i sees [i, i + 3); padded: conv unit u sees [u - 1, u + 2), the crop starts
    # at u = 2 (t = -1 + 2*1 = 1): [i + 1, i + 4). The sum: [i, i + 4), r = 4, t = 0
    model = ones_model(ShiftedBranches())
    field = analysis.receptive_field(model, model, (1, 8, 8))
    assert field == ((4, 4), (1, 1), (0, 0))
    for index in [(0, 0), (1, 2), (5, 5)]:
        assert true_field(model, (1, 8, 8), index) == clipped(field, index, (1, 8, 8))
    assert analysis.summary(model, (1, 8, 8)).rows[0].receptive_field == 4


def test_offsets_of_inception_transposed_and_reflect_padding():
    s = analysis.summary(nn.Sequential(nn.Inception(4, 2, 2, 2, 2, 2, 2)), (4, 9, 9))
    assert [s[f"0.branch{i}"].offset for i in (1, 2, 3, 4)] == [0, -1, -2, -1]
    assert s["0"].offset == -2  # [-2, 3): the 5x5 branch, centred like the others
    # transposed 4/2 pad 1 after a conv 3 pad 1 (t -1): t = -1 + (1 - (4 - 1)) * 1/2 = -2
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1),
                          nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1))
    assert analysis.receptive_field(model, "1", (1, 8, 8)) == ((4.5, 4.5), (0.5, 0.5), (-2, -2))
    for mode in ("zeros", "reflect"):  # reflect pads with an op of its own, then convolves
        conv = nn.Conv2d(1, 1, 3, padding=(1, 2), padding_mode=mode)
        assert analysis.receptive_field(conv, conv, (1, 6, 6)) == ((3, 3), (1, 1), (-1, -2))


def chain_field(model, layer, input_shape) -> tuple:
    """The reference: the window modules (``kernel_size``, ``stride``) called before the
    layer's output, composed in call order (what striate.explain.visualize did before the
    analysis took it over; right for chains only): t -= p j, r += (k - 1) d j, j *= s."""
    calls, upto = [], []
    target = dict(model.named_modules())[layer]

    def hook(module, args, out):
        if hasattr(module, "kernel_size") and not module._modules:
            calls.append(module)
        if module is target and not upto:
            upto.extend(calls)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with striate.no_grad():
        model.eval()(striate.zeros(1, *input_shape))
    for h in handles:
        h.remove()
    r, j, t = [1, 1], [1, 1], [0, 0]
    for m in upto:
        pairs = [(v, v) if isinstance(v, int) else v for v in
                 (m.kernel_size, m.stride, getattr(m, "padding", 0), getattr(m, "dilation", 1))]
        for a in range(2):
            k, s, p, d = (v[a] for v in pairs)
            t[a] -= p * j[a]
            r[a] += (k - 1) * d * j[a]
            j[a] *= s
    return tuple(r), tuple(j), tuple(t)


def test_offsets_equal_the_chain_composition_on_lenet5_and_resnet20():
    lenet = models.lenet5()
    for name in ("c1", "s2", "c3", "s4"):
        assert analysis.receptive_field(lenet, name, (1, 28, 28)) == \
            chain_field(lenet, name, (1, 28, 28)), name
    resnet = models.create("resnet20")
    names = [n for n, m in resnet.named_modules()
             if isinstance(m, nn.Conv2d) or n.count(".") == 1]  # every conv, every block
    assert len(names) == 19 + 9
    for name in names:
        assert analysis.receptive_field(resnet, name, (1, 28, 28)) == \
            chain_field(resnet, name, (1, 28, 28)), name
    # each block adds two 3x3 convolutions: t -= j twice; every field stays centred on its unit
    # (unit 0's centre t + r / 2 = 0.5, the middle of pixel 0)
    assert analysis.receptive_field(resnet, "layer2.0", (1, 28, 28)) == ((21, 21), (2, 2),
                                                                        (-10, -10))
    assert analysis.receptive_field(resnet, "layer3.2", (1, 28, 28)) == ((81, 81), (4, 4),
                                                                        (-40, -40))
    # the zero-padded shortcut is a subsample: layer1's field, not the block's main branch
    assert analysis.receptive_field(resnet, "layer2.0.downsample", (1, 28, 28)) == \
        ((15, 15), (2, 2), (-7, -7))


class WithSpare(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.spare = nn.Conv2d(1, 1, 3), nn.ReLU()

    def forward(self, x):
        return self.conv(x)


def test_receptive_field_errors_name_the_problem():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), Up(), nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match=r"receptive_field: layer must be a module of the model "
                                         r"or its dotted name \('0', '1', '2'\), got 'nope'"):
        analysis.receptive_field(model, "nope", (1, 6, 6))
    with pytest.raises(ValueError, match="a ReLU that is not part of Sequential"):
        analysis.receptive_field(model, nn.ReLU(), (1, 6, 6))
    with pytest.raises(ValueError, match="rules do not know"):
        analysis.receptive_field(model, "2", (1, 6, 6))
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        analysis.receptive_field(model, "0", (1, 0, 6))
    with pytest.raises(ValueError, match="never called the layer 'spare'"):
        analysis.receptive_field(WithSpare(), "spare", (1, 6, 6))
    assert all(m.training for m in model.modules())


# ---- shapes, parameters, multiply-adds, memory ------------------------------------------------
@pytest.mark.parametrize("w1, f, p, s", [(28, 5, 2, 1), (32, 5, 0, 1), (227, 11, 0, 4),
                                         (224, 3, 1, 2), (7, 3, 0, 2), (224, 7, 3, 2),
                                         (13, 3, 1, 1), (10, 4, 1, 3)])
def test_output_size_is_the_formula(w1, f, p, s):
    w2 = (w1 - f + 2 * p) // s + 1  # W2 = (W1 - F + 2P) / S + 1
    row = final([nn.Conv2d(1, 2, f, stride=s, padding=p)], (1, w1, w1 + 1))
    assert row.output_shape == (1, 2, w2, (w1 + 1 - f + 2 * p) // s + 1)


@pytest.mark.parametrize("name", ["lenet5", "fmnist-cnn", "resnet20"])
def test_parameter_counts_add_up_to_the_models(name):
    model = models.create(name)
    s = analysis.summary(model, (1, 28, 28))
    assert s.total_params == model.num_parameters() == sum(r.params for r in s.rows)
    assert s.param_bytes == 4 * model.num_parameters()


def test_parameters_by_the_lecture_formula_and_frozen_ones():
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 8, 1))
    model[1].requires_grad_(False)
    s = analysis.summary(model, (3, 8, 8))
    assert s["0"].params == (3 * 3 * 3 + 1) * 64  # [(F F D1) + 1] K
    assert (s["1"].params, s["1"].trainable_params) == (128, 0)
    assert s.trainable_params == s.total_params - 128 == (27 + 1) * 64 + (64 + 1) * 8
    assert s.buffer_bytes == 4 * (64 + 64) + 8  # running mean, var (float32), batch count (int64)


def test_a_module_called_twice_counts_its_parameters_once():
    lin = nn.Linear(4, 4)
    s = analysis.summary(nn.Sequential(lin, nn.ReLU(), lin), (4,))
    assert [r.params for r in s.rows[1:]] == [20, 0, 0] and s.total_macs == 32
    assert s.rows[1].receptive_field is None  # no spatial axes


def test_conv_and_linear_multiply_adds_by_hand():
    # K * C_in / groups * KH * KW * OH * OW per image
    s = analysis.summary(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1)), (3, 16, 16),
                         batch_size=3)
    assert s["0"].macs == s.total_macs == 3 * 8 * 3 * 9 * 8 * 8
    assert s.rows[0].macs == 0  # a container's row counts only the ops it runs itself
    s = analysis.summary(nn.Conv2d(4, 8, 3, groups=2), (4, 10, 10))
    assert s.total_macs == 8 * 2 * 9 * 8 * 8
    assert analysis.summary(nn.Linear(400, 120), (400,)).total_macs == 400 * 120


def test_lenet5_multiply_adds_by_hand():
    # c1 6*1*25*28*28 = 117,600   c3 16*6*25*10*10 = 240,000   c5 400*120 = 48,000
    # f6 120*84 = 10,080          output 84*10 = 840           total 416,520
    s = analysis.summary(models.lenet5(), (1, 28, 28))
    assert [s[n].macs for n in ("c1", "c3", "c5", "f6", "output")] == \
        [117_600, 240_000, 48_000, 10_080, 840]
    assert s.total_macs == 416_520 and s["s2"].macs == s["relu"].macs == 0


@pytest.mark.parametrize("layer, shape", [
    ((nn.Conv2d, torch.nn.Conv2d), dict(args=(3, 6, 3), kwargs=dict(stride=2, padding=1),
                                        x=(2, 3, 11, 11))),
    ((nn.Conv2d, torch.nn.Conv2d), dict(args=(4, 8, 3), kwargs=dict(groups=4, dilation=2),
                                        x=(1, 4, 12, 12))),
    ((nn.ConvTranspose2d, torch.nn.ConvTranspose2d), dict(args=(4, 2, 4),
                                                          kwargs=dict(stride=2, padding=1),
                                                          x=(2, 4, 5, 5))),
    ((nn.Conv3d, torch.nn.Conv3d), dict(args=(2, 3, 3), kwargs={}, x=(1, 2, 5, 6, 7))),
    ((nn.Linear, torch.nn.Linear), dict(args=(7, 5), kwargs={}, x=(3, 7))),
])
def test_multiply_adds_equal_pytorchs_flop_counter(layer, shape):
    ours, theirs = layer
    s = analysis.summary(ours(*shape["args"], **shape["kwargs"]), shape["x"][1:],
                         batch_size=shape["x"][0])
    assert s.total_macs == torch_macs(theirs(*shape["args"], **shape["kwargs"]),
                                      torch.zeros(shape["x"]))


def torch_lenet5():
    t = torch.nn
    return t.Sequential(t.Conv2d(1, 6, 5, padding=2), t.ReLU(), t.MaxPool2d(2), t.Conv2d(6, 16, 5),
                        t.ReLU(), t.MaxPool2d(2), t.Flatten(), t.Linear(400, 120), t.ReLU(),
                        t.Linear(120, 84), t.ReLU(), t.Linear(84, 10))


class TorchBasicBlock(torch.nn.Module):
    """The CIFAR basic block with option (A) shortcuts (subsample, zero-pad the channels)."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        t = torch.nn
        self.conv1, self.bn1 = t.Conv2d(c_in, c_out, 3, stride, 1, bias=False), t.BatchNorm2d(c_out)
        self.conv2, self.bn2 = t.Conv2d(c_out, c_out, 3, 1, 1, bias=False), t.BatchNorm2d(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        shortcut = torch.nn.functional.pad(x[:, :, ::self.stride, ::self.stride],
                                           (0, 0, 0, 0, 0, self.extra))
        return torch.relu(out + shortcut)


def torch_resnet20():
    t, layers, c = torch.nn, [], 16
    for i, width in enumerate((16, 32, 64)):
        for j in range(3):
            layers.append(TorchBasicBlock(c, width, 2 if i and not j else 1))
            c = width
    return t.Sequential(t.Conv2d(1, 16, 3, padding=1, bias=False), t.BatchNorm2d(16), t.ReLU(),
                        *layers, t.AdaptiveAvgPool2d(1), t.Flatten(), t.Linear(64, 10)).eval()


def test_model_totals_equal_the_torch_twins(resnet20_summary):
    s = analysis.summary(models.lenet5(), (1, 28, 28), batch_size=2)
    theirs = torch_lenet5()
    assert s.total_params == sum(p.numel() for p in theirs.parameters())
    assert s.total_macs == torch_macs(theirs, torch.zeros(2, 1, 28, 28))
    assert s.rows[0].output_shape == (2, 10)
    s, theirs = resnet20_summary, torch_resnet20()  # residual sums, zero-padded shortcuts
    assert s.total_params == sum(p.numel() for p in theirs.parameters())
    assert s.total_macs == torch_macs(theirs, torch.zeros(1, 1, 28, 28))


def test_activation_memory_is_the_outputs_bytes():
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.Identity())
    s = analysis.summary(model, (1, 28, 28), batch_size=2)
    out = 2 * 6 * 28 * 28 * 4  # float32
    assert [r.activation_bytes for r in s.rows] == [out] * 4
    assert s.activation_bytes == 2 * out  # the identity's output is its input: no new array
    assert s.input_bytes == 2 * 28 * 28 * 4
    s64 = analysis.summary(model.double(), (1, 28, 28), batch_size=2)
    assert s64.dtype == "float64" and s64.activation_bytes == 4 * out


# ---- the object, the pass, the errors ---------------------------------------------------------
def test_resnet20_rows_follow_the_execution_order_and_the_table_prints(resnet20_summary):
    s = resnet20_summary
    names = [r.name for r in s.rows]
    assert names[:6] == ["", "conv1", "bn1", "relu", "layer1", "layer1.0"]
    assert names.index("layer2.0.downsample") < names.index("layer2.1") < names.index("fc")
    assert s["layer1.0"].depth == 2 and not s["layer1.0"].leaf and s["layer1.0.conv1"].leaf
    text = str(s)
    assert "layer2.0.downsample (ZeroPadShortcut)" in text and "Total params: 269,434" in text
    assert json.loads(json.dumps(s.to_dict()))["total_macs"] == s.total_macs


def test_training_flags_are_restored_and_no_graph_is_kept():
    model = models.create("fmnist-cnn").train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    analysis.summary(model, (1, 28, 28))
    assert all(m.training for m in model.modules())
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())  # eval BN
    assert all(p.grad is None for p in model.parameters())


def test_observe_ops_sees_every_op_and_stops_after_the_block():
    seen = []
    x = striate.ones(1, 1, 4, 4)
    with observe_ops(lambda fn, inputs, out: seen.append((fn.name, out.shape))):
        nn.Conv2d(1, 2, 3)(x) + 1
    assert seen == [("ConvNd", (1, 2, 2, 2)), ("Add", (1, 2, 2, 2))]
    nn.ReLU()(x)
    assert len(seen) == 2


@pytest.mark.parametrize("args, error, fragment", [
    ((nn.ReLU(), (1, 0, 28)), ValueError, "input_shape must be a tuple of positive ints"),
    ((nn.ReLU(), "1x28x28"), ValueError, "got '1x28x28'"),
    ((nn.ReLU(), ()), ValueError, "input_shape"),
    (("lenet5", (1, 28, 28)), TypeError, "model must be a striate.nn.Module, got str"),
])
def test_bad_arguments_are_named(args, error, fragment):
    with pytest.raises(error, match=fragment.replace("(", r"\(")):
        analysis.summary(*args)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        analysis.summary(nn.ReLU(), (1, 4), batch_size=0)


# ---- the command line -------------------------------------------------------------------------
def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_summary_command_prints_the_table(capsys):
    status, out, err = run(capsys, "summary", "lenet5", "--input", "1x28x28")
    assert status == 0, err
    assert "c1 (Conv2d)" in out and "(1, 6, 28, 28)" in out
    assert "Total params: 61,706" in out and "Total multiply-adds: 416,520" in out
    status, out, _ = run(capsys, "summary", "lenet5", "--input", "3x28x28", "--batch-size", "4",
                         "--num-classes", "5")
    assert status == 0 and "input (4, 3, 28, 28)" in out and "(4, 5)" in out
    status, out, _ = run(capsys, "summary", "--help")
    assert status == 0 and "usage: striate summary" in out


@pytest.mark.parametrize("argv, fragments", [
    (["--input", "1x28"], ["--input must be CxHxW", "got 1x28"]),
    (["--input", "axbxc"], ["argument --input", "'axbxc'"]),
    (["--input", "1x0x28"], ["argument --input", "'1x0x28'"]),
    (["--input", "1x32x32"], ["lenet5 cannot run on an input of 1x32x32", "400"]),
    (["--batch-size", "0"], ["--batch-size must be at least 1"]),
    (["--model-arg", "width=2"], ["striate summary: --model-arg: lenet5 does not take",
                                  "width"]),
    (["--model-arg", "2=width"], ["argument --model-arg", "KEY=VALUE"]),
])
def test_summary_command_errors_name_the_argument(argv, fragments, capsys):
    status, _, err = run(capsys, "summary", "lenet5", *argv)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_summary_command_passes_the_builders_arguments(capsys):
    status, out, err = run(capsys, "summary", "nin", "--model-arg", "width=0.25")
    assert status == 0, err
    assert "Total params: 61,370" in out  # NIN's 957,386 at width 1


def test_summary_command_unknown_model(capsys):
    status, _, err = run(capsys, "summary", "alexnet9")
    assert status == 2 and "unknown model 'alexnet9'" in err and "lenet5" in err
