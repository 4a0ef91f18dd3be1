"""Seconds per training epoch on Fashion-MNIST, Striate against PyTorch, the same network.

    python benchmarks/epoch.py                      # the README's results rows, 2 pairs each
    python benchmarks/epoch.py --models lenet5 --pairs 3
    python benchmarks/epoch.py --models vgg11_bn:width=0.125,classifier_width=256

Both sides train the same architecture (PyTorch's twin from ``benchmarks/twins.py``, whose
state_dict and logits ``tests/test_twins.py`` checks against Striate's) for one epoch over the
60,000 training images at the model's registered input size (28x28, 32x32 for VGG, 64x64 for
GoogLeNet, resized as ``striate train`` does), batch 128, Adam lr 1e-3 (the defaults of
``striate train``), on identical standardised arrays, with a plain loop: forward, cross-entropy
(plus 0.3 x each auxiliary head's for GoogLeNet), backward, step. Each library runs in its own
process, alternating, and the table shows the medians and the median of the per-pair ratios
(PyTorch seconds / Striate seconds: higher is better for Striate).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

# The rows of the README's results table: a registry name and the builder's arguments.
MODELS = ("lenet5", "fmnist-cnn", "resnet20", "vgg11_bn:width=0.125,classifier_width=256",
          "nin:width=0.25", "allconv:width=0.5", "googlenet:width=0.25")


def parse_model(text: str):
    """``name[:key=value,...]`` -> ``(name, {key: value})``, values read as by ``--model-arg``."""
    from striate.cli import _model_arg
    name, _, rest = text.partition(":")
    return name, dict(_model_arg(item) for item in rest.split(",") if item)


def _data(name: str):
    """The training images as ``striate train`` sees them: resized to the model's registered
    input size, scaled to [0, 1] and standardised with the training set's mean and std."""
    from striate import models
    from striate.cli import load_split
    x, y, _ = load_split("fashion-mnist", None, "train", models.get_entry(name).input_size)
    x = x.astype(np.float32) / 255.0
    return (x - x.mean()) / x.std(), y.astype(np.int64)


def worker(lib: str, spec: str, threads: int) -> float:
    name, model_args = parse_model(spec)
    model_args = {"num_classes": 10, "in_channels": 1, **model_args}
    x, y = _data(name)
    order = np.random.default_rng(0).permutation(len(x))
    batches = [order[i:i + 128] for i in range(0, len(order), 128)]
    if lib == "torch":
        import torch
        import twins
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = twins.torch_model(name, **model_args)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        t0 = time.perf_counter()
        for idx in batches:
            idx = torch.from_numpy(idx)
            loss = twins.loss(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t0
    import striate
    from striate import models
    striate.set_num_threads(threads)
    striate.manual_seed(0)
    model = models.create(name, **model_args)
    opt = striate.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for idx in batches:
        loss = models.googlenet_loss(model(striate.tensor(x[idx])), striate.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), metavar="NAME[:K=V,...]",
                   help="zoo models with their builder's arguments (default: the README's rows, "
                        + " ".join(MODELS) + ")")
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.threads)))
        return
    # Both workers import NumPy before their library; OpenBLAS's idle threads must stop spinning
    # (striate sets this itself when it is imported before NumPy), else they slow oneDNN's.
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_THREAD_TIMEOUT="4")
    print("| model | Striate s/epoch | PyTorch s/epoch | PyTorch/Striate |\n|---|---:|---:|---:|")
    for name in args.models:
        runs = {"striate": [], "torch": []}
        for i in range(args.pairs):
            for lib in (("striate", "torch") if i % 2 == 0 else ("torch", "striate")):
                out = subprocess.run([sys.executable, __file__, "--worker", lib, name,
                                      "--threads", str(args.threads)], env=env,
                                     capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(f"{lib} worker failed:\n{out.stderr}")
                runs[lib].append(json.loads(out.stdout.strip().splitlines()[-1]))
        ratio = statistics.median(t / s for s, t in zip(runs["striate"], runs["torch"]))
        print(f"| {name} | {statistics.median(runs['striate']):.1f} | "
              f"{statistics.median(runs['torch']):.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
