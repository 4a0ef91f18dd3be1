"""Check an op's backward against central finite differences, in float64.

For y = f(x_1, ..., x_k) and a fixed random upstream gradient u (the same shape as y), the
backward pass computes, for every input,

    g_i = (dy/dx_i)^T u  =  d/dx_i <u, f(x)>.

Central differences estimate the same vector one coordinate at a time:

    d<u, f>/dx_i[j] ~= (<u, f(x + h e_j)> - <u, f(x - h e_j)>) / (2h),

whose error is O(h^2). ``mode="full"`` perturbs every coordinate (cost: two forward passes per
element, fine for small shapes); ``mode="random"`` checks the directional derivative along a few
random directions v instead, <g_i, v> against (<u, f(x + h v)> - <u, f(x - h v)>) / (2h).

Users check their own ops with it::

    x = striate.tensor(np.random.randn(3, 4), requires_grad=True, dtype="float64")
    striate.gradcheck(lambda x: my_op(x), [x])
"""
from __future__ import annotations

import numpy as np

from .autograd import Tensor, no_grad

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the finite-difference estimate."""


def _scalar(fn, inputs, u) -> float:
    with no_grad():
        y = fn(*inputs)
    return float((np.asarray(y.data, dtype=np.float64) * u).sum())


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              mode: str = "full", directions: int = 3, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Compare ``fn``'s backward with central finite differences.

    Args:
        fn: a callable taking the tensors in ``inputs`` and returning one tensor.
        inputs: tensors; those with ``requires_grad=True`` are checked. They should be float64:
            float32 differences are too coarse to tell a bug from rounding.
        eps: the finite-difference step h.
        atol, rtol: an entry passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.
        mode: ``"full"`` (every coordinate) or ``"random"`` (``directions`` random directions).
        seed: seeds the upstream gradient and the random directions.
        raise_exception: raise :class:`GradcheckError` on a mismatch (else return False).

    Returns:
        True when every checked input passes.
    """
    if mode not in ("full", "random"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'random', got {mode!r}")
    inputs = list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs")

    rng = np.random.default_rng(seed)
    y = fn(*inputs)
    u = rng.standard_normal(y.shape)
    for i in checked:
        inputs[i].grad = None
    y.backward(u.astype(y.dtype))
    analytic = {i: (inputs[i].grad.numpy().copy() if inputs[i].grad is not None
                    else np.zeros(inputs[i].shape)) for i in checked}

    for i in checked:
        x = inputs[i]
        if mode == "full":
            numeric = np.zeros(x.shape)
            flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                f_plus = _scalar(fn, inputs, u)
                flat[j] = orig - eps
                f_minus = _scalar(fn, inputs, u)
                flat[j] = orig
                numeric.reshape(-1)[j] = (f_plus - f_minus) / (2 * eps)
            got, want = analytic[i], numeric
        else:
            got, want = [], []
            orig = x.data.copy()
            for _ in range(directions):
                v = rng.standard_normal(x.shape)
                x.data[...] = orig + eps * v
                f_plus = _scalar(fn, inputs, u)
                x.data[...] = orig - eps * v
                f_minus = _scalar(fn, inputs, u)
                x.data[...] = orig
                got.append(float((analytic[i] * v).sum()))
                want.append((f_plus - f_minus) / (2 * eps))
            got, want = np.array(got), np.array(want)
        bad = np.abs(got - want) > atol + rtol * np.abs(want)
        if bad.any():
            if not raise_exception:
                return False
            k = int(np.argmax(np.abs(got - want) * bad))
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}) has {int(bad.sum())} of {bad.size} "
                f"{'entries' if mode == 'full' else 'directions'} off; worst at "
                f"{np.unravel_index(k, np.shape(got)) if mode == 'full' else k}: analytic "
                f"{np.ravel(got)[k]:.6g}, numeric {np.ravel(want)[k]:.6g}")
    return True
