"""Weight-carrying ONNX patterns as real torch layers, so that structured pruning, quantization and fine-tuning see
them: Conv -> Conv1d/Conv2d, Gemm and MatMul(+Add) with a constant matrix -> Linear, BatchNormalization ->
BatchNorm1d/2d, LayerNormalization (and the ReduceMean/Sub/Pow/.../Add pattern older exporters write) -> LayerNorm,
Gather on a constant table -> Embedding, PRelu -> PReLU."""

from __future__ import annotations

from typing import Any

import numpy as np

from netslim.models.onnx_build import Builder, handles
from netslim.models.onnx_ops import reduce, spatial_pads

__all__: list[str] = []


@handles("Conv")
def _conv(b: Builder, node: Any) -> None:
    a, x = b.attrs(node), node.input[0]
    weight, bias = b.const(node, node.input[1]), b.optional(node, 2)
    dims = weight.ndim - 2
    if dims not in (1, 2):
        b.fail(node, f"a {dims}-D convolution; netslim converts 1-D and 2-D convolutions")
    kernel = list(weight.shape[2:])
    strides, dilations = list(a.get("strides", [1] * dims)), list(a.get("dilations", [1] * dims))
    pads = spatial_pads(b, node, x, kernel, strides, dilations)
    source = b.ref(x)
    if pads[:dims] != pads[dims:]:  # asymmetric: an explicit pad node, then an unpadded conv
        torch_pads: list[int] = []
        for d in reversed(range(dims)):
            torch_pads += [pads[d], pads[dims + d]]
        source = b.emit(node, "pad", [source], {"pads": torch_pads, "value": 0.0}, bind=False, suffix="pad")
        pads = [0] * 2 * dims
    groups = int(a.get("group", 1))
    spec = {
        "type": f"Conv{dims}d",
        "in_channels": weight.shape[1] * groups,
        "out_channels": weight.shape[0],
        "kernel_size": kernel,
        "stride": strides,
        "padding": pads[:dims],
        "dilation": dilations,
        "groups": groups,
        "padding_mode": "zeros",
        "bias": bias is not None,
    }
    weights = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    b.module(node, spec, weights, [source], node.output[0])


def _linear(b: Builder, node: Any, x: str, weight: np.ndarray, bias: np.ndarray | None, output: str) -> None:
    """A Linear layer computing ``x @ weight.T + bias`` (``weight`` is [out, in])."""
    spec = {"type": "Linear", "in_features": weight.shape[1], "out_features": weight.shape[0], "bias": bias is not None}
    weights = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    b.module(node, spec, weights, [b.ref(x)], output)


def _vector(value: np.ndarray | None, size: int) -> np.ndarray | None:
    """``value`` as a [size] vector when it broadcasts along the last axis only (a bias), else None."""
    if value is None or value.size not in (1, size) or any(d != 1 for d in value.shape[:-1]):
        return None
    return np.broadcast_to(value.reshape(-1), (size,)).astype(np.float32)


@handles("Gemm")
def _gemm(b: Builder, node: Any) -> None:
    a = b.attrs(node)
    x = node.input[0]
    if a.get("transA", 0) or b.is_static(x) or not b.is_static(node.input[1]):
        b.fail(node, "a Gemm needs transA=0, a data input A and a constant B to become a Linear layer")
    matrix = b.const(node, node.input[1]).astype(np.float32)
    weight = (matrix if a.get("transB", 0) else matrix.T) * np.float32(a.get("alpha", 1.0))
    c = b.optional(node, 2)
    bias = None
    if c is not None:
        bias = _vector(c, weight.shape[0])
        if bias is None:
            b.fail(node, f"a Gemm bias C of shape {list(c.shape)} (a per-sample bias); netslim converts [N] biases")
        bias = bias * np.float32(a.get("beta", 1.0))
    _linear(b, node, x, weight, bias, node.output[0])


@handles("MatMul")
def _matmul(b: Builder, node: Any) -> None:
    x, w = node.input[0], node.input[1]
    if b.is_static(x) or not b.is_static(w) or b.const(node, w).ndim != 2:
        b.emit(node, "matmul", [b.ref(x), b.ref(w)])
        return
    weight = b.const(node, w).astype(np.float32).T
    bias, output = None, node.output[0]
    add = b.sole_consumer(output)
    if add is not None and add.op_type == "Add":
        other = add.input[1] if add.input[0] == output else add.input[0]
        bias = _vector(b.const(add, other), weight.shape[0]) if b.is_static(other) else None
        if bias is not None and b.rank(add.output[0]) == b.rank(output):
            b.fold(add)
            output = add.output[0]
        else:
            bias = None
    _linear(b, node, x, weight, bias, output)


