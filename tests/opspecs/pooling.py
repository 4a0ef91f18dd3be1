"""Op-table rows for the pooling family (checklist P1-P5).

Max-type ops get ``distinct`` inputs (well-separated values, a random permutation), so no window
has a tie, even at +-eps of the finite differences; stochastic pooling and Lp pooling with odd or
fractional p get positive inputs.
"""
import numpy as np
import torch

import striate.functional as F
from optable import OpSpec, distinct, inputs_of, positive

TF = torch.nn.functional


def shifted(make, offset):
    """An input maker's values plus ``offset`` (distinct values, all positive)."""
    return lambda rng: make(rng) + offset


def samples(shape):
    """Fractional pooling samples in [0, 1), away from 1 so float32 keeps them below it."""
    return lambda rng: rng.uniform(0.0, 0.99, size=shape)


def first(op):
    """The output of an op called with ``return_indices=True``, without the indices."""
    return lambda *args, **kwargs: op(*args, **kwargs)[0]


def spp(levels, mode):
    """Spatial pyramid pooling composed from PyTorch's adaptive pooling."""
    pool = TF.adaptive_max_pool2d if mode == "max" else TF.adaptive_avg_pool2d
    return lambda x: torch.cat([pool(x, n).flatten(1) for n in levels], dim=1)


def subsample_ref(x, w, b=None, kernel_size=2, stride=None):
    """LeNet's subsampling from PyTorch: sum pooling (avg * K) times w[c], plus b[c]."""
    y = TF.avg_pool2d(x, kernel_size, stride) * (np.prod(kernel_size) if
                                                   isinstance(kernel_size, tuple)
                                                   else kernel_size ** 2) * w[:, None, None]
    return y if b is None else y + b[:, None, None]


def stochastic_eval_ref(x, kernel_size, stride=None, training=False):
    """The expectation sum a^2 / sum a of stochastic pooling, from PyTorch's average pooling."""
    return TF.avg_pool2d(x * x, kernel_size, stride) / TF.avg_pool2d(x, kernel_size, stride)


FRACTIONAL_SAMPLES = samples((2, 3, 2))

