"""The lectures' claims about ensembles, dropout, batch norm, residual learning and augmentation,
measured on Fashion-MNIST: ``striate reproduce NAME`` or :func:`run`.

Every experiment trains small networks on the real data (Debian's ``dataset-fashion-mnist``),
then writes three files into its output folder (``docs/experiments`` by default):

- ``NAME.json``: every number measured, per epoch and per run, with the settings;
- ``NAME.png``: the figure;
- ``NAME.md``: the settings and the numbers as a table.

``docs/experiments.md`` collects the figures and says what each one shows. The experiments
(checklist IDs from the lecture checklist):

``ensemble`` (R2)
    K LeNet-5s that differ only in their seed. Test error of the average of the first k members'
    probabilities against k, and the mean squared shortfall of the true class's probability
    eps = 1 - p[y] against the formula for the average of k members whose errors have mean
    square v and mean pairwise product c:  E[(mean of k eps)^2] = v/k + (k-1) c/k.
``dropout`` (R1)
    The Fashion-MNIST CNN with and without dropout: training accuracy (evaluation mode) against
    test accuracy, per epoch; then the dropout network scored by weight scaling (the usual
    evaluation-mode pass: inverted dropout scaled the kept units while training) against
    Monte-Carlo averaging of T sampled dropout masks.
``batchnorm`` (R3)
    The same CNN with and without batch normalisation, trained by SGD with momentum at two
    learning rates: test accuracy per epoch and the epochs each needs to reach a given accuracy.
``batchnorm-deep`` (R3)
    The same comparison in a deep network: the 20-layer plain (no shortcut) CIFAR-style network
    of He et al. with and without batch normalisation (without it, the convolutions get a bias),
    on a subset of the training images.
``residual`` (R6)
    Plain and residual CIFAR-style networks of 20 and 56 layers (He et al. 2016, Fig. 1 and 6):
    training and test error per epoch. On a 2-core CPU this runs on a subset of the training
    images and few epochs; the JSON says how many.
``augmentation`` (R5)
    LeNet-5 trained without augmentation, with horizontal flips, and with random crops and flips:
    test accuracy per epoch.

``quick=True`` runs every experiment on a few hundred images for one or two epochs, to check that
the pipeline works (the tests do this); its numbers mean nothing.

Example::

    striate reproduce ensemble                 # about 2 minutes on 2 cores
    striate reproduce residual --out runs/exp  # the longest: about half an hour
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data as sdata
from . import models, optim, train
from .backend import manual_seed
from .ensemble import error_decomposition, mc_dropout_predict

__all__ = ["EXPERIMENTS", "run", "ensemble_error_curve"]

DEFAULT_OUT = Path("docs") / "experiments"


@dataclass(frozen=True)
class _Scale:
    """How much data and how many epochs an experiment uses."""

    n_train: int | None  # None: all 60,000 training images
    n_test: int | None   # None: all 10,000 test images
    epochs: int


# ---- data and training -----------------------------------------------------------------------
def _fashion_mnist(n_train, n_test, seed: int = 0):
    """uint8 (N, 1, 28, 28) train and test images with labels; a seeded subset when n is given,
    and the training set's mean and std for normalising."""
    rng = np.random.default_rng(seed)
    splits = []
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = sdata.load_fashion_mnist(split=split)
        if n is not None and n < len(x):
            keep = np.sort(rng.permutation(len(x))[:n])
            x, y = x[keep], y[keep]
        splits.append((x[:, None], y))
    mean, std = sdata.compute_mean_std(splits[0][0])
    return splits[0], splits[1], mean, std


def _transform(mean, std, augment: str = "none"):
    steps = [sdata.ToFloat()]
    if augment in ("crop", "crop-flip"):
        steps.append(sdata.RandomCrop((28, 28), padding=2))
    if augment in ("flip", "crop-flip"):
        steps.append(sdata.RandomHorizontalFlip())
    return sdata.Compose(steps + [sdata.Normalize(mean, std)])


def _loader(xy, mean, std, batch_size: int = 256, augment: str = "none", shuffle=False,
            seed=0):
    return sdata.DataLoader(sdata.ArrayDataset(*xy), batch_size=batch_size, shuffle=shuffle,
                            seed=seed, transform=_transform(mean, std, augment))


