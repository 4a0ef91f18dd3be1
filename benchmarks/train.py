"""Training and inference images/s, Striate against PyTorch 2.13 eager, on the same networks.

    python benchmarks/train.py                          # lenet5 and resnet20, 4 rounds
    python benchmarks/train.py --models resnet20 --rounds 6 --threads 2

The networks are LeNet-5 (``striate.models.lenet5``) and the CIFAR-style ResNet-20 with batch
norm (``striate.models.resnet20``, zero-padding shortcuts), each written once more in
PyTorch with the same layers in ``benchmarks/twins.py`` (``tests/test_twins.py`` checks that
Striate's weights load into them and give the same logits). Both sides see
the same Fashion-MNIST batches of 128 1x28x28 images and run a plain loop: training is forward,
cross-entropy, backward and an SGD step with momentum; inference is an eval-mode forward without
a graph.

Three workers, each in its own process: Striate, PyTorch in its default layout (NCHW) and PyTorch
with ``torch.channels_last`` model and input. In one process the libraries' thread pools slow each
other down and the ratio comes out wrong, so every round starts fresh processes and the order
alternates (S, T, C, then C, T, S, ...). The table shows each side's median images/s and the
median over rounds of the per-round ratio Striate / PyTorch (higher is better for Striate), the
peak resident memory of each worker process, the achieved GFLOP/s (PyTorch's FLOP counter on the
same network, the same count for both sides) next to the float32 GEMM peak of NumPy's BLAS, and
the time of the first step of a fresh process (its primitive creation, caches and
allocations) next to a warm step.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH = 128
MODELS = ("lenet5", "resnet20")
WORKERS = ("striate", "torch", "torch-cl")
WORKER_TITLES = {"striate": "Striate", "torch": "PyTorch NCHW", "torch-cl": "PyTorch ch-last"}


def _batches(count: int):
    """``count`` standardised Fashion-MNIST training batches (x float32 NCHW, y int64)."""
    from striate.data import load_fashion_mnist
    x, y = load_fashion_mnist(split="train")
    x = ((x[:BATCH * count].astype(np.float32) / 255.0 - 0.2860) / 0.3530)[:, None]
    y = y[:BATCH * count].astype(np.int64)
    return [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, BATCH * count, BATCH)]


def _torch_model(name: str):
    """The PyTorch twin of ``striate.models.create(name)`` (``benchmarks/twins.py``)."""
    import twins
    return twins.torch_model(name)


def _flops(name: str) -> dict:
    """FLOPs of one training step (forward + backward) and one inference pass, by PyTorch's
    FLOP counter (convolutions and matrix products; the memory-bound ops count 0)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = _torch_model(name)
    x = torch.zeros(BATCH, 1, 28, 28)
    y = torch.zeros(BATCH, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    train = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(x)
    return {"train": train, "infer": counter.get_total_flops()}


def _loop(step, batches, seconds: float) -> dict:
    """Run ``step(x, y)`` once cold, then warm for about ``seconds``; images/s and step times."""
    t0 = time.perf_counter()
    step(*batches[0])
    first = time.perf_counter() - t0
    for x, y in batches[1:3]:  # warm-up: every batch shape and cache touched once more
        step(x, y)
    times, i = [], 0
    while sum(times) < seconds or len(times) < 5:
        x, y = batches[i % len(batches)]
        t0 = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - t0)
        i += 1
    warm = statistics.median(times)
    return {"first_s": first, "warm_s": warm, "img_s": BATCH / warm}


