"""A small CNN written with functional ops only, trained on part of Fashion-MNIST.

    python examples/fashion_mnist_demo.py [--train 12000] [--epochs 2] [--batch-size 64]

No layer classes, no optimiser object: the parameters are plain tensors, the network is a chain of
``striate.functional`` calls, and the update is w <- w - lr * dE/dw with momentum, written out.
It prints the accuracy on the full 10,000-image Fashion-MNIST test set.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import striate
import striate.functional as F
from striate.data import load_fashion_mnist


def init_params(rng):
    """He-normal weights (Var = 2 / fan_in), zero biases."""
    def he(*shape):
        fan_in = int(np.prod(shape[1:]))
        w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        return striate.tensor(w.astype(np.float32), requires_grad=True)

    def zeros(n):
        return striate.zeros(n, requires_grad=True)

    return {"w1": he(16, 1, 3, 3), "b1": zeros(16),
            "w2": he(32, 16, 3, 3), "b2": zeros(32),
            "w3": he(10, 32 * 7 * 7), "b3": zeros(10)}


def forward(p, x):
    """conv3x3(16) -> ReLU -> maxpool 2 -> conv3x3(32) -> ReLU -> maxpool 2 -> linear(10)."""
    h = F.max_pool2d(F.relu(F.conv2d(x, p["w1"], p["b1"], padding=1)), 2)   # (N, 16, 14, 14)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["w2"], p["b2"], padding=1)), 2)   # (N, 32, 7, 7)
    return F.linear(F.flatten(h, 1), p["w3"], p["b3"])                       # (N, 10)


def accuracy(p, images, labels, batch_size=500):
    correct = 0
    with striate.no_grad():
        for i in range(0, len(images), batch_size):
            logits = forward(p, striate.tensor(images[i:i + batch_size]))
            correct += int((logits.numpy().argmax(1) == labels[i:i + batch_size]).sum())
    return correct / len(images)


def prepare(images):
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), standardised with the training statistics."""
    x = images.astype(np.float32)[:, None] / 255.0
    return (x - 0.2860) / 0.3530


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=12000, help="training images used (of 60,000)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    striate.manual_seed(args.seed)
    train_x, train_y = load_fashion_mnist(args.data_dir, split="train")
    test_x, test_y = load_fashion_mnist(args.data_dir, split="test")
    train_x, train_y = prepare(train_x[:args.train]), train_y[:args.train]
    test_x = prepare(test_x)

    params = init_params(rng)
    velocity = {k: np.zeros_like(v.data) for k, v in params.items()}
    print(f"training a 2-conv CNN on {len(train_x)} Fashion-MNIST images for {args.epochs} "
          f"epochs (batch {args.batch_size}, SGD lr {args.lr}, momentum 0.9)")
    for epoch in range(args.epochs):
        t0, order, losses = time.perf_counter(), rng.permutation(len(train_x)), []
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = F.cross_entropy(forward(params, striate.tensor(train_x[idx])),
                                   striate.tensor(train_y[idx]))
            loss.backward()
            for k, w in params.items():          # momentum SGD: v <- 0.9 v + g;  w <- w - lr v
                velocity[k] = 0.9 * velocity[k] + w.grad.data
                w.data -= args.lr * velocity[k]
                w.grad = None
            losses.append(loss.item())
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, "
              f"{len(train_x) / (time.perf_counter() - t0):.0f} images/s")
    acc = accuracy(params, test_x, test_y)
    print(f"test accuracy on the 10,000 Fashion-MNIST test images: {acc:.4f}")


if __name__ == "__main__":
    main()