class _ScoreEachEpoch(train.Callback):
    """After every epoch: loss and accuracy on each named loader, in evaluation mode."""

    def __init__(self, loaders: dict):
        super().__init__()
        self.loaders = loaders
        self.scores = {name: {"loss": [], "accuracy": []} for name in loaders}

    def on_epoch_end(self, epoch, logs=None):
        for name, loader in self.loaders.items():
            result = train.evaluate(self.model, loader)
            for key in ("loss", "accuracy"):
                self.scores[name][key].append(float(result[key]))


def _fit(model, train_xy, test_xy, mean, std, epochs: int, optimizer, seed: int,
         augment: str = "none", batch_size: int = 128, score_train: int | None = None,
         scheduler=None, label: str = "") -> dict:
    """Train ``model``; return per-epoch test (and optionally evaluation-mode training) scores,
    the running training loss and accuracy fit logs, and the seconds per epoch. A NaN loss ends
    the run early; ``diverged`` then says at which epoch."""
    loaders = {"test": _loader(test_xy, mean, std)}
    if score_train:
        loaders["train"] = _loader((train_xy[0][:score_train], train_xy[1][:score_train]),
                                   mean, std)
    scorer = _ScoreEachEpoch(loaders)
    loader = _loader(train_xy, mean, std, batch_size, augment, shuffle=True, seed=seed)
    print(f"  {label}: {model.num_parameters():,} parameters, {len(train_xy[1])} training "
          f"images, {epochs} epochs", flush=True)
    diverged = None
    try:
        history = train.fit(model, loader, epochs=epochs, optimizer=optimizer,
                            callbacks=[scorer], scheduler=scheduler, verbose=2).history
    except FloatingPointError:
        diverged = len(scorer.scores["test"]["accuracy"])
        history = {"loss": [], "accuracy": [], "time": []}
    return {"fit_loss": [float(v) for v in history["loss"]],
            "fit_accuracy": [float(v) for v in history["accuracy"]],
            "seconds_per_epoch": [float(v) for v in history.get("time", [])],
            "scores": scorer.scores, "diverged": diverged}


