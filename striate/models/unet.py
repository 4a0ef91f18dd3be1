"""U-Net (Ronneberger, Fischer and Brox 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI, LNCS 9351), for 2-D images.

The paper's network (its Fig. 1) maps an image to one score per pixel and class::

    contracting path, level l = 0..depth-1, width w_l = base_width * 2^l:
        two 3x3 convs + ReLU, w_l          (kept for the skip connection)
        2x2 max pooling, stride 2          (halves the resolution)
    bottom: two 3x3 convs + ReLU, w_depth
    expanding path, level l = depth-1..0:
        2x2 up-convolution, w_{l+1} -> w_l (a transposed conv, stride 2: doubles the resolution)
        concatenate with the skip of level l          -> 2 w_l channels
        two 3x3 convs + ReLU, w_l
    1x1 conv to num_classes: the per-pixel logits

The paper has ``depth=4`` and ``base_width=64`` (64 ... 1024 channels, 31.0M parameters) and
unpadded ("valid") convolutions, so each 3x3 conv trims a pixel from every border: a 572x572 tile
gives a 388x388 map, and each skip is centre-cropped to the up-sampled size before the
concatenation (the crop the paper draws as dashed boxes; the output-tile/overlap strategy then
covers large images). ``padding="same"`` (the default here, and the usual modern form) pads every
3x3 conv by one pixel so that the output has the input's size; the input's height and width must
then be multiples of ``2**depth``. ``batch_norm=True`` (the default; the paper predates batch
normalisation) puts a BatchNorm2d between each 3x3 conv and its ReLU, which lets a small net train
quickly with Adam.

``num_classes=1`` gives one logit channel for a binary task (foreground probability
``sigmoid(logit)``, the loss BCE and/or Dice); ``num_classes=C >= 2`` gives C channels for a softmax
over classes (the paper's pixel-wise soft-max with cross-entropy).

Parameters, with k = base_width, 3x3 convs of c -> c' costing c' (9 c + 1) (``batch_norm``: 9 c c'
+ 2 c', the conv loses its bias and the norm adds a scale and a shift), a 2x2 up-convolution of
2c -> c costing 4 (2c) c + c, and the head k * num_classes + num_classes. With the paper's
setting (in_channels=1, num_classes=2, k=64, depth=4, no batch norm)::

    contracting  37,568 + 221,440 + 885,248 + 3,539,968     (levels 0-3)
    bottom       14,157,824
    expanding    9,176,576 + 2,294,528 + 573,824 + 143,552  (levels 3-0, up-conv included)
    head         130                                        total 31,030,658

The default ``base_width=16`` is a CPU setting (1.9M parameters at depth 4; the registered
``unet`` uses depth 3, 0.48M, on 64x64 images).
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["UNet", "unet", "unet_output_size", "double_conv"]

_PADDINGS = ("same", "valid")


def double_conv(in_channels: int, out_channels: int, padding: str = "same",
                batch_norm: bool = True) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by (batch norm and) ReLU: one level of either path.

    ``padding="same"`` keeps the size; ``"valid"`` trims 2 pixels from each dimension per conv.
    """
    layers = []
    for c_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1 if padding == "same" else 0,
                                bias=not batch_norm))  # the norm's shift replaces the bias
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def unet_output_size(size: int, depth: int, padding: str = "same"):
    """The output size along one axis for an input of ``size`` pixels, or ``None`` if it does not
    fit (a pooling would meet an odd size, or a map would vanish).

    ``same``: ``size`` itself when it is a multiple of ``2**depth``. ``valid``: each double conv
    trims 4 pixels, each pooling halves, each up-convolution doubles; 572 -> 388 at depth 4.
    """
    if padding == "same":
        return size if size > 0 and size % 2**depth == 0 else None
    for _ in range(depth):
        size -= 4
        if size <= 0 or size % 2:
            return None
        size //= 2
    size -= 4
    for _ in range(depth):
        if size <= 0:
            return None
        size = 2 * size - 4
    return size if size > 0 else None


def _center_crop(x, size):
    """The centre ``size = (H, W)`` window of ``x`` (N, C, H', W'), the paper's skip crop."""
    top, left = (x.shape[2] - size[0]) // 2, (x.shape[3] - size[1]) // 2
    if (top, left) == (0, 0) and tuple(x.shape[2:]) == tuple(size):
        return x
    return x[:, :, top:top + size[0], left:left + size[1]]


def _check_int(arg: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"UNet: {arg} must be an int >= {low}, got {value!r}")


