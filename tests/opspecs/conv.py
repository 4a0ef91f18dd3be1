"""Op-table rows for the conv family: conv1d/2d/3d, true convolution, transposed convolution.

Where PyTorch has no argument for a configuration, the reference composes what it means:
``padding_mode`` pads with ``torch.nn.functional.pad`` first (as ``torch.nn.Conv2d`` does);
``'same'`` at stride > 1, which PyTorch refuses, is PyTorch's conv of the input pre-padded
asymmetrically as TensorFlow splits it; true convolution is PyTorch's conv with the kernel flipped.
"""
import torch
import torch.nn.functional as TF

import striate.functional as F
from optable import OpSpec


def _padded(conv, pad, mode="constant", **kwargs):
    """PyTorch's ``conv`` of the input padded by ``pad`` (torch order: last axis first)."""
    def ref(x, w, b=None):
        return conv(TF.pad(x, pad, mode=mode), w, b, **kwargs)
    return ref


def _flipped(conv, nd, **kwargs):
    """PyTorch's ``conv`` with the kernel reversed along its ``nd`` spatial axes."""
    def ref(x, w, b=None):
        return conv(x, w.flip(tuple(range(-nd, 0))), b, **kwargs)
    return ref


def _conv2d_rows():
    rows = [
        OpSpec("conv2d", F.conv2d, TF.conv2d, shapes=[(2, 3, 7, 7), (4, 3, 3, 3), (4,)],
               kwargs=dict(stride=2, padding=1)),
        OpSpec("conv2d-tuple-args", F.conv2d, TF.conv2d,
               shapes=[(2, 3, 6, 7), (4, 3, 3, 2), (4,)],
               kwargs=dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
        OpSpec("conv2d-same-even-kernel", F.conv2d, TF.conv2d,
               shapes=[(2, 3, 6, 7), (4, 3, 3, 4), (4,)], kwargs=dict(padding="same")),
        OpSpec("conv2d-same-dilated", F.conv2d, TF.conv2d,
               shapes=[(2, 3, 7, 6), (4, 3, 3, 2), None],
               kwargs=dict(padding="same", dilation=(2, 3))),
        # TensorFlow's split: H 6 -> total 1 = (0, 1); W 7 -> total 3 = (1, 2)
        OpSpec("conv2d-same-stride2", F.conv2d, _padded(TF.conv2d, (1, 2, 0, 1), stride=2),
               shapes=[(2, 3, 6, 7), (4, 3, 3, 4), (4,)], kwargs=dict(padding="same", stride=2),
               ref_kwargs={}),
        OpSpec("conv2d-valid", F.conv2d, TF.conv2d, shapes=[(2, 3, 6, 7), (4, 3, 3, 3), (4,)],
               kwargs=dict(padding="valid")),
        OpSpec("conv2d-dilation", F.conv2d, TF.conv2d, shapes=[(2, 3, 8, 8), (4, 3, 3, 3), (4,)],
               kwargs=dict(padding=2, dilation=2)),
        # the lectures' 7x7 input, 3x3 filter, stride 3: (7 - 3)/3 + 1 does not fit; floors to 2
        OpSpec("conv2d-stride-uneven", F.conv2d, TF.conv2d,
               shapes=[(2, 3, 7, 7), (4, 3, 3, 3), (4,)], kwargs=dict(stride=3)),
        OpSpec("conv2d-groups", F.conv2d, TF.conv2d, shapes=[(2, 4, 6, 6), (6, 2, 3, 3), (6,)],
               kwargs=dict(padding=1, groups=2)),
        OpSpec("conv2d-depthwise", F.conv2d, TF.conv2d, shapes=[(2, 4, 6, 6), (8, 1, 3, 3), (8,)],
               kwargs=dict(padding=1, groups=4)),
        OpSpec("conv2d-depthwise-stride2", F.conv2d, TF.conv2d,
               shapes=[(2, 3, 7, 7), (3, 1, 3, 3), None], kwargs=dict(stride=2, groups=3)),
        OpSpec("conv2d-no-bias", F.conv2d, TF.conv2d, shapes=[(2, 3, 6, 6), (4, 3, 3, 3), None]),
        OpSpec("conv2d-1x1", F.conv2d, TF.conv2d, shapes=[(2, 5, 4, 4), (3, 5, 1, 1), (3,)]),
        OpSpec("conv2d-5x5-pad2", F.conv2d, TF.conv2d, shapes=[(2, 1, 8, 8), (3, 1, 5, 5), (3,)],
               kwargs=dict(padding=2)),
        OpSpec("conv2d-batch-of-one", F.conv2d, TF.conv2d,
               shapes=[(1, 2, 5, 5), (3, 2, 3, 3), (3,)], kwargs=dict(padding=1)),
        OpSpec("conv2d-unbatched", F.conv2d, TF.conv2d, shapes=[(2, 5, 5), (3, 2, 3, 3), (3,)],
               kwargs=dict(padding=1)),
    ]
    for mode in ("reflect", "replicate", "circular"):
        rows.append(OpSpec(f"conv2d-{mode}", F.conv2d, _padded(TF.conv2d, (2, 2, 1, 1), mode),
                           shapes=[(2, 3, 6, 6), (4, 3, 3, 3), (4,)],
                           kwargs=dict(padding=(1, 2), padding_mode=mode), ref_kwargs={}))
    rows.append(OpSpec("conv2d-same-reflect-stride2", F.conv2d,
                       _padded(TF.conv2d, (1, 2, 0, 1), "reflect", stride=2),
                       shapes=[(2, 3, 6, 7), (4, 3, 3, 4), (4,)],
                       kwargs=dict(padding="same", stride=2, padding_mode="reflect"),
                       ref_kwargs={}))
    return rows


OPS = [
    # 1D
    OpSpec("conv1d", F.conv1d, TF.conv1d, shapes=[(2, 3, 9), (4, 3, 3), (4,)],
           kwargs=dict(stride=2, padding=1)),
    OpSpec("conv1d-same-dilated", F.conv1d, TF.conv1d, shapes=[(2, 3, 8), (4, 3, 4), (4,)],
           kwargs=dict(padding="same", dilation=2)),
    OpSpec("conv1d-valid-groups", F.conv1d, TF.conv1d, shapes=[(2, 4, 9), (6, 2, 3), None],
           kwargs=dict(padding="valid", groups=2)),
    OpSpec("conv1d-circular", F.conv1d, _padded(TF.conv1d, (2, 2), "circular"),
           shapes=[(2, 3, 7), (4, 3, 5), (4,)], kwargs=dict(padding=2, padding_mode="circular"),
           ref_kwargs={}),
    # 2D
    *_conv2d_rows(),
    # 3D
    OpSpec("conv3d", F.conv3d, TF.conv3d, shapes=[(1, 2, 5, 5, 5), (3, 2, 3, 3, 3), (3,)],
           kwargs=dict(stride=2, padding=1)),
    OpSpec("conv3d-same-dilated-groups", F.conv3d, TF.conv3d,
           shapes=[(2, 4, 4, 5, 4), (4, 2, 2, 3, 2), None],
           kwargs=dict(padding="same", dilation=(1, 2, 1), groups=2)),
    OpSpec("conv3d-replicate", F.conv3d, _padded(TF.conv3d, (1, 1, 1, 1, 1, 1), "replicate"),
           shapes=[(1, 2, 4, 4, 4), (3, 2, 3, 3, 3), (3,)],
           kwargs=dict(padding=1, padding_mode="replicate"), ref_kwargs={}),
    # true convolution (C1): cross-correlation with the kernel flipped
    OpSpec("convolve1d", F.convolve1d, _flipped(TF.conv1d, 1, padding=2),
           shapes=[(2, 2, 7), (3, 2, 3), (3,)], kwargs=dict(padding=2), ref_kwargs={}),
    OpSpec("convolve2d", F.convolve2d, _flipped(TF.conv2d, 2, padding=2, stride=2),
           shapes=[(2, 2, 6, 7), (3, 2, 3, 3), (3,)], kwargs=dict(padding=2, stride=2),
           ref_kwargs={}),
    OpSpec("convolve3d", F.convolve3d, _flipped(TF.conv3d, 3, padding=1),
           shapes=[(1, 2, 4, 4, 4), (2, 2, 2, 3, 2), None], kwargs=dict(padding=1),
           ref_kwargs={}),
    # transposed convolution (C10)
    OpSpec("conv_transpose1d", F.conv_transpose1d, TF.conv_transpose1d,
           shapes=[(2, 4, 5), (4, 3, 3), (3,)], kwargs=dict(stride=2, padding=1,
                                                           output_padding=1)),
    OpSpec("conv_transpose1d-dilated", F.conv_transpose1d, TF.conv_transpose1d,
           shapes=[(2, 4, 5), (4, 2, 3), (2,)],
           kwargs=dict(stride=3, padding=2, dilation=2, output_padding=1)),
    OpSpec("conv_transpose2d", F.conv_transpose2d, TF.conv_transpose2d,
           shapes=[(2, 4, 4, 4), (4, 3, 3, 3), (3,)],
           kwargs=dict(stride=2, padding=1, output_padding=1)),
    OpSpec("conv_transpose2d-k2s2", F.conv_transpose2d, TF.conv_transpose2d,
           shapes=[(2, 4, 3, 3), (4, 2, 2, 2), (2,)], kwargs=dict(stride=2)),
    OpSpec("conv_transpose2d-groups-dilation", F.conv_transpose2d, TF.conv_transpose2d,
           shapes=[(2, 4, 4, 5), (4, 2, 3, 3), (4,)],
           kwargs=dict(padding=1, groups=2, dilation=2)),
    OpSpec("conv_transpose2d-stride1-output-padding", F.conv_transpose2d, TF.conv_transpose2d,
           shapes=[(2, 3, 4, 4), (3, 2, 3, 2), None],
           kwargs=dict(padding=1, dilation=2, output_padding=(1, 0))),
    OpSpec("conv_transpose2d-tuple-args", F.conv_transpose2d, TF.conv_transpose2d,
           shapes=[(2, 4, 3, 4), (4, 3, 3, 2), (6,)],
           kwargs=dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)),
    OpSpec("conv_transpose3d", F.conv_transpose3d, TF.conv_transpose3d,
           shapes=[(1, 4, 3, 3, 3), (4, 2, 3, 3, 3), (2,)],
           kwargs=dict(stride=2, padding=1, output_padding=(1, 0, 1))),
    OpSpec("conv_transpose3d-groups", F.conv_transpose3d, TF.conv_transpose3d,
           shapes=[(1, 4, 2, 3, 2), (4, 1, 2, 2, 2), None], kwargs=dict(stride=2, groups=2)),
]
