"""Learning-rate schedules epoch for epoch against torch.optim.lr_scheduler (checklist F7)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import striate
from striate import optim
from striate.optim import lr_scheduler as sched_s

sched_t = torch.optim.lr_scheduler
EPOCHS = 30
LRS = (0.1, 0.05)


def make_optimizers(kind="SGD", lrs=LRS):
    """The same two-group optimiser in both libraries (one small parameter per group)."""
    ours = [striate.zeros(3, dtype=np.float64, requires_grad=True) for _ in lrs]
    theirs = [torch.zeros(3, dtype=torch.float64, requires_grad=True) for _ in lrs]
    kwargs = dict(momentum=0.9) if kind == "SGD" else {}
    opt_s = getattr(optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(ours, lrs)],
                                 **kwargs)
    opt_t = getattr(torch.optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(theirs, lrs)],
                                       **kwargs)
    return opt_s, opt_t


def assert_same_lrs(ours, theirs, msg=""):
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16, err_msg=msg)


def assert_same_groups(opt_s, opt_t, msg=""):
    for gs, gt in zip(opt_s.param_groups, opt_t.param_groups, strict=True):
        for key in ("lr", "momentum", "betas"):
            if key in gt:
                assert_same_lrs(np.ravel(gs[key]), np.ravel(gt[key]), f"{msg} {key}")


def step_both(opt_s, opt_t, scheds_s, scheds_t, epochs=EPOCHS, metrics=None):
    """Step the optimisers then the schedules each epoch, comparing the rates every time."""
    assert_same_groups(opt_s, opt_t, "initial")
    history = []
    for epoch in range(epochs):
        opt_s.step()
        opt_t.step()
        for s, t in zip(scheds_s, scheds_t):
            if metrics is None:
                s.step()
                t.step()
            else:
                s.step(metrics[epoch])
                t.step(metrics[epoch])
            assert_same_lrs(s.get_last_lr(), t.get_last_lr(), f"epoch {epoch}")
        assert_same_groups(opt_s, opt_t, f"epoch {epoch}")
        history.append(scheds_s[-1].get_last_lr())
    return history


def _half_life(epoch):
    return 0.5 ** (epoch / 10)


class Warmup:
    """A callable object: its attributes survive LambdaLR's state dict."""

    def __init__(self, epochs):
        self.epochs = epochs

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.epochs)


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=7)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("MultiStepLR", dict(milestones=[12, 4])),
    ("ExponentialLR", dict(gamma=0.9)),
    ("ExponentialLR", dict(gamma=1.05)),
    ("LambdaLR", dict(lr_lambda=_half_life)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1 / (1 + 0.1 * e), Warmup(5)])),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("CosineAnnealingLR", dict(T_max=EPOCHS, eta_min=1e-4)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=1.0, total_iters=5)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=10)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=EPOCHS)),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=EPOCHS + 3, three_phase=True)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=EPOCHS, anneal_strategy="linear",
                        base_momentum=0.8, max_momentum=[0.9, 0.99])),
    ("OneCycleLR", dict(max_lr=2.0, epochs=5, steps_per_epoch=6, pct_start=0.25,
                        div_factor=10.0, final_div_factor=100.0, cycle_momentum=False)),
]
SCHEDULE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_torch(name, kwargs):
    opt_s, opt_t = make_optimizers()
    s = getattr(sched_s, name)(opt_s, **kwargs)
    t = getattr(sched_t, name)(opt_t, **kwargs)
    assert_same_lrs(s.get_last_lr(), t.get_last_lr(), "initial")
    assert all(g["initial_lr"] == tg["initial_lr"]
               for g, tg in zip(opt_s.param_groups, opt_t.param_groups))
    step_both(opt_s, opt_t, [s], [t])


def test_one_cycle_cycles_adams_beta1():
    opt_s, opt_t = make_optimizers("Adam")
    s = sched_s.OneCycleLR(opt_s, max_lr=0.01, total_steps=EPOCHS)
    t = sched_t.OneCycleLR(opt_t, max_lr=0.01, total_steps=EPOCHS)
    step_both(opt_s, opt_t, [s], [t])
    assert opt_s.param_groups[0]["betas"][1] == 0.999


def test_two_schedules_compose_like_torch():
    opt_s, opt_t = make_optimizers()
    scheds_s = [sched_s.ExponentialLR(opt_s, 0.9), sched_s.StepLR(opt_s, 4, gamma=0.5)]
    scheds_t = [sched_t.ExponentialLR(opt_t, 0.9), sched_t.StepLR(opt_t, 4, gamma=0.5)]
    step_both(opt_s, opt_t, scheds_s, scheds_t)


