"""Ensembles and Monte-Carlo dropout (striate.ensemble): the averages against hand computations,
the disagreement numbers on a hand-built case, batch norm left in evaluation mode while dropout
samples, the R2 decomposition against a direct computation, and `striate train --ensemble K`."""
from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

import striate
import striate.functional as F
from striate import models, nn, train
from striate.autograd import Tensor
from striate.backend import get_rng_state
from test_cli import assert_user_error, run
from striate.ensemble import Ensemble, error_decomposition, mc_dropout_predict


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mlp(seed, n_in=4, hidden=16, n_out=3, p=0.5, batch_norm=True):
    """Linear -> BatchNorm1d -> ReLU -> Dropout(p) -> Linear, seeded, with non-trivial running
    statistics so that using them (or not) shows in the outputs."""
    striate.manual_seed(seed)
    layers = [nn.Linear(n_in, hidden)]
    if batch_norm:
        bn = nn.BatchNorm1d(hidden)
        rng = np.random.default_rng(seed + 100)
        bn.running_mean.data[...] = rng.normal(0, 0.5, hidden)
        bn.running_var.data[...] = rng.uniform(0.5, 2.0, hidden)
        bn.weight.data[...] = rng.uniform(0.5, 1.5, hidden)
        bn.bias.data[...] = rng.normal(0, 0.2, hidden)
        layers.append(bn)
    layers += [nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, n_out)]
    return nn.Sequential(*layers)


def inputs(n=6, n_in=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, n_in)).astype(np.float32)


def eval_logits(model, x):
    model.eval()
    with striate.no_grad():
        return model(Tensor(x)).numpy().astype(np.float64)


class Fixed(nn.Module):
    """A member whose logits are given (log of the given probabilities), whatever the input."""

    def __init__(self, probs):
        super().__init__()
        self.logits = np.log(np.asarray(probs, dtype=np.float64))

    def forward(self, x):
        return Tensor(self.logits[:len(x.data)])


class Pick(nn.Module):
    """Member i returns input i of a tuple: lets gradcheck drive the members' logits."""

    def __init__(self, i):
        super().__init__()
        self.i = i

    def forward(self, x):
        return x[self.i]


# ---- Ensemble ------------------------------------------------------------------------------
def test_probs_mode_averages_the_members_softmax():
    members = [mlp(seed) for seed in range(3)]
    x = inputs()
    hand = np.mean([softmax(eval_logits(m, x)) for m in members], axis=0)
    ens = Ensemble(members).eval()
    with striate.no_grad():
        out = ens(Tensor(x)).numpy()
    np.testing.assert_allclose(out, np.log(hand), atol=1e-5)   # log p_bar: valid logits
    np.testing.assert_allclose(softmax(out.astype(np.float64)), hand, atol=1e-6)
    pred = ens.predict(x, batch_size=4)                        # two batches
    np.testing.assert_allclose(pred.mean, hand, atol=1e-6)
    for k, m in enumerate(members):
        np.testing.assert_allclose(pred.member_probs[k], softmax(eval_logits(m, x)), atol=1e-6)
    # cross_entropy of the output is the ensemble's negative log-likelihood
    y = np.array([0, 1, 2, 0, 1, 2])
    nll = float(F.cross_entropy(Tensor(out), Tensor(y)).item())
    assert nll == pytest.approx(-np.mean(np.log(hand[np.arange(6), y])), rel=1e-5)


def test_logits_mode_averages_the_logits():
    members = [mlp(seed) for seed in range(3)]
    x = inputs()
    hand = np.mean([eval_logits(m, x) for m in members], axis=0)
    ens = Ensemble(members, combine="logits").eval()
    with striate.no_grad():
        np.testing.assert_allclose(ens(Tensor(x)).numpy(), hand, atol=1e-5)
    pred = ens.predict(x)
    np.testing.assert_allclose(pred.mean, softmax(hand), atol=1e-6)
    # the softmax of the mean logits is not the mean of the softmaxes
    assert np.abs(pred.mean - pred.member_probs.mean(axis=0)).max() > 1e-3


