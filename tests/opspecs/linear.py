"""Op-table rows for the linear family: fully connected layers and LeNet-5's RBF units."""
import torch

import striate.functional as F
from optable import OpSpec


def _rbf_units_ref(x, w):
    """y[n, i] = sum_j (x[n, j] - w[i, j])^2, written with PyTorch's broadcasting."""
    return ((x[:, None, :] - w[None]) ** 2).sum(-1)


OPS = [
    OpSpec("linear", F.linear, torch.nn.functional.linear, shapes=[(3, 4), (5, 4), (5,)]),
    OpSpec("linear-no-bias", F.linear, torch.nn.functional.linear, shapes=[(3, 4), (5, 4), None]),
    OpSpec("linear-1d-input", F.linear, torch.nn.functional.linear, shapes=[(4,), (5, 4), (5,)]),
    OpSpec("linear-3d-input", F.linear, torch.nn.functional.linear,
           shapes=[(2, 3, 4), (5, 4), (5,)]),
    OpSpec("linear-4d-input-no-bias", F.linear, torch.nn.functional.linear,
           shapes=[(2, 1, 3, 4), (2, 4), None]),
    OpSpec("rbf_units", F.rbf_units, _rbf_units_ref, shapes=[(3, 6), (4, 6)]),
]
