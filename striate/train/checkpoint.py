"""Checkpoints: everything a training run needs to continue exactly, with no pickle anywhere.

Layout. ``save_checkpoint("run/epoch3.safetensors", ...)`` writes two files:

* ``run/epoch3.safetensors`` — a safetensors file (loading it never runs code) holding every
  array: the model's ``state_dict`` under ``model.<name>`` (PyTorch's names, e.g.
  ``model.fc.weight``) and any array of the other states under its path
  (``optimizer.state.0.momentum_buffer``, ``callbacks.3.best_weights.fc.weight``). Its header
  metadata also carries the JSON below.
* ``run/epoch3.safetensors.json`` — the same JSON, indented, for people and tools: the model's
  class, name and arguments, the optimiser's class, ``param_groups`` and scalar state, the
  schedule's state, the epoch, Striate's random generator state, the data loader's shuffling
  state, the history and the callbacks' state. An array inside those states appears there as
  ``{"__tensor__": "<name in the safetensors file>"}``. Non-finite numbers (a ``best`` of
  ``Infinity``, a NaN loss) are written as Python's ``json`` writes them: ``Infinity``, ``NaN``.

Each file is written to a temporary file in the same directory, flushed to disk and then
``os.replace``-d over the old one, so a crash leaves either the old file or the new one, never
half of one. Two files cannot be replaced in one step, so :func:`load_checkpoint` reads the
metadata from the tensor file, written in the same step as the tensors: a crash between the two
renames at worst leaves a stale sidecar, never an inconsistent checkpoint.

Example::

    save_checkpoint("ckpt.safetensors", model, opt, sched, epoch=3, history=history,
                    model_name="lenet5", model_args={"num_classes": 10})
    ...
    meta = load_checkpoint("ckpt.safetensors", model, opt, sched)   # meta["epoch"] == 3
"""
from __future__ import annotations

import datetime
import json
import os
import tempfile

import numpy as np
import safetensors.numpy

from ..backend import get_rng_state, set_rng_state, to_numpy

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint_metadata"]

FORMAT = "striate-checkpoint"
VERSION = 1
_TENSOR = "__tensor__"
_MODEL = "model."


