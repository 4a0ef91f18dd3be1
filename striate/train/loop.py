"""fit, evaluate, predict: Keras-style training of a Striate model (checklist F4, F8, F9).

One epoch of mini-batch gradient descent visits the training set once in a new random order; for
each batch: clear the gradients, run the model, compute the loss (plus an optional regulariser),
backpropagate, and let the optimiser update the weights. After the epoch the model is scored on
the validation data (in eval mode, without recording a graph), the learning-rate schedule steps,
and the callbacks see the epoch's logs::

    from striate import optim, train
    model = ...                                             # any striate.nn.Module
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train.fit(model, (x, y), epochs=20, optimizer=opt, batch_size=64,
                        validation_split=0.1, metrics=["accuracy"],
                        callbacks=[train.EarlyStopping(patience=3)],
                        checkpoint="run/last.safetensors")
    history.history["val_accuracy"]
    # later, after a crash: the same call with resume="run/last.safetensors" finishes the run
    # with exactly the weights the uninterrupted run would have had.

Exact resumption works because everything random is restored: the weights, the optimiser's
buffers, the schedule, the data loader's shuffling generator, Striate's generator (dropout,
augmentation through it) and the callbacks' state.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections import defaultdict

import numpy as np

from .. import functional as F
from .. import optim
from ..autograd import Tensor, no_grad
from ..backend import to_numpy
from ..nn.regularizers import has_regularizers, regularization_loss as _layer_penalties
from ..data import ArrayDataset, DataLoader, Dataset, validation_split as split_last
from .callbacks import Callback, CallbackList, ModelCheckpoint
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History
from .metrics import get_metric
from .progress import ProgressBar
from .segmentation import dice_bce_loss

__all__ = ["fit", "evaluate", "predict", "Trainer"]

_LOSSES = {name: getattr(F, name) for name in (
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits")}
_LOSSES["dice_bce"] = dice_bce_loss  # segmentation logits vs masks
_OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW,
               "rmsprop": optim.RMSprop}


# ---- arguments ---------------------------------------------------------------------------------
def _get_loss(op: str, loss):
    """``(name, fn(output, target) -> scalar Tensor)`` from a name or a callable."""
    if callable(loss):
        return getattr(loss, "__name__", type(loss).__name__), loss
    if loss not in _LOSSES:
        raise ValueError(f"{op}: unknown loss {loss!r}; use one of {sorted(_LOSSES)} or a "
                         "callable loss(output, target) -> Tensor")
    return loss, _LOSSES[loss]


def _get_optimizer(optimizer, model):
    if isinstance(optimizer, optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()](list(model.parameters()))
    raise ValueError(f"fit: optimizer must be an Optimizer or one of {sorted(_OPTIMIZERS)} "
                     f"(with its default settings), got {optimizer!r}")


def _check_aux_weight(op: str, aux_loss_weight):
    if aux_loss_weight is not None and (isinstance(aux_loss_weight, bool) or not isinstance(
            aux_loss_weight, (int, float)) or not aux_loss_weight >= 0):
        raise ValueError(f"{op}: aux_loss_weight must be a number >= 0 or None, "
                         f"got {aux_loss_weight!r}")


def _main_output(out):
    """The output that metrics and predictions use: the first item when the model returns a tuple
    (its main head before the auxiliary ones, as GoogLeNet in training mode)."""
    return out[0] if isinstance(out, tuple) else out


def _total_loss(loss_fn, out, y, aux_loss_weight):
    """``loss_fn(out, y)``; for a tuple ``(main, aux_1, ..., aux_k)`` from a model with auxiliary
    classifiers, ``loss_fn(main, y) + aux_loss_weight * sum_i loss_fn(aux_i, y)`` (Szegedy et al.
    2015 weigh GoogLeNet's two by 0.3). ``aux_loss_weight=None`` hands the tuple to ``loss_fn``."""
    if not isinstance(out, tuple) or aux_loss_weight is None:
        return loss_fn(out, y)
    main, *aux = out
    loss = loss_fn(main, y)
    for head in aux:
        if head is not None:
            loss = loss + aux_loss_weight * loss_fn(head, y)
    return loss


def _host(a):
    return a.numpy() if isinstance(a, Tensor) else a


def _as_loader(op: str, data, batch_size: int, shuffle: bool, seed):
    """A loader of ``(x, y)`` batches from arrays, a Dataset or a loader (used as is)."""
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"{op}: data must be an (x, y) pair of arrays, got a "
                             f"{type(data).__name__} of {len(data)} items")
        data = ArrayDataset(_host(data[0]), _host(data[1]))
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if hasattr(data, "__iter__") and not isinstance(data, (np.ndarray, Tensor, str)):
        return data
    raise TypeError(f"{op}: data must be an (x, y) pair of arrays, a Dataset or a DataLoader, "
                    f"got {type(data).__name__}")


