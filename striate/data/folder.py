"""Image folders: one sub-folder per class (ImageNet-style trees, traffic signs, your own photos).

::

    root/
      cat/  0001.jpg  0002.png ...
      dog/  a.jpg  more/b.jpg ...       (sub-folders inside a class are searched too)

Class names are the sub-folder names, sorted, and a class's index is its place in that order (as
torchvision's ``ImageFolder``). Images are read with Pillow (PNG, JPEG, BMP, PPM/PGM, TIFF, WebP,
GIF), converted to RGB (or grey), optionally resized, and returned as ``(C, H, W)`` uint8 arrays.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..backend import get_generator
from .datasets import Dataset

__all__ = ["ImageFolder", "IMAGE_EXTENSIONS", "read_image"]

#: File suffixes ImageFolder picks up (compared lower-case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff",
                    ".webp", ".gif")


def _pillow():
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("striate.data: reading image files needs Pillow; "
                          "install it with `pip install pillow`") from err
    return Image


def read_image(path, grayscale: bool = False, size=None) -> np.ndarray:
    """Read one image file as a ``(C, H, W)`` uint8 array (C = 3 for RGB, 1 for grey).

    Args:
        path: the file.
        grayscale: convert to one grey channel instead of RGB.
        size: ``(H, W)`` (or one int) to resize to, bilinearly; ``None`` keeps the file's size.

    Raises:
        OSError: the file cannot be read as an image; the message names the file.
    """
    image_module = _pillow()
    try:
        with image_module.open(path) as image:
            image = image.convert("L" if grayscale else "RGB")
            if size is not None:
                height, width = (size, size) if np.isscalar(size) else size
                image = image.resize((int(width), int(height)), image_module.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as err:  # Pillow's ways of saying "not an image"
        raise OSError(f"cannot read image {path}: {err}") from err
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)


class ImageFolder(Dataset):
    """A dataset of image files sorted into one sub-folder per class.

    Args:
        root: the folder whose sub-folders are the classes.
        transform: optional ``transform(batch, rng) -> batch`` (e.g. ``Compose([ToFloat(), ...])``)
            applied to every batch the loader reads, and to single images from ``ds[i]``.
        grayscale: read one grey channel instead of RGB.
        size: ``(H, W)`` or one int: resize every image on reading. Needed to batch images of
            different sizes.

    Attributes:
        classes: sorted class names; ``class_to_idx`` maps a name to its label.
        samples: ``(path, label)`` pairs in order (classes in order, files sorted within a class).
        targets: the labels as an int64 array.

    ``ds[i]`` is ``(image (C, H, W) uint8, label)``. The loader reads a batch file by file (one
    Pillow call per image: a Python loop that cannot be avoided), then transforms it as a whole.
    """

    def __init__(self, root, transform=None, grayscale: bool = False, size=None):
        self.root = Path(os.path.expanduser(str(root)))
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: no such folder: {self.root}")
        self.classes = sorted(d.name for d in self.root.iterdir()
                              if d.is_dir() and not d.name.startswith("."))
        if not self.classes:
            raise FileNotFoundError(f"ImageFolder: {self.root} has no class sub-folders")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = []
        for name in self.classes:
            files = sorted(p for p in (self.root / name).rglob("*")
                           if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
            if not files:
                raise FileNotFoundError(f"ImageFolder: class folder {self.root / name} holds no "
                                        f"images (looked for {', '.join(IMAGE_EXTENSIONS)})")
            self.samples += [(str(p), self.class_to_idx[name]) for p in files]
        self.targets = np.array([label for _, label in self.samples], dtype=np.int64)
        self.transform, self.grayscale, self.size = transform, grayscale, size

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> np.ndarray:
        """The raw ``(C, H, W)`` uint8 image of sample ``index`` (no transform)."""
        return read_image(self.samples[index][0], self.grayscale, self.size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"ImageFolder: index {index} is out of range for {len(self)} images")
        image = self.load(index)
        if self.transform is not None:
            image = self.transform(image, get_generator())
        return image, self.targets[index]

    def _stack(self, indices):
        images = [self.load(int(i)) for i in indices]  # one file read per image
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            raise ValueError(f"ImageFolder: images of different shapes {sorted(shapes)} cannot "
                             "form a batch; pass size=(H, W) to resize them on reading")
        return np.stack(images) if images else np.zeros((0, 0, 0, 0), np.uint8)

    def get_batch(self, indices, rng=None):
        """Read the files of ``indices``, stack them, then transform the batch at once."""
        indices = np.asarray(indices, dtype=np.int64)
        images = self._stack(indices)
        if self.transform is not None:
            images = self.transform(images, rng if rng is not None else get_generator())
        return images, self.targets[indices]

    def load_all(self):
        """Every image and label in memory, untransformed: ``(images (N, C, H, W) uint8, labels)``.

        Small folders (e.g. GTSRB at 32x32) train much faster as an ``ArrayDataset`` of these.
        """
        return self._stack(np.arange(len(self))), self.targets.copy()
