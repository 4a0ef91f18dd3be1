"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998, "Gradient-Based Learning Applied to Document
Recognition", Proc. IEEE 86(11)), in its modern form.

The paper's network, layer by layer (its Fig. 2), on a 32x32 image::

    C1  conv 5x5, 6 maps          6@28x28
    S2  subsampling 2x2           6@14x14
    C3  conv 5x5, 16 maps         16@10x10   (each map sees a subset of S2's maps: Table I)
    S4  subsampling 2x2           16@5x5
    C5  conv 5x5, 120 maps        120@1x1    (a full connection to S4's 400 values)
    F6  full, 84 units
    output: 10 Euclidean RBF units

The modern version keeps the shape and changes the parts later work replaced: ReLU instead of the
scaled tanh, max pooling instead of trainable subsampling, full connections in C3, and a linear
layer with softmax cross-entropy instead of the RBF output. MNIST-style inputs are 28x28, so C1
pads by 2 to give the paper's 32x32 field (the paper itself padded the 20x20 digits to 32x32 so
that strokes reach the centre of C5's receptive fields).

Parameters (61,706 with 10 classes and one input channel)::

    C1  6 * (1 * 5 * 5 + 1)    =    156
    C3  16 * (6 * 5 * 5 + 1)   =  2,416
    C5  120 * (16 * 5 * 5 + 1) = 48,120
    F6  84 * (120 + 1)         = 10,164
    out 10 * (84 + 1)          =    850

:class:`LeNet5_1998` is the network as published: scaled tanh, trainable subsampling, C3's
connection table and the RBF output.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from ..nn._checks import check, int_tuple
from ..nn.layers import empty_parameter, is_int

__all__ = ["LeNet5", "lenet5", "LeNet5_1998", "lenet5_1998", "TableConv2d", "C3_TABLE"]


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max pooling; layers named as in the paper.

    Args:
        num_classes: outputs of the last layer (logits).
        in_channels: channels of the input image (1 for grey, 3 for RGB).

    Shapes:
        (N, in_channels, 28, 28) -> (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 6, 5, padding=2)  # (N, 6, 28, 28)
        self.s2 = nn.MaxPool2d(2)                           # (N, 6, 14, 14)
        self.c3 = nn.Conv2d(6, 16, 5)                       # (N, 16, 10, 10)
        self.s4 = nn.MaxPool2d(2)                           # (N, 16, 5, 5)
        self.flatten = nn.Flatten()                         # (N, 400)
        self.c5 = nn.Linear(16 * 5 * 5, 120)  # the paper's 5x5 conv on a 5x5 map: a full layer
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.s2(self.relu(self.c1(x)))
        x = self.s4(self.relu(self.c3(x)))
        x = self.relu(self.c5(self.flatten(x)))
        x = self.relu(self.f6(x))
        return self.output(x)


def lenet5(num_classes: int = 10, in_channels: int = 1) -> LeNet5:
    """Modern LeNet-5 for 28x28 images: ReLU, max pooling, 61,706 parameters for 10 classes.

    Example::

        model = lenet5()
        logits = model(striate.randn(8, 1, 28, 28))     # (8, 10)
    """
    return LeNet5(num_classes=num_classes, in_channels=in_channels)


# ---------------------------------------------------------------------------------------------
# LeNet-5 as published
# ---------------------------------------------------------------------------------------------
# Table I of the paper: an X where the S2 map of the row feeds the C3 map of the column. C3 maps
# 0-5 read three neighbouring S2 maps, 6-11 four neighbouring ones, 12-14 four non-neighbouring
# ones and map 15 all six: "to break the symmetry in the network" so that the maps learn
# different features, and to keep the number of connections "within reasonable bounds".
C3_TABLE = """
    X . . . X X X . . X X X X . X X
    X X . . . X X X . . X X X X . X
    X X X . . . X X X . . X . X X X
    . X X X . . X X X X . . X . X X
    . . X X X . . X X X X . X X . X
    . . . X X X . . X X X X . X X X
"""


def parse_table(text: str) -> np.ndarray:
    """A connection table drawn with ``X`` (connected) and ``.`` (not) as a (rows, columns)
    boolean array; ``parse_table(C3_TABLE)`` is (6, 16)."""
    rows = [line.split() for line in text.strip().splitlines()]
    return np.array([[mark == "X" for mark in row] for row in rows])


def _lecun_uniform_(weight, bias, fan_in) -> None:
    """LeNet's initialisation (appendix A): U(-2.4 / F, 2.4 / F), F the fan-in of the unit, so
    that the weighted sums start in the scaled tanh's steep middle."""
    for p in (weight, bias):
        nn.init.uniform_(p, -2.4 / fan_in, 2.4 / fan_in)


class TableConv2d(nn.Module):
    """A convolution whose output map k reads only the input maps that ``table[:, k]`` marks
    (LeNet-5's C3)::

        y[n, k] = b[k] + sum over c with table[c, k] of (x[n, c] correlated with w_ck)

    Each X of the table is one KH x KW kernel, so the layer has ``table.sum() * KH * KW + K``
    parameters (C3: 60 * 25 + 16 = 1,516) where a full convolution has ``C * K * KH * KW + K``
    (2,416). The forward places the kernels in a dense (K, C, KH, KW) weight that is zero where
    the table is empty and runs an ordinary convolution: a missing connection is not a parameter,
    so no gradient, optimiser step or weight decay can reach it.

    Args:
        table: (C, K) booleans, input maps by output maps; every output map needs an input.
        kernel_size: an int or (KH, KW).

    Shapes:
        input (N, C, H, W); output (N, K, H - KH + 1, W - KW + 1).

    Parameters:
        weight (connections, KH, KW): one kernel per X, output map by output map (column by
            column of the table), input maps in increasing order within each;
        bias (K,). Both drawn as LeNet's: U(-2.4 / F, 2.4 / F), F = the map's inputs * KH * KW.
    """

    def __init__(self, table, kernel_size=5):
        super().__init__()
        table = np.asarray(table)
        if table.dtype != np.bool_ or table.ndim != 2:
            raise TypeError(f"TableConv2d: table must be a 2-D boolean array (input maps, output "
                            f"maps), got {table.dtype} of shape {table.shape}")
        unread = np.flatnonzero(~table.any(axis=0)).tolist()
        if unread:
            raise ValueError(f"TableConv2d: table must give every output map (column) an input, "
                             f"got none for output maps {unread}")
        self.table = table
        self.in_channels, self.out_channels = table.shape
        self.kernel_size = int_tuple("TableConv2d", "kernel_size", kernel_size, 2)
        outs, ins = np.nonzero(table.T)  # connection i joins input map ins[i] to output outs[i]
        # where each (output, input) pair finds its kernel: a connection's number, or the extra
        # zero kernel at the end (number len(outs)) for a pair the table leaves out
        self._kernel_index = np.full((self.out_channels, self.in_channels), len(outs))
        self._kernel_index[outs, ins] = np.arange(len(outs))
        self._outs = outs
        self.weight = empty_parameter(len(outs), *self.kernel_size)
        self.bias = empty_parameter(self.out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.table.sum(axis=0) * int(np.prod(self.kernel_size))  # (K,)
        nn.init.uniform_(self.weight, -1.0, 1.0)
        self.weight.data *= (2.4 / fan_in[self._outs])[:, None, None].astype(self.weight.dtype)
        nn.init.uniform_(self.bias, -1.0, 1.0)
        self.bias.data *= (2.4 / fan_in).astype(self.bias.dtype)

    def dense_weight(self):
        """The (K, C, KH, KW) weight of the equal full convolution, zero off the table."""
        padded = F.pad(self.weight, (0, 0, 0, 0, 0, 1))  # one zero kernel after the last
        return padded[self._kernel_index]

    def forward(self, x):
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"connections={len(self._outs)}")


class LeNet5_1998(nn.Module):
    """LeNet-5 as published (LeCun, Bottou, Bengio and Haffner 1998, Proc. IEEE, section II.B).

    Every layer up to F6 squashes its weighted sums with the scaled tanh 1.7159 tanh(2a / 3)::

        input padded to 32x32                 C@32x32
        C1  conv 5x5, 6 maps                  6@28x28
        S2  trainable 2x2 subsampling         6@14x14    (2 parameters per map)
        C3  conv 5x5, 16 maps, Table I        16@10x10   (60 of the 96 map pairs connected)
        S4  trainable 2x2 subsampling         16@5x5
        C5  conv 5x5, 120 maps                120@1x1    (a convolution: larger inputs give
                                                          larger maps)
        F6  full, 84 units                    84
        output: Euclidean RBF units           num_classes

    Parameters (60,000 with one input channel, the paper's "60,000 trainable parameters")::

        C1  6 * (1 * 5 * 5 + 1)        =    156
        S2  6 * 2                      =     12
        C3  60 * 5 * 5 + 16            =  1,516   (Table I's 60 connections)
        S4  16 * 2                     =     32
        C5  120 * (16 * 5 * 5 + 1)     = 48,120
        F6  84 * (120 + 1)             = 10,164
        RBF 10 * 84 centres, fixed     =      0   (a buffer in the state_dict, not trained)

    The RBF output y_i = sum_j (x_j - w_ij)^2 is the squared distance from F6's 84 values to the
    centre of class i. The paper drew the centres as 7x12 bitmaps of the characters and kept them
    fixed; Fashion-MNIST's classes have no such drawing, so the centres are the alternative the
    paper names: random codes of -1 and +1 (drawn from the global seed and saved in checkpoints).

    Loss: the model returns ``-y``, minus the squared distances, as logits, and trains with the
    ordinary softmax cross-entropy. That is the paper's criterion (section II.C, eq. 9),
    E = y_D + log(exp(-j) + sum_i exp(-y_i)), without the constant j of a "rubbish" class
    (j -> infinity): both pull the correct centre's distance down and push the others up, and
    cross-entropy keeps the standard training path (``striate train lenet5_1998``). The
    prediction, the largest logit, is the nearest centre, as in the paper.

    Smaller inputs are zero-padded to the paper's 32x32 field (28x28 by 2 on each side; the
    paper likewise extended its 28x28 digits to 32x32 so that strokes reach the centres of C5's
    receptive fields). The paper padded with background pixels; zero here is the data's mean
    after the usual normalisation. Weights start as the paper's U(-2.4 / F, 2.4 / F).

    Args:
        num_classes: RBF units (logits).
        in_channels: channels of the input image.

    Shapes:
        (N, in_channels, H, W) with H, W <= 32 -> (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        for arg, v in (("num_classes", num_classes), ("in_channels", in_channels)):
            check("LeNet5_1998", arg, v, is_int(v) and v > 0, "a positive int")
        self.c1 = nn.Conv2d(in_channels, 6, 5)
        self.s2 = nn.Subsampling2d(6, 2)
        self.c3 = TableConv2d(parse_table(C3_TABLE), 5)
        self.s4 = nn.Subsampling2d(16, 2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.flatten = nn.Flatten()
        self.f6 = nn.Linear(120, 84)
        self.output = nn.RBFOutput(84, num_classes, trainable=False)
        self.squash = nn.LeCunTanh()
        for layer in (self.c1, self.c5, self.f6):
            _lecun_uniform_(layer.weight, layer.bias, int(np.prod(layer.weight.shape[1:])))

    def _pad_to_field(self, x):
        """Zero-pad (N, C, H, W) to (N, C, 32, 32), centred (an odd extra row/column goes last)."""
        if x.ndim != 4 or x.shape[2] > 32 or x.shape[3] > 32:
            raise ValueError(f"LeNet5_1998: input must be (N, C, H, W) with H, W <= 32 (the "
                             f"paper's 32x32 input field), got shape {tuple(x.shape)}")
        dh, dw = 32 - x.shape[2], 32 - x.shape[3]
        if dh == dw == 0:
            return x
        return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))

    def forward(self, x):
        x = self._pad_to_field(x)                   # (N, C, 32, 32)
        x = self.squash(self.c1(x))                 # (N, 6, 28, 28)
        x = self.squash(self.s2(x))                 # (N, 6, 14, 14)
        x = self.squash(self.c3(x))                 # (N, 16, 10, 10)
        x = self.squash(self.s4(x))                 # (N, 16, 5, 5)
        x = self.squash(self.c5(x))                 # (N, 120, 1, 1)
        x = self.squash(self.f6(self.flatten(x)))   # (N, 84)
        return -self.output(x)                      # (N, num_classes): the nearest centre wins


def lenet5_1998(num_classes: int = 10, in_channels: int = 1) -> LeNet5_1998:
    """LeNet-5 as published, 60,000 trainable parameters; logits are minus the RBF distances.

    Example::

        model = lenet5_1998()
        logits = model(striate.randn(8, 1, 28, 28))     # (8, 10), padded to 32x32 inside
    """
    return LeNet5_1998(num_classes=num_classes, in_channels=in_channels)