def _train_val_loaders(data, validation_split: float, validation_data, batch_size, shuffle,
                       seed):
    if validation_split and validation_data is not None:
        raise ValueError("fit: pass validation_split or validation_data, not both")
    if validation_split:
        if isinstance(data, (tuple, list)):
            data = tuple(_host(a) for a in data)
        elif not isinstance(data, Dataset):
            raise ValueError("fit: validation_split holds out the last samples of arrays or a "
                             f"Dataset; with a {type(data).__name__} pass validation_data")
        data, validation_data = split_last(data, validation_split)
    train = _as_loader("fit", data, batch_size, shuffle, seed)
    val = None
    if validation_data is not None:  # seed 0: an unshuffled loader must not draw from Striate's
        val = _as_loader("fit", validation_data, batch_size, False, 0)
    return train, val


def _size(loader, attr: str = "dataset"):
    inner = getattr(loader, attr, None)
    return len(inner) if inner is not None and hasattr(inner, "__len__") else None


@contextlib.contextmanager
def _batches(loader):
    """Iterate over a loader; leaving early closes its iterator (and stops any prefetching)."""
    it = iter(loader)
    try:
        yield it
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


# ---- scoring -----------------------------------------------------------------------------------
def _score(model, loader, loss_fn, metrics, regularization_loss=None,
           aux_loss_weight=None) -> dict:
    """Sample-weighted means of the loss and metrics over ``loader``, in eval mode, no graph."""
    was_training = model.training
    model.eval()
    totals, count = defaultdict(float), 0
    try:
        with no_grad(), _batches(loader) as batches:
            for x, y in batches:
                out = model(x)
                n = len(x)
                count += n
                if loss_fn is not None:
                    totals["loss"] += float(_total_loss(loss_fn, out, y,
                                                        aux_loss_weight).item()) * n
                for name, fn in metrics:
                    totals[name] += float(fn(y.data, _main_output(out).data)) * n
            if loss_fn is not None and regularization_loss is not None:
                totals["loss"] += float(regularization_loss(model).item()) * count
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the data holds no samples")
    return {k: v / count for k, v in totals.items()}


def _regularization(op: str, regularization_loss, model):
    """``"auto"``: the layers' own penalties (Keras' ``model.losses``) when any layer has one."""
    if isinstance(regularization_loss, str):
        if regularization_loss != "auto":
            raise ValueError(f"{op}: regularization_loss must be 'auto', None or a function "
                             f"fn(model) -> Tensor, got {regularization_loss!r}")
        return _layer_penalties if has_regularizers(model) else None
    return regularization_loss


