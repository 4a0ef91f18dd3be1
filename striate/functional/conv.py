"""Convolution in 1, 2 and 3 dimensions, its transpose, and true (flipped-kernel) convolution.

Checklist C1-C10 and C12. What deep learning calls "convolution" is *cross-correlation*: the
kernel slides over the input unflipped,

    S(i, j) = sum_m sum_n I(i + m, j + n) K(m, n),

while the convolution of signal processing flips it, S(i, j) = sum_m sum_n I(i - m, j - n) K(m, n).
``conv1d/2d/3d`` (also named ``correlate1d/2d/3d``) compute the first, as PyTorch does;
``convolve1d/2d/3d`` the second, by cross-correlating with the kernel reversed along every spatial
axis. A learned kernel does not care which (it learns the flipped one), so every framework uses the
cheaper cross-correlation.

Layouts follow ``torch.nn.functional``: inputs (N, C, *S) with S = (L,), (H, W) or (D, H, W);
weights (K, C/groups, *KS); transposed-convolution weights (C, K/groups, *KS). The computation runs
on channels-last arrays (:mod:`striate.functional.im2col`): a result keeps its (N, K, *O) shape but
is stored channels last, as PyTorch's ``channels_last`` tensors are, so the next convolution needs
no transposing copy.

Output size along each axis (W2 = (W1 - F + 2P)/S + 1 of the lectures, floored; see
:func:`conv_output_size`)::

    O = (S + 2P - D(KS-1) - 1) // stride + 1
"""
from __future__ import annotations

import numbers

from .. import kernels
from ..autograd import Function, Tensor, as_tensor
from ..backend import get_array_module
from . import fusion
from .im2col import (_backward_data, _backward_weights, _forward, col2im, conv_output_size,
                     im2col)
from .shape import getitem, pad, squeeze, unsqueeze

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "convolve1d", "convolve2d", "convolve3d", "correlate1d",
           "correlate2d", "correlate3d", "conv_output_size", "im2col", "col2im"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def _bias_grad(gy):
    """gb[k] = sum over n, o of gy[n, o, k], for channels-last gy (N, *O, K).

    Written as ones^T @ gy, one matrix-vector product: 8x faster than NumPy's sum over the
    leading axes on a ResNet-20 layer's (128, 28, 28, 16) gradient.
    """
    xp = get_array_module(gy)
    gy = gy.reshape(-1, gy.shape[-1])  # (N*O, K)
    return xp.ones(gy.shape[0], dtype=gy.dtype) @ gy


def _fast_kernels(x, pads):
    """oneDNN's convolution kernels when selected and able to run this case, else None.

    The fast kernels compute exactly the three reference computations below (forward,
    backward-data, backward-weights) on the same channels-last arrays; see
    :mod:`striate.kernels`. They take float32 only and no cropping (negative) padding.
    """
    if any(b < 0 or a < 0 for b, a in pads):
        return None
    return kernels.conv_kernels(x)


def _fast_args(stride, pads, dilation, groups) -> dict:
    return dict(stride=stride, padding_l=tuple(b for b, _ in pads),
                padding_r=tuple(a for _, a in pads), dilation=dilation, groups=groups)


