"""``striate train`` and ``striate evaluate`` for the segmentation models (checklist M8, D2).

A model registered with ``task="segment"`` (``unet``, ``vnet``) trains on ``--dataset shapes``:
noisy images of random shapes and their masks, generated from fixed seeds
(:func:`~striate.data.make_shapes`; 3-D volumes from :func:`~striate.data.make_shapes3d` when the
model's ``input_size`` has three axes), 2,000 for training and 500 for the test. The model outputs
one logit per pixel, the loss is BCE + soft Dice (:func:`~striate.train.dice_bce_loss`), and the
run logs and reports the Dice score and the pixel accuracy::

    striate train unet --dataset shapes --epochs 4 --out runs/unet      # batch 16 by default

writes ``OUT/model.safetensors`` (with the sidecar :mod:`striate.cli` writes), ``history.csv``,
``learning_curves.png`` and ``predictions.png`` (test images, true and predicted masks) and prints
the test Dice. Everything else (optimiser, schedule, validation split, early stopping, resume)
works as for the classifiers; ``--augment`` does not, since it would move an image but not its
mask.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import data as sdata
from . import train
from .backend import manual_seed

__all__ = ["SHAPES_TRAIN", "SHAPES_TEST", "shapes_split", "standardise", "train_segmentation",
           "evaluate_segmentation", "score_segmentation"]

SHAPES_TRAIN, SHAPES_TEST = 2000, 500
_SEEDS = {"train": 0, "test": 1}  # fixed: every run sees the same images; train and test differ
METRICS = ("dice", "pixel_accuracy")


def shapes_split(split: str, size, n: int | None = None):
    """``(images, masks)`` of the generated shapes task at ``size`` (``(H, W)`` or
    ``(D, H, W)``): float32 ``(n, 1, *size)`` each, from the split's fixed seed."""
    if n is None:
        n = SHAPES_TRAIN if split == "train" else SHAPES_TEST
    make = sdata.make_shapes if len(size) == 2 else sdata.make_shapes3d
    return make(n, tuple(size), seed=_SEEDS[split])


def standardise(images, mean, std) -> np.ndarray:
    """Per-channel ``(x - mean) / std`` of ``(N, C, ...)`` images or volumes, float32."""
    shape = (1, -1) + (1,) * (images.ndim - 2)
    mean = np.asarray(mean, dtype=np.float32).reshape(shape)
    std = np.asarray(std, dtype=np.float32).reshape(shape)
    return ((images - mean) / std).astype(np.float32)


def score_segmentation(model, images, masks, mean, std, batch_size: int = 64) -> dict:
    """Loss, Dice and pixel accuracy of ``model`` on a split, and its logits."""
    x = standardise(images, mean, std)
    logits = train.predict(model, x, batch_size=batch_size)
    result = {"loss": float(train.dice_bce_loss(logits, masks).item()), "logits": logits}
    result.update({name: train.get_metric(name)[1](masks, logits) for name in METRICS})
    return result


def _check_pairing(cli, args, entry) -> None:
    if entry.task != "segment":
        raise cli.CLIError(f"--dataset shapes is a segmentation task (images and masks); "
                           f"{args.model} is a classification model: train it on fashion-mnist, "
                           f"mnist, digits or folder:PATH")
    if args.dataset != "shapes":
        raise cli.CLIError(f"{args.model} is a segmentation model: it trains on --dataset shapes "
                           f"(generated images and masks), not {args.dataset}")
    if args.augment != "none":
        raise cli.CLIError(f"--augment {args.augment} moves an image but not its mask; "
                           "segmentation runs take --augment none")


