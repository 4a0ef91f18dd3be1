"""conv2d and max_pool2d, forward + backward, Striate against PyTorch, layer by layer.

    python benchmarks/conv.py                 # 4 alternating pairs, the default table
    python benchmarks/conv.py --pairs 6 --threads 2

Each library runs in its own process (a worker: ``--worker striate``, ``--worker torch`` for
PyTorch's default NCHW layout, ``--worker torch-cl`` for ``torch.channels_last``), and the workers
alternate A, B, C, C, B, A, ... Timing both in one process is wrong on a small machine: each
library's BLAS/OpenMP threads keep spinning after a call and slow the other down. For every pair
the ratio PyTorch time / Striate time is taken; the table shows the median over pairs
(higher is better; 1.0 = as fast as PyTorch, 0.5 = twice as slow).

The layer sizes are those of LeNet-5, ResNet-20 and a VGG-like stage at batch 128.
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

BATCH = 128
WORKERS = ("striate", "torch", "torch-cl")  # PyTorch in its default layout and channels-last

# name, input (C, H, W), weight (O, C, K, K), stride, padding, input needs a gradient
CONV_CASES = [
    ("lenet-c1 1->6 5x5 @28", (1, 28, 28), (6, 1, 5, 5), 1, 2, False),
    ("lenet-c3 6->16 5x5 @14", (6, 14, 14), (16, 6, 5, 5), 1, 0, True),
    ("resnet 16->16 3x3 @28", (16, 28, 28), (16, 16, 3, 3), 1, 1, True),
    ("resnet 16->32 3x3/2 @28", (16, 28, 28), (32, 16, 3, 3), 2, 1, True),
    ("resnet 32->32 3x3 @14", (32, 14, 14), (32, 32, 3, 3), 1, 1, True),
    ("resnet 64->64 3x3 @7", (64, 7, 7), (64, 64, 3, 3), 1, 1, True),
    ("vgg 64->64 3x3 @16", (64, 16, 16), (64, 64, 3, 3), 1, 1, True),
]
# name, input (C, H, W), kernel, stride
POOL_CASES = [
    ("maxpool 2x2/2 6@28", (6, 28, 28), 2, 2),
    ("maxpool 2x2/2 16@10", (16, 10, 10), 2, 2),
    ("maxpool 3x3/2 64@16 overlap", (64, 16, 16), 3, 2),
    ("maxpool 2x2/2 64@16", (64, 16, 16), 2, 2),
]


def _time(fn, repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _inputs(case_in, case_w=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH,) + case_in).astype(np.float32)
    w = None if case_w is None else (rng.standard_normal(case_w) * 0.1).astype(np.float32)
    return x, w


def _channels_last(x):
    """x (N, C, H, W) with the same values, stored channels last, as activations inside a
    Striate network are (and as ``torch.channels_last`` stores them)."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)


def worker_striate(repeat: int, threads: int) -> dict:
    import striate
    import striate.functional as F

    striate.set_num_threads(threads)
    results = {}
    for name, cin, wshape, stride, pad, input_grad in CONV_CASES:
        x_np, w_np = _inputs(cin, wshape)
        x = striate.tensor(_channels_last(x_np), requires_grad=input_grad)
        w = striate.tensor(w_np, requires_grad=True)
        b = striate.tensor(np.zeros(wshape[0], np.float32), requires_grad=True)

        def step():
            y = F.conv2d(x, w, b, stride=stride, padding=pad)
            y.backward(np.ones_like(y.data))  # laid out as y is
            x.grad = w.grad = b.grad = None
        results[name] = _time(step, repeat)
    for name, cin, k, s in POOL_CASES:
        x = striate.tensor(_channels_last(_inputs(cin)[0]), requires_grad=True)

        def step():
            y = F.max_pool2d(x, k, s)
            y.backward(np.ones_like(y.data))
            x.grad = None
        results[name] = _time(step, repeat)
    return results


def worker_torch(repeat: int, threads: int, channels_last: bool = False) -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    results = {}
    for name, cin, wshape, stride, pad, input_grad in CONV_CASES:
        x_np, w_np = _inputs(cin, wshape)
        x = torch.tensor(x_np).contiguous(memory_format=layout).requires_grad_(input_grad)
        w = torch.tensor(w_np).contiguous(memory_format=layout).requires_grad_(True)
        b = torch.zeros(wshape[0], requires_grad=True)

        def step():
            y = F.conv2d(x, w, b, stride=stride, padding=pad)
            y.backward(torch.ones_like(y))
            x.grad = w.grad = b.grad = None
        results[name] = _time(step, repeat)
    for name, cin, k, s in POOL_CASES:
        x = torch.tensor(_inputs(cin)[0]).contiguous(memory_format=layout).requires_grad_(True)

        def step():
            y = F.max_pool2d(x, k, s)
            y.backward(torch.ones_like(y))
            x.grad = None
        results[name] = _time(step, repeat)
    return results


def run_worker(lib: str, repeat: int, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", lib, "--repeat", str(repeat),
                          "--threads", str(threads)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {lib} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=4, help="alternating process pairs (default 4)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per case in a worker")
    p.add_argument("--threads", type=int, default=2, help="threads for both libraries")
    p.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker == "striate":
        print(json.dumps(worker_striate(args.repeat, args.threads)))
        return
    if args.worker in ("torch", "torch-cl"):
        print(json.dumps(worker_torch(args.repeat, args.threads, args.worker == "torch-cl")))
        return

    runs = {w: [] for w in WORKERS}
    for i in range(args.pairs):
        for lib in (WORKERS if i % 2 == 0 else WORKERS[::-1]):
            runs[lib].append(run_worker(lib, args.repeat, args.threads))
        print(f"round {i + 1}/{args.pairs} done", file=sys.stderr)

    names = [c[0] for c in CONV_CASES] + [c[0] for c in POOL_CASES]
    print(f"batch {BATCH}, float32, forward + backward, {args.threads} threads, "
          f"{args.pairs} alternating rounds (medians; ratio = PyTorch ms / Striate ms)\n")
    print(f"| {'layer':<30} | Striate ms | PyTorch NCHW ms | PyTorch ch-last ms | ratio NCHW "
          f"| ratio ch-last |")
    print(f"|{'-' * 32}|-----------:|----------------:|-------------------:|-----------:"
          f"|--------------:|")
    for name in names:
        ms = {w: [r[name] for r in runs[w]] for w in WORKERS}
        ratio = {w: statistics.median(t / s for s, t in zip(ms["striate"], ms[w]))
                 for w in ("torch", "torch-cl")}
        print(f"| {name:<30} | {statistics.median(ms['striate']):10.2f} | "
              f"{statistics.median(ms['torch']):15.2f} | "
              f"{statistics.median(ms['torch-cl']):18.2f} | {ratio['torch']:10.2f} | "
              f"{ratio['torch-cl']:13.2f} |")


if __name__ == "__main__":
    main()
