"""Network building blocks: residual blocks (checklist R6) and the Inception module (R7).

Attribute names follow torchvision (``conv1``, ``bn1``, ``downsample.0``; ``branch2.0.conv``,
``branch2.0.bn``), so a ResNet or GoogLeNet assembled from these blocks has torchvision's
``state_dict`` keys and loads its weights as they are.

Residual learning (He et al. 2016, "Deep Residual Learning for Image Recognition"): a block learns
the residual F(x) = H(x) - x and outputs relu(F(x) + shortcut(x)). The shortcut is the identity
when input and output shapes agree; when the block halves the resolution (stride 2) or changes
the width, the paper offers (A) the identity on a subsampled input with zero-padded extra
channels (no parameters; its CIFAR ResNets) or (B) a projection W_s x, a 1x1 convolution with the
stride followed by batch normalisation (torchvision's ImageNet ResNets). Without any shortcut the
block is the "plain" network of the paper's degradation experiment, where deeper trains worse.
"""
from __future__ import annotations

from .. import functional as F
from .activation import ReLU
from .conv import Conv2d
from .dropout import Dropout
from .linear import Identity, Linear
from .module import Module, Sequential
from .normalization import BatchNorm2d, batch_norm_relu
from .pooling import MaxPool2d

__all__ = ["conv3x3", "conv1x1", "ZeroPadShortcut", "BasicBlock", "Bottleneck", "BasicConv2d",
           "Inception", "InceptionAux"]

_SHORTCUTS = ("projection", "identity", "none")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> Conv2d:
    """3x3 convolution, padding 1, no bias (the batch norm after it has one)."""
    return Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> Conv2d:
    """1x1 convolution without bias: mixes channels, changes the width cheaply."""
    return Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class ZeroPadShortcut(Module):
    """The paper's option (A) shortcut: x subsampled by ``stride``, extra channels filled with 0.

    (N, C_in, H, W) -> (N, C_out, ceil(H / s), ceil(W / s)); the first C_in output channels are
    x[:, :, ::s, ::s], the remaining C_out - C_in are zeros. No parameters.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int = 1):
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"ZeroPadShortcut: out_planes ({out_planes}) must be at least "
                             f"in_planes ({in_planes})")
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        s = self.stride
        if s != 1:
            x = x[:, :, ::s, ::s]
        extra = self.out_planes - self.in_planes
        return F.pad(x, (0, 0, 0, 0, 0, extra)) if extra else x

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


def _shortcut(block: str, shortcut: str, downsample, in_planes: int, out_planes: int,
              stride: int):
    """The ``downsample`` module of a block: the given one, or one built for ``shortcut``."""
    if shortcut not in _SHORTCUTS:
        raise ValueError(f"{block}: shortcut must be one of {_SHORTCUTS}, got {shortcut!r}")
    if downsample is not None:
        if shortcut == "none":
            raise ValueError(f"{block}: shortcut='none' (a plain block) takes no downsample")
        return downsample
    if shortcut == "none" or (stride == 1 and in_planes == out_planes):
        return None
    if shortcut == "identity":
        return ZeroPadShortcut(in_planes, out_planes, stride)
    return Sequential(conv1x1(in_planes, out_planes, stride), BatchNorm2d(out_planes))


def _conv3x3_maybe_normed(in_planes: int, out_planes: int, stride: int, batch_norm: bool):
    """A 3x3 convolution, padding 1, without bias when a batch norm (with its shift) follows."""
    return Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=not batch_norm)


class BasicBlock(Module):
    """ResNet's basic block: two 3x3 convolutions, each followed by batch norm (ResNet-18/34, the
    CIFAR ResNets)::

        out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

    Args:
        in_planes: input channels.
        planes: output channels (``expansion`` = 1).
        stride: stride of conv1 (2 halves the resolution).
        downsample: an explicit shortcut module (torchvision's argument); default: built from
            ``shortcut`` when the shape changes, the identity otherwise.
        shortcut: ``"projection"`` (option B: 1x1 conv with stride + BN, named
            ``downsample.0``/``downsample.1``), ``"identity"`` (option A:
            :class:`ZeroPadShortcut`, no parameters) or ``"none"`` (a plain block, no shortcut).
        batch_norm: False replaces bn1 and bn2 by identities and gives the convolutions a bias
            (the ablation of batch normalisation; a projection shortcut keeps its BN).

    Shapes:
        (N, in_planes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample=None,
                 shortcut: str = "projection", batch_norm: bool = True):
        super().__init__()
        self.conv1 = _conv3x3_maybe_normed(in_planes, planes, stride, batch_norm)
        self.bn1 = BatchNorm2d(planes) if batch_norm else Identity()
        self.relu = ReLU(inplace=True)
        self.conv2 = _conv3x3_maybe_normed(planes, planes, 1, batch_norm)
        self.bn2 = BatchNorm2d(planes) if batch_norm else Identity()
        self.downsample = _shortcut("BasicBlock", shortcut, downsample, in_planes,
                                    planes * self.expansion, stride)
        self.stride, self.shortcut = stride, shortcut

    def forward(self, x):
        out = batch_norm_relu(self.bn1, self.relu, self.conv1(x))
        out = self.bn2(self.conv2(out))
        if self.shortcut != "none":
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(Module):
    """ResNet's bottleneck block (ResNet-50/101/152): 1x1 reduce, 3x3, 1x1 expand by 4::

        out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))

    The 1x1 convolutions shrink the width to ``planes`` for the expensive 3x3 and restore
    ``4 * planes`` after it, so a block costs about as much as a basic block on a quarter of the
    channels. As in torchvision ("ResNet v1.5"), the stride sits on the 3x3 convolution; the
    paper put it on the first 1x1, which skips three quarters of the input.

    Args:
        in_planes: input channels.
        planes: the bottleneck width; the output has ``planes * 4`` channels.
        stride, downsample, shortcut: as :class:`BasicBlock`.
        groups, base_width: ResNeXt / wide ResNet widths, as torchvision: the 3x3 has
            ``int(planes * base_width / 64) * groups`` channels in ``groups`` groups.
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample=None,
                 shortcut: str = "projection", groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(in_planes, width)
        self.bn1 = BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = BatchNorm2d(planes * self.expansion)
        self.relu = ReLU(inplace=True)
        self.downsample = _shortcut("Bottleneck", shortcut, downsample, in_planes,
                                    planes * self.expansion, stride)
        self.stride, self.shortcut = stride, shortcut

    def forward(self, x):
        out = batch_norm_relu(self.bn1, self.relu, self.conv1(x))
        out = batch_norm_relu(self.bn2, self.relu, self.conv2(out))
        out = self.bn3(self.conv3(out))
        if self.shortcut != "none":
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class BasicConv2d(Module):
    """torchvision's GoogLeNet unit: conv (no bias) -> batch norm (eps 0.001) -> ReLU.

    With ``batch_norm=False`` it is the 2014 paper's unit instead: conv with bias -> ReLU
    (batch normalisation came a year later, with Inception v2).

    Args:
        in_channels, out_channels: as :class:`Conv2d`.
        batch_norm: insert the batch norm (attribute ``bn``).
        **kwargs: kernel_size, stride, padding, ... for the Conv2d (attribute ``conv``).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, **kwargs):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, bias=not batch_norm, **kwargs)
        self.bn = BatchNorm2d(out_channels, eps=0.001) if batch_norm else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is None:
            return F.relu(x)
        y = self.bn.fused_relu(x)  # relu(bn(x)) as one op when it may be
        return F.relu(self.bn(x)) if y is None else y


