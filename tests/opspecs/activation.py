"""Op-table rows for the activation family (A1, A2)."""
import torch

import striate.functional as F
from optable import OpSpec, away_from_zero, inputs_of

TF = torch.nn.functional


def _lecun_tanh_torch(x):
    return 1.7159 * torch.tanh(2.0 * x / 3.0)


OPS = [
    OpSpec("relu", F.relu, torch.relu, make_inputs=inputs_of(away_from_zero((3, 4, 5)))),
    OpSpec("leaky_relu", F.leaky_relu, TF.leaky_relu,
           make_inputs=inputs_of(away_from_zero((3, 4, 5)))),
    OpSpec("leaky_relu-slope", F.leaky_relu, TF.leaky_relu,
           make_inputs=inputs_of(away_from_zero((2, 3, 4))), kwargs=dict(negative_slope=0.2)),
    OpSpec("elu", F.elu, TF.elu, make_inputs=inputs_of(away_from_zero((3, 4, 5)))),
    OpSpec("elu-alpha", F.elu, TF.elu, make_inputs=inputs_of(away_from_zero((2, 3, 4))),
           kwargs=dict(alpha=0.7)),
    OpSpec("selu", F.selu, TF.selu, make_inputs=inputs_of(away_from_zero((3, 4, 5)))),
    OpSpec("sigmoid", F.sigmoid, torch.sigmoid, shapes=[(3, 4, 5)]),
    OpSpec("tanh", F.tanh, torch.tanh, shapes=[(3, 4, 5)]),
    OpSpec("lecun_tanh", F.lecun_tanh, _lecun_tanh_torch, shapes=[(3, 4, 5)]),
    OpSpec("softmax-dim1", F.softmax, TF.softmax, shapes=[(4, 5)], kwargs=dict(dim=1)),
    OpSpec("softmax-dim0", F.softmax, TF.softmax, shapes=[(4, 5)], kwargs=dict(dim=0)),
    OpSpec("softmax-4d-channels", F.softmax, TF.softmax, shapes=[(2, 3, 2, 4)],
           kwargs=dict(dim=1)),
    OpSpec("softmax-last", F.softmax, TF.softmax, shapes=[(2, 3, 4)], kwargs=dict(dim=-1)),
    OpSpec("log_softmax-dim1", F.log_softmax, TF.log_softmax, shapes=[(4, 5)],
           kwargs=dict(dim=1)),
    OpSpec("log_softmax-4d-channels", F.log_softmax, TF.log_softmax, shapes=[(2, 3, 2, 4)],
           kwargs=dict(dim=1)),
    OpSpec("log_softmax-last", F.log_softmax, TF.log_softmax, shapes=[(2, 3, 4)],
           kwargs=dict(dim=-1)),
]
