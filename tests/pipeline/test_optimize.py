from __future__ import annotations

import json

import pytest
import torch

from netslim.bench import TimingConfig
from netslim.errors import ConfigError
from netslim.export import load_artifact
from netslim.models import build_model
from netslim.pipeline import OptimizeConfig, optimize
from netslim.quant import QuantConfig
from netslim.train import DistillConfig, TrainConfig, train_

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
    forms = {m.name.split("/")[1] for m in result.selection.measured}
    assert {"wint8auint8-qdq", "wint8auint8-qoperator"} <= forms  # both integer forms are timed, not assumed
    qop = [m for m in result.selection.measured if "qoperator" in m.name]
    assert qop and all(m.accuracy is not None for m in qop)
    artifact = load_artifact(tmp_path / "a")
    logits = artifact(digits.test.x)
    accuracy = float((logits.argmax(1) == digits.test.y).mean())
    assert accuracy == pytest.approx(result.test_accuracy[result.chosen], abs=1e-9)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["result"]["selection"]["chosen"] == result.chosen


def test_a_quantization_that_loses_accuracy_is_rejected(digits, trained) -> None:
    config = OptimizeConfig(ratios=(0.5,), max_drop=0.01, quant=QuantConfig(weights="int2", activations="int2"), **FAST)
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


def test_the_policy_runs_the_fastest_file_within_budget_at_each_batch_size() -> None:
    from netslim.bench.timing import Timing
    from netslim.pipeline.optimize import _batch_policy
    from netslim.runtime.select import Measured, Selection
    from netslim.runtime.spec import RuntimeSpec

    def measured(name: str, b1: float, b256: float, *, baseline: bool = False, ok: bool = True) -> Measured:
        timings = {b: Timing(name, ms, ms, ms, ms, ms, 10, b, 1) for b, ms in ((1, b1), (256, b256))}
        return Measured(name, baseline, 0.99, timings, ok)

    fp32, int8, lossy = b"fp32 graph", b"int8 graph", b"int2 graph"
    spec1, spec2 = RuntimeSpec("onnxruntime", 1), RuntimeSpec("onnxruntime", 2)
    models = {
        "original/fp32/ort-t2": (None, b"original", spec2),
        "pruned/fp32/ort-t1": (None, fp32, spec1),
        "pruned/int8/ort-t2": (None, int8, spec2),
        "pruned/int2/ort-t2": (None, lossy, spec2),
    }
    rows = [
        measured("original/fp32/ort-t2", 0.10, 10.0, baseline=True),
        measured("pruned/fp32/ort-t1", 0.04, 4.0),
        measured("pruned/int8/ort-t2", 0.08, 2.0),
        measured("pruned/int2/ort-t2", 0.01, 1.0, ok=False),  # fastest, but beyond the accuracy budget
    ]
    selection = Selection("pruned/int8/ort-t2", "", 256, "original/fp32/ort-t2", 5.0, rows)
    policy, speedups, files, names = _batch_policy(selection, models, (1, 256))  # type: ignore[arg-type]
    assert names == {1: "pruned/fp32/ort-t1", 256: "pruned/int8/ort-t2"}
    assert policy.rules[0][1] == RuntimeSpec("onnxruntime", 1, file="model-pruned-fp32.onnx")
    assert policy.rules[1][1] == spec2  # the chosen file is the artifact's model.onnx
    assert files == {"model-pruned-fp32.onnx": fp32}
    assert speedups == pytest.approx({1: 2.5, 256: 5.0})


def test_taylor_importance_per_layer_ratios_and_distillation_work_together(digits, trained) -> None:
    config = OptimizeConfig(
        ratios=(0.5,),
        importance="taylor",
        per_layer={"conv1": 0.25},
        distill=DistillConfig(temperature=4.0, alpha=0.7),
        quant=QuantConfig(weights="int8", activations="uint8", calibration_samples=128, bias_correction=True),
        max_drop=0.05,
        engines=("onnxruntime",),
        **{**FAST, "prune_steps": 2},
    )
    result = optimize(trained, digits, config)
    (variant,) = result.structural
    steps = variant.record["prune"]["details"]["steps"]
    assert len(steps) == 2 and variant.record["prune"]["details"]["distilled"] is True
    assert steps[0]["config"]["data"]["importance"] == "taylor"
    widths = {row["name"]: row["new_shape"][0] for row in steps[-1]["layers"]}
    assert widths["conv1"] == 24 and widths["conv2"] == 32  # 0.25 and 0.5 of 32 and 64, compounded over 2 steps
    quantized = variant.record["quantize"]
    assert quantized["config"]["data"]["bias_correction"] is True
    assert all(row["detail"]["bias_corrected"] for row in quantized["layers"])
