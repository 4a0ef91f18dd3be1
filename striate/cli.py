"""The ``striate`` command: train, evaluate and use the zoo's models on real data.

::

    striate models                                       # what can be trained
    striate summary lenet5 --input 1x28x28               # layers, params, MACs, receptive fields
    striate train lenet5 --epochs 10 --out runs/lenet5   # Fashion-MNIST by default
    striate evaluate runs/lenet5/model.safetensors       # loss, accuracy, per-class table
    striate predict runs/lenet5/model.safetensors shoe.png --invert --top-k 3
    striate train unet --dataset shapes --epochs 4       # segmentation: test Dice (cli_segment)

``train`` writes ``OUT/model.safetensors`` (with its JSON sidecar: model name and arguments, the
dataset, its normalisation and class names), ``OUT/history.csv``, ``OUT/learning_curves.png`` and
``OUT/confusion_matrix.png``, and prints the accuracy on the dataset's test split. ``evaluate`` and
``predict`` read everything they need from the checkpoint. Errors a user can fix (no dataset, an
unreadable image, a checkpoint of another model, an unknown model, a bad argument) print one line
on stderr and exit with status 2.

Tests call :func:`main` with an argument list; ``python -m striate`` runs it too.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

from . import data as sdata
from . import functional as F
from . import models, nn, optim, train
from .autograd import Tensor
from .backend import manual_seed
from .kernels.threads import set_num_threads

__all__ = ["main", "build_parser"]

CHECKPOINT = "model.safetensors"
DATASETS = ("fashion-mnist", "mnist", "digits", "folder:PATH", "shapes")
DIGITS_TRAIN = 1500  # scikit-learn's 1797 digits: the first 1500 train, the last 297 test
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}


class CLIError(Exception):
    """A mistake the user can fix: printed as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a one-line :class:`CLIError` instead of usage + exit."""

    def error(self, message):
        raise CLIError(f"{self.prog}: {message} (see `{self.prog} --help`)")


# ---- data ------------------------------------------------------------------------------------
def _resize(images: np.ndarray, size) -> np.ndarray:
    """``(N, C, h, w)`` images resized bilinearly to ``size = (H, W)`` (Pillow, per channel)."""
    if tuple(images.shape[2:]) == tuple(size):
        return images
    from PIL import Image
    height, width = size
    out = np.empty(images.shape[:2] + (height, width), images.dtype)
    mode = "L" if images.dtype == np.uint8 else "F"
    for n, c in np.ndindex(*images.shape[:2]):
        image = Image.fromarray(images[n, c].astype(np.float32) if mode == "F" else images[n, c],
                                mode)
        out[n, c] = np.asarray(image.resize((width, height), Image.BILINEAR))
    return out


def _folder_split(root: Path, split: str, grayscale: bool, size):
    """``(images, labels, classes)`` of an image folder: ``root/train`` and ``root/test`` when
    both exist, otherwise a fixed random 80/20 split of ``root``."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        folder = sdata.ImageFolder(root / split, grayscale=grayscale, size=size)
        classes = sorted(d.name for d in (root / "train").iterdir()
                         if d.is_dir() and not d.name.startswith("."))
        if folder.classes != classes:
            raise CLIError(f"{root}/test has the classes {folder.classes} but {root}/train has "
                           f"{classes}; both need the same class sub-folders")
        images, labels = folder.load_all()
        return images, labels, folder.classes
    folder = sdata.ImageFolder(root, grayscale=grayscale, size=size)
    train_part, test_part = sdata.random_split(folder, [0.8, 0.2], seed=0)
    part = train_part if split == "train" else test_part
    images, labels = part.get_batch(np.arange(len(part)))
    return images, labels, folder.classes


