"""A small CNN for Fashion-MNIST: two convolution stages with batch normalisation, max pooling and
dropout, the family the dataset's benchmark table lists at 0.934 test accuracy ("2 Conv+pooling+
BN"; Xiao, Rasul and Vollgraf 2017, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", github.com/zalandoresearch/fashion-mnist#benchmark).

Layout at 28x28 (default widths 32 and 64)::

    stage 1   conv 3x3 pad 1 -> BN -> ReLU -> max pool 2        32@14x14
    stage 2   conv 3x3 pad 1 -> BN -> ReLU -> max pool 2        64@7x7
              dropout 0.25
    head      flatten 3136 -> linear 256 -> ReLU -> dropout 0.5 -> linear 10

Why these parts: batch normalisation (Ioffe and Szegedy 2015) lets a high learning rate train the
convolutions quickly, so the convolutions carry no bias (BN's shift replaces it); max pooling
halves the resolution while keeping the strongest response; dropout (Srivastava et al. 2014) on
the flattened features and the hidden layer keeps the 800k-parameter head from memorising the
60,000 training images.
"""
from __future__ import annotations

from .. import nn

__all__ = ["FashionCNN", "fmnist_cnn"]


def _stage(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """conv 3x3 (padding 1) -> batch norm -> ReLU -> 2x2 max pool: halves H and W.

    With batch norm the convolution has no bias (BN's shift replaces it); without, the stage is
    conv (with bias) -> ReLU -> max pool, and its indices stay those of torch's layout (0, 2, 3).
    """
    if not batch_norm:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.Identity(),
                             nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(), nn.MaxPool2d(2))


class FashionCNN(nn.Module):
    """Two conv stages (conv, BN, ReLU, max pool) and a dropout-regularised two-layer head.

    Args:
        num_classes: outputs (logits).
        in_channels: channels of the input images.
        widths: channels of the two stages.
        hidden: units of the hidden dense layer.
        dropout: dropout probabilities after the convolutions and after the hidden layer.
        input_size: the ``(H, W)`` of the input (divisible by 4); sets the head's width.
        batch_norm: normalise after each convolution (False: the ablation of the batch-norm
            experiment, with biased convolutions instead).

    Shapes:
        (N, in_channels, H, W) -> (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, widths=(32, 64),
                 hidden: int = 256, dropout=(0.25, 0.5), input_size=(28, 28),
                 batch_norm: bool = True):
        super().__init__()
        h, w = input_size
        if h % 4 or w % 4:
            raise ValueError(f"FashionCNN: input_size must be divisible by 4 (two 2x2 poolings), "
                             f"got {tuple(input_size)}")
        c1, c2 = widths
        self.features = nn.Sequential(_stage(in_channels, c1, batch_norm),  # (N, c1, H/2, W/2)
                                      _stage(c1, c2, batch_norm),           # (N, c2, H/4, W/4)
                                      nn.Dropout(dropout[0]))
        self.classifier = nn.Sequential(nn.Flatten(),            # (N, c2 * H/4 * W/4)
                                        nn.Linear(c2 * (h // 4) * (w // 4), hidden), nn.ReLU(),
                                        nn.Dropout(dropout[1]), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def fmnist_cnn(num_classes: int = 10, in_channels: int = 1, batch_norm: bool = True) -> FashionCNN:
    """The Fashion-MNIST CNN at its default size: widths 32/64, 256 hidden units, 28x28 input;
    ``batch_norm=False`` is its ablation without batch normalisation.

    Example::

        model = fmnist_cnn()
        logits = model(striate.randn(8, 1, 28, 28))     # (8, 10)
    """
    return FashionCNN(num_classes=num_classes, in_channels=in_channels, batch_norm=batch_norm)
