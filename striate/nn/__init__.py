"""Layers and models: modules that own parameters and compose ``striate.functional`` calls."""
from . import init
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential

__all__ = ["init", "Module", "ModuleDict", "ModuleList", "Parameter", "Sequential"]
