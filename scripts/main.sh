#!/usr/bin/env bash
# Install Striate and train a small CNN on Fashion-MNIST, then print its test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python examples/fashion_mnist_demo.py "$@"
