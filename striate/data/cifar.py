"""CIFAR-10 and CIFAR-100 from their "python version" batches (Krizhevsky, 2009).

Each batch file is a pickled dict: ``b"data"`` a uint8 array (N, 3072) whose rows are three
1024-byte colour planes (R, G, B), each a 32x32 image in row-major order, and the labels as a list
of ints (``b"labels"`` in CIFAR-10, ``b"fine_labels"``/``b"coarse_labels"`` in CIFAR-100)::

    cifar-10-batches-py/   data_batch_1 ... data_batch_5, test_batch, batches.meta
    cifar-100-python/      train, test, meta

Unpickling can run arbitrary code, so these files are read by :class:`RestrictedUnpickler`, which
builds only plain Python containers and NumPy arrays: every global the pickle names must be one of
NumPy's array-reconstruction functions (``_reconstruct``, ``ndarray``, ``dtype``, ``_frombuffer``)
or ``_codecs.encode`` (how protocol-2 pickles spell bytes); anything else is refused before it is
looked up, so a doctored file cannot import or call anything.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

__all__ = ["load_cifar10", "load_cifar100", "cifar_class_names", "safe_unpickle",
           "RestrictedUnpickler", "CIFAR10_CLASSES"]

#: CIFAR-10's ten classes, by label index.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")

_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

# (module, name) pairs a CIFAR pickle may name; NumPy 2 moved numpy.core to numpy._core.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that builds dicts, lists, strings, bytes, numbers and NumPy arrays only.

    ``find_class`` is the one door through which a pickle reaches code; here it opens only for the
    globals NumPy needs to rebuild an array (see the module docstring) and raises
    ``pickle.UnpicklingError`` naming anything else.
    """

    def find_class(self, module, name):
        target = _ALLOWED_GLOBALS.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: CIFAR batches "
                                         "hold only dicts, lists, bytes and NumPy arrays")
        if target[0].startswith("numpy._core") and not hasattr(np, "_core"):  # NumPy < 2
            target = (target[0].replace("numpy._core", "numpy.core"), target[1])
        return super().find_class(*target)


def safe_unpickle(path) -> object:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (Python 2 strings come back as bytes)."""
    data = Path(path).read_bytes()
    return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def _batch_dir(op: str, data_dir, folder: str, needed) -> Path:
    """``data_dir`` itself or its ``folder`` child, whichever holds all the ``needed`` files."""
    data_dir = Path(os.path.expanduser(str(data_dir)))
    for candidate in (data_dir, data_dir / folder):
        if all((candidate / name).is_file() for name in needed):
            return candidate
    missing = [name for name in needed if not (data_dir / name).is_file()]
    raise FileNotFoundError(f"{op}: {', '.join(missing)} not found in {data_dir} (or in "
                            f"{data_dir / folder}); download the python version from {_CIFAR_URL} "
                            "and pass the unpacked folder as data_dir")


def _read_batch(path: Path, label_key: bytes):
    """One batch file -> (images uint8 (N, 3, 32, 32), labels int64 (N,))."""
    batch = safe_unpickle(path)
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR batch: it holds a {type(batch).__name__}, "
                         "not a dict")
    batch = {k.encode() if isinstance(k, str) else k: v for k, v in batch.items()}
    if b"data" not in batch or label_key not in batch:
        raise ValueError(f"{path} is not a CIFAR batch: expected keys b'data' and {label_key!r}, "
                         f"found {sorted(batch)}")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(f"{path}: data has shape {data.shape} and there are {len(labels)} labels; "
                         "expected (N, 3072) and N")
    return data.reshape(-1, 3, 32, 32), labels  # each row is R plane, G plane, B plane


def _read_batches(paths, label_key: bytes):
    parts = [_read_batch(p, label_key) for p in paths]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def load_cifar10(data_dir, split: str = "train"):
    """Load CIFAR-10: 60000 32x32 colour images in ten classes (:data:`CIFAR10_CLASSES`).

    Args:
        data_dir: the unpacked ``cifar-10-batches-py`` folder, or the folder that contains it.
        split: ``"train"`` (data_batch_1..5, 50000 images) or ``"test"`` (test_batch, 10000).

    Returns:
        ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` (RGB planes) and int64 ``(N,)``.
    """
    names = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    if split not in names:
        raise ValueError(f"load_cifar10: split must be 'train' or 'test', got {split!r}")
    folder = _batch_dir("load_cifar10", data_dir, "cifar-10-batches-py", names[split])
    return _read_batches([folder / name for name in names[split]], b"labels")


def load_cifar100(data_dir, split: str = "train", label: str = "fine"):
    """Load CIFAR-100: 60000 32x32 colour images, 100 fine classes grouped into 20 coarse ones.

    Args:
        data_dir: the unpacked ``cifar-100-python`` folder, or the folder that contains it.
        split: ``"train"`` (50000 images) or ``"test"`` (10000).
        label: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Returns:
        ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_cifar100: split must be 'train' or 'test', got {split!r}")
    if label not in ("fine", "coarse"):
        raise ValueError(f"load_cifar100: label must be 'fine' or 'coarse', got {label!r}")
    folder = _batch_dir("load_cifar100", data_dir, "cifar-100-python", [split])
    return _read_batches([folder / split], f"{label}_labels".encode())


def cifar_class_names(data_dir, label: str = "fine") -> list[str]:
    """Class names from a CIFAR folder's ``batches.meta`` (CIFAR-10) or ``meta`` (CIFAR-100).

    ``label`` picks CIFAR-100's ``"fine"`` or ``"coarse"`` names; CIFAR-10 has only one list.
    """
    data_dir = Path(os.path.expanduser(str(data_dir)))
    keys = {"batches.meta": b"label_names", "meta": f"{label}_label_names".encode()}
    for folder in (data_dir, data_dir / "cifar-10-batches-py", data_dir / "cifar-100-python"):
        for name, key in keys.items():
            if (folder / name).is_file():
                meta = safe_unpickle(folder / name)
                meta = {k.encode() if isinstance(k, str) else k: v for k, v in meta.items()}
                return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]
    raise FileNotFoundError(f"cifar_class_names: no batches.meta or meta file in {data_dir}")
