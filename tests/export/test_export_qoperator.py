from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from netslim.data import calibration_subset
from netslim.errors import ConfigError
from netslim.export import ExportConfig, export_onnx
from netslim.export.qdq import output_step
from netslim.export.qoperator import to_qoperator
from netslim.models import build_model
from netslim.quant import QuantConfig, quantize_
from netslim.runtime import OrtRuntime
from netslim.train import TrainConfig, evaluate, train_


@pytest.fixture(scope="module")
def trained(digits):
    model = build_model("seed_cnn", digits.input_shape)
    train_(model, digits, TrainConfig(epochs=8, lr=3e-3, batch_size=32))
    return model


def _ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(path).graph.node if n.op_type != "Constant"]


def test_int8_seed_cnn_becomes_an_all_integer_graph_that_matches_its_simulation(tmp_path, digits, trained) -> None:
    model = copy.deepcopy(trained)
    quantize_(model, QuantConfig(weights="int8", activations="uint8"), data=calibration_subset(digits.train, 256))
    x = torch.from_numpy(digits.test.x)
    qop = export_onnx(model, x[:2], tmp_path / "qop.onnx", ExportConfig(quant_format="qoperator"), parity_inputs=x)
    qdq = export_onnx(model, x[:2], tmp_path / "qdq.onnx", parity_inputs=x)
    assert qop.quant_format == "qoperator" and qdq.quant_format == "qdq"
    assert qop.qoperator is not None and len(qop.qoperator.qlinear_conv) == 2 and len(qop.qoperator.qgemm) == 2
    ops = _ops(tmp_path / "qop.onnx")
    assert "Conv" not in ops and "Gemm" not in ops and "Relu" not in ops and "DequantizeLinear" not in ops
    assert ops.count("QuantizeLinear") == 1 and "MaxPool" in ops  # the input quantizer; pooling runs on uint8
    assert qop.parity.max_abs_diff <= output_step(model, x)
    a, b = OrtRuntime(tmp_path / "qop.onnx").run(digits.test.x), OrtRuntime(tmp_path / "qdq.onnx").run(digits.test.x)
    assert np.abs(a - b).max() <= output_step(model, x)  # int32 bias rounding is the only difference
    assert abs(float((a.argmax(1) == digits.test.y).mean()) - evaluate(model, digits.test).accuracy) <= 0.01
    assert qop.to_dict()["qoperator"]["qgemm"] == list(qop.qoperator.qgemm)


def test_weight_only_model_has_nothing_to_rewrite(tmp_path, digits, trained) -> None:
    model = copy.deepcopy(trained)
    quantize_(model, QuantConfig(weights="int8", activations=None))
    record = export_onnx(
        model, torch.from_numpy(digits.val.x[:4]), tmp_path / "w.onnx", ExportConfig(quant_format="qoperator")
    )
    assert record.qoperator is not None and record.qoperator.converted == 0 and record.parity.ok


def test_unknown_quant_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="quant_format"):
        ExportConfig(quant_format="qlinear")


def _conv_relu_graph(output_zero_point: int) -> onnx.ModelProto:
    """input -> Q/DQ (uint8) -> Conv(int8 weight DQ, bias) -> Relu -> Q/DQ(zero point given) -> output."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
        numpy_helper.from_array(np.array(10, np.uint8), "xz"),
        numpy_helper.from_array(rng.integers(-60, 60, (4, 2, 3, 3)).astype(np.int8), "wq"),
        numpy_helper.from_array(np.array([0.01, 0.02, 0.015, 0.01], np.float32), "ws"),
        numpy_helper.from_array(np.zeros(4, np.int8), "wz"),
        numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b"),
        numpy_helper.from_array(np.array(0.03, np.float32), "ys"),
        numpy_helper.from_array(np.array(output_zero_point, np.uint8), "yz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["x"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "ys", "yz"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 2, 6, 6])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 4, 6, 6])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_relu_is_folded_only_where_the_output_quantizer_clamps_at_zero() -> None:
    x = np.random.default_rng(1).uniform(-0.2, 4.0, (3, 2, 6, 6)).astype(np.float32)
    folded = _conv_relu_graph(output_zero_point=0)
    reference = OrtRuntime(folded.SerializeToString()).run(x)
    report = to_qoperator(folded)
    onnx.checker.check_model(folded)
    assert report.qlinear_conv == ("conv",)
    assert [n.op_type for n in folded.graph.node] == ["QuantizeLinear", "QLinearConv", "DequantizeLinear"]
    np.testing.assert_allclose(OrtRuntime(folded.SerializeToString()).run(x), reference, atol=0.03 + 1e-6)

    kept = _conv_relu_graph(output_zero_point=5)  # Q maps -0.15 to code 0: Relu is not implied; leave it alone
    assert to_qoperator(kept).converted == 0
    assert "Conv" in [n.op_type for n in kept.graph.node] and "Relu" in [n.op_type for n in kept.graph.node]
