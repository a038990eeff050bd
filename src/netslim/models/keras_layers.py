"""One converter per Keras 3 layer class: the graph-spec nodes (and weights) that compute the same function.

A converter gets the :class:`~netslim.models.keras_build.Builder` and a :class:`Call` (the layer, its converted
inputs, its Keras output shape, the node name reserved for it) and returns the :class:`Ref` of its output. To support
another layer, write a function and decorate it with ``@converts("ClassName")``; :data:`TRANSPARENT` lists the
layers a flattened tensor may pass through on its way to a Dense layer (elementwise on features).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from netslim.errors import UnsupportedLayerError
from netslim.models.keras_build import NCHW, Builder, Ref, channels_first, flat_order, identity

__all__ = ["ACTIVATIONS", "CONVERTERS", "TRANSPARENT", "Call", "activation_name", "converts"]


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of a Keras layer: ``ins`` its converted inputs, ``out_shape`` its Keras output shape without batch,
    ``name`` its node name, ``keep_order`` (Flatten only) whether every reader accepts torch's feature order."""

    layer: Any
    ins: list[Ref]
    out_shape: tuple[int, ...]
    name: str
    keep_order: bool = False

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.layer.get_config())

    def fail(self, why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"Keras layer {self.layer.name!r} ({type(self.layer).__name__}): {why}")


Converter = Callable[[Builder, Call], Ref]
CONVERTERS: dict[str, Converter] = {}
TRANSPARENT = {"Activation", "Dropout", "ReLU", "LeakyReLU", "ELU", "Softmax", "Identity", "Rescaling"}


def converts(*classes: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for name in classes:
            CONVERTERS[name] = fn
        return fn

    return register


def numpy(variable: Any) -> np.ndarray:
    """A Keras variable as float32 numpy, whatever the backend."""
    value = getattr(variable, "value", variable)
    if isinstance(value, torch.Tensor):  # the torch backend (numpy's __array__ path warns there)
        return value.detach().cpu().float().numpy()
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float32)


# Keras activation names -> torch module specs; "dim" is filled with the channel axis (softmax-like activations).
ACTIVATIONS: dict[str, dict[str, Any] | None] = {
    "linear": None,
    "relu": {"type": "ReLU"},
    "relu6": {"type": "ReLU6"},
    "sigmoid": {"type": "Sigmoid"},
    "tanh": {"type": "Tanh"},
    "softmax": {"type": "Softmax", "dim": None},
    "log_softmax": {"type": "LogSoftmax", "dim": None},
    "gelu": {"type": "GELU", "approximate": "none"},
    "silu": {"type": "SiLU"},
    "swish": {"type": "SiLU"},
    "elu": {"type": "ELU", "alpha": 1.0},
    "selu": {"type": "SELU"},
    "celu": {"type": "CELU", "alpha": 1.0},
    "softplus": {"type": "Softplus", "beta": 1.0, "threshold": 20.0},
    "softsign": {"type": "Softsign"},
    "hard_sigmoid": {"type": "Hardsigmoid"},  # Keras 3: relu6(x + 3) / 6, as torch
    "hard_silu": {"type": "Hardswish"},
    "hard_swish": {"type": "Hardswish"},
    "leaky_relu": {"type": "LeakyReLU", "negative_slope": 0.2},  # the Keras function's default slope
    "mish": {"type": "Mish"},
    "log_sigmoid": {"type": "LogSigmoid"},
    "hard_tanh": {"type": "Hardtanh", "min_val": -1.0, "max_val": 1.0},
    "tanh_shrink": {"type": "Tanhshrink"},
    "soft_shrink": {"type": "Softshrink", "lambd": 0.5},
    "hard_shrink": {"type": "Hardshrink", "lambd": 0.5},
    "exponential": {"op": "exp"},
}


