"""Attributions: which input pixels a class score depends on (checklist V2, V4, V5).

Every method takes a classifier ``model`` (images ``(N, C, H, W)`` in, class scores ``(N, K)``
out, before any softmax), a batch ``x`` and the ``target`` class (one int for the whole batch or
one per sample), and returns NumPy arrays:

================  =====================================================  ===============
method            what the map is                                        shape
================  =====================================================  ===============
saliency          max_c |d S_t / d x_c|  (Simonyan et al. 2014)          (N, H, W)
smoothgrad        saliency averaged over noisy copies of x (Smilkov      (N, H, W)
                  et al. 2017)
grad_cam          ReLU(sum_k w_k A_k), w_k = mean over (i, j) of         (N, H, W)
                  d S_t / d A_k[i, j], upsampled (Selvaraju et al. 2017)
guided_backprop   the input gradient with ReLU backward                  (N, C, H, W)
                  gx = gy [x > 0] [gy > 0] (Springenberg et al. 2015)
deconvnet         the input gradient with ReLU backward                  (N, C, H, W)
                  gx = gy [gy > 0] (Zeiler & Fergus 2014)
occlusion         drop of p_t when a grey patch hides each region        (N, H, W)
                  (Zeiler & Fergus 2014)
================  =====================================================  ===============

S_t is the target's score (logit). The model runs in evaluation mode (batch norm uses its running
statistics, no dropout); its train/eval flags and its parameters' ``requires_grad`` are put back
afterwards, and no parameter's ``.grad`` changes. :func:`plot_attribution` draws one sample's image
beside its map and the map over the image, as a PNG.

Example::

    from striate import explain
    maps = explain.saliency(model, x, target=3)                  # (N, H, W)
    cam = explain.grad_cam(model, x, target=labels, layer="c3")  # one class per sample
    explain.plot_attribution(x[0], cam[0], "cam.png", title="Grad-CAM, class 3")
"""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

from .. import functional as F
from .. import nn
from ..analysis.probe import frozen, layer_names, named_layer
from ..autograd import Tensor, enable_grad, no_grad
from ._common import _is_int, _resize_bilinear

__all__ = ["saliency", "smoothgrad", "grad_cam", "guided_backprop", "deconvnet", "occlusion",
           "last_conv_layer", "plot_attribution"]


# ---- arguments -------------------------------------------------------------------------------
def _batch(op: str, model, x) -> np.ndarray:
    """``x`` as a float array (N, C, H, W) in the dtype of the model's parameters."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{op}: model must be a striate.nn.Module, got {type(model).__name__}")
    array = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if array.ndim != 4:
        raise ValueError(f"{op}: x must be a batch of images shaped (N, C, H, W), "
                         f"got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{op}: x must hold numbers, got dtype {array.dtype}")
    dtypes = [p.dtype for p in model.parameters() if p.dtype.kind == "f"]
    dtype = dtypes[0] if dtypes else (array.dtype if array.dtype.kind == "f" else np.float32)
    return array.astype(dtype)


def _targets(op: str, target, n: int, scores) -> np.ndarray:
    """``target`` as (N,) class indices, checked against the model's (N, K) scores."""
    if scores.ndim != 2 or scores.shape[0] != n:
        raise ValueError(f"{op}: the model must return class scores shaped (N, K) = ({n}, K), "
                         f"got shape {scores.shape}")
    k = scores.shape[1]
    t = np.asarray(target)
    if t.dtype.kind not in "iu" or t.ndim > 1 or (t.ndim == 1 and len(t) != n):
        raise ValueError(f"{op}: target must be a class index or one per sample ({n} ints), "
                         f"got {target!r}")
    if t.size and (t.min() < 0 or t.max() >= k):
        raise ValueError(f"{op}: target must lie in [0, {k}) (the model has {k} classes), "
                         f"got {t.tolist()}")
    return np.broadcast_to(t, (n,)).astype(np.int64)


def _one_hot(targets: np.ndarray, scores) -> np.ndarray:
    """The upstream gradient that picks S_t of each sample: d(sum_n S_{n, t_n}) / d S."""
    gy = np.zeros(scores.shape, scores.dtype)
    gy[np.arange(len(targets)), targets] = 1
    return gy


def _input_gradient(op: str, model, x, target, rule: str) -> np.ndarray:
    """d S_t / d x (N, C, H, W) with the given ReLU backward rule."""
    x = Tensor(_batch(op, model, x), requires_grad=True)
    with frozen(model), enable_grad():  # only the input's gradient: no weight gradients
        scores = model(x)
        targets = _targets(op, target, len(x), scores)
        with F.relu_backward_rule(rule):
            scores.backward(_one_hot(targets, scores.data))
    return x.grad.numpy()