class ConvNd(Function):
    """N-dimensional convolution (cross-correlation) with stride, padding, dilation and groups.

    Forward, written for one spatial axis (each further axis adds its own index o, m, stride,
    dilation); x_p is the zero-padded input (N, C, S + P_before + P_after)::

        y[n, k, o] = b[k] + sum_c sum_m x_p[n, c, o*S + m*D] * w[k, c, m]

    computed as im2col + one matrix product: y = cols @ W, cols (N*O, C*KS), W (C*KS, K).

    Backward, each gradient again a cross-correlation (C12)::

        gb[k]       = sum_n sum_o gy[n, k, o]
        gw[k, c, m] = sum_n sum_o gy[n, k, o] * x_p[n, c, o*S + m*D]
        gx_p[n, c, i] = sum_k sum_{m, o : o*S + m*D = i} gy[n, k, o] * w[k, c, m]

    gw is the correlation of the input with gy (gy used as a kernel dilated by the stride, summed
    over the batch): gw = cols^T @ gy. For gx, let g~ be gy dilated by the stride (S - 1 zeros
    between neighbours, g~[o*S] = gy[o]) and zero-padded by D(KS-1) on both sides. Substituting
    m' = KS - 1 - m::

        gx_p[n, c, i] = sum_k sum_m' g~[n, k, i + m'*D] * w[k, c, KS - 1 - m']

    the *full* correlation of the dilated gy with the kernel flipped along every spatial axis and
    transposed (its input and output channel axes swapped). gx is gx_p without the padding. At
    stride 1 this is computed literally (im2col + matrix product, no scatter); at stride > 1 as the
    same sum scattered, gx_p = col2im(gy @ W^T), which skips the zeros of the dilation. With groups
    G, every formula holds group by group: input channels g*C/G.. meet only filters g*K/G.. .

    Shapes: x (N, C, *S), w (K, C/G, *KS), b (K,) or None, y and gy (N, K, *O).
    """

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        x = xp.moveaxis(x, 1, -1)  # (N, *S, C): a view; channels last
        self.fast = _fast_kernels(x, self.padding)
        if self.fast is not None:
            x, w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)  # no copy when stored so
            self.x, self.w = x, w
            y = self.fast.conv_forward(x, w, b, **self._args())
            return xp.moveaxis(y, -1, 1)
        self.x, self.w = x, w  # references only: the columns are rebuilt in backward
        y = _forward(x, w, self.stride, self.padding, self.dilation, self.groups)  # (N, *O, K)
        if b is not None:
            y += b
        return xp.moveaxis(y, -1, 1)  # (N, K, *O), stored channels last

    def _args(self):
        return _fast_args(self.stride, self.padding, self.dilation, self.groups)

    def backward(self, gy):
        xp = get_array_module(gy)
        gy = xp.moveaxis(gy, 1, -1)  # (N, *O, K)
        need_x, need_w = self.needs_input_grad[:2]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        if self.fast is not None:
            return self._fast_backward(xp.ascontiguousarray(gy), need_x, need_w, need_b)
        gx = gw = gb = None
        if need_x:  # skipped for the data, which needs none
            gx = _backward_data(gy, self.w, self.x.shape[1:-1], self.stride, self.padding,
                                self.dilation, self.groups)
            gx = xp.moveaxis(gx, -1, 1)  # (N, C, *S)
        if need_w:
            gw = _backward_weights(self.x, gy, self.w.shape, self.stride, self.padding,
                                   self.dilation, self.groups)
        if need_b:
            gb = _bias_grad(gy)
        return gx, gw, gb

    def _fast_backward(self, gy, need_x, need_w, need_b):
        """The same three gradients from the fast kernels (gb with gw, in one pass)."""
        xp = get_array_module(gy)
        gx = gw = gb = None
        if need_x:
            gx = self.fast.conv_backward_data(gy, self.w, self.x.shape, **self._args())
            gx = xp.moveaxis(gx, -1, 1)
        if need_w:
            gw, gb = self.fast.conv_backward_weights(self.x, gy, self.w.shape,
                                                     with_bias=need_b, **self._args())
        elif need_b:
            gb = _bias_grad(gy)
        return gx, gw, gb


