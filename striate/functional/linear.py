"""Fully connected layers (checklist F1) and LeNet-5's Euclidean RBF output units (A2).

A fully connected (dense) layer connects every input feature to every output feature: each output
is a weighted sum of all the inputs plus a bias, ``y = x W^T + b``, one matrix product for the
whole batch. A convolution whose kernel covers the whole input is the same layer, written another
way.

LeNet-5 (LeCun et al. 1998, section II-B) ends not in a dense layer but in radial basis function
units: output ``i`` is the squared Euclidean distance between the input vector and a parameter
vector ``w_i`` (the class's "prototype"), ``y_i = sum_j (x_j - w_ij)^2``. The smaller the output,
the closer the input to that class; the paper's loss pushes the right unit's output down.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module

__all__ = ["linear", "rbf_units"]


class Linear(Function):
    """The affine map of a fully connected layer, applied to the last axis.

    Forward::

        y = x W^T + b          x: (*, in),  W: (out, in),  b: (out,)  ->  y: (*, out)

    Backward, with the leading axes ``*`` flattened into one batch axis of size M::

        gx = gy W              (M, out) @ (out, in)  -> (M, in), back to (*, in)
        gW = gy^T x            (out, M) @ (M, in)    -> (out, in): summed over every leading axis
        gb = sum_M gy          (out,)

    On float32 NumPy arrays with the oneDNN kernels selected, the three products run on oneDNN
    (:func:`striate.kernels.onednn.matmul`) instead of NumPy's BLAS: OpenBLAS's threads spin after
    each product and fight oneDNN's OpenMP threads (those of the convolutions) for the cores.
    """

    def forward(self, x, w, b=None):
        self.fast = kernels.matmul_kernels(x, w, b)
        if self.fast is not None:
            return self._fast_forward(x, w, b)
        self.x, self.w = x, w
        y = x @ w.T                                     # (*, out)
        if b is not None:
            y = y + b
        return y

    def backward(self, gy):
        if self.fast is not None:
            return self._fast_backward(gy)
        x, w = self.x, self.w
        gy2 = gy.reshape(-1, w.shape[0])                # (M, out)
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = (gy2 @ w).reshape(x.shape)             # (*, in)
        if self.needs_input_grad[1]:
            gw = gy2.T @ x.reshape(-1, w.shape[1])      # (out, M) @ (M, in) -> (out, in)
        if self.needs_input_grad[2]:
            gb = gy2.sum(axis=0)                        # (out,)
        return gx, gw, gb

    def _fast_forward(self, x, w, b):
        """The same y from oneDNN, on x flattened to a C-contiguous (M, in) matrix (kept for gW)."""
        self.x_shape = x.shape
        self.x = np.ascontiguousarray(x).reshape(-1, w.shape[1])              # (M, in)
        self.w = np.ascontiguousarray(w)
        b = None if b is None else np.ascontiguousarray(b)
        y = self.fast.matmul(self.x, self.w, b, trans_b=True)                 # x W^T + b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def _fast_backward(self, gy):
        """gx, gW from oneDNN on the flattened (M, out) gy; gb stays a NumPy sum."""
        gy2 = np.ascontiguousarray(gy, dtype=np.float32).reshape(-1, self.w.shape[0])  # (M, out)
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = self.fast.matmul(gy2, self.w).reshape(self.x_shape)         # gy W
        if self.needs_input_grad[1]:
            gw = self.fast.matmul(gy2, self.x, trans_a=True)                 # gy^T x
        if self.needs_input_grad[2]:
            gb = gy2.sum(axis=0)
        return gx, gw, gb


class RBFUnits(Function):
    """LeNet-5's Euclidean radial basis function units.

    Forward, for inputs ``x: (N, in)`` and centres ``w: (out, in)``::

        y[n, i] = sum_j (x[n, j] - w[i, j])^2         y: (N, out)

    The differences ``d[n, i, j] = x[n, j] - w[i, j]`` (shape (N, out, in)) are kept for backward::

        gx[n, j] =  2 sum_i gy[n, i] d[n, i, j]       gx: (N, in)
        gw[i, j] = -2 sum_n gy[n, i] d[n, i, j]       gw: (out, in)

    Forming ``d`` costs N*out*in memory (10 x 84 per image in LeNet-5); it avoids the cancellation
    of the expanded form ``|x|^2 - 2 x.w + |w|^2`` when an input sits close to a centre.
    """

    def forward(self, x, w):
        xp = get_array_module(x)
        self.d = x[:, None, :] - w[None, :, :]          # (N, out, in)
        return xp.einsum("nij,nij->ni", self.d, self.d)

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = gw = None
        if self.needs_input_grad[0]:
            gx = 2 * xp.einsum("ni,nij->nj", gy, self.d)    # (N, in)
        if self.needs_input_grad[1]:
            gw = -2 * xp.einsum("ni,nij->ij", gy, self.d)   # (out, in)
        return gx, gw


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def _check_floating(op: str, arg: str, t: Tensor, like: Tensor | None = None) -> None:
    if t.dtype.kind != "f":
        raise TypeError(f"{op}: {arg} must be a floating-point tensor, got dtype {t.dtype}")
    if like is not None and t.dtype != like.dtype:
        raise TypeError(f"{op}: {arg} has dtype {t.dtype}, input has {like.dtype}")


def linear(input, weight, bias=None) -> Tensor:  # noqa: A002 - the torch name
    """A fully connected layer: ``y = x W^T + b``, as ``torch.nn.functional.linear``.

    Args:
        input: ``(*, in)``, any number of leading axes (a single vector ``(in,)`` too).
        weight: ``(out, in)``, one row of weights per output feature.
        bias: ``(out,)`` or ``None``.

    Returns:
        ``(*, out)``: ``y[..., i] = sum_j x[..., j] W[i, j] + b[i]``.

    Example::

        >>> x = striate.randn(8, 84)
        >>> w = striate.randn(10, 84, requires_grad=True)
        >>> linear(x, w).shape
        (8, 10)
    """
    x, w = as_tensor(input), as_tensor(weight)
    _check_floating("linear", "input", x)
    _check_floating("linear", "weight", w, like=x)
    if x.ndim < 1:
        raise ValueError("linear: input must have at least one dimension (its features), "
                         "got a 0-d tensor")
    if w.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), "
                         f"got shape {w.shape}")
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features, weight expects {w.shape[1]}")
    b = None if bias is None else as_tensor(bias)
    if b is not None:
        _check_floating("linear", "bias", b, like=x)
        if b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias must have shape ({w.shape[0]},) for {w.shape[0]} "
                             f"output features, got {b.shape}")
    return Linear()(x, w, b)


def rbf_units(input, centers) -> Tensor:  # noqa: A002 - torch.nn.functional style
    """LeNet-5's Euclidean RBF output units: ``y[n, i] = sum_j (x[n, j] - w[i, j])^2``.

    Args:
        input: ``(N, in)``, e.g. the 84 outputs of LeNet-5's F6 layer.
        centers: ``(out, in)``, one centre (class prototype) per output unit.

    Returns:
        ``(N, out)``: each input's squared Euclidean distance to every centre.
    """
    x, w = as_tensor(input), as_tensor(centers)
    _check_floating("rbf_units", "input", x)
    _check_floating("rbf_units", "centers", w, like=x)
    if x.ndim != 2:
        raise ValueError(f"rbf_units: input must be 2-D (N, in_features), got shape {x.shape}")
    if w.ndim != 2:
        raise ValueError(f"rbf_units: centers must be 2-D (out_features, in_features), "
                         f"got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"rbf_units: input has {x.shape[1]} features, centers have {w.shape[1]}")
    return RBFUnits()(x, w)
