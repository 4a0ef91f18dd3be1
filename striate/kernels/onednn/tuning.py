"""Which of oneDNN's implementations runs each convolution: timed once, then remembered on disk.

For one convolution oneDNN usually has several implementations (``brgconv:avx512_core``,
``jit:avx512_core``, ``jit:avx2``, ...) and runs the first of its list, chosen by rules tuned on
Intel's processors. On the AMD EPYC (Zen 4) of this project's machine the second one was faster
for most layers, measured per layer at 2 threads, batch 128 (forward, ms):

    layer              brgconv   jit:avx512_core
    1 -> 16  @28        0.40        0.18
    16 -> 16 @28        2.70        2.34
    32 -> 32 @14        2.07        1.93
    64 -> 64 @7         1.80        1.65
    32 -> 64 @14 /2     1.06        1.16

which made ResNet-20 inference 8% faster and LeNet-5 training 6% (alternating A/B runs, timing
three candidates then; always skipping brgconv gave training ResNet-20 2%, its backward passes
having one fast implementation). So, as
``torch.backends.cudnn.benchmark`` does for cuDNN, the first use of each configuration times the
first ``CANDIDATES`` implementations (taking turns, the fastest of ``REPEATS`` calls of each, on
zero-filled buffers) and keeps the fastest. Each is first checked against oneDNN's first choice
on random inputs (:func:`agrees`); a large layer is tried on part of its batch (:func:`_trial`).
ResNet-20's first training step then takes 0.6 s instead of 0.3 s, once per machine.

The choice is remembered in a JSON file (``$STRIATE_CACHE_DIR``, else ``~/.cache/striate``), keyed
by oneDNN's version, the processor, the thread count, the pass and the configuration, so a later
process on the same machine makes the same choice without timing: implementations round
differently, and a run resumed from a checkpoint must compute what the first process would have.
A file that cannot be read or written is ignored (the choice is then kept for this process only).

``STRIATE_ONEDNN_AUTOTUNE=0`` or :func:`enabled(False) <enabled>` turns tuning off: every
convolution then runs oneDNN's first choice.
"""
from __future__ import annotations

import ctypes
import json
import os
import platform
import tempfile
import threading

import numpy as np

from ._library import load

__all__ = ["enabled", "candidates", "choose", "time_implementation", "cache_path", "forget"]

CANDIDATES = 2   # the first this many implementations of oneDNN's list, reference code aside
REPEATS = 2      # turns per implementation, each one untimed and one timed call
# Passes of fewer multiply-adds run oneDNN's first choice untimed: they take microseconds, where
# the implementations differ by less than timing them costs (LeNet-5's smallest layer at batch
# 128 has 11M).
MIN_MULTIPLY_ADDS = 1 << 22
TRIAL_BYTES = 64 << 20  # the largest buffer a trial allocates (see _trial)

_enabled = os.environ.get("STRIATE_ONEDNN_AUTOTUNE", "1") != "0"
_lock = threading.Lock()
_table: dict | None = None   # key -> implementation name, as in the file
_timings = 0                 # timed calls of time_implementation in this process (tests read it)


def enabled(flag: bool | None = None) -> bool:
    """Whether convolutions are tuned (the default); ``enabled(False)`` runs oneDNN's first
    choice from now on for configurations not used yet (:func:`striate.kernels.onednn.clear_cache`
    forgets the choices already made in this process). Returns the setting in force."""
    global _enabled
    if flag is not None:
        _enabled = bool(flag)
    return _enabled