class Inception(Module):
    """GoogLeNet's Inception module (Szegedy et al. 2015, "Going Deeper with Convolutions").

    Four parallel branches over the same input, concatenated on the channel axis:

    - ``branch1``: 1x1 convolution (``ch1x1`` channels);
    - ``branch2``: 1x1 reduction to ``ch3x3red``, then 3x3 (``ch3x3``);
    - ``branch3``: 1x1 reduction to ``ch5x5red``, then 5x5 (``ch5x5``);
    - ``branch4``: 3x3 max pooling, stride 1, padding 1, then a 1x1 projection (``pool_proj``).

    The 1x1 reductions keep the large convolutions cheap. Output channels:
    ``ch1x1 + ch3x3 + ch5x5 + pool_proj`` (:attr:`out_channels`); the spatial size is kept.

    torchvision's GoogLeNet uses a 3x3 convolution in branch3 (a known slip kept so its
    pretrained weights still load, pytorch/vision issue 906); the default here is the paper's
    5x5 (padding 2). Pass ``branch3_kernel_size=3`` to build torchvision's module and load its
    weights.

    Args:
        in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: the widths of the
            paper's table 1 (e.g. inception (3a): 192, 64, 96, 128, 16, 32, 32).
        branch3_kernel_size: 5 (the paper) or 3 (torchvision).
        batch_norm: each convolution is :class:`BasicConv2d` with (torchvision) or without (the
            paper) batch normalisation.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, branch3_kernel_size: int = 5,
                 batch_norm: bool = True):
        super().__init__()
        if branch3_kernel_size not in (3, 5):
            raise ValueError(f"Inception: branch3_kernel_size must be 5 (the paper) or 3 "
                             f"(torchvision), got {branch3_kernel_size!r}")
        bn = batch_norm
        k = branch3_kernel_size
        self.branch1 = BasicConv2d(in_channels, ch1x1, bn, kernel_size=1)
        self.branch2 = Sequential(BasicConv2d(in_channels, ch3x3red, bn, kernel_size=1),
                                  BasicConv2d(ch3x3red, ch3x3, bn, kernel_size=3, padding=1))
        self.branch3 = Sequential(BasicConv2d(in_channels, ch5x5red, bn, kernel_size=1),
                                  BasicConv2d(ch5x5red, ch5x5, bn, kernel_size=k, padding=k // 2))
        self.branch4 = Sequential(MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                  BasicConv2d(in_channels, pool_proj, bn, kernel_size=1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return F.cat(branches, dim=1)


class InceptionAux(Module):
    """GoogLeNet's auxiliary classifier (R7), attached to inception (4a) and (4d) in training;
    its loss is added with weight 0.3 and it is dropped at inference.

    Average pooling to 4x4 (the paper's 5x5 / stride 3 on a 14x14 map gives the same grid;
    torchvision pools adaptively), a 1x1 convolution to 128 channels, a 1024-unit fully connected
    layer with ReLU, dropout 0.7 and the class scores. Names as torchvision: conv, fc1, fc2.

    Args:
        in_channels, num_classes: input channels, outputs (logits).
        dropout: the drop probability before fc2.
        batch_norm: as :class:`BasicConv2d`.
        conv_channels, hidden: the widths of the 1x1 convolution (128) and of fc1 (1024);
            smaller for a narrow GoogLeNet.

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7,
                 batch_norm: bool = True, conv_channels: int = 128, hidden: int = 1024):
        super().__init__()
        self.conv = BasicConv2d(in_channels, conv_channels, batch_norm, kernel_size=1)
        self.fc1 = Linear(conv_channels * 4 * 4, hidden)
        self.fc2 = Linear(hidden, num_classes)
        self.dropout = Dropout(p=dropout)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = F.flatten(self.conv(x), 1)        # (N, conv_channels * 4 * 4) = (N, 2048)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)
