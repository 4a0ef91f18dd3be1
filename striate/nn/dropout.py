"""Dropout layers (checklist R1): a fresh random mask every call in training, a fixed rule in eval.

``scaling`` picks the rule (see :mod:`striate.functional.dropout`): ``"inverted"`` (PyTorch's)
scales the kept units by 1 / (1 - p) while training and is the identity in evaluation;
``"weight"`` (Srivastava et al. 2014) keeps them unscaled and multiplies by 1 - p in evaluation.
Monte-Carlo dropout: keep the layer in training mode at inference and average several passes.
"""
from __future__ import annotations

import numbers

from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout"]

_SCALINGS = ("inverted", "weight")


class _DropoutNd(Module):
    _fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False, scaling: str = "inverted"):
        super().__init__()
        name = type(self).__name__
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"{name}: dropout probability p has to be between 0 and 1, "
                             f"got {p!r}")
        if scaling not in _SCALINGS:
            raise ValueError(f"{name}: scaling must be one of {_SCALINGS}, got {scaling!r}")
        self.p, self.inplace, self.scaling = p, inplace, scaling

    def forward(self, x):
        return self._fn(x, self.p, self.training, scaling=self.scaling)

    def extra_repr(self) -> str:
        s = f"p={self.p}, inplace={self.inplace}"
        return s if self.scaling == "inverted" else s + f", scaling={self.scaling}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` while training, as ``torch.nn.Dropout``.

    Args:
        p: the drop probability (keep 1 - p): 0.5 for hidden units, 0.2 for inputs in the paper.
        inplace: accepted and ignored (a new tensor is returned).
        scaling: ``"inverted"`` (default, PyTorch) or ``"weight"`` (the paper's test-time rule).
    """

    _fn = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) inputs, as ``torch.nn.Dropout1d``."""

    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole feature maps of (N, C, H, W) inputs, as ``torch.nn.Dropout2d`` (neighbouring
    pixels are correlated, so dropping single ones barely regularises a convolution)."""

    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) inputs, as ``torch.nn.Dropout3d``."""

    _fn = staticmethod(F.dropout3d)


class AlphaDropout(Module):
    """Alpha dropout for SELU networks, as ``torch.nn.AlphaDropout``: keeps zero mean and unit
    variance (see :func:`striate.functional.alpha_dropout`); the identity in evaluation."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"AlphaDropout: dropout probability p has to be between 0 and 1, "
                             f"got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.alpha_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