def cache_path() -> str:
    """The file the choices are kept in."""
    root = os.environ.get("STRIATE_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "striate")
    major, minor, patch = _version()
    return os.path.join(root, f"onednn-{major}.{minor}.{patch}-conv-implementations.json")


def _version() -> tuple:
    parts = [ctypes.c_int() for _ in range(3)]
    load().sconv_version(*(ctypes.byref(p) for p in parts))
    return tuple(p.value for p in parts)


def _processor() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_cpu = None


def _key(kind: int, config) -> str:
    global _cpu
    if _cpu is None:
        _cpu = _processor()
    fields = []
    for name, _ in config._fields_:
        if name == "impl":
            continue
        value = getattr(config, name)
        fields.append(",".join(map(str, value)) if isinstance(value, ctypes.Array) else str(value))
    return f"{_cpu}|threads={load().sconv_get_num_threads()}|kind={kind}|" + "|".join(fields)


def _load_table() -> dict:
    try:
        with open(cache_path()) as f:
            table = json.load(f)
        return table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(key: str, name: str) -> None:
    """Add one choice to the file: read it again (another process may have added some), then
    replace it atomically."""
    path = cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        table = _load_table()
        table[key] = name
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".conv-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(table, f, indent=0, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass


def forget() -> None:
    """Drop the choices read from the file (the next convolution reads it again)."""
    global _table
    with _lock:
        _table = None


def candidates(kind: int, config) -> list:
    """The names of oneDNN's implementations for this pass (0 forward, 1 backward-data,
    2 backward-weights) and configuration, in its order of preference."""
    buf = ctypes.create_string_buffer(4096)
    count = load().sconv_candidates(kind, ctypes.byref(config), buf, len(buf))
    if count < 0:
        raise RuntimeError(f"oneDNN failed ({load().sconv_last_error().decode()})")
    return buf.value.decode().split("\n")[:count]


def _with(config, name: str):
    trial = type(config).from_buffer_copy(config)
    trial.impl = name.encode()
    return trial


def time_implementation(kind: int, config, name: str, repeats: int = REPEATS) -> float:
    """Milliseconds of the fastest of ``repeats`` calls of the implementation ``name``."""
    global _timings
    ms = ctypes.c_double()
    if load().sconv_time(kind, ctypes.byref(_with(config, name)), repeats, ctypes.byref(ms)) != 0:
        raise RuntimeError(f"oneDNN failed ({load().sconv_last_error().decode()})")
    _timings += 1
    return ms.value


def _shapes(config) -> tuple:
    nsp = config.nsp
    x = (config.n, *config.in_[:nsp], config.c)
    w = (config.k, config.c // config.groups, *config.ker[:nsp])
    y = (config.n, *config.out[:nsp], config.k)
    return x, w, y


def _trial(config):
    """The configuration the implementations are timed and checked on: ``config``, with the
    batch cut so that no buffer passes ``TRIAL_BYTES`` (a VGG layer on 224 x 224 images has
    activations of hundreds of MB, and a trial allocates several)."""
    x_shape, _, y_shape = _shapes(config)
    per_image = 4 * max(np.prod(x_shape[1:]), np.prod(y_shape[1:]))
    n = int(max(1, min(config.n, TRIAL_BYTES // per_image)))
    if n == config.n:
        return config
    trial = type(config).from_buffer_copy(config)
    trial.n = n
    return trial


def _multiply_adds(config) -> int:
    """Of each pass: one per output value, input channel of its group and kernel position."""
    nsp = config.nsp
    work = config.n * config.k * (config.c // config.groups)
    for i in range(nsp):
        work *= config.out[i] * config.ker[i]
    return work


def outputs(kind: int, config, name: str, seed: int = 0) -> list:
    """What the implementation ``name`` computes for this pass and configuration from random
    inputs (the same for every name, given the seed; tiled from 4099 random values): [y]
    forward, [gx] backward-data, [gw] backward-weights."""
    from .conv import _call  # here: conv.py imports this module

    # random values tiled with a prime period: as generic as fresh ones for this check, and
    # made at memory speed (drawing millions of normals took most of a tuning's time)
    pool = np.random.default_rng(seed).standard_normal(4099, dtype=np.float32)
    x_shape, w_shape, y_shape = _shapes(config)
    rand = lambda shape: np.resize(pool, shape)  # noqa: E731
    trial = _with(config, name)
    lib = load()
    if kind == 0:
        x, w, y = rand(x_shape), rand(w_shape), np.empty(y_shape, np.float32)
        b = rand((config.k,)) if config.with_bias else None
        z = rand(y_shape) if config.post_add else None
        _call(lib.sconv_forward, "tuning", trial, x, w, b, y, z)
        return [y]
    if kind == 1:
        gy, w, gx = rand(y_shape), rand(w_shape), np.empty(x_shape, np.float32)
        _call(lib.sconv_backward_data, "tuning", trial, gy, w, gx)
        return [gx]
    x, gy, gw = rand(x_shape), rand(y_shape), np.empty(w_shape, np.float32)
    trial.with_bias = 0  # gb is summed apart from the implementation
    _call(lib.sconv_backward_weights, "tuning", trial, x, gy, gw, None)
    return [gw]


def agrees(kind: int, config, name: str, reference: list) -> bool:
    """Whether ``name`` computes what oneDNN's first choice computed (``reference``, from
    :func:`outputs`) to 1e-4 of the largest value. oneDNN 2.6's ``x64:gemm:jit`` forward with
    the residual post-op does not (errors of 14% measured), so no implementation is timed before
    it is checked."""
    for ours, ref in zip(outputs(kind, config, name), reference):
        scale = max(float(np.abs(ref).max(initial=0.0)), 1.0)
        if not float(np.abs(ours - ref).max(initial=0.0)) <= 1e-4 * scale:
            return False
    return True


def choose(kind: int, config) -> str:
    """The implementation to run this pass and configuration with: remembered, timed now, or
    ``""`` (oneDNN's first choice) when tuning is off or there is nothing to choose from."""
    global _table
    if not _enabled or _multiply_adds(config) < MIN_MULTIPLY_ADDS:
        return ""
    key = _key(kind, config)
    with _lock:
        if _table is None:
            _table = _load_table()
        listed = candidates(kind, config)
        known = _table.get(key)
        if known in listed or known == "":
            return known
        tried = [n for n in listed if not n.startswith("ref")][:CANDIDATES]
        names, trial = tried, _trial(config)
        if len(names) >= 2:  # only those that compute what oneDNN's first choice computes
            reference = outputs(kind, trial, listed[0])
            names = [n for n in names if n == listed[0] or agrees(kind, trial, n, reference)]
        if len(names) < 2:
            best = names[0] if names else ""
        else:
            times = dict.fromkeys(names, float("inf"))
            for _ in range(REPEATS):  # taking turns, so a busy moment does not favour one
                for name in names:
                    times[name] = min(times[name], time_implementation(kind, trial, name, 1))
            best = min(names, key=times.__getitem__)
        for name in set(tried + listed[:1]):  # the trials' primitives leave the C cache
            if trial is not config:
                load().sconv_cache_drop(kind, ctypes.byref(_with(trial, name)))
            elif name != best:
                load().sconv_cache_drop(kind, ctypes.byref(_with(config, name)))
        _table[key] = best
        _save(key, best)
        return best