def load_split(dataset: str, data_dir, split: str, size, grayscale: bool = False):
    """One split of a dataset named on the command line, resized to the model's input ``size``.

    Returns:
        ``(images (N, C, H, W) uint8 or float in [0, 1], labels (N,) int64, class names)``.
    """
    try:
        if dataset == "fashion-mnist":
            images, labels = sdata.load_fashion_mnist(data_dir, split)
            classes = list(sdata.FASHION_MNIST_CLASSES)
        elif dataset == "mnist":
            if data_dir is None:
                raise CLIError("--dataset mnist needs --data-dir DIR, the folder holding the "
                               "MNIST IDX files (train-images-idx3-ubyte[.gz], ...); nothing "
                               "is downloaded")
            images, labels = sdata.load_mnist(data_dir, split)
            classes = [str(i) for i in range(10)]
        elif dataset == "digits":
            images, labels = sdata.load_digits()
            part = slice(None, DIGITS_TRAIN) if split == "train" else slice(DIGITS_TRAIN, None)
            images, labels, classes = images[part], labels[part], [str(i) for i in range(10)]
        elif dataset == "shapes":
            raise CLIError("--dataset shapes is a segmentation task (images and masks); it goes "
                           "with the segmentation models (unet, vnet), not a classifier")
        elif dataset.startswith("folder:"):
            images, labels, classes = _folder_split(Path(dataset[len("folder:"):]).expanduser(),
                                                    split, grayscale, size)
        else:
            raise CLIError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")
    except (FileNotFoundError, ImportError, OSError, ValueError) as err:
        raise CLIError(str(err)) from None
    images = images[:, None] if images.ndim == 3 else images  # (N, H, W) -> (N, 1, H, W)
    return _resize(images, size), np.asarray(labels, dtype=np.int64), classes


def _eval_transform(mean, std):
    return sdata.Compose([sdata.ToFloat(), sdata.Normalize(mean, std)])


def _train_transform(augment: str, size, mean, std):
    """``none``: normalise only; ``flip``, ``crop`` (pad 2, shift), ``crop-flip``; ``standard``:
    crop + flip, then random erasing (after normalising, so erased pixels are the mean, 0)."""
    steps = [sdata.ToFloat()]
    if augment in ("crop", "crop-flip", "standard"):
        steps.append(sdata.RandomCrop(tuple(size), padding=max(1, round(size[0] / 14))))
    if augment in ("flip", "crop-flip", "standard"):
        steps.append(sdata.RandomHorizontalFlip())
    steps.append(sdata.Normalize(mean, std))
    if augment == "standard":
        steps.append(sdata.RandomErasing())
    return sdata.Compose(steps)


# ---- checkpoints -----------------------------------------------------------------------------
class _RunRecorder(train.Callback):
    """After every epoch: the full checkpoint (with the dataset's metadata as ``extra``) and
    history.csv; after training, the final weights again (EarlyStopping may restore the best).

    ``fit(checkpoint=...)`` cannot add ``extra`` to its checkpoints, hence this callback; it
    saves exactly what ``Trainer.save_checkpoint`` saves, plus ``extra``.
    """

    def __init__(self, out: Path, model_name: str, model_args: dict, extra: dict):
        super().__init__()
        self.out, self.model_name, self.model_args, self.extra = out, model_name, model_args, extra
        self.epochs_done = 0

    def _save(self) -> None:
        t = self.trainer
        others = [None if cb is t.history else cb for cb in t.callbacks.callbacks]
        train.save_checkpoint(self.out / CHECKPOINT, t.model, t.optimizer, t.scheduler,
                              epoch=self.epochs_done, history=t.history,
                              model_name=self.model_name, model_args=self.model_args,
                              extra=self.extra, loader=t.train_loader, callbacks=others)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        self._save()
        write_history_csv(self.trainer.history, self.out / "history.csv")

    def on_train_end(self, logs=None):
        if self.epochs_done:
            self._save()


def write_history_csv(history, path) -> None:
    """One row per epoch: ``epoch`` (from 1), then every logged key."""
    series = history.history
    keys = list(series)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch"] + keys)
        for i, epoch in enumerate(history.epoch):
            writer.writerow([epoch + 1] + [series[k][i] if i < len(series[k]) else ""
                                           for k in keys])


