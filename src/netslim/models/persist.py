"""Save and load models without pickle: ``model.json`` (architecture description) + ``weights.pt`` (a state_dict
read back with ``torch.load(weights_only=True)``, which refuses arbitrary objects)."""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netslim import atomic
from netslim.errors import ModelLoadError
from netslim.models.arch import Architecture, ModuleEdit, QuantEdit, architecture_of
from netslim.models.layers import rule_for
from netslim.models.zoo import build_model

FORMAT = "netslim-model"
FORMAT_VERSION = 1


def architecture(model: nn.Module) -> Architecture:
    """The architecture record netslim can rebuild ``model`` from: a zoo name and its arguments, or a Hugging
    Face model class and its config, plus every structural edit netslim recorded."""
    arch = architecture_of(model, create=True)
    if arch is None:
        raise ModelLoadError(
            f"{type(model).__name__} has no netslim architecture description; build it with "
            "netslim.models.build_model(...) (or use a Hugging Face transformers model) so that it can be saved "
            "without pickle"
        )
    if arch.hf_class is not None and arch.zoo is None:  # the config as it is now
        inner = model.model if arch.wrapper is not None else model
        config: Any = getattr(inner, "config", None)
        arch.hf_config = config.to_dict() if hasattr(config, "to_dict") else arch.hf_config
    return arch


def build_from_architecture(arch: Architecture) -> nn.Module:
    """Rebuild the (untrained) model an architecture record names."""
    if arch.zoo is not None:
        return build_model(arch.zoo, arch.input_shape or (1, 28, 28), arch.num_classes or 10, **arch.kwargs)
    if arch.graph is not None:
        from netslim.models.graphnet import GraphNet

        return GraphNet(arch.graph)
    try:
        import transformers
    except ImportError as exc:
        raise ModelLoadError("this model needs Hugging Face transformers: pip install 'netslim[hf]'") from exc
    cls = getattr(transformers, str(arch.hf_class), None)
    if cls is None:
        raise ModelLoadError(f"transformers {transformers.__version__} has no model class {arch.hf_class!r}")
    model = cls(cls.config_class.from_dict(arch.hf_config or {}))
    if arch.wrapper is not None:
        from netslim.models.hf import wrap

        return wrap(model, arch.wrapper)
    return model


