"""Callbacks: code that runs at fixed points of :func:`striate.train.fit` (checklist F7, F8).

A callback overrides any of Keras' hooks; each gets a ``logs`` dict::

    on_train_begin(logs)               logs: {}
    on_epoch_begin(epoch, logs)        epoch counts from 0
    on_train_batch_begin(batch, logs)  logs: {"batch", "size"}
    on_train_batch_end(batch, logs)    + running means over the epoch so far: "loss", metrics
    on_epoch_end(epoch, logs)          {"loss", metrics, "val_loss", "val_<metric>", "lr", "time"}
    on_train_end(logs)                 the last epoch's logs

During :func:`fit` every callback has ``self.trainer`` (the run: ``trainer.model``,
``trainer.optimizer``, ``trainer.params`` — the hyper-parameters) and ``self.model``. Training
stops, as in Keras, when a callback sets ``self.model.stop_training = True`` (the loop checks after
every batch and every epoch). A callback whose state matters for an exact resume returns it from
``state_dict()`` and takes it back in ``load_state_dict``; checkpoints save it.

Example::

    fit(model, (x, y), epochs=50, validation_split=0.2,
        callbacks=[EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
                   ReduceLROnPlateau(factor=0.5, patience=2),
                   CSVLogger("log.csv")])
"""
from __future__ import annotations

import copy
import csv
import math
import os
import warnings

import numpy as np

__all__ = ["Callback", "CallbackList", "EarlyStopping", "ReduceLROnPlateau",
           "LearningRateScheduler", "ModelCheckpoint", "CSVLogger", "TerminateOnNaN",
           "LambdaCallback"]


class Callback:
    """Base class: every hook does nothing. See the module docstring for the hooks."""

    def __init__(self):
        self.trainer = None
        self.model = None

    def set_trainer(self, trainer) -> None:
        """Called by :func:`fit` before training: gives the run and its model."""
        self.trainer = trainer
        self.model = trainer.model

    @property
    def params(self) -> dict:
        """The run's hyper-parameters (epochs, steps, batch size, optimiser settings, ...)."""
        return self.trainer.params if self.trainer is not None else {}

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass

    def state_dict(self) -> dict:
        """What an exact resume needs of this callback (JSON values and arrays); ``{}``: none."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Take back a :meth:`state_dict`."""
        self.__dict__.update(copy.deepcopy(state))


class CallbackList:
    """Calls a hook on every callback, in order."""

    def __init__(self, callbacks=()):
        self.callbacks = list(callbacks)

    def set_trainer(self, trainer) -> None:
        for cb in self.callbacks:
            cb.set_trainer(trainer)

    def on_train_begin(self, logs):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs):
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs):
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)


# ---- monitoring a logged quantity ---------------------------------------------------------
_HIGHER_IS_BETTER = ("acc", "accuracy", "auc", "precision", "recall", "dice", "iou", "f1")


