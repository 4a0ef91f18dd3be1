"""Layer constructors reject bad arguments at once, with an error naming the layer and the argument.

Every message reads ``<Layer>: <arg> must be <expected>, got <value>``; the valid cases at the end
(borderline values PyTorch accepts) must still build, and a few run against ``torch.nn``.
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as tnn

import striate
from striate import nn
from striate.nn import init

BAD = [
    # ---- pooling ----
    (lambda: nn.MaxPool1d(0), ValueError, r"MaxPool1d: kernel_size must be positive, got 0"),
    (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.MaxPool3d(0), ValueError, r"MaxPool3d: kernel_size must be positive, got 0"),
    (lambda: nn.MaxPool2d((2, 0)), ValueError, r"MaxPool2d: kernel_size must be positive"),
    (lambda: nn.MaxPool2d("2"), TypeError, r"MaxPool2d: kernel_size must be an int or a tuple"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: stride must be positive, got 0"),
    (lambda: nn.MaxPool2d(2, dilation=0), ValueError, r"MaxPool2d: dilation must be positive"),
    (lambda: nn.MaxPool2d(3, padding=2), ValueError,
     r"MaxPool2d: padding must be at most half the kernel size .*kernel_size=3, got 2"),
    (lambda: nn.MaxPool2d(3, padding=-1), ValueError, r"MaxPool2d: padding must be non-negative"),
    (lambda: nn.AvgPool1d(0), ValueError, r"AvgPool1d: kernel_size must be positive, got 0"),
    (lambda: nn.AvgPool1d(2, padding=2), ValueError, r"AvgPool1d: padding must be at most half"),
    (lambda: nn.AvgPool2d(0), ValueError, r"AvgPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.AvgPool3d(0), ValueError, r"AvgPool3d: kernel_size must be positive, got 0"),
    (lambda: nn.AvgPool2d(2, stride=(1, 0)), ValueError, r"AvgPool2d: stride must be positive"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError,
     r"AvgPool2d: divisor_override must be a non-zero int or None, got 0"),
    (lambda: nn.AdaptiveAvgPool1d(0), ValueError, r"AdaptiveAvgPool1d: output_size must be "
     r"positive"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError, r"AdaptiveAvgPool2d: output_size must be "
     r"positive"),
    (lambda: nn.AdaptiveAvgPool3d((2, None, 0)), ValueError,
     r"AdaptiveAvgPool3d: output_size must be positive .*got \(2, None, 0\)"),
    (lambda: nn.AdaptiveMaxPool1d(0), ValueError, r"AdaptiveMaxPool1d: output_size must be"),
    (lambda: nn.AdaptiveMaxPool2d(-1), ValueError, r"AdaptiveMaxPool2d: output_size must be"),
    (lambda: nn.AdaptiveMaxPool3d(0), ValueError, r"AdaptiveMaxPool3d: output_size must be"),
    (lambda: nn.AdaptiveAvgPool2d((2,)), TypeError,
     r"AdaptiveAvgPool2d: output_size must be an int or a tuple of 2 ints"),
    (lambda: nn.AdaptiveMaxPool2d("a"), TypeError, r"AdaptiveMaxPool2d: output_size must be"),
    (lambda: nn.LPPool2d(0, 2), ValueError, r"LPPool2d: norm_type must be a non-zero number"),
    (lambda: nn.LPPool2d(float("nan"), 2), ValueError, r"LPPool2d: norm_type must be a non-zero"),
    (lambda: nn.LPPool1d("2", 2), TypeError, r"LPPool1d: norm_type must be a number, got '2'"),
    (lambda: nn.LPPool2d(2, 0), ValueError, r"LPPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.LPPool3d(2, 2, stride=0), ValueError, r"LPPool3d: stride must be positive"),
    (lambda: nn.StochasticPool2d(0), ValueError, r"StochasticPool2d: kernel_size must be "
     r"positive, got 0"),
    (lambda: nn.StochasticPool2d(2, stride=0), ValueError, r"StochasticPool2d: stride must be"),
    (lambda: nn.SpatialPyramidPool2d(()), ValueError,
     r"SpatialPyramidPool2d: levels must be a non-empty sequence of positive ints, got \(\)"),
    (lambda: nn.SpatialPyramidPool2d((1, 0)), ValueError, r"SpatialPyramidPool2d: levels must"),
    (lambda: nn.SpatialPyramidPool2d(4), TypeError, r"SpatialPyramidPool2d: levels must be"),
    (lambda: nn.FractionalMaxPool2d(0, output_size=3), ValueError,
     r"FractionalMaxPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.FractionalMaxPool2d(2, output_size=0), ValueError,
     r"FractionalMaxPool2d: output_size must be positive, got 0"),
    (lambda: nn.Subsampling2d(3, 0), ValueError, r"Subsampling2d: kernel_size must be positive"),
    (lambda: nn.Subsampling2d(3, 2, stride=0), ValueError, r"Subsampling2d: stride must be"),
    # ---- activations and Flatten ----
    (lambda: nn.LeakyReLU("a"), TypeError, r"LeakyReLU: negative_slope must be a number, got 'a'"),
    (lambda: nn.ELU("a"), TypeError, r"ELU: alpha must be a number, got 'a'"),
    (lambda: nn.Softmax("a"), TypeError, r"Softmax: dim must be an int or None, got 'a'"),
    (lambda: nn.LogSoftmax("a"), TypeError, r"LogSoftmax: dim must be an int or None, got 'a'"),
    (lambda: nn.Softmax(1.0), TypeError, r"Softmax: dim must be an int or None"),
    (lambda: nn.Flatten("a"), TypeError, r"Flatten: start_dim must be an int, got 'a'"),
    (lambda: nn.Flatten(1, None), TypeError, r"Flatten: end_dim must be an int, got None"),
    # ---- containers ----
    (lambda: nn.Sequential(3), TypeError, r"Sequential: module 0 must be a Module, got 3"),
    (lambda: nn.Sequential(nn.ReLU(), "relu"), TypeError, r"Sequential: module 1 must be a Module"),
    (lambda: nn.Sequential(OrderedDict(a=3)), TypeError, r"Sequential: module 'a' must be a "
     r"Module"),
    (lambda: nn.Sequential().append(3), TypeError, r"Sequential: module 0 must be a Module"),
    (lambda: nn.ModuleList([3]), TypeError, r"ModuleList: module 0 must be a Module, got 3"),
    (lambda: nn.ModuleList().extend([nn.ReLU(), 3]), TypeError, r"ModuleList: module 1 must be"),
    (lambda: nn.ModuleDict({"a": 3}), TypeError, r"ModuleDict: module 'a' must be a Module, got 3"),
    (lambda: nn.ModuleDict().__setitem__("b", [nn.ReLU()]), TypeError,
     r"ModuleDict: module 'b' must be a Module"),
    # ---- convolutions ----
    (lambda: nn.DeformConv2d(0, 4, 3), ValueError, r"DeformConv2d: in_channels must be a positive"
     r" int, got 0"),
    (lambda: nn.DeformConv2d(3, 0, 3), ValueError,
     r"DeformConv2d: out_channels must be a positive"),
    (lambda: nn.DeformConv2d(3, 4, 0), ValueError, r"DeformConv2d: kernel_size must be positive"),
    (lambda: nn.DeformConv2d(3, 4, 3, stride=0), ValueError, r"DeformConv2d: stride must be"),
    (lambda: nn.DeformConv2d(3, 4, 3, padding=-1), ValueError, r"DeformConv2d: padding must be "
     r"non-negative"),
    (lambda: nn.DeformConv2d(3, 4, 3, dilation=0), ValueError, r"DeformConv2d: dilation must be"),
    (lambda: nn.DeformConv2d(4, 4, 3, groups=0), ValueError, r"DeformConv2d: groups must be a "
     r"positive int"),
    (lambda: nn.Conv1d(3, 4, 3, padding=-1), ValueError, r"Conv1d: padding must be non-negative, "
     r"got -1"),
    (lambda: nn.Conv2d(3, 4, 3, padding=(1, -1)), ValueError, r"Conv2d: padding must be "
     r"non-negative"),
    (lambda: nn.Conv3d(3, 4, 3, dilation=0), ValueError, r"Conv3d: dilation must be positive"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, output_padding=5), ValueError,
     r"ConvTranspose2d: output_padding must be smaller than either stride .* or dilation .*got 5"),
    (lambda: nn.ConvTranspose1d(3, 4, 3, stride=2, output_padding=2), ValueError,
     r"ConvTranspose1d: output_padding must be smaller"),
    (lambda: nn.ConvTranspose3d(3, 4, 3, output_padding=-1), ValueError,
     r"ConvTranspose3d: output_padding must be non-negative"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding=-1), ValueError,
     r"ConvTranspose2d: padding must be non-negative"),
    # ---- normalisation ----
    (lambda: nn.BatchNorm1d(3, eps=-1), ValueError, r"BatchNorm1d: eps must be a positive number, "
     r"got -1"),
    (lambda: nn.BatchNorm2d(3, eps=0), ValueError, r"BatchNorm2d: eps must be a positive number"),
    (lambda: nn.BatchNorm3d(3, eps=float("nan")), ValueError, r"BatchNorm3d: eps must be a "
     r"positive"),
    (lambda: nn.BatchNorm2d(3, eps="1e-5"), TypeError, r"BatchNorm2d: eps must be a positive "
     r"number"),
    (lambda: nn.BatchNorm2d(3, momentum=-0.1), ValueError, r"BatchNorm2d: momentum must be a "
     r"number in \[0, 1\]"),
    (lambda: nn.BatchNorm1d(0), ValueError, r"BatchNorm1d: num_features must be a positive int"),
    (lambda: nn.BatchNorm2d(2.0), ValueError, r"BatchNorm2d: num_features must be a positive int"),
]


@pytest.mark.parametrize("build, error, match", BAD, ids=[m.split(":")[0] + f"-{i}"
                                                         for i, (_, _, m) in enumerate(BAD)])
def test_constructor_rejects_bad_argument(build, error, match):
    with pytest.raises(error, match=match):
        build()


# Borderline arguments PyTorch takes: each must still build.
GOOD = [
    lambda: nn.MaxPool2d(3, padding=1),
    lambda: nn.MaxPool2d(5, padding=2, dilation=2),
    lambda: nn.MaxPool2d((2,)),
    lambda: nn.MaxPool2d([2, 3], stride=()),
    lambda: nn.MaxPool3d(2, dilation=(1, 2, 1)),
    lambda: nn.AvgPool1d((3,), 2, padding=1),
    lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4),
    lambda: nn.AdaptiveAvgPool2d((3, None)),
    lambda: nn.AdaptiveMaxPool3d((None, 2, None)),
    lambda: nn.AdaptiveAvgPool1d((3,)),
    lambda: nn.AdaptiveAvgPool2d(None),
    lambda: nn.LPPool2d(1.5, 2),
    lambda: nn.LPPool2d(-1, 2),
    lambda: nn.LPPool2d(float("inf"), (2, 3)),
    lambda: nn.SpatialPyramidPool2d(range(1, 4)),
    lambda: nn.SpatialPyramidPool2d(np.array([1, 2])),
    lambda: nn.FractionalMaxPool2d(2, output_size=(5, 4)),
    lambda: nn.StochasticPool2d((2, 3), stride=1),
    lambda: nn.Subsampling2d(3, (2, 2), stride=1),
    lambda: nn.LeakyReLU(np.float32(0.2)),
    lambda: nn.ELU(1),
    lambda: nn.Softmax(),
    lambda: nn.LogSoftmax(np.int64(-1)),
    lambda: nn.Flatten(0, 2),
    lambda: nn.Sequential(OrderedDict(a=nn.ReLU(), b=nn.Tanh())),
    lambda: nn.Sequential(nn.ReLU(), None),
    lambda: nn.ModuleList([nn.ReLU(), None]),
    lambda: nn.ModuleDict({"a": nn.ReLU(), "b": None}),
    lambda: nn.Conv2d(3, 4, 3, padding="same"),
    lambda: nn.Conv1d(3, 4, 3, padding="valid"),
    lambda: nn.Conv2d(3, 4, (3, 5), stride=(1, 2), padding=(1, 2), dilation=(2, 1)),
    lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1),
    lambda: nn.ConvTranspose2d(3, 4, 3, stride=1, dilation=2, output_padding=1),
    lambda: nn.DeformConv2d(4, 6, (3, 3), padding=1, groups=2),
    lambda: nn.BatchNorm2d(3, eps=1e-3, momentum=None),
    lambda: nn.BatchNorm1d(3, momentum=0),
    lambda: nn.BatchNorm3d(3, momentum=1.0),
]


@pytest.mark.parametrize("build", GOOD)
def test_valid_arguments_still_build(build):
    assert isinstance(build(), nn.Module)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: nn.MaxPool2d((2,)), lambda: tnn.MaxPool2d((2,))),
    (lambda: nn.MaxPool2d(3, stride=(), padding=1), lambda: tnn.MaxPool2d(3, stride=(), padding=1)),
    (lambda: nn.MaxPool2d(5, padding=2, dilation=2), lambda: tnn.MaxPool2d(5, padding=2,
                                                                            dilation=2)),
    (lambda: nn.AdaptiveAvgPool2d((3, None)), lambda: tnn.AdaptiveAvgPool2d((3, None))),
    (lambda: nn.LPPool2d(-1, 2), lambda: tnn.LPPool2d(-1, 2)),
])
def test_borderline_layers_match_torch(ours, theirs):
    x = np.random.default_rng(0).random((2, 3, 8, 7)) + 0.5
    y = ours()(striate.tensor(x)).numpy()
    yt = theirs()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(y, yt, rtol=1e-10, atol=1e-12)
    assert repr(ours()) == repr(theirs())


def test_init_fillers_have_docstrings():
    for fn in (init.constant_, init.zeros_, init.ones_):
        assert fn.__doc__ and fn.__doc__.strip()