class ConvTransposeNd(Function):
    """Transposed convolution (learned upsampling, C10): the adjoint of :class:`ConvNd`.

    With A_w the convolution by w (K/G-per-group filters over C channels; here the transposed
    layer's input has C_in = K channels and its output C_out = C), the transposed convolution is
    y = A_w^T x + b: each input value scatters a scaled copy of its kernel into the output,
    which is exactly the input gradient of A_w::

        y[n, c, i*S + m*D - P] += x[n, k, i] * w[k, c, m]

    Its backward therefore reuses the convolution's other two kernels: gx = A_w gy (a forward
    convolution of gy with the same weight), gw = the weight gradient of A_w with input gy and
    output gradient x, gb = gy summed over the batch and spatial axes.

    Shapes: x (N, C_in, *I), w (C_in, C_out/G, *KS), y (N, C_out, *O) with
    O = (I - 1)*S - 2P + D(KS - 1) + output_padding + 1.
    """

    def __init__(self, stride, padding, dilation, groups, out_size):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.out_size = out_size

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        x = xp.moveaxis(x, 1, -1)  # (N, *I, C_in)
        self.fast = _fast_kernels(x, self.padding)
        if self.fast is not None:
            x, w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
        self.w = w
        self.x = x if self.needs_input_grad[1] else None
        if self.fast is not None:
            y_shape = (x.shape[0], *self.out_size, w.shape[1] * self.groups)
            y = self.fast.conv_backward_data(x, w, y_shape, **self._args())
        else:
            y = _backward_data(x, w, self.out_size, self.stride, self.padding, self.dilation,
                               self.groups)  # (N, *O, C_out)
        if b is not None:
            y = y + b
        return xp.moveaxis(y, -1, 1)

    def _args(self):
        return _fast_args(self.stride, self.padding, self.dilation, self.groups)

    def backward(self, gy):
        xp = get_array_module(gy)
        gy = xp.moveaxis(gy, 1, -1)  # (N, *O, C_out)
        gx = gw = gb = None
        if self.fast is not None:
            gy = xp.ascontiguousarray(gy)
        if self.needs_input_grad[0]:
            if self.fast is not None:
                gx = self.fast.conv_forward(gy, self.w, None, **self._args())
            else:
                gx = _forward(gy, self.w, self.stride, self.padding, self.dilation, self.groups)
            gx = xp.moveaxis(gx, -1, 1)  # (N, C_in, *I)
        if self.needs_input_grad[1]:
            if self.fast is not None:
                gw, _ = self.fast.conv_backward_weights(gy, self.x, self.w.shape, **self._args())
            else:
                gw = _backward_weights(gy, self.x, self.w.shape, self.stride, self.padding,
                                       self.dilation, self.groups)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = _bias_grad(gy)
        return gx, gw, gb