# ---- the analyses, separate from training so they can be tested on numbers -------------------
def ensemble_error_curve(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """What averaging the first k of K members gives, for k = 1..K.

    Args:
        probabilities: (K, N, classes) the members' softmax outputs on N test samples, K >= 2.
        labels: (N,) the true classes.

    Returns:
        ``error``: test error of the averaged probabilities for each k; ``member_error``: each
        member's own error; and, from :func:`striate.ensemble.error_decomposition` of the
        members' shortfalls on the true class eps_i = 1 - p_i[y]: ``v`` = mean over members of
        E[eps_i^2], ``c`` = mean over pairs i != j of E[eps_i eps_j], ``predicted_mse`` =
        v/k + (k-1) c / k and ``measured_mse`` = E[(mean of the first k eps)^2].
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 3:
        raise ValueError(f"ensemble_error_curve: probabilities must be (K, N, classes), got "
                         f"shape {probabilities.shape}")
    labels = np.asarray(labels)
    n = probabilities.shape[1]
    if labels.shape != (n,):
        raise ValueError(f"ensemble_error_curve: labels must be ({n},), got {labels.shape}")
    d = error_decomposition(1 - probabilities[:, np.arange(n), labels])   # (K, N) shortfalls
    averaged = np.cumsum(probabilities, axis=0) / d.k[:, None, None]       # first k members
    return {"k": d.k.tolist(),
            "error": [float(np.mean(p.argmax(1) != labels)) for p in averaged],
            "member_error": [float(np.mean(p.argmax(1) != labels)) for p in probabilities],
            "v": d.v, "c": d.c, "predicted_mse": d.predicted.tolist(),
            "measured_mse": d.measured.tolist()}


def _normalised(x, mean, std) -> np.ndarray:
    """uint8 (N, C, H, W) images as the evaluation transform gives them, float32."""
    mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return ((x.astype(np.float32) / 255 - mean) / std).astype(np.float32)


# ---- the experiments -------------------------------------------------------------------------
def _ensemble(scale: _Scale, members: int):
    train_xy, test_xy, mean, std = _fashion_mnist(scale.n_train, scale.n_test)
    probabilities, runs = [], []
    for seed in range(members):
        manual_seed(seed)
        model = models.lenet5()
        runs.append(_fit(model, train_xy, test_xy, mean, std, scale.epochs,
                         optim.Adam(list(model.parameters()), lr=1e-3), seed,
                         label=f"lenet5 member {seed + 1}/{members}"))
        probabilities.append(train.predict(model, _loader(test_xy, mean, std),
                                           probabilities=True))
    curve = ensemble_error_curve(np.stack(probabilities), test_xy[1])
    return {"runs": runs, **curve}


def _dropout(scale: _Scale, mc_samples):
    train_xy, test_xy, mean, std = _fashion_mnist(scale.n_train, scale.n_test)
    result = {}
    for name, rates in (("dropout", (0.25, 0.5)), ("no dropout", (0.0, 0.0))):
        manual_seed(0)
        model = models.FashionCNN(dropout=rates)
        result[name] = _fit(model, train_xy, test_xy, mean, std, scale.epochs,
                            optim.Adam(list(model.parameters()), lr=1e-3), 0,
                            score_train=10000, label=f"fmnist-cnn, {name}")
        if name == "dropout":
            result["weight_scaling_accuracy"] = float(
                train.evaluate(model, _loader(test_xy, mean, std))["accuracy"])
            # T masked passes; the first t of them give the t-sample estimate
            probs = mc_dropout_predict(model, _normalised(test_xy[0], mean, std),
                                       samples=max(2, max(mc_samples)), seed=0).member_probs
            means = np.cumsum(probs, axis=0)
            result["mc_accuracy"] = {str(t): float(np.mean(means[t - 1].argmax(1) ==
                                                           test_xy[1])) for t in mc_samples}
    return result


def _batchnorm(scale: _Scale, rates, threshold: float, network: str = "fmnist-cnn"):
    train_xy, test_xy, mean, std = _fashion_mnist(scale.n_train, scale.n_test)
    result = {"threshold": threshold, "network": network, "runs": {}}
    for lr in rates:
        for bn in (True, False):
            manual_seed(0)
            model = models.create(network, batch_norm=bn)
            name = f"{'BN' if bn else 'no BN'}, lr {lr:g}"
            run = _fit(model, train_xy, test_xy, mean, std, scale.epochs,
                       optim.SGD(list(model.parameters()), lr=lr, momentum=0.9), 0, label=name)
            accuracy = run["scores"]["test"]["accuracy"]
            reached = [i + 1 for i, a in enumerate(accuracy) if a >= threshold]
            run["epochs_to_threshold"] = reached[0] if reached else None
            result["runs"][name] = run
    return result


def _residual(scale: _Scale, depths):
    train_xy, test_xy, mean, std = _fashion_mnist(scale.n_train, scale.n_test)
    result = {"runs": {}}
    for depth in depths:
        for kind in ("plain", "resnet"):
            manual_seed(0)
            model = models.create(f"{kind}{depth}")
            opt = optim.SGD(list(model.parameters()), lr=0.1, momentum=0.9, weight_decay=1e-4)
            result["runs"][f"{kind}{depth}"] = _fit(model, train_xy, test_xy, mean, std, scale.epochs,
                                            opt, 0, score_train=len(train_xy[1]),
                                            label=f"{kind}-{depth}")
    return result


def _augmentation(scale: _Scale):
    train_xy, test_xy, mean, std = _fashion_mnist(scale.n_train, scale.n_test)
    result = {"runs": {}}
    for augment in ("none", "flip", "crop-flip"):
        manual_seed(0)
        model = models.lenet5()
        result["runs"][augment] = _fit(model, train_xy, test_xy, mean, std, scale.epochs,
                               optim.Adam(list(model.parameters()), lr=1e-3), 0, augment,
                               score_train=10000, label=f"lenet5, augment {augment}")
    return result


# ---- figures and tables ----------------------------------------------------------------------
def _epochs(values) -> list[int]:
    return list(range(1, len(values) + 1))


def _figure(panels: int):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), squeeze=False)
    return plt, fig, axes[0]


def _plot_ensemble(r, ax):
    ax[0].plot(r["k"], [100 * e for e in r["error"]], "o-", label="average of k members")
    ax[0].plot(r["k"], [100 * e for e in r["member_error"]], "x", color="grey",
               label="member k alone")
    ax[0].set(xlabel="k", ylabel="test error (%)", title="Ensembles of LeNet-5")
    ax[1].plot(r["k"], r["measured_mse"], "o", label="measured")
    ax[1].plot(r["k"], r["predicted_mse"], "-", label="v/k + (k-1)c/k")
    ax[1].set(xlabel="k", ylabel="E[(1 - p[y])^2]",
              title=f"v = {r['v']:.4f}, c = {r['c']:.4f}")


def _plot_dropout(r, ax):
    for (name, run), colour in zip(((k, r[k]) for k in ("dropout", "no dropout")), "C0 C1".split()):
        s = run["scores"]
        ax[0].plot(_epochs(s["train"]["accuracy"]), s["train"]["accuracy"], ".--", color=colour,
                   label=f"{name}, train")
        ax[0].plot(_epochs(s["test"]["accuracy"]), s["test"]["accuracy"], ".-", color=colour,
                   label=f"{name}, test")
    ax[0].set(xlabel="epoch", ylabel="accuracy", title="Dropout: train/test gap")
    samples = [int(t) for t in r["mc_accuracy"]]
    ax[1].plot(samples, list(r["mc_accuracy"].values()), "o-", label="Monte-Carlo mean")
    ax[1].axhline(r["weight_scaling_accuracy"], color="grey", ls="--", label="weight scaling")
    ax[1].set(xscale="log", xlabel="dropout samples T", ylabel="test accuracy",
              title="Inference with dropout")


def _plot_batchnorm(r, ax):
    for name, run in r["runs"].items():
        acc = run["scores"]["test"]["accuracy"]
        ax[0].plot(_epochs(acc), acc, "-" if name.startswith("BN") else "--", label=name)
        ax[1].plot(_epochs(run["fit_loss"]), run["fit_loss"],
                   "-" if name.startswith("BN") else "--", label=name)
    ax[0].axhline(r["threshold"], color="grey", lw=0.8)
    ax[0].set(xlabel="epoch", ylabel="test accuracy", title="Batch normalisation")
    ax[1].set(xlabel="epoch", ylabel="training loss", yscale="log")


def _plot_residual(r, ax):
    for name, run in r["runs"].items():
        style = "-" if name.startswith("resnet") else "--"
        train_err = [100 * (1 - a) for a in run["scores"]["train"]["accuracy"]]
        test_err = [100 * (1 - a) for a in run["scores"]["test"]["accuracy"]]
        ax[0].plot(_epochs(train_err), train_err, style, label=name)
        ax[1].plot(_epochs(test_err), test_err, style, label=name)
    ax[0].set(xlabel="epoch", ylabel="training error (%)", title="Plain vs residual")
    ax[1].set(xlabel="epoch", ylabel="test error (%)")


def _plot_augmentation(r, ax):
    for name, run in r["runs"].items():
        acc = run["scores"]["test"]["accuracy"]
        ax[0].plot(_epochs(acc), acc, label=f"{name}, test")
        tr = run["scores"]["train"]["accuracy"]
        ax[1].plot(_epochs(tr), [a - b for a, b in zip(tr, acc)], label=name)
    ax[0].set(xlabel="epoch", ylabel="test accuracy", title="Augmentation (LeNet-5)")
    ax[1].set(xlabel="epoch", ylabel="train - test accuracy", title="Generalisation gap")


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _last(run, split="test"):
    values = run["scores"][split]["accuracy"]
    return f"{values[-1]:.4f}" if values else "-"


def _best(run, split="test"):
    values = run["scores"][split]["accuracy"]
    return f"{max(values):.4f}" if values else "-"


def _md_ensemble(r):
    rows = [(k, f"{100 * e:.2f}", f"{m:.5f}", f"{p:.5f}") for k, e, m, p in
            zip(r["k"], r["error"], r["measured_mse"], r["predicted_mse"])]
    return (f"Members' own test errors (%): "
            f"{', '.join(f'{100 * e:.2f}' for e in r['member_error'])}; "
            f"v = {r['v']:.5f}, c = {r['c']:.5f}.\n\n"
            + _table(("k", "test error (%)", "measured E[eps^2]", "v/k + (k-1)c/k"), rows))


def _md_dropout(r):
    rows = [(name, _last(r[name], "train"), _last(r[name]),
             f"{float(_last(r[name], 'train')) - float(_last(r[name])):.4f}")
            for name in ("dropout", "no dropout")]
    mc = ", ".join(f"T={t}: {a:.4f}" for t, a in r["mc_accuracy"].items())
    return (_table(("network", "train accuracy", "test accuracy", "gap"), rows)
            + f"\n\nDropout network at test time: weight scaling "
              f"{r['weight_scaling_accuracy']:.4f}; Monte-Carlo averaging {mc}.")


def _md_batchnorm(r):
    rows = [(name, run["epochs_to_threshold"] or "not reached",
             _best(run), run["diverged"] if run["diverged"] is not None else "no")
            for name, run in r["runs"].items()]
    return _table(("network", f"epochs to {r['threshold']:.2f} test accuracy",
                   "best test accuracy", "diverged at epoch"), rows)


def _md_residual(r):
    rows = [(name, f"{100 * (1 - float(_last(run, 'train'))):.2f}",
             f"{100 * (1 - float(_last(run))):.2f}") for name, run in r["runs"].items()]
    return _table(("network", "final training error (%)", "final test error (%)"), rows)


def _md_augmentation(r):
    rows = [(name, _last(run, "train"), _last(run), _best(run)) for name, run in r["runs"].items()]
    return _table(("augmentation", "train accuracy", "final test accuracy",
                   "best test accuracy"), rows)


@dataclass(frozen=True)
class _Experiment:
    title: str
    measure: object     # (scale, **settings) -> result dict
    plot: object
    table: object
    panels: int
    full: _Scale
    quick: _Scale
    settings: dict
    quick_settings: dict


EXPERIMENTS: dict[str, _Experiment] = {
    "ensemble": _Experiment(
        "Ensembles (R2)", _ensemble, _plot_ensemble, _md_ensemble, 2,
        _Scale(None, None, 5), _Scale(512, 256, 1), {"members": 6}, {"members": 2}),
    "dropout": _Experiment(
        "Dropout (R1)", _dropout, _plot_dropout, _md_dropout, 2,
        _Scale(None, None, 15), _Scale(512, 256, 1), {"mc_samples": (1, 2, 5, 10, 30)},
        {"mc_samples": (1, 2)}),
    "batchnorm": _Experiment(
        "Batch normalisation (R3)", _batchnorm, _plot_batchnorm, _md_batchnorm, 2,
        _Scale(20000, None, 10), _Scale(512, 256, 1), {"rates": (0.01, 0.1), "threshold": 0.88},
        {"rates": (0.01,), "threshold": 0.5}),
    "batchnorm-deep": _Experiment(
        "Batch normalisation in a deep plain network (R3)", _batchnorm, _plot_batchnorm,
        _md_batchnorm, 2, _Scale(10000, None, 10), _Scale(256, 256, 1),
        {"rates": (0.01, 0.1), "threshold": 0.85, "network": "plain20"},
        {"rates": (0.01,), "threshold": 0.5, "network": "plain20"}),
    "residual": _Experiment(
        "Residual learning (R6)", _residual, _plot_residual, _md_residual, 2,
        _Scale(10000, None, 10), _Scale(256, 256, 1), {"depths": (20, 56)}, {"depths": (20,)}),
    "augmentation": _Experiment(
        "Augmentation (R5)", _augmentation, _plot_augmentation, _md_augmentation, 2,
        _Scale(None, None, 15), _Scale(512, 256, 1), {}, {}),
}


def _jsonable(settings: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def run(name: str, out=DEFAULT_OUT, quick: bool = False) -> dict:
    """Run experiment ``name`` (a key of :data:`EXPERIMENTS`); write ``NAME.json``, ``NAME.png``
    and ``NAME.md`` into ``out``; return the result dict (as in the JSON).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"reproduce: unknown experiment {name!r}; known: "
                         f"{', '.join(EXPERIMENTS)}")
    exp = EXPERIMENTS[name]
    scale = exp.quick if quick else exp.full
    settings = exp.quick_settings if quick else exp.settings
    print(f"{exp.title}{' (quick check)' if quick else ''}", flush=True)
    start = time.perf_counter()
    result = exp.measure(scale, **settings)
    result["setup"] = {"experiment": name, "quick": quick, "n_train": scale.n_train or 60000,
                       "n_test": scale.n_test or 10000, "epochs": scale.epochs,
                       **_jsonable(settings), "seconds": round(time.perf_counter() - start, 1)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    plt, fig, axes = _figure(exp.panels)
    exp.plot(result, axes)
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110)
    plt.close(fig)
    s = result["setup"]
    (out / f"{name}.md").write_text(
        f"## {exp.title}\n\n{s['n_train']} training and {s['n_test']} test images of "
        f"Fashion-MNIST, {s['epochs']} epochs per run, {s['seconds']:.0f} s in all"
        f"{' (quick check: the numbers mean nothing)' if quick else ''}.\n\n"
        f"![{name}]({name}.png)\n\n{exp.table(result)}\n")
    print(f"wrote {out / name}.json, .png and .md", flush=True)
    return result
