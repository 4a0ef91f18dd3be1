"""Learning-rate schedules (checklist F7): fixed, step decay, gradual decay, a user function of
the epoch, warm-up, cosine, one-cycle, and reduce-on-plateau.

A schedule wraps an optimiser and rewrites each parameter group's ``"lr"`` when its ``step()`` is
called, once per epoch (or per batch, for :class:`OneCycleLR`), *after* the optimiser's step::

    opt = SGD(params, lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(90):
        train_one_epoch(opt)          # calls opt.step() per batch
        sched.step()

Values and state follow ``torch.optim.lr_scheduler`` step for step. Like PyTorch, most schedules
update the rate *recursively* from the group's current ``"lr"`` (so two schedules on one
optimiser compose by multiplication); the closed forms in the docstrings give the same values.
``last_epoch`` counts the ``step()`` calls; building a schedule performs step 0 and sets each
group's ``"initial_lr"`` (the base rate ``lr_0`` below) when it is not set yet.
"""
from __future__ import annotations

import copy
import math
import types
import warnings
from bisect import bisect_right

from ..autograd import Tensor
from .optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "LinearLR", "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"]


class LRScheduler:
    """Base class: keeps ``last_epoch`` and writes :meth:`get_lr`'s values into the groups.

    Args:
        optimizer: the optimiser whose groups' ``"lr"`` this schedule sets.
        last_epoch: index of the last epoch done; ``-1`` starts fresh. To resume, pass the
            epoch reached (the groups must then hold ``"initial_lr"``, as a loaded optimiser
            state does), or better, build fresh and :meth:`load_state_dict`.

    Attributes:
        base_lrs: each group's ``"initial_lr"``.
        last_epoch: how many times :meth:`step` ran (0 right after construction).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr' "
                               f"to resume from last_epoch={last_epoch}; load the optimizer "
                               "state first, or start with last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:
        """The learning rates for epoch ``last_epoch`` (from the current group rates)."""
        raise NotImplementedError

    def _closed_form_lr(self) -> list:
        """The rates at ``last_epoch`` computed from ``base_lrs`` alone."""
        return self.get_lr()

    def get_last_lr(self) -> list:
        """The learning rate of each group as last set by this schedule."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch and set the groups' learning rates."""
        if self._step_count == 1 and self.optimizer._step_count == 0:
            warnings.warn(f"{type(self).__name__}.step() was called before the optimizer's "
                          "step(); call optimizer.step() first, or the first value of the "
                          "schedule is skipped", UserWarning, stacklevel=2)
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._closed_form_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Every attribute but the optimiser (copied), as PyTorch's schedules do."""
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the attributes saved by :meth:`state_dict`."""
        self.__dict__.update(copy.deepcopy(state_dict))


def _per_group(name: str, optimizer: Optimizer, value, owner: str) -> list:
    """``value`` for each group: a list of one per group, or one value for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{owner}: {name} has {len(value)} values, the optimizer has "
                             f"{len(optimizer.param_groups)} parameter groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


