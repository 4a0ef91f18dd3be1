"""How setup.py builds the oneDNN kernels: an optional extension, skipped without oneDNN.

setup.py loads this file by path (the package itself is not importable while it is being built)
and calls :func:`extensions`. The result (``_dnnl_conv*.so``, built from ``_dnnl_conv.c``,
``_dnnl_ops.c``, ``_dnnl_matmul.c`` and ``_dnnl_common.c``) is a plain shared library (no Python
headers needed), linked with ``-ldnnl``; Python loads it with ctypes. If ``dnnl.h`` is not found, or compiling or
linking fails, Striate installs without it and runs on its reference kernels.

Set ``STRIATE_NO_ONEDNN=1`` to skip the build, ``DNNL_ROOT=/prefix`` for a oneDNN installed
outside the system paths (``/prefix/include``, ``/prefix/lib``).
"""
from __future__ import annotations

import os
from pathlib import Path

# One library, three sources sharing _dnnl_common.h: the convolutions (which also define the shared
# engine, stream, scratchpad and lock), the batch normalisation and pooling kernels, and the
# matrix products of the fully connected layer; _dnnl_common.c, the primitive cache they
# each keep one of; and _omp_eltwise.c, plain OpenMP loops for the elementwise ops (ReLU) on the
# same thread pool.
SOURCES = ["striate/kernels/onednn/_dnnl_conv.c", "striate/kernels/onednn/_dnnl_ops.c",
           "striate/kernels/onednn/_dnnl_matmul.c", "striate/kernels/onednn/_dnnl_common.c",
           "striate/kernels/onednn/_omp_eltwise.c"]
DEPENDS = ["striate/kernels/onednn/_dnnl_common.h"]
NAME = "striate.kernels.onednn._dnnl_conv"


def _prefixes() -> list:
    prefixes = ["/usr", "/usr/local"]
    if os.environ.get("DNNL_ROOT"):
        prefixes.insert(0, os.environ["DNNL_ROOT"])
    if os.environ.get("CONDA_PREFIX"):
        prefixes.append(os.environ["CONDA_PREFIX"])
    return prefixes


def find_include_dir() -> str | None:
    """The include directory holding ``oneapi/dnnl/dnnl.h``, or None."""
    extra = [p for p in os.environ.get("CPATH", "").split(os.pathsep) if p]
    for directory in [os.path.join(p, "include") for p in _prefixes()] + extra:
        if os.path.isfile(os.path.join(directory, "oneapi", "dnnl", "dnnl.h")):
            return directory
    return None


def extensions(setuptools) -> list:
    """The optional Extension list for setup(ext_modules=...): empty when oneDNN is missing."""
    if os.environ.get("STRIATE_NO_ONEDNN"):
        print("striate: STRIATE_NO_ONEDNN is set, not building the oneDNN kernels")
        return []
    include = find_include_dir()
    if include is None:
        print("striate: oneDNN headers (oneapi/dnnl/dnnl.h) not found, not building the oneDNN "
              "kernels; Striate will use its reference kernels (Debian: apt-get install "
              "libdnnl-dev)")
        return []
    prefix = str(Path(include).parent)
    library_dirs = [d for d in (os.path.join(prefix, "lib"), os.path.join(prefix, "lib64"))
                    if os.path.isdir(d) and prefix not in ("/usr", "/usr/local")]
    return [setuptools.Extension(
        NAME, sources=SOURCES, depends=DEPENDS, include_dirs=[include], library_dirs=library_dirs,
        runtime_library_dirs=library_dirs, libraries=["dnnl"],
        extra_compile_args=["-O2", "-fopenmp", "-std=gnu99"], extra_link_args=["-fopenmp"],
        optional=True,  # a compile or link error leaves Striate on its reference kernels
    )]