def load_model(path):
    """``(model in eval mode, checkpoint metadata)`` from a checkpoint written by ``train``."""
    path = Path(path)
    if path.suffix == ".json":  # OUT/ensemble.json of `train --ensemble K`
        from .cli_ensemble import read_ensemble
        return read_ensemble(path)[:2]
    try:
        meta = train.read_checkpoint_metadata(path)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from None
    name, args = meta["model"]["name"], meta["model"]["args"]
    if name not in models.MODELS:
        raise CLIError(f"{path} holds a checkpoint of model {name!r} "
                       f"({meta['model']['class']}), which is not in the zoo; known models: "
                       f"{', '.join(models.list_models())}")
    try:
        model = models.create(name, **args)
        train.load_checkpoint(path, model, restore_rng=False)
    except (TypeError, ValueError) as err:
        raise CLIError(str(err)) from None
    return model.eval(), meta


def _dataset_info(meta: dict) -> dict:
    """The checkpoint's dataset metadata, with defaults for one written outside the CLI."""
    entry = models.MODELS[meta["model"]["name"]]
    args = meta["model"]["args"]
    info = {"dataset": None, "data_dir": None, "mean": [0.0], "std": [1.0],
            "input_size": list(entry.input_size), "channels": args.get("in_channels", 1),
            "classes": [str(i) for i in range(args.get("num_classes", 10))]}
    info.update(meta.get("extra") or {})
    return info


# ---- scoring ---------------------------------------------------------------------------------
def score(model, images, labels, mean, std, batch_size: int = 256) -> dict:
    """Loss, accuracy, top-5 accuracy, logits and confusion matrix of ``model`` on a split."""
    loader = sdata.DataLoader(sdata.ArrayDataset(images, labels), batch_size=batch_size,
                              shuffle=False, seed=0, transform=_eval_transform(mean, std))
    logits = train.predict(model, loader)
    num_classes = logits.shape[1]
    result = {
        "loss": float(F.cross_entropy(Tensor(logits), Tensor(labels)).item()),
        "accuracy": train.accuracy(labels, logits),
        "logits": logits,
        "confusion": train.confusion_matrix(labels, logits, num_classes=num_classes),
    }
    if num_classes > 5:
        result["top_5_accuracy"] = train.top_k_accuracy(labels, logits, k=5)
    return result


# ---- commands --------------------------------------------------------------------------------
def _optimizer(args, params):
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    if args.optimizer == "sgd":
        momentum = 0.9 if args.momentum is None else args.momentum
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=args.weight_decay or 0.0)
    if args.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=args.momentum or 0.0,
                             weight_decay=args.weight_decay or 0.0)
    if args.optimizer == "adamw":
        decay = 0.01 if args.weight_decay is None else args.weight_decay
        return optim.AdamW(params, lr=lr, weight_decay=decay)
    return optim.Adam(params, lr=lr, weight_decay=args.weight_decay or 0.0)


def _schedule(name: str, opt, epochs: int, steps_per_epoch: int):
    """``(scheduler or None, interval)`` for ``--schedule``."""
    sched = optim.lr_scheduler
    if name == "step":
        return sched.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if name == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=max(1, epochs)), "epoch"
    if name == "onecycle":
        max_lr = opt.param_groups[0]["lr"]
        return sched.OneCycleLR(opt, max_lr=max_lr, epochs=max(1, epochs),
                                steps_per_epoch=steps_per_epoch), "batch"
    if name == "plateau":
        return sched.ReduceLROnPlateau(opt, factor=0.5, patience=2), "epoch"
    return None, "epoch"


def _check_train_args(args) -> None:
    for name, value, low in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1),
                             ("--limit", args.limit, 1), ("--threads", args.threads, 1)):
        if value is not None and value < low:
            raise CLIError(f"striate train: {name} must be at least {low}, got {value}")
    if not 0.0 <= args.validation_split < 1.0:
        raise CLIError(f"striate train: --validation-split must lie in [0, 1), "
                       f"got {args.validation_split}")
    if args.lr is not None and not args.lr > 0:
        raise CLIError(f"striate train: --lr must be positive, got {args.lr}")
    if args.early_stopping is not None and args.early_stopping < 1:
        raise CLIError(f"striate train: --early-stopping must be at least 1 epoch, "
                       f"got {args.early_stopping}")


