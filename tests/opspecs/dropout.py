"""Op-table rows for the dropout family (R1).

PyTorch draws its masks from its own generator, so training-mode rows have no PyTorch twin: they
reseed Striate's generator on every call (the same mask each time) and run the finite-difference
check; ``tests/test_dropout.py`` checks the masks' statistics. Test-time rows compare with PyTorch.
"""
import torch

import striate
import striate.functional as F
from optable import OpSpec

TF = torch.nn.functional


def _seeded(fn, **kwargs):
    """fn with the generator reseeded before each call, so every call draws the same mask."""
    def call(x):
        striate.manual_seed(7)
        return fn(x, **kwargs)
    return call


OPS = [
    OpSpec("dropout-train-mask", _seeded(F.dropout, p=0.4), None, shapes=[(4, 5)]),
    OpSpec("dropout-train-weight-scaling", _seeded(F.dropout, p=0.4, scaling="weight"), None,
           shapes=[(4, 5)]),
    OpSpec("dropout1d-train-mask", _seeded(F.dropout1d, p=0.5), None, shapes=[(2, 3, 4)]),
    OpSpec("dropout2d-train-mask", _seeded(F.dropout2d, p=0.5), None, shapes=[(2, 3, 2, 3)]),
    OpSpec("dropout3d-train-mask", _seeded(F.dropout3d, p=0.5), None, shapes=[(2, 2, 2, 2, 2)]),
    OpSpec("alpha_dropout-train-mask", _seeded(F.alpha_dropout, p=0.3, training=True), None,
           shapes=[(4, 5)]),
    OpSpec("dropout-eval", F.dropout, TF.dropout, shapes=[(4, 5)],
           kwargs=dict(p=0.4, training=False)),
    OpSpec("dropout-eval-weight-scaling", F.dropout,
           lambda x, p, training: x * (1 - p), shapes=[(4, 5)],
           kwargs=dict(p=0.4, training=False, scaling="weight"),
           ref_kwargs=dict(p=0.4, training=False)),
    OpSpec("dropout2d-eval", F.dropout2d, TF.dropout2d, shapes=[(2, 3, 2, 3)],
           kwargs=dict(p=0.4, training=False)),
    OpSpec("dropout-p0", F.dropout, TF.dropout, shapes=[(4, 5)], kwargs=dict(p=0.0)),
    OpSpec("dropout-p1", F.dropout, TF.dropout, shapes=[(4, 5)], kwargs=dict(p=1.0)),
]
