"""The optimiser base class: parameter groups, per-parameter state, checkpoints (checklist F4).

An optimiser owns a list of *parameter groups*. Each group is a dict holding its tensors under
``"params"`` and its own settings (``"lr"``, ``"momentum"``, ...); settings a group does not name
come from the optimiser's defaults. This is how one model trains its layers at different learning
rates, and what the learning-rate schedules change between epochs::

    opt = SGD([{"params": backbone, "lr": 1e-3},
               {"params": head}], lr=1e-2, momentum=0.9)   # head uses lr=1e-2

``step()`` reads every parameter's ``.grad`` (skipping those whose gradient is ``None``) and
updates ``p.data`` in place: updates are plain array operations, never part of the graph.
Whatever an update rule carries from one step to the next (momentum buffers, moving averages,
the step count) lives in ``state[p]``, a dict per parameter.

``state_dict()`` has PyTorch's layout, so a checkpoint reads the same in both libraries::

    {"state": {0: {"momentum_buffer": array}, 1: {...}},          # keyed by parameter index
     "param_groups": [{"lr": 0.1, "momentum": 0.9, ..., "params": [0, 1]}]}

Parameters are numbered in order through the groups; arrays come out as NumPy copies.
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict

from ..autograd import Tensor, enable_grad
from ..backend import get_array_module, to_numpy

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of every optimiser.

    Subclasses pass their settings as ``defaults``, check them in :meth:`_check_options` (run on
    the defaults and on every group) and implement the update of one parameter in
    :meth:`_update`.

    Args:
        params: an iterable of tensors, or of dicts (parameter groups) each with a ``"params"``
            entry (a tensor or an iterable of tensors) and any per-group settings.
        defaults: the settings a group gets when it does not name them.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of tensors) and the settings.
        state: per-parameter state, ``state[p]`` a dict (empty until ``p`` is first updated).
        defaults: the default settings.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name}: params must be an iterable of Tensors or of dicts, "
                            "got a single Tensor; pass [tensor]")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must come in an ordered collection "
                            "(a list), not a set: a set's order changes between runs")
        if isinstance(params, dict):
            params = [params]
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{self._name}: got an empty parameter list")
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._step_count = 0  # lets a learning-rate schedule warn when stepped before us
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    # ---- what subclasses provide ---------------------------------------------------------------
    def _check_options(self, options: dict) -> None:
        """Raise ValueError when a setting is out of range (``lr >= 0`` here)."""
        lr = options.get("lr", 0.0)
        if not lr >= 0.0:
            raise ValueError(f"{self._name}: lr must be >= 0, got {lr}")

    def _update(self, p: Tensor, grad, state: dict, group: dict) -> None:
        """Update ``p.data`` in place from its gradient array ``grad``."""
        raise NotImplementedError

    # ---- groups ----------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own settings (e.g. unfreezing layers later).

        Args:
            param_group: a dict with ``"params"`` (a tensor or an iterable of tensors) and any
                settings; the missing ones are filled from the defaults.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a parameter group must be a dict, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a parameter group needs a 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must come in an ordered collection "
                            "(a list), not a set: a set's order changes between runs")
        group["params"] = list(params)
        index = len(self.param_groups)
        for i, p in enumerate(group["params"]):
            self._check_param(p, i, index)
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_options(group)

        ids = [id(p) for p in group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn(f"{self._name}: parameter group {index} holds the same parameter "
                          "more than once; it will be updated more than once per step",
                          stacklevel=3)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken.intersection(ids):
            raise ValueError(f"{self._name}: some parameters appear in more than one "
                             "parameter group")
        self.param_groups.append(group)

    def _check_param(self, p, i: int, group_index: int) -> None:
        where = f"parameter {i} of group {group_index}"
        if not isinstance(p, Tensor):
            raise TypeError(f"{self._name}: can only optimize Tensors, but {where} is a "
                            f"{type(p).__name__}")
        if p.dtype.kind != "f":
            raise TypeError(f"{self._name}: {where} has dtype {p.dtype}; only floating-point "
                            "tensors can be optimized")
        if not p.is_leaf:
            raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor ({where} was "
                             f"computed by {p.grad_fn!r})")

    # ---- gradients and the update ------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients before the next backward pass.

        Args:
            set_to_none: set ``p.grad = None`` (default; saves memory and lets ``step`` skip
                parameters that got no gradient) instead of filling it with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient, once.

        Args:
            closure: optional function that clears the gradients, recomputes the loss, calls
                ``backward`` and returns the loss; it runs (with gradients recorded) before
                the update.

        Returns:
            The closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, self._grad_array(p), self.state[p], group)
        self._step_count += 1
        return loss

    def _grad_array(self, p: Tensor):
        grad = p.grad.data if isinstance(p.grad, Tensor) else p.grad
        if grad.shape != p.shape:
            raise ValueError(f"{self._name}: a gradient of shape {grad.shape} was given for a "
                             f"parameter of shape {p.shape}")
        return grad.astype(p.dtype, copy=False)

    # ---- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimiser's state in PyTorch's layout (see the module docstring).

        Returns:
            ``{"state": {index: {name: value}}, "param_groups": [{setting: value,
            "params": [index, ...]}]}``; arrays are NumPy copies, so the dict does not change
            when training goes on.
        """
        index: dict[int, int] = {}
        groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {}
        for p, p_state in self.state.items():
            if not p_state:  # e.g. SGD without momentum keeps nothing
                continue
            state[index[id(p)]] = {k: _export(v) for k, v in p_state.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the state saved by :meth:`state_dict` (also PyTorch's, same optimiser).

        The settings (``lr``, ...) come from ``state_dict``; the parameters stay this
        optimiser's, matched by their order. Arrays (or nested lists, as from JSON) take each
        parameter's dtype and device; the step count becomes an int.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError(f"{self._name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups', as state_dict() returns")
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name}.load_state_dict: the state dict has "
                             f"{len(saved_groups)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{self._name}.load_state_dict: parameter group {i} has "
                                 f"{len(saved['params'])} parameters in the state dict, "
                                 f"{len(group['params'])} in the optimizer")
        params = {}
        for saved, group in zip(saved_groups, self.param_groups):
            params.update(zip(saved["params"], group["params"]))
        state: defaultdict = defaultdict(dict)
        for key, p_state in state_dict["state"].items():
            key = int(key)  # JSON turns the integer keys into strings
            if key in params:
                p = params[key]
                state[p] = {name: _import(name, v, p, self._name)
                            for name, v in p_state.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            saved["params"] = group["params"]
            for name, default in self.defaults.items():
                saved.setdefault(name, default)
            self._check_options(saved)
        self.state = state
        self.param_groups = saved_groups

    def __repr__(self):
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


def _export(value):
    """A state value as it goes into a state dict: arrays become NumPy copies."""
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return to_numpy(value).copy()


def _import(name: str, value, p: Tensor, op: str):
    """A state-dict value as the optimiser keeps it: the step count a Python int, arrays
    copies on ``p``'s device with ``p``'s dtype (PyTorch's 0-d tensors and arrays accepted)."""
    if name == "step":
        return int(float(value))
    if value is None or isinstance(value, (int, float, bool)):
        return value
    xp = get_array_module(p.data)
    arr = xp.array(to_numpy(value), dtype=p.dtype)
    if arr.shape != p.shape:
        raise ValueError(f"{op}.load_state_dict: state '{name}' has shape {arr.shape}, its "
                         f"parameter has shape {p.shape}")
    return arr