def _resume_metadata(args, path: Path) -> dict:
    """The extra metadata of the run being resumed; checks it is a run of ``args.model``."""
    if not path.is_file():
        raise CLIError(f"--resume: no checkpoint to resume at {path}")
    try:
        meta = train.read_checkpoint_metadata(path)
    except ValueError as err:
        raise CLIError(str(err)) from None
    if meta["model"]["name"] != args.model:
        raise CLIError(f"--resume: {path} holds a checkpoint of model "
                       f"{meta['model']['name']!r}, not {args.model!r}")
    return meta.get("extra") or {}


def _create(name: str, model_args: dict, command: str = "train"):
    """The model with its arguments; a wrong ``--model-arg`` is a user error, named."""
    try:
        return models.create(name, **model_args)
    except TypeError as err:
        raise CLIError(f"striate {command}: --model-arg: {name} does not take these arguments "
                       f"({err})") from None
    except ValueError as err:
        raise CLIError(f"striate {command}: --model-arg: {err}") from None


def _training_data(args, size, saved: dict):
    """Train/validation/test arrays of ``args.dataset`` and the normalisation statistics (those
    of the training images, or the resumed run's)."""
    x, y, classes = load_split(args.dataset, args.data_dir, "train", size, args.grayscale)
    test = load_split(args.dataset, args.data_dir, "test", size, args.grayscale)[:2]
    return (*split_and_measure(args, x, y, saved), test, classes)


def split_and_measure(args, x, y, saved: dict):
    """``--limit`` and ``--validation-split`` applied to the training arrays, and the mean and
    std to normalise with (the training images', or the resumed run's): ``((x, y), val, mean,
    std)``."""
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    val = None
    if args.validation_split:
        try:
            (x, y), val = sdata.validation_split((x, y), args.validation_split)
        except ValueError as err:
            raise CLIError(f"striate train: {err}") from None
    if "mean" in saved:
        mean, std = np.asarray(saved["mean"]), np.asarray(saved["std"])
    else:
        mean, std = sdata.compute_mean_std(x)
    return (x, y), val, mean, std


def _is_segmentation(name: str) -> bool:
    entry = models.MODELS.get(name)
    return entry is not None and entry.task == "segment"


