"""The state of one ONNX -> GraphNet conversion: which spec node holds each ONNX tensor, the nodes and weights
emitted so far, and the registry of per-op handlers (:mod:`netslim.models.onnx_ops`, :mod:`.onnx_layers`).

A handler gets the :class:`Builder` and one ONNX node; it reads static inputs with :meth:`Builder.const`, data inputs
with :meth:`Builder.ref`, and writes spec nodes with :meth:`Builder.emit` / :meth:`Builder.module`. Adding an op:

    @handles("Softsign")
    def _softsign(b: Builder, node: Any) -> None:
        b.emit(node, "softsign", [b.ref(node.input[0])])
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import numpy as np

from netslim.errors import UnsupportedLayerError
from netslim.models.graphnet import attribute_name
from netslim.models.onnx_probe import PROBE_BATCHES, Probe, Static

__all__ = ["HANDLERS", "Builder", "handles"]

Handler = Callable[["Builder", Any], None]
HANDLERS: dict[str, Handler] = {}

_FLOAT_TYPES = (0, 1, 10, 11, 16)  # unknown, float, float16, double, bfloat16
_CONST_DTYPES = {"f": "float32", "i": "int64", "u": "int64", "b": "bool"}


def handles(*op_types: str) -> Callable[[Handler], Handler]:
    """Register the converter of ONNX ``op_types`` (see the module docstring)."""

    def register(fn: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = fn
        return fn

    return register


class Builder:
    """Converts the data nodes of one graph, in order, into GraphNet spec nodes and their weights."""

    def __init__(self, graph: Any, probe: Probe, dtypes: Mapping[str, int], opset: int, source: str) -> None:
        self.graph, self.probe, self.dtypes, self.opset, self.source = graph, probe, dtypes, opset, source
        self.refs: dict[str, str] = {}
        self.nodes: list[dict[str, Any]] = []
        self.state: dict[str, np.ndarray] = {}  # state_dict key -> value
        self.done: set[str] = set()  # ONNX nodes (by first output) already folded into an earlier pattern
        self.used: set[str] = set()
        self.outputs = {o.name for o in graph.output}
        self.consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self._index = {node.output[0]: i for i, node in enumerate(graph.node) if node.output}
        self.batch_source: str | None = None  # a graph input: what batch-sized constants expand to

    # ---- reading the graph
    def fail(self, node: Any, why: str) -> NoReturn:
        raise UnsupportedLayerError(f"{self.source}: node {node.name or node.output[0]!r} ({node.op_type}): {why}")

    def attrs(self, node: Any) -> dict[str, Any]:
        import onnx

        out = {}
        for attr in node.attribute:
            value = onnx.helper.get_attribute_value(attr)
            out[attr.name] = value.decode() if isinstance(value, bytes) else value
        return out

    def input(self, node: Any, index: int) -> str:
        """The name of input ``index`` of ``node``, or "" when it is absent."""
        return node.input[index] if len(node.input) > index else ""

    def is_static(self, name: str) -> bool:
        return name in self.probe.static

    def const(self, node: Any, name: str) -> np.ndarray:
        """The value of static input ``name``; UnsupportedLayerError when it depends on the batch or on data."""
        entry = self.probe.static.get(name)
        if entry is None:
            self.fail(node, f"input {name!r} must be a constant (an initializer or computed from constants)")
        if entry.varies:
            self.fail(node, f"input {name!r} depends on the batch size in a way netslim cannot express")
        return entry.value

    def optional(self, node: Any, index: int) -> np.ndarray | None:
        name = self.input(node, index)
        return self.const(node, name) if name else None

    def shapes(self, name: str) -> tuple[tuple[int, ...], ...]:
        """The shape of data tensor ``name`` in each probe run."""
        return self.probe.shapes[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self.probe.shapes[name][0]

    def rank(self, name: str) -> int:
        return len(self.shape(name))

    def is_float(self, name: str) -> bool:
        return self.dtypes.get(name, 0) in _FLOAT_TYPES

    def sole_consumer(self, name: str) -> Any | None:
        """The one node reading ``name`` when nothing else (no other node, no graph output) does."""
        readers = self.consumers.get(name, [])
        return readers[0] if len(readers) == 1 and name not in self.outputs else None

    # ---- writing the spec
    def name_for(self, node: Any, label: str, *, scope: bool = False, suffix: str = "") -> str:
        """A unique node name: the ONNX name made an identifier (``/fc1/Gemm`` -> ``fc1`` for a layer, its scope),
        or ``<label>_<index>`` when the ONNX node has no name; ``suffix`` names a helper node of a pattern."""
        raw = node.name.strip("/")
        parts = raw.split("/")
        index = self._index.get(node.output[0], len(self.nodes)) if getattr(node, "output", None) else len(self.nodes)
        candidates = [raw]
        if scope and len(parts) > 1 and re.fullmatch(rf"{node.op_type}(_\d+)?", parts[-1]):
            candidates.insert(0, "/".join(parts[:-1]))  # the layer's scope, unless another layer has it
        for text in candidates:
            base = re.sub(r"\W+", "_", text).strip("_") or f"{label}_{index}"
            if base[0].isdigit():
                base = f"{label}_{base}"
            base = attribute_name(f"{base}_{suffix}" if suffix else base)
            if base not in self.used:
                break
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def ref(self, name: str) -> str:
        """The spec reference of tensor ``name``: its node, or a ``constant`` node made for a static tensor."""
        if name in self.refs:
            return self.refs[name]
        entry = self.probe.static.get(name)
        if entry is None:
            raise UnsupportedLayerError(f"{self.source}: tensor {name!r} is read before any node computes it")
        if not entry.varies:
            self.refs[name] = self.constant(name, entry.value)
            return self.refs[name]
        row = _batch_tiled(entry)
        if row is None or self.batch_source is None:
            raise UnsupportedLayerError(
                f"{self.source}: tensor {name!r} is computed from shapes and depends on the batch size in a way "
                "netslim cannot express (only a constant repeated along the batch axis is)"
            )
        # a constant expanded to the batch (a ViT's class token): one row, expanded to the batch of the input
        inputs = [self.constant(name, row), self.batch_source]
        self.refs[name] = self.emit(_Named(name), "expand_batch", inputs, bind=False, suffix="batch")
        return self.refs[name]

    def constant(self, hint: str, value: np.ndarray) -> str:
        """Append a ``constant`` node (a buffer) holding ``value``, named after ``hint``."""
        kind = _CONST_DTYPES.get(value.dtype.kind)
        if kind is None:
            raise UnsupportedLayerError(f"{self.source}: constant {hint!r} has dtype {value.dtype}")
        name = self.name_for(_Named(hint), "const")
        self.nodes.append({"name": name, "op": "constant", "shape": list(value.shape), "dtype": kind})
        self.state[name] = np.asarray(value).astype(np.bool_ if kind == "bool" else np.dtype(kind))
        return name

    def emit(
        self,
        node: Any,
        op: str,
        inputs: list[str],
        attrs: dict[str, Any] | None = None,
        *,
        bind: bool = True,
        suffix: str = "",
    ) -> str:
        """Append a parameter-free node (``op`` from graphnet.OPS); ``bind`` maps ``node``'s first output to it;
        ``suffix`` names a helper node (the pad before a conv: ``conv1_pad``)."""
        name = self.name_for(node, node.op_type.lower(), suffix=suffix)
        entry: dict[str, Any] = {"name": name, "op": op, "inputs": inputs}
        if attrs:
            entry["attrs"] = _plain(attrs)
        self.nodes.append(entry)
        if bind:
            self.refs[node.output[0]] = name
        return name

    def module(
        self,
        node: Any,
        spec: dict[str, Any],
        weights: Mapping[str, np.ndarray],
        inputs: list[str],
        output: str,
        *,
        label: str = "",
    ) -> str:
        """Append a layer (a module spec for ``persist.module_from_spec``) with its ``weights`` bound to ``output``;
        ``label`` names an unnamed node (default: its op, ``conv_3``)."""
        name = self.name_for(node, label or node.op_type.lower(), scope=True)
        self.nodes.append({"name": name, "op": "module", "inputs": inputs, "module": _plain(spec)})
        for key, value in weights.items():
            self.state[f"{name}.{key}"] = np.ascontiguousarray(value, dtype=np.float32)
        self.refs[output] = name
        return name

    def alias(self, output: str, ref: str) -> None:
        self.refs[output] = ref

    def fold(self, *nodes: Any) -> None:
        """Mark ``nodes`` as converted by the pattern being emitted (the main loop skips them)."""
        self.done.update(n.output[0] for n in nodes)


def _batch_tiled(entry: Static) -> np.ndarray | None:
    """The one row ``entry`` repeats along axis 0 in every probe run, batch times; None when it does not."""
    first = entry.values[0]
    if first.ndim == 0 or len(entry.values) != len(PROBE_BATCHES):
        return None
    row = first[:1]
    for value, batch in zip(entry.values, PROBE_BATCHES, strict=True):
        if value.shape != (batch, *first.shape[1:]) or not np.array_equal(value, np.broadcast_to(row, value.shape)):
            return None
    return row


class _Named:
    """A stand-in node for naming a constant after its tensor."""

    def __init__(self, tensor: str) -> None:
        self.name, self.op_type = tensor, "Constant"


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and tuples turned into JSON types."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.integer | bool | np.bool_):
        return bool(value) if isinstance(value, bool | np.bool_) else int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else (3.4028234663852886e38 if number > 0 else -3.4028234663852886e38)
    return value
