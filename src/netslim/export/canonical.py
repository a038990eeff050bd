"""Put an exported QDQ graph into the canonical form that ONNX Runtime and OpenVINO turn into integer kernels.

The torch exporter writes a quantized weight as ``fp32 initializer -> QuantizeLinear -> DequantizeLinear`` and an
activation quantizer where the next layer reads it (after MaxPool / Flatten). Runtimes look for
``int8 initializer -> DequantizeLinear`` weights and for a Q/DQ pair right behind the producing Conv/Gemm/ReLU, so
that ``DQ -> Conv -> ReLU -> Q`` becomes one integer convolution and the pooling runs on integers. Two rewrites,
both exact:

- ``fold_weight_quantizers``: a QuantizeLinear of a constant becomes the integer initializer it computes (the file
  shrinks by 4x on those weights);
- ``hoist_activation_qdq``: a Q/DQ pair reached through ops that commute with a monotonic per-tensor quantizer
  (MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Identity) is repeated right after the producing op.
  ``Q(DQ(Q(x))) == Q(x)`` and ``max`` commutes with a non-decreasing map, so the outputs are bit-identical.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

COMMUTING = frozenset({"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity"})


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def fold_weight_quantizers(model: onnx.ModelProto) -> int:
    """Replace every ``QuantizeLinear`` of a constant by its integer result; return how many were folded."""
    graph = model.graph
    values = _constants(graph)
    initializers = {init.name for init in graph.initializer}
    kept, folded = [], 0
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in initializers or len(node.input) < 3:
            kept.append(node)
            continue
        weight, scale, zero = (values.get(name) for name in node.input[:3])
        if weight is None or scale is None or zero is None:
            kept.append(node)
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * weight.ndim
        if scale.ndim:
            shape[axis % weight.ndim] = -1
        info = np.iinfo(zero.dtype)
        codes = np.rint(weight / scale.reshape(shape)) + zero.reshape(shape).astype(np.float64)
        codes = np.clip(codes, info.min, info.max).astype(zero.dtype)
        graph.initializer.append(numpy_helper.from_array(codes, node.output[0]))
        folded += 1
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    return folded


def hoist_activation_qdq(model: onnx.ModelProto) -> int:
    """Repeat each activation Q/DQ pair behind the op that produced its tensor, across commuting ops; return how many
    pairs were added."""
    graph = model.graph
    values = _constants(graph)
    initializers = {init.name for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    users = _consumers(graph)
    graph_outputs = {o.name for o in graph.output}
    after: dict[str, list[onnx.NodeProto]] = {}
    added = 0
    for node in list(graph.node):
        if node.op_type != "QuantizeLinear" or node.input[0] in initializers or len(node.input) < 3:
            continue
        scale, zero = values.get(node.input[1]), values.get(node.input[2])
        if scale is None or zero is None or scale.size != 1:
            continue
        chain: list[onnx.NodeProto] = []
        tensor = node.input[0]
        source = producer.get(tensor)
        while source is not None and source.op_type in COMMUTING and len(users.get(tensor, [])) == 1:
            if tensor in graph_outputs:
                break
            chain.append(source)
            tensor = source.input[0]
            source = producer.get(tensor)
        if not chain or source is None or source.op_type in ("DequantizeLinear", "QuantizeLinear"):
            continue
        if len(users.get(tensor, [])) != 1 or tensor in graph_outputs:
            continue
        stem = f"{tensor}__hoisted"
        graph.initializer.append(numpy_helper.from_array(scale.copy(), f"{stem}_scale"))
        graph.initializer.append(numpy_helper.from_array(zero.copy(), f"{stem}_zero_point"))
        q = helper.make_node("QuantizeLinear", [tensor, f"{stem}_scale", f"{stem}_zero_point"], [f"{stem}_q"])
        dq = helper.make_node("DequantizeLinear", [f"{stem}_q", f"{stem}_scale", f"{stem}_zero_point"], [f"{stem}_dq"])
        q.name, dq.name = f"{stem}_Q", f"{stem}_DQ"
        chain[-1].input[0] = f"{stem}_dq"
        after.setdefault(source.output[0], []).extend([q, dq])
        added += 1
    if added:
        ordered = []
        for node in graph.node:
            ordered.append(node)
            ordered.extend(after.get(node.output[0], []) if node.output else [])
        del graph.node[:]
        graph.node.extend(ordered)
    return added


def canonical_qdq(data: bytes) -> bytes:
    """Both rewrites on serialized ONNX bytes; the result passes the ONNX checker."""
    model = onnx.load_from_string(data)
    fold_weight_quantizers(model)
    hoist_activation_qdq(model)
    onnx.checker.check_model(model)
    return model.SerializeToString()


__all__ = ["COMMUTING", "canonical_qdq", "fold_weight_quantizers", "hoist_activation_qdq"]
