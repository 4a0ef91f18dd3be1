"""The DataLoader: batches of a dataset as Tensors, shuffled reproducibly, optionally prefetched.

Randomness. The loader owns one ``numpy.random.Generator`` seeded by ``seed`` (or by a number
drawn from Striate's generator, so ``striate.manual_seed`` fixes it). At the start of every epoch
it draws, from that generator and nothing else, the epoch's permutation and an epoch seed; batch
``b`` of the epoch then gets its own generator ``default_rng([epoch_seed, b])``, which the
dataset's and the loader's transforms draw their augmentation parameters from. So

* every epoch is shuffled differently, and two loaders with one seed give identical batches;
* a batch's content depends only on (seed, epoch, batch index), not on timing: prefetching in a
  background thread changes nothing;
* :meth:`DataLoader.state_dict` (the epoch, the batches already handed out, and the generator's
  state at the epoch's start) lets a later run resume exactly, even in the middle of an epoch.

Prefetching. With ``prefetch=N > 0`` a background thread prepares up to N batches ahead into a
queue while the model trains on the current one (NumPy releases the GIL in its copies, so slicing,
augmentation and the training step overlap). Leaving the loop early (``break``, an exception)
stops the thread and waits for it before the loop statement finishes.
"""
from __future__ import annotations

import copy
import math
import queue
import threading

import numpy as np

from ..autograd import Tensor
from ..backend import get_default_dtype, get_generator
from .datasets import ArrayDataset

__all__ = ["DataLoader"]


def _to_tensors(images, labels):
    """Images -> float Tensor (uint8 scaled to [0, 1]), integer labels -> int64 Tensor."""
    images = np.asarray(images) if not hasattr(images, "dtype") else images
    dtype = get_default_dtype()
    if images.dtype == np.uint8:
        images = images.astype(dtype) / dtype.type(255)
    else:
        images = images.astype(dtype, copy=False)
    labels = np.asarray(labels) if not hasattr(labels, "dtype") else labels
    labels = labels.astype(np.int64 if labels.dtype.kind in "iub" else dtype, copy=False)
    return Tensor(images), Tensor(labels)


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; True when it went in."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


class DataLoader:
    """Iterate over a dataset in batches of ``(x, y)`` Tensors.

    Args:
        dataset: a :class:`~striate.data.Dataset`, or an ``(images, labels)`` pair of arrays (made
            into an :class:`~striate.data.ArrayDataset`).
        batch_size: samples per batch.
        shuffle: visit the samples in a new random order every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: seed of the loader's generator; ``None`` draws one from Striate's generator.
        prefetch: number of batches a background thread prepares ahead; 0 for none.
        transform: ``transform(images, rng) -> images`` applied to each batch after the dataset's
            own transform (e.g. augmentation), with the batch's generator.
        collate: ``collate(list of (image, label)) -> (images, labels)``; when given, batches are
            built item by item through ``dataset[i]``. By default the loader asks the dataset for
            the whole batch (``dataset.get_batch``), one array slice for an ArrayDataset.

    Yields:
        ``(x, y)``: ``x`` a float Tensor ``(B, C, H, W)`` of the default dtype (uint8 images are
        divided by 255), ``y`` an int64 Tensor ``(B,)``.

    Example::

        loader = DataLoader(ArrayDataset(x, y), batch_size=128, shuffle=True, seed=0,
                            transform=Compose([RandomCrop(28, padding=2), RandomErasing()]))
        for epoch in range(10):
            for x, y in loader:
                ...
        state = loader.state_dict()       # later: loader.load_state_dict(state)
    """

    def __init__(self, dataset, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False, seed=None, prefetch: int = 0, transform=None,
                 collate=None):
        if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
            dataset = ArrayDataset(*dataset)
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must be a Dataset or an (images, labels) pair, "
                            f"got {type(dataset).__name__}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be an int >= 0, got {prefetch!r}")
        if collate is None and not hasattr(dataset, "get_batch"):
            raise TypeError("DataLoader: the dataset has no get_batch(indices, rng); "
                            "pass collate=striate.data.default_collate")
        self.dataset, self.batch_size, self.shuffle = dataset, int(batch_size), bool(shuffle)
        self.drop_last, self.prefetch = bool(drop_last), int(prefetch)
        self.transform, self.collate = transform, collate
        self.seed = int(get_generator().integers(2**63 - 1)) if seed is None else int(seed)
        self._rng = np.random.default_rng(self.seed)
        self.epoch = 0  # epochs started
        self._start_state = None  # generator state before the epoch in progress drew from it
        self._done = 0  # batches handed out in the epoch in progress
        self._skip = 0  # batches the next epoch skips (set by load_state_dict)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """What exact resumption needs (JSON-serialisable).

        ``{"seed", "epoch": epochs finished, "batch": batches of the next epoch already seen,
        "generator": the loader generator's state before that epoch drew}``.
        """
        in_epoch = self._start_state is not None and self._done < len(self)
        if in_epoch:
            return {"seed": self.seed, "epoch": self.epoch - 1, "batch": self._done,
                    "generator": copy.deepcopy(self._start_state)}
        return {"seed": self.seed, "epoch": self.epoch, "batch": 0,
                "generator": copy.deepcopy(self._rng.bit_generator.state)}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`: the next iteration continues where that one stood."""
        self.seed = int(state["seed"])
        self._rng = np.random.default_rng(self.seed)
        self._rng.bit_generator.state = copy.deepcopy(state["generator"])
        self.epoch, self._skip = int(state["epoch"]), int(state["batch"])
        self._start_state, self._done = None, 0

    # ---- iteration -------------------------------------------------------------------------
    def _make_batch(self, order, epoch_seed: int, b: int):
        """Batch ``b`` of the epoch as arrays: read it, then transform it with its generator."""
        indices = order[b * self.batch_size:(b + 1) * self.batch_size]
        rng = np.random.default_rng([epoch_seed, b])
        if self.collate is None:
            images, labels = self.dataset.get_batch(indices, rng)
        else:
            images, labels = self.collate([self.dataset[int(i)] for i in indices])
        if self.transform is not None:
            images = self.transform(images, rng)
        return images, labels

    def _prefetched(self, make, batches):
        """Yield ``make(b)`` for ``b`` in ``batches``, computed ahead by a background thread."""
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce():
            try:
                for b in batches:
                    if not _put(q, ("batch", make(b)), stop):
                        return
                _put(q, ("end", None), stop)
            except BaseException as err:  # hand any failure to the consumer, which re-raises it
                _put(q, ("error", err), stop)

        thread = threading.Thread(target=produce, name="striate-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                kind, value = q.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()
            thread.join()

    def __iter__(self):
        start_state = copy.deepcopy(self._rng.bit_generator.state)
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        epoch_seed = int(self._rng.integers(2**63 - 1))
        skip, self._skip = self._skip, 0
        self.epoch += 1
        self._start_state, self._done = start_state, skip
        batches = range(skip, len(self))

        def make(b):
            return self._make_batch(order, epoch_seed, b)

        source = (self._prefetched(make, batches) if self.prefetch
                  else (make(b) for b in batches))
        try:
            for images, labels in source:
                self._done += 1
                yield _to_tensors(images, labels)
        finally:
            source.close()
        self._start_state = None