def save_model(
    model: nn.Module,
    directory: str | Path,
    *,
    extra: dict[str, Any] | None = None,
    files: dict[str, bytes] | None = None,
) -> Path:
    """Write ``model`` to ``directory`` atomically; return the directory. ``files``: further files by bare name
    that travel with the model (a pretrained model's tokenizer)."""
    for name in files or {}:
        if Path(name).name != name or name in ("model.json", "weights.pt") or name.startswith("."):
            raise ModelLoadError(f"save_model: extra file name {name!r} must be a bare name other than netslim's own")
    arch = architecture(model).to_dict()
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "architecture": arch, "extra": extra or {}}
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    with atomic.directory(directory) as tmp:
        (tmp / "weights.pt").write_bytes(buffer.getvalue())
        (tmp / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        for name, data in (files or {}).items():
            (tmp / name).write_bytes(data)
    return Path(directory)


def load_model(directory: str | Path) -> nn.Module:
    """Rebuild a model saved by :func:`save_model`, in eval mode."""
    directory = Path(directory)
    meta_path, weights_path = directory / "model.json", directory / "weights.pt"
    if not meta_path.is_file() or not weights_path.is_file():
        raise ModelLoadError(f"{directory}: expected a netslim model directory with model.json and weights.pt")
    try:
        meta = json.loads(meta_path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelLoadError(f"{meta_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelLoadError(f"{meta_path}: format is {found!r}, expected {FORMAT!r}")
    arch = Architecture.from_dict(meta.get("architecture"), f"{meta_path}: architecture")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise ModelLoadError(f"{weights_path}: not a readable weights file ({type(exc).__name__}: {exc})") from exc
    return rebuild(arch, state, str(weights_path))


def rebuild(arch: Architecture, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """The model ``arch`` describes with the weights ``state``, in eval mode: the architecture is built, every
    recorded edit replayed in order, layers resized to the saved shapes, then the weights loaded (strictly)."""
    model = build_from_architecture(arch)
    try:
        apply_edits(model, arch.edits)
        _replace_blocks(model, arch.replaced)
        reconcile_shapes(model, state)
        apply_head_counts(model, arch.heads)
        apply_quant(model, arch.quant, state)
        reference = model.state_dict()
        state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
        model.load_state_dict(state)
    except ModelLoadError:
        raise
    except Exception as exc:
        what = arch.zoo or arch.hf_class or "the converted graph"
        raise ModelLoadError(f"{source}: cannot load weights into {what} ({exc})") from exc
    setattr(model, "netslim_arch", arch)  # noqa: B010 - keeps the edits for the next save
    return model.eval()


Rebuilder = Callable[[nn.Module, QuantEdit, dict[str, torch.Tensor]], None]
_REBUILDERS: dict[str, Rebuilder] = {}


def rebuilder(kind: str) -> Callable[[Rebuilder], Rebuilder]:
    """Register how a technique package re-applies its recorded module swaps at load (``"quant"``: quantized
    layers); the technique owns that knowledge, models/ only replays it."""

    def register(fn: Rebuilder) -> Rebuilder:
        _REBUILDERS[kind] = fn
        return fn

    return register


def apply_quant(model: nn.Module, entries: list[QuantEdit], state: dict[str, torch.Tensor]) -> None:
    """Re-apply the quantized-layer swaps recorded by ``quantize_``/``qat_``, in order."""
    if not entries:
        return
    if "quant" not in _REBUILDERS:
        import netslim  # noqa: F401 - importing the package registers every technique's rebuilder
    for entry in entries:
        _REBUILDERS["quant"](model, entry, state)


def reconcile_shapes(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Resize every layer with a rule (``models.layers``) whose saved tensors differ in shape (a pruned model), in
    place.

    Shape-driven and model-agnostic: each parameter/buffer is replaced by an empty tensor of the saved shape (the
    state_dict fills it) and the layer's size attributes are re-derived from the weights. Returns the layers changed.
    """
    changed = []
    for name, module in model.named_modules():
        rule = rule_for(module)
        if rule is None:
            continue
        old = {"in": getattr(module, "in_channels", 0), "groups": getattr(module, "groups", 1)}
        resized = False
        tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        for attr, value in tensors:
            saved = state.get(f"{name}.{attr}" if name else attr)
            if saved is None or saved.shape == value.shape:
                continue
            empty = torch.empty(saved.shape, dtype=value.dtype)
            if isinstance(value, nn.Parameter):
                setattr(module, attr, nn.Parameter(empty, requires_grad=value.requires_grad))
            else:
                module.register_buffer(attr, empty)
            resized = True
        if resized:
            rule.sync(module, old)
            changed.append(name)
    return changed


def _replace_blocks(model: nn.Module, replaced: dict[str, str]) -> None:
    """Re-apply block removals recorded in ``arch["replaced"]`` (``{"block1": "identity"}``)."""
    for path, kind in replaced.items():
        if kind != "identity":
            raise ModelLoadError(f"architecture: block {path!r} was replaced by {kind!r}; only 'identity' is known")
        parent, _, child = path.rpartition(".")
        try:
            setattr(model.get_submodule(parent), child, nn.Identity())
        except AttributeError as exc:
            raise ModelLoadError(f"architecture: replaced block {path!r} does not exist in the model") from exc


# Modules a structural edit may put into a model, with the constructor arguments that rebuild them from JSON.
SPEC_ARGS: dict[str, tuple[str, ...]] = {
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode"),
    "Conv1d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode"),
    "Linear": ("in_features", "out_features"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine"),
    "Embedding": ("num_embeddings", "embedding_dim", "padding_idx"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "AdaptiveAvgPool2d": ("output_size",),
    "Flatten": ("start_dim", "end_dim"),
    "Dropout": ("p",),
    "Softmax": ("dim",),
    "ReLU": (),
    "ReLU6": (),
    "Tanh": (),
    "GELU": ("approximate",),
    "SiLU": (),
    "Hardswish": (),
    "Hardsigmoid": (),
    "Sigmoid": (),
    "Softplus": ("beta", "threshold"),
    "ELU": ("alpha",),
    "LeakyReLU": ("negative_slope",),
    "PReLU": ("num_parameters",),
    "Identity": (),
    # activations and dropout a Keras 3 model can name (models/keras_in.py)
    "SELU": (),
    "CELU": ("alpha",),
    "Softsign": (),
    "Mish": (),
    "LogSigmoid": (),
    "LogSoftmax": ("dim",),
    "Hardtanh": ("min_val", "max_val"),
    "Tanhshrink": (),
    "Softshrink": ("lambd",),
    "Hardshrink": ("lambd",),
    "Dropout2d": ("p",),
}
# layers whose optional bias is a constructor flag (``bias=True``) rather than an argument value
_BIAS_FLAG = ("Conv2d", "Conv1d", "Linear", "LayerNorm")


def module_spec(module: nn.Module) -> dict[str, Any]:
    """A JSON description of ``module`` (a Sequential of the :data:`SPEC_ARGS` types) that rebuilds it untrained."""
    kind = type(module).__name__
    if type(module) is nn.Sequential:
        return {"type": "Sequential", "children": [[n, module_spec(c)] for n, c in module.named_children()]}
    if kind not in SPEC_ARGS or type(module) is not getattr(nn, kind):
        raise ModelLoadError(f"{kind} cannot be described for save_model; known: Sequential, {', '.join(SPEC_ARGS)}")
    spec: dict[str, Any] = {"type": kind}
    for arg in SPEC_ARGS[kind]:
        value = getattr(module, arg)
        spec[arg] = list(value) if isinstance(value, tuple) else value
    if kind in _BIAS_FLAG:
        spec["bias"] = getattr(module, "bias", None) is not None
    return spec


def module_from_spec(spec: dict[str, Any]) -> nn.Module:
    """The (untrained) module :func:`module_spec` describes; ``load_state_dict`` fills its weights."""
    kind = spec.get("type")
    if kind == "Sequential":
        return nn.Sequential(OrderedDict((name, module_from_spec(child)) for name, child in spec["children"]))
    if kind not in SPEC_ARGS:
        raise ModelLoadError(f"architecture: unknown module type {kind!r} in an edit; known: {', '.join(SPEC_ARGS)}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k != "type"}
    return getattr(nn, kind)(**args)


def set_fused_activation(layer: nn.Module, activation: nn.Module) -> None:
    """Set the activation an ``nn.TransformerEncoderLayer`` applies inside its feed-forward block (keeping its fused
    fast path for ReLU and exact GELU, which it recognises by ``activation_relu_or_gelu``)."""
    if not isinstance(layer, nn.TransformerEncoderLayer):
        raise ModelLoadError(f"a fused activation can only be set on nn.TransformerEncoderLayer, not {type(layer)}")
    layer.activation = activation
    exact_gelu = isinstance(activation, nn.GELU) and activation.approximate == "none"
    layer.activation_relu_or_gelu = 1 if isinstance(activation, nn.ReLU) else 2 if exact_gelu else 0


def replace_module(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent), child, module)


def apply_edits(model: nn.Module, edits: list[ModuleEdit]) -> None:
    """Re-apply the module replacements recorded in the architecture by netslim.structure, in order: a module
    spec at a path, or the activation fused into an ``nn.TransformerEncoderLayer``."""
    for edit in edits:
        path = edit.path
        try:
            if edit.fused_activation is not None:
                set_fused_activation(model.get_submodule(path), module_from_spec(edit.fused_activation))
            else:
                replace_module(model, path, module_from_spec(edit.module or {}))
        except (AttributeError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"architecture: cannot re-apply the edit of {path!r} ({exc})") from exc


# Attributes through which attention modules (Hugging Face and others) know their head count.
HEAD_COUNTS = ("num_attention_heads", "num_heads", "n_heads", "n_head")


def set_head_count(module: nn.Module, heads: int) -> None:
    """Tell an attention module it now has ``heads`` heads (after head pruning): its head-count attribute and, where
    it keeps one, ``all_head_size`` (heads * ``attention_head_size``)."""
    for attr in HEAD_COUNTS:
        if isinstance(getattr(module, attr, None), int):
            setattr(module, attr, heads)
    size = getattr(module, "attention_head_size", None)
    if isinstance(size, int) and isinstance(getattr(module, "all_head_size", None), int):
        setattr(module, "all_head_size", heads * size)  # noqa: B010 - a plain int attribute


def apply_head_counts(model: nn.Module, heads: dict[str, int]) -> None:
    """Re-apply the per-module head counts recorded in ``arch["heads"]`` by head pruning."""
    for path, count in heads.items():
        try:
            set_head_count(model.get_submodule(path), int(count))
        except AttributeError as exc:
            raise ModelLoadError(f"architecture: attention module {path!r} (pruned heads) does not exist") from exc


def same_model(a: nn.Module, b: nn.Module) -> bool:
    """Whether two models are the same graph with the same weights (the same module types at the same paths and
    bit-equal tensors): an unchanged candidate is the original, whatever its timing says."""
    if [(n, type(m)) for n, m in a.named_modules()] != [(n, type(m)) for n, m in b.named_modules()]:
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]) for k in sa
    )
