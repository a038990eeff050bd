"""A GraphNet back to Keras 3: the converted (possibly pruned, kernel-changed, activation-swapped, separable or
low-rank, fine-tuned) model as a Keras functional model on NHWC input, its layer shapes read from the torch modules
as they are now.

Each torch tensor is tracked as a Keras tensor and the permutation between them (an NCHW map is an NHWC Keras tensor);
Keras ``Permute`` layers are added only where a layer needs another order, and a Dense layer after a Flatten gets its
weight rows reordered from torch's (C, H, W) feature order to Keras' (H, W, C). Quantized models cannot go back:
Keras has no layer for netslim's quantized layers; export them to ONNX instead.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any

import numpy as np
from torch import nn

from netslim.errors import ConfigError, UnsupportedLayerError
from netslim.models.graphnet import GraphNet
from netslim.models.keras_build import NCHW, flat_order, identity
from netslim.models.keras_in import import_keras
from netslim.models.keras_layers import same_pads, windows

__all__ = ["to_keras"]

# torch activation modules -> Keras activation names (elementwise, default arguments only)
_NAMED = {
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.SiLU: "silu",
    nn.Hardswish: "hard_silu",
    nn.Hardsigmoid: "hard_sigmoid",
    nn.SELU: "selu",
    nn.Softsign: "softsign",
    nn.Mish: "mish",
    nn.LogSigmoid: "log_sigmoid",
    nn.Tanhshrink: "tanh_shrink",
}
_OP_NAMED = {
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "silu": "silu",
    "hardswish": "hard_silu",
    "hardsigmoid": "hard_sigmoid",
    "relu6": "relu6",
    "softplus": "softplus",
    "softsign": "softsign",
    "exp": "exponential",
}
_MERGES = {"add": "Add", "sub": "Subtract", "mul": "Multiply", "average": "Average", "maximum": "Maximum"}
_MERGES["minimum"] = "Minimum"
_ELEMENTWISE_OPS = {"identity", "scale", "gelu", "elu", "leaky_relu", "relu_threshold", *_OP_NAMED}


@dataclasses.dataclass(frozen=True, eq=False)
class KRef:
    """A torch tensor as a Keras tensor: the torch tensor is ``tensor`` permuted by ``perm``; ``order[i]`` is the
    Keras feature at torch position ``i`` of a flattened tensor (None: the same order)."""

    tensor: Any
    perm: tuple[int, ...]
    order: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.tensor.shape[1:])


def to_keras(model: GraphNet) -> Any:
    """``model`` (a GraphNet, e.g. from :func:`~netslim.models.keras_in.from_keras`) as a Keras functional model
    taking NHWC images (other inputs as the GraphNet takes them) and giving the same outputs (4D outputs NHWC)."""
    if not isinstance(model, GraphNet):
        raise ConfigError(f"to_keras takes a GraphNet (netslim.models.keras_in.from_keras), got {type(model).__name__}")
    _refuse_quantized(model)
    keras = import_keras()
    return _Emitter(keras, model).run()


def _refuse_quantized(model: nn.Module) -> None:
    arch = getattr(model, "netslim_arch", None)
    quantized = [n for n, m in model.named_modules() if type(m).__module__.startswith("netslim.quant")]
    if quantized or getattr(arch, "quant", None):
        raise ConfigError(
            f"the model is quantized by netslim ({', '.join(quantized[:3]) or 'quantize_/qat_'}); Keras has no layer "
            "for netslim's quantized layers. Export it to ONNX instead: netslim.export_onnx(model, example, "
            "'model.onnx') or `netslim export`"
        )


class _Emitter:
    def __init__(self, keras: Any, model: GraphNet) -> None:
        self.keras, self.model, self.L = keras, model, keras.layers
        self.nodes = {node["name"]: node for node in model.spec["nodes"]}
        self.used: set[str] = set()
        self.consumers: dict[str, list[str]] = defaultdict(list)
        for node in model.spec["nodes"]:
            for source in node.get("inputs", []):
                self.consumers[source].append(node["name"])
        self.outputs = set(model.spec["outputs"])

    def name(self, base: str) -> str:
        found, count = base.replace("/", "_"), 1
        while found in self.used:
            found, count = f"{base}_{count}", count + 1
        self.used.add(found)
        return found

    def fail(self, node: str, why: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"to_keras: node {node!r} {why}; Keras models support what from_keras produces")

    def run(self) -> Any:
        env: dict[str, KRef] = {}
        inputs = []
        for entry in self.model.spec["inputs"]:
            shape = tuple(entry["shape"])
            nhwc = len(shape) == 3 and entry.get("layout") == "NCHW" and entry.get("source_layout") != "NCHW"
            tensor = self.keras.Input((*shape[1:], shape[0]) if nhwc else shape, name=self.name(entry["name"]))
            inputs.append(tensor)
            env[entry["name"]] = KRef(tensor, NCHW if nhwc else identity(len(shape) + 1))
        for name, kind, attr, sources, attrs in self.model._plan:
            refs = [env[s] for s in sources]
            node = self.nodes[name]
            if kind == "module":
                env[name] = self.module(name, getattr(self.model, attr), refs, node)
            elif kind == "constant":
                raise self.fail(name, "is a constant tensor")
            else:
                env[name] = self.op(name, kind, attrs, refs, node)
        layouts = self.model.spec.get("source", {}).get("output_layouts") or []
        outs = []
        for i, name in enumerate(self.model.spec["outputs"]):
            ref = env[name]
            layout = layouts[i] if i < len(layouts) else ("NCHW" if ref.rank == 4 else None)
            outs.append(self.arrange(ref, NCHW if layout == "NCHW" else identity(ref.rank), f"{name}_output").tensor)
        title = str(self.model.spec.get("source", {}).get("model") or "netslim")
        return self.keras.Model(inputs, outs[0] if len(outs) == 1 else outs, name=title)

    # --- helpers ----------------------------------------------------------------------------------------------------

    def call(self, layer: Any, ref: KRef | list[KRef], weights: list[np.ndarray] | None = None) -> Any:
        tensor = layer([r.tensor for r in ref] if isinstance(ref, list) else ref.tensor)
        if weights is not None:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        return tensor

    def arrange(self, ref: KRef, perm: tuple[int, ...], name: str) -> KRef:
        """``ref`` with the torch tensor equal to the Keras tensor permuted by ``perm`` (a Permute layer if needed)."""
        if ref.perm == tuple(perm):
            return ref
        if ref.order is not None:
            raise self.fail(name, "reorders the features of a flattened tensor")
        inverse = [perm.index(j) for j in range(len(perm))]
        dims = tuple(ref.perm[inverse[j]] for j in range(1, len(perm)))
        return KRef(self.call(self.L.Permute(dims, name=self.name(f"{name}_permute")), ref), tuple(perm))

    def same_perm(self, refs: list[KRef], name: str) -> list[KRef]:
        return [refs[0]] + [self.arrange(r, refs[0].perm, f"{name}_in{i}") for i, r in enumerate(refs[1:], 1)]

    def keeps_order(self, name: str) -> bool:
        """Whether every reader of a flattened node (through elementwise nodes) is a Linear layer."""
        if name in self.outputs or not self.consumers.get(name):
            return False
        for reader in self.consumers[name]:
            node = self.nodes[reader]
            module = self._module_of(reader) if node["op"] == "module" else None
            if isinstance(module, nn.Linear) or (isinstance(module, nn.Sequential) and _first_linear(module)):
                continue
            elementwise = _elementwise(module) if module is not None else node["op"] in _ELEMENTWISE_OPS
            if node["op"] == "softmax" and int(node.get("attrs", {}).get("dim", -1)) in (-1, 1):
                elementwise = True
            if not elementwise or len(node.get("inputs", [])) != 1 or not self.keeps_order(reader):
                return False
        return True

    def _module_of(self, node: str) -> nn.Module:
        attr = next(a for n, _, a, _, _ in self.model._plan if n == node)
        return getattr(self.model, attr)

    # --- modules ----------------------------------------------------------------------------------------------------

    def module(self, name: str, module: nn.Module, refs: list[KRef], node: dict[str, Any] | None) -> KRef:
        ref = refs[0]
        if type(module) is nn.Sequential:
            for child, inner in module.named_children():
                ref = self.module(f"{name}_{child}", inner, [ref], None)
            return ref
        if isinstance(module, nn.Identity):
            return ref
        if isinstance(module, nn.Conv2d):
            return self.conv(name, module, ref, (node or {}).get("keras", {}).get("class") == "Dense")
        if isinstance(module, nn.Linear):
            return self.linear(name, module, ref)
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            return self.batch_norm(name, module, ref)
        if isinstance(module, nn.Dropout2d):
            ref = self.arrange(ref, NCHW, name)
            return KRef(self.call(self.L.SpatialDropout2D(module.p, name=self.name(name)), ref), ref.perm)
        if isinstance(module, nn.Dropout):
            return KRef(self.call(self.L.Dropout(module.p, name=self.name(name)), ref), ref.perm, ref.order)
        if isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
            return self.flatten(name, ref)
        if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            attrs = {k: getattr(module, k) for k in ("kernel_size", "stride", "padding", "ceil_mode")}
            attrs["count_include_pad"] = getattr(module, "count_include_pad", False)
            return self.pool(name, "max_pool2d" if isinstance(module, nn.MaxPool2d) else "avg_pool2d", attrs, ref, {})
        layer = self.activation(name, module, ref)
        if layer is None:
            raise self.fail(name, f"is a {type(module).__name__}, which to_keras does not convert")
        return KRef(self.call(layer, ref), ref.perm, ref.order)

    def activation(self, name: str, module: nn.Module, ref: KRef) -> Any:
        L, title = self.L, self.name(name)
        kind = type(module)
        if kind in _NAMED:
            return L.Activation(_NAMED[kind], name=title)
        if kind is nn.ReLU:
            return L.ReLU(name=title)
        if kind is nn.ReLU6:
            return L.ReLU(max_value=6.0, name=title)
        if isinstance(module, nn.Hardtanh) and module.min_val == 0.0:
            return L.ReLU(max_value=float(module.max_val), name=title)
        if isinstance(module, nn.Hardtanh) and (module.min_val, module.max_val) == (-1.0, 1.0):
            return L.Activation("hard_tanh", name=title)
        if isinstance(module, nn.LeakyReLU):
            return L.LeakyReLU(negative_slope=float(module.negative_slope), name=title)
        if isinstance(module, nn.ELU):
            return L.ELU(alpha=float(module.alpha), name=title)
        if isinstance(module, nn.GELU) and module.approximate == "none":
            return L.Activation("gelu", name=title)
        if isinstance(module, nn.Softplus) and module.beta == 1.0 and module.threshold >= 20.0:
            return L.Activation("softplus", name=title)
        if isinstance(module, nn.CELU) and module.alpha == 1.0:
            return L.Activation("celu", name=title)
        if isinstance(module, nn.Softshrink | nn.Hardshrink) and module.lambd == 0.5:
            return L.Activation("soft_shrink" if isinstance(module, nn.Softshrink) else "hard_shrink", name=title)
        if isinstance(module, nn.Softmax):
            return L.Softmax(axis=ref.perm[(module.dim if module.dim is not None else -1) % ref.rank], name=title)
        if isinstance(module, nn.LogSoftmax) and ref.perm[(module.dim or -1) % ref.rank] == ref.rank - 1:
            return L.Activation("log_softmax", name=title)
        return None

    def conv(self, name: str, module: nn.Conv2d, ref: KRef, was_dense: bool) -> KRef:
        if module.padding_mode != "zeros":
            raise self.fail(name, f"pads with {module.padding_mode!r}; Keras convolutions pad with zeros")
        ref = self.arrange(ref, NCHW, name)
        weight = module.weight.detach().cpu().numpy()
        bias = None if module.bias is None else module.bias.detach().cpu().numpy()
        out, per_group, kh, kw = weight.shape
        groups, channels = module.groups, per_group * module.groups
        kernel, stride, dilation = (kh, kw), tuple(module.stride), tuple(module.dilation)
        padding = "valid"
        if module.padding == "same":
            padding = "same"
        elif module.padding != "valid" and any(module.padding):
            pads = _pair(module.padding)
            if stride == (1, 1) and all(2 * pads[i] == dilation[i] * (kernel[i] - 1) for i in range(2)):
                padding = "same"
            else:
                layer = self.L.ZeroPadding2D(pads, name=self.name(f"{name}_pad"))
                ref = KRef(self.call(layer, ref), ref.perm)
        extra = [] if bias is None else [bias]
        L, title = self.L, self.name(name)
        common = {"strides": stride, "padding": padding, "dilation_rate": dilation, "use_bias": bias is not None}
        if was_dense and kernel == (1, 1) and groups == 1 and stride == (1, 1) and padding == "valid":
            layer = L.Dense(out, use_bias=bias is not None, name=title)
            return KRef(self.call(layer, ref, [weight[:, :, 0, 0].T, *extra]), ref.perm)
        if groups > 1 and groups == channels and out % channels == 0:
            multiplier = out // channels
            layer = L.DepthwiseConv2D(kernel, depth_multiplier=multiplier, name=title, **common)
            depthwise = weight.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1)
            return KRef(self.call(layer, ref, [depthwise, *extra]), ref.perm)
        layer = L.Conv2D(out, kernel, groups=groups, name=title, **common)
        return KRef(self.call(layer, ref, [weight.transpose(2, 3, 1, 0), *extra]), ref.perm)

    def linear(self, name: str, module: nn.Linear, ref: KRef) -> KRef:
        weight = module.weight.detach().cpu().numpy()  # (out, in)
        kernel = weight.T
        if ref.order is not None:
            kernel = np.empty_like(kernel)
            kernel[ref.order] = weight.T
        elif ref.perm[-1] != ref.rank - 1:
            ref = self.arrange(ref, identity(ref.rank), name)
        extra = [] if module.bias is None else [module.bias.detach().cpu().numpy()]
        layer = self.L.Dense(weight.shape[0], use_bias=module.bias is not None, name=self.name(name))
        return KRef(self.call(layer, KRef(ref.tensor, ref.perm), [kernel, *extra]), ref.perm)

    def batch_norm(self, name: str, module: nn.BatchNorm1d | nn.BatchNorm2d, ref: KRef) -> KRef:
        if not module.track_running_stats or module.running_mean is None or module.running_var is None:
            raise self.fail(name, "normalizes with batch statistics at inference (track_running_stats=False)")
        momentum = 0.99 if module.momentum is None else 1.0 - float(module.momentum)
        layer = self.L.BatchNormalization(
            axis=ref.perm[1],
            epsilon=float(module.eps),
            momentum=round(momentum, 10),
            center=module.affine,
            scale=module.affine,
            name=self.name(name),
        )
        stats = [module.running_mean.detach().cpu().numpy(), module.running_var.detach().cpu().numpy()]
        affine = [module.weight.detach().cpu().numpy(), module.bias.detach().cpu().numpy()] if module.affine else []
        return KRef(self.call(layer, ref, [*affine, *stats]), ref.perm)

    # --- functions --------------------------------------------------------------------------------------------------

    def op(self, name: str, kind: str, attrs: dict[str, Any], refs: list[KRef], node: dict[str, Any]) -> KRef:
        L, ref = self.L, refs[0]
        role = node.get("keras", {}).get("role")
        if kind == "identity" or (kind == "slice" and role == "same_crop"):
            return ref
        if kind in _MERGES:
            refs = self.same_perm(refs, name)
            return KRef(self.call(getattr(L, _MERGES[kind])(name=self.name(name)), refs), refs[0].perm)
        if kind == "concat":
            refs = self.same_perm(refs, name)
            axis = refs[0].perm[int(attrs.get("dim", 1)) % ref.rank]
            return KRef(self.call(L.Concatenate(axis=axis, name=self.name(name)), refs), refs[0].perm)
        if kind == "flatten" and (int(attrs.get("start_dim", 1)), int(attrs.get("end_dim", -1)) % ref.rank) == (
            1,
            ref.rank - 1,
        ):
            return self.flatten(name, ref)
        if kind == "permute":
            return KRef(ref.tensor, tuple(ref.perm[d] for d in attrs["dims"]), ref.order)
        if kind == "reshape":
            return self.reshape(name, attrs, ref)
        if kind in ("max_pool2d", "avg_pool2d"):
            return self.pool(name, kind, attrs, ref, node.get("keras", {}))
        if kind in ("global_avg_pool", "global_max_pool"):
            ref = self.arrange(ref, NCHW, name)
            keep = bool(attrs.get("keepdim", True))
            cls = L.GlobalAveragePooling2D if kind == "global_avg_pool" else L.GlobalMaxPooling2D
            return KRef(self.call(cls(keepdims=keep, name=self.name(name)), ref), NCHW if keep else identity(2))
        if kind == "pad":
            return self.pad(name, attrs, ref)
        layer = self.function(name, kind, attrs, ref)
        if layer is None:
            raise self.fail(name, f"is the graph function {kind!r}, which to_keras does not convert")
        return KRef(self.call(layer, ref), ref.perm, ref.order)

    def function(self, name: str, kind: str, attrs: dict[str, Any], ref: KRef) -> Any:
        L, title = self.L, self.name(name)
        if kind in _OP_NAMED:
            return L.Activation(_OP_NAMED[kind], name=title)
        if kind == "scale":
            return L.Rescaling(float(attrs["factor"]), offset=float(attrs.get("offset", 0.0)), name=title)
        if kind == "gelu" and attrs.get("approximate", "none") == "none":
            return L.Activation("gelu", name=title)
        if kind == "elu":
            return L.ELU(alpha=float(attrs.get("alpha", 1.0)), name=title)
        if kind == "leaky_relu":
            return L.LeakyReLU(negative_slope=float(attrs.get("negative_slope", 0.01)), name=title)
        if kind == "softmax":
            return L.Softmax(axis=ref.perm[int(attrs.get("dim", -1)) % ref.rank], name=title)
        if kind == "relu_threshold":
            top = attrs.get("max_value")
            return L.ReLU(
                max_value=None if top is None else float(top),
                negative_slope=float(attrs.get("negative_slope", 0.0)),
                threshold=float(attrs.get("threshold", 0.0)),
                name=title,
            )
        return None

    def flatten(self, name: str, ref: KRef) -> KRef:
        if ref.rank <= 2:
            return ref
        order = flat_order(ref.shape, ref.perm, identity(ref.rank))
        if order is not None and not self.keeps_order(name):
            ref, order = self.arrange(ref, identity(ref.rank), name), None
        return KRef(self.call(self.L.Flatten(name=self.name(name)), ref), identity(2), order)

    def reshape(self, name: str, attrs: dict[str, Any], ref: KRef) -> KRef:
        ref = self.arrange(ref, identity(ref.rank), name)
        shape = [int(s) for s in attrs["shape"]]
        if not shape or shape[0] not in (0, -1) or (shape[0] == -1 and -1 in shape[1:]):
            raise self.fail(name, f"reshapes to {shape}, which fixes or infers the batch size")
        target = tuple(ref.shape[i - 1] if s == 0 else s for i, s in enumerate(shape) if i > 0)
        layer = self.L.Reshape(target, name=self.name(name))
        return KRef(self.call(layer, ref), identity(len(shape)))

    def pad(self, name: str, attrs: dict[str, Any], ref: KRef) -> KRef:
        pads = [int(p) for p in attrs["pads"]]
        if float(attrs.get("value", 0.0)) != 0.0 or len(pads) != 4 or min(pads) < 0 or ref.rank != 4:
            raise self.fail(name, f"pads {pads} with {attrs.get('value', 0.0)}; Keras pads two spatial axes with zeros")
        ref = self.arrange(ref, NCHW, name)
        left, right, top, bottom = pads
        layer = self.L.ZeroPadding2D(((top, bottom), (left, right)), name=self.name(name))
        return KRef(self.call(layer, ref), NCHW)

    def pool(self, name: str, kind: str, attrs: dict[str, Any], ref: KRef, keras: dict[str, Any]) -> KRef:
        ref = self.arrange(ref, NCHW, name)
        kernel = _pair(attrs["kernel_size"])
        stride = _pair(attrs.get("stride") or kernel)
        pads, ceil = _pair(attrs.get("padding") or 0), bool(attrs.get("ceil_mode", False))
        size = ref.shape[:2]
        padding = "same" if keras.get("padding") == "same" else None
        if padding is None and pads == (0, 0) and not ceil:
            padding = "valid"
        elif padding is None and (kind == "max_pool2d" or not attrs.get("count_include_pad", False)):
            same = all(
                pads[i] == same_pads(size[i], kernel[i], stride[i])[0]
                and windows(size[i], kernel[i], stride[i], pads[i], ceil) == math.ceil(size[i] / stride[i])
                for i in (0, 1)
            )
            padding = "same" if same else None
        if padding is None:
            raise self.fail(name, f"pools with padding {pads} (ceil_mode={ceil}), which is neither 'valid' nor 'same'")
        cls = self.L.MaxPooling2D if kind == "max_pool2d" else self.L.AveragePooling2D
        layer = cls(kernel, strides=stride, padding=padding, name=self.name(name))
        return KRef(self.call(layer, ref), NCHW)


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _first_linear(module: nn.Sequential) -> bool:
    children = list(module.children())
    return bool(children) and isinstance(children[0], nn.Linear)


_ELEMENTWISE = (nn.ReLU, nn.Hardtanh, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Softplus, nn.CELU, nn.Dropout, nn.Identity)


def _elementwise(module: nn.Module) -> bool:
    if isinstance(module, nn.Softmax | nn.LogSoftmax):
        return module.dim in (-1, 1, None)
    return type(module) in _NAMED or isinstance(module, (*_ELEMENTWISE, nn.Softshrink, nn.Hardshrink))