class LambdaLR(LRScheduler):
    """``lr = lr_0 * lr_lambda(epoch)``: a user function of the epoch (Keras'
    ``LearningRateScheduler`` builds on this).

    Args:
        optimizer: the wrapped optimiser.
        lr_lambda: a function of the epoch (an int) returning a factor, or a list of such
            functions, one per parameter group.
        last_epoch: see :class:`LRScheduler`.

    Example::

        LambdaLR(opt, lambda epoch: 1 / (1 + 0.01 * epoch))   # gradual 1/t decay
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        self.lr_lambdas = _per_group("lr_lambda", optimizer, lr_lambda, "LambdaLR")
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base_lr * fn(self.last_epoch)
                for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict:
        """As the base; a plain function is saved as ``None``, a callable object as its
        attributes (as in PyTorch)."""
        state = {k: copy.deepcopy(v) for k, v in vars(self).items()
                 if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        fn_states = state.pop("lr_lambdas")
        self.__dict__.update(copy.deepcopy(state))
        for fn, fn_state in zip(self.lr_lambdas, fn_states):
            if fn_state is not None:
                fn.__dict__.update(fn_state)


class StepLR(LRScheduler):
    """Step decay: ``lr = lr_0 * gamma ** (epoch // step_size)``.

    Args:
        optimizer: the wrapped optimiser.
        step_size: epochs between two decays, ``>= 1``.
        gamma: the factor of each decay. Default 0.1.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list:
        return [lr * self.gamma ** (self.last_epoch // self.step_size) for lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Decay at chosen epochs: ``lr = lr_0 * gamma ** (number of milestones <= epoch)``.

    Args:
        optimizer: the wrapped optimiser.
        milestones: epoch indices; one listed twice decays twice.
        gamma: the factor of each decay. Default 0.1.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return self._current_lrs()
        return [lr * self.gamma ** hits for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list:
        passed = bisect_right(self.milestones, self.last_epoch)
        return [lr * self.gamma ** passed for lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Gradual decay every epoch: ``lr = lr_0 * gamma ** epoch``.

    Args:
        optimizer: the wrapped optimiser.
        gamma: the factor per epoch.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list:
        return [lr * self.gamma ** self.last_epoch for lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing (Loshchilov & Hutter, SGDR, without restarts).

    Closed form, epoch ``t``::

        lr_t = eta_min + (lr_0 - eta_min) * (1 + cos(pi * t / T_max)) / 2

    computed, as in PyTorch, recursively from the current rate::

        lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t / T_max))
                                               / (1 + cos(pi (t - 1) / T_max))

    except where the denominator vanishes (``t - 1 = T_max`` mod ``2 T_max``), where
    ``lr_t = lr_{t-1} + (lr_0 - eta_min) * (1 - cos(pi / T_max)) / 2``. Past ``T_max`` the rate
    climbs back along the cosine.

    Args:
        optimizer: the wrapped optimiser.
        T_max: half-period in epochs, ``> 0``.
        eta_min: the lowest rate. Default 0.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base_lr in zip(self._current_lrs(), self.base_lrs, strict=True)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list:
        cos = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (lr - self.eta_min) * cos / 2 for lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of the factor: ``lr = lr_0 * (start_factor + (end_factor -
    start_factor) * min(epoch, total_iters) / total_iters)``, then constant.

    Args:
        optimizer: the wrapped optimiser.
        start_factor: the factor at epoch 0, in ``(0, 1]``. Default 1/3.
        end_factor: the factor from ``total_iters`` on, in ``[0, 1]``. Default 1.
        total_iters: epochs of the ramp. Default 5.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        if not total_iters > 0:
            raise ValueError(f"LinearLR: total_iters must be > 0, got {total_iters}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor
                                + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list:
        change = self.end_factor - self.start_factor
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        return [lr * (self.start_factor + change * done) for lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    r"""The one-cycle policy (Smith & Topin, 2018), stepped once per *batch*.

    The rate rises from ``initial_lr = max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start * total_steps`` steps, then falls to ``min_lr = initial_lr / final_div_factor``
    at step ``total_steps - 1``. With ``three_phase`` it falls back to ``initial_lr``
    symmetrically first, and only then anneals to ``min_lr``. Inside a phase from ``a`` to ``b``
    at fraction ``p`` of it::

        cos:     lr = b + (a - b) * (1 + cos(pi * p)) / 2
        linear:  lr = a + (b - a) * p

    Phase ends are ``pct_start * total_steps - 1`` (and ``2 * pct_start * total_steps - 2``)
    and ``total_steps - 1``. With ``cycle_momentum`` the momentum (SGD, RMSprop) or ``beta1``
    (Adam) moves the opposite way, between ``max_momentum`` and ``base_momentum``.

    Args:
        optimizer: the wrapped optimiser.
        max_lr: the peak rate (or one per group).
        total_steps: steps in the cycle; or give ``epochs`` and ``steps_per_epoch``.
        epochs, steps_per_epoch: ``total_steps = epochs * steps_per_epoch``.
        pct_start: the fraction of the cycle spent rising, a float in [0, 1]. Default 0.3.
        anneal_strategy: ``"cos"`` (default) or ``"linear"``.
        cycle_momentum: cycle the momentum inversely to the rate. Default True.
        base_momentum, max_momentum: its bounds (or one per group). Default 0.85, 0.95.
        div_factor: ``initial_lr = max_lr / div_factor``. Default 25.
        final_div_factor: ``min_lr = initial_lr / final_div_factor``. Default 1e4.
        three_phase: use the three-phase variant (fast.ai's). Default False.
        last_epoch: see :class:`LRScheduler` (counts batches here).
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: expected an Optimizer, got {type(optimizer).__name__}")
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        up_end = float(pct_start * self.total_steps) - 1
        if three_phase:  # (end step, start key, end key) of each phase, for lr and momentum
            self._phases = [(up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                             "base_momentum", "max_momentum"),
                            (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                             "max_momentum")]
        else:
            self._phases = [(up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (self.total_steps - 1, "max_lr", "min_lr", "base_momentum",
                             "max_momentum")]
        max_lrs = _per_group("max_lr", optimizer, max_lr, "OneCycleLR")
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._init_momentum(optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)

    def _init_momentum(self, optimizer, base_momentum, max_momentum, last_epoch) -> None:
        if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum or "
                             f"betas, {type(optimizer).__name__} has neither; pass "
                             "cycle_momentum=False")
        self.use_beta1 = "betas" in optimizer.defaults
        tops = _per_group("max_momentum", optimizer, max_momentum, "OneCycleLR")
        bases = _per_group("base_momentum", optimizer, base_momentum, "OneCycleLR")
        if last_epoch == -1:
            for group, top, base in zip(optimizer.param_groups, tops, bases):
                self._set_momentum(group, top)
                group["max_momentum"] = top
                group["base_momentum"] = base

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the cycle has "
                             f"total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr_a, lr_b, mom_a, mom_b) in enumerate(self._phases):
                if step <= end_step or i == len(self._phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[lr_a], group[lr_b], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[mom_a], group[mom_b], pct))
                    break
                start_step = end_step
        return lrs


def _total_steps(total_steps, epochs, steps_per_epoch) -> int:
    if total_steps is not None:
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: total_steps must be a positive int, got {total_steps!r}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: give either total_steps or both epochs and steps_per_epoch")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"OneCycleLR: {name} must be a positive int, got {value!r}")
    return epochs * steps_per_epoch


class SequentialLR(LRScheduler):
    """Run schedules one after another, switching at the milestones (e.g. warm-up, then cosine).

    At milestone ``m_i`` the next schedule restarts from its epoch 0 (its closed form), then
    steps on from there.

    Args:
        optimizer: the optimiser all the schedules wrap.
        schedulers: the schedules, in order (not :class:`ReduceLROnPlateau`).
        milestones: the epochs at which to switch; one fewer than the schedules.
        last_epoch: see :class:`LRScheduler`.

    Example::

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        cosine = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warmup, cosine], milestones=[5])
    """

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers, milestones = list(schedulers), list(milestones)
        if len(schedulers) < 1:
            raise ValueError("SequentialLR: expected at least one scheduler, got none")
        for i, sched in enumerate(schedulers):
            if isinstance(sched, ReduceLROnPlateau):
                raise ValueError(f"SequentialLR: scheduler {i} is a ReduceLROnPlateau, whose "
                                 "step needs a metric; it cannot be sequenced")
            if getattr(sched, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(sched).__name__}) wraps "
                                 "another optimizer; all must wrap the same one")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones for "
                             f"{len(schedulers)} schedulers, got {len(milestones)}")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:  # undo what building the schedules did
            group["lr"] = group["initial_lr"]
        for sched in schedulers:
            _undo_step(sched)
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def state_dict(self) -> dict:
        state = {k: copy.deepcopy(v) for k, v in vars(self).items()
                 if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [sched.state_dict() for sched in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        scheduler_states = state.pop("_schedulers")
        self.__dict__.update(copy.deepcopy(state))
        for sched, sched_state in zip(self._schedulers, scheduler_states, strict=True):
            sched.load_state_dict(sched_state)


def _undo_step(sched) -> None:
    """Take back the step 0 that building a schedule performed (inside nested ones too)."""
    if isinstance(sched, SequentialLR):
        for inner in sched._schedulers:
            _undo_step(inner)
    else:
        sched.last_epoch -= 1


class ReduceLROnPlateau(LRScheduler):
    """Reduce the rate when a monitored metric stops improving (Keras' ``ReduceLROnPlateau``).

    ``step(metric)`` once per epoch. The metric *improves* when, for ``mode="min"``,
    ``metric < best * (1 - threshold)`` (``threshold_mode="rel"``) or
    ``metric < best - threshold`` (``"abs"``); for ``mode="max"``, ``metric > best * (1 +
    threshold)`` or ``metric > best + threshold``. After more than ``patience`` epochs in a row
    without improvement, every group's rate becomes ``max(lr * factor, min_lr)`` (skipped when
    that changes it by no more than ``eps``); then ``cooldown`` epochs pass in which bad epochs are
    not counted.

    Args:
        optimizer: the wrapped optimiser.
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy). Default "min".
        factor: the reduction factor, ``< 1``. Default 0.1.
        patience: epochs without improvement tolerated before reducing. Default 10.
        threshold: the least change that counts as an improvement. Default 1e-4.
        threshold_mode: ``"rel"`` or ``"abs"``. Default "rel".
        cooldown: epochs to wait after a reduction before counting again. Default 0.
        min_lr: the lowest rate, one for all groups or a list. Default 0.
        eps: reductions smaller than this are ignored. Default 1e-8.

    Example::

        sched = ReduceLROnPlateau(opt, factor=0.5, patience=2, min_lr=1e-5)
        for epoch in range(50):
            train_one_epoch(opt)
            sched.step(validation_loss())
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr=0, eps: float = 1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError("ReduceLROnPlateau: expected an Optimizer, "
                            f"got {type(optimizer).__name__}")
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        self.min_lrs = _per_group("min_lr", optimizer, min_lr, "ReduceLROnPlateau")
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics) -> None:
        """Record this epoch's metric and reduce the rates if it has plateaued."""
        current = metrics.item() if isinstance(metrics, Tensor) else float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown don't count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} "
                                   f"parameter groups, min_lr was given for {len(self.min_lrs)}")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