def _resolve_mode(owner: str, monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` decides by the name as Keras does (losses go down,
    accuracies up) and asks for a mode when the name says neither."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    name = monitor.removeprefix("val_")
    if name.endswith("loss") or name.endswith("error"):
        return "min"
    if any(word in name for word in _HIGHER_IS_BETTER):
        return "max"
    raise ValueError(f"{owner}: cannot tell whether {monitor!r} should go up or down; "
                     "pass mode='min' or mode='max'")


def _monitored(owner: str, monitor: str, logs) -> float | None:
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(f"{owner} monitors {monitor!r}, which is not in the logs; available: "
                      f"{', '.join(logs or {})}", stacklevel=3)
        return None
    return float(value)


def _group_lrs(trainer) -> list[float]:
    return [float(group["lr"]) for group in trainer.optimizer.param_groups]


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras semantics).

    After each epoch (from ``start_from_epoch`` on) the quantity *improves* when it beats the
    best so far by more than ``min_delta`` (``current - min_delta < best`` in "min" mode,
    ``current + ... > best`` in "max"). Training stops once ``patience`` epochs in a row have not
    improved (with ``patience=0``, the first epoch that does not improve, never the first epoch).

    Args:
        monitor: the logged quantity, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: the least change that counts as an improvement (its sign is ignored).
        patience: epochs without improvement tolerated before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (by the name: losses down, accuracies up).
        restore_best_weights: at the end of training, put back the weights of the best epoch
            (or, if none improved, of the first epoch monitored).
        baseline: a value to beat: while the best does not beat it, the epochs keep counting
            towards ``patience`` even when they improve on each other.
        start_from_epoch: epochs of warm-up that are not monitored.
        verbose: 1 prints when training stops and when weights are restored.

    Attributes:
        stopped_epoch: the epoch (from 0) at which training was stopped, 0 if it wasn't.
        best, best_epoch, wait: the best value, its epoch, epochs since the last improvement.

    Example::

        EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False, baseline=None,
                 start_from_epoch: int = 0, verbose: int = 0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.mode = _resolve_mode("EarlyStopping", monitor, mode)
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights, self.baseline = restore_best_weights, baseline
        self.start_from_epoch = int(start_from_epoch)
        self.on_train_begin()

    def _is_improvement(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored("EarlyStopping", self.monitor, logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.state_dict(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights}


class ReduceLROnPlateau(Callback):
    """Reduce the learning rate when a monitored quantity has stopped improving (Keras
    semantics; for the ``torch.optim`` schedule see :mod:`striate.optim.lr_scheduler`).

    After each epoch: an improvement (``current < best - min_delta`` in "min" mode,
    ``current > best + min_delta`` in "max") resets the count; otherwise, outside the cooldown,
    the count grows, and when it reaches ``patience`` every parameter group's rate above
    ``min_lr`` becomes ``max(lr * factor, min_lr)``, the count restarts and ``cooldown`` epochs
    follow in which nothing is counted.

    Args:
        monitor: the logged quantity.
        factor: the multiplier, ``< 1``.
        patience: epochs without improvement before a reduction.
        min_delta: the least change that counts as an improvement.
        cooldown: epochs after a reduction during which no count is kept.
        min_lr: the lowest rate.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        verbose: 1 prints each reduction.

    Example::

        ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-4)
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 mode: str = "auto", verbose: int = 0):
        super().__init__()
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.min_delta, self.cooldown, self.min_lr = float(min_delta), int(cooldown), min_lr
        self.mode = _resolve_mode("ReduceLROnPlateau", monitor, mode)
        self.verbose = verbose
        self.on_train_begin()

    def _improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.cooldown_counter = 0, 0

    def on_epoch_end(self, epoch, logs=None):
        current = _monitored("ReduceLROnPlateau", self.monitor, logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch: int) -> None:
        reduced = False
        for group in self.trainer.optimizer.param_groups:
            old = float(group["lr"])
            if old > np.float32(self.min_lr):
                group["lr"] = max(old * self.factor, self.min_lr)
                reduced = True
        if reduced:
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                      f"{_group_lrs(self.trainer)}.")
            self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch from a function of the epoch.

    Args:
        schedule: ``schedule(epoch, lr) -> new lr``, with ``epoch`` counted from 0 and ``lr``
            the current rate; applied to every parameter group's rate.
        verbose: 1 prints the rate each epoch.

    Example::

        def step_decay(epoch, lr):
            return lr * 0.5 if epoch > 0 and epoch % 10 == 0 else lr
        LearningRateScheduler(step_decay)
    """

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, "
                            f"got {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        for group in self.trainer.optimizer.param_groups:
            lr = self.schedule(epoch, float(group["lr"]))
            if not isinstance(lr, (int, float, np.integer, np.floating)) or not math.isfinite(lr):
                raise ValueError(f"LearningRateScheduler: schedule({epoch}, lr) must return a "
                                 f"finite number, got {lr!r}")
            group["lr"] = float(lr)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{_group_lrs(self.trainer)}.")


class ModelCheckpoint(Callback):
    """Save a checkpoint (see :mod:`striate.train.checkpoint`) after every epoch, or only when
    the monitored quantity improves.

    Args:
        filepath: where to save; may hold ``{epoch}`` (from 1, as Keras) and any logged key
            with a format, e.g. ``"ckpt/e{epoch:02d}-{val_loss:.3f}.safetensors"``.
        monitor: the quantity ``save_best_only`` compares.
        save_best_only: save only when ``monitor`` improves on the best so far (strictly).
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        save_weights_only: save the model's weights and metadata only, not the optimiser,
            schedule, loader and callback states a resume needs.
        model_name, model_args: recorded in the checkpoint to rebuild the model by (see
            :func:`~striate.train.save_checkpoint`).
        verbose: 1 prints each save.

    A full checkpoint records the callbacks' states as they are when it is written; put the
    ModelCheckpoint last in the list (as ``fit(checkpoint=...)`` does) for an exact resume.

    Attributes:
        best: the best monitored value so far; last_path: the file written last.
    """

    def __init__(self, filepath, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", save_weights_only: bool = False, model_name=None,
                 model_args=None, verbose: int = 0):
        super().__init__()
        self.filepath, self.monitor = os.fspath(filepath), monitor
        self.model_name, self.model_args = model_name, model_args
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _resolve_mode("ModelCheckpoint", monitor, mode) if save_best_only else mode
        self.verbose, self.last_path = verbose, None
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best = None
        if self.save_best_only:
            self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            current = _monitored("ModelCheckpoint", self.monitor, logs)
            if current is None:
                return
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return
            self.best = current
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.trainer.save_checkpoint(path, epochs_done=epoch + 1,
                                     weights_only=self.save_weights_only,
                                     model_name=self.model_name, model_args=self.model_args)
        self.last_path = path
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: saved checkpoint {path}")

    def state_dict(self) -> dict:
        return {"best": self.best} if self.save_best_only else {}


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (Keras' format: an ``epoch`` column from
    0, then the log keys in alphabetical order; "NA" for a key an epoch lacks).

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file (writing the header only if the file is empty) instead
            of starting a new one. Use it when resuming a run.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        self.keys = None
        if not self.append:
            open(self.filename, "w").close()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if f.tell() == 0:
                writer.writerow(["epoch"] + self.keys)
            writer.writerow([epoch] + [logs.get(k, "NA") for k in self.keys])


class TerminateOnNaN(Callback):
    """Stop training (keeping the history) as soon as a batch's loss is NaN or infinite.

    Without it, :func:`fit` raises ``FloatingPointError`` on a non-finite loss.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions, e.g.
    ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))``."""

    def __init__(self, on_train_begin=None, on_train_end=None, on_epoch_begin=None,
                 on_epoch_end=None, on_train_batch_begin=None, on_train_batch_end=None):
        super().__init__()
        self._hooks = {"on_train_begin": on_train_begin, "on_train_end": on_train_end,
                       "on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                       "on_train_batch_begin": on_train_batch_begin,
                       "on_train_batch_end": on_train_batch_end}

    def _call(self, hook: str, *args):
        fn = self._hooks[hook]
        if fn is not None:
            fn(*args)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs)