@handles("BatchNormalization")
def _batch_norm(b: Builder, node: Any) -> None:
    a, x = b.attrs(node), node.input[0]
    if a.get("training_mode", 0) or any(o for o in node.output[1:]):
        b.fail(node, "a training-mode BatchNormalization; export the model in eval mode")
    rank = b.rank(x)
    if rank not in (2, 3, 4):
        b.fail(node, f"batch normalization of a rank-{rank} tensor; netslim converts BatchNorm1d/2d")
    scale, shift, mean, var = (b.const(node, node.input[i]) for i in (1, 2, 3, 4))
    spec = {
        "type": "BatchNorm2d" if rank == 4 else "BatchNorm1d",
        "num_features": scale.size,
        "eps": float(a.get("epsilon", 1e-5)),
        "momentum": 0.1,
        "affine": True,
        "track_running_stats": True,
    }
    weights = {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var}
    b.module(node, spec, weights, [b.ref(x)], node.output[0])
    b.state[f"{b.refs[node.output[0]]}.num_batches_tracked"] = np.asarray(0, dtype=np.int64)


def _affine(value: np.ndarray | None, normalized: list[int]) -> np.ndarray | None:
    """A layer-norm weight/bias ``value`` as an array of the normalized shape; None when it broadcasts otherwise."""
    if value is None:
        return None

    def core(shape: tuple[int, ...] | list[int]) -> tuple[int, ...]:
        return tuple(shape[next((i for i, d in enumerate(shape) if d != 1), len(shape)) :])

    if value.size != 1 and core(value.shape) != core(normalized):
        return None
    return np.broadcast_to(value.reshape(core(value.shape) or (1,)), normalized).astype(np.float32)


def _layer_norm(b: Builder, node: Any, x: str, axis: int, eps: float, params: tuple[Any, Any], out: str) -> None:
    """A LayerNorm over the dims of ``x`` from ``axis`` with (weight, bias) ``params`` (None: ones / no bias)."""
    normalized = list(b.shape(x)[axis:])
    weight, bias = (_affine(value, normalized) for value in params)
    if (weight is None and params[0] is not None) or (bias is None and params[1] is not None):
        shapes = [None if p is None else list(p.shape) for p in params]
        b.fail(node, f"layer-norm parameters of shapes {shapes} for normalized shape {normalized}")
    spec = {"type": "LayerNorm", "normalized_shape": normalized, "eps": eps, "elementwise_affine": True}
    spec["bias"] = bias is not None
    weights = {"weight": np.ones(normalized, dtype=np.float32) if weight is None else weight}
    if bias is not None:
        weights["bias"] = bias
    b.module(node, spec, weights, [b.ref(x)], out, label="layernorm")


@handles("LayerNormalization")
def _layer_normalization(b: Builder, node: Any) -> None:
    a, x = b.attrs(node), node.input[0]
    if any(o for o in node.output[1:]):
        b.fail(node, "the mean / inverse std outputs of LayerNormalization")
    axis = int(a.get("axis", -1)) % b.rank(x)
    params = (b.const(node, node.input[1]), b.optional(node, 2))
    _layer_norm(b, node, x, axis, float(a.get("epsilon", 1e-5)), params, node.output[0])


@handles("ReduceMean")
def _reduce_mean(b: Builder, node: Any) -> None:
    if not _decomposed_layer_norm(b, node):
        reduce(b, node)


def _next(b: Builder, name: str, op_type: str) -> Any | None:
    """The sole reader of ``name`` when it is an ``op_type`` node."""
    node = b.sole_consumer(name)
    return node if node is not None and node.op_type == op_type else None


def _constant_operand(b: Builder, node: Any, data: str) -> np.ndarray | None:
    """The other operand of binary ``node`` (``data`` is one) when it is a constant."""
    other = node.input[1] if node.input[0] == data else node.input[0]
    entry = b.probe.static.get(other)
    return None if entry is None or entry.varies else entry.value


