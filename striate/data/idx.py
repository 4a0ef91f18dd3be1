"""The IDX file format (MNIST, Fashion-MNIST, KMNIST, EMNIST) and the loaders built on it.

An IDX file is a tiny header followed by the raw array, big-endian::

    bytes 0-1   0x00 0x00                      the magic number's zero half
    byte  2     dtype code                     0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                               0x0D float32, 0x0E float64
    byte  3     ndim                           number of dimensions
    4*ndim      dims, each a big-endian uint32 e.g. 60000, 28, 28
    ...         prod(dims) items, C order, big-endian

The files are often gzipped (``*.gz``); :func:`read_idx` recognises gzip by its own magic bytes,
whatever the file is called. Nothing is ever downloaded: Fashion-MNIST comes from Debian's package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) or from a folder you name.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx", "load_mnist", "load_fashion_mnist", "load_kmnist",
           "load_emnist", "FASHION_MNIST_DIR", "FASHION_MNIST_CLASSES", "KMNIST_CLASSES"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the four IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

#: Fashion-MNIST's ten classes, by label index (Xiao, Rasul and Vollgraf, 2017).
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")

#: KMNIST's ten classes (one hiragana each, Clanuwat et al., 2018), by label index.
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")

# dtype code -> big-endian NumPy dtype of the items on disk
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.name: code for code, dt in _IDX_DTYPES.items()}  # "uint8" -> 0x08, ...


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, un-gzipped when it starts with gzip's magic 0x1f 0x8b."""
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"read_idx: {path} is a damaged or truncated gzip file ({err})") from err


def read_idx(path) -> np.ndarray:
    """Read one IDX file (raw or gzipped) into a NumPy array of its own shape and dtype.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        An array of shape ``dims`` (e.g. ``(60000, 28, 28)``) in native byte order, dtype from the
        header's code (uint8, int8, int16, int32, float32 or float64).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the first two bytes are not zero (not an IDX file), the dtype code is unknown,
            or the file holds fewer (or more) bytes than its header promises.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"read_idx: {path} is truncated: {len(raw)} bytes, shorter than the "
                         "4-byte IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"read_idx: {path} is not an IDX file: its first two bytes must be "
                         f"0x0000, got 0x{raw[0]:02x}{raw[1]:02x}")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"read_idx: {path} has unknown dtype code 0x{code:02X} "
                         f"(expected one of {known})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated inside its header ({len(raw)} bytes, "
                         f"the header of a {ndim}-d array needs {header})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise ValueError(f"read_idx: {path} is {what}: dims {dims} of {dtype.name} need "
                         f"{expected} data bytes, found {found}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file; gzipped when ``path`` ends in ``.gz``.

    The inverse of :func:`read_idx`, for exporting arrays and for tests. The dtype must be one IDX
    knows: uint8, int8, int16, int32, float32 or float64.
    """
    array = np.ascontiguousarray(array)
    if array.dtype.name not in _IDX_CODES:
        raise TypeError(f"write_idx: IDX cannot hold dtype {array.dtype}; use uint8, int8, int16, "
                        "int32, float32 or float64")
    code = _IDX_CODES[array.dtype.name]
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    body = header + array.astype(_IDX_DTYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)


