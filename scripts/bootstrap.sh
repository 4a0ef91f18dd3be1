#!/usr/bin/env bash
# Everything Striate needs on a fresh Debian machine, installed once; later runs are quick no-ops.
#   bash scripts/bootstrap.sh          runtime only
#   bash scripts/bootstrap.sh test     plus the test extras (PyTorch 2.13 CPU as the oracle, pytest)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages: the Fashion-MNIST IDX files, and venv support for the system Python.
need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
# oneDNN and a C compiler for the fast convolution kernels (without them: the reference kernels).
[ -f /usr/include/oneapi/dnnl/dnnl.h ] || need+=(libdnnl-dev)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A virtual environment in .venv holds Striate and its Python dependencies.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
extra=""
if [ "${1:-}" = "test" ]; then extra="[test]"; fi
# torch is pinned (==2.13.0, the CPU build) inside the test extra, in this same pip command.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}" 2>&1 \
  | grep -v -e "^WARNING: Location" -e "^$" || true
