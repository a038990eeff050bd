"""Parameter-free ONNX ops as GraphNet ``OPS`` nodes: activations, arithmetic, shape ops, pooling, reductions.

Shapes come from the probe runs (:mod:`netslim.models.onnx_probe`), so a reshape whose target was computed from
``Shape`` at run time becomes a fixed ``reshape`` with ``0`` (copy the batch) / ``-1`` (inferred) entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from netslim.models.onnx_build import Builder, handles

__all__ = ["reduce", "reshape_to"]

_UNARY = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Erf": "erf",
    "Sqrt": "sqrt",
    "Exp": "exp",
    "Log": "log",
    "Neg": "neg",
    "Abs": "abs",
    "Reciprocal": "reciprocal",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "HardSwish": "hardswish",
}
_CAST = {1: "float32", 10: "float32", 11: "float32", 16: "float32", 7: "int64", 6: "int32", 9: "bool"}
_LOWEST = -3.4028234663852886e38  # float32's lowest value: max-pool padding


@handles(*_UNARY)
def _unary(b: Builder, node: Any) -> None:
    b.emit(node, _UNARY[node.op_type], [b.ref(node.input[0])])


@handles("Identity", "Dropout")
def _identity(b: Builder, node: Any) -> None:
    if len(node.output) > 1 and node.output[1] and b.consumers.get(node.output[1]):
        b.fail(node, "the dropout mask output is used; netslim converts inference graphs")
    b.alias(node.output[0], b.ref(node.input[0]))


# ONNX op -> (graph function, its attrs from the ONNX attributes with ONNX's defaults)
_ATTRIBUTED: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "LeakyRelu": ("leaky_relu", lambda a: {"negative_slope": a.get("alpha", 0.01)}),
    "Elu": ("elu", lambda a: {"alpha": a.get("alpha", 1.0)}),
    "Selu": (
        "selu",
        lambda a: {"alpha": a.get("alpha", 1.6732632423543772), "gamma": a.get("gamma", 1.0507009873554805)},
    ),
    "Gelu": ("gelu", lambda a: {"approximate": a.get("approximate", "none")}),
}


@handles(*_ATTRIBUTED)
def _attributed(b: Builder, node: Any) -> None:
    op, attrs = _ATTRIBUTED[node.op_type]
    b.emit(node, op, [b.ref(node.input[0])], attrs(b.attrs(node)))


@handles("HardSigmoid")
def _hard_sigmoid(b: Builder, node: Any) -> None:
    a, x = b.attrs(node), b.ref(node.input[0])
    alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
    if math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5:  # torch's hardsigmoid
        b.emit(node, "hardsigmoid", [x])
        return
    scaled = b.emit(node, "scale", [x], {"factor": alpha, "offset": beta}, bind=False, suffix="scale")
    b.emit(node, "clip", [scaled], {"min": 0.0, "max": 1.0})


@handles("Cast")
def _cast(b: Builder, node: Any) -> None:
    to = b.attrs(node)["to"]
    if to not in _CAST:
        b.fail(node, f"a cast to ONNX type {to}; netslim converts casts to float, int64, int32 and bool")
    b.emit(node, "cast", [b.ref(node.input[0])], {"dtype": _CAST[to]})


@handles("Softmax", "LogSoftmax")
def _softmax(b: Builder, node: Any) -> None:
    x, rank = node.input[0], b.rank(node.input[0])
    axis = b.attrs(node).get("axis", -1 if b.opset >= 13 else 1) % rank
    if b.opset < 13 and axis != rank - 1:  # before opset 13 the axis flattened every trailing dim
        b.fail(node, f"a softmax over the flattened dims from axis {axis} (opset {b.opset}); re-export at opset 13+")
    b.emit(node, "softmax" if node.op_type == "Softmax" else "log_softmax", [b.ref(x)], {"dim": axis})


def _scalar(b: Builder, node: Any, name: str, data: str) -> float | None:
    """The value of static operand ``name`` when it is one number that broadcasting does not add rank to."""
    if not b.is_static(name) or b.is_static(data) or not b.is_float(data):
        return None
    value = b.const(node, name)
    return float(value.reshape(-1)[0]) if value.size == 1 and value.ndim <= b.rank(data) else None


@handles("Add", "Sub", "Mul", "Div", "Pow")
def _binary(b: Builder, node: Any) -> None:
    left, right = node.input[0], node.input[1]
    kind = node.op_type
    on_right, on_left = _scalar(b, node, right, left), _scalar(b, node, left, right)
    if kind == "Pow" and on_right is not None:
        b.emit(node, "pow", [b.ref(left)], {"exponent": on_right})
    elif kind == "Add" and (on_right is not None or on_left is not None):
        data, offset = (left, on_right) if on_right is not None else (right, on_left)
        b.emit(node, "scale", [b.ref(data)], {"factor": 1.0, "offset": offset})
    elif kind == "Mul" and (on_right is not None or on_left is not None):
        data, factor = (left, on_right) if on_right is not None else (right, on_left)
        b.emit(node, "scale", [b.ref(data)], {"factor": factor})
    elif kind == "Sub" and on_right is not None:
        b.emit(node, "scale", [b.ref(left)], {"factor": 1.0, "offset": -on_right})
    elif kind == "Sub" and on_left is not None:
        b.emit(node, "scale", [b.ref(right)], {"factor": -1.0, "offset": on_left})
    else:
        b.emit(node, kind.lower(), [b.ref(left), b.ref(right)])


@handles("Sum", "Mean", "Max", "Min")
def _variadic(b: Builder, node: Any) -> None:
    refs = [b.ref(i) for i in node.input]
    if node.op_type in ("Sum", "Mean"):
        b.emit(node, "add" if node.op_type == "Sum" else "average", refs)
        return
    op = "maximum" if node.op_type == "Max" else "minimum"
    out = refs[0]
    for i, ref in enumerate(refs[1:], start=2):
        out = b.emit(node, op, [out, ref], bind=i == len(refs))
    b.alias(node.output[0], out)


@handles("Clip")
def _clip(b: Builder, node: Any) -> None:
    a = b.attrs(node)
    low, high = (b.optional(node, 1), b.optional(node, 2)) if b.opset >= 11 else (a.get("min"), a.get("max"))
    bounds = {
        key: float(np.asarray(v).reshape(-1)[0])
        for key, v in (("min", low), ("max", high))
        if v is not None and math.isfinite(float(np.asarray(v).reshape(-1)[0]))
    }
    if not bounds:
        b.alias(node.output[0], b.ref(node.input[0]))
        return
    b.emit(node, "clip", [b.ref(node.input[0])], bounds)


def reshape_to(b: Builder, node: Any, source: str, target: str) -> None:
    """``source`` reshaped to the shapes ``target`` has in the probe runs: ``flatten`` where it is one, otherwise a
    ``reshape`` whose batch-dependent entries are ``0`` (copied from the same position) or ``-1``."""
    ins, outs = b.shapes(source), b.shapes(target)
    x = b.ref(source)
    if ins == outs:
        b.alias(target, x)
        return
    rank = len(ins[0])
    for k in range(1, rank):
        if all(o == (*i[:k], math.prod(i[k:])) for i, o in zip(ins, outs, strict=True)):
            b.emit(node, "flatten", [x], {"start_dim": k})
            return
    shape = []
    for pos, sizes in enumerate(zip(*outs, strict=True)):
        if len(set(sizes)) == 1:
            shape.append(sizes[0])
        elif pos < rank and all(i[pos] == s for i, s in zip(ins, sizes, strict=True)):
            shape.append(0)
        else:
            shape.append(-1)
    if shape.count(-1) > 1:
        b.fail(node, f"its output shapes {list(outs)} depend on the batch size in more than one dimension")
    b.emit(node, "reshape", [x], {"shape": shape})


@handles("Reshape", "Flatten")
def _reshape(b: Builder, node: Any) -> None:
    reshape_to(b, node, node.input[0], node.output[0])


@handles("Transpose")
def _transpose(b: Builder, node: Any) -> None:
    perm = b.attrs(node).get("perm") or list(reversed(range(b.rank(node.input[0]))))
    b.emit(node, "permute", [b.ref(node.input[0])], {"dims": list(perm)})


@handles("Concat")
def _concat(b: Builder, node: Any) -> None:
    b.emit(node, "concat", [b.ref(i) for i in node.input], {"dim": b.attrs(node)["axis"]})


def _axes(b: Builder, node: Any, index: int) -> list[int] | None:
    """Axes from the ``axes`` attribute (older opsets) or the static input ``index``; None when absent."""
    a = b.attrs(node)
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    value = b.optional(node, index)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


@handles("Squeeze", "Unsqueeze")
def _squeeze(b: Builder, node: Any) -> None:
    x = node.input[0]
    axes = _axes(b, node, 1)
    if node.op_type == "Unsqueeze":
        rank = b.rank(node.output[0])
        b.emit(node, "unsqueeze", [b.ref(x)], {"dims": sorted(int(d) % rank for d in axes or [])})
        return
    rank = b.rank(x)
    if axes is None:  # every size-1 axis (in every probe run, so never the batch)
        axes = [d for d in range(rank) if all(s[d] == 1 for s in b.shapes(x))]
    if not axes:
        b.alias(node.output[0], b.ref(x))
        return
    b.emit(node, "squeeze", [b.ref(x)], {"dims": sorted(d % rank for d in axes)})


@handles("Slice")
def _slice(b: Builder, node: Any) -> None:
    x = node.input[0]
    shapes = b.shapes(x)
    runs = len(shapes)
    a = b.attrs(node)
    if b.opset < 10:
        starts, ends = [np.asarray(a["starts"])] * runs, [np.asarray(a["ends"])] * runs
        axes = np.asarray(a.get("axes", range(len(a["starts"]))))
        steps = [np.ones(len(a["starts"]), dtype=np.int64)] * runs
    else:
        starts, ends = _runs(b, node, 1, runs), _runs(b, node, 2, runs)
        given = b.optional(node, 3)
        axes = np.arange(starts[0].size) if given is None else given
        steps = _runs(b, node, 4, runs) if b.input(node, 4) else [np.ones(starts[0].size, dtype=np.int64)] * runs
    out = b.ref(x)
    for j, axis in enumerate(np.asarray(axes).reshape(-1)):
        dim = int(axis) % len(shapes[0])
        spans = [
            slice(int(st[j]), int(en[j]), int(sp[j])).indices(shape[dim])
            for st, en, sp, shape in zip(starts, ends, steps, shapes, strict=True)
        ]
        if all(span == (0, shape[dim], 1) for span, shape in zip(spans, shapes, strict=True)):
            continue
        if len(set(spans)) > 1 or spans[0][2] < 1:
            b.fail(node, f"a slice of axis {dim} that depends on the batch size or steps backwards: {spans}")
        start, stop, step = spans[0]
        attrs = {"dim": dim, "start": start, "end": stop, "step": step}
        out = b.emit(node, "slice", [out], attrs, bind=False)
    b.alias(node.output[0], out)


def _runs(b: Builder, node: Any, index: int, runs: int) -> list[np.ndarray]:
    """Static input ``index`` as a flat int array per probe run (it may depend on the batch)."""
    entry = b.probe.static.get(b.input(node, index))
    if entry is None:
        b.fail(node, f"input {b.input(node, index)!r} must be computed from constants and shapes")
    values = [np.asarray(v).reshape(-1) for v in entry.values]
    return values if len(values) == runs else values[:1] * runs


@handles("Split")
def _split(b: Builder, node: Any) -> None:
    x = node.input[0]
    a = b.attrs(node)
    dim = a.get("axis", 0) % b.rank(x)
    size = b.shape(x)[dim]
    if len({s[dim] for s in b.shapes(x)}) > 1:
        b.fail(node, "a split of the batch axis")
    sizes = a.get("split") or (list(b.const(node, node.input[1])) if b.input(node, 1) else None)
    if sizes is None:
        parts = len(node.output)
        chunk = -(-size // parts)
        sizes = [min(chunk, size - i * chunk) for i in range(parts)]
    start = 0
    for out, length in zip(node.output, sizes, strict=True):
        name = b.emit(node, "slice", [b.ref(x)], {"dim": dim, "start": start, "end": start + int(length)}, bind=False)
        b.alias(out, name)
        start += int(length)


@handles("Expand")
def _expand(b: Builder, node: Any) -> None:
    x, out = node.input[0], node.output[0]
    ins, outs = b.shapes(x) if not b.is_static(x) else None, b.shapes(out)
    offset = len(outs[0]) - (len(ins[0]) if ins else 0)
    shape = []
    for pos, sizes in enumerate(zip(*outs, strict=True)):
        source = pos - offset
        if ins is not None and source >= 0 and all(i[source] == s for i, s in zip(ins, sizes, strict=True)):
            shape.append(-1)
        elif len(set(sizes)) == 1:
            shape.append(sizes[0])
        else:
            b.fail(node, "an expand to the batch size of another tensor")
    if ins is not None and offset == 0 and all(s == -1 for s in shape):
        b.alias(out, b.ref(x))
        return
    b.emit(node, "expand", [b.ref(x)], {"shape": shape})


@handles("Pad")
def _pad(b: Builder, node: Any) -> None:
    a, x = b.attrs(node), node.input[0]
    if a.get("mode", "constant") != "constant":
        b.fail(node, f"pad mode {a['mode']!r}; netslim converts constant padding")
    rank = b.rank(x)
    pads = a["pads"] if b.opset < 11 else [int(v) for v in b.const(node, node.input[1])]
    value = a.get("value", 0.0) if b.opset < 11 else b.optional(node, 2)
    axes = _axes(b, node, 3) if b.opset >= 18 else None
    axes = [d % rank for d in axes] if axes else list(range(rank))
    begin, end = dict(zip(axes, pads[: len(axes)], strict=True)), dict(zip(axes, pads[len(axes) :], strict=True))
    torch_pads: list[int] = []
    for dim in reversed(range(min(axes), rank)):
        torch_pads += [int(begin.get(dim, 0)), int(end.get(dim, 0))]
    fill = 0.0 if value is None else float(np.asarray(value).reshape(-1)[0])
    b.emit(node, "pad", [b.ref(x)], {"pads": torch_pads, "value": fill})


def spatial_pads(
    b: Builder, node: Any, x: str, kernel: list[int], strides: list[int], dilations: list[int]
) -> list[int]:
    """ONNX ``pads`` (all begins, then all ends) of a conv/pool, ``auto_pad`` resolved on the input's shape."""
    a = b.attrs(node)
    auto = a.get("auto_pad", "NOTSET")
    dims = len(kernel)
    if auto in ("NOTSET", "VALID"):
        return list(a.get("pads", [0] * 2 * dims)) if auto == "NOTSET" else [0] * 2 * dims
    sizes = b.shape(x)[-dims:]
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begins.append(small if auto == "SAME_UPPER" else total - small)
        ends.append(total - begins[-1])
    return begins + ends


