"""Every row of the op table, checked three ways.

1. forward against PyTorch, float32 (row tolerance) and float64 (tight);
2. backward against PyTorch with a random upstream gradient (not ``.sum()``: a transposed
   gradient would survive a sum of ones), float32 and float64;
3. float64 central finite differences through :func:`striate.gradcheck`.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import striate
from opspecs import OPS

torch.set_num_threads(1)

DTYPES = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}


def _to_striate(arrays, np_dtype, grad_idx):
    out = []
    for i, a in enumerate(arrays):
        if a is None or not isinstance(a, np.ndarray):
            out.append(a)
        elif a.dtype.kind == "f":
            out.append(striate.tensor(a.astype(np_dtype), requires_grad=i in grad_idx))
        else:
            out.append(striate.tensor(a))
    return out


def _to_torch(arrays, torch_dtype, grad_idx):
    out = []
    for i, a in enumerate(arrays):
        if a is None or not isinstance(a, np.ndarray):
            out.append(a)
        elif a.dtype.kind == "f":
            out.append(torch.tensor(a).to(torch_dtype).requires_grad_(i in grad_idx))
        else:
            out.append(torch.tensor(a))
    return out


def _tolerance(spec, dtype_name):
    if dtype_name == "float32":
        return dict(atol=spec.atol32, rtol=spec.rtol32)
    return dict(atol=spec.atol64, rtol=spec.rtol64)


def _ref_kwargs(spec):
    return spec.kwargs if spec.ref_kwargs is None else spec.ref_kwargs


WITH_REF = [s for s in OPS if s.ref is not None]


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("spec", WITH_REF, ids=repr)
def test_forward_matches_torch(spec, dtype_name):
    np_dtype, torch_dtype = DTYPES[dtype_name]
    arrays = spec.inputs()
    grad_idx = spec.differentiable(arrays)
    y = spec.op(*_to_striate(arrays, np_dtype, grad_idx), **spec.kwargs)
    with torch.no_grad():
        y_ref = spec.ref(*_to_torch(arrays, torch_dtype, []), **_ref_kwargs(spec))
    assert y.shape == tuple(y_ref.shape), f"{spec.name}: shape {y.shape} vs {tuple(y_ref.shape)}"
    if y_ref.dtype.is_floating_point:
        assert y.dtype == np_dtype, f"{spec.name}: dtype {y.dtype}, expected {np_dtype}"
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), **_tolerance(spec, dtype_name))


@pytest.mark.parametrize("dtype_name", DTYPES)
@pytest.mark.parametrize("spec", WITH_REF, ids=repr)
def test_backward_matches_torch(spec, dtype_name):
    np_dtype, torch_dtype = DTYPES[dtype_name]
    arrays = spec.inputs()
    grad_idx = spec.differentiable(arrays)
    if not grad_idx:
        pytest.skip("no differentiable input")
    xs = _to_striate(arrays, np_dtype, grad_idx)
    ts = _to_torch(arrays, torch_dtype, grad_idx)
    y = spec.op(*xs, **spec.kwargs)
    y_ref = spec.ref(*ts, **_ref_kwargs(spec))
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(gy.astype(np_dtype))
    y_ref.backward(torch.tensor(gy).to(torch_dtype))
    for i in grad_idx:
        assert xs[i].grad is not None, f"{spec.name}: input {i} got no gradient"
        np.testing.assert_allclose(xs[i].grad.numpy(), ts[i].grad.numpy(),
                                   err_msg=f"{spec.name}: gradient of input {i}",
                                   **_tolerance(spec, dtype_name))


@pytest.mark.parametrize("spec", [s for s in OPS if s.gradcheck], ids=repr)
def test_gradcheck(spec):
    arrays = spec.inputs()
    grad_idx = spec.differentiable(arrays)
    xs = _to_striate(arrays, np.float64, grad_idx)
    assert striate.gradcheck(lambda *a: spec.op(*a, **spec.kwargs), xs,
                             eps=spec.gradcheck_eps, atol=spec.gradcheck_atol,
                             rtol=spec.gradcheck_rtol, mode=spec.gradcheck_mode)
