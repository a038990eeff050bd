"""Keras 3 models in and out of netslim: :func:`from_keras` makes a :class:`~netslim.models.graphnet.GraphNet` of a
Sequential or functional Keras model (or a ``.keras`` file); :func:`to_keras` (``models/keras_out.py``) hands a
converted, possibly pruned and fine-tuned model back as a Keras functional model.

Layout: netslim's datasets are NCHW float32 (N, C, H, W), Keras images NHWC. The converted model takes NCHW (its
input spec says ``layout: NCHW, source_layout: NHWC`` and the shape ``[C, H, W]``), convolutions run on NCHW, and the
first Dense layer after a Flatten gets its weight columns reordered from Keras' (H, W, C) flatten order to torch's
(C, H, W), so that netslim's channel pruning follows a conv through the flatten into the Dense layer. Other tensors
keep Keras' axis order (permutes are inserted only where a layer needs another one); a 4D output is NCHW. So
``graphnet(nhwc_to_nchw(x)) == keras_model(x)`` (within float rounding), and :func:`nhwc_to_nchw` turns Keras-style
arrays into netslim data.

Layers: InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D (two nodes: ``<name>_depthwise``, ``<name>_pointwise``),
Dense (on any rank; on an image's channels it becomes a 1x1 convolution), Max/AveragePooling2D, Global{Average,
Max}Pooling2D, Flatten, Reshape, Permute, ZeroPadding2D, Dropout, SpatialDropout2D, BatchNormalization, Activation,
ReLU, LeakyReLU, ELU, Softmax, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Rescaling, Identity,
and nested Sequential/functional models (inlined), in channels_last or channels_first. A layer's ``activation``
argument becomes its own module node ``<name>_act`` (``swap_activation_`` replaces it). Keras ``momentum`` m of
BatchNormalization is torch's ``1 - m``. Regularizers (``kernel_regularizer``, ``activity_regularizer``, ...) are
recorded in the spec (``spec["source"]["regularizers"]``; ``TrainConfig.l2`` applies the same penalty) and not
applied. Anything else is one :class:`~netslim.errors.UnsupportedLayerError` naming every unsupported layer, raised
before any conversion work. ``spec["source"]["output_activations"]`` says which outputs are probabilities
(``"softmax"``): a Keras classifier's last layer is usually a softmax, while netslim's training takes logits.

'same' pooling follows TensorFlow and JAX (the padding is not counted in an average). Keras' torch backend pads
asymmetric 'same' average pooling by repeating edge values instead, so on that backend such a layer (an even
pool size with stride 1, or an odd map with stride 2) differs from the converted one at the right and bottom edges.

Keras runs on the torch backend here (``KERAS_BACKEND=torch`` unless set); only weights are read (as numpy), so a
model from another backend converts too. ``.keras`` files are loaded with ``safe_mode=True``: code stored in a file
(a Lambda layer) is never run.

Example:
    >>> keras = import_keras()  # keras 3 on the torch backend (unless KERAS_BACKEND says otherwise)
    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
    ...                         keras.layers.Flatten(name="flat"), keras.layers.Dense(10, name="fc")])
    >>> model = from_keras(net)
    >>> model.input_specs[0]["shape"], [name for name, _ in model.named_children()]
    ([1, 8, 8], ['conv', 'conv_act', 'fc'])
    >>> [node["op"] for node in model.spec["nodes"]]
    ['module', 'module', 'flatten', 'module']
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netslim.errors import ModelLoadError, UnsupportedLayerError
from netslim.models.graphnet import GraphNet
from netslim.models.keras_build import NCHW, Builder, Ref, identity
from netslim.models.keras_layers import CONVERTERS, TRANSPARENT, Call, activation_name

__all__ = ["from_keras", "nchw_to_nhwc", "nhwc_to_nchw", "to_keras"]


def nhwc_to_nchw(x: Any) -> Any:
    """A batch of channels-last images (numpy or torch, N x H x W x C) as netslim's N x C x H x W."""
    return x.permute(0, 3, 1, 2) if isinstance(x, torch.Tensor) else np.ascontiguousarray(np.transpose(x, NCHW))


def nchw_to_nhwc(x: Any) -> Any:
    """The inverse of :func:`nhwc_to_nchw`: netslim's N x C x H x W as Keras' N x H x W x C."""
    return x.permute(0, 2, 3, 1) if isinstance(x, torch.Tensor) else np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def to_keras(model: Any) -> Any:
    """A converted model as a Keras functional model (see :func:`netslim.models.keras_out.to_keras`)."""
    from netslim.models.keras_out import to_keras as convert

    return convert(model)


