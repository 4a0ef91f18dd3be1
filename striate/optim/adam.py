"""Adam and AdamW: moving averages of the gradient and of its square (Kingma & Ba, 2015;
Loshchilov & Hutter, 2019)."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam: a step along the gradient's running mean, scaled per element by its running RMS.

    Step ``t = 1, 2, ...`` for a parameter ``w`` with gradient ``g``, in PyTorch's order::

        g <- -g                                    if maximize
        w <- w * (1 - lr * weight_decay)           if decoupled_weight_decay (AdamW), else
        g <- g + weight_decay * w                  (L2 decay through the gradient)
        m <- beta1 * m + (1 - beta1) * g           (first moment)
        v <- beta2 * v + (1 - beta2) * g * g       (second moment)
        v_max <- max(v_max, v)                     if amsgrad; v_max then replaces v below
        w <- w - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    ``m`` and ``v`` start at zero, so early on they are biased towards zero; dividing by
    ``1 - beta^t`` corrects that. ``eps`` is added after the bias correction of ``sqrt(v)``.

    Args:
        params: tensors or parameter groups (see :class:`Optimizer`).
        lr: learning rate ``>= 0``. Default 1e-3.
        betas: ``(beta1, beta2)``, each in ``[0, 1)``: decay of the two moving averages.
            Default (0.9, 0.999).
        eps: added to the denominator for numerical stability, ``>= 0``. Default 1e-8.
        weight_decay: decay coefficient ``>= 0``. Default 0.
        amsgrad: use the running maximum of ``v`` (Reddi et al., 2018).
        maximize: ascend the objective instead of descending.
        decoupled_weight_decay: shrink the weights directly instead of adding the decay to the
            gradient (this is AdamW).

    State per parameter: ``step`` (an int), ``exp_avg`` (``m``), ``exp_avg_sq`` (``v``) and,
    with amsgrad, ``max_exp_avg_sq`` (``v_max``).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        name = self._name
        if not options["eps"] >= 0.0:
            raise ValueError(f"{name}: eps must be >= 0, got {options['eps']}")
        betas = options["betas"]
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: betas[{i}] must be in [0, 1), got {beta}")
        if not options["weight_decay"] >= 0.0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {options['weight_decay']}")

    def _update(self, p, grad, state, group) -> None:
        xp = get_array_module(p.data)
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1
        step = state["step"]

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.data *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p.data
        m += (1 - beta1) * (g - m)  # = beta1 * m + (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g

        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        if group["amsgrad"]:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:  # amsgrad switched on after the first step
                v_max = state["max_exp_avg_sq"] = xp.zeros_like(p.data)
            xp.maximum(v_max, v, out=v_max)
            v = v_max
        denom = xp.sqrt(v) / bias_correction2_sqrt + eps
        p.data -= (lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    The same step as :class:`Adam` except that the decay shrinks the weights directly,
    ``w <- w * (1 - lr * weight_decay)``, before the Adam step, instead of entering the gradient
    (where Adam's per-element scaling would weaken it for parameters with large gradients).

    Args:
        params, lr, betas, eps, amsgrad, maximize: as for :class:`Adam`.
        weight_decay: decoupled decay coefficient ``>= 0``. Default 1e-2.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        """As :meth:`Optimizer.load_state_dict`; the decay stays decoupled (as in PyTorch)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
