from __future__ import annotations

import copy

import onnx
import pytest
import torch

from netslim.data import calibration_subset
from netslim.export import export_onnx
from netslim.export.qdq import output_step
from netslim.models import build_model
from netslim.quant import QuantConfig, quantize_
from netslim.runtime import OrtRuntime
from netslim.train import TrainConfig, evaluate, train_


@pytest.fixture(scope="module")
def trained(digits):
    model = build_model("seed_cnn", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=10, lr=3e-3, batch_size=32))
    return model


@pytest.mark.parametrize(
    ("weights", "activations", "granularity"),
    [
        ("int8", "int8", "per_channel"),
        ("int4", "int8", "per_channel"),
        ("ternary", "uint8", "per_channel"),
        ("int8", "int8", "per_tensor"),
        ("int4", None, "per_group:16"),
        ("int8", "int4", "per_channel"),
    ],
)
def test_quantized_model_and_its_onnx_agree_within_one_step(
    tmp_path, digits, trained, weights, activations, granularity
) -> None:
    model = copy.deepcopy(trained)
    skip = ("conv1",) if granularity.startswith("per_group") else ()  # conv1 has a single input channel
    config = QuantConfig(weights=weights, activations=activations, granularity=granularity, skip=skip)
    quantize_(model, config, data=calibration_subset(digits.train, 256) if activations else None)
    x = torch.from_numpy(digits.test.x)
    record = export_onnx(model, x[:2], tmp_path / "q.onnx", parity_inputs=x)
    assert record.quantized and record.parity.ok
    assert record.parity.max_abs_diff <= output_step(model, x)
    ort_logits = OrtRuntime(tmp_path / "q.onnx").run(digits.test.x)
    ort_accuracy = float((ort_logits.argmax(1) == digits.test.y).mean())
    assert abs(ort_accuracy - evaluate(model, digits.test).accuracy) <= 0.01


def test_int8_export_uses_quantize_dequantize_pairs(tmp_path, digits, trained) -> None:
    model = copy.deepcopy(trained)
    quantize_(model, QuantConfig(weights="int8", activations="int8"), data=calibration_subset(digits.train, 128))
    export_onnx(model, torch.from_numpy(digits.val.x[:4]), tmp_path / "q.onnx")
    ops = [n.op_type for n in onnx.load(tmp_path / "q.onnx").graph.node]
    assert ops.count("QuantizeLinear") >= 4 and ops.count("DequantizeLinear") >= 4


def test_the_output_step_follows_the_narrowest_activation_grid(digits, trained) -> None:
    x = torch.from_numpy(digits.test.x[:64])
    steps = {}
    for activations in ("int8", "int4"):
        model = copy.deepcopy(trained)
        config = QuantConfig(weights="int8", activations=activations)
        quantize_(model, config, data=calibration_subset(digits.train, 256))
        with torch.inference_mode():
            top = float(model.eval()(x).abs().max())
        steps[activations] = output_step(model, x) * {"int8": 127, "int4": 7}[activations] / top
    assert steps == pytest.approx({"int8": 1.0, "int4": 1.0})
