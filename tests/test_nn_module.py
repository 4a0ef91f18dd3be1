"""Module bookkeeping: registration, names, modes, state dicts; init schemes' distributions."""
import math

import numpy as np
import pytest
import torch

import striate
from striate import nn
from striate.nn import init


class Affine(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(np.ones((n_out, n_in), np.float32))
        self.bias = nn.Parameter(np.zeros(n_out, np.float32))
        self.register_buffer("calls", striate.zeros(1))

    def forward(self, x):
        return x @ self.weight.T + self.bias


class TorchAffine(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n_out, n_in))
        self.bias = torch.nn.Parameter(torch.zeros(n_out))
        self.register_buffer("calls", torch.zeros(1))


def build(lib_module, lib_affine, seq, mlist, mdict):
    net = lib_module()
    net.body = seq(lib_affine(3, 4), lib_affine(4, 2))
    net.heads = mlist([lib_affine(2, 2), lib_affine(2, 1)])
    net.extra = mdict({"a": lib_affine(1, 1)})
    return net


def test_state_dict_names_and_shapes_equal_pytorch():
    ours = build(nn.Module, Affine, nn.Sequential, nn.ModuleList, nn.ModuleDict)
    theirs = build(torch.nn.Module, TorchAffine, torch.nn.Sequential, torch.nn.ModuleList,
                   torch.nn.ModuleDict)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    assert all(sd[k].shape == tuple(tsd[k].shape) for k in sd)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]


def test_load_state_dict_from_pytorch_and_errors():
    ours = Affine(3, 2)
    theirs = TorchAffine(3, 2)
    with torch.no_grad():
        theirs.weight.normal_()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    with pytest.raises(KeyError, match="missing keys"):
        ours.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"weight has shape \(2, 3\) in the model"):
        ours.load_state_dict({"weight": np.zeros((3, 3)), "bias": np.zeros(2),
                              "calls": np.zeros(1)})


def test_train_eval_reach_every_module_and_zero_grad():
    net = build(nn.Module, Affine, nn.Sequential, nn.ModuleList, nn.ModuleDict)
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    y = net.body(striate.ones(5, 3)).sum()
    y.backward()
    assert all(p.grad is not None for p in net.body.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_shared_parameter_is_listed_once():
    a = Affine(2, 2)
    seq = nn.Sequential(a, a)
    assert len(list(seq.parameters())) == 2
    assert seq.num_parameters() == 6


def test_sequential_indexing_and_repr():
    seq = nn.Sequential(Affine(3, 4), Affine(4, 2))
    assert isinstance(seq[1], Affine) and len(seq[:1]) == 1
    assert "(0): Affine" in repr(seq)
    assert seq(striate.ones(2, 3)).shape == (2, 2)


def test_module_needs_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(RuntimeError, match="super"):
        Bad()


# ---- init schemes ----------------------------------------------------------------------------
def test_fans_follow_pytorch():
    w = striate.zeros(8, 4, 3, 5)
    assert init.calculate_fan_in_and_fan_out(w) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(8, 4, 3, 5))


@pytest.mark.parametrize("nl, param", [("relu", None), ("leaky_relu", 0.2), ("tanh", None),
                                       ("selu", None), ("sigmoid", None), ("linear", None)])
def test_gains_follow_pytorch(nl, param):
    assert math.isclose(init.calculate_gain(nl, param), torch.nn.init.calculate_gain(nl, param))


@pytest.mark.parametrize("scheme, kwargs, std, bound", [
    ("xavier_uniform_", {}, math.sqrt(2 / (64 * 9 + 32 * 9)), math.sqrt(6 / (64 * 9 + 32 * 9))),
    ("xavier_normal_", {}, math.sqrt(2 / (64 * 9 + 32 * 9)), None),
    ("kaiming_uniform_", dict(nonlinearity="relu"), math.sqrt(2 / (64 * 9)),
     math.sqrt(6 / (64 * 9))),
    ("kaiming_normal_", dict(nonlinearity="relu", mode="fan_out"), math.sqrt(2 / (32 * 9)), None),
    ("normal_", dict(std=0.01), 0.01, None),
])
def test_init_distributions(scheme, kwargs, std, bound):
    striate.manual_seed(0)
    w = getattr(init, scheme)(striate.zeros(32, 64, 3, 3), **kwargs).numpy()
    assert abs(w.std() / std - 1) < 0.03
    assert abs(w.mean()) < 0.05 * std
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound


def test_apply_visits_children_first_and_to_casts_in_place():
    seq = nn.Sequential(Affine(3, 4), Affine(4, 2))
    seen = []
    seq.apply(lambda m: seen.append(m))
    assert seen == [seq[0], seq[1], seq]
    seq.double()
    assert all(p.dtype == np.float64 for p in seq.parameters())
    assert seq(striate.ones(2, 3, dtype="float64")).dtype == np.float64
    seq.float()
    assert seq[0].calls.dtype == np.float32


def test_forward_hooks_follow_pytorchs_semantics():
    """Pre-hooks may replace the arguments (a single value is wrapped), forward hooks the output;
    each sees what the one before it made; remove() stops them; forward() bypasses them."""
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    calls, results = {}, {}
    for lib, module, x in (("striate", ours, striate.ones(1, 3)),
                           ("torch", theirs, torch.ones(1, 3))):
        seen = calls[lib] = []

        def pre(m, args):
            seen.append(("pre", type(m).__name__, len(args)))
            return args[0] + 1

        def post(m, args, out):
            seen.append(("post", round(args[0].sum().item(), 4)))  # the replaced input: 2 * 3
            return out * 2

        def post2(m, args, out):
            seen.append(("post2", round(out.sum().item(), 4)))  # post's output

        handles = [module.register_forward_pre_hook(pre), module.register_forward_hook(post),
                   module.register_forward_hook(post2)]
        results[lib] = np.asarray(module(x).detach() if lib == "torch" else module(x).numpy())
        module.forward(x)  # no hooks on a direct forward call
        for handle in handles:
            handle.remove()
        handles[0].remove()  # twice is harmless
        module(x)
    assert calls["striate"] == calls["torch"] and len(calls["striate"]) == 3
    np.testing.assert_allclose(results["striate"], results["torch"], rtol=1e-6)
    with ours.register_forward_hook(lambda m, args, out: out * 0):
        assert float(np.abs(ours(striate.ones(1, 3)).numpy()).sum()) == 0
    assert float(np.abs(ours(striate.ones(1, 3)).numpy()).sum()) > 0


def test_skip_init_builds_without_drawing():
    striate.manual_seed(3)
    expected = nn.Conv2d(3, 8, 3).weight.data
    striate.manual_seed(3)
    with nn.init.skip_init():
        layer = nn.Conv2d(3, 8, 3)
        assert not np.any(layer.weight.data)          # left as allocated (zeros)
        assert nn.init.kaiming_normal_(layer.weight) is layer.weight
    # the generator did not move: the next layer draws what the first draw would have been
    np.testing.assert_array_equal(nn.Conv2d(3, 8, 3).weight.data, expected)
