"""Op-table rows for the normalization family (R3 batch norm, R4 local response norm)."""
import numpy as np
import torch

import striate.functional as F
from optable import OpSpec, inputs_of, positive

TF = torch.nn.functional

_RUNNING_MEAN = np.array([0.3, -0.2, 0.5])
_RUNNING_VAR = np.array([0.8, 1.5, 0.4])


def _bn_train(x, w=None, b=None):
    return F.batch_norm(x, None, None, w, b, training=True)


def _bn_train_torch(x, w=None, b=None):
    return TF.batch_norm(x, None, None, w, b, training=True)


def _bn_eval(x, w=None, b=None):
    return F.batch_norm(x, _RUNNING_MEAN, _RUNNING_VAR, w, b, training=False, eps=1e-3)


def _bn_eval_torch(x, w=None, b=None):
    mean = torch.tensor(_RUNNING_MEAN, dtype=x.dtype)
    var = torch.tensor(_RUNNING_VAR, dtype=x.dtype)
    return TF.batch_norm(x, mean, var, w, b, training=False, eps=1e-3)


def _bn_inputs(shape):
    """An input whose channels have different means and scales, gamma around 1, any beta."""
    def make(rng):
        channels = shape[1]
        per_channel = (1, channels) + (1,) * (len(shape) - 2)
        x = rng.standard_normal(shape) * rng.uniform(0.5, 2, per_channel) + rng.normal(
            0, 2, per_channel)
        return [x, rng.uniform(0.5, 1.5, channels), rng.standard_normal(channels)]
    return make


def _bn_rows():
    rows = []
    for tag, shape in (("2d", (6, 3)), ("3d", (4, 3, 5)), ("4d", (2, 3, 3, 4)),
                       ("5d", (2, 3, 2, 2, 3))):
        rows.append(OpSpec(f"batch_norm-train-{tag}", _bn_train, _bn_train_torch,
                           make_inputs=_bn_inputs(shape), atol32=1e-4))
    rows += [
        OpSpec("batch_norm-train-no-affine", _bn_train, _bn_train_torch,
               make_inputs=lambda rng: _bn_inputs((3, 3, 4))(rng)[:1], atol32=1e-4),
        OpSpec("batch_norm-train-weight-only", _bn_train, _bn_train_torch,
               make_inputs=lambda rng: _bn_inputs((3, 3, 4))(rng)[:2], atol32=1e-4),
        OpSpec("batch_norm-eval-4d", _bn_eval, _bn_eval_torch,
               make_inputs=_bn_inputs((2, 3, 3, 4))),
        OpSpec("batch_norm-eval-2d-no-affine", _bn_eval, _bn_eval_torch,
               make_inputs=lambda rng: _bn_inputs((5, 3))(rng)[:1]),
    ]
    return rows


def _lrn_rows():
    # alpha large enough that the denominator varies, so the gradient check means something
    return [
        OpSpec("local_response_norm-4d", F.local_response_norm, TF.local_response_norm,
               shapes=[(2, 7, 3, 3)], kwargs=dict(size=5, alpha=0.5, beta=0.75, k=1.0)),
        OpSpec("local_response_norm-even-size", F.local_response_norm, TF.local_response_norm,
               shapes=[(2, 6, 2, 3)], kwargs=dict(size=4, alpha=0.8, beta=0.6, k=2.0)),
        OpSpec("local_response_norm-3d", F.local_response_norm, TF.local_response_norm,
               shapes=[(2, 5, 4)], kwargs=dict(size=3, alpha=0.4, beta=0.75, k=1.5)),
        OpSpec("local_response_norm-5d", F.local_response_norm, TF.local_response_norm,
               shapes=[(1, 4, 2, 2, 3)], kwargs=dict(size=2, alpha=0.6, beta=0.9, k=1.0)),
        OpSpec("local_response_norm-size-past-channels", F.local_response_norm,
               TF.local_response_norm, shapes=[(2, 3, 2, 2)],
               kwargs=dict(size=7, alpha=0.5, beta=0.75, k=1.0)),
        OpSpec("local_response_norm-alexnet", F.local_response_norm, TF.local_response_norm,
               make_inputs=inputs_of(positive((2, 8, 3, 3), 0.0, 30.0)),
               kwargs=dict(size=5, alpha=5e-4, beta=0.75, k=2.0), atol32=1e-4),
    ]


OPS = _bn_rows() + _lrn_rows()