@handles("MaxPool", "AveragePool")
def _pool(b: Builder, node: Any) -> None:
    a, x = b.attrs(node), node.input[0]
    if b.rank(x) != 4:
        b.fail(node, f"{b.rank(x) - 2}-D pooling; netslim converts 2-D pooling (NCHW)")
    if len(node.output) > 1 and node.output[1]:
        b.fail(node, "the pooling indices output")
    kernel = list(a["kernel_shape"])
    strides, dilations = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
    if dilations != [1, 1]:
        b.fail(node, f"dilated pooling {dilations}")
    pads = spatial_pads(b, node, x, kernel, strides, dilations)
    is_max, include = node.op_type == "MaxPool", bool(a.get("count_include_pad", 0))
    source = b.ref(x)
    if pads[:2] != pads[2:] or any(p > k // 2 for p, k in zip(pads, kernel * 2, strict=True)):
        if not (is_max or include):
            b.fail(node, f"asymmetric pads {pads} with count_include_pad=0")
        torch_pads = [pads[1], pads[3], pads[0], pads[2]]
        fill = _LOWEST if is_max else 0.0
        source = b.emit(node, "pad", [source], {"pads": torch_pads, "value": fill}, bind=False, suffix="pad")
        pads = [0, 0, 0, 0]
    attrs = {"kernel_size": kernel, "stride": strides, "padding": pads[:2], "ceil_mode": bool(a.get("ceil_mode", 0))}
    if not is_max:
        attrs["count_include_pad"] = include
    b.emit(node, "max_pool2d" if is_max else "avg_pool2d", [source], attrs)


@handles("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(b: Builder, node: Any) -> None:
    x = node.input[0]
    mean = node.op_type == "GlobalAveragePool"
    if b.rank(x) == 4:
        b.emit(node, "global_avg_pool" if mean else "global_max_pool", [b.ref(x)], {"keepdim": True})
    else:
        dims = list(range(2, b.rank(x)))
        b.emit(node, "mean" if mean else "amax", [b.ref(x)], {"dims": dims, "keepdim": True})


@handles("ReduceSum", "ReduceMax")
def reduce(b: Builder, node: Any) -> None:
    """ReduceMean / ReduceSum / ReduceMax: axes as attribute or input, ``keepdims``, ``noop_with_empty_axes``."""
    a, x = b.attrs(node), node.input[0]
    axes = _axes(b, node, 1)
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            b.alias(node.output[0], b.ref(x))
            return
        axes = list(range(b.rank(x)))
    op = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "amax"}[node.op_type]
    dims = sorted(d % b.rank(x) for d in axes)
    b.emit(node, op, [b.ref(x)], {"dims": dims, "keepdim": bool(a.get("keepdims", 1))})
