"""The experiments of `striate reproduce`: the analyses on numbers worked out by hand, and every
experiment's pipeline end to end on a few hundred real Fashion-MNIST images (quick mode)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from striate import experiments, models, nn
from striate.cli import main


def _probs(rows):
    return np.asarray(rows, dtype=np.float64)


def test_ensemble_error_curve_by_hand():
    labels = np.array([0, 1])
    # two members on two samples; shortfalls eps = 1 - p[y]
    p1 = _probs([[0.9, 0.1], [0.6, 0.4]])   # eps (0.1, 0.6), predicts 0, 0 -> error 1/2
    p2 = _probs([[0.3, 0.7], [0.2, 0.8]])   # eps (0.7, 0.2), predicts 1, 1 -> error 1/2
    r = experiments.ensemble_error_curve(np.stack([p1, p2]), labels)
    assert r["member_error"] == [0.5, 0.5]
    # average: [[0.6, 0.4], [0.4, 0.6]] -> predicts 0, 1: no error
    assert r["error"] == [0.5, 0.0]
    v = ((0.1 ** 2 + 0.6 ** 2) / 2 + (0.7 ** 2 + 0.2 ** 2) / 2) / 2
    c = (0.1 * 0.7 + 0.6 * 0.2) / 2
    assert r["v"] == pytest.approx(v) and r["c"] == pytest.approx(c)
    assert r["predicted_mse"] == pytest.approx([v, v / 2 + c / 2])
    # with every member the formula is an identity: E[(mean eps)^2] = v/K + (K-1)c/K
    assert r["measured_mse"][-1] == pytest.approx(r["predicted_mse"][-1])
    assert r["measured_mse"][0] == pytest.approx((0.1 ** 2 + 0.6 ** 2) / 2)


def test_ensemble_error_curve_checks_its_input():
    with pytest.raises(ValueError, match=r"probabilities must be \(K, N, classes\)"):
        experiments.ensemble_error_curve(np.zeros((3, 4)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"labels must be \(3,\)"):
        experiments.ensemble_error_curve(np.zeros((2, 3, 4)), np.zeros(4, dtype=int))


@pytest.mark.parametrize("name", list(experiments.EXPERIMENTS))
def test_each_experiment_runs_end_to_end(name, tmp_path):
    result = experiments.run(name, out=tmp_path, quick=True)
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["setup"]["experiment"] == name and saved["setup"]["quick"] is True
    assert (tmp_path / f"{name}.png").stat().st_size > 10000
    text = (tmp_path / f"{name}.md").read_text()
    assert text.startswith("## ") and f"![{name}]({name}.png)" in text and "|---|" in text
    runs = result.get("runs", {k: v for k, v in result.items() if isinstance(v, dict)
                              and "scores" in v})
    if isinstance(runs, list):
        runs = dict(enumerate(runs))
    assert runs
    for run in runs.values():
        test = run["scores"]["test"]["accuracy"]
        assert len(test) == 1 and 0.0 <= test[0] <= 1.0


def test_reproduce_command(tmp_path, capsys):
    assert main(["reproduce", "augmentation", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "augmentation.md").exists()
    assert main(["reproduce", "dropouts", "--quick"]) == 2
    assert "unknown experiment 'dropouts'; known: ensemble" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["fmnist-cnn", "plain20"])
def test_batchnorm_ablation_has_no_batch_norm(name):
    """What the batchnorm experiments build through the registry (``--model-arg batch_norm=false``
    on the command line)."""
    with_bn, without = models.create(name), models.create(name, batch_norm=False)
    assert any(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())
    assert experiments.EXPERIMENTS["batchnorm-deep"].settings["network"] == "plain20"