def run_callbacks(args, out: Path, validating: bool, model_args: dict, extra: dict) -> list:
    """``--early-stopping`` (on val_loss, or loss without validation; the best weights kept)
    and the recorder that checkpoints every epoch into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    callbacks = []
    if args.early_stopping is not None:
        callbacks.append(train.EarlyStopping(monitor="val_loss" if validating else "loss",
                                             patience=args.early_stopping,
                                             restore_best_weights=True))
    return callbacks + [_RunRecorder(out, args.model, model_args, extra)]


def cmd_train(args) -> int:
    segment = _is_segmentation(args.model)
    if args.dataset is None:  # the segmentation models train on the generated shapes
        args.dataset = "shapes" if segment else "fashion-mnist"
    if args.batch_size is None:
        args.batch_size = 16 if segment else 128
    if getattr(args, "ensemble", None) is not None:
        from .cli_ensemble import train_ensemble
        return train_ensemble(args)
    _check_train_args(args)
    if args.threads is not None:
        set_num_threads(args.threads)
    try:
        entry = models.get_entry(args.model)
    except ValueError as err:
        raise CLIError(str(err)) from None
    if entry.task == "segment" or args.dataset == "shapes":
        from .cli_segment import train_segmentation
        return train_segmentation(args, entry)
    out = Path(args.out if args.out is not None else Path("runs") / args.model)
    resume = out / CHECKPOINT if args.resume else None
    saved = _resume_metadata(args, resume) if resume is not None else {}
    size = entry.input_size
    (x, y), val, mean, std, test, classes = _training_data(args, size, saved)
    manual_seed(args.seed)
    model_args = {"num_classes": len(classes), "in_channels": int(x.shape[1]),
                  **dict(args.model_arg)}
    model = _create(args.model, model_args)
    loader = sdata.DataLoader(sdata.ArrayDataset(x, y), batch_size=args.batch_size,
                              shuffle=True, seed=args.seed, prefetch=2,
                              transform=_train_transform(args.augment, size, mean, std))
    val_loader = None if val is None else sdata.DataLoader(
        val, batch_size=256, seed=0, transform=_eval_transform(mean, std))
    opt = _optimizer(args, list(model.parameters()))
    scheduler, interval = _schedule(args.schedule, opt, args.epochs, len(loader))
    extra = {"dataset": args.dataset, "data_dir": args.data_dir and os.path.abspath(args.data_dir),
             "mean": np.ravel(mean).tolist(), "std": np.ravel(std).tolist(),
             "classes": list(classes), "input_size": list(size), "channels": int(x.shape[1]),
             "grayscale": args.grayscale}
    callbacks = run_callbacks(args, out, val is not None, model_args, extra)
    print(f"training {args.model} ({model.num_parameters():,} parameters) on {args.dataset}: "
          f"{len(x)} training images{'' if val is None else f', {len(val[0])} validation'}, "
          f"{len(test[0])} test images; writing to {out}", flush=True)
    history = train.fit(model, loader, epochs=args.epochs, loss="cross_entropy", optimizer=opt,
                        validation_data=val_loader, callbacks=callbacks, scheduler=scheduler,
                        scheduler_interval=interval, resume=resume)
    return _report_training(model, history, out, test, classes, mean, std, args)


def _write_plots(history, result, out: Path, classes, args) -> list[str]:
    """The two PNGs; without matplotlib, a note instead (the checkpoint is already saved)."""
    from . import plots
    try:
        if history.epoch:
            plots.plot_learning_curves(history, out / "learning_curves.png",
                                       title=f"{args.model} on {args.dataset}")
        plots.plot_confusion_matrix(result["confusion"], out / "confusion_matrix.png", classes,
                                    title=f"{args.model} on the {args.dataset} test split "
                                          f"(accuracy {result['accuracy']:.4f})")
    except ImportError as err:
        print(f"striate: note: no plots written: {err}", file=sys.stderr)
        return []
    return ["learning_curves.png", "confusion_matrix.png"]


def _report_training(model, history, out: Path, test, classes, mean, std, args) -> int:
    x_test, y_test = test
    result = score(model, x_test, y_test, mean, std)
    written = [CHECKPOINT, "history.csv"] + _write_plots(history, result, out, classes, args)
    times = history.history.get("time", [])
    if times:
        print(f"time per epoch: {np.mean(times):.1f} s (mean of {len(times)} epochs"
              f"{', validation included' if 'val_loss' in history.history else ''})")
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.4f} ({len(y_test)} images, "
          f"{args.dataset} test split)")
    print(f"wrote {', '.join(written)} in {out}")
    return 0


def _test_split(args, info: dict):
    """The dataset ``evaluate`` scores on (``--dataset``, else the checkpoint's) and its test
    split prepared as in training: ``(name, (images, labels, classes))``."""
    dataset = args.dataset or info["dataset"]
    if dataset is None:
        raise CLIError(f"{args.checkpoint} does not say which dataset it was trained on; "
                       "pass --dataset")
    data_dir = args.data_dir if args.data_dir is not None else info["data_dir"]
    return dataset, load_split(dataset, data_dir, "test", info["input_size"],
                               info.get("grayscale", False))


def cmd_evaluate(args) -> int:
    if args.batch_size < 1:
        raise CLIError(f"striate evaluate: --batch-size must be at least 1, got {args.batch_size}")
    if Path(args.checkpoint).suffix == ".json":
        from .cli_ensemble import evaluate_ensemble
        return evaluate_ensemble(args)
    model, meta = load_model(args.checkpoint)
    info = _dataset_info(meta)
    if _is_segmentation(meta["model"]["name"]):
        from .cli_segment import evaluate_segmentation
        return evaluate_segmentation(args, model, meta, info)
    dataset, (images, labels, classes) = _test_split(args, info)
    if len(classes) != len(info["classes"]):
        raise CLIError(f"{args.checkpoint} classifies {len(info['classes'])} classes but "
                       f"{dataset} has {len(classes)}")
    result = score(model, images, labels, info["mean"], info["std"], args.batch_size)
    print(f"{meta['model']['name']} on the {dataset} test split ({len(labels)} images)")
    print(f"test loss: {result['loss']:.4f}")
    print(f"test accuracy: {result['accuracy']:.4f}")
    if "top_5_accuracy" in result:
        print(f"top-5 accuracy: {result['top_5_accuracy']:.4f}")
    print_class_accuracy(info["classes"], result["confusion"])
    return 0


def print_class_accuracy(classes, confusion) -> None:
    """The per-class table of ``striate evaluate``: each class's accuracy and image count, from
    a confusion matrix (rows: true classes)."""
    confusion = np.asarray(confusion)
    width = max(len("class"), *(len(c) for c in classes))
    print(f"\n{'class':<{width}}  accuracy  images")
    for name, correct, total in zip(classes, np.diag(confusion), confusion.sum(axis=1)):
        acc = f"{correct / total:.4f}" if total else "   -  "
        print(f"{name:<{width}}  {acc:>8}  {total:>6}")


def read_images(paths, info: dict, invert: bool = False):
    """Image files as a checkpoint's model takes them: converted to its channels, resized to its
    input size, scaled to [0, 1] (``raw``, (N, C, H, W)), optionally inverted, then normalised
    with the training set's mean and std (``x``, float32). ``info`` is :func:`_dataset_info`'s.

    Raises:
        CLIError: a file is missing or cannot be read as an image.
    """
    batch = []
    for path in paths:
        if not os.path.isfile(path):
            raise CLIError(f"cannot read image {path}: no such file")
        try:
            batch.append(sdata.read_image(path, grayscale=info["channels"] == 1,
                                          size=tuple(info["input_size"])))
        except (OSError, ImportError) as err:
            raise CLIError(str(err)) from None
    raw = sdata.ToFloat()(np.stack(batch))
    if invert:
        raw = 1.0 - raw
    return raw, sdata.Normalize(info["mean"], info["std"])(raw).astype(np.float32)


def class_index(value: str, classes: list, option: str) -> int:
    """A command's class option (``option``, e.g. ``"striate explain: --target"``): a class name
    or an index into ``classes``.

    Raises:
        CLIError: neither; the message lists some of the classes.
    """
    if value in classes:
        return classes.index(value)
    if value.isdigit() and int(value) < len(classes):
        return int(value)
    shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
    raise CLIError(f"{option} must be a class index in [0, {len(classes)}) or a class name "
                   f"({shown}), got {value!r}")


def cmd_predict(args) -> int:
    if args.top_k < 1:
        raise CLIError(f"striate predict: --top-k must be at least 1, got {args.top_k}")
    model, meta = load_model(args.checkpoint)
    if _is_segmentation(meta["model"]["name"]):
        raise CLIError(f"striate predict: {args.checkpoint} holds the segmentation model "
                       f"{meta['model']['name']}, and predict classifies images; `striate "
                       "evaluate` scores it (Dice) and OUT/predictions.png shows its masks")
    info = _dataset_info(meta)
    _, x = read_images(args.images, info, args.invert)
    probs = train.predict(model, x, probabilities=True)
    classes = info["classes"]
    k = min(args.top_k, probs.shape[1])
    for path, p in zip(args.images, probs):
        print(path)
        for rank, c in enumerate(np.argsort(-p, kind="stable")[:k], start=1):
            name = classes[c] if c < len(classes) else str(c)
            print(f"  {rank}. {name:<16} {p[c]:.4f}")
    return 0


def cmd_models(args) -> int:
    for name in models.list_models():
        entry = models.MODELS[name]
        with nn.init.skip_init():  # counting only: no random draws for 100M+ parameters
            params = entry.builder().num_parameters()
        size = "x".join(map(str, entry.input_size))  # (H, W), or (D, H, W) for volumes
        print(f"{name:<12} {size}  {params:>10,} params  {entry.description}")
    return 0


def cmd_reproduce(args) -> int:
    from . import experiments
    if args.name not in experiments.EXPERIMENTS:
        raise CLIError(f"reproduce: unknown experiment {args.name!r}; known: "
                       f"{', '.join(experiments.EXPERIMENTS)}")
    if args.threads is not None:
        set_num_threads(args.threads)
    experiments.run(args.name, out=args.out, quick=args.quick)
    return 0


# ---- the parser ------------------------------------------------------------------------------
def _dataset_arg(value: str) -> str:
    if value in ("fashion-mnist", "mnist", "digits", "shapes") or (value.startswith("folder:")
                                                          and len(value) > len("folder:")):
        return value
    raise argparse.ArgumentTypeError(f"unknown dataset {value!r}; use one of "
                                     f"{', '.join(DATASETS)}")


def _add_data_args(p, default, default_help: str | None = None) -> None:
    p.add_argument("--dataset", type=_dataset_arg, default=default, metavar="NAME",
                   help="fashion-mnist (Debian package dataset-fashion-mnist), mnist (needs "
                        "--data-dir), digits (scikit-learn's 8x8 digits, first 1500 train, "
                        "last 297 test, upscaled to the model's size) or folder:PATH (one "
                        "sub-folder per class; PATH/train and PATH/test if both exist, "
                        "otherwise a fixed random 80/20 split); shapes (generated noisy shapes "
                        "and their masks, for the segmentation models: images for unet, "
                        "volumes for vnet)"
                        + (default_help or (f"; default {default}" if default else
                                            "; default: the one the checkpoint was trained on")))
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder holding the IDX files (default for fashion-mnist: "
                        f"{sdata.FASHION_MNIST_DIR})")


def _model_arg(text: str) -> tuple:
    """``KEY=VALUE`` -> (key, value), the value read as an int, float, bool, None or string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python name, "
                                         f"got {text!r}")
    words = {"true": True, "false": False, "none": None}
    if value.lower() in words:
        return key, words[value.lower()]
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def _add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model and report its test accuracy",
                       description="Train a model of the zoo; write OUT/model.safetensors, "
                                   "history.csv, learning_curves.png and confusion_matrix.png; "
                                   "print the accuracy on the dataset's test split.")
    p.add_argument("model", help="a model name (see `striate models`)")
    _add_data_args(p, None, "; default fashion-mnist (shapes for segmentation models)")
    p.add_argument("--grayscale", action="store_true",
                   help="folder datasets: read images as one grey channel instead of RGB")
    p.add_argument("--epochs", type=int, default=10, help="epochs in all (default 10)")
    p.add_argument("--batch-size", type=int,
                   help="default 128 (16 for segmentation models)")
    p.add_argument("--lr", type=float, help="learning rate (default: sgd 0.05, adam/adamw/"
                                            "rmsprop 0.001)")
    p.add_argument("--optimizer", choices=sorted(DEFAULT_LR), default="adam",
                   help="default adam")
    p.add_argument("--momentum", type=float,
                   help="sgd/rmsprop momentum (default: sgd 0.9, rmsprop 0)")
    p.add_argument("--weight-decay", type=float,
                   help="L2 weight decay (default 0; adamw: decoupled, default 0.01)")
    p.add_argument("--schedule", choices=["none", "step", "cosine", "onecycle", "plateau"],
                   default="none",
                   help="learning-rate schedule: step (x0.1 every epochs/3), cosine (to 0 over "
                        "the run), onecycle (per batch, peak --lr), plateau (x0.5 after 2 "
                        "epochs without improvement); default none")
    p.add_argument("--augment", choices=["none", "flip", "crop", "crop-flip", "standard"],
                   default="none",
                   help="training augmentation: flip (horizontal; wrong for digits), crop "
                        "(pad 2 and shift, at 28x28), crop-flip (both), standard (crop + flip "
                        "+ random erasing); default none")
    p.add_argument("--validation-split", type=float, default=0.0, metavar="F",
                   help="hold out the last fraction F of the training images for validation "
                        "(Keras' rule); default 0")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement of val_loss (loss "
                        "without validation) and keep the best weights")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initialisation, shuffling and augmentation (default 0)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="train on the first N training images only (quick runs)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/MODEL)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="threads for the kernels (oneDNN and NumPy's BLAS); default: the cores. "
                        "Fewer than the cores helps when other programs keep some of them busy")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in OUT/model.safetensors up to --epochs; the "
                        "result equals an uninterrupted run")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   type=_model_arg,
                   help="an argument of the model's builder, e.g. --model-arg width=0.25 for a "
                        "narrow vgg/nin/allconv/googlenet (repeatable; numbers, true/false and "
                        "words are read as such); stored in the checkpoint")
    p.add_argument("--ensemble", type=int, metavar="K",
                   help="train K members with seeds SEED, SEED+1, ... into OUT/member_0, ...; "
                        "print each member's and the ensemble's test accuracy (averaged "
                        "probabilities) and write OUT/ensemble.json, which `striate evaluate` "
                        "and `striate predict` take like a checkpoint")
    p.set_defaults(func=cmd_train)