def evaluate(model, data, loss="cross_entropy", metrics=("accuracy",), batch_size: int = 32,
             regularization_loss="auto") -> dict:
    """The mean loss and metrics of ``model`` on ``data``, in eval mode without a graph.

    Args:
        model: a :class:`~striate.nn.Module`.
        data: ``(x, y)`` arrays, a Dataset or a DataLoader.
        loss: a loss name (``"cross_entropy"``, ``"nll_loss"``, ``"mse_loss"``, ...), a callable
            ``loss(output, target) -> Tensor``, or ``None`` for metrics only.
        metrics: names or callables, see :func:`~striate.train.metrics.get_metric`.
        batch_size: samples per batch when ``data`` is arrays or a Dataset.
        regularization_loss: ``fn(model) -> Tensor`` added to the loss, as in :func:`fit`
            (``"auto"``: the layers' L1/L2 penalties, when any layer has one; ``None``: none).

    Returns:
        ``{"loss": ..., "accuracy": ..., ...}``, means over all samples.
    """
    regularization_loss = _regularization("evaluate", regularization_loss, model)
    loss_fn = None if loss is None else _get_loss("evaluate", loss)[1]
    loader = _as_loader("evaluate", data, batch_size, False, 0)
    return _score(model, loader, loss_fn, [get_metric(m) for m in metrics], regularization_loss)


def predict(model, x, batch_size: int = 32, probabilities: bool = False) -> np.ndarray:
    """The model's outputs for every sample of ``x``, in order, in eval mode without a graph.

    Args:
        model: a :class:`~striate.nn.Module`.
        x: an array ``(N, ...)`` (uint8 images are scaled to [0, 1] as in training), a Dataset
            or an unshuffled DataLoader (labels are ignored).
        batch_size: samples per batch for an array or a Dataset.
        probabilities: apply softmax over axis 1 (for a model that outputs logits).

    Returns:
        A NumPy array ``(N, ...)``: logits, or probabilities.
    """
    x = _host(x)
    if isinstance(x, np.ndarray):
        x = ArrayDataset(x, np.zeros(len(x), dtype=np.int64))
    if isinstance(x, Dataset):
        x = DataLoader(x, batch_size=batch_size, shuffle=False, seed=0)
    elif getattr(x, "shuffle", False):
        raise ValueError("predict: the loader shuffles, so the outputs would not line up with "
                         "the samples; pass an unshuffled loader")
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad(), _batches(x) as batches:
            for xb, _ in batches:
                out = _main_output(model(xb))
                if probabilities:
                    out = F.softmax(out, dim=1)
                outputs.append(to_numpy(out.data))
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else np.zeros((0,))


