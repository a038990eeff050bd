from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from netslim.errors import ConfigError, ExportParityError
from netslim.export import ExportConfig, export_onnx, load_artifact, nbits_model, save_artifact
from netslim.export import nbits as nbits_module
from netslim.models import build_model
from netslim.quant import QATConfig, QuantConfig, qat_, quantize_
from netslim.runtime import OrtRuntime
from netslim.train import TrainConfig, evaluate, train_

INT4 = ExportConfig(int4_matmul=True)


def weight_only(weights: str = "int4", granularity: str = "per_group:32", **kw) -> QuantConfig:
    return QuantConfig(weights=weights, activations=None, granularity=granularity, **kw)


def op_types(path) -> list[str]:
    return [n.op_type for n in onnx.load(path).graph.node]


@pytest.fixture(scope="module")
def trained_mlp(digits) -> nn.Module:
    model = build_model("seed_mlp", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=5, lr=3e-3, batch_size=32))
    return model


def test_digits_mlp_exports_as_matmul_nbits_with_parity(tmp_path, digits, trained_mlp) -> None:
    model = copy.deepcopy(trained_mlp)
    quantize_(model, weight_only())
    x = torch.from_numpy(digits.test.x)
    record = export_onnx(model, x[:2], tmp_path / "q.onnx", INT4, parity_inputs=x)
    assert record.matmul_nbits_layers == ["fc1", "fc2"] and record.quantized
    assert record.parity.ok and record.parity.atol == INT4.atol  # weight-only: no int8-step allowance
    assert record.parity.max_abs_diff <= 1e-4 and record.parity.argmax_agreement == 1.0
    ops = op_types(tmp_path / "q.onnx")
    assert ops.count("MatMulNBits") == 2 and "Gemm" not in ops and "MatMul" not in ops
    ort_logits = OrtRuntime(tmp_path / "q.onnx").run(digits.test.x)  # CPUExecutionProvider
    ort_accuracy = float((ort_logits.argmax(1) == digits.test.y).mean())
    assert ort_accuracy == pytest.approx(evaluate(model, digits.test).accuracy, abs=1e-6)
    assert record.to_dict()["int4_matmul"][0] == {
        "layer": "fc1",
        "converted": True,
        "reason": "int4 per_group:32 -> MatMulNBits",
        "block_size": 32,
    }


