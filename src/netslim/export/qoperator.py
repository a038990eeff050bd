"""Rewrite a canonical QDQ graph (see :mod:`netslim.export.canonical`) into ONNX's QOperator form: integer operators
that read and write quantized tensors, with no float op between Q and DQ.

- ``DQ(x) , DQ(w) [, bias] -> Conv [-> Relu] -> Q`` becomes ``QLinearConv`` (int32 bias ``round(b / (s_x s_w))``);
- ``DQ(x) , DQ(w) [, bias] -> Gemm [-> Relu] [-> Q]`` becomes ONNX Runtime's ``QGemm`` (``com.microsoft``), with a
  quantized output when a Q follows and a float output otherwise (a classifier's last layer);
- ``DQ(x) -> MaxPool/Flatten/Reshape/... -> Q`` with the same scale and zero point runs the op on the integers;
- a Relu is folded only where the output zero point is the bottom of its integer range (then ``Q`` already clamps
  every negative value to it); other patterns are left in QDQ form.

The integer kernels are the ones ONNX Runtime picks for the QDQ graph itself, so the forms differ in what the
session optimizer must discover, in file layout, and in how the bias is rounded (the QDQ graph adds the float bias,
QOperator the int32 one: at most half a step of the accumulator per output). Which form is faster on a machine is a
measurement: :func:`netslim.optimize` times both. ``QGemm`` runs on ONNX Runtime only; ``QLinearConv`` is standard.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from onnx import helper, numpy_helper

from netslim.export.canonical import COMMUTING

INTEGER_PASSTHROUGH = COMMUTING  # ops exact on quantized tensors when input and output share scale and zero point


@dataclasses.dataclass(frozen=True)
class QOperatorReport:
    """What :func:`to_qoperator` rewrote: layer node names per new operator, and the ops moved onto integers."""

    qlinear_conv: tuple[str, ...] = ()
    qgemm: tuple[str, ...] = ()
    integer_ops: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {field.name: list(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @property
    def converted(self) -> int:
        return len(self.qlinear_conv) + len(self.qgemm)


class _Graph:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.values: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        for node in self.graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.initializers = {i.name for i in self.graph.initializer}
        self.outputs = {o.name for o in self.graph.output}
        self.refresh()

    def refresh(self) -> None:
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.users: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.users.setdefault(name, []).append(node)

    def only_user(self, tensor: str) -> onnx.NodeProto | None:
        users = self.users.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.outputs else None

    def dq(self, tensor: str) -> onnx.NodeProto | None:
        node = self.producer.get(tensor)
        if node is None or node.op_type != "DequantizeLinear" or len(node.input) < 3:
            return None
        if any(name not in self.values for name in node.input[1:3]):
            return None
        return node

    def add_initializer(self, array: np.ndarray, name: str) -> str:
        self.graph.initializer.append(numpy_helper.from_array(array, name))
        self.values[name] = array
        self.initializers.add(name)
        return name


def _attr(node: onnx.NodeProto, name: str, default: float | int) -> float | int:
    for a in node.attribute:
        if a.name == name:
            return a.f if a.type == onnx.AttributeProto.FLOAT else a.i
    return default


def _same_quantizer(g: _Graph, a: onnx.NodeProto, b: onnx.NodeProto) -> bool:
    sa, za, sb, zb = (g.values.get(n) for n in (a.input[1], a.input[2], b.input[1], b.input[2]))
    if sa is None or za is None or sb is None or zb is None:
        return False
    return sa.size == 1 and za.dtype == zb.dtype and np.array_equal(sa, sb) and np.array_equal(za, zb)


def _output_quantizer(g: _Graph, layer: onnx.NodeProto) -> tuple[onnx.NodeProto | None, onnx.NodeProto | None]:
    """The (Relu, QuantizeLinear) right behind ``layer`` that can be folded into an integer op (either may be None)."""
    tensor, relu = layer.output[0], None
    user = g.only_user(tensor)
    if user is not None and user.op_type == "Relu":
        relu, tensor = user, user.output[0]
        user = g.only_user(tensor)
    if user is None or user.op_type != "QuantizeLinear" or len(user.input) < 3:
        return relu, None
    scale, zero = g.values.get(user.input[1]), g.values.get(user.input[2])
    if scale is None or zero is None or scale.size != 1:
        return relu, None
    if relu is not None and int(zero.reshape(-1)[0]) != np.iinfo(zero.dtype).min:
        return relu, None  # the quantizer's range reaches below zero: the Relu is not implied by Q's clamp
    return relu, user


def _int8_weight(g: _Graph, dqw: onnx.NodeProto) -> tuple[str, np.ndarray] | None:
    codes, scale, zero = (g.values.get(n) for n in dqw.input[:3])
    if codes is None or scale is None or zero is None or dqw.input[0] not in g.initializers:
        return None
    if codes.dtype != np.int8 or np.any(zero != 0):
        return None
    axis = int(_attr(dqw, "axis", 1))
    if scale.size > 1 and axis % codes.ndim != 0:
        return None
    return dqw.input[0], scale.astype(np.float32).reshape(-1)


def _convert_layer(g: _Graph, layer: onnx.NodeProto, index: int) -> onnx.NodeProto | None:
    """The integer node replacing ``layer`` and its folded Relu/Q, or None when the pattern does not hold (a Relu
    behind a float-output QGemm stays, reading the QGemm's output under the Gemm's output name)."""
    if len(layer.input) < 2:
        return None
    dqx, dqw = g.dq(layer.input[0]), g.dq(layer.input[1])
    if dqx is None or dqw is None or g.values[dqx.input[1]].size != 1:
        return None
    weight = _int8_weight(g, dqw)
    if weight is None:
        return None
    codes_name, w_scale = weight
    bias = None
    if len(layer.input) > 2 and layer.input[2]:
        bias = g.values.get(layer.input[2])
        if bias is None or layer.input[2] not in g.initializers:
            return None
    _, q = _output_quantizer(g, layer)
    if layer.op_type == "Conv" and q is None:
        return None  # QLinearConv always writes integers: a float-output Conv stays in QDQ form
    if layer.op_type == "Gemm":
        if _attr(layer, "transA", 0) or not _attr(layer, "transB", 0) or _attr(layer, "alpha", 1.0) != 1.0:
            return None
        if bias is not None and (_attr(layer, "beta", 1.0) != 1.0 or bias.ndim != 1):
            return None
    stem = layer.name or f"{layer.op_type}_{index}"
    x_scale = float(g.values[dqx.input[1]].reshape(-1)[0])
    inputs = [dqx.input[0], dqx.input[1], dqx.input[2], codes_name, dqw.input[1], dqw.input[2]]
    bias_name = ""
    if bias is not None:
        accumulator_step = x_scale * w_scale.astype(np.float64)
        codes = np.clip(np.rint(bias.astype(np.float64) / accumulator_step), -(2**31), 2**31 - 1).astype(np.int32)
        bias_name = g.add_initializer(codes, f"{stem}__bias_int32")
    out = q.output[0] if q is not None else layer.output[0]
    if layer.op_type == "Conv":
        attrs = {a.name: helper.get_attribute_value(a) for a in layer.attribute}
        node = helper.make_node("QLinearConv", [*inputs, q.input[1], q.input[2], bias_name], [out], **attrs)  # type: ignore[union-attr]
    else:
        tail = [q.input[1], q.input[2]] if q is not None else []
        node = helper.make_node(
            "QGemm", [*inputs, bias_name, *tail], [out], domain="com.microsoft", transB=1, alpha=1.0
        )
    node.name = f"{stem}__qop"
    if not node.input[-1]:
        del node.input[-1]
    return node


def _passthrough(g: _Graph) -> list[str]:
    """Run ``DQ -> op -> ... -> op -> Q`` chains with one quantizer on the integers; return the ops moved."""
    moved: list[str] = []
    for node in list(g.graph.node):
        dq = g.dq(node.output[0]) if node.op_type == "DequantizeLinear" else None
        if dq is None:
            continue
        chain: list[onnx.NodeProto] = []
        tensor = dq.output[0]
        while (op := g.only_user(tensor)) is not None and op.op_type in INTEGER_PASSTHROUGH and op.input[0] == tensor:
            chain.append(op)
            tensor = op.output[0]
        q = g.only_user(tensor)
        if not chain or q is None or q.op_type != "QuantizeLinear" or len(q.input) < 3 or not _same_quantizer(g, dq, q):
            continue
        chain[0].input[0] = dq.input[0]
        chain[-1].output[0] = q.output[0]
        g.graph.node.remove(q)
        moved.extend(op.name or op.op_type for op in chain)
        g.refresh()
    return moved


def _prune_dead(g: _Graph) -> None:
    while True:
        g.refresh()
        dead = [n for n in g.graph.node if not any(o in g.users or o in g.outputs for o in n.output if o)]
        if not dead:
            break
        for node in dead:
            g.graph.node.remove(node)
    used = {name for node in g.graph.node for name in node.input}
    for init in [i for i in g.graph.initializer if i.name not in used and i.name not in g.outputs]:
        g.graph.initializer.remove(init)


def _topological(graph: onnx.GraphProto) -> None:
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ValueError("QOperator rewrite left a cycle or a dangling input")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
            pending.remove(node)
    del graph.node[:]
    graph.node.extend(ordered)


def to_qoperator(model: onnx.ModelProto) -> QOperatorReport:
    """Rewrite ``model`` (a canonical QDQ graph) in place into QOperator form; return what was converted."""
    g = _Graph(model)
    convs: list[str] = []
    gemms: list[str] = []
    for index, layer in enumerate(list(g.graph.node)):
        if layer.op_type not in ("Conv", "Gemm"):
            continue
        relu, q = _output_quantizer(g, layer)
        replacement = _convert_layer(g, layer, index)
        if replacement is None:
            continue
        position = list(g.graph.node).index(layer)
        for old in (layer, relu if q is not None else None, q):
            if old is not None:
                g.graph.node.remove(old)
        g.graph.node.insert(position, replacement)
        (convs if layer.op_type == "Conv" else gemms).append(layer.name or layer.op_type)
        g.refresh()
    moved = _passthrough(g)
    _prune_dead(g)
    _topological(g.graph)
    if gemms and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return QOperatorReport(tuple(convs), tuple(gemms), tuple(moved))


def qoperator_bytes(data: bytes) -> tuple[bytes, QOperatorReport]:
    """:func:`to_qoperator` on serialized ONNX bytes; the result passes the ONNX checker."""
    model = onnx.load_from_string(data)
    report = to_qoperator(model)
    onnx.checker.check_model(model)
    return model.SerializeToString(), report


__all__ = ["INTEGER_PASSTHROUGH", "QOperatorReport", "qoperator_bytes", "to_qoperator"]
