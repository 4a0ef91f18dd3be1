"""Seconds per training epoch on Fashion-MNIST, Striate against PyTorch, the same network.

    python benchmarks/epoch.py                      # lenet5 and fmnist-cnn, 2 pairs each
    python benchmarks/epoch.py --models lenet5 --pairs 3

Both sides train the same architecture (PyTorch's twin is written below with the same layers)
for one epoch over the 60,000 training images, batch 128, Adam lr 1e-3 (the defaults of
``striate train``), on identical standardised arrays, with a plain loop: forward, cross-entropy,
backward, step. Each library runs in its own process, alternating, and the table shows the
medians and the median of the per-pair ratios (PyTorch seconds / Striate seconds: higher is
better for Striate).
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

MODELS = ("lenet5", "fmnist-cnn")


def _data():
    from striate.data import load_fashion_mnist
    x, y = load_fashion_mnist(split="train")
    x = ((x.astype(np.float32) / 255.0 - 0.2860) / 0.3530)[:, None]
    return x, y.astype(np.int64)


def _torch_model(name):
    import torch.nn as tnn
    if name == "lenet5":
        return tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                              tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                              tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                              tnn.Linear(84, 10))

    def stage(i, o):
        return [tnn.Conv2d(i, o, 3, padding=1, bias=False), tnn.BatchNorm2d(o), tnn.ReLU(),
                tnn.MaxPool2d(2)]
    return tnn.Sequential(*stage(1, 32), *stage(32, 64), tnn.Dropout(0.25), tnn.Flatten(),
                          tnn.Linear(64 * 7 * 7, 256), tnn.ReLU(), tnn.Dropout(0.5),
                          tnn.Linear(256, 10))


def worker(lib: str, model_name: str, threads: int) -> float:
    x, y = _data()
    order = np.random.default_rng(0).permutation(len(x))
    batches = [order[i:i + 128] for i in range(0, len(order), 128)]
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        model = _torch_model(model_name)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        t0 = time.perf_counter()
        for idx in batches:
            idx = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t0
    import striate
    import striate.functional as F
    from striate import models
    model = models.create(model_name)
    opt = striate.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for idx in batches:
        loss = F.cross_entropy(model(striate.tensor(x[idx])), striate.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
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