def worker(lib: str, name: str, mode: str, threads: int, seconds: float) -> dict:
    batches = _batches(8)
    if lib == "striate":
        import striate
        import striate.functional as F
        from striate import models, optim
        striate.set_num_threads(threads)
        striate.manual_seed(0)
        model = models.create(name)
        params = sum(p.data.size for p in model.parameters())
        if mode == "train":
            opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

            def step(x, y):
                loss = F.cross_entropy(model(striate.tensor(x)), striate.tensor(y))
                opt.zero_grad()
                loss.backward()
                opt.step()
        else:
            model.eval()

            def step(x, y):
                with striate.no_grad():
                    model(striate.tensor(x)).numpy()
    else:
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = _torch_model(name)
        params = sum(p.numel() for p in model.parameters())
        layout = torch.channels_last if lib == "torch-cl" else torch.contiguous_format
        model = model.to(memory_format=layout)
        if mode == "train":
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

            def step(x, y):
                xt = torch.from_numpy(x).contiguous(memory_format=layout)
                loss = torch.nn.functional.cross_entropy(model(xt), torch.from_numpy(y))
                opt.zero_grad()
                loss.backward()
                opt.step()
        else:
            model.eval()

            def step(x, y):
                with torch.no_grad():
                    model(torch.from_numpy(x).contiguous(memory_format=layout)).numpy()
    result = _loop(step, batches, seconds)
    result["params"] = params
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def gemm_peak(threads: int) -> float:
    """float32 GFLOP/s of a 4096 x 4096 NumPy matrix product (its BLAS, ``threads`` threads)."""
    a = np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)
    a @ a
    t0 = time.perf_counter()
    for _ in range(3):
        a @ a
    return 3 * 2 * 4096 ** 3 / (time.perf_counter() - t0) / 1e9


def _run(args_list, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args_list], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"worker {' '.join(args_list)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--modes", nargs="+", choices=("train", "infer"), default=["train", "infer"])
    p.add_argument("--rounds", type=int, default=4,
                   help="alternating rounds, one fresh process per worker each (default 4)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for every library (default: the cores)")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per worker")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        kind, *rest = args.worker.split(":")
        if kind == "gemm":
            result = {"gflops": gemm_peak(args.threads)}
        elif kind == "flops":
            result = _flops(rest[0])
        else:
            result = worker(kind, rest[0], rest[1], args.threads, args.seconds)
        print(json.dumps(result))
        return

    common = ["--threads", str(args.threads), "--seconds", str(args.seconds)]
    peak = statistics.median(_run(["--worker", "gemm"] + common, args.threads)["gflops"]
                             for _ in range(3))
    print(f"batch {BATCH}, 1x28x28, float32, {args.threads} threads, {args.rounds} alternating "
          f"rounds (medians); NumPy float32 GEMM peak {peak:.0f} GFLOP/s\n")
    header = ("| model | pass | " + " | ".join(f"{WORKER_TITLES[w]} img/s" for w in WORKERS)
              + " | S/T | S/T-cl | GFLOP/s S / T | peak RSS MB S / T | first step s S / T "
              "(warm) |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name in args.models:
        flops = _run(["--worker", f"flops:{name}"] + common, args.threads)
        for mode in args.modes:
            runs = {w: [] for w in WORKERS}
            for r in range(args.rounds):
                order = WORKERS if r % 2 == 0 else WORKERS[::-1]
                for w in order:
                    runs[w].append(_run(["--worker", f"{w}:{name}:{mode}"] + common,
                                        args.threads))
                print(f"{name} {mode}: round {r + 1}/{args.rounds}", file=sys.stderr)
            if len({runs[w][0]["params"] for w in WORKERS}) != 1:
                raise SystemExit(f"{name}: the networks differ: "
                                 f"{ {w: runs[w][0]['params'] for w in WORKERS} } parameters")
            med = {w: {k: statistics.median(r[k] for r in runs[w]) for k in runs[w][0]}
                   for w in WORKERS}
            ratio = {w: statistics.median(s["img_s"] / t["img_s"]
                                          for s, t in zip(runs["striate"], runs[w]))
                     for w in ("torch", "torch-cl")}
            gflops = [flops[mode] / med[w]["warm_s"] / 1e9 for w in ("striate", "torch")]
            s, t = med["striate"], med["torch"]
            print(f"| {name} | {mode} | "
                  + " | ".join(f"{med[w]['img_s']:,.0f}" for w in WORKERS)
                  + f" | {ratio['torch']:.2f} | {ratio['torch-cl']:.2f} | "
                  f"{gflops[0]:.0f} / {gflops[1]:.0f} | "
                  f"{s['peak_rss_mb']:.0f} / {t['peak_rss_mb']:.0f} | "
                  f"{s['first_s']:.2f} ({s['warm_s']:.3f}) / {t['first_s']:.2f} "
                  f"({t['warm_s']:.3f}) |", flush=True)


if __name__ == "__main__":
    main()
