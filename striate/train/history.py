"""History: what :func:`striate.train.fit` returns, the per-epoch record of a run (F9).

``history.history`` maps every logged key to a list with one value per epoch::

    h = fit(model, (x, y), epochs=3, validation_split=0.2)
    h.history["loss"]          # [0.91, 0.52, 0.40]
    h.history["val_accuracy"]  # [0.71, 0.80, 0.84]
    h.history["lr"]            # the learning rate (parameter group 0) each epoch trained at
    h.history["time"]          # seconds each epoch took, validation included
    h.epoch                    # [0, 1, 2]
    h.params                   # the hyper-parameters: epochs, batch_size, optimizer, lr, ...
"""
from __future__ import annotations

import copy

from .callbacks import Callback

__all__ = ["History"]


class History(Callback):
    """Records each epoch's logs (Keras' ``History``); :func:`fit` adds one first in the list.

    Attributes:
        history: ``{key: [value per epoch]}``.
        epoch: the epochs recorded (counted from 0).
        params: the run's hyper-parameters, as :attr:`Callback.params`.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self._params: dict = {}

    @property
    def params(self) -> dict:
        return self.trainer.params if self.trainer is not None else self._params

    def on_train_begin(self, logs=None):
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def state_dict(self) -> dict:
        return {"history": copy.deepcopy(self.history), "epoch": list(self.epoch),
                "params": copy.deepcopy(self.params)}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]
        self._params = dict(state.get("params") or {})

    def __repr__(self):
        keys = ", ".join(self.history)
        return f"History({len(self.epoch)} epochs: {keys})"