# ---------------------------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------------------------
def _ints(name: str, arg: str, value, nd: int, minimum: int) -> tuple:
    """An int or ``nd`` ints, each at least ``minimum``, as a tuple of ``nd`` ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value),) * nd
    elif isinstance(value, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        value = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name}: {arg} must be an int or a tuple of {nd} ints, got {value!r}")
    if len(value) != nd:
        raise ValueError(f"{name}: {arg} must be an int or a tuple of {nd} ints, got {value}")
    if any(v < minimum for v in value):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name}: {arg} must be {kind}, got {value}")
    return value


def _sizes(values) -> str:
    return "x".join(str(v) for v in values)


def _check_tensors(name: str, nd: int, x: Tensor, w: Tensor, b) -> None:
    for arg, t in (("input", x), ("weight", w), ("bias", b)):
        if t is not None and t.dtype.kind != "f":
            raise TypeError(f"{name}: {arg} must be a floating-point tensor, got dtype {t.dtype}")
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{name}: {arg} is {t.dtype} but input is {x.dtype}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name}: expected a {nd + 2}-d input (N, C, {_SPATIAL[nd]}) or an "
                         f"unbatched {nd + 1}-d one, got shape {x.shape}")
    if w.ndim != nd + 2:
        raise ValueError(f"{name}: expected a {nd + 2}-d weight, got shape {w.shape}")


def _check_groups(name: str, groups, channels: int, filters: int, filters_name: str) -> None:
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if channels % groups:
        raise ValueError(f"{name}: groups={groups} does not divide the input's {channels} "
                         "channels")
    if filters % groups:
        raise ValueError(f"{name}: groups={groups} does not divide the {filters} "
                         f"{filters_name}")


def _check_bias(name: str, b, channels: int) -> None:
    if b is not None and b.shape != (channels,):
        raise ValueError(f"{name}: bias must have shape ({channels},) for {channels} output "
                         f"channels, got {b.shape}")


def _same_padding(size, kernel_size, stride, dilation) -> tuple:
    """TensorFlow's 'same': O = ceil(S / stride); the smaller half before, the extra one after.

    total = max((ceil(S / stride) - 1) * stride + D(KS - 1) + 1 - S, 0).
    """
    total = max((-(-size // stride) - 1) * stride + dilation * (kernel_size - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _padding_pairs(name, padding, size, kernel_size, stride, dilation) -> tuple:
    """``(before, after)`` per spatial axis from an int, a tuple, 'valid' or 'same'."""
    nd = len(size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            return tuple(_same_padding(*a) for a in zip(size, kernel_size, stride, dilation))
        raise ValueError(f"{name}: padding must be an int, a tuple of {nd} ints, 'same' or "
                         f"'valid', got {padding!r}")
    return tuple((p, p) for p in _ints(name, "padding", padding, nd, 0))


def _check_fits(name: str, size, kernel_size, pads, dilation) -> None:
    spans = [d * (k - 1) + 1 for k, d in zip(kernel_size, dilation)]
    padded = [s + b + a for s, (b, a) in zip(size, pads)]
    if any(k > p for k, p in zip(spans, padded)):
        raise ValueError(f"{name}: kernel {_sizes(kernel_size)} (dilated {_sizes(spans)}) is "
                         f"larger than the padded input {_sizes(padded)} (input {_sizes(size)})")


def _pad_by_mode(name: str, x: Tensor, pads, mode: str) -> Tensor:
    """Pad with ``shape.pad`` in a copying mode, as ``torch.nn.Conv2d`` does for padding_mode."""
    for s, (b, a) in zip(x.shape[2:], pads):
        if (mode == "reflect" and max(b, a) >= s) or (mode == "circular" and max(b, a) > s):
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(f"{name}: padding_mode={mode!r} needs padding {limit} the input "
                             f"size, got padding {(b, a)} for size {s}")
    flat = tuple(v for pair in reversed(pads) for v in pair)  # torch order: last axis first
    return pad(x, flat, mode=mode)


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def _deferred(x, w, b, stride, pads, dilation, groups):
    """The convolution as a :class:`~striate.functional.fusion.PendingConv` when inference
    fusion applies (no graph, oneDNN kernels), else None."""
    if not fusion.wanted(x, w, b):  # first: a training step stops here
        return None
    fast = _fast_kernels(x.data, pads)
    if fast is None:
        return None
    args = _fast_args(stride, pads, dilation, groups)
    n, c, *size = x.shape
    out = fast.conv_output_shape((n, *size, c), w.shape, **args)
    return fusion.defer_conv(fast, x, w, b, args, (out[0], out[-1]) + tuple(out[1:-1]))


def _conv(name, nd, input, weight, bias, stride, padding, dilation, groups, padding_mode,
          flip=False) -> Tensor:
    x, w = as_tensor(input), as_tensor(weight)
    b = None if bias is None else as_tensor(bias)
    _check_tensors(name, nd, x, w, b)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = unsqueeze(x, 0)
    stride = _ints(name, "stride", stride, nd, 1)
    dilation = _ints(name, "dilation", dilation, nd, 1)
    channels, filters = x.shape[1], w.shape[0]
    _check_groups(name, groups, channels, filters, "filters (weight.shape[0])")
    if w.shape[1] * groups != channels:
        raise ValueError(f"{name}: weight has {w.shape[1]} input channels per group, input has "
                         f"{channels} channels (groups={groups})")
    _check_bias(name, b, filters)
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, "
                         f"got {padding_mode!r}")
    pads = _padding_pairs(name, padding, x.shape[2:], w.shape[2:], stride, dilation)
    if padding_mode != "zeros" and any(b_ or a for b_, a in pads):
        x = _pad_by_mode(name, x, pads, padding_mode)
        pads = ((0, 0),) * nd
    _check_fits(name, x.shape[2:], w.shape[2:], pads, dilation)
    if flip:  # true convolution: reverse the kernel along every spatial axis
        w = getitem(w, (Ellipsis,) + (slice(None, None, -1),) * nd)
    elif not unbatched:
        pending = _deferred(x, w, b, stride, pads, dilation, int(groups))
        if pending is not None:  # inference on oneDNN: later ops may fold into it
            return pending
    y = ConvNd(stride, pads, dilation, int(groups))(x, w, b)
    return squeeze(y, 0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros") -> Tensor:
    """1D convolution (cross-correlation) over (N, C, L), like ``torch.nn.functional.conv1d``.

    See :func:`conv2d` for the arguments, with one int per axis where it takes two.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros") -> Tensor:
    """2D convolution (cross-correlation), like ``torch.nn.functional.conv2d``::

        y[n, k, i, j] = b[k] + sum_c,u,v x_p[n, g*C/G + c, i*S + u*D, j*S + v*D] w[k, c, u, v]

    where x_p is the padded input and g = k // (K/G) the group of filter k.

    Args:
        input: (N, C, H, W), or (C, H, W) unbatched.
        weight: (K, C/groups, KH, KW): K filters, each spanning all C/groups channels of its group.
        bias: (K,) or None.
        stride: an int or (SH, SW), positive. A stride that leaves part of the input unreached
            is allowed; the output size floors (see :func:`conv_output_size`).
        padding: an int or (PH, PW) zeros on both sides; ``'valid'`` (none); ``'same'``: the
            output is ceil(H / SH) x ceil(W / SW), so the input size at stride 1. Its padding is
            split as TensorFlow does, total = max((ceil(H/S) - 1)*S + D(K-1) + 1 - H, 0), the
            smaller half before and the extra one after. PyTorch refuses ``'same'`` at stride > 1;
            there the result equals PyTorch's conv2d of that asymmetrically pre-padded input.
        dilation: an int or (DH, DW): the gap between kernel taps (atrous convolution, C6).
        groups: split the channels into groups convolved separately; groups == C with
            K = C * multiplier is the depthwise convolution (C8).
        padding_mode: ``'zeros'``, ``'reflect'`` (the lectures' mirror padding, edge not
            repeated), ``'replicate'`` or ``'circular'``. The non-zero modes pad with
            :func:`striate.functional.pad` first, as ``torch.nn.Conv2d`` does
            (``torch.nn.functional.conv2d`` itself has no such argument).

    Returns:
        (N, K, OH, OW) with OH = (H + PH_before + PH_after - DH(KH-1) - 1) // SH + 1, likewise OW.

    Raises:
        ValueError: a kernel larger than the padded input, mismatched channels, groups that do
            not divide the channels, a bias of the wrong shape, negative padding, a non-positive
            stride or dilation, an unknown padding string or mode, a wrong rank.
        TypeError: integer tensors, or dtypes that differ.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros") -> Tensor:
    """3D convolution (cross-correlation) over volumes (N, C, D, H, W), like
    ``torch.nn.functional.conv3d``. See :func:`conv2d`, with three ints per axis argument.
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


