"""Dropout (checklist R1): random masks at training time, a deterministic rule at test time.

At training time every unit (or, for ``dropout1d/2d/3d``, every whole channel) is kept with
probability 1 - p and set to 0 otherwise, with a fresh Bernoulli mask on every call (every batch).
At test time there is no mask, and the expected output of the training-time network is recovered
by one of two equivalent rules (Srivastava et al. 2014):

- *inverted dropout* (``scaling="inverted"``, PyTorch's semantics): scale the kept units by
  1 / (1 - p) while training, so E[y] = x; at test time the layer is the identity;
- *weight scaling* (``scaling="weight"``, the paper's rule): no scaling while training; at test time
  multiply by the keep probability 1 - p (for a following linear layer this is the same as scaling
  its weights by 1 - p, hence the name).

For a layer that is linear in its input, both rules give exactly the mean over all masks; for a
deep network they approximate it, and averaging several masked passes (Monte-Carlo dropout, with
``training=True`` at inference) estimates it together with its spread.

Masks are drawn from Striate's generator (:func:`striate.manual_seed` makes them reproducible).
"""
from __future__ import annotations

import math
import numbers
import warnings

from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module, get_generator
from .elementwise import mul

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout"]

# alpha' = -SELU_SCALE * SELU_ALPHA: the value SELU saturates to for large negative inputs.
_SELU_SATURATION = -1.7580993408473766
_SCALINGS = ("inverted", "weight")


class Dropout(Function):
    """y = x * mask + shift;  gx = gy * mask.

    ``mask`` holds 0 for the dropped units and the keep scale for the others (1 / (1 - p) for
    inverted dropout, 1 for weight scaling, ``a`` for alpha dropout); its shape broadcasts to x's,
    so a mask of shape (N, C, 1, 1) drops whole channels. ``shift`` is 0 except in alpha dropout.
    """

    def __init__(self, mask, shift=None):
        self.mask, self.shift = mask, shift

    def forward(self, x):
        y = x * self.mask
        return y if self.shift is None else y + self.shift

    def backward(self, gy):
        return gy * self.mask


def _check_args(op: str, x, p, scaling: str = "inverted") -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor, got dtype {x.dtype}")
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability p has to be between 0 and 1, got {p!r}")
    if scaling not in _SCALINGS:
        raise ValueError(f"{op}: scaling must be one of {_SCALINGS}, got {scaling!r}")
    return x


def _keep_mask(x: Tensor, p: float, mask_shape: tuple):
    """A boolean array of ``mask_shape``, True (keep) with probability 1 - p."""
    xp = get_array_module(x.data)
    return get_generator(xp).random(mask_shape) >= p


def _masked(x: Tensor, p: float, training: bool, scaling: str, mask_shape: tuple) -> Tensor:
    """The shared body of dropout and the channel-wise variants."""
    if not training:
        return x if scaling == "inverted" or p == 0 else mul(x, 1.0 - p)
    if p == 0 or x.data.size == 0:
        return x
    if p == 1:
        return Dropout(x.data.dtype.type(0))(x)
    keep = _keep_mask(x, p, mask_shape)
    scale = 1.0 / (1.0 - p) if scaling == "inverted" else 1.0
    return Dropout((keep * scale).astype(x.dtype))(x)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False,  # noqa: A002
            scaling: str = "inverted") -> Tensor:
    """Zero each element independently with probability ``p``.

    Args:
        input: a floating tensor of any shape.
        p: the drop probability, in [0, 1] (p = 1 gives zeros).
        training: draw a mask (True) or apply the test-time rule (False).
        inplace: accepted for PyTorch compatibility and ignored (a new tensor is returned).
        scaling: ``"inverted"``: y = x * mask / (1 - p) while training, y = x at test time
            (PyTorch); ``"weight"``: y = x * mask while training, y = (1 - p) x at test time.
    """
    x = _check_args("dropout", input, p, scaling)
    return _masked(x, p, training, scaling, x.shape)


def _channel_mask_shape(x: Tensor, batched: bool) -> tuple:
    """(N, C, 1, ..., 1) for a batched input, (C, 1, ..., 1) for an unbatched one."""
    lead = 2 if batched else 1
    return x.shape[:lead] + (1,) * (x.ndim - lead)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False,  # noqa: A002
              scaling: str = "inverted") -> Tensor:
    """Zero whole channels of an (N, C, L) or unbatched (C, L) input, each with probability p.

    Same rules as :func:`dropout`; each channel's mask entry covers all of its L positions.
    """
    x = _check_args("dropout1d", input, p, scaling)
    if x.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-d (C, L) or 3-d (N, C, L) input, "
                         f"got shape {x.shape}")
    return _masked(x, p, training, scaling, _channel_mask_shape(x, x.ndim == 3))


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False,  # noqa: A002
              scaling: str = "inverted") -> Tensor:
    """Zero whole channels (feature maps) of an (N, C, H, W) input, each with probability p.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    barely regularises a convolutional layer; dropping whole maps does (Tompson et al. 2015).
    A 3-d input is read as (N, C, L), with PyTorch's warning (PyTorch keeps this historical
    behaviour; use :func:`dropout1d` for it).
    """
    x = _check_args("dropout2d", input, p, scaling)
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-d (N, C, H, W) input, got shape {x.shape}")
    if x.ndim == 3:
        warnings.warn("dropout2d: received a 3-d input; it is read as (N, C, L) and channel-wise "
                      "1-d dropout is applied, as PyTorch does. Use dropout1d for that.",
                      stacklevel=2)
    return _masked(x, p, training, scaling, _channel_mask_shape(x, batched=True))


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False,  # noqa: A002
              scaling: str = "inverted") -> Tensor:
    """Zero whole channels of an (N, C, D, H, W) or unbatched (C, D, H, W) input.

    Same rules as :func:`dropout`; each channel's mask entry covers its whole volume.
    """
    x = _check_args("dropout3d", input, p, scaling)
    if x.ndim not in (4, 5):
        raise ValueError(f"dropout3d: expected a 4-d (C, D, H, W) or 5-d (N, C, D, H, W) input, "
                         f"got shape {x.shape}")
    return _masked(x, p, training, scaling, _channel_mask_shape(x, x.ndim == 5))


def alpha_dropout(input, p: float = 0.5, training: bool = False,  # noqa: A002
                  inplace: bool = False) -> Tensor:
    """Alpha dropout for self-normalising (SELU) networks (Klambauer et al. 2017).

    Dropped units are set to SELU's negative saturation value alpha' = -1.7581 instead of 0, then
    an affine map restores zero mean and unit variance for zero-mean, unit-variance inputs:

        y = a * (x * keep + alpha' * (1 - keep)) + b,
        a = ((1 - p) (1 + p alpha'^2))^(-1/2),   b = -a alpha' p;   gx = gy * a * keep.

    ``training`` defaults to False, as in PyTorch; at test time the layer is the identity.
    """
    x = _check_args("alpha_dropout", input, p)
    if not training or p == 0 or x.data.size == 0:
        return x
    if p == 1:
        return Dropout(x.data.dtype.type(0))(x)
    keep = _keep_mask(x, p, x.shape)
    a = 1.0 / math.sqrt((_SELU_SATURATION ** 2 * p + 1) * (1 - p))
    mask = (keep * a).astype(x.dtype)
    shift = (a * _SELU_SATURATION * (1 - keep - p)).astype(x.dtype)  # a alpha' (1 - keep) + b
    return Dropout(mask, shift)(x)
