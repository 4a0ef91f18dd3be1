"""The oneDNN kernels built against oneDNN 3.x pass the same tests as the installed build.

Striate installs its C kernels against Debian's oneDNN 2.6; the sources also build against 3.x,
whose C API differs (``_dnnl_common.h``). ``scripts/bootstrap.sh test`` unpacks the pip wheels
of oneDNN 3.2 (GNU OpenMP) into ``.venv/onednn3``; here the library is compiled against them
into a temporary directory and the oneDNN test files run again in a subprocess that loads it
(``STRIATE_ONEDNN_LIBRARY``).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PREFIX = Path(sys.prefix) / "onednn3"
FILES = ["tests/test_kernels_onednn.py", "tests/test_kernels_onednn_ops.py",
         "tests/test_kernels_onednn_matmul.py", "tests/test_kernels_onednn_eltwise.py",
         "tests/test_fusion.py", "tests/test_kernel_paths.py",
         "tests/test_kernels_onednn_tuning.py", "tests/test_fusion_batch_norm_relu.py"]

pytestmark = pytest.mark.skipif(
    not (PREFIX / "include" / "oneapi" / "dnnl" / "dnnl.h").is_file()
    or shutil.which("gcc") is None,
    reason=f"no oneDNN 3.x under {PREFIX} (bash scripts/bootstrap.sh test unpacks it) or no gcc")


def _build(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "striate" / "kernels" / "onednn"))
    try:
        import build
    finally:
        sys.path.pop(0)
    out = str(tmp_path_factory.mktemp("onednn3") / "libstriate_dnnl3.so")
    done = subprocess.run(build.compile_command(str(PREFIX), out, root=str(ROOT)),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return _build(tmp_path_factory)


def _env(library):
    return dict(os.environ, STRIATE_ONEDNN_LIBRARY=library, STRIATE_KERNELS="onednn")


def test_it_loads_as_oneDNN_3(library):
    code = ("import striate.kernels.onednn as o; assert o.available(), o.unavailable_reason(); "
            "print(*o.version())")
    done = subprocess.run([sys.executable, "-c", code], env=_env(library), cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["3", "2"]


def test_the_oneDNN_tests_pass_on_it(library):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-W", "ignore::UserWarning", *FILES], env=_env(library), cwd=ROOT,
                          capture_output=True, text=True)
    tail = done.stdout[-3000:]
    assert done.returncode == 0, tail
    summary = tail.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) > 300, summary
