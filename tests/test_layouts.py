"""Channels-last inside: an op given arrays stored channels last (NCHW shape, NHWC strides, as the
convolutions leave them) returns its output and its input gradient stored the same way, so a
network never converts between layouts between its edges. (A gradient in another layout made
every later elementwise op walk memory with strides: a ResNet-20 step took 280 ms, not 234.)"""
import numpy as np
import pytest

import striate
import striate.functional as F


def _channels_last(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)


def _is_channels_last(a) -> bool:
    return np.moveaxis(a, 1, -1).flags.c_contiguous


OPS = {
    "relu": lambda x: F.relu(x),
    "global-avg-pool": lambda x: F.adaptive_avg_pool2d(x, 1),
    "slice-stride-2": lambda x: x[:, :, ::2, ::2],
    "pad-channels": lambda x: F.pad(x, (0, 0, 0, 0, 0, 4)),
    "batch-norm": lambda x: F.batch_norm(x, None, None, training=True),
    "max-pool": lambda x: F.max_pool2d(x, 2),
}


def _input_gradient(fn, gy):
    gxs = fn.backward(gy)
    return gxs[0] if isinstance(gxs, tuple) else gxs


@pytest.mark.parametrize("name", OPS)
def test_input_gradient_keeps_the_channels_last_layout(name):
    x = striate.tensor(_channels_last((4, 6, 8, 8)), requires_grad=True)
    y = OPS[name](x)
    g = np.ones(y.shape, np.float32)  # deliberately NCHW: the op must not pass that layout on
    fn = y.grad_fn
    gx = _input_gradient(fn, np.moveaxis(np.ascontiguousarray(np.moveaxis(g, 1, -1)), -1, 1))
    assert _is_channels_last(gx), name
    if name in ("relu", "global-avg-pool"):
        assert _is_channels_last(_input_gradient(fn, g)), name