def _decomposed_layer_norm(b: Builder, mean: Any) -> bool:
    """Match ``(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) [* gamma] [+ beta]`` over trailing axes (what
    exporters before opset 17 write for a layer norm) and emit one LayerNorm; False when it does not match."""
    x = mean.input[0]
    axes = _reduce_axes(b, mean)
    rank = b.rank(x)
    if axes is None or axes != list(range(rank - len(axes), rank)):
        return False
    sub = _next(b, mean.output[0], "Sub")
    if sub is None or list(sub.input) != [x, mean.output[0]] or sub.output[0] in b.outputs:
        return False
    readers = b.consumers.get(sub.output[0], [])
    square = next((n for n in readers if n.op_type == "Pow"), None)
    if len(readers) != 2 or square is None:
        return False
    exponent = _constant_operand(b, square, sub.output[0])
    if exponent is None or exponent.size != 1 or float(exponent.reshape(-1)[0]) != 2.0:
        return False
    chain = [square]
    for op_type in ("ReduceMean", "Add", "Sqrt", "Div"):
        found = _next(b, chain[-1].output[0], op_type)
        if found is None:
            return False
        chain.append(found)
    var, add_eps, sqrt, div = chain[1:]
    eps = _constant_operand(b, add_eps, var.output[0])
    if _reduce_axes(b, var) != axes or list(div.input) != [sub.output[0], sqrt.output[0]] or eps is None:
        return False
    normalized = list(b.shape(x)[rank - len(axes) :])
    params: list[Any] = [None, None]
    out, tail = div.output[0], []
    for slot, op_type in ((0, "Mul"), (1, "Add")):
        found = _next(b, out, op_type)
        value = None if found is None else _constant_operand(b, found, out)
        if found is None or value is None or _affine(value, normalized) is None or b.rank(found.output[0]) != rank:
            break
        params[slot], out = value, found.output[0]
        tail.append(found)
    b.fold(sub, *chain, *tail)
    _layer_norm(b, mean, x, rank - len(axes), float(eps.reshape(-1)[0]), (params[0], params[1]), out)
    return True


def _reduce_axes(b: Builder, node: Any) -> list[int] | None:
    a = b.attrs(node)
    if not a.get("keepdims", 1):
        return None
    raw = a.get("axes")
    if raw is None and b.input(node, 1):
        raw = [int(v) for v in np.asarray(b.const(node, node.input[1])).reshape(-1)]
    if not raw:
        return None
    rank = b.rank(node.input[0])
    return sorted(int(d) % rank for d in raw)


@handles("Gather")
def _gather(b: Builder, node: Any) -> None:
    table, index = node.input[0], node.input[1]
    axis = int(b.attrs(node).get("axis", 0))
    if b.is_static(table) and not b.is_static(index):
        values = b.const(node, table)
        if values.ndim != 2 or axis != 0:
            b.fail(node, f"a Gather along axis {axis} of a constant of shape {list(values.shape)}")
        spec = {"type": "Embedding", "num_embeddings": values.shape[0], "embedding_dim": values.shape[1]}
        spec["padding_idx"] = None
        b.module(node, spec, {"weight": values}, [b.ref(index)], node.output[0])
        return
    if b.is_static(index):
        indices = np.asarray(b.const(node, index)).astype(np.int64)
        indices = np.where(indices < 0, indices + b.shape(table)[axis % b.rank(table)], indices)
        if indices.ndim == 0:
            b.emit(node, "gather", [b.ref(table)], {"dim": axis, "index": int(indices)})
        else:
            b.emit(node, "gather", [b.ref(table), b.constant(index, indices)], {"dim": axis})
        return
    b.emit(node, "gather", [b.ref(table), b.ref(index)], {"dim": axis})


@handles("PRelu")
def _prelu(b: Builder, node: Any) -> None:
    x = node.input[0]
    slope = b.const(node, node.input[1])
    shape = b.shape(x)
    trimmed = slope.shape[next((i for i, d in enumerate(slope.shape) if d != 1), slope.ndim) :]
    per_channel = len(shape) >= 2 and tuple(trimmed) == (shape[1],) + (1,) * (len(shape) - 2)
    if slope.size != 1 and not per_channel:
        b.fail(node, f"a PRelu slope of shape {list(slope.shape)} that is not per channel (axis 1)")
    spec = {"type": "PReLU", "num_parameters": int(slope.size)}
    b.module(node, spec, {"weight": slope.reshape(-1)}, [b.ref(x)], node.output[0])
