"""ONNX in: a classifier or encoder ``.onnx`` becomes a trainable :class:`~netslim.models.graphnet.GraphNet`.

Weight-carrying patterns become real layers (Conv -> Conv1d/Conv2d, Gemm / MatMul(+Add) -> Linear, BatchNormalization
-> BatchNorm, LayerNormalization or its decomposed form -> LayerNorm, Gather on a table -> Embedding), so every
netslim technique (structured pruning, quantization, fine-tuning, export) applies; parameter-free ops become graph
functions; whatever depends only on initializers, constants and shapes is evaluated once and folded. The batch is
the first axis of every graph input: a graph exported with a dynamic batch, or with a fixed one (``[1, -1]``
reshapes become flattens), converts to a model that runs at any batch. The conversion is checked against ONNX
Runtime on random inputs (:func:`check_parity`), so a wrong conversion never goes unnoticed.

Example:
    >>> import tempfile, torch
    >>> from netslim.export import export_onnx
    >>> from netslim.models import build_model
    >>> path = tempfile.mkdtemp() + "/mlp.onnx"
    >>> _ = export_onnx(build_model("seed_mlp", (1, 8, 8)), torch.rand(2, 1, 8, 8), path)
    >>> model = from_onnx(path)
    >>> [name for name, _ in model.named_children()]
    ['fc1', 'fc2']
    >>> model(torch.rand(5, 1, 8, 8)).shape
    torch.Size([5, 10])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from netslim.errors import ConfigError, ExportParityError, ModelLoadError, UnsupportedLayerError
from netslim.models.graphnet import GraphNet
from netslim.models.onnx_probe import PROBE_BATCHES, Partition, partition, probe, session

if TYPE_CHECKING:
    from netslim.export.parity import ParityReport

__all__ = ["DEFAULT_DIM", "check_parity", "from_onnx", "load_onnx"]

# a symbolic input axis other than the batch (a sequence length) takes this size unless ``input_shapes`` says
DEFAULT_DIM = 16
_DTYPES = {1: "float32", 7: "int64", 6: "int32", 9: "bool"}
_CHECK_BATCH = 4  # differs from the probe batches: the check also proves the model runs at another batch


@dataclasses.dataclass(frozen=True)
class _Input:
    name: str
    shape: tuple[int, ...]  # without the batch
    dtype: str
    batch: int | None  # the fixed batch the graph was exported with, None when symbolic


def from_onnx(source: Any, *, input_shapes: Mapping[str, Sequence[int]] | None = None, check: bool = True) -> GraphNet:
    """Convert an ``onnx.ModelProto`` or a ``.onnx`` path into a GraphNet (in eval mode, parameters trainable).

    ``input_shapes``: the shape without batch of inputs with symbolic axes besides the batch (default: each such
    axis :data:`DEFAULT_DIM`). ``check``: compare with ONNX Runtime on random inputs of each input's dtype (token
    ids below the embedding table's size) and raise ExportParityError beyond tolerance. A file that is not ONNX is
    a ModelLoadError; an op netslim cannot convert is one UnsupportedLayerError naming the node, raised before any
    work.
    """
    import onnx

    from netslim.models import onnx_layers, onnx_ops  # noqa: F401 - registers the op converters
    from netslim.models.onnx_build import HANDLERS, Builder

    model, where = load_onnx(source)
    inputs = _inputs(model, where, input_shapes or {})
    part = partition(model.graph)
    _require_supported(part, where, HANDLERS)
    fixed = sorted({i.batch for i in inputs if i.batch is not None})
    runnable = model
    if len(fixed) > 1:
        raise ModelLoadError(f"{where}: the inputs are exported with different fixed batches {fixed}")
    if fixed:  # probe at the fixed batch for the shapes, then give the graph a symbolic one
        first = probe(model, part, [_feeds(inputs, fixed[0])], where)
        runnable = _unfix_batch(model, fixed[0], first.shapes)
        part = partition(runnable.graph)
    try:
        found = probe(runnable, part, [_feeds(inputs, n) for n in PROBE_BATCHES], where)
    except ModelLoadError as exc:
        if not fixed:
            raise
        raise ModelLoadError(
            f"{exc} - the graph was exported with a fixed batch of {fixed[0]} that its ops depend on; export it with "
            "a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}}))"
        ) from exc
    builder = Builder(runnable.graph, found, _dtypes(runnable), _opset(model), where)
    builder.batch_source = inputs[0].name
    for entry in inputs:
        builder.refs[entry.name] = entry.name
        builder.used.add(entry.name)
    for node in part.data_nodes:
        if node.output[0] not in builder.done:
            HANDLERS[node.op_type](builder, node)
    spec = {
        "inputs": [_input_entry(entry) for entry in inputs],
        "nodes": builder.nodes,
        "outputs": [builder.ref(o.name) for o in runnable.graph.output],
        "source": {
            "format": "onnx",
            "file": where if not isinstance(source, onnx.ModelProto) else None,
            "opset": _opset(model),
        },
    }
    net = GraphNet(spec)
    _load_weights(net, builder.state, where)
    net.eval()
    if check:
        check_parity(net, model, _random_inputs(net, inputs))
    return net


def load_onnx(source: Any) -> tuple[Any, str]:
    """The checked ``onnx.ModelProto`` of ``source`` (a ModelProto or a path) and the name to report it by."""
    import onnx

    if isinstance(source, onnx.ModelProto):
        model, where = source, f"ONNX model {source.graph.name or '(unnamed)'!r}"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such ONNX file")
        try:
            model = onnx.load(str(path))
        except Exception as exc:  # protobuf's DecodeError and friends: the bytes are not an ONNX model
            raise ModelLoadError(
                f"{path}: not an ONNX model, the file does not parse as one ({type(exc).__name__}: {exc}); "
                "give a .onnx file written by an ONNX exporter"
            ) from exc
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError, or a C++ checker error on a mangled graph
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"{where}: not a valid ONNX model ({first}); the file may be corrupt or truncated"
        ) from exc
    if not model.graph.node or not model.graph.output:
        raise ModelLoadError(f"{where}: the ONNX graph has no nodes or no outputs")
    return model, where


def check_parity(model: torch.nn.Module, source: Any, example: Any, *, atol: float | None = None) -> ParityReport:
    """Run the original ONNX graph (``source``: a path or ModelProto) on ONNX Runtime and ``model`` on ``example``
    (a tensor, or a tuple with one tensor per graph input); ExportParityError beyond ``atol`` (default 1e-4 times
    the largest output magnitude, at least 1e-4). A graph with a fixed batch is run chunk by chunk."""
    from netslim.export.parity import compare_outputs

    onnx_model, where = load_onnx(source)
    examples = tuple(example) if isinstance(example, tuple | list) else (example,)
    runner = session(onnx_model.SerializeToString())
    inputs = runner.get_inputs()
    if len(inputs) != len(examples):
        raise ConfigError(f"{where}: takes {len(inputs)} input(s) {[i.name for i in inputs]}, got {len(examples)}")
    arrays = [e.detach().cpu().numpy() for e in examples]
    batch = arrays[0].shape[0]
    fixed = inputs[0].shape[0] if inputs[0].shape and isinstance(inputs[0].shape[0], int) else None
    chunk = fixed or batch
    if batch % chunk:
        raise ConfigError(f"{where}: the example batch {batch} is not a multiple of the graph's fixed batch {fixed}")
    parts = [
        runner.run(None, {i.name: a[s : s + chunk] for i, a in zip(inputs, arrays, strict=True)})
        for s in range(0, batch, chunk)
    ]
    reference = [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(parts[0]))]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(*examples)
    finally:
        model.train(was_training)
    got = [o.detach().cpu().numpy() for o in (out if isinstance(out, tuple | list) else (out,))]
    scale = max([1.0, *(float(np.abs(r.astype(np.float64)).max(initial=0.0)) for r in reference)])
    names = [o.name for o in runner.get_outputs()]
    if len(got) != len(reference):
        raise ExportParityError(f"{where}: the model returns {len(got)} output(s), the graph {len(reference)}")
    report = compare_outputs(reference, got, names, atol if atol is not None else 1e-4 * scale)
    if not report.ok:
        raise ExportParityError(
            f"{where}: the converted model's output {report.worst_output!r} differs from ONNX Runtime by "
            f"{report.max_abs_diff:.3g} (tolerance {report.atol:.3g}, {report.nonfinite} NaN/Inf values, top-1 "
            f"agreement {report.argmax_agreement:.2%}); the conversion is wrong for this graph - please report it "
            "with the file"
        )
    return report


def _require_supported(part: Partition, where: str, handlers: Mapping[str, Any]) -> None:
    bad = [n for n in part.data_nodes if n.op_type not in handlers or n.domain not in ("", "ai.onnx")]
    if not bad:
        return
    first = bad[0]
    others = sorted({n.op_type for n in bad[1:]} - {first.op_type})
    more = f" (and {len(bad) - 1} more node(s){': ' + ', '.join(others) if others else ''})" if len(bad) > 1 else ""
    domain = f" in domain {first.domain!r}" if first.domain not in ("", "ai.onnx") else ""
    raise UnsupportedLayerError(
        f"{where}: node {first.name or first.output[0]!r} has op {first.op_type!r}{domain}, which netslim cannot "
        f"convert{more}. Supported ops: {', '.join(sorted(handlers))}; anything computed only from constants and "
        "shapes is folded. Re-export the model without it (or at another opset)."
    )


def _opset(model: Any) -> int:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _inputs(model: Any, where: str, given: Mapping[str, Sequence[int]]) -> list[_Input]:
    initializers = {init.name for init in model.graph.initializer}
    out = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dtype = _DTYPES.get(tensor.elem_type)
        if dtype is None:
            raise UnsupportedLayerError(
                f"{where}: input {value.name!r} has ONNX element type {tensor.elem_type}; netslim converts float32, "
                "int64, int32 and bool inputs"
            )
        dims = list(tensor.shape.dim) if tensor.HasField("shape") else []
        if not dims:
            raise ModelLoadError(f"{where}: input {value.name!r} states no shape with a batch axis")
        batch = dims[0].dim_value if dims[0].HasField("dim_value") and dims[0].dim_value > 0 else None
        stated = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims[1:]]
        shape = [int(s) for s in given.get(value.name, [s or DEFAULT_DIM for s in stated])]
        if len(shape) != len(stated) or any(s is not None and s != g for s, g in zip(stated, shape, strict=True)):
            raise ConfigError(
                f"input_shapes[{value.name!r}] = {shape} does not fit the graph's input shape {stated} (without the "
                "batch; None is free)"
            )
        out.append(_Input(value.name, tuple(shape), dtype, batch))
    unknown = sorted(set(given) - {i.name for i in out})
    if unknown:
        raise ConfigError(f"input_shapes names {unknown}, which are not inputs of {where}: {[i.name for i in out]}")
    return out


def _input_entry(entry: _Input) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.name, "shape": list(entry.shape), "dtype": entry.dtype}
    if entry.dtype.startswith("int") and len(entry.shape) == 1:
        out["layout"] = "tokens"
    elif entry.dtype == "float32" and len(entry.shape) == 3:
        out["layout"] = "NCHW"
    return out


def _feeds(inputs: Sequence[_Input], batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Probe inputs: normal floats, zero ids (always a valid index)."""
    rng = np.random.default_rng(seed)
    return {
        i.name: rng.standard_normal((batch, *i.shape)).astype(np.float32)
        if i.dtype == "float32"
        else np.zeros((batch, *i.shape), dtype=np.dtype(i.dtype))
        for i in inputs
    }