def test_combined_output_is_stable_and_differentiable():
    """Logit gaps of hundreds: the log-mean-exp stays finite and its gradient checks."""
    rng = np.random.default_rng(0)
    a = Tensor(rng.normal(0, 100, (3, 4)), requires_grad=True)
    b = Tensor(rng.normal(0, 1, (3, 4)), requires_grad=True)
    ens = Ensemble([Pick(0), Pick(1)])
    out = ens((a, b)).numpy()
    assert np.isfinite(out).all()
    hand = 0.5 * softmax(a.numpy()) + 0.5 * softmax(b.numpy())
    np.testing.assert_allclose(np.exp(out), hand, rtol=1e-10, atol=1e-300)
    assert striate.gradcheck(lambda p, q: ens((p, q)), [a, b])
    assert striate.gradcheck(lambda p, q: Ensemble([Pick(0), Pick(1)], "logits")((p, q)), [a, b])


def test_disagreement_and_spread_on_a_hand_built_case():
    # sample 0: two members say class 1 (0.6) but one is sure of class 0, so the average picks 0
    # and 2 of 3 votes dissent; sample 1: every member votes class 2, no dissent
    probs = np.array([[[0.38, 0.60, 0.02], [0.20, 0.30, 0.50]],
                      [[0.38, 0.60, 0.02], [0.10, 0.10, 0.80]],
                      [[0.98, 0.01, 0.01], [0.30, 0.30, 0.40]]])          # (K, N, C)
    pred = Ensemble([Fixed(p) for p in probs]).predict(np.zeros((2, 1), np.float32))
    np.testing.assert_allclose(pred.mean, probs.mean(axis=0), atol=1e-12)
    assert pred.mean.argmax(axis=1).tolist() == [0, 2]
    np.testing.assert_allclose(pred.disagreement, [2 / 3, 0.0])
    np.testing.assert_allclose(pred.std[0], [np.std([0.38, 0.38, 0.98]),
                                             np.std([0.6, 0.6, 0.01]),
                                             np.std([0.02, 0.02, 0.01])], atol=1e-12)
    np.testing.assert_allclose(pred.variance, (probs.std(axis=0) ** 2).sum(axis=1))
    # the ambiguity decomposition: members' mean Brier = ensemble's Brier + variance
    onehot = np.eye(3)[[1, 2]]
    members_brier = ((probs - onehot) ** 2).sum(axis=2).mean(axis=0)
    ensemble_brier = ((pred.mean - onehot) ** 2).sum(axis=1)
    np.testing.assert_allclose(members_brier, ensemble_brier + pred.variance, atol=1e-12)


def test_state_dict_round_trips_and_modes_reach_the_members():
    ens = Ensemble([mlp(0), mlp(1)])
    state = ens.state_dict()
    assert "members.0.1.running_mean" in state and "members.1.4.weight" in state
    other = Ensemble([mlp(5), mlp(6)])
    x = inputs()
    before = other.predict(x).mean
    other.load_state_dict(state)
    after = other.predict(x).mean
    np.testing.assert_array_equal(after, ens.predict(x).mean)
    assert np.abs(after - before).max() > 1e-3
    with pytest.raises(KeyError, match="missing keys"):
        Ensemble([mlp(0), mlp(1), mlp(2)]).load_state_dict(state)
    ens.eval()
    assert not any(m.training for m in ens.modules())
    ens.train()
    assert all(m.training for m in ens.modules())
    ens.predict(x)                                  # predicts in eval mode, restores train mode
    assert all(m.training for m in ens.modules())


def test_bad_ensembles_are_named():
    with pytest.raises(ValueError, match="at least one Module, got an empty list"):
        Ensemble([])
    with pytest.raises(TypeError, match=r"models\[1\] must be a Module, got str"):
        Ensemble([mlp(0), "lenet5"])
    with pytest.raises(TypeError, match="list of Modules, got Sequential"):
        Ensemble(mlp(0))
    with pytest.raises(ValueError, match=r"combine must be one of \('probs', 'logits'\), "
                                         r"got 'vote'"):
        Ensemble([mlp(0)], combine="vote")
    ens = Ensemble([mlp(0, n_out=3), mlp(1, n_out=4)]).eval()
    with pytest.raises(ValueError, match=r"member 1 \(Sequential\) outputs shape \(6, 4\), "
                                         r"expected \(6, 3\)"):
        ens(Tensor(inputs()))
    with pytest.raises(TypeError, match="floating-point or uint8"):
        Ensemble([mlp(0)]).predict(np.zeros((2, 4), np.int64))


