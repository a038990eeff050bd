from __future__ import annotations

import json

import pytest
import torch

from netslim.bench import TimingConfig
from netslim.errors import ConfigError
from netslim.export import load_artifact
from netslim.models import build_model
from netslim.pipeline import OptimizeConfig, optimize
from netslim.train import TrainConfig, train_

FAST = dict(
    finetune=TrainConfig(epochs=3, lr=3e-3, batch_size=32, schedule="onecycle"),
    prune_steps=1,
    timing=TimingConfig(warmup=2, repeats=10),
    batch_sizes=(1, 64),
    objective_batch=64,
    threads=1,
)


@pytest.fixture(scope="module")
def trained(digits):
    model = build_model("seed_cnn", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=20, lr=3e-3, batch_size=32, schedule="onecycle"))
    return model


def test_optimize_keeps_the_budget_never_loses_to_the_baseline_and_writes_a_runnable_artifact(
    tmp_path, digits, trained
) -> None:
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    result = optimize(trained, digits, OptimizeConfig(ratios=(0.5,), max_drop=0.02, **FAST), out=tmp_path / "a")
    assert all(torch.equal(before[k], v) for k, v in trained.state_dict().items())  # the input is untouched
    chosen = next(m for m in result.selection.measured if m.name == result.chosen)
    reference = next(m for m in result.selection.measured if m.name == result.selection.reference)
    assert chosen.timings[64].median_ms <= reference.timings[64].median_ms
    assert chosen.within_budget and result.selection.speedup >= 1.0
    assert result.structural[0].macs < result.original.macs
    artifact = load_artifact(tmp_path / "a")
    logits = artifact(digits.test.x)
    accuracy = float((logits.argmax(1) == digits.test.y).mean())
    assert accuracy == pytest.approx(result.test_accuracy[result.chosen], abs=1e-9)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["result"]["selection"]["chosen"] == result.chosen


def test_a_quantization_that_loses_accuracy_is_rejected(digits, trained) -> None:
    config = OptimizeConfig(ratios=(0.5,), max_drop=0.01, quant_weights="int2", quant_activations="int2", **FAST)
    result = optimize(trained, digits, config)
    lossy = next(m for m in result.selection.measured if "int2" in m.name)
    assert lossy.accuracy is not None and not lossy.within_budget
    assert "int2" not in result.chosen


def test_optimize_config_validation() -> None:
    with pytest.raises(ConfigError, match="OptimizeConfig.ratios"):
        OptimizeConfig(ratios=(1.2,))
    with pytest.raises(ConfigError, match="objective_batch"):
        OptimizeConfig(batch_sizes=(1, 8), objective_batch=256)
    assert OptimizeConfig.from_dict(OptimizeConfig().to_dict()) == OptimizeConfig()
