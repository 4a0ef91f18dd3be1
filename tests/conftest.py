"""Fixtures shared by the test files (pytest finds them here by itself).

``kernels`` selects the kernel path a test is parametrised with (``PATHS`` in
``tests/kernel_paths.py``, ``indirect=True``); ``on_onednn`` runs a test on the oneDNN kernels,
skipping it when they were not built. Both restore the previous selection afterwards.

The oneDNN convolutions' implementation choices (``striate.kernels.onednn.tuning``) are kept in
a temporary directory for the session, not in the user's ``~/.cache``.
"""
from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("STRIATE_CACHE_DIR", tempfile.mkdtemp(prefix="striate-test-cache-"))

import striate.kernels
from striate.kernels import onednn


@pytest.fixture
def kernels(request):
    previous = striate.kernels.current()
    striate.kernels.use_kernels(request.param)
    yield request.param
    striate.kernels.use_kernels(previous)


@pytest.fixture
def on_onednn():
    if not onednn.available():
        pytest.skip("oneDNN kernels not built")
    previous = striate.kernels.current()
    striate.kernels.use_kernels("onednn")
    yield
    striate.kernels.use_kernels(previous)