# ---- Monte-Carlo dropout -------------------------------------------------------------------
def test_without_dropout_probability_the_samples_agree_with_eval_mode():
    model = mlp(0, p=0.0)
    x = inputs()
    pred = mc_dropout_predict(model, x, samples=4, seed=0)
    assert pred.member_probs.shape == (4, 6, 3)
    assert np.all(pred.std == 0) and np.all(pred.disagreement == 0)
    np.testing.assert_allclose(pred.mean, train.predict(model, x, probabilities=True), atol=1e-7)


def test_dropout_samples_spread_and_are_seeded():
    model = mlp(0, p=0.5)
    x = inputs()
    state = get_rng_state()
    a = mc_dropout_predict(model, x, samples=16, seed=3)
    assert get_rng_state() == state                     # a seeded call leaves the global stream
    b = mc_dropout_predict(model, x, samples=16, seed=3)
    np.testing.assert_array_equal(a.member_probs, b.member_probs)
    assert a.std.max() > 1e-2
    c = mc_dropout_predict(model, x, samples=16, seed=4)
    assert np.abs(c.mean - a.mean).max() > 1e-4
    np.testing.assert_allclose(a.mean, a.member_probs.mean(axis=0))
    np.testing.assert_allclose(a.std, a.member_probs.std(axis=0))
    # seed=None draws from the global generator: manual_seed(3) then gives the same masks
    striate.manual_seed(3)
    d = mc_dropout_predict(model, x, samples=16)
    np.testing.assert_array_equal(d.member_probs, a.member_probs)
    assert get_rng_state() != state


def test_batch_norm_keeps_its_running_statistics_while_dropout_samples():
    model = mlp(1, p=0.3)
    lin1, bn, _, _, lin2 = model
    buffers = {k: v.copy() for k, v in model.state_dict().items()}
    x = inputs(n=6)
    pred = mc_dropout_predict(model, x, samples=5, seed=7, batch_size=4)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, buffers[k], err_msg=k)
    # by hand: normalise with the running statistics, drop with the same generator stream
    w1, b1, w2, b2 = (t.numpy() for t in (lin1.weight, lin1.bias, lin2.weight, lin2.bias))
    scale = bn.weight.numpy() / np.sqrt(bn.running_var.numpy() + bn.eps)
    striate.manual_seed(7)
    runs = []
    for _ in range(5):
        batches = []
        for xb in (x[:4], x[4:]):
            h = (xb @ w1.T + b1 - bn.running_mean.numpy()) * scale + bn.bias.numpy()
            h = np.maximum(h, 0)
            h = F.dropout(Tensor(h), 0.3, training=True).numpy()
            batches.append(softmax((h @ w2.T + b2).astype(np.float64)))
        runs.append(np.concatenate(batches))
    np.testing.assert_allclose(pred.member_probs, np.stack(runs), atol=1e-6)
    np.testing.assert_allclose(pred.std, np.stack(runs).std(axis=0), atol=1e-6)


class WithAux(nn.Module):
    """Like GoogLeNet: a tuple (main, auxiliary) while training, the main logits in eval."""

    def __init__(self):
        super().__init__()
        self.body = mlp(2)

    def forward(self, x):
        out = self.body(x)
        return (out, out) if self.training else out


def test_modes_are_restored_also_after_an_error():
    model = WithAux()
    model.train()
    model.body[1].eval()                                    # a mixed state: BN frozen
    modes = [m.training for m in model.modules()]
    pred = mc_dropout_predict(model, inputs(), samples=3, seed=0)   # top level in eval: one output
    assert pred.mean.shape == (6, 3)
    assert [m.training for m in model.modules()] == modes
    state = get_rng_state()
    with pytest.raises(ValueError):
        mc_dropout_predict(model, inputs(n_in=5), samples=3, seed=0)  # wrong width
    assert [m.training for m in model.modules()] == modes
    assert get_rng_state() == state


