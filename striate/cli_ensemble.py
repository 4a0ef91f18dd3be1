"""``striate train --ensemble K`` and the ``OUT/ensemble.json`` it writes, which ``striate
evaluate`` and ``striate predict`` take in place of a checkpoint.

Member i is an ordinary run in ``OUT/member_i`` with seed ``seed + i`` (resumable); the manifest
lists the members and their seeds and, after training, the test results. Loading it checks that
the members share normalisation, classes, input size and channels.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import cli, models, train
from .ensemble import Ensemble

__all__ = ["ENSEMBLE_FILE", "ENSEMBLE_FORMAT", "train_ensemble", "read_ensemble",
           "report_ensemble", "evaluate_ensemble"]

ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_FORMAT = "striate-ensemble"


def train_ensemble(args) -> int:
    """K ordinary runs with seeds seed, seed+1, ... in OUT/member_i (each resumable), then
    OUT/ensemble.json and the members' and the ensemble's test accuracy."""
    if args.ensemble < 1:
        raise cli.CLIError(f"striate train: --ensemble must be at least 1 member, "
                           f"got {args.ensemble}")
    try:
        entry = models.get_entry(args.model)
    except ValueError as err:
        raise cli.CLIError(str(err)) from None
    if getattr(entry, "task", "classify") != "classify" or args.dataset == "shapes":
        raise cli.CLIError(f"striate train: --ensemble averages classifiers' probabilities; "
                       f"{args.model} on {args.dataset} is a {entry.task} run")
    out = Path(args.out if args.out is not None else Path("runs") / args.model)
    seeds = [args.seed + i for i in range(args.ensemble)]
    for i, seed in enumerate(seeds):
        print(f"ensemble member {i} of {len(seeds)} (seed {seed})", flush=True)
        folder = out / f"member_{i}"
        resume = args.resume and (folder / cli.CHECKPOINT).is_file()
        cli.cmd_train(argparse.Namespace(**{**vars(args), "ensemble": None, "seed": seed,
                                            "out": str(folder), "resume": resume}))
    manifest = {"format": ENSEMBLE_FORMAT, "version": 1, "model": args.model, "combine": "probs",
                "seeds": seeds,
                "members": [f"member_{i}/{cli.CHECKPOINT}" for i in range(len(seeds))]}
    (out / ENSEMBLE_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    ensemble, meta, _ = read_ensemble(out / ENSEMBLE_FILE)
    info = cli._dataset_info(meta)
    images, labels, _ = cli.load_split(args.dataset, args.data_dir, "test", info["input_size"],
                                   args.grayscale)
    manifest["test"] = report_ensemble(ensemble, manifest, images, labels, info,
                                        f"{args.dataset} test split")
    (out / ENSEMBLE_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {ENSEMBLE_FILE} (members in member_0 ... member_{len(seeds) - 1}) in {out}")
    return 0


def read_ensemble(path: Path):
    """``(Ensemble in eval mode, member 0's checkpoint metadata, the manifest)``."""
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise cli.CLIError(f"no ensemble file {path}") from None
    except (OSError, ValueError) as err:
        raise cli.CLIError(f"cannot read ensemble file {path}: {err}") from None
    if not (isinstance(manifest, dict) and manifest.get("format") == ENSEMBLE_FORMAT
            and isinstance(manifest.get("members"), list) and manifest["members"]):
        raise cli.CLIError(f"{path} is not an ensemble file of `striate train --ensemble` "
                           f"(expected \"format\": \"{ENSEMBLE_FORMAT}\" and a list of "
                           "\"members\"); for one model pass its .safetensors checkpoint")
    loaded = [cli.load_model(path.parent / member) for member in manifest["members"]]
    first = cli._dataset_info(loaded[0][1])
    for member, (_, meta) in zip(manifest["members"][1:], loaded[1:]):
        info = cli._dataset_info(meta)
        for key in ("mean", "std", "classes", "input_size", "channels"):
            if info[key] != first[key]:
                raise cli.CLIError(f"{path}: member {member} has {key} {info[key]} but "
                               f"{manifest['members'][0]} has {first[key]}; the members of an "
                               "ensemble need the same inputs and classes")
    try:
        ensemble = Ensemble([model for model, _ in loaded], manifest.get("combine", "probs"))
    except ValueError as err:
        raise cli.CLIError(f"{path}: {err}") from None
    return ensemble.eval(), loaded[0][1], manifest


def report_ensemble(ensemble, manifest: dict, images, labels, info: dict, split: str,
                     batch_size: int = 256) -> dict:
    """Print each member's and the ensemble's test accuracy; return them, with the ensemble's
    confusion matrix (rows: true classes), for the manifest."""
    x = cli._eval_transform(info["mean"], info["std"])(images).astype(np.float32)
    pred = ensemble.predict(x, batch_size=batch_size)
    members = [train.accuracy(labels, p) for p in pred.member_probs]
    picked = np.take_along_axis(pred.mean, labels[:, None], axis=1)
    loss = float(-np.mean(np.log(np.maximum(picked, np.finfo(np.float32).tiny))))
    result = {"loss": loss, "accuracy": train.accuracy(labels, pred.mean),
              "member_accuracy": members, "disagreement": float(pred.disagreement.mean()),
              "confusion": train.confusion_matrix(labels, pred.mean.argmax(axis=1),
                                                  len(info["classes"])).tolist()}
    seeds = manifest.get("seeds") or [None] * len(members)
    print(f"ensemble of {len(members)} {manifest.get('model', '')} members on the {split} "
          f"({len(labels)} images), probabilities averaged:")
    for i, (seed, acc) in enumerate(zip(seeds, members)):
        print(f"  member {i}{'' if seed is None else f' (seed {seed})'}: test accuracy {acc:.4f}")
    print(f"members' mean test accuracy {np.mean(members):.4f}, best {max(members):.4f}")
    print(f"ensemble test loss: {loss:.4f}")
    print(f"ensemble test accuracy: {result['accuracy']:.4f}")
    print(f"votes disagreeing with the ensemble: {result['disagreement']:.1%}")
    return result


def evaluate_ensemble(args) -> int:
    path = Path(args.checkpoint)
    ensemble, meta, manifest = read_ensemble(path)
    info = cli._dataset_info(meta)
    dataset, (images, labels, classes) = cli._test_split(args, info)
    if len(classes) != len(info["classes"]):
        raise cli.CLIError(f"{path} classifies {len(info['classes'])} classes but {dataset} has "
                       f"{len(classes)}")
    result = report_ensemble(ensemble, manifest, images, labels, info, f"{dataset} test split",
                             args.batch_size)
    cli.print_class_accuracy(info["classes"], result["confusion"])
    return 0
