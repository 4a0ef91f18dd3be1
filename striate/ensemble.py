"""Ensembles and Monte-Carlo dropout: averaged predictions and how much the members disagree
(checklist R1, R2).

*Ensembles* (R2). K networks trained independently (other seeds: other initialisations and batch
orders) make partly independent errors, so their average errs less than a member. With member
errors eps_i of second moments E[eps_i^2] = v and E[eps_i eps_j] = c (i != j), the average of k
members has the expected squared error

    E[(1/k sum_i eps_i)^2] = v/k + (k - 1) c / k,

which falls to v/k for uncorrelated errors (c = 0) and stays v for identical ones (c = v)
(Goodfellow, Bengio & Courville 2016, section 7.11). :func:`error_decomposition` measures v and c
on a test set and gives the prediction next to the measured error.

*Monte-Carlo dropout* (R1; Gal & Ghahramani 2016). A network trained with dropout is an implicit
ensemble of its thinned sub-networks. Keeping the masks at inference and averaging S passes,

    p(x) = 1/S sum_s softmax(f(x; mask_s)),

estimates the mean of that ensemble, and the spread over the passes measures the model's
uncertainty. Only the dropout layers sample: batch norm keeps using its running statistics (calling
``model.train()`` would normalise with each test batch's own statistics and overwrite the running
ones), which :func:`mc_dropout_predict` takes care of.

Example::

    from striate.ensemble import Ensemble, mc_dropout_predict, error_decomposition
    ensemble = Ensemble([model_a, model_b, model_c])         # combine="probs" by default
    pred = ensemble.predict(x_test)                          # pred.mean: (N, C) probabilities
    pred.disagreement.mean()                                 # share of dissenting votes
    mc = mc_dropout_predict(model_a, x_test, samples=30, seed=0)
    mc.mean, mc.std                                          # (N, C) each
    onehot = np.eye(pred.mean.shape[1])[y_test]
    r2 = error_decomposition(pred.member_probs - onehot)     # r2.predicted vs r2.measured
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from . import functional as F
from . import nn
from .autograd import Tensor, no_grad
from .backend import get_array_module, get_default_dtype, get_rng_state, set_rng_state, to_numpy

__all__ = ["Ensemble", "Prediction", "mc_dropout_predict", "ErrorDecomposition",
           "error_decomposition", "COMBINES", "DROPOUT_LAYERS"]

COMBINES = ("probs", "logits")
DROPOUT_LAYERS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


@dataclass(frozen=True)
class Prediction:
    """The averaged prediction of several networks (ensemble members or dropout samples).

    Shapes for classifier outputs (N, C); for per-pixel outputs (N, C, H, W) every per-sample
    quantity below is per pixel, (N, H, W).

    Attributes:
        mean: (N, C) the combined probabilities (rows sum to 1).
        std: (N, C) the standard deviation of the members' probabilities, sqrt(1/K sum_k
            (p_k - p_bar)^2) with p_bar the members' mean (population form, ddof = 0).
        variance: (N,) the total variance sum_c std_c^2 = 1/K sum_k ||p_k - p_bar||^2: with
            ``combine="probs"``, the gap between the members' mean Brier score and the ensemble's
            (the ambiguity decomposition: 1/K sum_k ||p_k - y||^2 = ||p_bar - y||^2 + variance).
        disagreement: (N,) the fraction of members whose top class differs from ``mean``'s.
        member_probs: (K, N, C) every member's (or dropout sample's) probabilities.
    """

    mean: np.ndarray
    std: np.ndarray
    variance: np.ndarray
    disagreement: np.ndarray
    member_probs: np.ndarray


def _summarise(member_probs: np.ndarray, mean: np.ndarray) -> Prediction:
    std = member_probs.std(axis=0)
    votes = member_probs.argmax(axis=2)                  # (K, N)
    disagreement = (votes != mean.argmax(axis=1)[None]).mean(axis=0)
    return Prediction(mean=mean, std=std, variance=(std ** 2).sum(axis=1),
                      disagreement=disagreement, member_probs=member_probs)


def _input_batches(op: str, x, batch_size: int):
    """Tensors of ``batch_size`` samples of ``x`` (an array or Tensor (N, ...); uint8 images are
    scaled to [0, 1] as the data loaders do)."""
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
            or batch_size < 1:
        raise ValueError(f"{op}: batch_size must be a positive int, got {batch_size!r}")
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.ndim < 1 or len(data) == 0:
        raise ValueError(f"{op}: x must hold at least one sample along axis 0, got shape "
                         f"{tuple(data.shape)}")
    dtype = get_default_dtype()
    if data.dtype == np.uint8:
        data = data.astype(dtype) / dtype.type(255)
    elif data.dtype.kind != "f":
        raise TypeError(f"{op}: x must be floating-point or uint8 images, got dtype {data.dtype}")
    for start in range(0, len(data), batch_size):
        yield Tensor(data[start:start + batch_size])


def _modes(model: nn.Module) -> list:
    return [(m, m.training) for m in model.modules()]


def _restore(modes: list) -> None:
    for m, training in modes:
        m.training = training


class Ensemble(nn.Module):
    """K networks with the same inputs and outputs, combined into one by averaging.

    With ``combine="probs"`` (the usual ensemble, Lakshminarayanan et al. 2017) the members'
    softmax probabilities are averaged, p_bar = 1/K sum_k softmax(z_k); ``forward`` returns
    log p_bar, computed stably as m + log(1/K sum_k exp(log_softmax(z_k) - m)) with m the maximum
    over members. Log-probabilities are valid logits (softmax(log p_bar) = p_bar), so the ensemble
    drops into everything that expects logits: ``cross_entropy`` gives the ensemble's negative
    log-likelihood, ``train.evaluate`` its accuracy, ``train.predict(probabilities=True)`` p_bar.
    With ``combine="logits"`` ``forward`` returns the mean of the logits, 1/K sum_k z_k.

    The members are registered as ``members.0``, ``members.1``, ... so ``eval()``/``train()``
    reach them and ``state_dict()`` holds every member (``members.0.fc.weight``, ...).

    Args:
        models: a non-empty sequence of Modules mapping the same input to outputs of the same
            shape, (N, C) logits (or (N, C, H, W) per-pixel logits).
        combine: ``"probs"`` (default) or ``"logits"``.

    Shapes:
        x: (N, ...) as each member takes it; output: (N, C) (or the members' output shape).

    Example::

        ens = Ensemble([lenet5(), lenet5()]).eval()
        log_p = ens(x)                  # (N, 10); F.softmax(log_p, dim=1) is the mean probability
        pred = ens.predict(x)           # pred.mean, pred.std, pred.disagreement
    """

    def __init__(self, models, combine: str = "probs"):
        super().__init__()
        if isinstance(models, nn.Module) or not hasattr(models, "__iter__"):
            raise TypeError(f"Ensemble: models must be a list of Modules, got "
                            f"{type(models).__name__}")
        models = list(models)
        if not models:
            raise ValueError("Ensemble: models must hold at least one Module, got an empty list")
        for i, m in enumerate(models):
            if not isinstance(m, nn.Module):
                raise TypeError(f"Ensemble: models[{i}] must be a Module, got "
                                f"{type(m).__name__}")
        if combine not in COMBINES:
            raise ValueError(f"Ensemble: combine must be one of {COMBINES}, got {combine!r}")
        self.members = nn.ModuleList(models)
        self.combine = combine

    def __len__(self) -> int:
        return len(self.members)

    def member_outputs(self, x) -> list:
        """Every member's output (Tensors of one shape) for ``x``."""
        outs = [m(x) for m in self.members]
        for i, out in enumerate(outs):
            if not isinstance(out, Tensor):
                raise TypeError(f"Ensemble: member {i} ({type(self.members[i]).__name__}) "
                                f"returned a {type(out).__name__}, expected one Tensor of "
                                "logits (a model with auxiliary outputs: call eval() first)")
            if out.shape != outs[0].shape:
                raise ValueError(f"Ensemble: member {i} ({type(self.members[i]).__name__}) "
                                 f"outputs shape {tuple(out.shape)}, expected "
                                 f"{tuple(outs[0].shape)} as member 0 "
                                 f"({type(self.members[0]).__name__}); members must predict "
                                 "the same classes")
            if out.ndim < 2:
                raise ValueError(f"Ensemble: member {i} outputs shape {tuple(out.shape)}, "
                                 "expected (N, C) logits")
        return outs

    def forward(self, x):
        outs = self.member_outputs(x)
        return self._combine(outs)

    def _combine(self, outs: list) -> Tensor:
        if self.combine == "logits":
            return F.mean(F.stack(outs), dim=0)
        log_probs = F.stack([F.log_softmax(z, dim=1) for z in outs])      # (K, N, C)
        xp = get_array_module(log_probs.data)
        shift = Tensor(xp.max(log_probs.data, axis=0))  # a constant: log-sum-exp ignores shifts
        return shift + F.log(F.mean(F.exp(log_probs - shift), dim=0))

    def predict(self, x, batch_size: int = 256) -> Prediction:
        """The ensemble's probabilities and the members' disagreement, in evaluation mode.

        Args:
            x: an array or Tensor (N, ...) of inputs (uint8 images are scaled to [0, 1]).
            batch_size: samples per forward pass.

        Returns:
            A :class:`Prediction`: ``mean`` = softmax(forward(x)) (the mean of the members'
            probabilities, or the softmax of their mean logits), and the members' spread.
            Every module's mode is restored afterwards.
        """
        modes = _modes(self)
        self.eval()
        members, means = [], []
        try:
            with no_grad():
                for xb in _input_batches("Ensemble.predict", x, batch_size):
                    outs = self.member_outputs(xb)
                    members.append(np.stack([to_numpy(F.softmax(z, dim=1).data) for z in outs]))
                    means.append(to_numpy(F.softmax(self._combine(outs), dim=1).data))
        finally:
            _restore(modes)
        return _summarise(np.concatenate(members, axis=1), np.concatenate(means))

    def extra_repr(self) -> str:
        return f"combine={self.combine!r}"


# ---- Monte-Carlo dropout ----------------------------------------------------------------------
def mc_dropout_predict(model: nn.Module, x, samples: int = 20, seed: int | None = None,
                       batch_size: int = 256) -> Prediction:
    """Monte-Carlo dropout: the mean and spread of ``samples`` passes with fresh dropout masks.

    Every dropout layer (``nn.Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``) samples as in
    training; everything else, batch norm above all, stays in evaluation mode (running statistics
    used, not updated). The result is

        mean = 1/S sum_s softmax(f(x; mask_s)),   std = sqrt(1/S sum_s (softmax(...) - mean)^2),

    with the S samples in ``member_probs`` (each one a thinned network, an ensemble member).
    Every module's mode is restored afterwards, also after an error.

    Args:
        model: a classifier with at least one dropout layer. A model without one raises
            ``ValueError``: its passes would all agree and report a false certainty.
            (Dropout called as a function inside ``forward`` is not seen; use the layers.)
        x: an array or Tensor (N, ...) of inputs (uint8 images are scaled to [0, 1]).
        samples: the number S of masked passes, at least 2.
        seed: with an int, the masks come from a generator seeded with it and Striate's global
            random state is left as it was (reproducible, no side effect); with None they come
            from (and advance) the global generator.
        batch_size: samples per forward pass; every batch of every pass draws new masks.

    Returns:
        A :class:`Prediction` over the S passes.

    Example::

        pred = mc_dropout_predict(model, x_test, samples=50, seed=0)
        uncertain = np.argsort(-pred.variance)[:10]   # the 10 test images it is least sure of
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"mc_dropout_predict: model must be a Module, got "
                        f"{type(model).__name__}")
    if not isinstance(samples, numbers.Integral) or isinstance(samples, bool) or samples < 2:
        raise ValueError(f"mc_dropout_predict: samples must be an int of at least 2 (the spread "
                         f"of one pass is undefined), got {samples!r}")
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
        raise TypeError(f"mc_dropout_predict: seed must be an int or None, got {seed!r}")
    dropouts = [m for m in model.modules() if isinstance(m, DROPOUT_LAYERS)]
    if not dropouts:
        raise ValueError(f"mc_dropout_predict: {type(model).__name__} has no dropout layer "
                         f"({', '.join(c.__name__ for c in DROPOUT_LAYERS)}), so every pass "
                         "would give the same output; use a model trained with dropout, or an "
                         "Ensemble of independently trained models")
    batches = list(_input_batches("mc_dropout_predict", x, batch_size))
    modes, rng_state = _modes(model), get_rng_state()
    model.eval()
    for m in dropouts:
        m.training = True
    runs = []
    try:
        if seed is not None:  # the state manual_seed(seed) gives, in the same generator object
            set_rng_state(np.random.default_rng(int(seed)).bit_generator.state)
        with no_grad():
            for _ in range(samples):
                runs.append(np.concatenate([to_numpy(F.softmax(model(xb), dim=1).data)
                                            for xb in batches]))
    finally:
        _restore(modes)
        if seed is not None:
            set_rng_state(rng_state)
    member_probs = np.stack(runs)
    return _summarise(member_probs, member_probs.mean(axis=0))


# ---- the error of an average (R2) -------------------------------------------------------------
@dataclass(frozen=True)
class ErrorDecomposition:
    """v, c and the error of an average of k members, k = 1..K (see :func:`error_decomposition`).

    Attributes:
        v: the mean over members of E[eps_i^2].
        c: the mean over pairs i != j of E[eps_i eps_j].
        k: (K,) the ensemble sizes 1..K.
        predicted: (K,) v/k + (k - 1) c / k, the expected squared error of the average of k
            members drawn at random from the K (exact: it equals the mean over all k-subsets).
        measured: (K,) the squared error of the average of the first k members, E[(1/k sum_{i<=k}
            eps_i)^2], what adding the members one by one gives; ``measured[-1] ==
            predicted[-1]`` up to rounding.
        moments: (K, K) the matrix of E[eps_i eps_j].
    """

    v: float
    c: float
    k: np.ndarray
    predicted: np.ndarray
    measured: np.ndarray
    moments: np.ndarray


def error_decomposition(errors) -> ErrorDecomposition:
    """Measure v and c from K members' errors and predict the error of their average (R2).

    E[.] is the mean over the test set (every element of the trailing axes). v and c are second
    moments, E[eps_i^2] and E[eps_i eps_j], which the variance and covariance of the errors equal
    when the errors have mean zero; with them the identity E[(1/k sum eps_i)^2] = v/k + (k-1)c/k
    holds exactly for the average over all k-member subsets.

    Args:
        errors: (K, n) or (K, n, ...): member i's errors on the test set, e.g. its probabilities
            minus the one-hot labels, ``pred.member_probs - np.eye(C)[labels]``; K >= 2.

    Returns:
        An :class:`ErrorDecomposition`.

    Example::

        eps = np.random.default_rng(0).normal(size=(5, 10000))   # independent: c close to 0
        d = error_decomposition(eps)
        d.predicted                                               # close to d.v / d.k
    """
    try:
        e = np.asarray(errors, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"error_decomposition: errors must be an array (K members, n test "
                         f"errors), e.g. of equal-length vectors; got {err}") from None
    if e.ndim < 2 or e.shape[0] < 2 or e[0].size == 0:
        raise ValueError(f"error_decomposition: errors must have shape (K, n, ...) with at "
                         f"least K = 2 members and n >= 1 errors each, got shape {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError("error_decomposition: errors must be finite, got NaN or infinity")
    members = e.shape[0]
    e = e.reshape(members, -1)                               # (K, n)
    moments = e @ e.T / e.shape[1]                           # (K, K): E[eps_i eps_j]
    v = float(np.mean(np.diag(moments)))
    c = float((moments.sum() - np.trace(moments)) / (members * (members - 1)))
    k = np.arange(1, members + 1)
    predicted = v / k + (k - 1) * c / k
    running = np.cumsum(e, axis=0) / k[:, None]             # row k-1: average of the first k
    measured = np.mean(running ** 2, axis=1)
    return ErrorDecomposition(v=v, c=c, k=k, predicted=predicted, measured=measured,
                              moments=moments)
