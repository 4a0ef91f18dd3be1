"""Inference fusion (``striate.functional.fusion``): conv -> eval BN -> + residual -> ReLU.

On the oneDNN path a convolution run without a graph returns a PendingConv, into which eval batch
norm (scaled weights), a residual sum (oneDNN's add post-op) and the ReLU fold. Checked here: the
fused networks give the unfused and the reference kernels' outputs and PyTorch's; every fold that
should happen does (counted), and none happens where it must not (a graph, an observer, the
reference kernels, a broadcast or channels-first addend, a tensor already read); a pending tensor
read by several consumers gives each the right values; NaN still propagates.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import striate
import striate.functional as F
import striate.kernels
from kernel_paths import fusion_off, needs_onednn, randomise_batch_norm, reference_kernels
from striate import autograd, models, nn
from striate.functional import fusion
from striate.functional.fusion import PendingConv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import twins  # noqa: E402

pytestmark = needs_onednn


class Inside(nn.Module):
    """Runs ``fn()`` inside a module's forward, where convolutions may stay pending."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self):
        return self.fn()


def inside(fn):
    return Inside(fn)()


@pytest.fixture
def conv_calls(monkeypatch):
    """Every oneDNN forward convolution: whether it carried a residual addend."""
    from striate.kernels import onednn
    calls = []
    forward = onednn.conv_forward

    def counted(*args, add=None, **kwargs):
        calls.append(add is not None)
        return forward(*args, add=add, **kwargs)
    monkeypatch.setattr(onednn, "conv_forward", counted)
    return calls


def _images(n=4, size=28, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 1, size, size)).astype(np.float32)


def _eval(model, x):
    with striate.no_grad():
        return model(striate.tensor(x)).numpy()


@pytest.mark.parametrize("name, args, size", [
    ("resnet20", {}, 28),
    ("fmnist-cnn", {}, 28),
    ("vgg11_bn", {"width": 0.125, "classifier_width": 64}, 32),
    ("googlenet", {"width": 0.25}, 64),
])
def test_fused_inference_equals_unfused_reference_and_torch(name, args, size):
    args = {"num_classes": 10, "in_channels": 1, **args}
    striate.manual_seed(0)
    model = models.create(name, **args).eval()
    randomise_batch_norm(model, scales=True)
    x = _images(size=size)
    fused = _eval(model, x)
    with fusion_off():
        unfused = _eval(model, x)
    with reference_kernels():
        reference = _eval(model, x)
    twin = twins.torch_model(name, **args)
    twin.load_state_dict({k: torch.from_numpy(np.array(v))
                          for k, v in model.state_dict().items()})
    with torch.no_grad():
        theirs = twin.eval()(torch.from_numpy(x)).numpy()
    scale = np.abs(theirs).max()
    for ours, what in ((fused, "fused"), (unfused, "unfused"), (reference, "reference")):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-5 * scale, err_msg=what)
    np.testing.assert_allclose(fused, unfused, rtol=0, atol=1e-5 * scale)


def test_resnet20_folds_every_batch_norm_relu_and_residual(conv_calls, monkeypatch):
    folds = {"batch_norm": 0, "relu": 0, "add": 0}
    for kind in folds:
        original = getattr(fusion, f"fold_{kind}")

        def counted(*args, _kind=kind, _original=original):
            result = _original(*args)
            folds[_kind] += result is not None
            return result
        monkeypatch.setattr(fusion, f"fold_{kind}", counted)
    model = models.create("resnet20").eval()
    _eval(model, _images())
    # 19 convolutions, each followed by BN and ReLU; 9 blocks add their shortcut
    assert folds == {"batch_norm": 19, "relu": 19, "add": 9}
    assert len(conv_calls) == 19 and sum(conv_calls) == 9  # each ran once, 9 with the sum


def test_no_fusion_when_a_graph_is_recorded_or_ops_are_observed():
    conv, bn = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8).eval()
    x = striate.tensor(_images())
    y = conv(x)  # the weights require grad: a graph is recorded
    assert not isinstance(y, PendingConv) and y.grad_fn is not None
    with striate.no_grad():
        assert not conv(x).pending  # what the outermost module returns has run
        assert inside(lambda: conv(x).pending)
        with autograd.observe_ops(lambda fn, inputs, out: None):
            assert not inside(lambda: isinstance(conv(x), PendingConv))  # striate.analysis
        with fusion_off():
            assert not inside(lambda: isinstance(conv(x), PendingConv))
        with reference_kernels():
            assert not inside(lambda: isinstance(conv(x), PendingConv))
        assert inside(lambda: bn(conv(x)).pending)
        assert not isinstance(F.conv2d(x, conv.weight, conv.bias), PendingConv)  # no module


