"""Callbacks on scripted metric sequences (Keras semantics), and inside fit."""
import csv

import numpy as np
import pytest

import striate
from striate import optim, train
from test_train import MLP, blobs, sgd


class FakeTrainer:
    """What a callback sees of a run: a model, an optimiser, params; records checkpoints."""

    def __init__(self, groups=1, lr=0.1):
        self.model = MLP()
        params = list(self.model.parameters())
        self.optimizer = optim.SGD([{"params": params[i::groups]} for i in range(groups)], lr=lr)
        self.params = {"epochs": 10}
        self.saved = []

    def save_checkpoint(self, path, epochs_done, weights_only=False, model_name=None,
                        model_args=None):
        self.saved.append((path, epochs_done))


def run(cb, values, monitor="val_loss", trainer=None):
    """Feed ``values`` as the monitored quantity epoch by epoch; return the epoch at which
    training was stopped (None if it wasn't) and the trainer."""
    trainer = trainer or FakeTrainer()
    cb.set_trainer(trainer)
    trainer.model.stop_training = False
    cb.on_train_begin({})
    for epoch, value in enumerate(values):
        cb.on_epoch_begin(epoch, {})
        cb.on_epoch_end(epoch, {monitor: value})
        if trainer.model.stop_training:
            return epoch, trainer
    return None, trainer


# ---- EarlyStopping -----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, values, stopped", [
    (dict(patience=0), [1.0, 0.9, 0.95, 0.8], 2),
    (dict(patience=2), [1.0, 0.9, 0.95, 0.92, 0.91], 3),
    (dict(patience=2), [1.0, 0.9, 0.95, 0.85, 0.91, 0.92], 5),
    (dict(patience=1, min_delta=0.05), [1.0, 0.97, 0.96], 1),
    (dict(patience=1, min_delta=0.05), [1.0, 0.94, 0.88, 0.86], 3),
    (dict(patience=0), [1.0, 1.0], 1),                     # equal is no improvement
    (dict(patience=0), [1.0], None),                       # never on the first epoch
    (dict(patience=2, baseline=0.5), [0.9, 0.8, 0.85], 2),  # improving, but not past baseline
    (dict(patience=2), [0.9, 0.8, 0.85], None),
    (dict(patience=0, start_from_epoch=2), [1.0, 2.0, 3.0, 2.5, 2.6], 4),
])
def test_early_stopping_on_val_loss(kwargs, values, stopped):
    cb = train.EarlyStopping(monitor="val_loss", **kwargs)
    assert run(cb, values)[0] == stopped
    if stopped is not None:
        assert cb.stopped_epoch == stopped


def test_early_stopping_max_mode_from_the_name():
    cb = train.EarlyStopping(monitor="val_accuracy", patience=1)
    assert cb.mode == "max"
    assert run(cb, [0.5, 0.6, 0.55, 0.7], "val_accuracy")[0] == 2
    with pytest.raises(ValueError, match="EarlyStopping: cannot tell whether 'val_dist'"):
        train.EarlyStopping(monitor="val_dist")
    assert train.EarlyStopping(monitor="val_dist", mode="min").mode == "min"


def test_early_stopping_restores_the_best_weights(capsys):
    trainer = FakeTrainer()
    cb = train.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    cb.set_trainer(trainer)
    cb.on_train_begin({})
    values = [1.0, 0.5, 0.7, 0.6]
    for epoch, value in enumerate(values):
        for p in trainer.model.parameters():
            p.data[...] = epoch  # the weights "trained" in this epoch
        cb.on_epoch_end(epoch, {"val_loss": value})
    assert trainer.model.stop_training and cb.best_epoch == 1
    cb.on_train_end({})
    assert all((p.data == 1).all() for p in trainer.model.parameters())
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out and "best epoch: 2" in out


def test_early_stopping_missing_monitor_warns():
    cb = train.EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="monitors 'val_loss', which is not in the logs"):
        assert run(cb, [1.0, 2.0], monitor="loss")[0] is None


def test_early_stopping_in_fit():
    striate.manual_seed(0)
    x, y = blobs(120)
    model = MLP()
    values = iter([1.0, 0.8, 0.9, 0.95, 0.7, 0.6])
    script = train.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_loss=next(values)))
    h = train.fit(model, (x, y), epochs=6, optimizer=sgd(model), verbose=0,
                  callbacks=[script, train.EarlyStopping(patience=2)])
    assert h.epoch == [0, 1, 2, 3]  # 0.9 and 0.95 do not improve on 0.8: stop after epoch 4


# ---- ReduceLROnPlateau -------------------------------------------------------------------
def test_reduce_lr_on_plateau_sequence():
    trainer = FakeTrainer(groups=2, lr=0.1)
    cb = train.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1,
                                 min_lr=0.02)
    cb.set_trainer(trainer)
    cb.on_train_begin({})
    lrs = []
    for epoch in range(7):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
        lrs.append([g["lr"] for g in trainer.optimizer.param_groups])
    expected = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]
    assert lrs == [[v, v] for v in expected]


def test_reduce_lr_on_plateau_improvement_resets_and_min_delta():
    trainer = FakeTrainer(lr=1.0)
    cb = train.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=2, min_delta=0.1)
    cb.set_trainer(trainer)
    cb.on_train_begin({})
    lrs = []
    # 0.95 is within min_delta of 1.0 (no improvement); 0.8 improves; then a plateau
    for epoch, value in enumerate([1.0, 0.95, 0.8, 0.75, 0.79]):
        cb.on_epoch_end(epoch, {"val_loss": value})
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.1])
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor must be < 1"):
        train.ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_in_fit():
    striate.manual_seed(0)
    x, y = blobs(64)
    model = MLP()
    script = train.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_loss=1.0))
    h = train.fit(model, (x, y), epochs=4, optimizer=sgd(model, lr=0.1), verbose=0,
                  callbacks=[script, train.ReduceLROnPlateau(patience=1, factor=0.5)])
    assert h.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


