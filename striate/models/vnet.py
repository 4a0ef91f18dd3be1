"""V-Net (Milletari, Navab and Ahmadi 2016, "V-Net: Fully Convolutional Neural Networks for
Volumetric Medical Image Segmentation", 3DV), for 3-D volumes.

V-Net is a volumetric U-Net whose stages learn residuals. The paper's network (its Fig. 1), level
l = 0..depth-1 with width w_l = base_width * 2^l (16, 32, 64, 128, then 256 at the bottom)::

    compression stage l: 1, 2, 3, 3 convs 5x5x5 (w_l), the stage's input added to the output
                         of its last conv (the residual)
    down-convolution:    2x2x2 conv, stride 2, w_l -> w_{l+1} (replaces pooling: halves the
                         resolution, doubles the channels, and keeps a gradient for every voxel)
    bottom stage:        3 convs, w_depth
    decompression stage l (deepest first): 2x2x2 up-convolution (transposed, stride 2) to w_l,
                         concatenated with the compression stage's output -> 2 w_l channels,
                         then 3, 3, 2, 1 convs (2 w_l) with the residual
    1x1x1 conv to the classes; the paper's softmax and Dice loss (see :func:`~striate.functional.
    dice_loss`, ``squared=True`` being the paper's form)

Every conv except the last of a stage is followed by the activation; the last one's output plus
the stage input goes through it (as in the residual blocks of He et al. 2016). The first stage's
input has ``in_channels`` channels, not w_0: it is repeated along the channel axis to w_0 when
w_0 is a multiple of it (what the authors' implementation does with its one-channel MRI), and
projected by a 1x1x1 conv otherwise.

Departures, for a CPU: the paper's activation is PReLU, which Striate does not have; ELU (the
default; like PReLU it keeps a gradient for negative inputs) or ReLU replaces it.
``kernel_size=3`` cuts the cost of every conv by 125 / 27; the registered ``vnet`` uses it with
``base_width=8`` and ``depth=3`` on 16x16x16 volumes. ``batch_norm`` (off by default, as in the
paper) puts a BatchNorm3d after every conv.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["VNet", "ResidualStage", "vnet", "stage_convs"]

_ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}


def stage_convs(level: int) -> int:
    """Convolutions in the stages of ``level``: 1, 2, then 3 (Fig. 1's 1-2-3-3-3)."""
    return min(level + 1, 3)


def _conv_norm(conv, channels: int, batch_norm: bool, activation: str | None) -> list:
    layers = [conv]
    if batch_norm:
        layers.append(nn.BatchNorm3d(channels))
    if activation is not None:
        layers.append(_ACTIVATIONS[activation]())
    return layers


class ResidualStage(nn.Module):
    """``num_convs`` convolutions k x k x k (padded: the size is kept) learning a residual:
    ``activation(convs(x) + shortcut(x))``.

    Args:
        in_channels, channels: the stage's input and output channels.
        num_convs: the convolutions in the stage.
        kernel_size: k (the paper's 5).
        activation: ``"elu"`` or ``"relu"``.
        batch_norm: a BatchNorm3d after every conv.

    The shortcut is the identity when ``in_channels == channels``, the input repeated along the
    channel axis when ``channels`` is a multiple of ``in_channels``, and a 1x1x1 conv
    (``projection``) otherwise.
    """

    def __init__(self, in_channels: int, channels: int, num_convs: int, kernel_size: int = 5,
                 activation: str = "elu", batch_norm: bool = False):
        super().__init__()
        layers = []
        for i in range(num_convs):
            conv = nn.Conv3d(in_channels if i == 0 else channels, channels, kernel_size,
                             padding=kernel_size // 2, bias=not batch_norm)
            last = i == num_convs - 1  # its activation comes after the residual sum
            layers += _conv_norm(conv, channels, batch_norm, None if last else activation)
        self.convs = nn.Sequential(*layers)
        self.in_channels, self.channels = in_channels, channels
        self.projection = (None if channels % in_channels == 0
                           else nn.Conv3d(in_channels, channels, 1, bias=False))
        self.act = _ACTIVATIONS[activation]()

    def shortcut(self, x):
        """The stage input brought to ``channels`` channels."""
        if self.projection is not None:
            return self.projection(x)
        repeats = self.channels // self.in_channels
        return x if repeats == 1 else F.cat([x] * repeats, dim=1)

    def forward(self, x):
        return self.act(self.convs(x) + self.shortcut(x))


def _check_int(arg: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"VNet: {arg} must be an int >= {low}, got {value!r}")


class VNet(nn.Module):
    """V-Net: residual compression and decompression stages, strided-conv down-sampling,
    transposed-conv up-sampling and skip concatenations, on volumes.

    Args:
        in_channels: channels of the input volume.
        num_classes: output channels: 1 for binary segmentation (one logit per voxel, sigmoid),
            C >= 2 for a softmax over C classes (the paper's 2).
        base_width: channels of the first stage (the paper's 16).
        depth: number of down-convolutions (the paper's 4).
        kernel_size: of the stages' convolutions, odd (the paper's 5; 3 is cheaper).
        activation: ``"elu"`` (default) or ``"relu"`` (in place of the paper's PReLU).
        batch_norm: a BatchNorm3d after every conv (not in the paper).

    Shapes:
        (N, in_channels, D, H, W) -> (N, num_classes, D, H, W); D, H and W multiples of
        ``2**depth``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, base_width: int = 16,
                 depth: int = 4, kernel_size: int = 5, activation: str = "elu",
                 batch_norm: bool = False):
        super().__init__()
        for arg, value, low in (("in_channels", in_channels, 1), ("num_classes", num_classes, 1),
                                ("base_width", base_width, 1), ("depth", depth, 1),
                                ("kernel_size", kernel_size, 1)):
            _check_int(arg, value, low)
        if kernel_size % 2 == 0:
            raise ValueError(f"VNet: kernel_size must be odd (padded convs keep the size), "
                             f"got {kernel_size}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"VNet: activation must be one of {sorted(_ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.depth, self.in_channels = depth, in_channels
        w = [base_width * 2**level for level in range(depth + 1)]
        options = dict(kernel_size=kernel_size, activation=activation, batch_norm=batch_norm)
        self.encoders = nn.ModuleList([
            ResidualStage(in_channels if l == 0 else w[l], w[l], stage_convs(l), **options)
            for l in range(depth)])
        self.downs = nn.ModuleList([
            nn.Sequential(*_conv_norm(nn.Conv3d(w[l], w[l + 1], 2, stride=2, bias=not batch_norm),
                                      w[l + 1], batch_norm, activation))
            for l in range(depth)])
        self.bottom = ResidualStage(w[depth], w[depth], stage_convs(depth), **options)
        levels = range(depth - 1, -1, -1)  # deepest first
        # the up-convolution's input: the bottom's w_depth channels, or the 2 w_{l+1} of the
        # decompression stage below
        ups = []
        for l in levels:
            up = nn.ConvTranspose3d(2 * w[l + 1] if l < depth - 1 else w[depth], w[l], 2,
                                    stride=2, bias=not batch_norm)
            ups.append(nn.Sequential(*_conv_norm(up, w[l], batch_norm, activation)))
        self.ups = nn.ModuleList(ups)
        self.decoders = nn.ModuleList([
            ResidualStage(2 * w[l], 2 * w[l], stage_convs(l), **options) for l in levels])
        self.head = nn.Conv3d(2 * w[0], num_classes, 1)

    def _check_input(self, x) -> None:
        name = f"VNet(depth={self.depth})"
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"{name}: expected input (N, {self.in_channels}, D, H, W), "
                             f"got shape {tuple(x.shape)}")
        if any(s % 2**self.depth for s in x.shape[2:]):
            raise ValueError(f"{name}: input depth, height and width must be multiples of "
                             f"2**depth = {2**self.depth} (every down-convolution halves them "
                             f"exactly), got {tuple(x.shape[2:])}")

    def forward(self, x):
        self._check_input(x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.bottom(x)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = decoder(F.cat([skip, up(x)], dim=1))
        return self.head(x)


def vnet(num_classes: int = 1, in_channels: int = 1, base_width: int = 8, depth: int = 3,
         kernel_size: int = 3, activation: str = "elu", batch_norm: bool = False) -> VNet:
    """The registered V-Net, sized for a CPU: 3x3x3 convs, base width 8, depth 3 (8-16-32-64
    channels), for 16x16x16 volumes; ``vnet(num_classes=2, base_width=16, depth=4,
    kernel_size=5)`` is the paper's layout (with ELU for PReLU).

    Example::

        model = vnet()
        logits = model(striate.randn(2, 1, 16, 16, 16))   # (2, 1, 16, 16, 16)
    """
    return VNet(in_channels, num_classes, base_width, depth, kernel_size, activation, batch_norm)