# ---- arrays out of (and back into) nested states ---------------------------------------------
def _split(value, path: str, tensors: dict):
    """A JSON-ready copy of ``value`` whose arrays moved into ``tensors`` under their path."""
    if isinstance(value, dict):
        return {str(k): _split(v, f"{path}.{k}", tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # NumPy or CuPy array, or Tensor
        tensors[path] = np.ascontiguousarray(to_numpy(getattr(value, "data", value)))
        return {_TENSOR: path}
    raise TypeError(f"save_checkpoint: cannot store {path} of type {type(value).__name__}; "
                    "a checkpoint holds arrays, numbers, strings, lists and dicts only")


def _join(value, tensors: dict):
    """Undo :func:`_split`: put the arrays back where their references are."""
    if isinstance(value, dict):
        if set(value) == {_TENSOR}:
            return tensors[value[_TENSOR]]
        return {k: _join(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    return value


# ---- atomic files -----------------------------------------------------------------------------
def _atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is always either the old or the new file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---- save -------------------------------------------------------------------------------------
def _history_state(history):
    """A History's state, or a plain ``{key: [values]}`` dict as one."""
    if history is None or hasattr(history, "state_dict"):
        return None if history is None else history.state_dict()
    return {"history": {k: list(v) for k, v in history.items()}, "epoch": None, "params": {}}


def _callback_states(callbacks, tensors: dict) -> list:
    """``[{"index", "class", "state"}]`` for the callbacks that have a state."""
    states = []
    for i, cb in enumerate(callbacks or ()):
        state = cb.state_dict() if hasattr(cb, "state_dict") else {}
        if state:
            states.append({"index": i, "class": type(cb).__name__,
                           "state": _split(state, f"callbacks.{i}", tensors)})
    return states


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch: int | None = None,
                    history=None, model_name: str | None = None, model_args: dict | None = None,
                    extra: dict | None = None, loader=None, callbacks=None) -> None:
    """Save the model and everything needed to resume training, atomically.

    Args:
        path: the tensor file (``.safetensors`` by convention); the sidecar is ``path + ".json"``.
            Its directory must exist.
        model: the :class:`~striate.nn.Module` whose ``state_dict`` is saved.
        optimizer: an optimiser whose ``state_dict`` (``param_groups``, per-parameter state) is
            saved, or ``None``.
        scheduler: a learning-rate schedule whose ``state_dict`` is saved, or ``None``.
        epoch: the number of epochs completed.
        history: a :class:`~striate.train.History` or a dict of lists.
        model_name: a name to rebuild the model by (e.g. the zoo's registry name); by default
            the model's class name.
        model_args: the keyword arguments that rebuild the model (JSON values).
        extra: any further JSON-serialisable values (arrays allowed).
        loader: a data loader whose ``state_dict`` (its shuffling state) is saved.
        callbacks: callbacks whose ``state_dict`` is saved (those returning an empty dict skip).

    Striate's random generator state (:func:`striate.get_rng_state`) is always saved.
    """
    path = os.fspath(path)
    weights = model.state_dict()
    # reshape: ascontiguousarray makes a 0-d array (BatchNorm's num_batches_tracked) 1-d
    tensors = {_MODEL + name: np.ascontiguousarray(array).reshape(array.shape)
               for name, array in weights.items()}
    meta = {
        "format": FORMAT, "version": VERSION,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"class": type(model).__name__,
                  "name": model_name if model_name is not None else type(model).__name__,
                  "args": _split(model_args or {}, "model_args", tensors),
                  "keys": list(weights)},
        "epoch": epoch,
        "rng": get_rng_state(),
    }
    if optimizer is not None:
        meta["optimizer"] = {"class": type(optimizer).__name__,
                             **_split(optimizer.state_dict(), "optimizer", tensors)}
    if scheduler is not None:
        meta["scheduler"] = {"class": type(scheduler).__name__,
                             "state": _split(scheduler.state_dict(), "scheduler", tensors)}
    if loader is not None and hasattr(loader, "state_dict"):
        meta["loader"] = _split(loader.state_dict(), "loader", tensors)
    meta["history"] = _split(_history_state(history), "history", tensors)
    meta["callbacks"] = _callback_states(callbacks, tensors)
    meta["extra"] = _split(extra or {}, "extra", tensors)

    text = json.dumps(meta)
    data = safetensors.numpy.save(tensors, metadata={"format": FORMAT, "striate": text})
    _atomic_write(path, data)
    _atomic_write(path + ".json", (json.dumps(meta, indent=1) + "\n").encode())


# ---- load -------------------------------------------------------------------------------------
def _read(path) -> tuple[dict, dict]:
    """``(metadata, tensors)`` from a checkpoint's tensor file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        hint = " (that is the JSON sidecar; pass the tensor file)" if path.endswith(".json") \
            else ""
        raise FileNotFoundError(f"load_checkpoint: no checkpoint file at {path!r}{hint}")
    with open(path, "rb") as f:
        data = f.read()
    try:
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + size])
        meta = json.loads(header["__metadata__"]["striate"])
        tensors = safetensors.numpy.load(data)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"load_checkpoint: {path!r} is not a Striate checkpoint "
                         f"(a safetensors file with Striate metadata): {err}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"load_checkpoint: {path!r} is not a Striate checkpoint")
    if meta.get("version", 0) > VERSION:
        raise ValueError(f"load_checkpoint: {path!r} has format version {meta['version']}; "
                         f"this Striate reads up to version {VERSION}")
    return meta, tensors


def read_checkpoint_metadata(path) -> dict:
    """The checkpoint's metadata (arrays included), without touching any model or state."""
    meta, tensors = _read(path)
    return _join(meta, tensors)


def _load_model(path, meta: dict, tensors: dict, model, strict: bool) -> None:
    saved = meta["model"]
    if strict and saved["class"] != type(model).__name__:
        raise ValueError(f"load_checkpoint: {path!r} holds a checkpoint of {saved['class']} "
                         f"(model name {saved['name']!r}), not of {type(model).__name__}")
    state = {k[len(_MODEL):]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise ValueError(f"load_checkpoint: {path!r} holds a checkpoint of another model "
                         f"({saved['class']}, name {saved['name']!r}): its state_dict lacks "
                         f"{_some(missing)} and has extra {_some(unexpected)}")
    for k in own:
        if k in state and state[k].shape != own[k].shape:
            raise ValueError(f"load_checkpoint: {path!r} holds a checkpoint of another model "
                             f"({saved['class']}, name {saved['name']!r}): {k} has shape "
                             f"{state[k].shape} there but {own[k].shape} in the model")
    model.load_state_dict(state, strict=False)


def _some(keys: list, shown: int = 5) -> str:
    if not keys:
        return "no keys"
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} keys {keys[:shown]}{more}"


def _optimizer_state(saved: dict, optimizer) -> dict:
    """The optimiser state dict as ``state_dict()`` returned it: int keys, tuple settings."""
    groups = []
    for group in saved["param_groups"]:
        group = dict(group)
        for name, default in optimizer.defaults.items():
            if isinstance(default, tuple) and isinstance(group.get(name), list):
                group[name] = tuple(group[name])
        groups.append(group)
    return {"state": {int(k): v for k, v in saved["state"].items()}, "param_groups": groups}


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, loader=None,
                    restore_rng: bool = True, strict: bool = True) -> dict:
    """Restore what :func:`save_checkpoint` saved into the objects given; return the metadata.

    Args:
        path: the checkpoint's tensor file.
        model: a model of the same class and architecture, or ``None``.
        optimizer: an optimiser over the same parameters (same class), or ``None``.
        scheduler: a schedule of the same class, or ``None``.
        loader: a data loader whose shuffling state is restored, or ``None``.
        restore_rng: also restore Striate's random generator (so dropout masks and other draws
            continue as in the saved run). ``False`` leaves the generator alone.
        strict: with ``True``, a checkpoint of another model class, missing or extra weights
            are errors; ``False`` loads the weights whose names match.

    Returns:
        The metadata dict: ``"epoch"``, ``"history"`` (``{"history", "epoch", "params"}``),
        ``"model"`` (``{"class", "name", "args", "keys"}``), ``"extra"``, ``"callbacks"``,
        ``"loader"``, ``"rng"``, ... with arrays in place.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a Striate checkpoint, a checkpoint of another model (which names or
            shapes differ is said), or a state the optimiser/schedule was not saved with.
    """
    meta, tensors = _read(path)
    meta = _join(meta, tensors)
    if model is not None:
        _load_model(path, meta, tensors, model, strict)
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler")):
        if obj is None:
            continue
        if key not in meta:
            raise ValueError(f"load_checkpoint: {path!r} holds no {key} state")
        if meta[key]["class"] != type(obj).__name__:
            raise ValueError(f"load_checkpoint: {path!r} holds the state of a "
                             f"{meta[key]['class']} {key}, not of {type(obj).__name__}")
    if optimizer is not None:
        optimizer.load_state_dict(_optimizer_state(meta["optimizer"], optimizer))
    if scheduler is not None:
        scheduler.load_state_dict(meta["scheduler"]["state"])
    if loader is not None and meta.get("loader") is not None:
        loader.load_state_dict(meta["loader"])
    if restore_rng:
        set_rng_state(meta["rng"])
    return meta
