"""Build hook: the project is described in pyproject.toml; this file only adds the optional
oneDNN convolution kernels (striate/kernels/onednn/build.py decides whether they can be built)."""
import importlib.util
from pathlib import Path

import setuptools

_spec = importlib.util.spec_from_file_location(
    "striate_onednn_build", Path(__file__).parent / "striate/kernels/onednn/build.py")
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)

setuptools.setup(ext_modules=_build.extensions(setuptools))
