"""How setup.py builds the oneDNN kernels: an optional extension, skipped without oneDNN.

setup.py loads this file by path (the package itself is not importable while it is being built)
and calls :func:`extensions`. The result (``_dnnl_conv*.so``, built from ``_dnnl_conv.c``,
``_dnnl_ops.c``, ``_dnnl_matmul.c`` and ``_dnnl_common.c``) is a plain shared library (no Python
headers needed), linked with ``-ldnnl``; Python loads it with ctypes. If ``dnnl.h`` is not found, or compiling or
linking fails, Striate installs without it and runs on its reference kernels.

The sources build against oneDNN 2.x (Debian's ``libdnnl-dev``, 2.6, what the set-up installs)
and 3.x (e.g. the pip wheels ``onednn-cpu-gomp`` + ``onednn-devel-cpu-gomp``, 3.2, on GNU OpenMP
as Debian's is); ``_dnnl_common.h`` bridges the two APIs. Set ``STRIATE_NO_ONEDNN=1`` to skip the
build, ``DNNL_ROOT=/prefix`` for a oneDNN installed outside the system paths (``/prefix/include``,
``/prefix/lib``).
"""
from __future__ import annotations

import os
import sys
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
COMPILE_ARGS = ["-O2", "-fopenmp", "-std=gnu99"]
LINK_ARGS = ["-fopenmp"]


def _prefixes() -> list:
    """Where to look for oneDNN, first match wins: DNNL_ROOT, the Python environment's own prefix
    (pip's oneDNN wheels install there; pip's isolated builds keep sys.prefix), /usr/local, /usr,
    CONDA_PREFIX. The environment's prefix comes before /usr because a compiler given
    ``-I/usr/include`` ignores it as a system directory: headers found in the environment would
    be used whichever directory was chosen, and must be linked with their own library."""
    prefixes = [os.environ.get("DNNL_ROOT"), sys.prefix, "/usr/local", "/usr",
                os.environ.get("CONDA_PREFIX")]
    return [p for p in prefixes if p]


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
        extra_compile_args=COMPILE_ARGS, extra_link_args=LINK_ARGS,
        optional=True,  # a compile or link error leaves Striate on its reference kernels
    )]


def compile_command(prefix: str, output: str, root: str = ".") -> list:
    """The gcc command that builds the same library against the oneDNN under ``prefix``
    (``prefix/include``, ``prefix/lib``) into ``output``, sources relative to ``root``: how the
    tests build it against a second oneDNN version."""
    lib = os.path.join(prefix, "lib")
    return (["gcc", "-shared", "-fPIC", *COMPILE_ARGS, "-I" + os.path.join(prefix, "include"),
             *[os.path.join(root, f) for f in SOURCES], "-L" + lib, "-Wl,-rpath," + lib,
             "-ldnnl", *LINK_ARGS, "-o", output])
