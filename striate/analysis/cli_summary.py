"""``striate summary``: the layer table of a zoo model, without training it.

::

    striate summary lenet5                       # at the registry's input size, one channel
    striate summary resnet20 --input 3x32x32     # CIFAR-sized RGB input
    striate summary lenet5 --batch-size 128      # MACs and memory of a training batch
    striate summary googlenet --model-arg width=0.25   # a builder's own arguments, as in train

Prints :func:`striate.analysis.summary`'s table: every layer's output shape, parameters,
multiply-adds, receptive field and jump, and output memory, then the totals.
"""
from __future__ import annotations

import argparse

from .. import cli, models
from .summary import summary

__all__ = ["add_parser", "cmd_summary", "parse_shape"]

_AXES = {1: "CxL", 2: "CxHxW", 3: "CxDxHxW"}


def parse_shape(value: str) -> tuple:
    """``--input``: positive ints joined by ``x`` (``1x28x28``) as a tuple."""
    parts = value.lower().split("x")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected positive integers joined by 'x', one image's "
                                         f"channels and size such as 1x28x28, got {value!r}")
    return tuple(int(p) for p in parts)


def cmd_summary(args) -> int:
    try:
        entry = models.get_entry(args.model)
    except ValueError as err:
        raise cli.CLIError(str(err)) from None
    nd = len(entry.input_size)
    shape = args.input if args.input is not None else (1,) + tuple(entry.input_size)
    if len(shape) != nd + 1:
        layout = _AXES.get(nd, "x".join(["C"] + ["N"] * nd))
        example = "x".join(map(str, (1,) + tuple(entry.input_size)))
        raise cli.CLIError(f"striate summary: --input must be {layout} ({nd + 1} numbers) for "
                           f"{args.model}, which takes {nd}-d inputs, e.g. {example}; got "
                           f"{'x'.join(map(str, shape))}")
    for name, value in (("--batch-size", args.batch_size), ("--num-classes", args.num_classes)):
        if value < 1:
            raise cli.CLIError(f"striate summary: {name} must be at least 1, got {value}")
    model = cli._create(args.model, {"num_classes": args.num_classes, "in_channels": shape[0],
                                     **dict(args.model_arg)}, command="summary")
    try:
        result = summary(model, shape, batch_size=args.batch_size)
    except (TypeError, ValueError) as err:
        raise cli.CLIError(f"striate summary: {args.model} cannot run on an input of "
                           f"{'x'.join(map(str, shape))}: {err}") from None
    print(result)
    return 0


def add_parser(sub) -> None:
    """Register ``summary`` on the ``striate`` command's subparsers."""
    p = sub.add_parser("summary", help="print a model's layers: shapes, params, MACs, "
                                       "receptive fields",
                       description="One forward pass of zeros through a zoo model; for every "
                                   "layer its output shape, parameters, multiply-adds, "
                                   "receptive field and jump (in input pixels) and output "
                                   "memory, then the totals.")
    p.add_argument("model", help="a model name (see `striate models`)")
    p.add_argument("--input", type=parse_shape, metavar="CxHxW",
                   help="one input's channels and size, e.g. 1x28x28 or 3x32x32 (default: one "
                        "channel at the model's registered input size)")
    p.add_argument("--batch-size", type=int, default=1,
                   help="images per pass; MACs and memory are for the whole batch (default 1)")
    p.add_argument("--num-classes", type=int, default=10,
                   help="outputs of the classifier (default 10)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   type=cli._model_arg,
                   help="an argument of the model's builder, as in `striate train`, e.g. "
                        "--model-arg width=0.25 (repeatable)")
    p.set_defaults(func=cmd_summary)