def import_keras() -> Any:
    """Keras 3 on the torch backend (unless another was chosen), or a ModelLoadError saying how to install it."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as exc:
        raise ModelLoadError("Keras models need Keras 3: pip install 'netslim[keras]'") from exc
    if int(str(keras.__version__).split(".")[0]) < 3:
        raise ModelLoadError(f"netslim reads Keras 3 models; keras {keras.__version__} is installed")
    return keras


def from_keras(model_or_path: Any) -> GraphNet:
    """A Keras 3 Sequential or functional model (in memory, or a ``.keras`` file path) as a GraphNet in eval mode,
    computing the same function on NCHW input (see the module docstring)."""
    keras = import_keras()
    model, source = _load(keras, model_or_path)
    graph = _graph(keras, model, source)
    _check(keras, graph, source)
    builder = Builder()
    inputs, refs = _inputs(graph, source)
    builder.names.update(entry["name"] for entry in inputs)
    outs = _convert(keras, graph, refs, builder)
    channels_last = not any(entry.get("source_layout") == "NCHW" for entry in inputs)
    finals = [_canonical(builder, ref, channels_last) for ref in outs]
    spec = {
        "inputs": inputs,
        "nodes": builder.nodes,
        "outputs": [ref.node for ref in finals],
        "source": {
            "format": "keras",
            "keras_version": str(keras.__version__),
            "model": str(model.name),
            "regularizers": _regularizers(keras, graph),
            "output_layouts": ["NCHW" if ref.rank == 4 and ref.perm == NCHW else None for ref in finals],
            "output_activations": [_activation_of(builder, ref.node) for ref in finals],
        },
    }
    net = GraphNet(spec)
    _load_weights(net, builder)
    return net.eval()


def _load(keras: Any, model_or_path: Any) -> tuple[Any, str]:
    if isinstance(model_or_path, keras.Model):
        return model_or_path, f"Keras model {model_or_path.name!r}"
    if not isinstance(model_or_path, str | os.PathLike):
        raise ModelLoadError(
            f"from_keras takes a keras.Model or a .keras file path, got {type(model_or_path).__name__}"
        )
    path = Path(model_or_path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such Keras model file")
    if path.suffix.lower() != ".keras":
        raise ModelLoadError(f"{path}: netslim reads Keras 3 '.keras' files; save the model with model.save('x.keras')")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - keras raises many types for a corrupt file, an unknown class, a lambda
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = " (netslim loads with safe_mode=True and never runs code stored in a file)" if "safe" in str(exc) else ""
        raise ModelLoadError(f"{path}: Keras cannot load this file{hint}: {first}") from None
    return model, str(path)


def _graph(keras: Any, model: Any, source: str) -> Any:
    """The functional graph of a Sequential or functional model."""
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    if isinstance(model, keras.Sequential) and graph is None:
        raise ModelLoadError(
            f"{source}: the Sequential model is not built; start it with keras.Input(shape) or call "
            "model.build((None, ...)) first"
        )
    if not hasattr(graph, "_nodes_by_depth") or not getattr(graph, "inputs", None):
        raise ModelLoadError(
            f"{source}: a subclassed Keras model has no layer graph netslim can read; netslim converts Sequential "
            "and functional models"
        )
    return graph


def _nodes(graph: Any) -> Iterator[Any]:
    """The graph's layer calls in topological order (inputs first)."""
    by_depth = graph._nodes_by_depth
    for depth in sorted(by_depth, reverse=True):
        yield from by_depth[depth]


def _is_model(keras: Any, layer: Any) -> bool:
    return isinstance(layer, keras.Model)


def _is_input(keras: Any, layer: Any) -> bool:
    return isinstance(layer, keras.layers.InputLayer)


def _layers(keras: Any, graph: Any) -> Iterator[tuple[Any, Any]]:
    """Every (layer, node) call, nested models descended into."""
    for node in _nodes(graph):
        layer = node.operation
        if _is_input(keras, layer):
            continue
        if _is_model(keras, layer):
            yield from _layers(keras, _graph(keras, layer, f"nested model {layer.name!r}"))
        else:
            yield layer, node


def _check(keras: Any, graph: Any, source: str) -> None:
    """Every problem with the model's layers at once, before any work."""
    problems: list[str] = []
    calls: dict[int, int] = defaultdict(int)
    for layer, _ in _layers(keras, graph):
        kind = type(layer).__name__
        where = f"{layer.name!r} ({kind})"
        calls[id(layer)] += 1
        if kind not in CONVERTERS or not type(layer).__module__.startswith("keras."):
            problems.append(f"{where} is not a layer netslim converts")
            continue
        if getattr(getattr(layer, "dtype_policy", None), "quantization_mode", None):
            problems.append(f"{where} is quantized by Keras; convert the float model and quantize with netslim")
        if layer.weights and calls[id(layer)] == 2:
            problems.append(f"{where} is called more than once (shared weights); a GraphNet layer has one call")
        for key in ("activation",) if "activation" in layer.get_config() else ():
            try:
                activation_name(layer, key)
            except UnsupportedLayerError as exc:
                problems.append(str(exc).removeprefix("Keras layer "))
    if problems:
        listed = "; ".join(problems)
        raise UnsupportedLayerError(
            f"{source}: {listed}. netslim converts these Keras layers: {', '.join(sorted(CONVERTERS))} (and nested "
            "Sequential/functional models)"
        )


