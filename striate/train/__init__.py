"""Training, Keras-style: ``fit``/``evaluate``/``predict``, callbacks, metrics and checkpoints
(checklist F4, F7, F8, F9).

    from striate import optim, train
    history = train.fit(model, (x, y), epochs=10, batch_size=64, validation_split=0.1,
                        optimizer=optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                        callbacks=[train.EarlyStopping(patience=2),
                                   train.ReduceLROnPlateau(factor=0.5, patience=1)],
                        checkpoint="runs/last.safetensors")
    train.evaluate(model, (x_test, y_test))          # {"loss": ..., "accuracy": ...}
    probs = train.predict(model, x_test, probabilities=True)
"""
from .callbacks import (Callback, CallbackList, CSVLogger, EarlyStopping, LambdaCallback,
                        LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN)
from .checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from .loop import Trainer, evaluate, fit, predict
from .history import History
from .metrics import accuracy, confusion_matrix, get_metric, per_class_accuracy, top_k_accuracy
from .progress import ProgressBar
from .segmentation import dice_bce_loss, dice_score, pixel_accuracy

__all__ = [
    "fit", "evaluate", "predict", "Trainer", "History",
    "Callback", "CallbackList", "EarlyStopping", "ReduceLROnPlateau", "LearningRateScheduler",
    "ModelCheckpoint", "CSVLogger", "TerminateOnNaN", "LambdaCallback", "ProgressBar",
    "accuracy", "top_k_accuracy", "confusion_matrix", "per_class_accuracy", "get_metric",
    "dice_score", "pixel_accuracy", "dice_bce_loss",
    "save_checkpoint", "load_checkpoint", "read_checkpoint_metadata",
]
