"""fit / evaluate / predict: learning, history, validation split, modes, NaN handling, progress
output; and the metrics against hand-computed values."""
import io
import math
import threading

import numpy as np
import pytest

import striate
import striate.functional as F
from striate import nn, optim, train
from striate.data import ArrayDataset, DataLoader


class MLP(nn.Module):
    """A small two-layer perceptron (hidden ReLU layer), He-initialised from Striate's generator."""

    def __init__(self, n_in=2, hidden=16, n_out=3, depth=2):
        super().__init__()
        g = striate.backend.get_generator()
        sizes = [n_in] + [hidden] * (depth - 1) + [n_out]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
            setattr(self, f"w{i}", nn.Parameter((g.standard_normal((b, a)) *
                                                 np.sqrt(2 / a)).astype(np.float32)))
            setattr(self, f"b{i}", nn.Parameter(np.zeros(b, np.float32)))
        self.depth = depth

    def forward(self, x):
        for i in range(1, self.depth + 1):
            x = F.linear(x, getattr(self, f"w{i}"), getattr(self, f"b{i}"))
            if i < self.depth:
                x = F.relu(x)
        return x


def blobs(n=600, seed=0, spread=1.0):
    """Three Gaussian blobs in the plane, classes 0, 1, 2: separable."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 4], [4, 0], [-4, -4]], np.float32)
    y = rng.integers(0, 3, n)
    x = (centers[y] + spread * rng.standard_normal((n, 2))).astype(np.float32)
    return x, y


def sgd(model, lr=0.1, momentum=0.9):
    return optim.SGD(model.parameters(), lr=lr, momentum=momentum)


# ---- learning and the history ------------------------------------------------------------
def test_mlp_learns_separable_blobs():
    striate.manual_seed(0)
    x, y = blobs()
    model = MLP()
    h = train.fit(model, (x, y), epochs=5, optimizer=sgd(model), validation_split=0.2,
                  verbose=0)
    assert h.history["val_accuracy"][-1] > 0.95
    assert train.evaluate(model, (x, y))["accuracy"] > 0.95
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_history_keys_and_params():
    striate.manual_seed(0)
    x, y = blobs(200)
    model = MLP()
    h = train.fit(model, (x, y), epochs=3, optimizer=sgd(model, lr=0.05),
                  metrics=["accuracy", "top_2_accuracy"], validation_data=blobs(50, seed=1),
                  batch_size=20, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "top_2_accuracy", "val_loss",
                              "val_accuracy", "val_top_2_accuracy", "lr", "time"}
    assert all(len(v) == 3 for v in h.history.values())
    assert h.epoch == [0, 1, 2]
    assert h.history["lr"] == [0.05] * 3
    assert h.params["batch_size"] == 20 and h.params["steps"] == 10
    assert h.params["epochs"] == 3 and h.params["optimizer"] == "SGD"
    assert h.params["lr"] == 0.05 and h.params["momentum"] == 0.9


def test_optimizer_by_name_and_loader_input():
    striate.manual_seed(0)
    x, y = blobs(300)
    model = MLP()
    loader = DataLoader(ArrayDataset(x, y), batch_size=16, shuffle=True, seed=0)
    h = train.fit(model, loader, epochs=4, optimizer="adam", verbose=0)
    assert h.params["optimizer"] == "Adam"
    assert h.history["loss"][-1] < h.history["loss"][0]


class Recorder(nn.Module):
    """Outputs fixed logits and records, per call, the samples seen, the mode and grad mode."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.zeros((3, 1), np.float32))
        self.calls = []

    def forward(self, x):
        self.calls.append((x.numpy()[:, 0].astype(int).tolist(), self.training,
                           striate.is_grad_enabled()))
        return F.linear(x, self.w)


def test_validation_split_takes_last_fraction_and_modes():
    x = np.arange(50, dtype=np.float32)[:, None]
    y = np.zeros(50, np.int64)
    model = Recorder()
    train.fit(model, (x, y), epochs=2, optimizer=sgd(model, lr=0.0, momentum=0.0),
              validation_split=0.2, batch_size=8, verbose=0)
    train_seen = [i for idx, mode, _ in model.calls if mode for i in idx]
    val_seen = [i for idx, mode, _ in model.calls if not mode for i in idx]
    assert sorted(train_seen) == sorted(list(range(40)) * 2)  # every epoch, first 40
    assert val_seen == list(range(40, 50)) * 2                # last 10, in order
    assert train_seen[:40] != list(range(40))                 # shuffled
    assert all(grad for _, mode, grad in model.calls if mode)
    assert not any(grad for _, mode, grad in model.calls if not mode)
    assert model.training  # the mode the model had before fit


def test_validation_split_errors():
    x, y = blobs(40)
    model = MLP()
    with pytest.raises(ValueError, match="validation_split or validation_data, not both"):
        train.fit(model, (x, y), validation_split=0.2, validation_data=(x, y), verbose=0)
    loader = DataLoader(ArrayDataset(x, y), batch_size=8)
    with pytest.raises(ValueError, match="with a DataLoader pass validation_data"):
        train.fit(model, loader, validation_split=0.2, verbose=0)


