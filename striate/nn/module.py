"""Module and Parameter: how layers own their weights, buffers and children.

A :class:`Module` owns :class:`Parameter` tensors (trained), buffers (state that is saved but not
trained, like batch norm's running statistics) and child modules. Assigning one as an attribute
registers it, as in PyTorch, so ``named_parameters()`` and ``state_dict()`` find it under the dotted
name PyTorch would use (``features.0.weight``) and weights move between the two libraries as-is.
Modules own parameters, not math: ``forward`` composes ``striate.functional`` calls.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Callable, Iterator

import numpy as np

from ..autograd import Tensor
from ..backend import get_array_module
from ..functional import fusion

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "RemovableHandle"]


class Parameter(Tensor):
    """A tensor that a module trains: ``requires_grad`` is on unless asked otherwise."""

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data.data if isinstance(data, Tensor) else data,
                         requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """What :meth:`Module.register_forward_hook` returns: ``remove()`` takes the hook off again
    (also on leaving a ``with`` block), as ``torch.utils.hooks.RemovableHandle``."""

    _ids = itertools.count()

    def __init__(self, hooks: OrderedDict):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, then assign parameters, buffers (via
    :meth:`register_buffer`) and sub-modules as attributes, and implement ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ---- registration -------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"attributes (got {name!r})")
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()) and (value is None or
                                                                   isinstance(value, Tensor)):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__.get(table)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, e.g. an absent bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, "
                            f"got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Register state that is saved in ``state_dict`` but not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def add_module(self, name: str, module: Module | None) -> None:
        self._modules[name] = module

    # ---- traversal ----------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, with dotted names (this one is ``prefix``)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop(0)
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()
                        if c is not None]
            stack[0:0] = children

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for k, m in self._modules.items():
            if m is not None:
                yield k, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter once, in registration order, with PyTorch's dotted names."""
        seen = set()
        for mname, m in self.named_modules(prefix):
            for k, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{k}" if mname else k), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for mname, m in self.named_modules(prefix):
            for k, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{k}" if mname else k), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    # ---- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout samples, batch norm uses batch statistics) for all modules."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def requires_grad_(self, mode: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(mode)
        return self

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every descendant, then on this module (PyTorch's order)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, dtype) -> Module:
        """Cast every parameter and floating buffer to ``dtype`` in place."""
        dtype = np.dtype(dtype)
        for t in list(self.parameters()) + list(self.buffers()):
            if t.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = None
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Parameters and buffers by dotted name, as NumPy arrays (copies), PyTorch's layout."""
        out = OrderedDict()
        for mname, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for k, t in table.items():
                    if t is not None:
                        out[f"{mname}.{k}" if mname else k] = np.array(t.numpy(), copy=True)
        return out

    def load_state_dict(self, state: dict, strict: bool = True):
        """Copy arrays (or tensors) from ``state`` into this module's parameters and buffers.

        Shapes must match exactly. With ``strict``, missing and unexpected keys are errors.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict()
        for mname, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for k, t in table.items():
                    if t is not None:
                        own[f"{mname}.{k}" if mname else k] = t
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: {type(self).__name__} is missing keys {missing} "
                           f"and got unexpected keys {unexpected}")
        for k, t in own.items():
            if k not in state:
                continue
            v = state[k]
            v = v.numpy() if hasattr(v, "numpy") and not isinstance(v, np.ndarray) else v
            v = np.asarray(v)
            if v.shape != t.shape:
                raise ValueError(f"load_state_dict: {k} has shape {t.shape} in the model but "
                                 f"{v.shape} in the state dict")
            xp = get_array_module(t.data)
            t.data[...] = xp.asarray(v, dtype=t.dtype)
        return missing, unexpected

    # ---- calling ------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def __call__(self, *args, **kwargs):
        """``forward(*args, **kwargs)``, with the forward hooks around it (PyTorch's order: the
        pre-hooks, forward, then the hooks, each in the order they were registered).

        Inference fusion (:mod:`striate.functional.fusion`) may leave a convolution pending
        inside a forward; whatever the outermost module returns, and whatever a hook is given
        (inputs and output), has been computed.
        """
        fusion.enter()
        try:
            if not (self._forward_pre_hooks or self._forward_hooks):
                out = self.forward(*args, **kwargs)  # the usual case: nothing to run around it
            else:
                out = self._hooked_forward(args, kwargs)
        finally:
            outermost = fusion.leave()
        return fusion.settle(out) if outermost else out

    def _hooked_forward(self, args, kwargs):
        fusion.settle(args)  # a hook may keep the inputs it sees, too
        fusion.settle(kwargs)
        for hook in tuple(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = fusion.settle(self.forward(*args, **kwargs))  # a hook may keep what it sees
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``, as in PyTorch.

        ``args`` is the tuple of positional arguments (keyword arguments are not passed). A hook
        that returns something other than ``None`` replaces the arguments (a single value is
        wrapped into a 1-tuple).

        Returns:
            a :class:`RemovableHandle`; ``handle.remove()`` unregisters the hook.
        """
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``, as in PyTorch.

        A hook that returns something other than ``None`` replaces the output. Hooks see the
        calls made through ``module(...)``, not direct calls of ``module.forward(...)``.

        Example::

            shapes = []
            handle = model.c1.register_forward_hook(lambda m, args, out: shapes.append(out.shape))
            model(x)
            handle.remove()

        Returns:
            a :class:`RemovableHandle`; ``handle.remove()`` unregisters the hook.
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for k, m in children:
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {body}")
        return "\n".join(lines) + "\n)"


def _check_child(container: Module, key, module) -> None:
    """A container's children must be Modules (or None, a placeholder), as torch's add_module
    requires: a TypeError naming the container and the entry otherwise."""
    from ._checks import check  # not at the top: _checks imports layers, which imports this module
    check(type(container).__name__, f"module {key!r}", module,
          module is None or isinstance(module, Module), "a Module", TypeError)


class Sequential(Module):
    """Modules applied in order; children are named ``0``, ``1``, ... (or by an OrderedDict)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for k, m in modules[0].items():
                _check_child(self, k, m)
                self.add_module(k, m)
        else:
            for i, m in enumerate(modules):
                _check_child(self, i, m)
                self.add_module(str(i), m)

    def __getitem__(self, i):
        items = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*items[i])
        return items[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        _check_child(self, len(self), module)
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        modules = tuple(self._modules.values())
        i = 0
        while i < len(modules):
            m = modules[i]
            # a batch norm followed by a ReLU may run as one op (nn.BatchNorm2d & co.)
            fused = getattr(m, "_fused_with_next", None)
            if fused is not None and i + 1 < len(modules):
                y = fused(x, modules[i + 1])
                if y is not None:
                    x, i = y, i + 2
                    continue
            x, i = m(x), i + 1
        return x


class ModuleList(Module):
    """A list of modules, registered as ``0``, ``1``, ..."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        _check_child(self, len(self._modules), module)
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules, registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            _check_child(self, k, m)
            self.add_module(k, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        _check_child(self, key, module)
        self.add_module(key, module)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