def activation_name(layer: Any, key: str = "activation") -> str:
    """The Keras name of a layer's activation argument, or a clear error for a custom function."""
    value = layer.get_config().get(key, "linear")
    name = value if isinstance(value, str) else getattr(value, "__name__", None)
    if not isinstance(name, str) or name not in ACTIVATIONS:
        shown = name if isinstance(name, str) else repr(value)
        raise UnsupportedLayerError(
            f"Keras layer {layer.name!r} ({type(layer).__name__}): activation {shown!r} is not one netslim converts; "
            f"supported: {', '.join(sorted(ACTIVATIONS))}"
        )
    return name


def activate(b: Builder, ref: Ref, name: str, node: str, keras: dict[str, Any]) -> Ref:
    """``ref`` through the Keras activation ``name`` as its own node (so ``swap_activation_`` can replace it)."""
    spec = ACTIVATIONS[name]
    if spec is None:
        return ref
    if "op" in spec:
        return ref.replace(b.op(node, spec["op"], [ref], keras=keras))
    spec = dict(spec)
    if "dim" in spec:
        spec["dim"] = ref.axis(-1)
    return ref.replace(b.module(node, [ref], spec, keras=keras))


def _keras(call: Call, **extra: Any) -> dict[str, Any]:
    return {"layer": call.layer.name, "class": type(call.layer).__name__, **extra}


def _one(call: Call, rank: int | None = None) -> Ref:
    ref = call.ins[0]
    if rank is not None and ref.rank != rank:
        raise call.fail(f"expects a rank-{rank} input (batch included), got shape {(None, *ref.shape)}")
    return ref


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: (before, after)."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _spatial(call: Call, ref: Ref) -> tuple[int, int]:
    shape = ref.torch_shape()
    return shape[1], shape[2]


# --- convolutions and dense ---------------------------------------------------------------------------------------


def _conv(b: Builder, call: Call, weights: dict[str, np.ndarray], groups: int, suffix: str = "") -> Ref:
    """A Conv2d node computing the layer's convolution (its 'same' padding as a pad node where asymmetric)."""
    cfg = call.config
    ref = b.arrange(_one(call, 4), channels_first(4, cfg.get("data_format", "channels_last")), call.name)
    kernel, stride = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
    dilation = tuple(cfg.get("dilation_rate", (1, 1)))
    pads = (0, 0)
    if cfg["padding"] == "same":
        hw = _spatial(call, ref)
        pairs = [same_pads(hw[i], kernel[i], stride[i], dilation[i]) for i in range(2)]
        if all(before == after for before, after in pairs):
            pads = (pairs[0][0], pairs[1][0])
        elif any(pairs):
            (top, bottom), (left, right) = pairs
            ref = ref.replace(b.op(f"{call.name}_pad", "pad", [ref], {"pads": [left, right, top, bottom]}))
    elif cfg["padding"] != "valid":
        raise call.fail(f"padding {cfg['padding']!r} is not supported (valid or same)")
    weight = weights["weight"]
    spec = {
        "type": "Conv2d",
        "in_channels": ref.torch_shape()[0],
        "out_channels": int(weight.shape[0]),
        "kernel_size": list(kernel),
        "stride": list(stride),
        "padding": list(pads),
        "dilation": list(dilation),
        "groups": groups,
        "bias": "bias" in weights,
        "padding_mode": "zeros",
    }
    node = b.module(call.name + suffix, [ref], spec, weights, _keras(call))
    shape = list(call.out_shape)  # a separable layer's inner depthwise output: the layer's with its own channels
    shape[ref.perm[1] - 1] = int(weight.shape[0])
    return Ref(node, tuple(shape), ref.perm)