# Cross-correlation is what conv*d compute; these names say so.
correlate1d, correlate2d, correlate3d = conv1d, conv2d, conv3d


def convolve1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros") -> Tensor:
    """True 1D convolution, y[i] = sum_m x[i - m] w[m]: :func:`conv1d` with the kernel flipped."""
    return _conv("convolve1d", 1, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, flip=True)


def convolve2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros") -> Tensor:
    """True 2D convolution, S(i, j) = sum_m sum_n I(i - m, j - n) K(m, n) (C1).

    Equal to :func:`conv2d` (cross-correlation) with the kernel flipped along both spatial axes;
    the arguments are conv2d's. With ``padding=KS-1`` it is the "full" convolution of signal
    processing (``scipy.signal.convolve2d(mode='full')`` for one channel), with ``padding=0`` the
    "valid" one.
    """
    return _conv("convolve2d", 2, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, flip=True)


def convolve3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros") -> Tensor:
    """True 3D convolution: :func:`conv3d` with the kernel flipped along all three axes."""
    return _conv("convolve3d", 3, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, flip=True)


def _conv_transpose(name, nd, input, weight, bias, stride, padding, output_padding, groups,
                    dilation) -> Tensor:
    x, w = as_tensor(input), as_tensor(weight)
    b = None if bias is None else as_tensor(bias)
    _check_tensors(name, nd, x, w, b)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = unsqueeze(x, 0)
    stride = _ints(name, "stride", stride, nd, 1)
    dilation = _ints(name, "dilation", dilation, nd, 1)
    if isinstance(padding, str):
        raise ValueError(f"{name}: padding must be an int or a tuple of {nd} ints "
                         f"(transposed convolution has no {padding!r}), got {padding!r}")
    padding = _ints(name, "padding", padding, nd, 0)
    output_padding = _ints(name, "output_padding", output_padding, nd, 0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"{name}: output_padding {output_padding} must be smaller than "
                             f"either stride {stride} or dilation {dilation}")
    channels = x.shape[1]
    if w.shape[0] != channels:
        raise ValueError(f"{name}: weight has {w.shape[0]} input channels (weight.shape[0]), "
                         f"input has {channels} channels")
    _check_groups(name, groups, channels, channels, "input channels")  # C_out = shape[1]*G
    _check_bias(name, b, w.shape[1] * groups)
    in_size, kernel_size = x.shape[2:], w.shape[2:]
    out_size = tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1 for i, s, p, d, k, op in
                     zip(in_size, stride, padding, dilation, kernel_size, output_padding))
    if any(o < 1 for o in out_size):
        raise ValueError(f"{name}: output size {_sizes(out_size)} is too small (input "
                         f"{_sizes(in_size)}, kernel {_sizes(kernel_size)}, padding "
                         f"{_sizes(padding)})")
    # The convolution this one transposes, seen from the output: P on both sides, less the
    # output_padding rows it would reach with extra output positions (possible when
    # output_padding >= stride, e.g. stride 1 with dilation 2), so it maps back onto exactly I.
    pads = tuple((p, p - (op // s) * s) for p, op, s in zip(padding, output_padding, stride))
    y = ConvTransposeNd(stride, pads, dilation, int(groups), out_size)(x, w, b)
    return squeeze(y, 0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """1D transposed convolution, like ``torch.nn.functional.conv_transpose1d``.

    See :func:`conv_transpose2d`, with one int per axis argument.
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """2D transposed convolution ("deconvolution", learned upsampling; C10).

    The adjoint of :func:`conv2d`: the input gradient of the convolution with the same weight
    and settings, so it maps a tensor of conv2d's output shape back to its input shape (up to
    ``output_padding``). Each input value scatters its kernel, scaled, into the output at stride S
    (``y[i*S + m*D - P] += x[i] w[m]``).

    Args:
        input: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_in, C_out/groups, KH, KW), as PyTorch.
        bias: (C_out,) or None.
        stride, padding, dilation: those of the convolution this one transposes; ``padding``
            removes P rows/columns from each border of the output.
        output_padding: extra rows/columns at the end of the output (< stride or < dilation),
            to pick among the input sizes a strided convolution maps onto the same size.
        groups: as in conv2d.

    Returns:
        (N, C_out, OH, OW), OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """3D transposed convolution (V-Net's up-convolutions), like
    ``torch.nn.functional.conv_transpose3d``. See :func:`conv_transpose2d`.
    """
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)
