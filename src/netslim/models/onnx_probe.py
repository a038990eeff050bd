"""What the ONNX converter knows before it converts: which tensors are static (initializers, constants, shape
arithmetic: computable without the inputs' values), their values, and the shape of every other tensor.

Everything is measured by ONNX Runtime on the graph itself, at two batch sizes (:data:`PROBE_BATCHES`): a static
value or a shape that differs between the two runs depends on the batch, which is how a ``Shape -> Gather -> Concat
-> Reshape`` chain becomes a ``reshape`` with ONNX's ``0`` / ``-1`` entries instead of a constant pinned to one batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from netslim.errors import ModelLoadError

__all__ = ["PROBE_BATCHES", "Partition", "Probe", "Static", "partition", "probe", "session"]

PROBE_BATCHES = (2, 3)
_SHAPE_PREFIX = "__netslim_shape__/"
# ops whose output never depends on the values of their inputs, only on shapes
_SHAPE_OPS = ("Shape", "Size")


@dataclasses.dataclass(frozen=True)
class Static:
    """A tensor known at conversion time: its value in each probe run (all equal unless it depends on the batch)."""

    values: tuple[np.ndarray, ...]

    @property
    def varies(self) -> bool:
        first = self.values[0]
        return any(v.shape != first.shape or not np.array_equal(v, first) for v in self.values[1:])

    @property
    def value(self) -> np.ndarray:
        return self.values[0]


@dataclasses.dataclass(frozen=True)
class Partition:
    """``static``: tensors computable without the graph inputs' values; ``data_nodes``: the nodes to convert (at
    least one input carries data); ``needed``: static tensors that a data node or a graph output reads."""

    static: frozenset[str]
    data: frozenset[str]
    data_nodes: tuple[Any, ...]
    needed: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Probe:
    """``static``: the value of every needed static tensor; ``shapes``: each data tensor's shape per probe run."""

    static: dict[str, Static]
    shapes: dict[str, tuple[tuple[int, ...], ...]]


def partition(graph: Any) -> Partition:
    """Split ``graph``'s tensors into static and data (see :class:`Partition`)."""
    initializers = {init.name for init in graph.initializer}
    static = set(initializers)
    data = {i.name for i in graph.input if i.name not in initializers}
    nodes = []
    for node in graph.node:
        subgraph = any(a.type in (5, 10) for a in node.attribute)  # GRAPH / GRAPHS: may read data from outside
        inputs = [i for i in node.input if i]
        if not subgraph and (node.op_type in _SHAPE_OPS or all(i in static for i in inputs)):
            static.update(o for o in node.output if o)
        else:
            data.update(o for o in node.output if o)
            nodes.append(node)
    needed: dict[str, None] = {}
    for node in nodes:
        needed.update((i, None) for i in node.input if i in static)
    needed.update((o.name, None) for o in graph.output if o.name in static)
    return Partition(frozenset(static), frozenset(data), tuple(nodes), tuple(needed))


def probe(model: Any, part: Partition, feeds: Sequence[Mapping[str, np.ndarray]], source: str) -> Probe:
    """Run ``model`` once per feed with every needed static tensor and the shape of every data tensor as extra
    outputs; initializers are read from the graph."""
    import onnx

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    probed = onnx.ModelProto()
    probed.CopyFrom(model)
    extra = probed.graph
    present = {o.name for o in extra.output}
    wanted = [n for n in part.needed if n not in inits]
    for name in wanted:
        if name not in present:
            extra.output.append(onnx.ValueInfoProto(name=name))
    shape_of = {}
    for i, name in enumerate(sorted(part.data)):
        out = f"{_SHAPE_PREFIX}{i}"
        shape_of[name] = out
        extra.node.append(onnx.helper.make_node("Shape", [name], [out], name=out))
        extra.output.append(onnx.helper.make_tensor_value_info(out, onnx.TensorProto.INT64, None))
    runs: list[dict[str, np.ndarray]] = []
    try:
        runner = session(probed.SerializeToString())
        names = [o.name for o in runner.get_outputs()]
        for feed in feeds:
            runs.append(dict(zip(names, runner.run(names, dict(feed)), strict=True)))
    except Exception as exc:  # ORT raises its own exception types for invalid or unrunnable graphs
        batch = next(iter(feeds[len(runs)].values())).shape[0] if feeds else "?"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{source}: ONNX Runtime cannot run the graph at batch {batch} ({first})") from exc
    static = {}
    for name in part.needed:
        if name in inits:
            value = onnx.numpy_helper.to_array(inits[name])
            static[name] = Static((value,) * len(runs))
        else:
            static[name] = Static(tuple(np.asarray(run[name]) for run in runs))
    shapes = {name: tuple(tuple(int(d) for d in run[out]) for run in runs) for name, out in shape_of.items()}
    return Probe(static, shapes)


def session(model_bytes: bytes) -> Any:
    """An ONNX Runtime CPU session on one thread with the graph as written (no optimizations): the reference."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 4  # errors come back as exceptions; no log lines on stderr
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
