"""Neural style transfer (Gatys et al. 2016; checklist V7): the content of one image in the
style of another, by optimising the image against a frozen feature network.

- :func:`gram_matrix`: channel correlations of feature maps, what "style" means here.
- :func:`content_loss`, :func:`style_loss`: the two terms, differentiable.
- :func:`style_transfer`: Adam on the image, from the content image or from noise.

What we saw: Real results need ImageNet-trained features (VGG-19 in the paper), which Striate
cannot download. A random VGG-style stack (3x3 convolutions and ReLUs, 32-128 channels, 64x64
RGB) transferred the style's colour palette and some orientation of its texture, but not its
regular structure: synthesising a diagonal colour lattice from noise gave coloured noise with a
diagonal grain.

Reference:
    Gatys, Ecker, Bethge (2016), "Image Style Transfer Using Convolutional Neural Networks", CVPR.
"""
from __future__ import annotations

import numpy as np

from ..analysis.probe import frozen
from ..autograd import Tensor, no_grad
from ..backend import to_numpy
from ..optim import Adam
from ._common import (_check, _check_count, _check_model, _check_number, _image, _model_dtype,
                      _on_model_device, _resolve_layer, _run_to, _Said)
from .synthesis import OptimisedImage, _record, _result, total_variation

__all__ = ["gram_matrix", "content_loss", "style_loss", "style_transfer"]


def gram_matrix(features: Tensor) -> Tensor:
    """Normalised Gram matrices of feature maps (Gatys et al.)::

        G[n] = F[n] F[n]^T / (C H W),   F[n] = features[n] reshaped to (C, H W)

    ``G[n][c, d]`` is the (scaled) correlation of channels c and d over all positions: it keeps
    which features occur together and drops where they occur, which is what "style" means here.

    Args:
        features: a Tensor ``(N, C, H, W)``.

    Returns:
        A Tensor ``(N, C, C)``.
    """
    _check("gram_matrix", "features", features, isinstance(features, Tensor)
           and features.ndim == 4, "a Tensor (N, C, H, W)", TypeError)
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)                                  # (N, C, HW)
    return (f @ f.transpose(1, 2)) / (c * h * w)                       # (N, C, C)


def content_loss(features: list, targets: list) -> Tensor:
    """Content loss: the mean over layers of the mean squared error of the activations::

        L_content = 1/|L| sum_l mean((F_l - P_l)^2)

    (Gatys et al. write 1/2 sum (F - P)^2; the mean keeps the weight independent of the layer's
    size.) ``features`` and ``targets`` are equal-length lists of Tensors of equal shapes.
    """
    _check("content_loss", "targets", _Said(f"{len(targets)} for {len(features)} layers"),
           len(features) == len(targets) > 0, "one target per layer (and at least one layer)")
    total = 0.0
    for f, p in zip(features, targets):
        d = f - p
        total = total + (d * d).mean()
    return total / len(features)


def style_loss(features: list, targets: list) -> Tensor:
    """Style loss: the mean over layers of the squared Frobenius distance of Gram matrices::

        L_style = 1/|L| sum_l sum_{c,d} (G(F_l)[c, d] - G(S_l)[c, d])^2

    with :func:`gram_matrix` (already divided by C H W, the role of Gatys et al.'s
    1 / (4 N^2 M^2)). ``targets`` are the style image's features (any spatial size: Gram
    matrices are C x C).
    """
    _check("style_loss", "targets", _Said(f"{len(targets)} for {len(features)} layers"),
           len(features) == len(targets) > 0, "one target per layer (and at least one layer)")
    total = 0.0
    for f, s in zip(features, targets):
        d = gram_matrix(f) - gram_matrix(s)
        total = total + (d * d).sum()
    return total / len(features)


