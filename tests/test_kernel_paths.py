"""Both kernel paths — the readable reference and oneDNN — on every convolution row of the table.

``test_ops.py`` runs the table on whichever kernels are selected (oneDNN when it was built); here
each float32 convolution row runs on each path explicitly, forward and backward against PyTorch,
and the two paths against each other.
"""
import numpy as np
import pytest
import torch

import striate
import striate.kernels
from kernel_paths import PATHS, needs_onednn
from opspecs import conv as conv_rows
from test_ops import _ref_kwargs, _to_striate, _to_torch

ROWS = [s for s in conv_rows.OPS if s.ref is not None]


def _run(spec):
    arrays = spec.inputs()
    grad_idx = spec.differentiable(arrays)
    xs = _to_striate(arrays, np.float32, grad_idx)
    y = spec.op(*xs, **spec.kwargs)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    return y.numpy(), [xs[i].grad.numpy() for i in grad_idx], arrays, grad_idx, gy


@pytest.mark.parametrize("kernels", PATHS, indirect=True)
@pytest.mark.parametrize("spec", ROWS, ids=repr)
def test_conv_rows_on_each_kernel_path(spec, kernels):
    y, grads, arrays, grad_idx, gy = _run(spec)
    ts = _to_torch(arrays, torch.float32, grad_idx)
    y_ref = spec.ref(*ts, **_ref_kwargs(spec))
    y_ref.backward(torch.tensor(gy))
    tol = dict(atol=spec.atol32, rtol=spec.rtol32)
    np.testing.assert_allclose(y, y_ref.detach().numpy(), **tol)
    for g, i in zip(grads, grad_idx):
        np.testing.assert_allclose(g, ts[i].grad.numpy(), err_msg=f"input {i}", **tol)


@needs_onednn
def test_onednn_path_is_really_taken():
    striate.kernels.use_kernels("onednn")
    before = striate.kernels.onednn.cache_info()
    x = striate.randn(2, 3, 9, 9, requires_grad=True)
    w = striate.randn(5, 3, 3, 3, requires_grad=True)
    striate.functional.conv2d(x, w, padding=1).sum().backward()
    assert striate.kernels.onednn.cache_info() != before