def test_nothing_pending_outlives_the_forward():
    """The outermost module's output has run, so a later in-place change of the weights (an
    optimiser step) or of the input buffer does not reach it."""
    striate.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 2, 1)).eval()  # ends in a convolution, as a U-Net head
    buffer = _images()
    x = striate.Tensor(buffer)
    with striate.no_grad():
        out = model(x)
        with fusion_off():
            expected = model(x).numpy().copy()
    for p in model.parameters():
        p.data[...] = 0
    buffer[...] = 1
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)


def test_each_thread_settles_its_own_outermost_output():
    """The module depth is per thread: a model called in one thread while another thread is
    inside a forward still returns a computed tensor."""
    import threading
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()).eval()
    x = striate.tensor(_images())
    seen = {}

    def other_thread():
        with striate.no_grad():
            seen["pending"] = model(x).pending

    def forward_with_a_thread():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        return model(x)
    with striate.no_grad():
        inside(forward_with_a_thread)
    assert seen == {"pending": False}


def test_a_pending_convolution_read_by_several_consumers():
    striate.manual_seed(0)
    conv, bn = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8).eval()
    randomise_batch_norm(bn, scales=True)
    bn.running_mean.data[...] = np.linspace(-1, 1, 8)
    x = striate.tensor(_images())
    with fusion_off(), striate.no_grad():
        y_ref = conv(x).numpy()
        z_ref = F.relu(bn(conv(x))).numpy()
    def consumers():
        y = conv(x)
        z = F.relu(bn(y))          # a new pending tensor: y stays the plain convolution
        assert y.pending and z.pending
        s = y + y                  # y runs, then is its own addend
        np.testing.assert_allclose(z.numpy(), z_ref, atol=1e-5)
        np.testing.assert_allclose(y.numpy(), y_ref, atol=1e-6)
        np.testing.assert_allclose(s.numpy(), 2 * y_ref, atol=1e-5)
        late = bn(y)               # y has run: batch norm runs as an op of its own
        assert not isinstance(late, PendingConv)
        np.testing.assert_allclose(F.relu(late).numpy(), z_ref, atol=1e-5)
        assert y.shape == (4, 8, 28, 28) and y.dtype == np.float32
    with striate.no_grad():
        inside(consumers)


@pytest.mark.parametrize("addend", ["broadcast", "channels_first", "float64", "requires_grad"])
def test_sums_that_do_not_fold(addend):
    conv = nn.Conv2d(1, 8, 3, padding=1)
    x = striate.tensor(_images())
    with fusion_off(), striate.no_grad():
        y_ref = conv(x).numpy()
    other = {"broadcast": np.ones((1, 8, 1, 1), np.float32),
             "channels_first": np.ones((4, 8, 28, 28), np.float32),
             "float64": np.ones((4, 8, 28, 28)),
             "requires_grad": np.ones((4, 8, 28, 28), np.float32)}[addend]
    z = striate.Tensor(other, requires_grad=addend == "requires_grad")
    for p in conv.parameters():
        p.requires_grad = False
    out = inside(lambda: conv(x) + z)  # no graph through conv (frozen weights), one through z
    assert not isinstance(out, PendingConv)
    np.testing.assert_allclose(out.numpy(), y_ref + other, atol=1e-5)
    if addend == "requires_grad":
        out.sum().backward()
        assert z.grad is not None


def test_nan_statistics_still_reach_the_output():
    model = models.create("resnet20").eval()
    model.bn1.running_var.data[0] = np.nan
    out = _eval(model, _images())
    assert np.isnan(out).all()  # as PyTorch: no ReLU post-op turns NaN into 0
    x = _images()
    x[0, 0, 0, 0] = np.nan
    conv = nn.Conv2d(1, 4, 1, bias=False)
    with striate.no_grad():
        y = inside(lambda: F.relu(conv(striate.tensor(x))))
        assert isinstance(y, PendingConv)  # the ReLU folded, and ran in place: NaN kept
        assert np.isnan(y.numpy()[0, :, 0, 0]).all()


def test_hooks_keep_computed_inputs():
    """A pre-hook on the batch norm after a convolution gets its input already computed."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()).eval()
    kept = []
    model[1].register_forward_pre_hook(lambda m, args: kept.append(args[0]))
    with striate.no_grad():
        model(striate.tensor(_images()))
    assert not kept[0].pending


def test_fused_forward_hooks_see_their_module_outputs():
    """A hook on the convolution gets the plain convolution, as without fusion."""
    striate.manual_seed(0)
    model = models.create("resnet20").eval()
    randomise_batch_norm(model, scales=True)
    seen = {}
    model.conv1.register_forward_hook(lambda m, i, o: seen.setdefault("fused", o))
    x = _images()
    out = _eval(model, x)
    with fusion_off():
        model.conv1.register_forward_hook(lambda m, i, o: seen.setdefault("plain", o))
        plain_out = _eval(model, x)
    np.testing.assert_allclose(seen["fused"].numpy(), seen["plain"].numpy(), atol=1e-5)
    np.testing.assert_allclose(out, plain_out, atol=1e-4)