OPS = [
    # ---- max pooling (P1) ------------------------------------------------------------------
    OpSpec("max_pool2d-2x2", F.max_pool2d, TF.max_pool2d,
           make_inputs=inputs_of(distinct((2, 3, 6, 6))), kwargs=dict(kernel_size=2)),
    OpSpec("max_pool2d-3x3s2-overlap", F.max_pool2d, TF.max_pool2d,
           make_inputs=inputs_of(distinct((2, 3, 7, 7))), kwargs=dict(kernel_size=3, stride=2)),
    OpSpec("max_pool2d-pad-ceil", F.max_pool2d, TF.max_pool2d,
           make_inputs=inputs_of(distinct((2, 2, 7, 8))),
           kwargs=dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    OpSpec("max_pool2d-ceil-drops-window", F.max_pool2d, TF.max_pool2d,
           make_inputs=inputs_of(distinct((1, 2, 4, 4))),
           kwargs=dict(kernel_size=2, stride=3, padding=1, ceil_mode=True)),
    OpSpec("max_pool2d-dilation-rect", F.max_pool2d, TF.max_pool2d,
           make_inputs=inputs_of(distinct((2, 2, 7, 8))),
           kwargs=dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1))),
    OpSpec("max_pool2d-unbatched", F.max_pool2d, TF.max_pool2d,
           make_inputs=inputs_of(distinct((3, 6, 5))), kwargs=dict(kernel_size=2, stride=1)),
    OpSpec("max_pool2d-with-indices", first(F.max_pool2d), first(TF.max_pool2d),
           make_inputs=inputs_of(distinct((2, 2, 5, 5))),
           kwargs=dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    OpSpec("max_pool1d", F.max_pool1d, TF.max_pool1d, make_inputs=inputs_of(distinct((2, 3, 9))),
           kwargs=dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    OpSpec("max_pool1d-dilation", F.max_pool1d, TF.max_pool1d,
           make_inputs=inputs_of(distinct((2, 3, 10))), kwargs=dict(kernel_size=3, dilation=2)),
    OpSpec("max_pool3d", F.max_pool3d, TF.max_pool3d,
           make_inputs=inputs_of(distinct((2, 2, 5, 6, 5))),
           kwargs=dict(kernel_size=(2, 3, 2), stride=2, padding=1)),
    OpSpec("max_pool3d-ceil", F.max_pool3d, TF.max_pool3d,
           make_inputs=inputs_of(distinct((1, 2, 5, 5, 6))),
           kwargs=dict(kernel_size=2, stride=2, ceil_mode=True)),
    # ---- average pooling (P2) --------------------------------------------------------------
    OpSpec("avg_pool2d-2x2", F.avg_pool2d, TF.avg_pool2d, shapes=[(2, 3, 6, 6)],
           kwargs=dict(kernel_size=2)),
    OpSpec("avg_pool2d-3x3s2-pad-ceil", F.avg_pool2d, TF.avg_pool2d, shapes=[(2, 2, 7, 8)],
           kwargs=dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    OpSpec("avg_pool2d-exclude-pad", F.avg_pool2d, TF.avg_pool2d, shapes=[(2, 2, 7, 8)],
           kwargs=dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                       count_include_pad=False)),
    OpSpec("avg_pool2d-divisor", F.avg_pool2d, TF.avg_pool2d, shapes=[(2, 2, 6, 7)],
           kwargs=dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0), divisor_override=5)),
    OpSpec("avg_pool2d-unbatched", F.avg_pool2d, TF.avg_pool2d, shapes=[(3, 5, 6)],
           kwargs=dict(kernel_size=2, stride=1)),
    OpSpec("avg_pool1d", F.avg_pool1d, TF.avg_pool1d, shapes=[(2, 3, 9)],
           kwargs=dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                       count_include_pad=False)),
    OpSpec("avg_pool3d", F.avg_pool3d, TF.avg_pool3d, shapes=[(2, 2, 5, 6, 5)],
           kwargs=dict(kernel_size=(2, 3, 2), stride=2, padding=1, ceil_mode=True)),
    OpSpec("avg_pool3d-divisor", F.avg_pool3d, TF.avg_pool3d, shapes=[(1, 2, 4, 4, 4)],
           kwargs=dict(kernel_size=2, divisor_override=3)),
    # ---- Lp pooling (P5) -------------------------------------------------------------------
    OpSpec("lp_pool2d-p2", F.lp_pool2d, TF.lp_pool2d, shapes=[(2, 3, 6, 6)],
           kwargs=dict(norm_type=2, kernel_size=2)),
    OpSpec("lp_pool2d-p3-ceil", F.lp_pool2d, TF.lp_pool2d,
           make_inputs=inputs_of(positive((2, 2, 7, 8))),
           kwargs=dict(norm_type=3, kernel_size=3, stride=2, ceil_mode=True)),
    OpSpec("lp_pool2d-p1.5", F.lp_pool2d, TF.lp_pool2d,
           make_inputs=inputs_of(positive((2, 2, 6, 6))),
           kwargs=dict(norm_type=1.5, kernel_size=(2, 3), stride=(2, 1))),
    OpSpec("lp_pool2d-inf", F.lp_pool2d, TF.lp_pool2d,
           make_inputs=inputs_of(shifted(distinct((2, 2, 6, 6)), 4.0)),
           kwargs=dict(norm_type=float("inf"), kernel_size=2)),
    OpSpec("lp_pool1d", F.lp_pool1d, TF.lp_pool1d, shapes=[(2, 3, 9)],
           kwargs=dict(norm_type=2, kernel_size=3, stride=2)),
    OpSpec("lp_pool3d", F.lp_pool3d, TF.lp_pool3d, shapes=[(1, 2, 4, 4, 6)],
           kwargs=dict(norm_type=2, kernel_size=2)),
    # ---- adaptive and global pooling (P3) --------------------------------------------------
    OpSpec("adaptive_avg_pool2d", F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d,
           shapes=[(2, 3, 7, 9)], kwargs=dict(output_size=(3, 4))),
    OpSpec("adaptive_avg_pool2d-none", F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d,
           shapes=[(2, 3, 7, 9)], kwargs=dict(output_size=(5, None))),
    OpSpec("adaptive_avg_pool2d-upsample", F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d,
           shapes=[(1, 2, 3, 4)], kwargs=dict(output_size=(5, 6))),
    OpSpec("adaptive_avg_pool1d", F.adaptive_avg_pool1d, TF.adaptive_avg_pool1d,
           shapes=[(2, 3, 10)], kwargs=dict(output_size=4)),
    OpSpec("adaptive_avg_pool3d", F.adaptive_avg_pool3d, TF.adaptive_avg_pool3d,
           shapes=[(1, 2, 5, 7, 6)], kwargs=dict(output_size=(2, 3, 4))),
    OpSpec("adaptive_max_pool2d", F.adaptive_max_pool2d, TF.adaptive_max_pool2d,
           make_inputs=inputs_of(distinct((2, 3, 7, 9))), kwargs=dict(output_size=(3, 4))),
    OpSpec("adaptive_max_pool2d-none-unbatched", F.adaptive_max_pool2d, TF.adaptive_max_pool2d,
           make_inputs=inputs_of(distinct((3, 7, 9))), kwargs=dict(output_size=(None, 2))),
    OpSpec("adaptive_max_pool2d-upsample", F.adaptive_max_pool2d, TF.adaptive_max_pool2d,
           make_inputs=inputs_of(distinct((1, 2, 3, 4))), kwargs=dict(output_size=(4, 6))),
    OpSpec("adaptive_max_pool1d", F.adaptive_max_pool1d, TF.adaptive_max_pool1d,
           make_inputs=inputs_of(distinct((2, 3, 10))), kwargs=dict(output_size=4)),
    OpSpec("adaptive_max_pool3d", F.adaptive_max_pool3d, TF.adaptive_max_pool3d,
           make_inputs=inputs_of(distinct((1, 2, 5, 7, 6))), kwargs=dict(output_size=(2, 3, 4))),
    OpSpec("global_avg_pool2d", F.global_avg_pool2d, lambda x: x.mean(dim=(-2, -1)),
           shapes=[(2, 3, 5, 4)]),
    OpSpec("global_avg_pool2d-keepdim", F.global_avg_pool2d,
           lambda x, keepdim: TF.adaptive_avg_pool2d(x, 1), shapes=[(2, 3, 5, 4)],
           kwargs=dict(keepdim=True)),
    OpSpec("global_max_pool2d", F.global_max_pool2d, lambda x: x.amax(dim=(-2, -1)),
           make_inputs=inputs_of(distinct((2, 3, 5, 4)))),
    OpSpec("global_max_pool2d-keepdim", F.global_max_pool2d,
           lambda x, keepdim: TF.adaptive_max_pool2d(x, 1),
           make_inputs=inputs_of(distinct((2, 3, 5, 4))), kwargs=dict(keepdim=True)),
    # ---- spatial pyramid pooling (P5) ------------------------------------------------------
    OpSpec("spatial_pyramid_pool2d-max", F.spatial_pyramid_pool2d, spp((1, 2, 4), "max"),
           make_inputs=inputs_of(distinct((2, 3, 9, 7))), ref_kwargs={}),
    OpSpec("spatial_pyramid_pool2d-avg", F.spatial_pyramid_pool2d, spp((1, 3), "avg"),
           shapes=[(2, 2, 6, 8)], kwargs=dict(levels=(1, 3), mode="avg"), ref_kwargs={}),
    # ---- fractional max pooling (P5): the samples are a second, non-differentiable input ---
    OpSpec("fractional_max_pool2d", lambda x, u, **kw: F.fractional_max_pool2d(
               x, _random_samples=u, **kw),
           lambda x, u, **kw: TF.fractional_max_pool2d(x, _random_samples=u, **kw),
           make_inputs=inputs_of(distinct((2, 3, 9, 10)), FRACTIONAL_SAMPLES), grad_inputs=(0,),
           kwargs=dict(kernel_size=2, output_size=(6, 7))),
    OpSpec("fractional_max_pool2d-ratio-rect", lambda x, u, **kw: F.fractional_max_pool2d(
               x, samples=u, **kw),
           lambda x, u, **kw: TF.fractional_max_pool2d(x, _random_samples=u, **kw),
           make_inputs=inputs_of(distinct((2, 3, 11, 9)), FRACTIONAL_SAMPLES), grad_inputs=(0,),
           kwargs=dict(kernel_size=(3, 2), output_ratio=(0.6, 0.7))),
    # ---- LeNet's trainable subsampling (P4) ------------------------------------------------
    OpSpec("subsample2d", F.subsample2d, subsample_ref, shapes=[(2, 3, 6, 6), (3,), (3,)]),
    OpSpec("subsample2d-no-bias-3x3s2", F.subsample2d, subsample_ref,
           shapes=[(2, 2, 7, 7), (2,), None], kwargs=dict(kernel_size=3, stride=2)),
    # ---- stochastic pooling at evaluation: the expectation, smooth for positive input ------
    OpSpec("stochastic_pool2d-eval", F.stochastic_pool2d, stochastic_eval_ref,
           make_inputs=inputs_of(positive((2, 3, 6, 6))),
           kwargs=dict(kernel_size=2, training=False)),
    OpSpec("stochastic_pool2d-eval-overlap", F.stochastic_pool2d, stochastic_eval_ref,
           make_inputs=inputs_of(positive((2, 2, 7, 7))),
           kwargs=dict(kernel_size=3, stride=2, training=False)),
]