# ---- the loop ----------------------------------------------------------------------------------
class Trainer:
    """One training run: the model, its optimiser, data, loss, metrics and callbacks.

    :func:`fit` builds one; callbacks reach it as ``self.trainer``. Use it directly to keep the
    objects together across several calls.

    Attributes:
        model, optimizer, scheduler, train_loader, val_loader: what the run uses.
        callbacks: the :class:`CallbackList`. history: the :class:`History` among them.
        params: the hyper-parameters (JSON values), logged and saved with checkpoints (F9).
    """

    def __init__(self, model, optimizer, train_loader, loss="cross_entropy",
                 metrics=("accuracy",), val_loader=None, scheduler=None,
                 scheduler_interval: str = "epoch", callbacks=(), regularization_loss=None,
                 augment=None, params: dict | None = None, aux_loss_weight=0.3):
        if scheduler_interval not in ("epoch", "batch"):
            raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch', "
                             f"got {scheduler_interval!r}")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"fit: callbacks must be Callback instances, "
                                f"got {type(cb).__name__}")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.train_loader, self.val_loader = train_loader, val_loader
        self.loss_name, self.loss_fn = _get_loss("fit", loss)
        self.metrics = [get_metric(m) for m in metrics]
        self.scheduler_interval = scheduler_interval
        self.regularization_loss, self.augment = regularization_loss, augment
        _check_aux_weight("fit", aux_loss_weight)
        self.aux_loss_weight = aux_loss_weight
        self.callbacks = CallbackList(callbacks)
        self.history = next((cb for cb in callbacks if isinstance(cb, History)), None)
        self.params = dict(params or {})

    @property
    def stop_training(self) -> bool:
        """The Keras flag ``model.stop_training``: set it to end the run."""
        return bool(getattr(self.model, "stop_training", False))

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self.model.stop_training = bool(value)

    # ---- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, path, epochs_done: int, weights_only: bool = False,
                        model_name=None, model_args=None) -> None:
        """Save the run after ``epochs_done`` epochs (see :func:`save_checkpoint`)."""
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        full = not weights_only
        others = [None if cb is self.history else cb for cb in self.callbacks.callbacks]
        save_checkpoint(path, self.model, self.optimizer if full else None,
                        self.scheduler if full else None, epoch=epochs_done,
                        history=self.history, model_name=model_name, model_args=model_args,
                        loader=self.train_loader if full else None,
                        callbacks=others if full else None)

    def restore(self, path) -> int:
        """Load a checkpoint saved by :meth:`save_checkpoint`; return the epochs it had done."""
        if not hasattr(self.train_loader, "load_state_dict"):
            warnings.warn("fit: the training data has no load_state_dict, so its shuffling "
                          "state is not restored; the resumed run will not match exactly",
                          stacklevel=3)
        loader = self.train_loader if hasattr(self.train_loader, "load_state_dict") else None
        meta = load_checkpoint(path, self.model, self.optimizer, self.scheduler, loader=loader)
        if self.history is not None and meta.get("history"):
            self.history.load_state_dict(meta["history"])
        callbacks = self.callbacks.callbacks
        for saved in meta.get("callbacks") or ():
            i = saved["index"]
            if i < len(callbacks) and type(callbacks[i]).__name__ == saved["class"]:
                callbacks[i].load_state_dict(saved["state"])
            else:
                warnings.warn(f"fit: the checkpoint holds the state of a {saved['class']} "
                              f"callback at position {i}, which this run does not have there; "
                              "its state is not restored", stacklevel=3)
        return int(meta.get("epoch") or 0)

    # ---- training ------------------------------------------------------------------------
    def fit(self, epochs: int, resume=None) -> History | None:
        """Train until ``epochs`` epochs are done in all (counting those of ``resume``)."""
        self.stop_training = False
        self.callbacks.set_trainer(self)
        self.callbacks.on_train_begin({})
        start = 0 if resume is None else self.restore(resume)
        was_training = self.model.training
        logs: dict = {}
        try:
            for epoch in range(start, epochs):
                logs = self._epoch(epoch)
                if self.stop_training:
                    break
        finally:
            self.model.train(was_training)
        self.callbacks.on_train_end(logs)
        return self.history

    def _epoch(self, epoch: int) -> dict:
        logs: dict = {}
        self.callbacks.on_epoch_begin(epoch, logs)
        lr = float(self.optimizer.param_groups[0]["lr"])
        start = time.perf_counter()
        logs.update(self._train_batches(epoch))
        if self.val_loader is not None:
            scores = _score(self.model, self.val_loader, self.loss_fn, self.metrics,
                            self.regularization_loss, self.aux_loss_weight)
            logs.update({f"val_{k}": v for k, v in scores.items()})
        logs["lr"] = lr
        logs["time"] = time.perf_counter() - start
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if isinstance(self.scheduler, optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                self.scheduler.step()
        self.callbacks.on_epoch_end(epoch, logs)
        return logs

    def _train_batches(self, epoch: int) -> dict:
        self.model.train()
        totals, count = defaultdict(float), 0
        with _batches(self.train_loader) as batches:
            for batch, (x, y) in enumerate(batches):
                size = len(x)
                self.callbacks.on_train_batch_begin(batch, {"batch": batch, "size": size})
                value, out = self._step(x, y)
                count += size
                totals["loss"] += value * size
                for name, fn in self.metrics:
                    totals[name] += float(fn(y.data, out)) * size
                logs = {"batch": batch, "size": size}
                logs.update({k: v / count for k, v in totals.items()})
                self.callbacks.on_train_batch_end(batch, logs)
                if not math.isfinite(value) and not self.stop_training:
                    raise FloatingPointError(
                        f"fit: the loss is {value} at epoch {epoch + 1}, batch {batch}; training "
                        "stopped (the weights are those before this batch). Lower the learning "
                        "rate or check the data and the loss; pass callbacks=[TerminateOnNaN()] "
                        "to stop without an error and keep the history")
                if self.stop_training:
                    break
        if count == 0:
            raise ValueError("fit: the training data yielded no batches")
        return {k: v / count for k, v in totals.items()}

    def _step(self, x, y):
        """One update from one batch; returns the loss value and the output array."""
        if self.augment is not None:
            x = Tensor(self.augment(x.data))
        self.optimizer.zero_grad()
        out = self.model(x)
        loss = _total_loss(self.loss_fn, out, y, self.aux_loss_weight)
        if self.regularization_loss is not None:
            loss = loss + self.regularization_loss(self.model)
        value = float(loss.item())
        if math.isfinite(value):  # a non-finite loss must not poison the weights
            loss.backward()
            self.optimizer.step()
            if self.scheduler is not None and self.scheduler_interval == "batch":
                self.scheduler.step()
        return value, _main_output(out).data


def _hyperparameters(optimizer, train, val, epochs, loss_name, metric_names, **settings):
    """The run's settings as JSON values (F9): logged by the progress bar, saved in checkpoints."""
    group = optimizer.param_groups[0]
    opt_settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()
                    if k != "params" and isinstance(v, (int, float, bool, str, tuple, type(None)))}
    return {"epochs": epochs, "batch_size": getattr(train, "batch_size", None),
            "steps": len(train) if hasattr(train, "__len__") else None,
            "samples": _size(train), "val_samples": _size(val) if val is not None else None,
            "loss": loss_name, "metrics": metric_names,
            "optimizer": type(optimizer).__name__, **opt_settings, **settings}


