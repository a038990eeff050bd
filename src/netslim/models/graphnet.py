"""A model described as data: the torch module that models converted from Keras 3 and ONNX become.

A :class:`GraphNet` is built from a JSON graph spec: named inputs (shape without batch, dtype, layout), nodes in
topological order, and outputs. A node is either a layer (``"op": "module"`` with a module spec that
:func:`netslim.models.persist.module_from_spec` builds: Conv2d, Linear, BatchNorm2d, ReLU, ...; it becomes a
submodule named after the node, so every technique and every layer glob sees ``conv1``, ``dense``), a constant
(``"op": "constant"``: a buffer filled by the state dict), or a parameter-free function from :data:`OPS` (``add``,
``concat``, ``flatten``, ``reshape``, ``permute``, pooling, ...). The forward pass is plain torch calls, so
``torch.export`` captures it and netslim's dependency graph prunes it like any hand-written module; the spec is
stored in the model's :class:`~netslim.models.arch.Architecture`, so a converted model saves and loads without
pickle.

Example:
    >>> import torch
    >>> spec = {
    ...     "inputs": [{"name": "x", "shape": [4], "dtype": "float32"}],
    ...     "nodes": [
    ...         {"name": "fc1", "op": "module", "inputs": ["x"], "module": {"type": "Linear", "in_features": 4,
    ...          "out_features": 8}},
    ...         {"name": "act", "op": "module", "inputs": ["fc1"], "module": {"type": "ReLU"}},
    ...         {"name": "fc2", "op": "module", "inputs": ["act"], "module": {"type": "Linear", "in_features": 8,
    ...          "out_features": 3}},
    ...         {"name": "skip", "op": "add", "inputs": ["fc2", "fc2"]},
    ...     ],
    ...     "outputs": ["skip"],
    ... }
    >>> net = GraphNet(spec)
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netslim.errors import ModelLoadError
from netslim.models.arch import Architecture

__all__ = ["DTYPES", "OPS", "GraphNet", "validate_spec"]

Op = Callable[[list[torch.Tensor], dict[str, Any]], torch.Tensor]
OPS: dict[str, Op] = {}

DTYPES = {"float32": torch.float32, "int64": torch.int64, "int32": torch.int32, "bool": torch.bool}


def op(*names: str) -> Callable[[Op], Op]:
    """Register a parameter-free graph function under ``names`` (it gets the input tensors and the node's attrs)."""

    def register(fn: Op) -> Op:
        for name in names:
            OPS[name] = fn
        return fn

    return register


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> Op:
    return lambda xs, attrs: fn(xs[0])


for _name, _fn in {
    "identity": lambda x: x,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "relu6": F.relu6,
    "erf": torch.erf,
    "sqrt": torch.sqrt,
    "exp": torch.exp,
    "log": torch.log,
    "neg": torch.neg,
    "abs": torch.abs,
    "reciprocal": torch.reciprocal,
    "softplus": F.softplus,
    "softsign": F.softsign,
}.items():
    OPS[_name] = _unary(_fn)


@op("add")
def _add(xs: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


@op("mul")
def _mul(xs: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


OPS["sub"] = lambda xs, attrs: xs[0] - xs[1]
OPS["div"] = lambda xs, attrs: xs[0] / xs[1]
OPS["pow"] = lambda xs, attrs: torch.pow(xs[0], xs[1] if len(xs) > 1 else attrs["exponent"])
OPS["matmul"] = lambda xs, attrs: torch.matmul(xs[0], xs[1])
OPS["maximum"] = lambda xs, attrs: torch.maximum(xs[0], xs[1])
OPS["minimum"] = lambda xs, attrs: torch.minimum(xs[0], xs[1])
OPS["average"] = lambda xs, attrs: _add(xs, attrs) / len(xs)
OPS["gelu"] = lambda xs, attrs: F.gelu(xs[0], approximate=attrs.get("approximate", "none"))
OPS["elu"] = lambda xs, attrs: F.elu(xs[0], alpha=float(attrs.get("alpha", 1.0)))
OPS["leaky_relu"] = lambda xs, attrs: F.leaky_relu(xs[0], float(attrs.get("negative_slope", 0.01)))
OPS["softmax"] = lambda xs, attrs: torch.softmax(xs[0], dim=int(attrs.get("dim", -1)))
OPS["log_softmax"] = lambda xs, attrs: torch.log_softmax(xs[0], dim=int(attrs.get("dim", -1)))
OPS["concat"] = lambda xs, attrs: torch.cat(xs, dim=int(attrs.get("dim", 1)))
OPS["flatten"] = lambda xs, attrs: torch.flatten(xs[0], int(attrs.get("start_dim", 1)), int(attrs.get("end_dim", -1)))
OPS["permute"] = lambda xs, attrs: xs[0].permute(*attrs["dims"])
OPS["transpose"] = lambda xs, attrs: xs[0].transpose(int(attrs["dim0"]), int(attrs["dim1"]))
OPS["squeeze"] = lambda xs, attrs: xs[0].squeeze(tuple(attrs["dims"])) if attrs.get("dims") else xs[0].squeeze()
OPS["clip"] = lambda xs, attrs: torch.clamp(xs[0], attrs.get("min"), attrs.get("max"))
OPS["mean"] = lambda xs, attrs: xs[0].mean(dim=tuple(attrs["dims"]), keepdim=bool(attrs.get("keepdim", False)))
OPS["sum"] = lambda xs, attrs: xs[0].sum(dim=tuple(attrs["dims"]), keepdim=bool(attrs.get("keepdim", False)))
OPS["amax"] = lambda xs, attrs: xs[0].amax(dim=tuple(attrs["dims"]), keepdim=bool(attrs.get("keepdim", False)))
OPS["global_avg_pool"] = lambda xs, attrs: xs[0].mean(dim=(2, 3), keepdim=bool(attrs.get("keepdim", True)))
OPS["global_max_pool"] = lambda xs, attrs: xs[0].amax(dim=(2, 3), keepdim=bool(attrs.get("keepdim", True)))
OPS["pad"] = lambda xs, attrs: F.pad(xs[0], tuple(attrs["pads"]), value=float(attrs.get("value", 0.0)))
OPS["scale"] = lambda xs, attrs: xs[0] * float(attrs["factor"]) + float(attrs.get("offset", 0.0))


@op("relu_threshold")
def _relu_threshold(xs: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    """Keras' general ReLU: ``x`` above ``threshold`` (clipped to [0, ``max_value``] when set), else
    ``negative_slope * (x - threshold)``."""
    x, threshold = xs[0], float(attrs.get("threshold", 0.0))
    top = torch.where(x > threshold, x, torch.zeros_like(x))
    if attrs.get("max_value") is not None:
        top = torch.clamp(top, 0.0, float(attrs["max_value"]))
    return top - float(attrs.get("negative_slope", 0.0)) * torch.relu(threshold - x)


OPS["selu"] = lambda xs, attrs: F.elu(xs[0], float(attrs["alpha"])) * float(attrs["gamma"])
OPS["cast"] = lambda xs, attrs: xs[0].to(DTYPES[attrs["dtype"]])
OPS["expand"] = lambda xs, attrs: xs[0].expand(*attrs["shape"])  # -1 keeps a size
OPS["expand_batch"] = lambda xs, attrs: xs[0].expand(xs[1].shape[0], *xs[0].shape[1:])  # to xs[1]'s batch
OPS["slice"] = lambda xs, attrs: xs[0][
    (slice(None),) * int(attrs["dim"]) + (slice(attrs.get("start"), attrs.get("end"), attrs.get("step")),)
]


@op("gather")
def _gather(xs: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    """ONNX Gather along ``dim``: one ``index`` attr (that slice, the axis dropped) or an index tensor ``xs[1]``."""
    x, dim = xs[0], int(attrs.get("dim", 0)) % xs[0].dim()
    if len(xs) == 1:
        return x.select(dim, int(attrs["index"]))
    index = xs[1]
    picked = x.index_select(dim, index.reshape(-1).long())
    return picked.reshape(*x.shape[:dim], *index.shape, *x.shape[dim + 1 :])


@op("unsqueeze")
def _unsqueeze(xs: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    out = xs[0]
    for dim in sorted(int(d) for d in attrs["dims"]):
        out = out.unsqueeze(dim)
    return out


@op("reshape")
def _reshape(xs: list[torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    """ONNX semantics: ``0`` copies the input's size at that position, ``-1`` is inferred."""
    x = xs[0]
    shape = [x.shape[i] if int(s) == 0 else int(s) for i, s in enumerate(attrs["shape"])]
    return x.reshape(shape)


def _pool(xs: list[torch.Tensor], attrs: dict[str, Any], kind: str) -> torch.Tensor:
    kernel = tuple(attrs["kernel_size"])
    stride = tuple(attrs.get("stride") or kernel)
    padding = tuple(attrs.get("padding") or (0, 0))
    ceil = bool(attrs.get("ceil_mode", False))
    if kind == "avg":
        include = bool(attrs.get("count_include_pad", False))
        return F.avg_pool2d(xs[0], kernel, stride, padding, ceil_mode=ceil, count_include_pad=include)
    return F.max_pool2d(xs[0], kernel, stride, padding, ceil_mode=ceil)


OPS["max_pool2d"] = lambda xs, attrs: _pool(xs, attrs, "max")
OPS["avg_pool2d"] = lambda xs, attrs: _pool(xs, attrs, "avg")


def validate_spec(spec: Any, source: str = "graph") -> dict[str, Any]:
    """Check a graph spec's structure; a problem is a ModelLoadError naming the node and what to fix."""
    from netslim.models.persist import SPEC_ARGS

    if not isinstance(spec, dict):
        raise ModelLoadError(f"{source}: a graph spec must be a JSON object, got {type(spec).__name__}")
    inputs, nodes, outputs = spec.get("inputs"), spec.get("nodes"), spec.get("outputs")
    if not isinstance(inputs, list) or not inputs or not isinstance(nodes, list) or not isinstance(outputs, list):
        raise ModelLoadError(f"{source}: needs a non-empty 'inputs' list, a 'nodes' list and an 'outputs' list")
    seen: set[str] = set()
    for entry in inputs:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ModelLoadError(f"{source}: every input needs a 'name', got {entry!r}")
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(isinstance(s, int) and 0 < s < 2**20 for s in shape):
            raise ModelLoadError(f"{source}: input {entry['name']!r} needs a 'shape' of positive sizes (no batch)")
        if math.prod(shape) > 1 << 26:
            raise ModelLoadError(f"{source}: input {entry['name']!r} shape {shape} is implausibly large")
        if entry.get("dtype", "float32") not in DTYPES:
            raise ModelLoadError(f"{source}: input {entry['name']!r} dtype must be one of {sorted(DTYPES)}")
        seen.add(entry["name"])
    for node in nodes:
        name = node.get("name") if isinstance(node, dict) else None
        if not isinstance(name, str) or not name or name in seen:
            raise ModelLoadError(f"{source}: node {node!r} needs a unique, non-empty 'name'")
        kind = node.get("op")
        missing = [i for i in node.get("inputs", []) if i not in seen]
        if missing:
            raise ModelLoadError(f"{source}: node {name!r} reads {missing}, which no earlier node or input defines")
        if kind == "module":
            module = node.get("module")
            if not isinstance(module, dict) or module.get("type") not in (*SPEC_ARGS, "Sequential"):
                raise ModelLoadError(
                    f"{source}: node {name!r} has module {module!r}; known layer types: {', '.join(SPEC_ARGS)}"
                )
        elif kind == "constant":
            shape = node.get("shape")
            if not isinstance(shape, list) or not all(isinstance(s, int) and 0 <= s < 2**24 for s in shape):
                raise ModelLoadError(f"{source}: constant {name!r} needs a 'shape' list")
        elif kind not in OPS:
            raise ModelLoadError(f"{source}: node {name!r} has unknown op {kind!r}; known: {', '.join(sorted(OPS))}")
        if not isinstance(node.get("attrs", {}), dict):
            raise ModelLoadError(f"{source}: node {name!r} 'attrs' must be a mapping")
        seen.add(name)
    unknown = [o for o in outputs if o not in seen]
    if not outputs or unknown:
        raise ModelLoadError(f"{source}: outputs {unknown or outputs} are not defined by any node")
    return spec


_RESERVED = set(dir(nn.Module)) | {"spec", "inputs", "outputs"}


def attribute_name(node: str) -> str:
    """The submodule/buffer name of a node: the node name with every character outside [A-Za-z0-9_] replaced."""
    name = re.sub(r"\W", "_", node)
    if not name or name[0].isdigit() or name in _RESERVED or name.startswith("_"):
        name = f"n_{name}"
    return name


class GraphNet(nn.Module):
    """The torch module a graph spec describes (see the module docstring); ``spec`` is kept as given.

    Inputs are passed positionally in the spec's order; one output is returned as a tensor, several as a tuple.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        from netslim.models.persist import module_from_spec

        super().__init__()
        self.spec = validate_spec(copy.deepcopy(spec))
        self._plan: list[tuple[str, str, str, tuple[str, ...], dict[str, Any]]] = []
        used: set[str] = set()
        for node in self.spec["nodes"]:
            attr = attribute_name(node["name"])
            while attr in used:
                attr += "_"
            used.add(attr)
            kind = node["op"]
            if kind == "module":
                try:
                    self.add_module(attr, module_from_spec(node["module"]))
                except (TypeError, ValueError) as exc:
                    raise ModelLoadError(f"graph: node {node['name']!r} has a bad module spec ({exc})") from None
            elif kind == "constant":
                dtype = DTYPES.get(node.get("dtype", "float32"), torch.float32)
                self.register_buffer(attr, torch.zeros(node["shape"], dtype=dtype))
            self._plan.append((node["name"], kind, attr, tuple(node.get("inputs", [])), dict(node.get("attrs", {}))))
        self._inputs = tuple(entry["name"] for entry in self.spec["inputs"])
        self._outputs = tuple(self.spec["outputs"])
        first = self.spec["inputs"][0]
        self.netslim_arch = Architecture(graph=self.spec, input_shape=tuple(first["shape"]))

    @property
    def input_specs(self) -> list[dict[str, Any]]:
        """The inputs as the spec names them: ``name``, ``shape`` (no batch), ``dtype``, optional ``layout``."""
        return [dict(entry) for entry in self.spec["inputs"]]

    def forward(self, *args: torch.Tensor) -> Any:
        if len(args) != len(self._inputs):
            raise TypeError(f"GraphNet takes {len(self._inputs)} input(s) {list(self._inputs)}, got {len(args)}")
        env: dict[str, Any] = dict(zip(self._inputs, args, strict=True))
        for name, kind, attr, inputs, attrs in self._plan:
            xs = [env[i] for i in inputs]
            if kind == "module":
                env[name] = getattr(self, attr)(*xs)
            elif kind == "constant":
                env[name] = getattr(self, attr)
            else:
                env[name] = OPS[kind](xs, attrs)
        outs = tuple(env[o] for o in self._outputs)
        return outs[0] if len(outs) == 1 else outs

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        # constants follow the saved shapes (a pruned neighbour may have resized one)
        for _, kind, attr, _, _ in self._plan:
            saved = state_dict.get(prefix + attr)
            if kind == "constant" and saved is not None and saved.shape != getattr(self, attr).shape:
                self.register_buffer(attr, torch.zeros(saved.shape, dtype=getattr(self, attr).dtype))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