class UNet(nn.Module):
    """U-Net: a contracting and an expanding path of double 3x3 convs, joined by skips.

    Args:
        in_channels: channels of the input image.
        num_classes: output channels: 1 for binary segmentation (one logit per pixel), C >= 2
            for a softmax over C classes.
        base_width: channels of the first level (the paper's 64); level l has
            ``base_width * 2**l``.
        depth: number of 2x2 poolings (the paper's 4).
        padding: ``"same"`` (padded convs, output size = input size, sizes multiples of
            ``2**depth``) or ``"valid"`` (the paper's unpadded convs with cropped skips; see
            :func:`unet_output_size`).
        batch_norm: batch norm after every 3x3 conv (not in the paper).

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes, H', W'); H' = H with ``"same"``, and
        ``unet_output_size(H, depth, "valid")`` with ``"valid"``.

    Modules:
        ``encoders[l]``, ``bottleneck``, ``upconvs[i]`` and ``decoders[i]`` (i = 0 is the deepest
        level), ``head``: the same names in a PyTorch twin load the ``state_dict`` as is.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 1, base_width: int = 16,
                 depth: int = 4, padding: str = "same", batch_norm: bool = True):
        super().__init__()
        for arg, value, low in (("in_channels", in_channels, 1), ("num_classes", num_classes, 1),
                                ("base_width", base_width, 1), ("depth", depth, 1)):
            _check_int(arg, value, low)
        if padding not in _PADDINGS:
            raise ValueError(f"UNet: padding must be one of {_PADDINGS}, got {padding!r}")
        self.depth, self.padding, self.in_channels = depth, padding, in_channels
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.widths = widths
        inputs = [in_channels] + widths[:depth - 1]
        self.encoders = nn.ModuleList([double_conv(c, w, padding, batch_norm)
                                       for c, w in zip(inputs, widths[:depth])])
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = double_conv(widths[depth - 1], widths[depth], padding, batch_norm)
        levels = range(depth - 1, -1, -1)  # deepest first, the order the expanding path runs
        # the up-convolution halves the channels, so skip + up-sampled = 2 w_l (Fig. 1)
        self.upconvs = nn.ModuleList([nn.ConvTranspose2d(widths[l + 1], widths[l], 2, stride=2)
                                      for l in levels])
        self.decoders = nn.ModuleList([double_conv(2 * widths[l], widths[l], padding, batch_norm)
                                       for l in levels])
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        for m in self.modules():  # the paper: Gaussian weights, std sqrt(2 / fan-in)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def _check_input(self, x) -> None:
        name = f"UNet(depth={self.depth}, padding={self.padding!r})"
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{name}: expected input (N, {self.in_channels}, H, W), "
                             f"got shape {tuple(x.shape)}")
        bad = [s for s in x.shape[2:] if unet_output_size(s, self.depth, self.padding) is None]
        if not bad:
            return
        if self.padding == "same":
            raise ValueError(f"{name}: input height and width must be multiples of "
                             f"2**depth = {2**self.depth} (every 2x2 pooling must halve them "
                             f"exactly), got {tuple(x.shape[2:])}")
        fits = [s for s in range(max(1, bad[0] - 2**(self.depth + 2)), bad[0] + 2**(self.depth + 2))
                if unet_output_size(s, self.depth, "valid") is not None]
        raise ValueError(f"{name}: input size {bad[0]} does not fit: every pooling must meet an "
                         f"even size after the unpadded convs; sizes that fit near it: "
                         f"{fits or 'none'} (e.g. 572 at depth 4)")

    def forward(self, x):
        self._check_input(x)
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, decoder, skip in zip(self.upconvs, self.decoders, reversed(skips)):
            x = up(x)
            x = decoder(F.cat([_center_crop(skip, x.shape[2:]), x], dim=1))
        return self.head(x)


def unet(num_classes: int = 1, in_channels: int = 1, base_width: int = 16, depth: int = 3,
         padding: str = "same", batch_norm: bool = True) -> UNet:
    """The registered U-Net: depth 3, base width 16 (16-32-64-128 channels), padded convs with
    batch norm, for 64x64 images; ``unet(num_classes=2, base_width=64, depth=4, padding="valid",
    batch_norm=False)`` is the paper's network.

    Example::

        model = unet()                                   # binary: one logit per pixel
        logits = model(striate.randn(4, 1, 64, 64))      # (4, 1, 64, 64)
    """
    return UNet(in_channels, num_classes, base_width, depth, padding, batch_norm)