def style_transfer(model, content, style, content_layers, style_layers, steps: int = 200,
                   lr: float = 0.05, content_weight: float = 1.0, style_weight: float = 1e3,
                   tv_weight: float = 0.0, init: str = "content", seed: int = 0,
                   path=None) -> OptimisedImage:
    """Neural style transfer (Gatys et al. 2016; V7): an image with the content (activations at
    ``content_layers``) of ``content`` and the style (Gram matrices at ``style_layers``) of
    ``style``, by minimising over the image x::

        L(x) = content_weight * L_content(x) + style_weight * L_style(x)
               + tv_weight * TV(x) / (C (H-1) (W-1))

    (:func:`content_loss`, :func:`style_loss`, :func:`total_variation`) with Adam (Striate has
    no L-BFGS, which Gatys et al. used; Adam needs more steps to the same look).

    Which network: Gatys et al. use VGG-19 trained on ImageNet, which Striate cannot download.
    A random-weight VGG-style stack of 3x3 convolutions and ReLUs runs, and moves the colours
    and the grain of the texture towards the style, but does not reproduce a style's structure
    (see the module docstring for what we saw); a Fashion-MNIST model sees grey 28x28 images
    only. Style layers early in the network (after the first convolutions) carry most of what
    random features can transfer.

    Args:
        model: the feature network.
        content, style: images ``(C, H, W)`` in the model's input space (sizes may differ).
        content_layers, style_layers: lists of modules or dotted names (each at least one).
        steps: Adam steps.
        lr: Adam's learning rate.
        content_weight, style_weight, tv_weight: the weights of the three terms.
        init: start from ``"content"`` (the usual choice, faster) or ``"noise"`` (the paper's
            white noise, seeded, with the content image's standard deviation).
        seed: seeds the noise.
        path: write the result as a PNG.

    Returns:
        :class:`OptimisedImage`: the image ``(C, H, W)``, ``history`` ``L`` per step,
        ``terms["content"]``, ``terms["style"]``, ``terms["tv"]`` (unweighted).

    Example::

        out = style_transfer(features, photo, painting, ["4"], ["1", "4", "9"], steps=300)
    """
    fn = "style_transfer"
    _check_model(fn, model)
    dtype = _model_dtype(model)
    c_img, s_img = _image(fn, "content", content, dtype), _image(fn, "style", style, dtype)
    _check(fn, "style", _Said(f"{s_img.shape[1]} channels"), s_img.shape[1] == c_img.shape[1],
           f"an image with the content's {c_img.shape[1]} channels")
    layers = {}
    for arg, names in (("content_layers", content_layers), ("style_layers", style_layers)):
        _check(fn, arg, names, isinstance(names, (list, tuple)) and len(names) > 0,
               "a non-empty list of modules or dotted names", TypeError)
        layers[arg] = [_resolve_layer(fn, model, m, arg) for m in names]
    steps = _check_count(fn, "steps", steps)
    for arg, value in (("lr", lr), ("content_weight", content_weight),
                       ("style_weight", style_weight), ("tv_weight", tv_weight)):
        _check_number(fn, arg, value)
    _check(fn, "init", init, init in ("content", "noise"), "'content' or 'noise'")
    cl, sl = layers["content_layers"], layers["style_layers"]
    rng = np.random.default_rng(seed)
    start = c_img if init == "content" else rng.normal(0, c_img.std() or 1.0,
                                                       c_img.shape).astype(dtype)
    log = {}
    with frozen(model):
        with no_grad():
            content_targets = _run_to(model, Tensor(_on_model_device(model, c_img)), cl)
            style_targets = _run_to(model, Tensor(_on_model_device(model, s_img)), sl)
        image = Tensor(_on_model_device(model, start.copy()), requires_grad=True)
        opt = Adam([image], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            acts = _run_to(model, image, cl + sl)
            lc = content_loss(acts[:len(cl)], content_targets)
            ls = style_loss(acts[len(cl):], style_targets)
            tv = total_variation(image, reduction="mean")
            loss = content_weight * lc + style_weight * ls + tv_weight * tv
            loss.backward()
            _record(log, {"loss": loss.item(), "content": lc.item(), "style": ls.item(),
                          "tv": tv.item()})
            opt.step()
    return _result(to_numpy(image.data), log, "loss", path, "style transfer")