def fit(model, data, epochs: int = 1, loss="cross_entropy", optimizer="adam",
        metrics=("accuracy",), batch_size: int = 32, validation_split: float = 0.0,
        validation_data=None, callbacks=(), shuffle: bool = True, seed: int | None = None,
        verbose="auto", resume=None, checkpoint=None, scheduler=None,
        scheduler_interval: str = "epoch", regularization_loss="auto", augment=None,
        aux_loss_weight=0.3) -> History:
    """Train ``model`` by mini-batch gradient descent, Keras-style; return its :class:`History`.

    Args:
        model: a :class:`~striate.nn.Module` mapping a batch ``x`` to outputs (e.g. logits).
        data: ``(x, y)`` arrays (uint8 images are scaled to [0, 1]), a Dataset, or a DataLoader
            (used as is: ``batch_size``, ``shuffle`` and ``seed`` then do not apply).
        epochs: the number of epochs in all; a resumed run continues up to it.
        loss: ``"cross_entropy"`` (logits vs class labels), ``"nll_loss"``, ``"mse_loss"``,
            ``"binary_cross_entropy[_with_logits]"``, ``"dice_bce"`` (segmentation logits vs
            masks, :func:`~striate.train.segmentation.dice_bce_loss`), or
            ``loss(output, target) -> Tensor``.
        optimizer: an Optimizer, or ``"adam"``, ``"sgd"``, ``"adamw"``, ``"rmsprop"`` with the
            class's default settings.
        metrics: names or callables ``fn(y_true, y_pred) -> float`` (see
            :func:`~striate.train.metrics.get_metric`), logged for training and validation.
        batch_size: samples per batch (arrays or a Dataset).
        validation_split: the fraction of ``data`` held out for validation: the LAST samples,
            before any shuffling, as Keras does. Arrays or a Dataset only.
        validation_data: ``(x_val, y_val)``, a Dataset or a DataLoader to validate on.
        callbacks: :class:`Callback` s; a :class:`History` is added first and a
            :class:`ProgressBar` (unless ``verbose=0`` or one is given).
        shuffle: visit the training samples in a new order every epoch.
        seed: seed of the shuffling; ``None`` draws it from Striate's generator (so
            ``striate.manual_seed`` fixes it).
        verbose: 0 silent, 1 a progress bar on a terminal (one line per epoch otherwise),
            2 one line per epoch, ``"auto"`` = 1.
        resume: a checkpoint path to continue from (see :mod:`~striate.train.checkpoint`);
            everything is restored, so the run ends exactly as an uninterrupted one.
        checkpoint: a path (may hold ``{epoch}``) or a :class:`ModelCheckpoint`: a checkpoint is
            saved after every epoch (last of the callbacks, so it is exact for ``resume``).
        scheduler: a learning-rate schedule stepped after every epoch (``ReduceLROnPlateau`` gets
            ``val_loss``, or ``loss`` without validation), or every batch.
        scheduler_interval: ``"epoch"`` or ``"batch"`` (e.g. for ``OneCycleLR``).
        regularization_loss: ``fn(model) -> Tensor`` added to every batch's loss; it is included
            in the logged ``loss`` and ``val_loss``. ``"auto"`` (the default) adds the layers'
            own ``kernel_regularizer`` / ``bias_regularizer`` penalties
            (:func:`~striate.nn.regularization_loss`) when any layer has one, as Keras adds
            ``model.losses``; ``None`` adds nothing.
        augment: ``fn(batch array) -> batch array`` applied to each training batch.
        aux_loss_weight: for a model that returns a tuple ``(main, aux_1, ...)`` in training
            mode (auxiliary classifiers, e.g. GoogLeNet): the loss is ``loss(main) +
            aux_loss_weight * sum(loss(aux_i))`` (the paper's 0.3 by default) and the metrics
            score ``main``. ``None`` passes the tuple to a ``loss`` that handles it itself.
            Models returning a single output are not affected.

    Returns:
        The :class:`History`: ``history.history`` holds a list per key (``loss``, metrics,
        ``val_loss``, ``val_<metric>``, ``lr``, ``time``), ``history.params`` the settings.

    Raises:
        FloatingPointError: the loss became NaN or infinite (unless a callback such as
            :class:`TerminateOnNaN` stopped training); the weights are left as before that batch.
    """
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if verbose not in ("auto", 0, 1, 2):
        raise ValueError(f"fit: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    _check_aux_weight("fit", aux_loss_weight)
    optimizer = _get_optimizer(optimizer, model)
    regularization_loss = _regularization("fit", regularization_loss, model)
    train, val = _train_val_loaders(data, validation_split, validation_data, batch_size,
                                    shuffle, seed)
    history = History()
    callbacks = [history] + list(callbacks)
    if verbose != 0 and not any(isinstance(cb, ProgressBar) for cb in callbacks):
        callbacks.append(ProgressBar(1 if verbose == "auto" else verbose))
    if checkpoint is not None:
        if not isinstance(checkpoint, ModelCheckpoint):
            checkpoint = ModelCheckpoint(checkpoint)
        callbacks.append(checkpoint)
    loss_name = _get_loss("fit", loss)[0]
    params = _hyperparameters(
        optimizer, train, val, int(epochs), loss_name, [get_metric(m)[0] for m in metrics],
        shuffle=shuffle, seed=seed, validation_split=validation_split or None,
        scheduler=type(scheduler).__name__ if scheduler is not None else None,
        regularization=getattr(regularization_loss, "__name__", None),
        augment=getattr(augment, "__name__", None) if augment is not None else None)
    trainer = Trainer(model, optimizer, train, loss=loss, metrics=metrics, val_loader=val,
                      scheduler=scheduler, scheduler_interval=scheduler_interval,
                      callbacks=callbacks, regularization_loss=regularization_loss,
                      augment=augment, params=params, aux_loss_weight=aux_loss_weight)
    return trainer.fit(int(epochs), resume=resume)