def _inputs(graph: Any, source: str) -> tuple[list[dict[str, Any]], list[Ref]]:
    entries, refs = [], []
    consumers = _consumers(graph)
    for tensor in graph.inputs:
        name = str(tensor._keras_history.operation.name)
        shape = tuple(tensor.shape[1:])
        if not all(isinstance(s, int) and s > 0 for s in shape):
            raise ModelLoadError(f"{source}: input {name!r} has shape {(None, *shape)}; netslim needs fixed sizes")
        if not str(tensor.dtype).startswith(("float", "bfloat")):
            raise ModelLoadError(f"{source}: input {name!r} is {tensor.dtype}; netslim converts float inputs")
        entry: dict[str, Any] = {"name": name, "shape": list(shape), "dtype": "float32"}
        perm = identity(len(shape) + 1)
        if len(shape) == 3:
            formats = {n.operation.get_config().get("data_format") for n in consumers.get(id(tensor), [])}
            first = formats == {"channels_first"}
            perm = perm if first else NCHW
            entry.update(shape=[shape[p - 1] for p in perm[1:]], layout="NCHW")
            entry["source_layout"] = "NCHW" if first else "NHWC"
        entries.append(entry)
        refs.append(Ref(name, shape, perm))
    return entries, refs


def _consumers(graph: Any) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    for node in _nodes(graph):
        for tensor in node.input_tensors:
            found[id(tensor)].append(node)
    return found


def _keeps_order(keras: Any, tensor: Any, consumers: dict[int, list[Any]], outputs: set[int]) -> bool:
    """Whether every reader of a flattened tensor (through elementwise layers) is a Dense layer, which can take the
    features in torch's order by reordering its weights."""
    if id(tensor) in outputs or not consumers.get(id(tensor)):
        return False
    for node in consumers[id(tensor)]:
        kind = type(node.operation).__name__
        if kind == "Dense":
            continue
        if kind not in TRANSPARENT or len(node.input_tensors) != 1 or _is_model(keras, node.operation):
            return False
        if kind == "Softmax" and node.operation.get_config().get("axis", -1) not in (-1, 1):
            return False
        if not all(_keeps_order(keras, t, consumers, outputs) for t in node.output_tensors):
            return False
    return True


def _convert(keras: Any, graph: Any, refs: list[Ref], b: Builder) -> list[Ref]:
    env: dict[int, Ref] = {id(t): r for t, r in zip(graph.inputs, refs, strict=True)}
    consumers, outputs = _consumers(graph), {id(t) for t in graph.outputs}
    for node in _nodes(graph):
        layer = node.operation
        if _is_input(keras, layer):
            continue
        ins = [env[id(t)] for t in node.input_tensors]
        if _is_model(keras, layer):
            inner = _graph(keras, layer, f"nested model {layer.name!r}")
            results = _convert(keras, inner, ins, b)
        else:
            out = node.output_tensors[0]
            keep = type(layer).__name__ == "Flatten" and _keeps_order(keras, out, consumers, outputs)
            call = Call(layer, ins, tuple(int(s) for s in out.shape[1:]), str(layer.name), keep)
            results = [CONVERTERS[type(layer).__name__](b, call)]
        for tensor, ref in zip(node.output_tensors, results, strict=True):
            env[id(tensor)] = ref
    return [env[id(t)] for t in graph.outputs]


def _canonical(b: Builder, ref: Ref, channels_last: bool) -> Ref:
    """An output as the GraphNet returns it: a 4D tensor as NCHW (channels-last models), anything else as Keras."""
    want = NCHW if ref.rank == 4 and channels_last else identity(ref.rank)
    return b.arrange(ref, want, f"{ref.node}_output")


def _activation_of(b: Builder, name: str) -> str | None:
    """'softmax' when an output is a softmax (a Keras classifier's probabilities, not logits), else None."""
    node = next((n for n in b.nodes if n["name"] == name), None)
    kind = (node or {}).get("module", {}).get("type")
    return {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Sigmoid": "sigmoid"}.get(str(kind))


def _regularizers(keras: Any, graph: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for layer, _ in _layers(keras, graph):
        config = layer.get_config()
        named = {k: v for k, v in config.items() if k.endswith("regularizer") and v is not None}
        if named:
            found[str(layer.name)] = json.loads(json.dumps(named, default=str))
    return found


def _load_weights(net: GraphNet, b: Builder) -> None:
    for name, _, attr, _, _ in net._plan:
        module = getattr(net, attr, None)
        for key, array in b.weights.get(name, {}).items():
            target = getattr(module, key)
            if tuple(target.shape) != array.shape:
                raise ModelLoadError(f"{name}.{key}: converted weight {array.shape} does not fit {tuple(target.shape)}")
            with torch.no_grad():
                target.copy_(torch.from_numpy(array))
