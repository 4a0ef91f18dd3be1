"""Activation layers (checklist A1, A2): each wraps the functional op of the same name.

``inplace`` is accepted for PyTorch compatibility and ignored (the functional ops always return a
new tensor, since an in-place write would overwrite what the graph keeps for backward); it still
shows in the repr, as PyTorch's does.
"""
from __future__ import annotations

import warnings

from .. import functional as F
from ._checks import check, is_real
from .layers import is_int
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "ELU", "SELU", "Sigmoid", "Tanh", "LeCunTanh", "Softmax",
           "LogSoftmax"]


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """max(x, 0), as ``torch.nn.ReLU``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """x for x > 0, ``negative_slope`` * x otherwise, as ``torch.nn.LeakyReLU``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        check("LeakyReLU", "negative_slope", negative_slope, is_real(negative_slope), "a number",
              TypeError)
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x for x > 0, alpha (e^x - 1) otherwise, as ``torch.nn.ELU``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        check("ELU", "alpha", alpha, is_real(alpha), "a number", TypeError)
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(Module):
    """Scaled ELU of self-normalising networks, as ``torch.nn.SELU``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.selu(x)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Sigmoid(Module):
    """Logistic sigmoid 1 / (1 + e^-x), as ``torch.nn.Sigmoid``."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent, as ``torch.nn.Tanh``."""

    def forward(self, x):
        return F.tanh(x)


class LeCunTanh(Module):
    """LeNet-5's scaled tanh f(a) = 1.7159 tanh(2a / 3) (A2; no PyTorch twin).

    f(+-1) = +-1, so targets of +-1 sit where the curve bends most, not in its flat tails.
    """

    def forward(self, x):
        return F.lecun_tanh(x)


def _legacy_softmax_dim(layer: str, ndim: int) -> int:
    """PyTorch's deprecated implicit choice: axis 0 for 0-, 1- and 3-d inputs, else axis 1."""
    warnings.warn(f"{layer}: implicit dimension choice is deprecated (as in PyTorch); "
                  f"pass dim explicitly", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Softmax along ``dim`` (the entries along it sum to 1), as ``torch.nn.Softmax``.

    ``dim=None`` picks PyTorch's deprecated default (axis 0 for 0-, 1- and 3-d inputs, else 1)
    with a warning; pass ``dim`` (usually 1, the class axis).
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        check("Softmax", "dim", dim, dim is None or is_int(dim), "an int or None", TypeError)
        self.dim = dim

    def forward(self, x):
        dim = self.dim if self.dim is not None else _legacy_softmax_dim("Softmax", x.ndim)
        return F.softmax(x, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably, as ``torch.nn.LogSoftmax``; pair with
    :class:`~striate.nn.losses.NLLLoss` (together: cross-entropy)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        check("LogSoftmax", "dim", dim, dim is None or is_int(dim), "an int or None", TypeError)
        self.dim = dim

    def forward(self, x):
        dim = self.dim if self.dim is not None else _legacy_softmax_dim("LogSoftmax", x.ndim)
        return F.log_softmax(x, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