def train_segmentation(args, entry) -> int:
    """``striate train MODEL --dataset shapes`` for a segmentation model."""
    from . import cli
    _check_pairing(cli, args, entry)
    out = Path(args.out if args.out is not None else Path("runs") / args.model)
    resume = out / cli.CHECKPOINT if args.resume else None
    saved = cli._resume_metadata(args, resume) if resume is not None else {}
    size = entry.input_size
    test = shapes_split("test", size)
    (x, y), val, mean, std = cli.split_and_measure(args, *shapes_split("train", size), saved)
    manual_seed(args.seed)
    model_args = {"num_classes": 1, "in_channels": int(x.shape[1]), **dict(args.model_arg)}
    model = cli._create(args.model, model_args)
    loader = sdata.DataLoader(sdata.ArrayDataset(standardise(x, mean, std), y),
                              batch_size=args.batch_size, shuffle=True, seed=args.seed, prefetch=2)
    val_loader = None if val is None else sdata.DataLoader(
        (standardise(val[0], mean, std), val[1]), batch_size=64, seed=0)
    opt = cli._optimizer(args, list(model.parameters()))
    scheduler, interval = cli._schedule(args.schedule, opt, args.epochs, len(loader))
    extra = {"dataset": "shapes", "data_dir": None, "task": "segment",
             "mean": np.ravel(mean).tolist(), "std": np.ravel(std).tolist(),
             "classes": ["background", "shape"], "input_size": list(size),
             "channels": int(x.shape[1]), "grayscale": False}
    callbacks = cli.run_callbacks(args, out, val is not None, model_args, extra)
    kind = "volumes" if len(size) == 3 else "images"
    print(f"training {args.model} ({model.num_parameters():,} parameters) on shapes "
          f"({'x'.join(map(str, size))}): {len(x)} training {kind}"
          f"{'' if val is None else f', {len(val[0])} validation'}, {len(test[0])} test "
          f"{kind}; writing to {out}", flush=True)
    history = train.fit(model, loader, epochs=args.epochs, loss="dice_bce", metrics=METRICS,
                        optimizer=opt, validation_data=val_loader, callbacks=callbacks,
                        scheduler=scheduler, scheduler_interval=interval, resume=resume)
    return _report(model, history, out, test, mean, std, args)


def _plot_predictions(images, masks, logits, path, title: str) -> None:
    """Up to 6 test samples: image, true mask, predicted mask (a volume's middle slice)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("drawing predictions.png needs matplotlib") from err
    count = min(6, len(images))
    figure = Figure(figsize=(1.8 * count, 5.6), dpi=100, layout="constrained")
    axes = figure.subplots(3, count, squeeze=False)
    rows = (images[:count, 0], masks[:count, 0], (logits[:count, 0] > 0).astype(np.float32))
    for r, (row, label) in enumerate(zip(rows, ("image", "true mask", "predicted"))):
        for c in range(count):
            plane = row[c] if row[c].ndim == 2 else row[c][row[c].shape[0] // 2]
            axes[r, c].imshow(plane, cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label)
    figure.suptitle(title)
    figure.savefig(path)


def _report(model, history, out: Path, test, mean, std, args) -> int:
    from . import plots
    from .cli import CHECKPOINT
    images, masks = test
    result = score_segmentation(model, images, masks, mean, std)
    written = [CHECKPOINT, "history.csv"]
    try:
        if history.epoch:
            plots.plot_learning_curves(history, out / "learning_curves.png",
                                       title=f"{args.model} on shapes")
            written.append("learning_curves.png")
        _plot_predictions(images, masks, result["logits"], out / "predictions.png",
                          f"{args.model} on the shapes test split (Dice {result['dice']:.4f})")
        written.append("predictions.png")
    except ImportError as err:
        print(f"striate: note: no plots written: {err}", file=sys.stderr)
    times = history.history.get("time", [])
    if times:
        print(f"time per epoch: {np.mean(times):.1f} s (mean of {len(times)} epochs"
              f"{', validation included' if 'val_loss' in history.history else ''})")
    _print_scores(result, len(images), "shapes test split")
    print(f"wrote {', '.join(written)} in {out}")
    return 0


def _print_scores(result: dict, count: int, split: str) -> None:
    print(f"test loss: {result['loss']:.4f}")
    print(f"test Dice: {result['dice']:.4f} ({count} images, {split})")
    print(f"test pixel accuracy: {result['pixel_accuracy']:.4f}")


def evaluate_segmentation(args, model, meta: dict, info: dict) -> int:
    """``striate evaluate`` of a segmentation checkpoint: its Dice on the shapes test split."""
    from .cli import CLIError
    dataset = args.dataset or info["dataset"] or "shapes"
    if dataset != "shapes":
        raise CLIError(f"{args.checkpoint} holds the segmentation model {meta['model']['name']}; "
                       f"it is scored on --dataset shapes, not {dataset}")
    images, masks = shapes_split("test", info["input_size"])
    result = score_segmentation(model, images, masks, info["mean"], info["std"], args.batch_size)
    print(f"{meta['model']['name']} on the shapes test split ({len(images)} images)")
    _print_scores(result, len(images), "shapes test split")
    return 0
