"""Op-table rows for the loss family (F2).

Targets are integer class indices (int64 arrays) or fixed float arrays; only the prediction is
differentiated (``grad_inputs=(0,)``) except where PyTorch also differentiates the target.
"""
import numpy as np
import torch

import striate.functional as F
from optable import OpSpec

TF = torch.nn.functional

_CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])


def _logits_and_labels(shape, classes=4, ignored=0):
    """Logits (N, C, *) and int64 labels (N, *); the first ``ignored`` labels set to -100."""
    def make(rng):
        x = rng.standard_normal(shape)
        t = rng.integers(0, classes, size=shape[:1] + shape[2:]).astype(np.int64)
        t.reshape(-1)[:ignored] = -100
        return [x, t]
    return make


def _logits_and_probs(shape):
    def make(rng):
        p = rng.uniform(0.1, 1, size=shape)
        return [rng.standard_normal(shape), p / p.sum(axis=1, keepdims=True)]
    return make


def _probs_and_targets(shape, low=0.05, high=0.95):
    def make(rng):
        return [rng.uniform(low, high, shape), rng.uniform(0, 1, shape)]
    return make


def _logits_and_soft_targets(shape, scale=1.0):
    def make(rng):
        return [scale * rng.standard_normal(shape), rng.uniform(0, 1, shape)]
    return make


def _dice_inputs(shape):
    def make(rng):
        return [rng.uniform(0.02, 0.98, shape), (rng.uniform(0, 1, shape) > 0.5).astype(float)]
    return make


def _weighted(fn, arg="weight", values=_CLASS_WEIGHT, **kwargs):
    """Call a Striate loss with a constant weight array."""
    def call(x, t):
        return fn(x, t, **{arg: values}, **kwargs)
    return call


def _weighted_torch(fn, arg="weight", values=_CLASS_WEIGHT, **kwargs):
    def call(x, t):
        return fn(x, t, **{arg: torch.tensor(values, dtype=x.dtype)}, **kwargs)
    return call


def _dice_torch(p, t, smooth=1.0, dims=None, squared=False, reduction="mean"):
    dims = tuple(range(1, p.ndim)) if dims is None else dims
    inter = (p * t).sum(dims)
    union = ((p * p).sum(dims) + (t * t).sum(dims)) if squared else p.sum(dims) + t.sum(dims)
    loss = 1 - (2 * inter + smooth) / (union + smooth)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _cross_entropy_rows():
    grad0 = dict(grad_inputs=(0,))
    return [
        OpSpec("cross_entropy", F.cross_entropy, TF.cross_entropy,
               make_inputs=_logits_and_labels((5, 4)), **grad0),
        OpSpec("cross_entropy-sum", F.cross_entropy, TF.cross_entropy,
               make_inputs=_logits_and_labels((5, 4)), kwargs=dict(reduction="sum"), **grad0),
        OpSpec("cross_entropy-none-spatial", F.cross_entropy, TF.cross_entropy,
               make_inputs=_logits_and_labels((2, 4, 3, 2)), kwargs=dict(reduction="none"),
               **grad0),
        OpSpec("cross_entropy-spatial-ignore", F.cross_entropy, TF.cross_entropy,
               make_inputs=_logits_and_labels((2, 4, 3, 2), ignored=3), **grad0),
        OpSpec("cross_entropy-weight-ignore", _weighted(F.cross_entropy),
               _weighted_torch(TF.cross_entropy),
               make_inputs=_logits_and_labels((6, 4), ignored=2), **grad0),
        OpSpec("cross_entropy-smoothing", F.cross_entropy, TF.cross_entropy,
               make_inputs=_logits_and_labels((2, 4, 3), ignored=1),
               kwargs=dict(label_smoothing=0.2), **grad0),
        OpSpec("cross_entropy-smoothing-weight-sum",
               _weighted(F.cross_entropy, label_smoothing=0.1, reduction="sum"),
               _weighted_torch(TF.cross_entropy, label_smoothing=0.1, reduction="sum"),
               make_inputs=_logits_and_labels((5, 4), ignored=1), **grad0),
        OpSpec("cross_entropy-smoothing-weight-mean",
               _weighted(F.cross_entropy, label_smoothing=0.3),
               _weighted_torch(TF.cross_entropy, label_smoothing=0.3),
               make_inputs=_logits_and_labels((2, 4, 3), ignored=2), **grad0),
        OpSpec("cross_entropy-probs", F.cross_entropy, TF.cross_entropy,
               make_inputs=_logits_and_probs((5, 4)), **grad0),
        OpSpec("cross_entropy-probs-spatial-smoothing-weight",
               _weighted(F.cross_entropy, label_smoothing=0.2),
               _weighted_torch(TF.cross_entropy, label_smoothing=0.2),
               make_inputs=_logits_and_probs((2, 4, 3)), **grad0),
        OpSpec("cross_entropy-probs-target-grad", F.cross_entropy, TF.cross_entropy,
               make_inputs=_logits_and_probs((3, 4)), kwargs=dict(reduction="none")),
        OpSpec("cross_entropy-unbatched", F.cross_entropy, TF.cross_entropy,
               make_inputs=lambda rng: [rng.standard_normal(4), np.array(2, dtype=np.int64)],
               **grad0),
    ]


