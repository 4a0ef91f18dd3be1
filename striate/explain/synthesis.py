"""Images optimised to excite or to match a network's activations (checklist V3, V6, V7), by
gradient steps on the image with the model frozen:

- :func:`class_model`: an image that maximises a class score (Simonyan et al. 2014) (V3).
- :func:`invert`: an image whose activation at a layer matches a given image's (Mahendran and
  Vedaldi 2015), with :func:`total_variation` as the image prior (V6).
- :func:`deep_dream`: amplify whatever a layer already sees (Mordvintsev et al. 2015) (V7).

Style transfer, the fourth optimiser, is in :mod:`striate.explain.style`. Each returns an
:class:`OptimisedImage` ``(image, history, terms)``; like every visualisation it takes images
in the model's own input space, freezes the model while it runs and, given ``path``, writes a
PNG (:mod:`striate.explain.visualize`).

Which models give usable pictures without downloaded weights (what we saw, not a promise):

- LeNet-5 trained on Fashion-MNIST by ``striate train lenet5 --limit 20000 --epochs 2``
  (0.85 test accuracy): inversion gives the image back with correlation 0.996 from ``c1``, 0.96
  from ``s2``, 0.87 from ``s4`` and only a blurred blob (0.39) from ``f6``. Class models are
  faint: with the default jitter and blur, smooth blobs (the trouser class model a light
  vertical band with darker sides, score -0.5 -> 9.8); without the regularisers, high-frequency
  noise scored far higher (84) by the network.
- A random-weight network: the optimisers run, but the class-model regularisers (jitter, blur,
  the L2 weight) then dominate the weak, high-frequency gradient and the score barely moves;
  lower ``l2`` or switch the regularisers off.

References:
    Simonyan, Vedaldi, Zisserman (2014), "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps", ICLR workshop.
    Yosinski, Clune, Nguyen, Fuchs, Lipson (2015), "Understanding Neural Networks Through Deep
    Visualization", ICML deep learning workshop.
    Mahendran, Vedaldi (2015), "Understanding Deep Image Representations by Inverting Them", CVPR.
    Mordvintsev, Olah, Tyka (2015), "Inceptionism: Going Deeper into Neural Networks", Google AI
    blog.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..analysis.probe import frozen
from ..autograd import Tensor, no_grad
from ..backend import to_numpy
from ..optim import Adam
from ._common import (_check, _check_count, _check_model, _check_number, _image, _is_int,
                      _is_real, _layer_name, _model_dtype, _on_model_device, _resize_bilinear,
                      _resolve_layer, _run_to, _Said, _unit_range)
from .visualize import save_image

__all__ = ["OptimisedImage", "total_variation", "class_model", "invert", "deep_dream"]


class OptimisedImage(NamedTuple):
    """What the optimising methods return (unpacks as ``image, history, terms``).

    Attributes:
        image: the optimised image, ``(C, H, W)``, in the model's input space.
        history: the optimised quantity once per step (before that step's update).
        terms: the parts of the objective per step, by name (e.g. ``{"content": ..., "style":
            ...}``), each an array as long as ``history``.
    """

    image: np.ndarray
    history: np.ndarray
    terms: dict


# ---------------------------------------------------------------------------------------------
# Image operations for the optimisers: shifts, blur, total variation
# ---------------------------------------------------------------------------------------------
def _roll(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift the last two axes circularly: ``out[..., y, x] = image[..., y - dy, x - dx]``."""
    return np.roll(image, (int(dy), int(dx)), axis=(-2, -1))


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur the last two axes with a normalised Gaussian ``g(t) ~ exp(-t^2 / (2 sigma^2))``,
    ``|t| <= ceil(3 sigma)``, separably (rows then columns), mirroring at the borders."""
    if sigma <= 0:
        return image
    radius = max(1, math.ceil(3 * sigma))
    t = np.arange(-radius, radius + 1)
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    out = image
    for axis in (-2, -1):
        n = out.shape[axis]
        pads = [(0, 0)] * out.ndim
        pads[axis] = (radius, radius)
        padded = np.pad(out, pads, mode="reflect" if radius < n else "edge")
        out = sum(g[i] * np.take(padded, np.arange(i, i + n), axis=axis)
                  for i in range(len(g)))
    return out.astype(image.dtype)


def total_variation(x, beta: float = 2.0, reduction: str = "sum") -> Tensor:
    r"""Total variation of images ``x`` (N, C, H, W), differentiable (Mahendran and Vedaldi)::

        TV_beta(x) = sum_{n,c} sum_{i<H-1, j<W-1} ((x[i, j+1] - x[i, j])^2
                                                   + (x[i+1, j] - x[i, j])^2)^(beta / 2)

    Small when neighbouring pixels agree: as a penalty it favours piecewise-smooth images.
    ``beta = 2`` sums squared differences; ``beta = 1`` is the isotropic TV of edges (then
    ``1e-8`` is added inside the power so the gradient stays finite on flat regions).

    Args:
        x: a Tensor (N, C, H, W) with H, W >= 2.
        beta: the exponent, > 0.
        reduction: ``"sum"`` over all terms, or ``"mean"`` (divided by N C (H-1) (W-1)).

    Returns:
        A scalar Tensor.
    """
    fn = "total_variation"
    _check(fn, "x", x, isinstance(x, Tensor) and x.ndim == 4 and min(x.shape[2:]) >= 2,
           "a Tensor (N, C, H, W) with H, W >= 2", TypeError if not isinstance(x, Tensor)
           else ValueError)
    _check(fn, "beta", beta, _is_real(beta) and beta > 0, "a positive number")
    _check(fn, "reduction", reduction, reduction in ("sum", "mean"), "'sum' or 'mean'")
    corner = x[:, :, :-1, :-1]
    right = x[:, :, :-1, 1:] - corner
    down = x[:, :, 1:, :-1] - corner
    terms = right * right + down * down                               # (N, C, H-1, W-1)
    if beta != 2:
        terms = (terms + 1e-8) ** (beta / 2)
    return terms.sum() if reduction == "sum" else terms.mean()


# ---------------------------------------------------------------------------------------------
# Optimising the input
# ---------------------------------------------------------------------------------------------
def _ascent_step(image: np.ndarray, model, objective, rng, jitter: int, lr: float,
                 clip) -> dict:
    """One normalised gradient-ascent step on ``image`` (in place), at a random shift.

    The image is shifted by ``(dy, dx)`` drawn uniformly from ``[-jitter, jitter]`` (circularly),
    the gradient of ``objective(x)`` (a dict of scalar Tensors whose ``"objective"`` entry is
    maximised) is taken there, shifted back, and the step is
    ``image += lr * g / mean(|g|)`` (DeepDream's rule: the step size does not depend on the
    gradient's scale, which differs by orders of magnitude between layers and models), after
    which the pixels are clipped to ``clip = (low, high)`` if given.
    """
    dy, dx = rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0)
    x = Tensor(_on_model_device(model, _roll(image, dy, dx)), requires_grad=True)
    values = objective(x)
    values["objective"].backward()
    g = _roll(to_numpy(x.grad.data), -dy, -dx)
    image += (lr / (np.abs(g).mean() + 1e-12)) * g
    if clip is not None:
        np.clip(image, clip[0], clip[1], out=image)
    return {name: float(v.item()) for name, v in values.items()}


def _record(log: dict, values: dict) -> None:
    for name, v in values.items():
        log.setdefault(name, []).append(v)


def _display(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W)`` grey or ``(H, W, 3)`` colour in [0, 1] (joint min-max)."""
    a = _unit_range(image, None)
    return a[0] if a.shape[0] == 1 else a[:3].transpose(1, 2, 0)


def _result(image: np.ndarray, log: dict, main: str, path, title: str) -> OptimisedImage:
    history = np.asarray(log.pop(main))
    terms = {name: np.asarray(v) for name, v in log.items()}
    out = OptimisedImage(image[0], history, terms)
    if path is not None:
        save_image(path, _display(out.image), title=title)
    return out


def _check_clip(fn: str, clip):
    if clip is not None:
        _check(fn, "clip", clip, isinstance(clip, (tuple, list)) and len(clip) == 2
               and all(_is_real(c) for c in clip) and clip[0] < clip[1],
               "None or (low, high) with low < high")
    return clip


def class_model(model, target: int, input_shape, steps: int = 200, lr: float = 0.05,
                l2: float = 0.01, jitter: int = 2, blur_every: int = 4, blur_sigma: float = 1.0,
                init_std: float = 0.01, clip=None, seed: int = 0,
                path=None) -> OptimisedImage:
    """Class-model visualisation (Simonyan et al. 2014; V3): the image the network finds most
    typical of class ``target``, grown from small noise by gradient ascent on::

        I* = argmax_I  S_c(I) - l2 * ||I||^2

    ``S_c`` is the class's *score* (logit, before the softmax: maximising the softmax could also
    lower the other classes instead of raising this one). The regularisers of Yosinski et al.
    (2015) keep the image natural-looking: each step is taken at a random shift of up to
    ``jitter`` pixels, and every ``blur_every`` steps the image is blurred by a Gaussian of
    ``blur_sigma`` pixels, which removes the high frequencies the ascent otherwise fills with
    noise. Steps are normalised gradient ascent, ``I += lr * g / mean|g|`` (see the module).

    Args:
        model: a classifier, images ``(1, C, H, W)`` to logits ``(1, classes)``.
        target: the class index.
        input_shape: ``(C, H, W)`` of the model's input.
        steps: gradient steps.
        lr: step size (mean absolute change of a pixel per step).
        l2: weight of the L2 penalty; it competes with the score's gradient, so it depends on
            the logits' scale (0.01 suits a trained LeNet-5; a random network needs far less).
        jitter: largest random shift in pixels (0: none).
        blur_every: blur period in steps (0: never).
        blur_sigma: the blur's standard deviation in pixels.
        init_std: standard deviation of the starting noise (mean 0, the dataset's mean after
            normalisation).
        clip: ``(low, high)``: keep every pixel in this range after each step (the valid
            pixel range in the model's input space, ``((0 - mean) / std, (1 - mean) / std)``
            for images in [0, 1]); ``None``: no bound.
        seed: seeds the noise and the shifts; the same seed gives the same image.
        path: write the image (min-max scaled) as a PNG.

    Returns:
        :class:`OptimisedImage`: the image ``(C, H, W)``, ``history`` the class score per step,
        ``terms["objective"]`` the penalised objective.

    Example::

        image, scores, _ = class_model(lenet, target=1, input_shape=(1, 28, 28))  # "Trouser"
    """
    fn = "class_model"
    _check_model(fn, model)
    shape = _check(fn, "input_shape", input_shape, isinstance(input_shape, (tuple, list))
                   and len(input_shape) == 3 and all(_is_int(s) and s > 0 for s in input_shape),
                   "(C, H, W), three positive ints")
    steps = _check_count(fn, "steps", steps)
    for arg, value in (("lr", lr), ("l2", l2), ("init_std", init_std)):
        _check_number(fn, arg, value)
    _check_count(fn, "jitter", jitter, low=0)
    _check_count(fn, "blur_every", blur_every, low=0)
    _check_number(fn, "blur_sigma", blur_sigma)
    _check_clip(fn, clip)
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, init_std, (1,) + tuple(shape)).astype(_model_dtype(model))
    log = {}
    with frozen(model):
        with no_grad():
            out_shape = _run_to(model, Tensor(_on_model_device(model, image)), [None])[0].shape
        _check(fn, "model", _Said(f"an output of shape {out_shape}"), len(out_shape) == 2,
               "a classifier with (1, classes) logits")
        _check(fn, "target", target, _is_int(target) and 0 <= target < out_shape[1],
               f"a class index in [0, {out_shape[1]})")

        def objective(x):
            score = model(x)[0, int(target)]
            return {"score": score, "objective": score - l2 * (x * x).sum()}

        for step in range(steps):
            _record(log, _ascent_step(image, model, objective, rng, jitter, lr, clip))
            if blur_every and (step + 1) % blur_every == 0:
                image = _gaussian_blur(image, blur_sigma)
    return _result(image, log, "score", path, f"class model of class {target} "
                                               f"(score {log['score'][-1]:.2f})")


def deep_dream(model, x, layer, steps: int = 20, lr: float = 0.02, octaves: int = 1,
               octave_scale: float = 1.4, jitter: int = 1, clip=None, seed: int = 0,
               path=None) -> OptimisedImage:
    """DeepDream (Mordvintsev et al. 2015; V7): amplify what ``layer`` sees in ``x`` by gradient
    ascent on the input of::

        E(I) = 1/2 ||phi_l(I)||^2          (phi_l: the layer's activation)

    whose gradient through the layer is ``phi_l`` itself: whatever a unit responds to a little,
    the image is changed to make it respond more. Steps are normalised, ``I += lr * g / mean|g|``,
    each at a random shift of up to ``jitter`` pixels. With ``octaves > 1`` the ascent runs first
    on the image shrunk by ``octave_scale ** (octaves - 1)`` (bilinear), then on larger and larger
    versions up to the original, each time carrying the detail added so far (upsampled): the
    patterns then grow on several scales.

    Args:
        model: the network.
        x: the image ``(C, H, W)`` in the model's input space.
        layer: module or dotted name.
        steps: gradient steps per octave.
        lr: step size.
        octaves: number of scales (1: the image's own size only).
        octave_scale: size ratio between neighbouring octaves, > 1.
        jitter: largest random shift in pixels.
        clip: ``(low, high)`` bounds of the pixels after each step (see :func:`class_model`).
        seed: seeds the shifts.
        path: write the result as a PNG.

    Returns:
        :class:`OptimisedImage`: the image ``(C, H, W)``, ``history`` ``||phi_l||`` per step (all
        octaves in order), ``terms["objective"]`` the value of ``E``.

    Example::

        dream, norms, _ = deep_dream(lenet, image, "c3", steps=20, octaves=2)
    """
    fn = "deep_dream"
    _check_model(fn, model)
    base = _image(fn, "x", x, _model_dtype(model))
    mod = _resolve_layer(fn, model, layer)
    steps = _check_count(fn, "steps", steps)
    _check_number(fn, "lr", lr)
    octaves = _check_count(fn, "octaves", octaves)
    _check(fn, "octave_scale", octave_scale, _is_real(octave_scale) and octave_scale > 1,
           "a number > 1")
    _check_count(fn, "jitter", jitter, low=0)
    _check_clip(fn, clip)
    rng = np.random.default_rng(seed)
    size = np.array(base.shape[2:])
    sizes = [tuple(np.maximum(1, np.round(size / octave_scale ** o)).astype(int))
             for o in reversed(range(octaves))]
    detail = np.zeros_like(_resize_bilinear(base, sizes[0]))
    log = {}

    def objective(x):
        a = _run_to(model, x, [mod])[0]
        energy = 0.5 * (a * a).sum()
        return {"norm": (2 * energy) ** 0.5, "objective": energy}

    with frozen(model):
        for octave_size in sizes:
            start = _resize_bilinear(base, octave_size)
            image = start + _resize_bilinear(detail, octave_size)
            for _ in range(steps):
                _record(log, _ascent_step(image, model, objective, rng, jitter, lr, clip))
            detail = image - start
    return _result(image, log, "norm", path, f"DeepDream on {_layer_name(layer)}")


def invert(model, x, layer, steps: int = 200, lr: float = 0.05, tv_weight: float = 0.05,
           tv_beta: float = 2.0, init_std: float = 0.01, seed: int = 0,
           path=None) -> OptimisedImage:
    """Invert a representation (Mahendran and Vedaldi 2015; V6): find an image whose activation
    at ``layer`` matches ``x``'s, starting from small noise, by minimising::

        L(x') = ||phi(x') - phi(x)||^2 / ||phi(x)||^2  +  tv_weight * TV_beta(x') / (C (H-1) (W-1))

    The first term is the relative reconstruction error of the representation (1 for x' = 0),
    so ``tv_weight`` does not depend on the layer's scale; the second is the total variation
    (:func:`total_variation`, mean over the pixels), the image prior that removes the
    high-frequency patterns the network cannot see. What survives shows what the layer keeps of
    the image: early layers give it back almost exactly, deep ones keep the rough layout. The
    image is optimised by Adam (``lr``); the paper uses momentum gradient descent, to the same
    kind of minimum.

    Args:
        model: the network.
        x: the image ``(C, H, W)`` whose representation is inverted.
        layer: module or dotted name.
        steps: optimisation steps.
        lr: Adam's learning rate.
        tv_weight: weight of the total-variation prior (0: none).
        tv_beta: its exponent (:func:`total_variation`).
        init_std: standard deviation of the starting noise.
        seed: seeds the noise.
        path: write the reconstruction as a PNG.

    Returns:
        :class:`OptimisedImage`: the reconstruction ``(C, H, W)``, ``history`` ``L`` per step,
        ``terms["match"]`` and ``terms["tv"]`` its two parts (``tv`` before the weight).

    Example::

        recon, objective, terms = invert(lenet, image, "s2", steps=200)
    """
    fn = "invert"
    _check_model(fn, model)
    dtype = _model_dtype(model)
    target_image = _image(fn, "x", x, dtype)
    mod = _resolve_layer(fn, model, layer)
    steps = _check_count(fn, "steps", steps)
    for arg, value in (("lr", lr), ("tv_weight", tv_weight), ("init_std", init_std)):
        _check_number(fn, arg, value)
    _check(fn, "tv_beta", tv_beta, _is_real(tv_beta) and tv_beta > 0, "a positive number")
    rng = np.random.default_rng(seed)
    log = {}
    with frozen(model):
        with no_grad():
            target = _run_to(model, Tensor(_on_model_device(model, target_image)), [mod])[0]
        norm = float((target.data ** 2).sum())
        _check(fn, "x", _Said("an all-zero activation"), norm > 0,
               "an image whose activation at the layer is not all zero")
        image = Tensor(_on_model_device(model, rng.normal(0.0, init_std, target_image.shape)
                                        .astype(dtype)), requires_grad=True)
        opt = Adam([image], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            diff = _run_to(model, image, [mod])[0] - target
            match = (diff * diff).sum() / norm
            tv = total_variation(image, tv_beta, reduction="mean")
            loss = match + tv_weight * tv
            loss.backward()
            _record(log, {"objective": loss.item(), "match": match.item(), "tv": tv.item()})
            opt.step()
    return _result(to_numpy(image.data), log, "objective", path,
                   f"inversion of {_layer_name(layer)}")