def _random_inputs(net: GraphNet, inputs: Sequence[_Input]) -> tuple[torch.Tensor, ...]:
    """Parity inputs: normal floats, ids below the size of every embedding table the input reaches."""
    generator = torch.Generator().manual_seed(0)
    batch = 2 * (inputs[0].batch or _CHECK_BATCH // 2)
    out = []
    for entry in inputs:
        size = (batch, *entry.shape)
        if entry.dtype == "float32":
            out.append(torch.randn(size, generator=generator))
        elif entry.dtype == "bool":
            out.append(torch.randint(0, 2, size, generator=generator).bool())
        else:
            high = _id_bound(net.spec, entry.name)
            out.append(torch.randint(0, high, size, generator=generator).to(getattr(torch, entry.dtype)))
    return tuple(out)


def _id_bound(spec: Mapping[str, Any], name: str) -> int:
    """The smallest embedding table that input ``name`` indexes (through single-input ops), or 2."""
    nodes = {n["name"]: n for n in spec["nodes"]}
    bounds = []
    for node in spec["nodes"]:
        if node["op"] != "module" or node["module"]["type"] != "Embedding":
            continue
        ref = node["inputs"][0]
        while ref in nodes and nodes[ref]["op"] not in ("module", "constant") and len(nodes[ref]["inputs"]) == 1:
            ref = nodes[ref]["inputs"][0]
        if ref == name:
            bounds.append(int(node["module"]["num_embeddings"]))
    return min(bounds) if bounds else 2


def _dtypes(model: Any) -> dict[str, int]:
    """ONNX element type of every tensor shape inference can type."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - used for dtypes only: without inference every tensor counts as float
        inferred = model
    graph = inferred.graph
    values = [*graph.input, *graph.value_info, *graph.output]
    return {v.name: v.type.tensor_type.elem_type for v in values if v.type.HasField("tensor_type")}


def _unfix_batch(model: Any, batch: int, shapes: Mapping[str, tuple[tuple[int, ...], ...]]) -> Any:
    """A copy of ``model`` whose inputs and outputs have a symbolic batch and whose constant Reshape targets that
    start with the fixed batch copy it instead (``[1, -1]`` -> ``[0, -1]``)."""
    import onnx
    from onnx import numpy_helper

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    del graph.value_info[:]
    initializers = {init.name: init for init in graph.initializer}
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.name not in initializers and dims and dims[0].dim_value == batch:
            dims[0].dim_param = "batch"
    constants = {name: numpy_helper.to_array(init) for name, init in initializers.items()}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    for k, node in enumerate(graph.node):
        if node.op_type != "Reshape" or any(a.name == "allowzero" and a.i for a in node.attribute):
            continue
        target, data = constants.get(node.input[1]), shapes.get(node.input[0])
        if target is None or target.ndim != 1 or not target.size or target[0] != batch or not data or not data[0]:
            continue
        if data[0][0] == batch:
            fixed = target.copy()
            fixed[0] = 0
            name = f"{node.input[1]}__any_batch_{k}"
            graph.initializer.append(numpy_helper.from_array(fixed, name))
            node.input[1] = name
    return copy


def _load_weights(net: GraphNet, weights: Mapping[str, np.ndarray], where: str) -> None:
    state = net.state_dict()
    for key, value in weights.items():
        if key not in state or tuple(state[key].shape) != tuple(value.shape):
            found = tuple(state[key].shape) if key in state else "nothing"
            raise ModelLoadError(f"{where}: converted weight {key!r} has shape {value.shape}, the layer {found}")
        state[key] = torch.from_numpy(np.array(value)).to(state[key].dtype)
    net.load_state_dict(state)
