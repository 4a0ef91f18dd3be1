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

# The tests also build the oneDNN kernels against oneDNN 3.x (tests/test_kernels_onednn3.py): the
# pip wheels of oneDNN 3.2 on GNU OpenMP, unpacked into .venv/onednn3 (include/, lib/), not
# installed, so that Striate itself stays on Debian's 2.6.
if [ "${1:-}" = "test" ] && [ ! -f .venv/onednn3/include/oneapi/dnnl/dnnl.h ]; then
  rm -rf .venv/onednn3
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d .venv/onednn3/wheels onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0 2>&1 \
    | grep -v -e "^WARNING: Location" -e "^$" || true
  .venv/bin/python - <<'PY'
import pathlib, shutil, zipfile
root = pathlib.Path(".venv/onednn3")
wheels = sorted((root / "wheels").glob("*.whl"))
if len(wheels) != 2:
    print("bootstrap: could not download the oneDNN 3.2 wheels; tests/test_kernels_onednn3.py "
          "will skip")
    shutil.rmtree(root, ignore_errors=True)
    raise SystemExit(0)
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            parts = pathlib.Path(name).parts  # <dist>.data/data/{include,lib}/...
            if len(parts) > 3 and parts[0].endswith(".data") and parts[2] in ("include", "lib"):
                if parts[-1] in ("libdnnl.so", "libdnnl.so.3.2"):
                    continue  # a zip has no links: three copies of one 55 MB file; keep one
                target = root.joinpath(*parts[2:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
(root / "lib" / "libdnnl.so").symlink_to("libdnnl.so.3")  # what -ldnnl looks for
shutil.rmtree(root / "wheels")
PY
fi