# ---- LearningRateScheduler ---------------------------------------------------------------
def test_learning_rate_scheduler():
    striate.manual_seed(0)
    x, y = blobs(64)
    model = MLP()
    calls = []

    def halve_odd(epoch, lr):
        calls.append((epoch, lr))
        return lr / 2 if epoch % 2 == 1 else lr

    h = train.fit(model, (x, y), epochs=4, optimizer=sgd(model, lr=0.4), verbose=0,
                  callbacks=[train.LearningRateScheduler(halve_odd)])
    assert h.history["lr"] == [0.4, 0.2, 0.2, 0.1]
    assert calls == [(0, 0.4), (1, 0.4), (2, 0.2), (3, 0.2)]
    cb = train.LearningRateScheduler(lambda epoch, lr: None)
    cb.set_trainer(FakeTrainer())
    with pytest.raises(ValueError, match=r"schedule\(0, lr\) must return a finite number"):
        cb.on_epoch_begin(0, {})


# ---- ModelCheckpoint ---------------------------------------------------------------------
def test_model_checkpoint_best_only_scripted():
    cb = train.ModelCheckpoint("ck/{epoch:02d}-{val_loss:.2f}.safetensors", save_best_only=True)
    _, trainer = run(cb, [1.0, 0.8, 0.9, 0.7, 0.7])
    assert trainer.saved == [("ck/01-1.00.safetensors", 1), ("ck/02-0.80.safetensors", 2),
                             ("ck/04-0.70.safetensors", 4)]
    cb = train.ModelCheckpoint("every.safetensors")
    _, trainer = run(cb, [1.0, 2.0])
    assert trainer.saved == [("every.safetensors", 1), ("every.safetensors", 2)]
    cb = train.ModelCheckpoint("acc.safetensors", monitor="val_accuracy", save_best_only=True)
    _, trainer = run(cb, [0.5, 0.4, 0.6], monitor="val_accuracy")
    assert [e for _, e in trainer.saved] == [1, 3]


def test_model_checkpoint_best_only_in_fit(tmp_path):
    striate.manual_seed(0)
    x, y = blobs(64)
    model = MLP()
    values = iter([1.0, 0.6, 0.9, 0.7])
    script = train.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(val_loss=next(values)))
    path = tmp_path / "best.safetensors"
    best = train.ModelCheckpoint(path, save_best_only=True)
    weights = {}

    def keep(epoch, logs):
        weights[epoch] = model.state_dict()

    snap = train.LambdaCallback(on_epoch_end=keep)
    train.fit(model, (x, y), epochs=4, optimizer=sgd(model), verbose=0,
              callbacks=[script, snap, best])
    meta = train.read_checkpoint_metadata(path)
    assert meta["epoch"] == 2 and best.best == 0.6
    fresh = MLP()
    train.load_checkpoint(path, fresh)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, weights[1][k])


# ---- CSVLogger ---------------------------------------------------------------------------
def test_csv_logger_content(tmp_path):
    path = tmp_path / "log.csv"
    cb = train.CSVLogger(path)
    cb.on_train_begin({})
    cb.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75})
    cb.on_epoch_end(1, {"loss": 0.25, "accuracy": 0.875})
    cb.on_train_end({})
    assert path.read_text().splitlines() == ["epoch,accuracy,loss", "0,0.75,0.5", "1,0.875,0.25"]
    cb = train.CSVLogger(path, append=True, separator=";")
    cb.on_train_begin({})
    cb.on_epoch_end(2, {"loss": 0.125})
    assert path.read_text().splitlines()[-1] == "2;0.125"
    cb = train.CSVLogger(path)  # a new run starts a new file
    cb.on_train_begin({})
    cb.on_epoch_end(0, {"loss": 1.0})
    cb.on_epoch_end(1, {})
    assert path.read_text().splitlines() == ["epoch,loss", "0,1.0", "1,NA"]


def test_csv_logger_in_fit(tmp_path):
    striate.manual_seed(0)
    x, y = blobs(64)
    model = MLP()
    path = tmp_path / "log.csv"
    h = train.fit(model, (x, y), epochs=3, optimizer=sgd(model), validation_split=0.25,
                  callbacks=[train.CSVLogger(path)], verbose=0)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "lr", "time", "val_accuracy",
                             "val_loss"]
    assert [float(r["val_loss"]) for r in rows] == h.history["val_loss"]


# ---- TerminateOnNaN ----------------------------------------------------------------------
def test_terminate_on_nan(capsys):
    trainer = FakeTrainer()
    cb = train.TerminateOnNaN()
    cb.set_trainer(trainer)
    trainer.model.stop_training = False
    cb.on_train_batch_end(0, {"loss": 0.3})
    assert not trainer.model.stop_training
    cb.on_train_batch_end(1, {"loss": float("inf")})
    assert trainer.model.stop_training
    assert "Batch 1: invalid loss inf, terminating training" in capsys.readouterr().out


def test_stop_training_flag_from_a_batch():
    x, y = blobs(64)
    model = MLP()
    batches = []

    def stop_at_2(batch, logs):
        batches.append(batch)
        if batch == 2:
            model.stop_training = True

    h = train.fit(model, (x, y), epochs=5, optimizer=sgd(model), batch_size=8, verbose=0,
                  callbacks=[train.LambdaCallback(on_train_batch_end=stop_at_2)])
    assert batches == [0, 1, 2] and len(h.epoch) == 1