def _find(data_dir: Path, names) -> Path | None:
    """The first of ``names`` (each tried raw and gzipped) that exists in ``data_dir``."""
    for name in names:
        for candidate in (data_dir / name, data_dir / (name + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def _check_split(op: str, split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"{op}: split must be 'train' or 'test', got {split!r}")
    return "train" if split == "train" else "t10k"


def _load_pair(op: str, data_dir, image_names, label_names, hint: str):
    """Read an (images, labels) pair of IDX files, labels as int64, checking they match."""
    data_dir = Path(os.path.expanduser(str(data_dir)))
    images_path, labels_path = _find(data_dir, image_names), _find(data_dir, label_names)
    if images_path is None or labels_path is None:
        missing = image_names[0] if images_path is None else label_names[0]
        raise FileNotFoundError(f"{op}: {missing}[.gz] not found in {data_dir}. {hint}")
    images, labels = read_idx(images_path), read_idx(labels_path).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{op}: {images_path.name} holds {images.shape} and {labels_path.name} "
                         f"holds {labels.shape}; expected (N, H, W) images and N labels")
    return images, labels


def _mnist_names(split: str):
    """The usual file names of one split (dash and dot variants, e.g. train-images.idx3-ubyte)."""
    return ([f"{split}-images-idx3-ubyte", f"{split}-images.idx3-ubyte"],
            [f"{split}-labels-idx1-ubyte", f"{split}-labels.idx1-ubyte"])


def load_mnist(data_dir, split: str = "train"):
    """Load an MNIST-format split (MNIST, Fashion-MNIST, KMNIST: they share the file names).

    Args:
        data_dir: folder holding ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
            ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``.
        split: ``"train"`` (60000 images) or ``"test"`` (10000).

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28)`` and int64 ``(N,)``.
    """
    images, labels = _mnist_names(_check_split("load_mnist", split))
    return _load_pair("load_mnist", data_dir, images, labels,
                      "Pass the folder that holds the MNIST IDX files as data_dir.")


def load_fashion_mnist(data_dir=None, split: str = "train"):
    """Load Fashion-MNIST (Xiao et al., 2017): 28x28 grey images of ten kinds of clothing.

    Args:
        data_dir: folder with the four IDX files; by default :data:`FASHION_MNIST_DIR`, where
            ``sudo apt-get install dataset-fashion-mnist`` puts them.
        split: ``"train"`` (60000 images, 6000 a class) or ``"test"`` (10000, 1000 a class).

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28)`` and int64 ``(N,)`` indexing
        :data:`FASHION_MNIST_CLASSES`.
    """
    images, labels = _mnist_names(_check_split("load_fashion_mnist", split))
    hint = ("Install the Debian package with `sudo apt-get install dataset-fashion-mnist` "
            f"(it fills {FASHION_MNIST_DIR}) or pass data_dir=<folder with the IDX files>.")
    return _load_pair("load_fashion_mnist", FASHION_MNIST_DIR if data_dir is None else data_dir,
                      images, labels, hint)


def load_kmnist(data_dir, split: str = "train"):
    """Load Kuzushiji-MNIST: same file names and shapes as MNIST, classes :data:`KMNIST_CLASSES`."""
    images, labels = _mnist_names(_check_split("load_kmnist", split))
    return _load_pair("load_kmnist", data_dir, images, labels,
                      "Pass the folder that holds the KMNIST IDX files as data_dir.")


def load_emnist(data_dir, split: str = "train", subset: str = "balanced"):
    """Load one EMNIST subset (Cohen et al., 2017) from the IDX files of its ``gzip`` release.

    Args:
        data_dir: folder holding e.g. ``emnist-balanced-train-images-idx3-ubyte[.gz]``.
        split: ``"train"`` or ``"test"``.
        subset: ``"byclass"``, ``"bymerge"``, ``"balanced"``, ``"letters"``, ``"digits"`` or
            ``"mnist"``.

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28)``, transposed back to upright (EMNIST stores
        each image transposed), and the int64 labels as stored (``letters`` counts from 1).
    """
    subsets = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
    if subset not in subsets:
        raise ValueError(f"load_emnist: subset must be one of {subsets}, got {subset!r}")
    _check_split("load_emnist", split)
    stem = f"emnist-{subset}-{split}"
    images, labels = _load_pair("load_emnist", data_dir, [f"{stem}-images-idx3-ubyte"],
                                [f"{stem}-labels-idx1-ubyte"],
                                "Pass the folder that holds the EMNIST IDX files as data_dir.")
    return np.ascontiguousarray(images.transpose(0, 2, 1)), labels
