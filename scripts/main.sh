#!/usr/bin/env bash
# Install Striate and train a small CNN on Fashion-MNIST, then print its test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/striate train lenet5 --epochs 20 --batch-size 64 --lr 2e-3 --schedule cosine \
  --augment crop --out runs/lenet5 "$@"
