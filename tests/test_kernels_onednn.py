"""The oneDNN convolution kernels against PyTorch, their primitive cache, errors, and the switch
between fast and reference kernels.

Each pass (forward with bias, backward-data, backward-weights with the bias gradient) is compared
with PyTorch's conv1d/2d/3d computed in float64 from the same float32 inputs (activations permuted
between channels-last and NCHW), to 1e-5 of the result's largest magnitude, over a grid of strides,
paddings (symmetric and not), dilations, groups (1, 2, depthwise), kernel sizes, channel counts,
batch sizes and non-square shapes. The tests that need the compiled kernels skip, with the
reason, when oneDNN was not found at install time.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import striate.kernels as kernels
from kernel_paths import needs_onednn
from striate.kernels import onednn

torch.set_num_threads(1)

TORCH_CONV = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def channels_last(t: torch.Tensor) -> np.ndarray:
    """(N, C, *S) torch tensor -> (N, *S, C) NumPy array."""
    return np.ascontiguousarray(t.detach().movedim(1, -1).numpy())


def channels_first(a: np.ndarray) -> torch.Tensor:
    """(N, *S, C) NumPy array -> (N, C, *S) float64 torch tensor."""
    return torch.tensor(a, dtype=torch.float64).movedim(-1, 1)


def assert_close(ours, ref, what):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else ref
    scale = max(float(np.abs(ref).max(initial=0.0)), 1.0)
    error = float(np.abs(ours - ref).max(initial=0.0))
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, expected {ref.shape}"
    assert error <= 1e-5 * scale, f"{what}: max error {error:.2e} (largest value {scale:.2e})"


def torch_passes(x, w, b, gy, stride, pad_l, pad_r, dilation, groups):
    """PyTorch's y, gx, gw, gb in float64 (asymmetric padding applied as an explicit pad)."""
    nsp = x.ndim - 2
    xt = channels_first(x).requires_grad_()
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True)
    pads = [p for axis in reversed(range(nsp)) for p in (pad_l[axis], pad_r[axis])]
    y = TORCH_CONV[nsp](TF.pad(xt, pads), wt, bt, stride=stride, dilation=dilation, groups=groups)
    y.backward(channels_first(gy))
    return (channels_last(y), channels_last(xt.grad), wt.grad.numpy(),
            None if bt is None else bt.grad.numpy())