def _bias(layer: Any, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
        weights["bias"] = numpy(layer.bias)
    return weights


def _finish(b: Builder, call: Call, ref: Ref) -> Ref:
    name = activation_name(call.layer)
    return activate(b, ref.replace(ref.node, shape=call.out_shape), name, f"{call.name}_act", _keras(call))


@converts("Conv2D")
def conv2d(b: Builder, call: Call) -> Ref:
    kernel = numpy(call.layer.kernel)  # (kh, kw, in / groups, out)
    weights = _bias(call.layer, {"weight": kernel.transpose(3, 2, 0, 1)})
    return _finish(b, call, _conv(b, call, weights, int(call.config.get("groups", 1))))


def _depthwise_weight(kernel: np.ndarray) -> np.ndarray:
    kh, kw, channels, multiplier = kernel.shape  # output channel c * multiplier + j, as Keras orders them
    return kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None]


@converts("DepthwiseConv2D")
def depthwise_conv2d(b: Builder, call: Call) -> Ref:
    kernel = numpy(call.layer.kernel)
    weights = _bias(call.layer, {"weight": _depthwise_weight(kernel)})
    return _finish(b, call, _conv(b, call, weights, int(kernel.shape[2])))


@converts("SeparableConv2D")
def separable_conv2d(b: Builder, call: Call) -> Ref:
    depthwise = numpy(call.layer.depthwise_kernel)
    pointwise = numpy(call.layer.pointwise_kernel)  # (1, 1, in * multiplier, filters)
    inner = _conv(b, call, {"weight": _depthwise_weight(depthwise)}, int(depthwise.shape[2]), "_depthwise")
    spec = {"type": "Conv2d", "in_channels": int(pointwise.shape[2]), "out_channels": int(pointwise.shape[3])}
    spec.update(kernel_size=[1, 1], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1, padding_mode="zeros")
    weights = _bias(call.layer, {"weight": pointwise.transpose(3, 2, 0, 1)})
    spec["bias"] = "bias" in weights
    node = b.module(f"{call.name}_pointwise", [inner], spec, weights, _keras(call))
    return _finish(b, call, inner.replace(node))


