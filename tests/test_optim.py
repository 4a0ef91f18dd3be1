"""Optimisers step for step against torch.optim (checklist F4).

The same parameters (a few tensors of different shapes) get the same sequence of random
gradients in both libraries; after every step the parameters must agree (float64 to 1e-12,
float32 to float32 rounding), over a grid of each optimiser's options.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import striate
from striate import optim

torch.set_num_threads(1)

SHAPES = [(3, 4), (5,), (2, 3, 2)]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}
OPTIMIZERS = {"SGD": (optim.SGD, torch.optim.SGD), "Adam": (optim.Adam, torch.optim.Adam),
              "AdamW": (optim.AdamW, torch.optim.AdamW),
              "RMSprop": (optim.RMSprop, torch.optim.RMSprop)}
# torch's implementation switches (foreach/fused kernels, differentiable, CUDA graphs)
TORCH_ONLY_OPTIONS = {"foreach", "fused", "differentiable", "capturable"}


def _grid():
    cases = []
    for m in (0, 0.9):
        for d in (0, 0.3):
            for nesterov in (False, True):
                for wd in (0, 0.05):
                    for mx in (False, True):
                        if nesterov and (m == 0 or d != 0):
                            continue
                        cases.append(("SGD", dict(lr=0.1, momentum=m, dampening=d,
                                                  nesterov=nesterov, weight_decay=wd,
                                                  maximize=mx)))
    for name in ("Adam", "AdamW"):
        for amsgrad in (False, True):
            for wd in (0, 0.1):
                for mx in (False, True):
                    for betas in ((0.9, 0.999), (0.5, 0.9)):
                        cases.append((name, dict(lr=0.05, betas=betas, weight_decay=wd,
                                                 amsgrad=amsgrad, maximize=mx)))
    for centered in (False, True):
        for m in (0, 0.9):
            for wd in (0, 0.1):
                for mx in (False, True):
                    cases.append(("RMSprop", dict(lr=0.01, momentum=m, weight_decay=wd,
                                                  centered=centered, maximize=mx)))
    cases.append(("RMSprop", dict(lr=0.01, alpha=0.8, eps=1e-3, centered=True, momentum=0.5)))
    cases.append(("Adam", dict(lr=0.01, eps=1e-3)))
    return [pytest.param(name, kw, id=f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()))
            for name, kw in cases]


CASES = _grid()
DEFAULTS = [pytest.param(n, dict(lr=0.1) if n == "SGD" else {}, id=n) for n in OPTIMIZERS]


def make_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [striate.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def make_grads(n_steps, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(n_steps)]


def set_grads(params, grads, lib, skip=()):
    for i, (p, g) in enumerate(zip(params, grads)):
        if i in skip:
            p.grad = None
        else:
            p.grad = striate.tensor(g) if lib == "striate" else torch.tensor(g)


def assert_same(ours, theirs, dtype, msg=""):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p.data, q.detach().numpy(), **TOL[dtype],
                                   err_msg=f"{msg} parameter {i}")


def run_both(opt_s, opt_t, ours, theirs, grads, dtype, skips=None):
    for t, step_grads in enumerate(grads):
        skip = (skips or {}).get(t, ())
        set_grads(ours, step_grads, "striate", skip)
        set_grads(theirs, step_grads, "torch", skip)
        opt_s.step()
        opt_t.step()
        assert_same(ours, theirs, dtype, f"step {t}:")


# ---- trajectories ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", CASES)
def test_trajectory_matches_torch(name, kwargs, dtype):
    ours_cls, torch_cls = OPTIMIZERS[name]
    ours, theirs = make_params(dtype)
    opt_s, opt_t = ours_cls(ours, **kwargs), torch_cls(theirs, **kwargs)
    run_both(opt_s, opt_t, ours, theirs, make_grads(10, dtype), dtype)
    assert all(p.dtype == dtype for p in ours)
    for p_state in opt_s.state.values():
        assert all(v.dtype == dtype for v in p_state.values() if isinstance(v, np.ndarray))


GROUP_OPTIONS = {"SGD": dict(momentum=0.5), "Adam": dict(betas=(0.8, 0.99)),
                 "AdamW": dict(weight_decay=0.3), "RMSprop": dict(centered=True)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_param_groups_with_their_own_settings(name):
    """Two groups with different lrs and options; a third added later by add_param_group."""
    ours_cls, torch_cls = OPTIMIZERS[name]
    ours, theirs = make_params(np.float64)

    def groups(p):
        return [{"params": [p[0]], "lr": 0.05}, {"params": p[1], "lr": 0.2, **GROUP_OPTIONS[name]}]

    opt_s, opt_t = ours_cls(groups(ours), lr=0.01), torch_cls(groups(theirs), lr=0.01)
    grads = make_grads(8, np.float64)
    run_both(opt_s, opt_t, ours[:2], theirs[:2], [g[:2] for g in grads[:4]], np.float64)
    opt_s.add_param_group({"params": [ours[2]], "lr": 0.3})
    opt_t.add_param_group({"params": [theirs[2]], "lr": 0.3})
    run_both(opt_s, opt_t, ours, theirs, grads[4:], np.float64)
    assert [g["lr"] for g in opt_s.param_groups] == [0.05, 0.2, 0.3]


@pytest.mark.parametrize("name,kwargs", DEFAULTS + [
    pytest.param("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), id="SGD-nesterov"),
    pytest.param("RMSprop", dict(momentum=0.9, centered=True), id="RMSprop-centered-momentum")])
def test_parameter_without_grad_is_skipped(name, kwargs):
    ours_cls, torch_cls = OPTIMIZERS[name]
    ours, theirs = make_params(np.float64)
    opt_s, opt_t = ours_cls(ours, **kwargs), torch_cls(theirs, **kwargs)
    before = ours[1].data.copy()
    skips = {0: (1,), 1: (1,), 2: (1, 2), 5: (0,)}
    grads = make_grads(8, np.float64)
    run_both(opt_s, opt_t, ours, theirs, grads[:2], np.float64, skips)
    np.testing.assert_array_equal(ours[1].data, before)
    assert ours[1] not in opt_s.state
    later_skips = {t - 2: skip for t, skip in skips.items()}
    run_both(opt_s, opt_t, ours, theirs, grads[2:], np.float64, later_skips)


# ---- checkpoints -------------------------------------------------------------------------------
ROUND_TRIP = DEFAULTS + [
    pytest.param("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01), id="SGD-momentum"),
    pytest.param("Adam", dict(amsgrad=True), id="Adam-amsgrad"),
    pytest.param("RMSprop", dict(momentum=0.5, centered=True), id="RMSprop-centered")]


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP)
def test_state_dict_round_trip_continues_the_same_trajectory(name, kwargs):
    cls = OPTIMIZERS[name][0]
    grads = make_grads(10, np.float64)
    straight, _ = make_params(np.float64)
    opt = cls(straight, **kwargs)
    for g in grads:
        set_grads(straight, g, "striate")
        opt.step()

    first, _ = make_params(np.float64)
    opt1 = cls(first, **kwargs)
    for g in grads[:5]:
        set_grads(first, g, "striate")
        opt1.step()
    saved = opt1.state_dict()
    second = [striate.tensor(p.data.copy(), requires_grad=True) for p in first]
    opt2 = cls(second, lr=123.0)  # settings come back from the state dict
    opt2.load_state_dict(copy.deepcopy(saved))
    assert opt2.param_groups[0]["lr"] == opt1.param_groups[0]["lr"]
    for g in grads[5:]:
        set_grads(second, g, "striate")
        opt2.step()
    for p, q in zip(second, straight):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP)
def test_state_dict_has_torch_structure(name, kwargs):
    ours_cls, torch_cls = OPTIMIZERS[name]
    ours, theirs = make_params(np.float64)
    opt_s = ours_cls([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.3}], **kwargs)
    opt_t = torch_cls([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.3}], **kwargs)
    run_both(opt_s, opt_t, ours, theirs, make_grads(3, np.float64), np.float64, {0: (1,)})
    sd_s, sd_t = opt_s.state_dict(), opt_t.state_dict()
    assert sd_s.keys() == sd_t.keys()
    assert sorted(sd_s["state"]) == sorted(sd_t["state"])
    for i, st in sd_t["state"].items():
        assert sd_s["state"][i].keys() == st.keys()
        for key, value in st.items():
            if key == "step":
                assert sd_s["state"][i][key] == float(value)
            else:
                assert isinstance(sd_s["state"][i][key], np.ndarray)
                np.testing.assert_allclose(sd_s["state"][i][key], value.numpy(), rtol=1e-12)
    for gs, gt in zip(sd_s["param_groups"], sd_t["param_groups"], strict=True):
        assert gs["params"] == gt["params"]
        assert set(gt) - set(gs) <= TORCH_ONLY_OPTIONS and set(gs) <= set(gt)
        assert all(gs[k] == gt[k] for k in gs)


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP)
def test_loads_torch_state_dict(name, kwargs):
    """A torch checkpoint taken mid-training continues the same way in Striate."""
    ours_cls, torch_cls = OPTIMIZERS[name]
    _, theirs = make_params(np.float64)
    opt_t = torch_cls(theirs, **kwargs)
    grads = make_grads(8, np.float64)
    for g in grads[:4]:
        set_grads(theirs, g, "torch")
        opt_t.step()
    ours = [striate.tensor(q.detach().numpy().copy(), requires_grad=True) for q in theirs]
    opt_s = ours_cls(ours)
    opt_s.load_state_dict(opt_t.state_dict())
    run_both(opt_s, opt_t, ours, theirs, grads[4:], np.float64)


def test_state_dict_survives_json():
    """Integer keys come back as strings and arrays as lists; loading still works."""
    ours, _ = make_params(np.float32)
    opt = optim.Adam(ours, lr=0.1, amsgrad=True)
    set_grads(ours, make_grads(1, np.float32)[0], "striate")
    opt.step()
    text = json.dumps(opt.state_dict(), default=lambda a: a.tolist())
    other = optim.Adam([striate.tensor(p.data.copy(), requires_grad=True) for p in ours])
    other.load_state_dict(json.loads(text))
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["amsgrad"]
    for p, q in zip(ours, other.param_groups[0]["params"]):
        for key, value in opt.state[p].items():
            if key == "step":
                assert other.state[q][key] == value == 1
            else:
                assert other.state[q][key].dtype == np.float32
                np.testing.assert_array_equal(other.state[q][key], value)


def test_state_dict_is_a_snapshot():
    ours, _ = make_params(np.float64)
    opt = optim.SGD(ours, lr=0.1, momentum=0.9)
    grads = make_grads(2, np.float64)
    set_grads(ours, grads[0], "striate")
    opt.step()
    saved = opt.state_dict()
    kept = saved["state"][0]["momentum_buffer"].copy()
    set_grads(ours, grads[1], "striate")
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    np.testing.assert_array_equal(saved["state"][0]["momentum_buffer"], kept)
    assert saved["param_groups"][0]["lr"] == 0.1


def test_adamw_is_adam_with_decoupled_decay_and_stays_so():
    a, _ = make_params(np.float64)
    b, _ = make_params(np.float64)
    opt_a = optim.AdamW(a, lr=0.1, weight_decay=0.2)
    opt_b = optim.Adam(b, lr=0.1, weight_decay=0.2, decoupled_weight_decay=True)
    for g in make_grads(4, np.float64):
        set_grads(a, g, "striate")
        set_grads(b, g, "striate")
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)
    adam_state = optim.Adam(make_params(np.float64)[0]).state_dict()
    opt_a.load_state_dict(adam_state)
    assert opt_a.param_groups[0]["decoupled_weight_decay"] is True


# ---- the lectures' form, the API around step ----------------------------------------------------
def test_sgd_momentum_is_the_lectures_form():
    """v <- alpha v + lambda dE/dw;  w <- w - v   equals   SGD(lr=lambda, momentum=alpha)."""
    alpha, lam = 0.8, 0.05
    ours, _ = make_params(np.float64)
    w = [p.data.copy() for p in ours]
    v = [np.zeros_like(x) for x in w]
    opt = optim.SGD(ours, lr=lam, momentum=alpha)
    for grads in make_grads(10, np.float64):
        set_grads(ours, grads, "striate")
        opt.step()
        for i, g in enumerate(grads):
            v[i] = alpha * v[i] + lam * g
            w[i] = w[i] - v[i]
        for p, x in zip(ours, w):
            np.testing.assert_allclose(p.data, x, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_minimises_a_loss_through_autograd(name):
    rng = np.random.default_rng(3)
    x = striate.tensor(rng.standard_normal((32, 4)))
    y = striate.tensor(x.data @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.7)
    w = striate.zeros(4, 1, dtype=np.float64, requires_grad=True)
    b = striate.zeros(1, dtype=np.float64, requires_grad=True)
    opt = OPTIMIZERS[name][0]([w, b], lr=0.05)

    def closure():
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(200):
        last = opt.step(closure).item()
    assert last < 0.1 * first


def test_zero_grad():
    ours, _ = make_params(np.float32)
    opt = optim.SGD(ours, lr=0.1)
    set_grads(ours, make_grads(1, np.float32)[0], "striate")
    grad = ours[0].grad
    opt.zero_grad(set_to_none=False)
    assert ours[0].grad is grad and not grad.data.any()
    opt.zero_grad()
    assert all(p.grad is None for p in ours)
    opt.step()  # nothing to do: no gradients


def test_closure_runs_once_with_grad_enabled():
    p = striate.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    calls = []

    def closure():
        calls.append(striate.is_grad_enabled())
        loss = (p * p).sum()
        loss.backward()
        return loss

    with striate.no_grad():
        loss = opt.step(closure)
    assert calls == [True] and loss.item() == 5.0
    np.testing.assert_allclose(p.data, [0.0, 0.0])


def test_repr_lists_the_settings():
    text = repr(optim.SGD(make_params(np.float32)[0], lr=0.25, momentum=0.9))
    assert text.startswith("SGD (") and "lr: 0.25" in text and "momentum: 0.9" in text


# ---- errors ------------------------------------------------------------------------------------
def _p():
    return striate.tensor(np.ones(3, np.float32), requires_grad=True)


ERRORS = [
    (lambda: optim.SGD([], lr=0.1), ValueError, "SGD: got an empty parameter list"),
    (lambda: optim.Adam(_p()), TypeError, "got a single Tensor"),
    (lambda: optim.SGD([_p(), 3.0], lr=0.1), TypeError, "parameter 1 of group 0 is a float"),
    (lambda: optim.SGD([np.ones(3)], lr=0.1), TypeError, "can only optimize Tensors"),
    (lambda: optim.SGD([striate.tensor([1, 2])], lr=0.1), TypeError,
     "has dtype int64; only floating-point"),
    (lambda: optim.SGD({_p()}, lr=0.1), TypeError, "not a set"),
    (lambda: optim.SGD([{"params": {_p()}}], lr=0.1), TypeError, "ordered collection"),
    (lambda: optim.SGD([_p() * 2], lr=0.1), ValueError, "non-leaf"),
    (lambda: optim.SGD([_p()], lr=-0.1), ValueError, "SGD: lr must be >= 0, got -0.1"),
    (lambda: optim.SGD([{"params": [_p()], "lr": -1.0}], lr=0.1), ValueError, "lr must be >= 0"),
    (lambda: optim.SGD([_p()], lr=0.1, momentum=-0.5), ValueError, "momentum must be >= 0"),
    (lambda: optim.SGD([_p()], lr=0.1, weight_decay=-1), ValueError, "weight_decay must be >= 0"),
    (lambda: optim.SGD([_p()], lr=0.1, nesterov=True), ValueError,
     "Nesterov momentum requires momentum > 0 and dampening == 0"),
    (lambda: optim.SGD([_p()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "dampening=0.1"),
    (lambda: optim.Adam([_p()], betas=(1.0, 0.999)), ValueError,
     r"Adam: betas\[0\] must be in \[0, 1\), got 1.0"),
    (lambda: optim.AdamW([_p()], betas=(0.9, -0.1)), ValueError, r"AdamW: betas\[1\]"),
    (lambda: optim.Adam([_p()], betas=(0.9,)), ValueError, "betas must be a pair"),
    (lambda: optim.Adam([_p()], eps=-1e-8), ValueError, "eps must be >= 0"),
    (lambda: optim.RMSprop([_p()], alpha=-0.1), ValueError, "RMSprop: alpha must be >= 0"),
    (lambda: optim.RMSprop([_p()], momentum=-0.1), ValueError, "RMSprop: momentum must be >= 0"),
    (lambda: optim.SGD([_p()], lr=0.1).add_param_group([_p()]), TypeError,
     "a parameter group must be a dict"),
]


@pytest.mark.parametrize("make,error,match", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_parameter_in_two_groups_is_an_error():
    p = _p()
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p, _p()]}], lr=0.1)
    with pytest.warns(UserWarning, match="same parameter more than once"):
        optim.SGD([p, p], lr=0.1)


def test_gradient_of_the_wrong_shape_is_an_error():
    p = _p()
    p.grad = striate.tensor(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"gradient of shape \(4,\) .* shape \(3,\)"):
        optim.SGD([p], lr=0.1).step()


def test_load_state_dict_errors():
    opt = optim.SGD([{"params": [_p(), _p()]}, {"params": [_p()]}], lr=0.1, momentum=0.9)
    for p in (q for g in opt.param_groups for q in g["params"]):
        p.grad = striate.tensor(np.ones(3, np.float32))
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="state dict has 2 parameter groups, the optimizer has 1"):
        optim.SGD([_p(), _p(), _p()], lr=0.1).load_state_dict(saved)
    other = optim.SGD([{"params": [_p()]}, {"params": [_p(), _p()]}], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict, 1 in"):
        other.load_state_dict(saved)
    wrong = optim.SGD([{"params": [_p(), _p()]},
                       {"params": [striate.zeros(2, requires_grad=True)]}], lr=0.1)
    with pytest.raises(ValueError, match=r"'momentum_buffer' has shape \(3,\), its parameter"):
        wrong.load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