def _sequential(lib, opt):
    m = sched_s if lib == "striate" else sched_t
    warmup = m.LinearLR(opt, start_factor=0.1, total_iters=5)
    cosine = m.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    decay = m.ExponentialLR(opt, gamma=0.8)
    return m.SequentialLR(opt, [warmup, cosine, decay], milestones=[5, 15])


def test_sequential_warmup_then_cosine_matches_torch():
    opt_s, opt_t = make_optimizers()
    step_both(opt_s, opt_t, [_sequential("striate", opt_s)], [_sequential("torch", opt_t)])


def test_resume_with_last_epoch_matches_torch():
    opt_s, opt_t = make_optimizers()
    for opt in (opt_s, opt_t):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"] * 2
    s = sched_s.ExponentialLR(opt_s, 0.9, last_epoch=4)
    t = sched_t.ExponentialLR(opt_t, 0.9, last_epoch=4)
    step_both(opt_s, opt_t, [s], [t], epochs=10)
    assert s.last_epoch == t.last_epoch == 15


# ---- ReduceLROnPlateau -----------------------------------------------------------------------
LOSSES = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6,
          0.6, 0.6, 0.6, 0.6, 0.6, 0.5, 0.55, 0.6, 0.6, 0.6, 0.6, 0.45, 0.6, 0.6, 0.6]
PLATEAU = [dict(mode=mode, threshold_mode=tm, patience=pat, cooldown=cool, min_lr=min_lr,
                factor=0.5)
           for mode in ("min", "max") for tm in ("rel", "abs")
           for pat, cool in ((0, 0), (2, 0), (2, 3), (1, 1))
           for min_lr in (0, 0.02, [0.03, 0.001])]
PLATEAU += [dict(threshold=0.1, threshold_mode="abs", patience=1),
            dict(patience=0, factor=0.9, min_lr=0.045, eps=0.004), dict()]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_on_plateau_matches_torch(kwargs):
    metrics = LOSSES if kwargs.get("mode", "min") == "min" else [2 - x for x in LOSSES]
    opt_s, opt_t = make_optimizers()
    s = sched_s.ReduceLROnPlateau(opt_s, **kwargs)
    t = sched_t.ReduceLROnPlateau(opt_t, **kwargs)
    step_both(opt_s, opt_t, [s], [t], metrics=metrics)
    assert (s.best, s.num_bad_epochs, s.cooldown_counter, s.last_epoch) == \
        (t.best, t.num_bad_epochs, t.cooldown_counter, t.last_epoch)


def test_reduce_on_plateau_reduces_and_respects_min_lr():
    opt, _ = make_optimizers(lrs=(0.1,))
    s = sched_s.ReduceLROnPlateau(opt, factor=0.5, patience=1, min_lr=0.03)
    lrs = []
    for loss in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        s.step(striate.tensor(loss))  # a 0-d tensor works as well as a float
        lrs.append(s.get_last_lr()[0])
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03]


# ---- checkpoints -----------------------------------------------------------------------------
def _build(name, kwargs, opt):
    if name == "SequentialLR":
        return _sequential("striate", opt)
    return getattr(sched_s, name)(opt, **kwargs)


ROUND_TRIP = [pytest.param(name, kw, id=i) for name, kw, i in zip(
    *zip(*SCHEDULES), SCHEDULE_IDS)] + [pytest.param("SequentialLR", {}, id="SequentialLR")]


def _run(opt, sched, epochs, metrics=None):
    lrs = []
    for epoch in range(epochs):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[epoch])
        lrs.append(sched.get_last_lr() + [g.get("momentum") for g in opt.param_groups])
    return lrs


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP + [
    pytest.param("ReduceLROnPlateau", dict(patience=1, cooldown=2, factor=0.5), id="plateau")])
def test_state_dict_round_trip_continues_the_same_schedule(name, kwargs):
    metrics = LOSSES if name == "ReduceLROnPlateau" else None
    opt, _ = make_optimizers()
    straight = _run(opt, _build(name, kwargs, opt), EPOCHS, metrics)

    opt1, _ = make_optimizers()
    sched1 = _build(name, kwargs, opt1)
    first = _run(opt1, sched1, 12, metrics)
    saved_opt, saved_sched = opt1.state_dict(), sched1.state_dict()
    opt1.param_groups[0]["lr"] = 99.0  # the saved dicts are snapshots

    opt2, _ = make_optimizers(lrs=(7.0, 8.0))
    sched2 = _build(name, kwargs, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    rest = _run(opt2, sched2, EPOCHS - 12, metrics and metrics[12:])
    assert first + rest == straight


def test_lambda_state_dict_keeps_callable_objects_state():
    opt, _ = make_optimizers()
    warmup = Warmup(5)
    s = sched_s.LambdaLR(opt, [_half_life, warmup])
    saved = s.state_dict()
    assert saved["lr_lambdas"] == [None, {"epochs": 5}]
    warmup.epochs = 50
    s.load_state_dict(saved)
    assert warmup.epochs == 5


# ---- errors ----------------------------------------------------------------------------------
class Plain(optim.Optimizer):
    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))