def test_bad_arguments():
    model = MLP()
    x, y = blobs(20)
    with pytest.raises(ValueError, match="fit: unknown loss 'hinge'"):
        train.fit(model, (x, y), loss="hinge", verbose=0)
    with pytest.raises(ValueError, match="fit: optimizer must be an Optimizer"):
        train.fit(model, (x, y), optimizer="lbfgs", verbose=0)
    with pytest.raises(ValueError, match="fit: epochs must be an int >= 0"):
        train.fit(model, (x, y), epochs=-1, verbose=0)
    with pytest.raises(TypeError, match="fit: callbacks must be Callback instances"):
        train.fit(model, (x, y), callbacks=[print], verbose=0)
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        train.fit(model, (x, y), metrics=["f2"], verbose=0)


def test_scheduler_regularization_and_augment():
    striate.manual_seed(0)
    x, y = blobs(64)
    model = MLP()
    opt = sgd(model, lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    seen = []

    def l2(m):
        return 1e-3 * sum((p * p).sum() for p in m.parameters())

    def augment(batch):
        seen.append(batch.shape)
        return batch

    h = train.fit(model, (x, y), epochs=3, optimizer=opt, scheduler=sched, batch_size=16,
                  validation_data=(x, y), regularization_loss=l2, augment=augment, verbose=0)
    assert h.history["lr"] == [0.1, 0.05, 0.025]
    assert seen == [(16, 2)] * 12  # training batches only
    plain = train.evaluate(model, (x, y))["loss"]
    penalised = train.evaluate(model, (x, y), regularization_loss=l2)["loss"]
    assert penalised == pytest.approx(plain + l2(model).item(), rel=1e-6)
    assert h.history["val_loss"][-1] == pytest.approx(penalised, rel=1e-6)


def test_regularization_is_in_the_training_loss():
    x, y = blobs(32)
    model = MLP()

    def penalty(m):
        return striate.tensor(np.float32(10.0)) + 0 * m.w1.sum()

    h = train.fit(model, (x, y), epochs=1, optimizer=sgd(model, lr=0.0, momentum=0.0),
                  regularization_loss=penalty, batch_size=32, verbose=0)
    assert h.history["loss"][0] == pytest.approx(train.evaluate(model, (x, y))["loss"] + 10.0,
                                                 rel=1e-6)


# ---- evaluate and predict -----------------------------------------------------------------
def test_evaluate_and_predict_match_the_model():
    striate.manual_seed(0)
    x, y = blobs(70)
    model = MLP()
    logits = model(striate.tensor(x)).numpy()
    out = train.predict(model, x, batch_size=16)
    np.testing.assert_allclose(out, logits, rtol=1e-6)
    probs = train.predict(model, x, probabilities=True)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    scores = train.evaluate(model, (x, y), metrics=["accuracy", "top_2_accuracy"],
                            batch_size=16)
    expected_loss = F.cross_entropy(striate.tensor(logits), striate.tensor(y)).item()
    assert scores["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert scores["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
    assert scores["top_2_accuracy"] == pytest.approx(train.top_k_accuracy(y, logits, k=2))


def test_predict_refuses_a_shuffling_loader():
    x, y = blobs(20)
    with pytest.raises(ValueError, match="predict: the loader shuffles"):
        train.predict(MLP(), DataLoader(ArrayDataset(x, y), shuffle=True, seed=0))


# ---- a NaN loss --------------------------------------------------------------------------
def nan_after(k):
    """A cross-entropy that turns NaN from its k-th call on."""
    calls = []

    def loss(out, target):
        calls.append(1)
        value = F.cross_entropy(out, target)
        return value * float("nan") if len(calls) >= k else value

    return loss


def test_nan_loss_stops_with_a_clear_error_and_clean_weights():
    x, y = blobs(64)
    model = MLP()
    snapshot = {}
    keep = train.LambdaCallback(
        on_train_batch_begin=lambda b, logs: snapshot.update(model.state_dict()))
    with pytest.raises(FloatingPointError, match=r"fit: the loss is nan at epoch 1, batch 2"
                                                 r".*TerminateOnNaN"):
        train.fit(model, (x, y), epochs=2, loss=nan_after(3), optimizer=sgd(model),
                  batch_size=16, callbacks=[keep], verbose=0)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, snapshot[k])
        assert np.isfinite(v).all()


def test_terminate_on_nan_keeps_the_history(capsys):
    x, y = blobs(64)
    model = MLP()
    h = train.fit(model, (x, y), epochs=3, loss=nan_after(2), optimizer=sgd(model),
                  batch_size=16, callbacks=[train.TerminateOnNaN()], verbose=0)
    assert "Batch 1: invalid loss nan, terminating training" in capsys.readouterr().out
    assert len(h.history["loss"]) == 1 and math.isnan(h.history["loss"][0])


# ---- progress output ---------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_one_line_per_epoch_when_not_a_terminal():
    x, y = blobs(64)
    model = MLP()
    out = io.StringIO()
    train.fit(model, (x, y), epochs=3, optimizer=sgd(model), validation_split=0.25,
              callbacks=[train.ProgressBar(stream=out)])
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 4 and lines[0].startswith("fit: epochs=3, batch_size=32")
    assert lines[1].startswith("Epoch 1/3 - ") and "img/s - loss: " in lines[1]
    assert "val_accuracy: " in lines[3] and "lr: 0.1000" in lines[3]


def test_progress_bar_on_a_terminal():
    x, y = blobs(64)
    model = MLP()
    out = FakeTerminal()
    train.fit(model, (x, y), epochs=2, optimizer=sgd(model), batch_size=16,
              callbacks=[train.ProgressBar(stream=out)])
    text = out.getvalue()
    assert "\r" in text and "Epoch 2/2" in text and "img/s" in text and "4/4" in text


def test_verbose_0_is_silent(capsys):
    x, y = blobs(32)
    model = MLP()
    train.fit(model, (x, y), epochs=2, optimizer=sgd(model), verbose=0)
    train.fit(model, (x, y), epochs=1, optimizer=sgd(model), verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 1/1")


# ---- metrics -----------------------------------------------------------------------------
Y = np.array([0, 1, 2, 2, 1, 0])
SCORES = np.array([[.8, .1, .1],   # 0 -> 0
                   [.2, .7, .1],   # 1 -> 1
                   [.5, .1, .4],   # 2 -> 0 (2 second)
                   [.1, .2, .7],   # 2 -> 2
                   [.6, .1, .3],   # 1 -> 0 (1 last)
                   [.3, .3, .4]])  # 0 -> 2 (0 ties with 1 for second; the lower index wins)


def test_accuracy_and_top_k():
    assert train.accuracy(Y, SCORES) == pytest.approx(3 / 6)
    assert train.accuracy(Y, SCORES.argmax(1)) == pytest.approx(3 / 6)
    assert train.top_k_accuracy(Y, SCORES, k=1) == pytest.approx(3 / 6)
    assert train.top_k_accuracy(Y, SCORES, k=2) == pytest.approx(5 / 6)
    assert train.top_k_accuracy(Y, SCORES, k=3) == 1.0
    assert train.accuracy(striate.tensor(Y), striate.tensor(SCORES)) == pytest.approx(0.5)


def test_dense_accuracy_over_pixels():
    y = np.array([[[0, 1], [1, 1]]])                      # (1, 2, 2)
    scores = np.zeros((1, 2, 2, 2))
    scores[0, 1] = [[1, 1], [0, 1]]                        # predicts [[1, 1], [0, 1]]
    assert train.accuracy(y, scores) == pytest.approx(2 / 4)
    assert train.top_k_accuracy(y, scores, k=2) == 1.0


def test_confusion_matrix_and_per_class_accuracy():
    m = train.confusion_matrix(Y, SCORES, num_classes=4)
    expected = np.zeros((4, 4), np.int64)
    for t, p in [(0, 0), (1, 1), (2, 0), (2, 2), (1, 0), (0, 2)]:
        expected[t, p] += 1
    np.testing.assert_array_equal(m, expected)
    np.testing.assert_array_equal(train.confusion_matrix(Y, SCORES), expected[:3, :3])
    pca = train.per_class_accuracy(Y, SCORES, num_classes=4)
    np.testing.assert_allclose(pca[:3], [0.5, 0.5, 0.5])
    assert np.isnan(pca[3])


def test_metric_errors():
    with pytest.raises(TypeError, match="accuracy: y_true must hold integer class labels"):
        train.accuracy(Y.astype(float), SCORES)
    with pytest.raises(ValueError, match=r"accuracy: y_pred must be labels of y_true's shape"):
        train.accuracy(Y, SCORES[:4])
    with pytest.raises(ValueError, match=r"confusion_matrix: y_true labels must lie in \[0, 2\)"):
        train.confusion_matrix(Y, Y, num_classes=2)
    with pytest.raises(ValueError, match="top_k_accuracy: k must be a positive int"):
        train.top_k_accuracy(Y, SCORES, k=0)


def test_metric_names():
    assert train.get_metric("acc")[0] == "accuracy"
    name, fn = train.get_metric("top_k_accuracy")
    assert name == "top_5_accuracy"
    name, fn = train.get_metric("top2_accuracy")
    assert name == "top_2_accuracy" and fn(Y, SCORES) == pytest.approx(5 / 6)


def test_stopping_early_stops_the_prefetch_thread():
    x, y = blobs(200)
    model = MLP()
    before = threading.active_count()
    loader = DataLoader(ArrayDataset(x, y), batch_size=8, shuffle=True, seed=0, prefetch=2)

    def stop(batch, logs):
        if batch == 1:
            model.stop_training = True

    h = train.fit(model, loader, epochs=3, optimizer=sgd(model), verbose=0,
                  callbacks=[train.LambdaCallback(on_train_batch_end=stop)])
    assert len(h.epoch) == 1
    assert threading.active_count() == before
