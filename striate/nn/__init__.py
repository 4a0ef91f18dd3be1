"""Layers and models: modules that own parameters and compose ``striate.functional`` calls.

Layer classes follow ``torch.nn`` (names, constructor arguments, parameter names and shapes,
default initialisation), so a ``state_dict`` moves between the two libraries as is.
"""
from . import init, regularizers
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .blocks import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .regularizers import L1, L1L2, L2, Regularizer, has_regularizers, regularization_loss
from . import activation, blocks, conv, dropout, linear, losses, normalization, pooling

__all__ = (["init", "regularizers", "Module", "ModuleDict", "ModuleList", "Parameter",
            "Sequential", "L1", "L2", "L1L2", "Regularizer", "regularization_loss",
            "has_regularizers"]
           + activation.__all__ + conv.__all__ + linear.__all__ + normalization.__all__
           + dropout.__all__ + pooling.__all__ + blocks.__all__ + losses.__all__)