@pytest.mark.parametrize("weights", ["int4", "uint4"])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize(
    ("granularity", "in_features", "block"),
    [("per_group:32", 96, 32), ("per_group:48", 96, 16), ("per_channel", 100, 16), ("per_tensor", 256, 128)],
)
def test_packed_codes_reproduce_the_simulated_weights(weights, symmetric, granularity, in_features, block) -> None:
    model = nn.Sequential(nn.Linear(in_features, 24))
    quantize_(model, weight_only(weights, granularity, weight_symmetric=symmetric))
    exported, choices = nbits_model(model)
    twin, simulated = exported[0], model[0].quantized_weight().detach()
    assert choices[0].block_size == block == twin.block_size
    assert twin.packed.dtype == torch.uint8 and twin.packed.shape == (24, -(-in_features // block), block // 2)
    assert torch.equal(twin.dequantized_weight(), simulated)  # the same codes and scales, bit for bit
    if symmetric:
        assert twin.zero_points is None  # the default zero point 8 of MatMulNBits


def test_three_dimensional_input_with_packed_zero_points(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(64, 96), nn.GELU(), nn.Linear(96, 32))
    quantize_(model, weight_only("uint4", weight_symmetric=False))
    record = export_onnx(model, torch.randn(2, 5, 64), tmp_path / "seq.onnx", INT4)
    assert record.parity.ok and record.matmul_nbits_layers == ["0", "2"]
    graph = onnx.load(tmp_path / "seq.onnx").graph
    nodes = [n for n in graph.node if n.op_type == "MatMulNBits"]
    assert [n.domain for n in nodes] == ["com.microsoft"] * 2 and all(len(n.input) == 4 for n in nodes)
    x = torch.randn(4, 5, 64)
    with torch.inference_mode():
        np.testing.assert_allclose(OrtRuntime(tmp_path / "seq.onnx").run(x.numpy()), model(x).numpy(), atol=1e-5)


def test_qat_model_with_learned_scales(tmp_path, digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    config = QATConfig(weights="int4", activations=None, granularity="per_group:16")
    qat_(model, config.replace(train=TrainConfig(epochs=2, lr=3e-3, batch_size=64)), data=digits)
    x = torch.from_numpy(digits.val.x)
    exported, _ = nbits_model(model)
    for name in ("fc1", "fc2"):  # learned scales (exp of log_scale) are stored as inference uses them
        twin, layer = exported.get_submodule(name), model.get_submodule(name)
        with torch.no_grad():  # (with grad on, LSQ's gradient scaling of the step moves it by an ulp)
            assert torch.equal(twin.dequantized_weight(), layer.quantized_weight())
    record = export_onnx(model, x[:2], tmp_path / "qat.onnx", INT4, parity_inputs=x)
    assert record.parity.max_abs_diff <= 1e-4 and record.parity.argmax_agreement == 1.0


def test_int4_file_is_under_a_fifth_of_fp32(tmp_path) -> None:
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 16))
    fp32 = export_onnx(model, torch.randn(2, 256), tmp_path / "fp32.onnx").bytes
    quantize_(model, weight_only(granularity="per_group:64"))
    int4 = export_onnx(model, torch.randn(2, 256), tmp_path / "int4.onnx", INT4).bytes
    assert int4 < 0.2 * fp32, f"int4 {int4} B vs fp32 {fp32} B"


def test_layers_without_a_matmul_nbits_form_fall_back_and_say_why(tmp_path, digits) -> None:
    model = build_model("seed_cnn", digits.input_shape)
    quantize_(model, weight_only(granularity="per_channel"))
    record = export_onnx(model, torch.from_numpy(digits.val.x[:4]), tmp_path / "cnn.onnx", INT4)
    why = {c.layer: c.reason for c in record.int4_matmul if not c.converted}
    assert record.matmul_nbits_layers and set(why) == {"conv1", "conv2"}
    assert all("QuantConv2d: MatMulNBits replaces Linear layers only" in reason for reason in why.values())
    assert record.parity.ok and "Conv" in op_types(tmp_path / "cnn.onnx")


def test_a_group_size_without_a_block_is_a_config_error(tmp_path, digits) -> None:
    model = build_model("seed_mlp", digits.input_shape)
    quantize_(model, weight_only(granularity="per_group:8"))
    with pytest.raises(ConfigError, match=r"fc1: per_group:8 has no MatMulNBits form .* granularity='per_group:32'"):
        export_onnx(model, torch.rand(2, 1, 8, 8), tmp_path / "bad.onnx", INT4)
    assert not (tmp_path / "bad.onnx").exists()


@pytest.mark.parametrize(
    ("quantize", "match"),
    [
        (None, "it has no quantized layer"),
        (weight_only("int8", "per_channel"), "fc1: weights are int8: MatMulNBits export covers int4 and uint4"),
    ],
)
def test_a_model_with_no_eligible_layer_is_a_config_error(tmp_path, quantize, match) -> None:
    model = build_model("seed_mlp", (1, 8, 8))
    if quantize is not None:
        quantize_(model, quantize)
    with pytest.raises(ConfigError, match=match):
        export_onnx(model, torch.rand(2, 1, 8, 8), tmp_path / "m.onnx", INT4)


def test_parity_is_checked_against_the_simulation(tmp_path, monkeypatch) -> None:
    model = nn.Sequential(nn.Linear(64, 32))
    quantize_(model, weight_only())
    pack = nbits_module._pack
    monkeypatch.setattr(nbits_module, "_pack", lambda codes: pack(codes) ^ 0x11)  # one code step off everywhere
    with pytest.raises(ExportParityError, match="differs from torch"):
        export_onnx(model, torch.randn(2, 64), tmp_path / "off.onnx", INT4)
    assert not (tmp_path / "off.onnx").exists()


def test_artifact_records_the_matmul_nbits_layers(tmp_path) -> None:
    model = build_model("seed_mlp", (1, 8, 8))
    quantize_(model, weight_only())
    assert ExportConfig.from_dict(INT4.to_dict()).int4_matmul
    save_artifact(model, torch.rand(2, 1, 8, 8), tmp_path / "a", config=INT4)
    artifact = load_artifact(tmp_path / "a")
    assert [c["layer"] for c in artifact.manifest["export"]["int4_matmul"] if c["converted"]] == ["fc1", "fc2"]
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    with torch.inference_mode():
        np.testing.assert_allclose(artifact(x), model(torch.from_numpy(x)).numpy(), atol=1e-4)