# ---- gradient methods ------------------------------------------------------------------------
def saliency(model, x, target) -> np.ndarray:
    """Image-specific class saliency (Simonyan, Vedaldi & Zisserman 2014, section 3).

    The class score S_t is linearised around the image, S_t(x') ~ w^T x' + b with
    w = dS_t/dx at x; the map is the magnitude of w, the largest over the colour channels::

        M[n, i, j] = max_c |dS_t / dx[n, c, i, j]|

    Args:
        model: a classifier returning scores (N, K) before the softmax.
        x: images (N, C, H, W), an array or a Tensor.
        target: the class to explain: an int, or one int per sample.

    Returns:
        (N, H, W) non-negative maps.

    Example::

        maps = saliency(model, x, target=predicted)   # predicted: (N,) class indices
    """
    return np.abs(_input_gradient("saliency", model, x, target, "gradient")).max(axis=1)


def smoothgrad(model, x, target, samples: int = 25, noise: float = 0.15,
               seed: int = 0) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the saliency map averaged over noisy copies of x::

        M_hat(x) = 1/n sum_{s=1..n} M(x + e_s),   e_s ~ N(0, sigma^2),
        sigma = noise * (max(x_n) - min(x_n))   for each sample n

    Args:
        model, x, target: as :func:`saliency`.
        samples: the number n of noisy copies (the paper finds little change beyond 50).
        noise: the noise's standard deviation as a fraction of each image's value range
            (10-20% work best in the paper). ``noise=0`` gives :func:`saliency` exactly.
        seed: seed of the noise, so a map can be reproduced.

    Returns:
        (N, H, W) non-negative maps.
    """
    if not _is_int(samples) or samples < 1:
        raise ValueError(f"smoothgrad: samples must be a positive int, got {samples!r}")
    if not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"smoothgrad: noise must be a fraction >= 0 of the input range, "
                         f"got {noise!r}")
    x = _batch("smoothgrad", model, x)
    rng = np.random.default_rng(seed)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))         # (N,)
    total = 0.0
    for _ in range(samples):
        e = rng.standard_normal(x.shape) * sigma[:, None, None, None]
        total = total + saliency(model, (x + e).astype(x.dtype), target)
    return total / samples


def guided_backprop(model, x, target) -> np.ndarray:
    """Guided backpropagation (Springenberg et al. 2015, section 3.4).

    The input gradient of S_t, except that each ReLU passes back only positive gradients, and
    only where its forward input was positive (masked both by the data and by the signal)::

        gx = gy * [x > 0] * [gy > 0]

    Max pooling routes the gradient to each window's maximum, as in the ordinary backward.
    Every ReLU of the model (``nn.ReLU`` layers and ``F.relu`` calls) follows the rule; other
    activations keep their derivative.

    Returns:
        (N, C, H, W): the reconstruction, signed, in the input's layout.
    """
    return _input_gradient("guided_backprop", model, x, target, "guided")


def deconvnet(model, x, target) -> np.ndarray:
    """The deconvnet reconstruction (Zeiler & Fergus 2014, section 2.1) of S_t.

    Going down, each ReLU rectifies the signal it receives and ignores the sign of its forward
    input; max pooling "unpools" through the forward's switches (the ordinary max-pool backward);
    convolutions and linear layers apply their transposed filters (their ordinary backward)::

        gx = gy * [gy > 0]

    Returns:
        (N, C, H, W): the reconstruction, signed, in the input's layout.
    """
    return _input_gradient("deconvnet", model, x, target, "deconvnet")


# ---- Grad-CAM --------------------------------------------------------------------------------
def last_conv_layer(model) -> str:
    """The dotted name of the model's last ``nn.Conv2d`` (in registration order): Grad-CAM's
    default layer, whose maps keep space and the most abstract features."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise ValueError(f"grad_cam: {type(model).__name__} has no Conv2d layer; "
                         f"pass layer= (a module or its dotted name)")
    return names[-1]


def _find_layer(model, layer):
    """``(module, dotted name)`` for a module of ``model`` or its name (``None``: the last conv)."""
    if layer is None:
        layer = last_conv_layer(model)
    found = named_layer(model, layer)
    if found is not None:
        return found[1], found[0]
    if isinstance(layer, nn.Module):
        raise ValueError(f"grad_cam: layer must be a module of the model, got a "
                         f"{type(layer).__name__} that is not part of {type(model).__name__}")
    known = layer_names(model)
    shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
    raise ValueError(f"grad_cam: unknown layer {layer!r}; the model's layers are: {shown}")


