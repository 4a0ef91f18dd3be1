"""The ``striate`` command, called through ``main([...])``: a short real training run on
Fashion-MNIST writes every file and prints its test accuracy; evaluate and predict read that
checkpoint back; a resumed run ends where an uninterrupted one does; and every mistake a user can
make gives exit status 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from striate import nn
from striate import cli
from striate import models
from striate.cli import _model_arg, load_model, main
from striate.data import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, load_fashion_mnist
from striate.train import save_checkpoint

PIL = pytest.importorskip("PIL.Image")
needs_fmnist = pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(),
                                  reason="Fashion-MNIST is not installed (dataset-fashion-mnist)")


def run(capsys, *argv):
    """``(status, stdout, stderr)`` of ``striate argv...``."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_user_error(result, *fragments):
    status, _, err = result
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("striate: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def history_of(run_dir: Path) -> dict:
    """history.csv as ``{column: [value per epoch]}``."""
    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in rows[0]}


def accuracy_of(out: str) -> float:
    return float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One quick real run shared by the tests: lenet5, 2000 Fashion-MNIST images, one epoch."""
    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    out = tmp_path_factory.mktemp("lenet5")
    status = main(["train", "lenet5", "--limit", "2000", "--epochs", "1", "--out", str(out)])
    assert status == 0
    return out


@pytest.fixture(scope="module")
def ankle_boot_png(tmp_path_factory):
    """Test image 0 of Fashion-MNIST (an ankle boot) as a PNG, and a dark-on-light JPEG copy."""
    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    images, labels = load_fashion_mnist(split="test")
    assert FASHION_MNIST_CLASSES[labels[0]] == "Ankle boot"
    folder = tmp_path_factory.mktemp("images")
    PIL.fromarray(images[0]).save(folder / "boot.png")
    PIL.fromarray(255 - images[0]).resize((112, 112)).convert("RGB").save(folder / "photo.jpg")
    return folder / "boot.png", folder / "photo.jpg"


# ---- train, evaluate, predict ----------------------------------------------------------------
@needs_fmnist
def test_train_writes_every_file_and_prints_the_accuracy(tmp_path, capsys, monkeypatch):
    threads = []
    monkeypatch.setattr(cli, "set_num_threads", threads.append)  # the count stays the cores'
    status, out, err = run(capsys, "train", "lenet5", "--limit", 2000, "--epochs", 1,
                           "--threads", 2, "--out", tmp_path / "run")
    assert status == 0, err
    assert threads == [2]
    run_dir = tmp_path / "run"
    for name in ("model.safetensors", "model.safetensors.json", "history.csv",
                 "learning_curves.png", "confusion_matrix.png"):
        assert (run_dir / name).is_file(), name
    assert "10000 images, fashion-mnist test split" in out
    assert 0.3 < accuracy_of(out) <= 1.0  # one epoch on 2000 images: far above chance (0.1)
    assert re.search(r"time per epoch: [0-9.]+ s", out)
    meta = json.loads((run_dir / "model.safetensors.json").read_text())
    assert meta["model"]["name"] == "lenet5" and meta["epoch"] == 1
    assert meta["model"]["args"] == {"num_classes": 10, "in_channels": 1}
    extra = meta["extra"]
    assert extra["classes"] == list(FASHION_MNIST_CLASSES) and extra["input_size"] == [28, 28]
    assert 0.25 < extra["mean"][0] < 0.32 and 0.32 < extra["std"][0] < 0.38  # 0.286, 0.353
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy") and len(rows) == 2
    assert (run_dir / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


@needs_fmnist
def test_evaluate_prints_loss_accuracy_top5_and_per_class_table(trained, capsys):
    status, out, err = run(capsys, "evaluate", trained / "model.safetensors")
    assert status == 0, err
    assert "fashion-mnist test split (10000 images)" in out
    assert re.search(r"test loss: [0-9.]+", out) and re.search(r"top-5 accuracy: [0-9.]+", out)
    assert 0.3 < accuracy_of(out) <= 1.0
    table = out.split("accuracy  images")[1].strip().splitlines()
    assert [line.rsplit(None, 2)[0] for line in table] == list(FASHION_MNIST_CLASSES)
    assert all(line.split()[-1] == "1000" for line in table)


@needs_fmnist
def test_predict_prints_top_k_classes_with_probabilities(trained, ankle_boot_png, capsys):
    png, jpg = ankle_boot_png
    status, out, err = run(capsys, "predict", trained / "model.safetensors", png, "--top-k", 3)
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == str(png) and len(lines) == 4
    probs = [float(line.split()[-1]) for line in lines[1:]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    names = [line.split(maxsplit=1)[1].rsplit(None, 1)[0] for line in lines[1:]]
    assert set(names) <= set(FASHION_MNIST_CLASSES) and "Ankle boot" in names
    # the same boot photographed dark on light, RGB and larger: --invert brings it back
    status, out2, _ = run(capsys, "predict", trained / "model.safetensors", png, jpg, "--invert",
                          "--top-k", 20)
    assert status == 0
    lines = out2.strip().splitlines()
    assert len(lines) == 2 * (1 + 10)  # top-k is capped at the 10 classes
    assert lines[11] == str(jpg) and "Ankle boot" in " ".join(lines[12:15])


@needs_fmnist
def test_short_real_training_reaches_80_percent(tmp_path, capsys):
    """LeNet-5 on 20,000 Fashion-MNIST images for two epochs (about 10 s), scored on all 10,000
    test images. Seeds 0-3 gave 0.842-0.853."""
    status, out, err = run(capsys, "train", "lenet5", "--limit", 20000, "--epochs", 2,
                           "--batch-size", 64, "--lr", 0.002, "--schedule", "cosine",
                           "--out", tmp_path)
    assert status == 0, err
    assert accuracy_of(out) >= 0.80, out


@needs_fmnist
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, capsys, monkeypatch):
    """Ctrl-C after epoch 1 of 2 (status 130), then --resume: the weights equal a straight run's,
    with augmentation, validation and a schedule that depends on the number of epochs."""
    argv = ["train", "lenet5", "--limit", 600, "--batch-size", 100, "--augment", "standard",
            "--validation-split", 0.2, "--schedule", "cosine", "--epochs", 2]
    assert run(capsys, *argv, "--out", tmp_path / "straight")[0] == 0
    record = cli._RunRecorder.on_epoch_end

    def interrupt_after_first_epoch(self, epoch, logs=None):
        record(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli._RunRecorder, "on_epoch_end", interrupt_after_first_epoch)
    status, _, err = run(capsys, *argv, "--out", tmp_path / "split")
    assert status == 130 and "--resume" in err
    monkeypatch.undo()
    status, _, err = run(capsys, *argv, "--out", tmp_path / "split", "--resume")
    assert status == 0, err
    a = safetensors.numpy.load_file(tmp_path / "straight" / "model.safetensors")
    b = safetensors.numpy.load_file(tmp_path / "split" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    split, straight = (history_of(tmp_path / name) for name in ("split", "straight"))
    assert len(split["epoch"]) == 2 and split.keys() == straight.keys()
    for key in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert split[key] == straight[key], key


def test_train_on_digits_and_an_image_folder(tmp_path, capsys):
    pytest.importorskip("sklearn")
    status, out, err = run(capsys, "train", "lenet5", "--dataset", "digits", "--epochs", 1,
                           "--out", tmp_path / "digits", "--early-stopping", 1)
    assert status == 0, err
    assert "297 images, digits test split" in out
    # two classes of 12x12 RGB pictures: bright squares and dark squares, in train/ and test/
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for name, level in (("bright", 220), ("dark", 30)):
            (tmp_path / "shapes" / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(level + rng.normal(0, 10, (12, 12, 3)), 0, 255).astype(np.uint8)
                PIL.fromarray(pixels).save(tmp_path / "shapes" / split / name / f"{i}.png")
    status, out, err = run(capsys, "train", "lenet5", "--dataset",
                           f"folder:{tmp_path / 'shapes'}", "--epochs", 1, "--out",
                           tmp_path / "folder")
    assert status == 0, err
    meta = json.loads((tmp_path / "folder" / "model.safetensors.json").read_text())
    assert meta["model"]["args"] == {"num_classes": 2, "in_channels": 3}
    assert meta["extra"]["classes"] == ["bright", "dark"]
    image = tmp_path / "shapes" / "test" / "dark" / "0.png"
    status, out, err = run(capsys, "predict", tmp_path / "folder" / "model.safetensors", image,
                           "--top-k", 5)
    assert status == 0, err
    assert len(out.strip().splitlines()) == 3


def test_models_and_help(capsys):
    status, out, _ = run(capsys, "models")
    assert status == 0
    assert re.search(r"lenet5\s+28x28\s+61,706 params", out) and "fmnist-cnn" in out
    for command in ("train", "evaluate", "predict", "models"):
        status, out, _ = run(capsys, command, "--help")
        assert status == 0 and "usage: striate " + command in out


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "striate", "models"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "lenet5" in done.stdout


def test_plots_write_pngs_and_reject_bad_input(tmp_path):
    from striate import plots
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.6, 0.8],
               "lr": [0.1, 0.1]}
    plots.plot_learning_curves(history, tmp_path / "curves.png", title="run")
    m = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    plots.plot_confusion_matrix(m, tmp_path / "cm.png", ["a", "b", "c"])
    for name in ("curves.png", "cm.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="2 class names for a 3x3 matrix"):
        plots.plot_confusion_matrix(m, tmp_path / "x.png", ["a", "b"])
    with pytest.raises(ValueError, match="no loss or metric"):
        plots.plot_learning_curves({"lr": [0.1]}, tmp_path / "x.png")


def test_importing_the_command_line_loads_no_plotting_library():
    code = "import sys, striate.cli; print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["False", "False"]


# ---- user errors -----------------------------------------------------------------------------
def test_missing_dataset_says_how_to_install_it(tmp_path, capsys):
    assert_user_error(run(capsys, "train", "lenet5", "--data-dir", tmp_path / "nothing",
                          "--out", tmp_path / "run"),
                      "apt-get install dataset-fashion-mnist")
    assert_user_error(run(capsys, "train", "lenet5", "--dataset", "mnist"), "--data-dir")
    assert_user_error(run(capsys, "train", "lenet5", "--dataset", f"folder:{tmp_path}/none"),
                      "no such folder")


def test_image_folder_splits_need_the_same_classes(tmp_path, capsys):
    for split, classes in (("train", ("cat", "dog")), ("test", ("cat", "emu"))):
        for name in classes:
            (tmp_path / split / name).mkdir(parents=True)
            PIL.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / split / name / "a.png")
    assert_user_error(run(capsys, "train", "lenet5", "--dataset", f"folder:{tmp_path}",
                          "--out", tmp_path / "run"),
                      "both need the same class sub-folders")


def test_unknown_model_lists_the_known_ones(capsys):
    assert_user_error(run(capsys, "train", "nosuchnet"), "unknown model 'nosuchnet'", "lenet5",
                      "fmnist-cnn")


@pytest.mark.parametrize("argv, fragment", [
    ([], "the following arguments are required"),
    (["fly"], "invalid choice: 'fly'"),
    (["train"], "the following arguments are required: model"),
    (["train", "lenet5", "--epochs", "x"], "--epochs: invalid int value: 'x'"),
    (["train", "lenet5", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "lenet5", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["train", "lenet5", "--validation-split", "1.5"], "--validation-split must lie in [0, 1)"),
    (["train", "lenet5", "--lr", "0"], "--lr must be positive"),
    (["train", "lenet5", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["train", "lenet5", "--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["train", "lenet5", "--early-stopping", "0"], "--early-stopping must be at least 1"),
    (["train", "lenet5", "--threads", "0"], "--threads must be at least 1"),
    (["evaluate", "ckpt.safetensors", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["predict", "ckpt.safetensors"], "the following arguments are required: IMAGE"),
    (["predict", "ckpt.safetensors", "a.png", "--top-k", "0"], "--top-k must be at least 1"),
])
def test_bad_arguments(argv, fragment, capsys):
    assert_user_error(run(capsys, *argv), fragment)


def test_wrong_checkpoint_files(tmp_path, capsys):
    assert_user_error(run(capsys, "evaluate", tmp_path / "none.safetensors"),
                      "no checkpoint file")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header at all")
    assert_user_error(run(capsys, "evaluate", junk), "is not a Striate checkpoint")
    assert_user_error(run(capsys, "predict", junk, "x.png"), "is not a Striate checkpoint")
    custom = nn.Sequential(nn.Linear(4, 2))
    save_checkpoint(tmp_path / "custom.safetensors", custom, model_name="my-net")
    assert_user_error(run(capsys, "evaluate", tmp_path / "custom.safetensors"),
                      "model 'my-net'", "not in the zoo", "lenet5")
    # a lenet5 checkpoint whose weights have another shape: names the mismatch
    bad = nn.Sequential(nn.Linear(4, 2))
    save_checkpoint(tmp_path / "bad.safetensors", bad, model_name="lenet5")
    assert_user_error(run(capsys, "evaluate", tmp_path / "bad.safetensors"),
                      "holds a checkpoint of Sequential", "not of LeNet5")


@needs_fmnist
def test_resuming_a_run_of_another_model(trained, tmp_path, capsys):
    assert_user_error(run(capsys, "train", "fmnist-cnn", "--out", trained, "--resume"),
                      "holds a checkpoint of model 'lenet5', not 'fmnist-cnn'")
    assert_user_error(run(capsys, "train", "lenet5", "--out", tmp_path, "--resume"),
                      "no checkpoint to resume")


@needs_fmnist
def test_unreadable_images_are_named(trained, tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert_user_error(run(capsys, "predict", trained / "model.safetensors", text),
                      "cannot read image", str(text))
    missing = tmp_path / "missing.jpg"
    assert_user_error(run(capsys, "predict", trained / "model.safetensors", missing),
                      "cannot read image", str(missing))


def test_model_args_build_a_narrow_model_and_reach_the_checkpoint(tmp_path, capsys):
    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    out = tmp_path / "nin"
    status, stdout, _ = run(capsys, "train", "nin", "--model-arg", "width=0.125", "--limit",
                            "256", "--epochs", "1", "--out", out)
    assert status == 0
    wide = models.create("nin").num_parameters()
    narrow = models.create("nin", width=0.125).num_parameters()
    assert f"({narrow:,} parameters)" in stdout and narrow < wide / 10
    model, meta = load_model(out / "model.safetensors")
    assert meta["model"]["args"]["width"] == 0.125 and model.num_parameters() == narrow
    assert_user_error(run(capsys, "train", "nin", "--model-arg", "depth=3", "--limit", "8"),
                      "--model-arg: nin does not take")
    assert_user_error(run(capsys, "train", "nin", "--model-arg", "width"), "expected KEY=VALUE")
    assert [_model_arg(t) for t in ("a=3", "b=0.5", "c=True", "d=none", "e=relu")] == [
        ("a", 3), ("b", 0.5), ("c", True), ("d", None), ("e", "relu")]
