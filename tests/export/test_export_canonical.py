from __future__ import annotations

import copy

import numpy as np
import onnx
import torch

from netslim.export import ExportConfig, to_onnx_bytes
from netslim.export.canonical import canonical_qdq
from netslim.export.qdq import qdq_model
from netslim.models import build_model
from netslim.quant import QuantConfig, quantize_
from netslim.runtime import OrtRuntime


def _quantized(digits):  # type: ignore[no-untyped-def]
    model = build_model("seed_cnn", digits.input_shape).eval()
    quantized = copy.deepcopy(model)
    quantize_(quantized, QuantConfig(activations="uint8"), data=digits.train.subset(range(128)))
    return quantized


def test_weights_become_integer_initializers_and_qdq_moves_behind_relu(digits) -> None:
    quantized = _quantized(digits)
    raw = to_onnx_bytes(qdq_model(quantized), torch.from_numpy(digits.train.x[:2]), ExportConfig())
    canonical = canonical_qdq(raw)
    graph = onnx.load_from_string(canonical).graph
    producers = {out: node for node in graph.node for out in node.output}
    integer = {i.name for i in graph.initializer if i.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)}
    weight_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in integer]
    assert len(weight_dq) == 4  # conv1, conv2, fc1, fc2
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] in integer for n in graph.node)
    for pool in (n for n in graph.node if n.op_type == "MaxPool"):
        assert producers[pool.input[0]].op_type == "DequantizeLinear"  # pooling reads integers
    assert len(canonical) < 0.5 * len(raw)  # int8 weights instead of fp32


def test_canonical_graph_matches_the_raw_export_within_one_output_step(digits) -> None:
    quantized = _quantized(digits)
    example = torch.from_numpy(digits.train.x[:2])
    raw = to_onnx_bytes(qdq_model(quantized), example, ExportConfig())
    x = np.ascontiguousarray(digits.test.x)
    before, after = OrtRuntime(raw).run(x), OrtRuntime(canonical_qdq(raw)).run(x)
    step = float(np.abs(before).max()) / 127
    assert float(np.abs(before - after).max()) <= step
    assert (before.argmax(1) == after.argmax(1)).mean() >= 0.99