def check_all_passes(n, c, size, k, kernel, stride=1, pad_l=0, pad_r=None, dilation=1,
                     groups=1, bias=True, seed=0):
    nsp = len(size)
    as_tuple = lambda v: (v,) * nsp if isinstance(v, int) else tuple(v)  # noqa: E731
    stride, dilation, pad_l = as_tuple(stride), as_tuple(dilation), as_tuple(pad_l)
    pad_r = pad_l if pad_r is None else as_tuple(pad_r)
    x = randn(n, *size, c, seed=seed)
    w = randn(k, c // groups, *as_tuple(kernel), seed=seed + 1)
    b = randn(k, seed=seed + 2) if bias else None
    settings = dict(stride=stride, padding_l=pad_l, padding_r=pad_r, dilation=dilation,
                    groups=groups)
    y = onednn.conv_forward(x, w, b, **settings)
    gy = randn(*y.shape, seed=seed + 3)
    gx = onednn.conv_backward_data(gy, w, x.shape, **settings)
    gw, gb = onednn.conv_backward_weights(x, gy, w.shape, with_bias=bias, **settings)
    y_ref, gx_ref, gw_ref, gb_ref = torch_passes(x, w, b, gy, stride, pad_l, pad_r, dilation,
                                                 groups)
    assert_close(y, y_ref, "forward")
    assert_close(gx, gx_ref, "backward-data")
    assert_close(gw, gw_ref, "backward-weights")
    if bias:
        assert_close(gb, gb_ref, "bias gradient")
    else:
        assert gb is None


# ---------------------------------------------------------------------------------------------
# All passes against PyTorch
# ---------------------------------------------------------------------------------------------
# Every (kernel, groups, stride, dilation) combination; padding, channels and batch cycle along.
GRID = list(itertools.product((1, 3, 5), ("1", "2", "depthwise"), (1, 2), (1, 2)))
PADDINGS = [(0, 0), (1, 1), (2, 2), ((1, 0), (2, 1))]


@needs_onednn
@pytest.mark.parametrize("i, kernel, groups, stride, dilation",
                         [(i,) + case for i, case in enumerate(GRID)])
def test_conv2d_grid(i, kernel, groups, stride, dilation):
    c, k = [(4, 6), (8, 8), (6, 4)][i % 3]
    groups = {"1": 1, "2": 2, "depthwise": c}[groups]
    k = c if groups == c else k
    pad_l, pad_r = PADDINGS[i % len(PADDINGS)]
    check_all_passes(n=1 + 3 * (i % 2), c=c, size=(11, 9), k=k, kernel=kernel, stride=stride,
                     pad_l=pad_l, pad_r=pad_r, dilation=dilation, groups=groups, seed=i)


SPECIAL_2D = [
    dict(n=4, c=1, size=(28, 28), k=6, kernel=5, pad_l=2),                  # LeNet C1
    dict(n=2, c=6, size=(14, 14), k=16, kernel=5),                          # LeNet C3
    dict(n=2, c=16, size=(12, 12), k=32, kernel=3, stride=2, pad_l=1),      # ResNet downsample
    dict(n=2, c=64, size=(7, 7), k=64, kernel=3, pad_l=1),                  # ResNet stage 3
    dict(n=1, c=64, size=(5, 6), k=64, kernel=3, pad_l=1, groups=64),       # depthwise, wide
    dict(n=3, c=5, size=(9, 13), k=7, kernel=(3, 5), stride=(2, 1), pad_l=(1, 2)),
    dict(n=2, c=3, size=(10, 7), k=4, kernel=(2, 3), pad_l=(0, 1), pad_r=(1, 0)),  # 'same', even
    dict(n=2, c=4, size=(8, 8), k=4, kernel=3, stride=3, pad_l=1, dilation=(2, 1)),
    dict(n=2, c=4, size=(3, 3), k=5, kernel=5, pad_l=1),                    # kernel > input
    dict(n=2, c=8, size=(6, 6), k=8, kernel=1, groups=4, bias=False),
    dict(n=4, c=12, size=(10, 10), k=24, kernel=3, pad_l=1, groups=3, bias=False),
]


@needs_onednn
@pytest.mark.parametrize("case", SPECIAL_2D, ids=lambda case: str(case).replace(" ", ""))
def test_conv2d_special(case):
    check_all_passes(**case)


@needs_onednn
@pytest.mark.parametrize("case", [
    dict(n=2, c=3, size=(17,), k=5, kernel=3, pad_l=1),
    dict(n=3, c=4, size=(20,), k=4, kernel=5, stride=2, pad_l=2, pad_r=1, dilation=2, groups=2),
    dict(n=2, c=6, size=(9,), k=6, kernel=3, groups=6, bias=False),
], ids=["plain", "strided-dilated-grouped", "depthwise"])
def test_conv1d(case):
    check_all_passes(**case)


@needs_onednn
@pytest.mark.parametrize("case", [
    dict(n=2, c=3, size=(5, 6, 7), k=4, kernel=3, pad_l=1),
    dict(n=1, c=4, size=(7, 6, 8), k=6, kernel=(3, 1, 3), stride=(2, 1, 2), pad_l=(1, 0, 0),
         pad_r=(0, 0, 1), dilation=(1, 1, 2), groups=2),
], ids=["plain", "anisotropic-grouped"])
def test_conv3d(case):
    check_all_passes(**case)


@needs_onednn
@pytest.mark.parametrize("stride, padding, output_padding, dilation, groups",
                         [(2, 1, 1, 1, 1), (3, 2, 2, 2, 2), (1, 0, 0, 1, 3)])
def test_transposed_convolution_is_backward_data(stride, padding, output_padding, dilation,
                                                 groups):
    # conv_transpose2d(z, w) is the input gradient of conv2d: backward-data with gy = z and the
    # larger (N, H, W, C) as x_shape; output_padding just makes H, W the larger size that still
    # gives back z's size under floor division.
    z, w = randn(2, 5, 4, 6), randn(6, 9 // groups, 3, 3, seed=1)
    ref = TF.conv_transpose2d(channels_first(z), torch.tensor(w, dtype=torch.float64),
                              stride=stride, padding=padding, output_padding=output_padding,
                              dilation=dilation, groups=groups)
    x_shape = (2,) + tuple(ref.shape[2:]) + (ref.shape[1],)
    ours = onednn.conv_backward_data(z, w, x_shape, stride=stride, padding_l=padding,
                                     dilation=dilation, groups=groups)
    assert_close(ours, channels_last(ref), "transposed convolution")


# ---------------------------------------------------------------------------------------------
# Outputs, the cache, threads
# ---------------------------------------------------------------------------------------------
@needs_onednn
def test_preallocated_outputs_are_written_in_place():
    x, w, b = randn(2, 6, 6, 4), randn(8, 4, 3, 3, seed=1), randn(8, seed=2)
    y = np.full((2, 6, 6, 8), np.nan, np.float32)
    assert onednn.conv_forward(x, w, b, padding_l=1, out=y) is y
    gx = np.full(x.shape, np.nan, np.float32)
    assert onednn.conv_backward_data(y, w, x.shape, padding_l=1, out=gx) is gx
    gw, gb = np.full(w.shape, np.nan, np.float32), np.full(8, np.nan, np.float32)
    result = onednn.conv_backward_weights(x, y, w.shape, padding_l=1, with_bias=True, out=gw,
                                          out_bias=gb)
    assert result[0] is gw and result[1] is gb
    assert np.isfinite(gx).all() and np.isfinite(gw).all() and np.isfinite(gb).all()


@needs_onednn
def test_empty_batch():
    x, w, b = np.zeros((0, 5, 5, 3), np.float32), randn(4, 3, 3, 3), randn(4, seed=1)
    y = onednn.conv_forward(x, w, b)
    assert y.shape == (0, 3, 3, 4)
    assert onednn.conv_backward_data(y, w, x.shape).shape == x.shape
    gw, gb = onednn.conv_backward_weights(x, y, w.shape, with_bias=True)
    assert not gw.any() and not gb.any()


@needs_onednn
def test_primitive_cache_is_reused(monkeypatch):
    monkeypatch.setattr(onednn.tuning, "_enabled", False)  # timing candidates adds entries
    onednn.clear_cache()
    x, w = randn(2, 7, 7, 3), randn(5, 3, 3, 3, seed=1)
    first = onednn.conv_forward(x, w, padding_l=1)
    assert onednn.cache_info() == dict(entries=1, hits=0, misses=1)
    second = onednn.conv_forward(x + 1, w, padding_l=1)
    assert onednn.cache_info() == dict(entries=1, hits=1, misses=1)
    assert not np.array_equal(first, second)  # the cached primitive reads the new input
    onednn.conv_forward(x, w, padding_l=1, stride=2)  # another configuration: another entry
    onednn.conv_backward_data(first, w, x.shape, padding_l=1)  # another pass: another entry
    assert onednn.cache_info() == dict(entries=3, hits=1, misses=3)
    for with_bias in (False, True):  # gb is summed apart: one backward-weights primitive
        onednn.conv_backward_weights(x, first, w.shape, padding_l=1, with_bias=with_bias)
    assert onednn.cache_info() == dict(entries=4, hits=2, misses=4)
    onednn.clear_cache()
    assert onednn.cache_info() == dict(entries=0, hits=0, misses=0)


@needs_onednn
def test_thread_count_is_set_and_primitives_kept_per_count():
    x, w = randn(4, 9, 9, 8), randn(8, 8, 3, 3, seed=1)
    default = onednn.get_num_threads()  # 1 here: torch, imported first, shares its libgomp
    other = 2 if default == 1 else 1
    expected = onednn.conv_forward(x, w, padding_l=1)
    try:
        onednn.set_num_threads(other)
        assert onednn.get_num_threads() == other
        before = onednn.cache_info()["entries"]
        np.testing.assert_allclose(onednn.conv_forward(x, w, padding_l=1), expected, rtol=1e-5,
                                   atol=1e-5)
        assert onednn.cache_info()["entries"] == before + 1
    finally:
        onednn.set_num_threads(0)
    assert onednn.get_num_threads() == default


@needs_onednn
def test_calls_from_several_python_threads():
    cases = [(randn(2, 8 + i, 8, 4, seed=i), randn(6, 4, 3, 3, seed=10 + i)) for i in range(4)]
    expected = [onednn.conv_forward(x, w, padding_l=1) for x, w in cases]
    failures = []

    def work(i):
        for _ in range(10):
            if not np.array_equal(onednn.conv_forward(*cases[i], padding_l=1), expected[i]):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


@needs_onednn
def test_implementation_names():
    # The fast paths this package exists for: not oneDNN's reference code.
    for kind in ("forward", "backward_data", "backward_weights"):
        name = onednn.implementation_name(kind, (8, 14, 14, 32), (32, 32, 3, 3), padding_l=1)
        assert not name.startswith("ref"), f"{kind}: {name}"


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
@needs_onednn
def test_errors():
    x, w = randn(2, 6, 6, 4), randn(8, 4, 3, 3, seed=1)
    with pytest.raises(TypeError, match="conv_forward: x must be float32"):
        onednn.conv_forward(x.astype(np.float64), w)
    with pytest.raises(ValueError, match="conv_forward: x must be C-contiguous"):
        onednn.conv_forward(np.swapaxes(x, 1, 2), w)
    with pytest.raises(ValueError, match="weight has 4 input channels per group, input has 4 "
                                         r"channels \(groups=2\)"):
        onednn.conv_forward(x, w, groups=2)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        onednn.conv_forward(x, w, groups=3)
    with pytest.raises(ValueError, match="does not fit"):
        onednn.conv_forward(x, randn(8, 4, 7, 7))
    with pytest.raises(ValueError, match="stride needs 2 values"):
        onednn.conv_forward(x, w, stride=(1, 1, 1))
    with pytest.raises(ValueError, match=r"out must have shape \(2, 4, 4, 8\)"):
        onednn.conv_forward(x, w, out=np.empty((2, 4, 4, 7), np.float32))
    with pytest.raises(ValueError, match=r"conv_backward_data: gy must have shape \(2, 4, 4, 8\)"):
        onednn.conv_backward_data(randn(2, 5, 5, 8), w, x.shape)
    with pytest.raises(ValueError, match="b must have shape"):
        onednn.conv_forward(x, w, randn(7))
    with pytest.raises(ValueError, match="kind must be one of"):
        onednn.implementation_name("sideways", x.shape, w.shape)


@needs_onednn
def test_supports():
    assert onednn.supports(np.float32, 2)
    assert not onednn.supports(np.float64, 2)  # no float64 convolution on the CPU
    assert not onednn.supports(np.float32, 4)
    assert onednn.version()[0] in (2, 3)  # Debian's 2.6 or the pip wheel's 3.x


# ---------------------------------------------------------------------------------------------
# The switch between kernels (runs with or without oneDNN)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def restore_selection():
    selected = kernels._selected
    yield
    kernels._selected = selected


def test_use_kernels_and_current(restore_selection):
    assert kernels.use_kernels("reference") == "reference" == kernels.current()
    assert kernels.conv_kernels(np.zeros((1, 3, 3, 1), np.float32)) is None
    expected = "onednn" if onednn.available() else "reference"
    assert kernels.use_kernels("onednn") == expected
    with pytest.raises(ValueError, match="use_kernels: name must be one of"):
        kernels.use_kernels("mkl")


@needs_onednn
def test_conv_kernels_picks_what_onednn_can_run(restore_selection):
    kernels.use_kernels("onednn")
    assert kernels.conv_kernels(np.zeros((1, 4, 4, 2), np.float32)) is onednn
    assert kernels.conv_kernels(np.zeros((1, 4, 4, 2), np.float64)) is None
    assert kernels.conv_kernels(np.zeros((1, 4, 4, 2, 2, 2), np.float32)) is None


def test_missing_onednn_is_said_once(restore_selection, monkeypatch):
    monkeypatch.setattr(onednn, "available", lambda: False)
    monkeypatch.setattr(kernels, "_told", False)
    with pytest.warns(kernels.KernelWarning, match="oneDNN kernels not available, using the "
                                                   "reference kernels"):
        assert kernels.use_kernels("onednn") == "reference"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would fail here
        assert kernels.current() == "reference"


@pytest.mark.parametrize("value, expected", [("reference", "reference"), ("", None)])
def test_environment_variable(value, expected):
    expected = expected or ("onednn" if onednn.available() else "reference")
    env = dict(os.environ, STRIATE_KERNELS=value)
    code = "import striate.kernels as k; print(k.current())"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected
