"""The benchmarks' PyTorch twins (``benchmarks/twins.py``) are the zoo's networks.

A speed ratio means something only when both sides run the same network, so every twin the
benchmarks time must take Striate's state_dict as it is (same keys, same shapes, same parameter
count) and then give the same eval-mode logits; GoogLeNet's also the same training-mode outputs
(logits and both auxiliary heads, dropout off) and the same loss with the 0.3-weighted heads.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import striate
from striate import models
from striate.models import googlenet_loss

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import twins  # noqa: E402
from kernel_paths import randomise_batch_norm  # noqa: E402

CASES = [
    ("lenet5", {}, (28, 28)),
    ("fmnist-cnn", {}, (28, 28)),
    ("resnet20", {}, (28, 28)),
    ("allconv", {"width": 0.25}, (28, 28)),
    ("nin", {"width": 0.25}, (28, 28)),
    ("vgg11_bn", {"width": 0.125, "classifier_width": 64}, (32, 32)),
    ("vgg11", {"width": 0.125, "classifier_width": 64}, (32, 32)),
    ("googlenet", {"width": 0.25}, (64, 64)),
]


@pytest.mark.parametrize("name, args, size", CASES, ids=[c[0] for c in CASES])
def test_twin_takes_the_state_dict_and_gives_the_same_logits(name, args, size):
    args = {"num_classes": 10, "in_channels": 1, **args}
    striate.manual_seed(0)
    model = models.create(name, **args)
    randomise_batch_norm(model)
    twin = twins.torch_model(name, **args)
    assert list(model.state_dict()) == list(twin.state_dict())
    assert ([tuple(v.shape) for v in model.state_dict().values()]
            == [tuple(v.shape) for v in twin.state_dict().values()])
    twin.load_state_dict({k: torch.from_numpy(np.array(v))
                          for k, v in model.state_dict().items()})
    assert sum(p.data.size for p in model.parameters()) == sum(p.numel()
                                                                for p in twin.parameters())
    x = np.random.default_rng(2).standard_normal((3, 1) + size).astype(np.float32)
    model.eval(), twin.eval()
    with striate.no_grad():
        ours = model(striate.tensor(x)).numpy()
    with torch.no_grad():
        theirs = twin(torch.from_numpy(x)).numpy()
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale)


def test_googlenet_twin_training_outputs_and_loss():
    args = {"num_classes": 10, "in_channels": 1, "width": 0.25, "dropout": 0.0,
            "aux_dropout": 0.0}
    striate.manual_seed(0)
    model = models.create("googlenet", **args)
    twin = twins.torch_model("googlenet", num_classes=10, in_channels=1, width=0.25,
                              dropout=0.0)
    for head in (twin.aux1, twin.aux2):
        head.dropout.p = 0.0
    twin.load_state_dict({k: torch.from_numpy(np.array(v))
                          for k, v in model.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((4, 1, 64, 64)).astype(np.float32)
    y = np.array([0, 3, 7, 9])
    outs = model.train()(striate.tensor(x))
    theirs = twin.train()(torch.from_numpy(x))
    assert len(outs) == len(theirs) == 3
    for a, b in zip(outs, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)
    ours_loss = googlenet_loss(outs, striate.tensor(y)).item()
    their_loss = twins.loss(theirs, torch.from_numpy(y)).item()
    assert ours_loss == pytest.approx(their_loss, rel=1e-5)


def test_unknown_twin_is_named():
    with pytest.raises(ValueError, match="no PyTorch twin of 'alexnet'"):
        twins.torch_model("alexnet")
