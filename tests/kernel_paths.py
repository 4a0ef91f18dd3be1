"""What the tests of the two kernel paths (the readable reference and oneDNN) share.

``randomise_batch_norm`` gives a model's BN layers statistics worth comparing in eval mode.
``PATHS`` parametrises a test over both paths through the ``kernels`` fixture of
``tests/conftest.py`` (``@pytest.mark.parametrize("kernels", PATHS, indirect=True)``); the oneDNN
case skips, with the reason, when the compiled kernels are missing, as ``needs_onednn`` does for a
whole test.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import striate.kernels
from striate.functional import fusion
from striate.kernels import onednn

needs_onednn = pytest.mark.skipif(
    not onednn.available(), reason=f"oneDNN kernels not built: {onednn.unavailable_reason()}")
PATHS = ["reference", pytest.param("onednn", marks=needs_onednn)]


@contextlib.contextmanager
def reference_kernels():
    """The block runs on the reference kernels; the previous selection comes back after."""
    previous = striate.kernels.current()
    striate.kernels.use_kernels("reference")
    try:
        yield
    finally:
        striate.kernels.use_kernels(previous)


@contextlib.contextmanager
def fusion_off():
    """The block runs with fusion off (``striate.functional.fusion.enabled(False)``)."""
    fusion.enabled(False)
    try:
        yield
    finally:
        fusion.enabled(True)


def assert_close(ours, ref, what, tol=1e-5):
    """``ours`` has ``ref``'s shape and is within ``tol`` of its largest magnitude (at least 1)."""
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, expected {ref.shape}"
    scale = max(float(np.abs(ref).max(initial=0.0)), 1.0)
    error = float(np.abs(ours - ref).max(initial=0.0))
    assert error <= tol * scale, f"{what}: max error {error:.2e} (largest value {scale:.2e})"


def randomise_batch_norm(model, seed: int = 1, scales: bool = False) -> None:
    """Move every BN layer's running statistics (and with ``scales`` its weights) away from 0 and
    1, so that an eval-mode comparison really exercises them."""
    rng = np.random.default_rng(seed)
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.data[...] = rng.normal(0, 0.2, buf.shape)
        elif name.endswith("running_var"):
            buf.data[...] = rng.uniform(0.5, 1.5, buf.shape)
    if scales:
        for module in model.modules():
            if type(module).__name__.startswith("BatchNorm") and module.weight is not None:
                module.weight.data[...] = rng.uniform(0.5, 1.5, module.weight.shape)