@converts("Dense")
def dense(b: Builder, call: Call) -> Ref:
    ref = _one(call)
    kernel = numpy(call.layer.kernel)  # (in, out)
    last = ref.rank - 1
    if ref.order is not None:
        kernel = kernel[ref.order]
    if ref.rank == 4 and ref.perm == NCHW:  # Dense on the channels of an image: a 1x1 convolution, channels kept
        weights = _bias(call.layer, {"weight": kernel.T[:, :, None, None]})
        spec = {"type": "Conv2d", "in_channels": int(kernel.shape[0]), "out_channels": int(kernel.shape[1])}
        spec.update(kernel_size=[1, 1], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
        spec.update(padding_mode="zeros", bias="bias" in weights)
        node = b.module(call.name, [ref], spec, weights, _keras(call))
        return _finish(b, call, ref.replace(node))
    if ref.perm[-1] != last:
        ref = b.arrange(ref, identity(ref.rank), call.name)
    weights = _bias(call.layer, {"weight": kernel.T})
    spec = {"type": "Linear", "in_features": int(kernel.shape[0]), "out_features": int(kernel.shape[1])}
    spec["bias"] = "bias" in weights
    node = b.module(call.name, [ref], spec, weights, _keras(call))
    return _finish(b, call, Ref(node, call.out_shape, ref.perm))


@converts("BatchNormalization")
def batch_norm(b: Builder, call: Call) -> Ref:
    ref, cfg, layer = _one(call), call.config, call.layer
    axis = cfg["axis"][0] if isinstance(cfg["axis"], list | tuple) and len(cfg["axis"]) == 1 else cfg["axis"]
    if not isinstance(axis, int) or ref.rank not in (2, 3, 4):
        raise call.fail(f"normalizes axis {cfg['axis']} of a rank-{ref.rank} tensor; netslim takes one axis, rank 2-4")
    keras_axis = axis % ref.rank
    if ref.perm[1] != keras_axis:
        rest = [p for p in range(ref.rank) if p not in (0, keras_axis)]
        ref = b.arrange(ref, (0, keras_axis, *rest), call.name)
    channels = ref.shape[keras_axis - 1]
    weights = {
        "weight": numpy(layer.gamma) if cfg.get("scale", True) else np.ones(channels, np.float32),
        "bias": numpy(layer.beta) if cfg.get("center", True) else np.zeros(channels, np.float32),
        "running_mean": numpy(layer.moving_mean),
        "running_var": numpy(layer.moving_variance),
    }
    spec = {
        "type": "BatchNorm2d" if ref.rank == 4 else "BatchNorm1d",
        "num_features": channels,
        "eps": float(cfg["epsilon"]),
        "momentum": round(1.0 - float(cfg["momentum"]), 10),  # torch weights the new batch, Keras the old mean
        "affine": True,
        "track_running_stats": True,
    }
    return ref.replace(b.module(call.name, [ref], spec, weights, _keras(call)))


# --- pooling --------------------------------------------------------------------------------------------------------


def windows(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """How many windows torch's pooling makes on one axis."""
    count = (size + 2 * pad - kernel + (stride - 1 if ceil else 0)) // stride + 1
    return count - 1 if ceil and (count - 1) * stride >= size + pad else count


def _pool_plan(size: int, kernel: int, stride: int, ceil: bool) -> tuple[int, int, int] | None:
    """Torch (padding, first window kept, windows made) giving TensorFlow's 'same' windows on one axis, or None."""
    before, _ = same_pads(size, kernel, stride)
    wanted = math.ceil(size / stride)
    found = []
    for pad in range(before, kernel // 2 + 1, stride):  # windows start at -pad + i * stride; TF's at -before + ...
        count = windows(size, kernel, stride, pad, ceil)
        skip = (pad - before) // stride
        if count >= skip + wanted:
            found.append((pad, skip, count))
    exact = [plan for plan in found if plan[1] == 0 and plan[2] == wanted]
    return (exact or found)[0] if found else None


def _pool(b: Builder, call: Call, kind: str) -> Ref:
    cfg = call.config
    ref = b.arrange(_one(call, 4), channels_first(4, cfg.get("data_format", "channels_last")), call.name)
    kernel = tuple(cfg["pool_size"])
    stride = tuple(cfg.get("strides") or kernel)
    attrs: dict[str, Any] = {"kernel_size": list(kernel), "stride": list(stride), "padding": [0, 0]}
    if kind == "avg_pool2d":
        attrs["count_include_pad"] = False  # TensorFlow's 'same' average excludes the padding
    keras = _keras(call, padding=cfg["padding"])
    if cfg["padding"] != "same":
        return Ref(b.op(call.name, kind, [ref], attrs, keras), call.out_shape, ref.perm)
    hw = _spatial(call, ref)
    for ceil in (False, True):
        plans = [_pool_plan(hw[i], kernel[i], stride[i], ceil) for i in range(2)]
        if plans[0] is not None and plans[1] is not None:
            break
    else:
        raise call.fail(f"'same' pooling of a {hw} map with pool {kernel}, strides {stride} has no torch equivalent")
    attrs.update(padding=[plans[0][0], plans[1][0]], ceil_mode=ceil)
    out = ref.replace(b.op(call.name, kind, [ref], attrs, keras))
    for i, (_, skip, count) in enumerate(p for p in plans if p is not None):
        wanted = math.ceil(hw[i] / stride[i])
        if skip or count != wanted:  # torch makes extra windows around TensorFlow's: keep TensorFlow's
            crop = {"dim": i + 2, "start": skip, "end": skip + wanted}
            out = out.replace(b.op(f"{call.name}_crop", "slice", [out], crop, _keras(call, role="same_crop")))
    return Ref(out.node, call.out_shape, ref.perm)


@converts("MaxPooling2D")
def max_pooling(b: Builder, call: Call) -> Ref:
    return _pool(b, call, "max_pool2d")


@converts("AveragePooling2D")
def average_pooling(b: Builder, call: Call) -> Ref:
    return _pool(b, call, "avg_pool2d")


@converts("GlobalAveragePooling2D", "GlobalMaxPooling2D")
def global_pooling(b: Builder, call: Call) -> Ref:
    cfg = call.config
    ref = b.arrange(_one(call, 4), channels_first(4, cfg.get("data_format", "channels_last")), call.name)
    kind = "global_avg_pool" if "Average" in type(call.layer).__name__ else "global_max_pool"
    keep = bool(cfg.get("keepdims", False))
    node = b.op(call.name, kind, [ref], {"keepdim": keep}, _keras(call))
    return Ref(node, call.out_shape, ref.perm if keep else identity(2))


# --- shape ----------------------------------------------------------------------------------------------------------


@converts("Flatten")
def flatten(b: Builder, call: Call) -> Ref:
    ref = _one(call)
    if ref.rank <= 2:
        return ref
    keras_perm = identity(ref.rank) if _channels_last_flatten(call) else (0, *range(2, ref.rank), 1)
    order = flat_order(ref.shape, ref.perm, keras_perm)
    if order is not None and not call.keep_order:
        ref, order = b.arrange(ref, keras_perm, call.name), None
    node = b.op(call.name, "flatten", [ref], {"start_dim": 1}, _keras(call))
    return Ref(node, call.out_shape, identity(2), order)


def _channels_last_flatten(call: Call) -> bool:
    return call.config.get("data_format", "channels_last") != "channels_first"


@converts("Reshape")
def reshape(b: Builder, call: Call) -> Ref:
    ref = b.arrange(_one(call), identity(call.ins[0].rank), call.name)
    node = b.op(call.name, "reshape", [ref], {"shape": [0, *call.out_shape]}, _keras(call))
    return Ref(node, call.out_shape, identity(len(call.out_shape) + 1))


@converts("Permute")
def permute(b: Builder, call: Call) -> Ref:
    ref = _one(call)
    dims = (0, *call.config["dims"])
    inverse = [dims.index(axis) for axis in range(ref.rank)]
    return Ref(ref.node, call.out_shape, tuple(inverse[p] for p in ref.perm))


@converts("ZeroPadding2D")
def zero_padding(b: Builder, call: Call) -> Ref:
    cfg = call.config
    ref = b.arrange(_one(call, 4), channels_first(4, cfg.get("data_format", "channels_last")), call.name)
    (top, bottom), (left, right) = cfg["padding"]
    node = b.op(call.name, "pad", [ref], {"pads": [left, right, top, bottom]}, _keras(call))
    return Ref(node, call.out_shape, ref.perm)


@converts("Identity")
def identity_layer(b: Builder, call: Call) -> Ref:
    return _one(call)


@converts("Dropout")
def dropout(b: Builder, call: Call) -> Ref:
    ref = _one(call)
    return ref.replace(
        b.module(call.name, [ref], {"type": "Dropout", "p": float(call.config["rate"])}, keras=_keras(call))
    )


@converts("SpatialDropout2D")
def spatial_dropout(b: Builder, call: Call) -> Ref:
    cfg = call.config
    ref = b.arrange(_one(call, 4), channels_first(4, cfg.get("data_format", "channels_last")), call.name)
    return ref.replace(b.module(call.name, [ref], {"type": "Dropout2d", "p": float(cfg["rate"])}, keras=_keras(call)))


@converts("Rescaling")
def rescaling(b: Builder, call: Call) -> Ref:
    cfg = call.config
    if not all(isinstance(cfg.get(k, 0.0), int | float) for k in ("scale", "offset")):
        raise call.fail("a per-channel scale or offset is not supported; only scalars")
    attrs = {"factor": float(cfg["scale"]), "offset": float(cfg.get("offset", 0.0))}
    ref = _one(call)
    return ref.replace(b.op(call.name, "scale", [ref], attrs, _keras(call)))


# --- activations ----------------------------------------------------------------------------------------------------


@converts("Activation")
def activation_layer(b: Builder, call: Call) -> Ref:
    return activate(b, _one(call), activation_name(call.layer), call.name, _keras(call))


@converts("ReLU")
def relu_layer(b: Builder, call: Call) -> Ref:
    cfg, ref = call.config, _one(call)
    top, slope = cfg.get("max_value"), float(cfg.get("negative_slope") or 0.0)
    threshold = float(cfg.get("threshold") or 0.0)
    spec: dict[str, Any] | None = None
    if threshold == 0.0 and slope == 0.0 and top is None:
        spec = {"type": "ReLU"}
    elif threshold == 0.0 and slope == 0.0 and top is not None:
        spec = {"type": "ReLU6"} if float(top) == 6.0 else {"type": "Hardtanh", "min_val": 0.0, "max_val": float(top)}
    elif threshold == 0.0 and top is None:
        spec = {"type": "LeakyReLU", "negative_slope": slope}
    if spec is not None:
        return ref.replace(b.module(call.name, [ref], spec, keras=_keras(call)))
    attrs = {"threshold": threshold, "negative_slope": slope, "max_value": None if top is None else float(top)}
    return ref.replace(b.op(call.name, "relu_threshold", [ref], attrs, _keras(call)))


@converts("LeakyReLU")
def leaky_relu_layer(b: Builder, call: Call) -> Ref:
    ref = _one(call)
    spec = {"type": "LeakyReLU", "negative_slope": float(call.config["negative_slope"])}
    return ref.replace(b.module(call.name, [ref], spec, keras=_keras(call)))


@converts("ELU")
def elu_layer(b: Builder, call: Call) -> Ref:
    ref = _one(call)
    spec = {"type": "ELU", "alpha": float(call.config.get("alpha", 1.0))}
    return ref.replace(b.module(call.name, [ref], spec, keras=_keras(call)))


@converts("Softmax")
def softmax_layer(b: Builder, call: Call) -> Ref:
    ref, axis = _one(call), call.config.get("axis", -1)
    if isinstance(axis, list | tuple):
        if len(axis) != 1:
            raise call.fail(f"softmax over several axes {axis} is not supported")
        axis = axis[0]
    spec = {"type": "Softmax", "dim": ref.axis(int(axis))}
    return ref.replace(b.module(call.name, [ref], spec, keras=_keras(call)))


# --- merges ---------------------------------------------------------------------------------------------------------

_MERGES = {"Add": "add", "Subtract": "sub", "Multiply": "mul", "Average": "average", "Maximum": "maximum"}
_MERGES["Minimum"] = "minimum"


@converts(*_MERGES)
def merge(b: Builder, call: Call) -> Ref:
    first = call.ins[0]
    if any(r.rank != first.rank for r in call.ins):
        raise call.fail(f"merges tensors of different ranks {[(None, *r.shape) for r in call.ins]}")
    refs = [first] + [b.arrange(r, first.perm, f"{call.name}_in{i}") for i, r in enumerate(call.ins[1:], 1)]
    kind = _MERGES[type(call.layer).__name__]
    if kind in ("maximum", "minimum") and len(refs) > 2:  # the graph functions are binary
        out = refs[0]
        for i, r in enumerate(refs[1:], 1):
            name = call.name if i == len(refs) - 1 else f"{call.name}_{i}"
            out = out.replace(b.op(name, kind, [out, r], keras=_keras(call)))
        return Ref(out.node, call.out_shape, first.perm)
    return Ref(b.op(call.name, kind, refs, keras=_keras(call)), call.out_shape, first.perm)


@converts("Concatenate")
def concatenate(b: Builder, call: Call) -> Ref:
    first = call.ins[0]
    if any(r.rank != first.rank for r in call.ins):
        raise call.fail("concatenates tensors of different ranks")
    refs = [first] + [b.arrange(r, first.perm, f"{call.name}_in{i}") for i, r in enumerate(call.ins[1:], 1)]
    dim = first.axis(int(call.config.get("axis", -1)))
    return Ref(b.op(call.name, "concat", refs, {"dim": dim}, _keras(call)), call.out_shape, first.perm)