@contextlib.contextmanager
def _cut_at(module):
    """Replace ``module``'s outputs, while in the block, by leaf tensors that require grad.

    A forward hook returns the leaf in place of the output, so the score's backward stops there
    and leaves dS/dA in the leaf's ``.grad`` (the layers below it record no graph). The list
    yielded collects one leaf per call of the module (a shared layer runs more than once).
    """
    outputs = []

    def cut(module, args, out):
        a = Tensor(out.data, requires_grad=True)
        outputs.append(a)
        return a

    with module.register_forward_hook(cut):
        yield outputs


def grad_cam(model, x, target, layer=None, normalize: bool = True) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017, section 3): where the layer's maps point to class t.

    With A (N, K, h, w) the activations of ``layer``::

        w[n, k]  = 1/(h w) sum_{i,j} dS_t / dA[n, k, i, j]     (eq. 1: global-average-pooled grads)
        L[n]     = ReLU(sum_k w[n, k] A[n, k])                  (eq. 2)

    then L is upsampled bilinearly to (H, W) and, with ``normalize``, divided by its maximum.

    Args:
        model, x, target: as :func:`saliency`.
        layer: the layer whose output is A: a module of ``model`` or its dotted name
            (``"features.28"``); default the last ``nn.Conv2d`` (:func:`last_conv_layer`).
            A layer run more than once per forward (a shared ReLU) counts at its last call.
        normalize: scale each map to a maximum of 1 (an all-zero map stays zero).

    Returns:
        (N, H, W) non-negative maps.
    """
    xb = _batch("grad_cam", model, x)
    module, name = _find_layer(model, layer)
    with frozen(model), enable_grad(), _cut_at(module) as outputs:
        scores = model(Tensor(xb))
        targets = _targets("grad_cam", target, len(xb), scores)
        if not outputs:
            raise ValueError(f"grad_cam: layer {name!r} did not run in the model's forward")
        a = outputs[-1]
        if a.ndim != 4:
            raise ValueError(f"grad_cam: layer {name!r} must give feature maps (N, K, h, w), "
                             f"got shape {a.shape}")
        if not scores.requires_grad:
            raise ValueError(f"grad_cam: the class scores do not depend on layer {name!r}")
        scores.backward(_one_hot(targets, scores.data))
    acts = a.numpy()
    grads = np.zeros_like(acts) if a.grad is None else a.grad.numpy()
    weights = grads.mean(axis=(2, 3))                                        # (N, K)
    cam = np.maximum((weights[:, :, None, None] * acts).sum(axis=1), 0)     # (N, h, w)
    cam = _resize_bilinear(cam, xb.shape[2:])                                # (N, H, W)
    if normalize:
        peak = cam.max(axis=(1, 2), keepdims=True)
        cam = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    return cam


# ---- occlusion -------------------------------------------------------------------------------
def _pair(op: str, arg: str, value, limit) -> tuple:
    pair = (value, value) if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) \
        else None
    if pair is None or len(pair) != 2 or not all(_is_int(v) and v >= 1 for v in pair):
        raise ValueError(f"{op}: {arg} must be a positive int or a pair (height, width), "
                         f"got {value!r}")
    if limit is not None and (pair[0] > limit[0] or pair[1] > limit[1]):
        raise ValueError(f"{op}: {arg} must fit in the {limit[0]}x{limit[1]} image, got {value!r}")
    return pair


def _class_values(model, batch, by: str) -> np.ndarray:
    """(B, K) probabilities or scores of a batch."""
    scores = model(Tensor(batch))
    return (F.softmax(scores, dim=1) if by == "probability" else scores).numpy()


def occlusion(model, x, target, patch=None, stride=None, fill=None, by: str = "probability",
              batch_size: int = 64) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus 2014, section 4.2).

    A ``fill``-valued patch is slid over the image with ``stride``; at each position p the drop
    of the target's value is recorded, d_p = v_t(x) - v_t(x with the patch at p), v the
    softmax probability (``by="probability"``) or the score S_t (``by="score"``). Each pixel gets
    the mean of d_p over the positions whose patch covers it (Captum's convention), 0 where no
    patch reaches. A large positive value: hiding that region hurts the class.

    Args:
        model, x, target: as :func:`saliency`.
        patch: the patch's size, an int or (height, width); default a quarter of the image's
            shorter side.
        stride: the step between positions, an int or a pair; default half the patch.
        fill: the patch's value, a number or one per channel; default each image's per-channel
            mean (a "grey" patch in the input's own normalisation).
        by: ``"probability"`` (the paper's) or ``"score"``.
        batch_size: occluded copies evaluated per forward pass.

    Returns:
        (N, H, W) maps.
    """
    op = "occlusion"
    x = _batch(op, model, x)
    n, c, h, w = x.shape
    if patch is None:
        patch = max(1, min(h, w) // 4)
    ph, pw = _pair(op, "patch", patch, (h, w))
    sh, sw = _pair(op, "stride", max(1, min(ph, pw) // 2) if stride is None else stride, None)
    if by not in ("probability", "score"):
        raise ValueError(f"{op}: by must be 'probability' or 'score', got {by!r}")
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"{op}: batch_size must be a positive int, got {batch_size!r}")
    if fill is not None and np.size(fill) not in (1, c):
        raise ValueError(f"{op}: fill must be a number or one per channel ({c}), got {fill!r}")
    corners = [(i, j) for i in range(0, h - ph + 1, sh) for j in range(0, w - pw + 1, sw)]
    heat, count = np.zeros((n, h, w)), np.zeros((h, w))
    for i, j in corners:
        count[i:i + ph, j:j + pw] += 1
    with frozen(model), no_grad():
        values = _class_values(model, x, by)
        targets = _targets(op, target, n, values)
        for s, t in enumerate(targets):
            value = x[s].mean(axis=(1, 2)) if fill is None else np.broadcast_to(fill, (c,))
            for start in range(0, len(corners), batch_size):
                chunk = corners[start:start + batch_size]
                copies = np.repeat(x[s:s + 1], len(chunk), axis=0)       # (B, C, H, W)
                for k, (i, j) in enumerate(chunk):
                    copies[k, :, i:i + ph, j:j + pw] = np.asarray(value)[:, None, None]
                drops = values[s, t] - _class_values(model, copies, by)[:, t]
                for k, (i, j) in enumerate(chunk):
                    heat[s, i:i + ph, j:j + pw] += drops[k]
    return np.divide(heat, count, out=np.zeros_like(heat), where=count > 0).astype(x.dtype)


# ---- drawing ---------------------------------------------------------------------------------
def _as_picture(image: np.ndarray, signed: bool = False) -> tuple:
    """``(array for imshow, colour map)`` of a (C, H, W) or (H, W) array scaled to [0, 1];
    ``signed`` maps 0 to mid-grey (for guided backprop and deconvnet reconstructions)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3:
        a = a.transpose(1, 2, 0) if a.shape[0] == 3 else a.mean(axis=0)
    if signed:
        scale = np.abs(a).max()
        a = 0.5 + 0.5 * a / scale if scale > 0 else np.full_like(a, 0.5)
    else:
        low, high = a.min(), a.max()
        a = (a - low) / (high - low) if high > low else np.zeros_like(a)
    return a, ("gray" if a.ndim == 2 else None)


def plot_attribution(image, attribution, path, title: str | None = None,
                     cmap: str = "jet", alpha: float = 0.5) -> None:
    """Write a PNG: the image, the attribution, and the attribution's heat map over the image.

    Args:
        image: one input image, (C, H, W) or (H, W) (any range: it is scaled to [0, 1]).
        attribution: one map (H, W) (saliency, Grad-CAM, occlusion), or a reconstruction
            (C, H, W) (guided backprop, deconvnet: drawn as an image, 0 as mid-grey, and as
            max_c |.| over the image).
        path: the PNG file to write.
        title: a title over the panels.
        cmap: matplotlib colour map of the heat map.
        alpha: opacity of the heat map over the image.
    """
    from ..plots import _figure
    attribution = np.asarray(attribution, dtype=np.float64)
    picture, grey = _as_picture(image)
    if attribution.ndim == 3:
        middle, middle_cmap = _as_picture(attribution, signed=True)
        heat = np.abs(attribution).max(axis=0)
    elif attribution.ndim == 2:
        middle, middle_cmap, heat = attribution, cmap, attribution
    else:
        raise ValueError(f"plot_attribution: attribution must be (H, W) or (C, H, W), "
                         f"got shape {attribution.shape}")
    if heat.shape != picture.shape[:2]:
        raise ValueError(f"plot_attribution: the attribution is {heat.shape[0]}x{heat.shape[1]} "
                         f"but the image is {picture.shape[0]}x{picture.shape[1]}")
    figure, axes = _figure(10.5, 3.8, columns=3)
    axes[0].imshow(picture, cmap=grey)
    axes[0].set_title("input")
    shown = axes[1].imshow(middle, cmap=middle_cmap)
    if attribution.ndim == 2:
        figure.colorbar(shown, ax=axes[1], fraction=0.046)
    axes[1].set_title("attribution")
    axes[2].imshow(picture, cmap=grey)
    axes[2].imshow(heat, cmap=cmap, alpha=alpha)
    axes[2].set_title("overlay")
    for ax in axes:
        ax.set_axis_off()
    if title:
        figure.suptitle(title)
    figure.savefig(path)