def test_mc_dropout_arguments():
    x = inputs()
    with pytest.raises(ValueError, match="Sequential has no dropout layer.*Ensemble"):
        mc_dropout_predict(nn.Sequential(nn.Linear(4, 3)), x, samples=3)
    with pytest.raises(ValueError, match="samples must be an int of at least 2.*got 1"):
        mc_dropout_predict(mlp(0), x, samples=1)
    with pytest.raises(TypeError, match="seed must be an int or None, got 'a'"):
        mc_dropout_predict(mlp(0), x, samples=2, seed="a")
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        mc_dropout_predict(mlp(0), x, samples=2, batch_size=0)
    with pytest.raises(TypeError, match="model must be a Module, got list"):
        mc_dropout_predict([mlp(0)], x, samples=2)


# ---- the error of an average (R2) ----------------------------------------------------------
def test_decomposition_equals_a_direct_computation():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=300)
    errors = np.stack([0.8 * shared + rng.normal(0, 0.5 + 0.2 * i, 300) + 0.1 * i
                       for i in range(4)])                           # correlated, not centred
    d = error_decomposition(errors)
    K = 4
    v = np.mean([np.mean(errors[i] ** 2) for i in range(K)])
    c = np.mean([np.mean(errors[i] * errors[j]) for i in range(K) for j in range(K) if i != j])
    assert d.v == pytest.approx(v, rel=1e-12) and d.c == pytest.approx(c, rel=1e-12)
    assert d.c > 0.5                                                  # the shared part
    assert d.k.tolist() == [1, 2, 3, 4]
    for k in range(1, K + 1):  # exact for the mean over all k-member subsets
        subsets = [np.mean(np.mean(errors[list(s)], axis=0) ** 2)
                   for s in itertools.combinations(range(K), k)]
        assert d.predicted[k - 1] == pytest.approx(np.mean(subsets), rel=1e-12)
        assert d.measured[k - 1] == pytest.approx(np.mean(np.mean(errors[:k], axis=0) ** 2),
                                                  rel=1e-12)
    assert d.measured[-1] == pytest.approx(d.predicted[-1], rel=1e-12)
    # trailing axes are flattened: (K, n, C) errors give the same numbers as (K, n*C)
    same = error_decomposition(errors.reshape(K, 100, 3))
    assert same.v == pytest.approx(d.v) and same.c == pytest.approx(d.c)
    # identical members: no gain at all
    assert np.allclose(error_decomposition(np.stack([shared] * 3)).predicted, np.mean(shared**2))


def test_independent_errors_fall_as_one_over_k():
    errors = np.random.default_rng(1).normal(size=(8, 50000))
    d = error_decomposition(errors)
    assert abs(d.c) < 0.01 * d.v
    np.testing.assert_allclose(d.measured, d.v / d.k, rtol=0.05)
    np.testing.assert_allclose(d.predicted, d.v / d.k, rtol=0.02)


