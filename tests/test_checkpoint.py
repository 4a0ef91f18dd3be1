"""Checkpoints: round trip, the file layout, atomic writes, errors, and bit-exact resumption."""
import json
import os

import numpy as np
import pytest
import safetensors.numpy

import striate
from striate import optim, train
from striate.backend import get_generator
from test_train import MLP, blobs, sgd


class Other(MLP):
    pass


def trained(seed=0, epochs=2, **fit_kwargs):
    """A model, SGD with momentum and a StepLR schedule, trained a little."""
    striate.manual_seed(seed)
    model = MLP()
    opt = sgd(model, lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = train.fit(model, blobs(96), epochs=epochs, optimizer=opt, scheduler=sched, batch_size=16,
                  verbose=0, **fit_kwargs)
    return model, opt, sched, h


def assert_same_state(a: dict, b: dict):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert a[k].dtype == b[k].dtype


# ---- round trip and layout ---------------------------------------------------------------
def test_round_trip(tmp_path):
    model, opt, sched, h = trained()
    path = tmp_path / "ck.safetensors"
    extra = {"note": "hi", "mean": np.arange(3.0)}
    train.save_checkpoint(path, model, opt, sched, epoch=2, history=h, model_name="mlp",
                          model_args={"hidden": 16}, extra=extra)
    expected_rng = striate.get_rng_state()
    get_generator().random(10)  # move the generator on; loading puts it back

    striate.manual_seed(123)
    model2 = MLP()
    opt2 = sgd(model2, lr=0.7)
    sched2 = optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    meta = train.load_checkpoint(path, model2, opt2, sched2)

    assert_same_state(model2.state_dict(), model.state_dict())
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    assert s1["state"].keys() == s2["state"].keys()
    for k in s1["state"]:
        np.testing.assert_array_equal(s1["state"][k]["momentum_buffer"],
                                      s2["state"][k]["momentum_buffer"])
    assert sched2.state_dict() == sched.state_dict()
    assert striate.get_rng_state() == expected_rng
    assert meta["epoch"] == 2
    assert meta["model"] == {"class": "MLP", "name": "mlp", "args": {"hidden": 16},
                             "keys": ["w1", "b1", "w2", "b2"]}
    assert meta["history"]["history"] == h.history and meta["history"]["epoch"] == [0, 1]
    assert meta["history"]["params"]["batch_size"] == 16
    assert meta["extra"]["note"] == "hi"
    np.testing.assert_array_equal(meta["extra"]["mean"], np.arange(3.0))


def test_adam_state_round_trip(tmp_path):
    striate.manual_seed(0)
    model = MLP()
    opt = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    train.fit(model, blobs(64), epochs=1, optimizer=opt, batch_size=16, verbose=0)
    path = tmp_path / "adam.safetensors"
    train.save_checkpoint(path, model, opt)
    opt2 = optim.Adam(MLP().parameters())
    train.load_checkpoint(path, optimizer=opt2)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"] == s1["param_groups"]
    assert s2["param_groups"][0]["betas"] == (0.8, 0.9)
    for k in s1["state"]:
        assert s2["state"][k]["step"] == s1["state"][k]["step"] == 4
        np.testing.assert_array_equal(s2["state"][k]["exp_avg_sq"], s1["state"][k]["exp_avg_sq"])


def test_layout_tensors_and_json_sidecar(tmp_path):
    model, opt, sched, h = trained(epochs=1)
    path = tmp_path / "ck.safetensors"
    train.save_checkpoint(path, model, opt, sched, epoch=1, history=h)
    tensors = safetensors.numpy.load_file(str(path))   # a plain safetensors file
    assert {"model.w1", "model.b2", "optimizer.state.0.momentum_buffer"} <= set(tensors)
    np.testing.assert_array_equal(tensors["model.w1"], model.w1.numpy())
    with open(str(path) + ".json") as f:
        sidecar = json.load(f)
    assert sidecar["optimizer"]["param_groups"][0]["lr"] == opt.param_groups[0]["lr"]
    assert sidecar["optimizer"]["state"]["0"]["momentum_buffer"] == {
        "__tensor__": "optimizer.state.0.momentum_buffer"}
    assert sidecar["scheduler"]["class"] == "StepLR" and sidecar["epoch"] == 1
    assert sidecar["rng"]["bit_generator"] == "PCG64"
    meta = train.read_checkpoint_metadata(path)
    assert meta["model"] == sidecar["model"] and meta["history"] == sidecar["history"]


def test_atomic_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    model, opt, sched, h = trained(epochs=1)
    path = tmp_path / "ck.safetensors"
    train.save_checkpoint(path, model, opt, sched, epoch=1)
    before = path.read_bytes(), (tmp_path / "ck.safetensors.json").read_bytes()

    for p in model.parameters():
        p.data[...] += 1
    written = []

    def crash(fd):  # the new bytes are in the temporary file, not yet renamed
        written.append(os.fstat(fd).st_size)
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk on fire"):
        train.save_checkpoint(path, model, opt, sched, epoch=2)
    monkeypatch.undo()
    assert written and written[0] > 0
    assert (path.read_bytes(), (tmp_path / "ck.safetensors.json").read_bytes()) == before
    assert sorted(os.listdir(tmp_path)) == ["ck.safetensors", "ck.safetensors.json"]
    assert train.read_checkpoint_metadata(path)["epoch"] == 1


# ---- errors ------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_checkpoint: no checkpoint file at"):
        train.load_checkpoint(tmp_path / "nope.safetensors", MLP())
    with pytest.raises(FileNotFoundError, match="that is the JSON sidecar"):
        train.load_checkpoint(tmp_path / "nope.safetensors.json")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00hello")
    with pytest.raises(ValueError, match="is not a Striate checkpoint"):
        train.load_checkpoint(path)
    safetensors.numpy.save_file({"w": np.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="is not a Striate checkpoint"):
        train.load_checkpoint(path)


def test_checkpoint_of_another_model(tmp_path):
    striate.manual_seed(0)
    path = tmp_path / "ck.safetensors"
    train.save_checkpoint(path, MLP(), model_name="mlp")
    with pytest.raises(ValueError, match=r"holds a checkpoint of MLP \(model name 'mlp'\), "
                                         r"not of Other"):
        train.load_checkpoint(path, Other())
    with pytest.raises(ValueError, match=r"lacks 2 keys \['w3', 'b3'\] and has extra no keys"):
        train.load_checkpoint(path, MLP(depth=3))
    with pytest.raises(ValueError, match=r"w1 has shape \(16, 2\) there but \(8, 2\)"):
        train.load_checkpoint(path, MLP(hidden=8))
    model = Other()
    train.load_checkpoint(path, model, strict=False)  # same names: loads
    np.testing.assert_array_equal(model.w1.numpy(),
                                  safetensors.numpy.load_file(str(path))["model.w1"])


def test_optimizer_mismatch_and_weights_only(tmp_path):
    model, opt, sched, h = trained(epochs=1)
    path = tmp_path / "ck.safetensors"
    train.save_checkpoint(path, model, opt)
    with pytest.raises(ValueError, match="the state of a SGD optimizer, not of Adam"):
        train.load_checkpoint(path, optimizer=optim.Adam(model.parameters()))
    with pytest.raises(ValueError, match="holds no scheduler state"):
        train.load_checkpoint(path, scheduler=sched)


# ---- fit: checkpoints every epoch and exact resumption ----------------------------------
def test_fit_checkpoint_every_epoch(tmp_path):
    template = str(tmp_path / "run" / "e{epoch}.safetensors")
    trained(epochs=3, checkpoint=template)
    for e in (1, 2, 3):
        meta = train.read_checkpoint_metadata(template.format(epoch=e))
        assert meta["epoch"] == e and len(meta["history"]["epoch"]) == e
        assert meta["scheduler"]["state"]["last_epoch"] == e


def noise(batch):
    """Augmentation drawing from Striate's generator: resuming must restore it."""
    return batch + 0.01 * get_generator().standard_normal(batch.shape).astype(batch.dtype)


def run(seed, epochs, checkpoint=None, resume=None, crash_at=None):
    """Train with everything that carries state from epoch to epoch; return the model (with
    EarlyStopping's restored weights), the history and the weights after the last epoch."""
    striate.manual_seed(seed)
    model = MLP()
    opt = sgd(model, lr=0.05, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    last = {}

    def crash(epoch, logs):
        if epoch == crash_at:
            raise KeyboardInterrupt

    callbacks = [
        train.LambdaCallback(on_epoch_begin=crash),
        # never improves after epoch 0 (min_delta), so it cuts the rate every epoch from then on
        train.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0, factor=0.8),
        # the rate only falls, so the best epoch is the first: its weights come back at the end
        train.EarlyStopping(monitor="lr", mode="max", patience=10, restore_best_weights=True),
        train.LambdaCallback(on_epoch_end=lambda e, logs: last.update(model.state_dict())),
    ]
    h = train.fit(model, blobs(120, spread=2.0), epochs=epochs, optimizer=opt, scheduler=sched,
                  batch_size=16, validation_split=0.25, augment=noise, callbacks=callbacks,
                  checkpoint=checkpoint, resume=resume, verbose=0)
    return model, h, last


def test_resume_is_bit_exact(tmp_path):
    path = tmp_path / "last.safetensors"
    full_model, full_h, full_last = run(seed=0, epochs=5)
    with pytest.raises(KeyboardInterrupt):
        run(seed=0, epochs=5, checkpoint=path, crash_at=2)        # dies after two epochs
    assert train.read_checkpoint_metadata(path)["epoch"] == 2
    resumed_model, resumed_h, resumed_last = run(seed=99, epochs=5, checkpoint=path, resume=path)
    assert_same_state(resumed_last, full_last)
    assert_same_state(resumed_model.state_dict(), full_model.state_dict())
    for key in ("loss", "accuracy", "val_loss", "lr"):
        assert resumed_h.history[key] == full_h.history[key]
    assert resumed_h.epoch == [0, 1, 2, 3, 4]
    assert full_h.history["lr"] == pytest.approx([0.05, 0.05, 0.04, 0.016, 0.0128])


def test_resume_needs_a_full_checkpoint(tmp_path):
    path = tmp_path / "w.safetensors"
    trained(epochs=1, checkpoint=train.ModelCheckpoint(path, save_weights_only=True))
    with pytest.raises(ValueError, match="holds no optimizer state"):
        trained(epochs=2, resume=path)


def test_zero_dim_buffers_keep_their_shape(tmp_path):
    """BatchNorm's num_batches_tracked is 0-d; the file must hold it 0-d so it loads strictly."""
    model = striate.nn.Sequential(striate.nn.Conv2d(1, 2, 3), striate.nn.BatchNorm2d(2))
    model(striate.tensor(np.ones((2, 1, 5, 5), dtype=np.float32)))
    train.save_checkpoint(tmp_path / "bn.safetensors", model)
    stored = safetensors.numpy.load_file(str(tmp_path / "bn.safetensors"))
    assert [v.shape for k, v in stored.items() if k.endswith("num_batches_tracked")] == [()]
    fresh = striate.nn.Sequential(striate.nn.Conv2d(1, 2, 3), striate.nn.BatchNorm2d(2))
    train.load_checkpoint(tmp_path / "bn.safetensors", fresh)
    assert int(np.asarray(fresh.state_dict()["1.num_batches_tracked"])) == 1
