"""PyTorch twins of the zoo models the benchmarks time, written once for both benchmarks.

``torch_model(name, **model_args)`` returns the PyTorch network of
``striate.models.create(name, **model_args)``: the same layers, widths, initialisation scheme
and ``state_dict`` keys and shapes, so Striate's weights load into it as they are
(``tests/test_twins.py`` checks the keys and the eval-mode logits of every twin). Only what the
benchmarks time is here: ``lenet5``, ``fmnist-cnn``, ``resnet20``, ``nin``, ``allconv``,
``vgg11``/``vgg11_bn`` (with ``width`` and ``classifier_width``) and ``googlenet`` (with
``width``; in training mode it returns ``(logits, aux1, aux2)`` like Striate's, and
:func:`loss` adds the auxiliary losses with weight 0.3).

Importing this module imports torch; ``striate`` itself never does.
"""
from __future__ import annotations

import torch
import torch.nn as tnn
import torch.nn.functional as tF

__all__ = ["torch_model", "loss", "TWINS"]


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class LeNet5(tnn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.c1 = tnn.Conv2d(in_channels, 6, 5, padding=2)
        self.s2 = tnn.MaxPool2d(2)
        self.c3 = tnn.Conv2d(6, 16, 5)
        self.s4 = tnn.MaxPool2d(2)
        self.c5, self.f6 = tnn.Linear(400, 120), tnn.Linear(120, 84)
        self.output = tnn.Linear(84, num_classes)

    def forward(self, x):
        x = self.s4(torch.relu(self.c3(self.s2(torch.relu(self.c1(x))))))
        x = torch.relu(self.f6(torch.relu(self.c5(x.flatten(1)))))
        return self.output(x)


class FashionCNN(tnn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()

        def stage(i, o):
            return tnn.Sequential(tnn.Conv2d(i, o, 3, padding=1, bias=False), tnn.BatchNorm2d(o),
                                  tnn.ReLU(), tnn.MaxPool2d(2))
        self.features = tnn.Sequential(stage(in_channels, 32), stage(32, 64), tnn.Dropout(0.25))
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(64 * 7 * 7, 256), tnn.ReLU(),
                                         tnn.Dropout(0.5), tnn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(tnn.Module):
    """He et al.'s CIFAR block with the option (A) shortcut: subsampled, zero-padded channels."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.extra:
            short = tF.pad(short, (0, 0, 0, 0, 0, self.extra))
        return torch.relu(out + short)


class CifarResNet(tnn.Module):
    def __init__(self, blocks=3, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(16)
        cin = 16
        for i, width in enumerate((16, 32, 64)):
            layer = []
            for j in range(blocks):
                layer.append(BasicBlock(cin, width, 2 if i > 0 and j == 0 else 1))
                cin = width
            setattr(self, f"layer{i + 1}", tnn.Sequential(*layer))
        self.fc = tnn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, tnn.Conv2d):
                tnn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


class AllConvC(tnn.Module):
    """All-CNN-C (Springenberg et al. 2015), without the ReLU on the class maps."""

    def __init__(self, num_classes=10, in_channels=1, width=1.0):
        super().__init__()
        c1, c2 = _scaled(96, width), _scaled(192, width)

        def conv(cin, cout, k, stride=1, padding=0):
            return [tnn.Conv2d(cin, cout, k, stride, padding), tnn.ReLU()]
        self.features = tnn.Sequential(
            tnn.Dropout(0.2), *conv(in_channels, c1, 3, 1, 1), *conv(c1, c1, 3, 1, 1),
            *conv(c1, c1, 3, 2, 1), tnn.Dropout(0.5), *conv(c1, c2, 3, 1, 1),
            *conv(c2, c2, 3, 1, 1), *conv(c2, c2, 3, 2, 1), tnn.Dropout(0.5))
        self.classifier = tnn.Sequential(*conv(c2, c2, 3), *conv(c2, c2, 1),
                                         tnn.Conv2d(c2, num_classes, 1))

    def forward(self, x):
        return self.classifier(self.features(x)).mean(dim=(2, 3))


class NIN(tnn.Module):
    """Network in Network (Lin et al. 2014), the CIFAR-10 widths scaled by ``width``."""

    def __init__(self, num_classes=10, in_channels=1, width=1.0):
        super().__init__()
        (a1, a2, a3), (b1, b2, b3), (c1, c2) = [
            [_scaled(c, width) for c in group] for group in ((192, 160, 96), (192, 192, 192),
                                                             (192, 192))]

        def mlpconv(cin, k, w1, w2, w3, last_relu=True):
            layers = [tnn.Conv2d(cin, w1, k, padding=k // 2), tnn.ReLU(), tnn.Conv2d(w1, w2, 1),
                      tnn.ReLU(), tnn.Conv2d(w2, w3, 1)]
            return tnn.Sequential(*layers, *([tnn.ReLU()] if last_relu else []))
        self.block1 = mlpconv(in_channels, 5, a1, a2, a3)
        self.block2 = mlpconv(a3, 5, b1, b2, b3)
        self.block3 = mlpconv(b3, 3, c1, c2, num_classes, last_relu=False)

    def forward(self, x):
        x = tF.dropout(tF.max_pool2d(self.block1(x), 3, 2, 1), 0.5, self.training)
        x = tF.dropout(tF.max_pool2d(self.block2(x), 3, 2, 1), 0.5, self.training)
        return self.block3(x).mean(dim=(2, 3))


_VGG_A = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


class VGG11(tnn.Module):
    """VGG configuration A (Simonyan and Zisserman 2015) in torchvision's layout."""

    def __init__(self, num_classes=10, in_channels=1, batch_norm=False, width=1.0,
                 classifier_width=4096, dropout=0.5):
        super().__init__()
        layers, cin = [], in_channels
        for v in _VGG_A:
            if v == "M":
                layers.append(tnn.MaxPool2d(2, 2))
                continue
            cout = round(v * width)
            layers += [tnn.Conv2d(cin, cout, 3, padding=1),
                       *([tnn.BatchNorm2d(cout)] if batch_norm else []), tnn.ReLU(inplace=True)]
            cin = cout
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
        self.classifier = tnn.Sequential(
            tnn.Linear(cin * 49, classifier_width), tnn.ReLU(True), tnn.Dropout(dropout),
            tnn.Linear(classifier_width, classifier_width), tnn.ReLU(True), tnn.Dropout(dropout),
            tnn.Linear(classifier_width, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


class BasicConv2d(tnn.Module):
    def __init__(self, cin, cout, **kwargs):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Inception(tnn.Module):
    def __init__(self, cin, ch1, ch3red, ch3, ch5red, ch5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1, kernel_size=1)
        self.branch2 = tnn.Sequential(BasicConv2d(cin, ch3red, kernel_size=1),
                                      BasicConv2d(ch3red, ch3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(BasicConv2d(cin, ch5red, kernel_size=1),
                                      BasicConv2d(ch5red, ch5, kernel_size=3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                      BasicConv2d(cin, pool_proj, kernel_size=1))
        self.out_channels = ch1 + ch3 + ch5 + pool_proj

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(tnn.Module):
    def __init__(self, cin, num_classes, conv_channels, hidden, dropout=0.7):
        super().__init__()
        self.conv = BasicConv2d(cin, conv_channels, kernel_size=1)
        self.fc1 = tnn.Linear(conv_channels * 16, hidden)
        self.fc2 = tnn.Linear(hidden, num_classes)
        self.dropout = tnn.Dropout(dropout)

    def forward(self, x):
        x = self.conv(tF.adaptive_avg_pool2d(x, (4, 4))).flatten(1)
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


_INCEPTIONS = {
    "inception3a": (64, 96, 128, 16, 32, 32), "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64), "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64), "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128), "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNet(tnn.Module):
    """GoogLeNet in torchvision's layout (3x3 in the third branch), channels scaled by width."""

    def __init__(self, num_classes=10, in_channels=1, width=1.0, dropout=0.2):
        super().__init__()

        def w(c):
            return max(1, int(round(c * width)))
        self.conv1 = BasicConv2d(in_channels, w(64), kernel_size=7, stride=2, padding=3)
        self.maxpool1 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(w(64), w(64), kernel_size=1)
        self.conv3 = BasicConv2d(w(64), w(192), kernel_size=3, padding=1)
        self.maxpool2 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        cin = w(192)
        for name, widths in _INCEPTIONS.items():
            block = Inception(cin, *(w(c) for c in widths))
            setattr(self, name, block)
            cin = block.out_channels
        self.maxpool3 = tnn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = tnn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.aux1 = InceptionAux(self.inception4a.out_channels, num_classes, w(128), w(1024))
        self.aux2 = InceptionAux(self.inception4d.out_channels, num_classes, w(128), w(1024))
        self.dropout = tnn.Dropout(dropout)
        self.fc = tnn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, (tnn.Conv2d, tnn.Linear)):
                tnn.init.normal_(m.weight, std=0.01)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.training else None
        x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
        logits = self.fc(self.dropout(x.mean(dim=(2, 3))))
        return (logits, aux1, aux2) if self.training else logits


TWINS = {
    "lenet5": LeNet5,
    "fmnist-cnn": FashionCNN,
    "resnet20": CifarResNet,
    "allconv": AllConvC,
    "nin": NIN,
    "vgg11": VGG11,
    "vgg11_bn": lambda **kw: VGG11(batch_norm=True, **kw),
    "googlenet": GoogLeNet,
}


def torch_model(name: str, **model_args) -> tnn.Module:
    """The PyTorch twin of ``striate.models.create(name, **model_args)``."""
    if name not in TWINS:
        raise ValueError(f"no PyTorch twin of {name!r}; the benchmarks have {sorted(TWINS)}")
    return TWINS[name](**model_args)


def loss(outputs, target):
    """Cross-entropy, plus 0.3 x each auxiliary head's when the model returns a tuple (GoogLeNet
    in training mode), as :func:`striate.models.googlenet_loss` computes it."""
    if not isinstance(outputs, tuple):
        return tF.cross_entropy(outputs, target)
    main, *aux = outputs
    return tF.cross_entropy(main, target) + sum(0.3 * tF.cross_entropy(a, target) for a in aux)