def test_decomposition_of_an_ensembles_probabilities_and_bad_errors():
    members = [mlp(seed) for seed in range(3)]
    x, y = inputs(n=20), np.arange(20) % 3
    pred = Ensemble(members).predict(x)
    d = error_decomposition(pred.member_probs - np.eye(3)[y])
    # the error of the average is the ensemble's (probs mode) squared error per element
    assert d.measured[-1] == pytest.approx(np.mean((pred.mean - np.eye(3)[y]) ** 2), rel=1e-6)
    with pytest.raises(ValueError, match=r"at least K = 2 members.*got shape \(1, 5\)"):
        error_decomposition(np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        error_decomposition(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        error_decomposition([[0.0, np.nan], [1.0, 2.0]])
    with pytest.raises(ValueError, match="equal-length"):
        error_decomposition([[0.0, 1.0], [1.0]])


# ---- the command line ----------------------------------------------------------------------
def test_train_ensemble_writes_members_and_reports_both_accuracies(tmp_path, capsys):
    pytest.importorskip("sklearn")
    status, out, err = run(capsys, "train", "lenet5", "--dataset", "digits", "--limit", 300,
                           "--epochs", 1, "--seed", 4, "--ensemble", 2, "--out", tmp_path)
    assert status == 0, err
    a, b = (tmp_path / f"member_{i}" / "model.safetensors" for i in range(2))
    assert a.is_file() and b.is_file() and (tmp_path / "member_1" / "history.csv").is_file()
    manifest = json.loads((tmp_path / "ensemble.json").read_text())
    assert manifest["seeds"] == [4, 5] and manifest["members"] == [
        "member_0/model.safetensors", "member_1/model.safetensors"]
    # each member's own report and the summary's member lines agree (two scoring paths)
    own = [float(v) for v in re.findall(r"test accuracy: ([0-9.]+) \(297 images", out)]
    listed = [float(v) for v in
              re.findall(r"member \d \(seed \d\): test accuracy ([0-9.]+)", out)]
    assert len(own) == 2 and listed == own
    printed = float(re.search(r"ensemble test accuracy: ([0-9.]+)", out).group(1))
    assert printed == pytest.approx(manifest["test"]["accuracy"], abs=1e-4)
    # the ensemble by hand: load the members, average their probabilities
    from striate import cli
    (ma, meta), (mb, _) = cli.load_model(a), cli.load_model(b)
    assert np.abs(ma.c1.weight.numpy() - mb.c1.weight.numpy()).max() > 1e-3  # other seeds
    info = cli._dataset_info(meta)
    images, labels, _ = cli.load_split("digits", None, "test", info["input_size"])
    xt = cli._eval_transform(info["mean"], info["std"])(images).astype(np.float32)
    probs = train.predict(ma, xt, probabilities=True) + train.predict(mb, xt, probabilities=True)
    assert printed == pytest.approx(np.mean(probs.argmax(axis=1) == labels), abs=1e-4)
    # evaluate and predict take ensemble.json like a checkpoint
    status, out2, err = run(capsys, "evaluate", tmp_path / "ensemble.json")
    assert status == 0, err
    assert float(re.search(r"ensemble test accuracy: ([0-9.]+)", out2).group(1)) == printed
    assert "member 1 (seed 5): test accuracy" in out2
    # the per-class table, as for one checkpoint, from the ensemble's confusion matrix
    confusion = np.array(json.loads((tmp_path / "ensemble.json").read_text())["test"]["confusion"])
    assert confusion.sum() == len(labels)
    assert np.trace(confusion) / len(labels) == pytest.approx(printed, abs=1e-4)
    rows = re.findall(r"^(\S+)\s+([0-9.]+)\s+(\d+)$", out2, flags=re.M)
    assert [int(n) for _, _, n in rows] == confusion.sum(axis=1).tolist()
    png = tmp_path / "digit.png"
    from PIL import Image
    Image.fromarray((np.clip(images[0, 0], 0, 1) * 255).astype(np.uint8)).save(png)
    status, out3, err = run(capsys, "predict", tmp_path / "ensemble.json", png, "--top-k", 2)
    assert status == 0, err
    assert len(out3.strip().splitlines()) == 3
    # members with other classes cannot form an ensemble
    odd = models.create("lenet5", num_classes=2, in_channels=1)
    train.save_checkpoint(tmp_path / "odd.safetensors", odd, model_name="lenet5",
                          model_args={"num_classes": 2, "in_channels": 1},
                          extra={"dataset": "digits", "classes": ["a", "b"],
                                 "mean": info["mean"], "std": info["std"]})
    manifest["members"] = ["member_0/model.safetensors", "odd.safetensors"]
    (tmp_path / "mixed.json").write_text(json.dumps(manifest))
    assert_user_error(run(capsys, "evaluate", tmp_path / "mixed.json"),
                      "member odd.safetensors has classes ['a', 'b']", "same inputs and classes")


def test_ensemble_argument_errors(tmp_path, capsys):
    assert_user_error(run(capsys, "train", "lenet5", "--ensemble", 0),
                      "--ensemble must be at least 1 member, got 0")
    assert_user_error(run(capsys, "train", "lenet5", "--ensemble", "two"),
                      "--ensemble: invalid int value: 'two'")
    assert_user_error(run(capsys, "train", "unet", "--ensemble", 2, "--out", tmp_path / "u"),
                      "--ensemble averages classifiers' probabilities", "segment")
    assert_user_error(run(capsys, "evaluate", tmp_path / "ensemble.json"), "no ensemble file")
    sidecar = tmp_path / "model.safetensors.json"
    sidecar.write_text(json.dumps({"format": "striate-checkpoint"}))
    assert_user_error(run(capsys, "evaluate", sidecar), "is not an ensemble file",
                      "pass its .safetensors checkpoint")
    (tmp_path / "broken.json").write_text("{not json")
    assert_user_error(run(capsys, "predict", tmp_path / "broken.json", "x.png"),
                      "cannot read ensemble file")