def build_parser() -> argparse.ArgumentParser:
    """The ``striate`` argument parser with its subcommands."""
    parser = _Parser(prog="striate",
                     description="Convolutional networks from first principles: train, "
                                 "evaluate and use the zoo's models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_train_parser(sub)

    p = sub.add_parser("evaluate", help="score a checkpoint on a test split",
                       description="Test loss, accuracy, top-5 accuracy (more than 5 classes) "
                                   "and per-class accuracy of a checkpoint written by "
                                   "`striate train`.")
    p.add_argument("checkpoint", help="a model.safetensors written by `striate train`, or the "
                                      "ensemble.json of `striate train --ensemble K`")
    _add_data_args(p, None)
    p.add_argument("--batch-size", type=int, default=256, help="default 256")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="classify image files",
                       description="Print the top-k classes of each image with their "
                                   "probabilities. Images (PNG, JPEG, ...) are converted to the "
                                   "model's channels and resized to its input size (28x28 grey "
                                   "for Fashion-MNIST). Fashion-MNIST shows light clothes on a "
                                   "black background: a photo on a light background needs "
                                   "--invert.")
    p.add_argument("checkpoint", help="a model.safetensors written by `striate train`, or the "
                                      "ensemble.json of `striate train --ensemble K`")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per image (default 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert the images (dark object on a light background -> light on dark)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("models", help="list the models that can be trained",
                       description="The registered models: name, input size, parameters.")
    p.set_defaults(func=cmd_models)

    from .analysis.cli_summary import add_parser as add_summary_parser  # not at import time
    add_summary_parser(sub)

    from .explain.cli_explain import add_parser as add_explain_parser  # not at import time
    add_explain_parser(sub)

    from .explain.cli_visualize import add_parser as add_visualize_parser  # not at import time
    add_visualize_parser(sub)

    p = sub.add_parser("reproduce", help="measure one of the lectures' claims on Fashion-MNIST",
                       description="Train the networks of one experiment and write NAME.json, "
                                   "NAME.png and NAME.md (see striate.experiments): "
                                   "ensemble, dropout, batchnorm, residual, augmentation.")
    p.add_argument("name", help="the experiment")
    p.add_argument("--out", default="docs/experiments", help="folder for the results "
                   "(default docs/experiments)")
    p.add_argument("--quick", action="store_true",
                   help="a few hundred images and one epoch: checks the pipeline only")
    p.add_argument("--threads", type=int, default=None, help="compute threads (default: cores)")
    p.set_defaults(func=cmd_reproduce)
    return parser


def main(argv=None) -> int:
    """Run the ``striate`` command with ``argv`` (default ``sys.argv[1:]``); return the exit
    status: 0 on success, 2 on a user error (one line on stderr), 130 when interrupted."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except SystemExit as exit_:  # --help, or argparse's own exit
        return exit_.code if isinstance(exit_.code, int) else 0
    except CLIError as err:
        print(f"striate: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("striate: interrupted (a training run continues with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
