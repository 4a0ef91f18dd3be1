"""``striate visualize``: draw what a checkpoint has learned, as a PNG.

::

    striate visualize runs/lenet5/model.safetensors --filters --out c1.png
    striate visualize runs/lenet5/model.safetensors --filters --layer c3 --out c3.png
    striate visualize runs/lenet5/model.safetensors --class-model Trouser --out trouser.png
    striate visualize runs/lenet5/model.safetensors --dream boot.png --layer c3 --out dream.png

``--filters`` tiles a convolution's kernels (default the first one), each scaled by its own
range. ``--class-model CLASS`` (an index or a class name) grows the image the network scores
highest for the class from noise (:func:`striate.explain.class_model`), with the pixels kept in
the range the training images had. ``--dream IMAGE`` reads the image as ``striate predict`` does
(the checkpoint's channels, input size and normalisation; ``--invert`` for a dark object on a
light background) and amplifies what ``--layer`` (default the last convolution) sees in it
(:func:`striate.explain.deep_dream`); the PNG shows the image and the dream side by side.
"""
from __future__ import annotations

import os

import numpy as np

from .. import cli
from . import synthesis as S
from . import visualize as V
from .attribution import last_conv_layer

__all__ = ["add_parser", "cmd_visualize"]


def _pixel_range(info: dict, channels: int):
    """``(mean, std, (low, high))``: per-channel statistics, shaped ``(C, 1, 1)``, and the bounds
    of images in [0, 1] after normalising (the loosest over the channels)."""
    mean = np.broadcast_to(np.asarray(info["mean"], np.float64).reshape(-1, 1, 1),
                           (channels, 1, 1))
    std = np.broadcast_to(np.asarray(info["std"], np.float64).reshape(-1, 1, 1),
                          (channels, 1, 1))
    return mean, std, (float((-mean / std).min()), float(((1 - mean) / std).max()))


def _shown(image: np.ndarray, mean, std) -> np.ndarray:
    """A ``(C, H, W)`` image of the model's input space back in [0, 1], for the PNG."""
    a = np.clip(image * std + mean, 0.0, 1.0)
    return a[0] if a.shape[0] == 1 else a[:3].transpose(1, 2, 0)


def _check_args(args) -> None:
    if args.layer is not None and args.class_model is not None:
        raise cli.CLIError("striate visualize: --layer applies to --filters and --dream, not "
                           "to --class-model (the class score is the model's output)")
    for name, value in (("--steps", args.steps), ("--octaves", args.octaves)):
        if value is not None and value < 1:
            raise cli.CLIError(f"striate visualize: {name} must be at least 1, got {value}")


def _draw(args, model, info: dict) -> str:
    """Compute the picture, write it to ``args.out``; return what was drawn, for the report."""
    channels, height, width = info["channels"], *info["input_size"]
    mean, std, bounds = _pixel_range(info, channels)
    classes = list(info["classes"])
    if args.filters:
        grid = V.filter_grid(model, args.layer, path=args.out)
        return (f"the filters of {args.layer or 'the first convolution'} "
                f"({grid.shape[1]}x{grid.shape[0]} grid)")
    if args.class_model is not None:
        target = cli.class_index(args.class_model, classes, "striate visualize: --class-model")
        image, scores, _ = S.class_model(model, target, (channels, height, width),
                                         steps=args.steps or 200, clip=bounds, seed=args.seed)
        V.save_image(args.out, _shown(image, mean, std),
                     title=f"class model of {classes[target]!r} (score {scores[-1]:.2f})")
        return (f"the class model of {classes[target]!r}: score {scores[0]:.2f} -> "
                f"{scores[-1]:.2f} in {len(scores)} steps")
    x = cli.read_images([args.dream], info, args.invert)[1][0]
    try:
        layer = args.layer or last_conv_layer(model)
    except ValueError:
        raise cli.CLIError("striate visualize: --dream needs --layer NAME: the model has no "
                           "2-D convolution to default to") from None
    dream, norms, _ = S.deep_dream(model, x, layer, steps=args.steps or 20,
                                   octaves=args.octaves or 2, clip=bounds, seed=args.seed)
    pair = np.stack([_shown(x, mean, std), _shown(dream, mean, std)])
    V.save_image(args.out, V.make_grid(pair, columns=2),
                 title=f"{os.path.basename(args.dream)} and its DeepDream on {layer}")
    return (f"DeepDream of {args.dream} on {layer}: activation norm {norms[0]:.2f} -> "
            f"{norms[-1]:.2f}")


def cmd_visualize(args) -> int:
    _check_args(args)
    model, meta = cli.load_model(args.checkpoint)
    info = cli._dataset_info(meta)
    try:
        what = _draw(args, model, info)
    except (ValueError, ImportError) as err:  # a bad --layer, no matplotlib
        raise cli.CLIError(str(err)) from None
    print(f"wrote {args.out}: {what}")
    return 0


def add_parser(sub) -> None:
    """Add the ``visualize`` subcommand to ``striate``'s subparsers."""
    p = sub.add_parser("visualize", help="draw filters, a class model or a DeepDream",
                       description="Draw what a checkpoint has learned as a PNG: a "
                                   "convolution's filters, the image the network finds most "
                                   "typical of a class, or a DeepDream of an image file.")
    p.add_argument("checkpoint", help="a model.safetensors written by `striate train`")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--filters", action="store_true",
                      help="tile the filters of --layer (default: the first convolution)")
    what.add_argument("--class-model", metavar="CLASS",
                      help="grow the image that maximises the score of CLASS (index or name)")
    what.add_argument("--dream", metavar="IMAGE",
                      help="DeepDream an image file on --layer (default: the last convolution)")
    p.add_argument("--layer", metavar="NAME",
                   help="the dotted module name (as in named_modules(), e.g. c3 or "
                        "features.0.0)")
    p.add_argument("--out", metavar="PNG", required=True, help="the PNG to write")
    p.add_argument("--steps", type=int,
                   help="gradient steps (default: class model 200, dream 20 per octave)")
    p.add_argument("--octaves", type=int, help="--dream: scales, each 1.4x the last (default 2)")
    p.add_argument("--invert", action="store_true",
                   help="--dream: invert the image (dark object on light -> light on dark)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise and shifts (default 0)")
    p.set_defaults(func=cmd_visualize)