def _other_rows():
    grad0 = dict(grad_inputs=(0,))
    return [
        OpSpec("nll_loss", F.nll_loss, TF.nll_loss,
               make_inputs=_logits_and_labels((5, 4)), **grad0),
        OpSpec("nll_loss-weight-ignore-none", _weighted(F.nll_loss, reduction="none"),
               _weighted_torch(TF.nll_loss, reduction="none"),
               make_inputs=_logits_and_labels((2, 4, 3), ignored=2), **grad0),
        OpSpec("nll_loss-weight-mean-spatial", _weighted(F.nll_loss), _weighted_torch(TF.nll_loss),
               make_inputs=_logits_and_labels((2, 4, 2, 3), ignored=1), **grad0),
        OpSpec("mse_loss", F.mse_loss, TF.mse_loss, shapes=[(3, 4), (3, 4)]),
        OpSpec("mse_loss-sum", F.mse_loss, TF.mse_loss, shapes=[(2, 3, 2), (2, 3, 2)],
               kwargs=dict(reduction="sum")),
        OpSpec("mse_loss-none", F.mse_loss, TF.mse_loss, shapes=[(3, 4), (3, 4)],
               kwargs=dict(reduction="none")),
        OpSpec("binary_cross_entropy", F.binary_cross_entropy, TF.binary_cross_entropy,
               make_inputs=_probs_and_targets((3, 4))),
        OpSpec("binary_cross_entropy-weight-none",
               _weighted(F.binary_cross_entropy, values=np.array([1.0, 0.5, 2.0, 1.5]),
                         reduction="none"),
               _weighted_torch(TF.binary_cross_entropy, values=np.array([1.0, 0.5, 2.0, 1.5]),
                               reduction="none"),
               make_inputs=_probs_and_targets((3, 4))),
        OpSpec("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
               TF.binary_cross_entropy_with_logits,
               make_inputs=_logits_and_soft_targets((3, 4), scale=3.0)),
        OpSpec("binary_cross_entropy_with_logits-pos-weight-sum",
               _weighted(F.binary_cross_entropy_with_logits, arg="pos_weight",
                         values=np.array([0.5, 3.0, 1.0, 2.0]), reduction="sum"),
               _weighted_torch(TF.binary_cross_entropy_with_logits, arg="pos_weight",
                               values=np.array([0.5, 3.0, 1.0, 2.0]), reduction="sum"),
               make_inputs=_logits_and_soft_targets((3, 4), scale=2.0)),
        OpSpec("binary_cross_entropy_with_logits-weight-none",
               _weighted(F.binary_cross_entropy_with_logits, values=np.array([[2.0], [0.5], [1.0]]),
                         reduction="none"),
               _weighted_torch(TF.binary_cross_entropy_with_logits,
                               values=np.array([[2.0], [0.5], [1.0]]), reduction="none"),
               make_inputs=_logits_and_soft_targets((3, 4))),
        OpSpec("dice_loss", F.dice_loss, _dice_torch, make_inputs=_dice_inputs((3, 2, 4, 4))),
        OpSpec("dice_loss-per-channel-none", F.dice_loss, _dice_torch,
               make_inputs=_dice_inputs((2, 3, 4, 3)),
               kwargs=dict(dims=(2, 3), reduction="none", smooth=0.5)),
        OpSpec("dice_loss-squared-3d", F.dice_loss, _dice_torch,
               make_inputs=_dice_inputs((2, 2, 3, 3, 2)),
               kwargs=dict(squared=True, dims=(2, 3, 4), reduction="sum")),
        OpSpec("dice_loss-target-grad", F.dice_loss, _dice_torch,
               make_inputs=_probs_and_targets((2, 3, 4)), kwargs=dict(squared=True)),
    ]


OPS = _cross_entropy_rows() + _other_rows()