def _opt():
    return make_optimizers()[0]


ERRORS = [
    (lambda: sched_s.StepLR(object(), 3), TypeError, "StepLR: expected an Optimizer, got object"),
    (lambda: sched_s.ReduceLROnPlateau("sgd"), TypeError, "expected an Optimizer, got str"),
    (lambda: sched_s.StepLR(_opt(), 0), ValueError, "step_size must be a positive int, got 0"),
    (lambda: sched_s.StepLR(_opt(), 3, last_epoch=5), KeyError, "no 'initial_lr'"),
    (lambda: sched_s.LinearLR(_opt(), start_factor=0), ValueError,
     r"start_factor must be in \(0, 1\]"),
    (lambda: sched_s.LinearLR(_opt(), end_factor=1.5), ValueError,
     r"end_factor must be in \[0, 1\]"),
    (lambda: sched_s.CosineAnnealingLR(_opt(), T_max=0), ValueError, "T_max must be > 0"),
    (lambda: sched_s.LambdaLR(_opt(), [_half_life]), ValueError,
     "lr_lambda has 1 values, the optimizer has 2 parameter groups"),
    (lambda: sched_s.LambdaLR(_opt(), 0.5), TypeError, "lr_lambda must be callable"),
    (lambda: sched_s.OneCycleLR(_opt(), 1.0), ValueError, "either total_steps or both epochs"),
    (lambda: sched_s.OneCycleLR(_opt(), 1.0, total_steps=0), ValueError,
     "total_steps must be a positive int"),
    (lambda: sched_s.OneCycleLR(_opt(), 1.0, epochs=2, steps_per_epoch=2.5), ValueError,
     "steps_per_epoch must be a positive int"),
    (lambda: sched_s.OneCycleLR(_opt(), 1.0, 10, pct_start=1), ValueError,
     r"pct_start must be a float in \[0, 1\], got 1"),
    (lambda: sched_s.OneCycleLR(_opt(), 1.0, 10, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be 'cos' or 'linear'"),
    (lambda: sched_s.OneCycleLR(_opt(), [1.0], 10), ValueError, "max_lr has 1 values"),
    (lambda: sched_s.OneCycleLR(Plain([striate.zeros(2, requires_grad=True)]), 1.0, 10),
     ValueError, "cycle_momentum needs an optimizer with momentum or betas, Plain"),
    (lambda: sched_s.ReduceLROnPlateau(_opt(), factor=1.0), ValueError, "factor must be < 1"),
    (lambda: sched_s.ReduceLROnPlateau(_opt(), mode="avg"), ValueError, "mode must be 'min'"),
    (lambda: sched_s.ReduceLROnPlateau(_opt(), threshold_mode="pct"), ValueError,
     "threshold_mode must be 'rel' or 'abs'"),
    (lambda: sched_s.ReduceLROnPlateau(_opt(), min_lr=[0.1]), ValueError, "min_lr has 1 values"),
]


@pytest.mark.parametrize("make,error,match", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_sequential_errors():
    opt, other = _opt(), _opt()
    step = sched_s.StepLR(opt, 3)
    with pytest.raises(ValueError, match="expected 1 milestones for 2 schedulers, got 0"):
        sched_s.SequentialLR(opt, [step, sched_s.ExponentialLR(opt, 0.9)], milestones=[])
    with pytest.raises(ValueError, match="scheduler 1 .ExponentialLR. wraps another optimizer"):
        sched_s.SequentialLR(opt, [step, sched_s.ExponentialLR(other, 0.9)], milestones=[3])
    with pytest.raises(ValueError, match="scheduler 0 is a ReduceLROnPlateau"):
        sched_s.SequentialLR(opt, [sched_s.ReduceLROnPlateau(opt)], milestones=[])
    with pytest.raises(ValueError, match="at least one scheduler"):
        sched_s.SequentialLR(opt, [], milestones=[])


def test_one_cycle_stepped_past_its_end():
    opt = _opt()
    s = sched_s.OneCycleLR(opt, 1.0, total_steps=3)
    for _ in range(3):
        opt.step()
        s.step()
    with pytest.raises(ValueError, match="tried to step 4 times; the cycle has total_steps=3"):
        s.step()


def test_warns_when_stepped_before_the_optimizer():
    s = sched_s.StepLR(_opt(), 3)
    with pytest.warns(UserWarning, match="called before the optimizer's step"):
        s.step()
