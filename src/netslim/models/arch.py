"""The architecture record: how to rebuild a model netslim produced, without pickle.

A model built by the zoo (or a Hugging Face model) carries an :class:`Architecture` as ``model.netslim_arch``;
every transform that changes the module tree notes what it did there (module replacements, removed blocks, new
layer widths, attention head counts, quantized-layer swaps), and :func:`netslim.models.load_model` replays the
notes in order before loading the weights. It is stored as JSON in ``model.json``.

Example:
    >>> arch = Architecture(zoo="seed_cnn", input_shape=(1, 8, 8), num_classes=10)
    >>> Architecture.from_dict(arch.to_dict()) == arch
    True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from torch import nn

from netslim.errors import ModelLoadError

__all__ = ["Architecture", "ModuleEdit", "QuantEdit", "architecture_of"]


@dataclasses.dataclass
class ModuleEdit:
    """A module put at ``path`` (``module``: a JSON spec, see ``persist.module_spec``), or the activation fused into
    an ``nn.TransformerEncoderLayer`` at ``path`` (``fused_activation``)."""

    path: str
    module: dict[str, Any] | None = None
    fused_activation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.module is not None:
            out["module"] = self.module
        if self.fused_activation is not None:
            out["fused_activation"] = self.fused_activation
        return out


@dataclasses.dataclass
class QuantEdit:
    """Layers swapped for their quantized twins by ``quantize_``/``qat_``: the config (``to_dict()``) whose
    per-layer spec rebuilds each, learned step sizes (``lsq``), and the (layer, batchnorm) pairs folded first."""

    config: dict[str, Any]
    layers: tuple[str, ...]
    lsq: bool = False
    folded: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "layers": list(self.layers),
            "lsq": self.lsq,
            "folded": [list(p) for p in self.folded],
        }


@dataclasses.dataclass
class Architecture:
    """Where the model comes from (``zoo`` + ``input_shape``/``num_classes``/``kwargs``, a Hugging Face
    ``hf_class`` + ``hf_config``, or a ``graph`` spec of a model converted from Keras 3 or ONNX, see
    :mod:`netslim.models.graphnet`) and every structural change since, in the order they are replayed at load."""

    zoo: str | None = None
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    hf_class: str | None = None
    hf_config: dict[str, Any] | None = None
    graph: dict[str, Any] | None = None
    wrapper: dict[str, Any] | None = None
    edits: list[ModuleEdit] = dataclasses.field(default_factory=list)
    replaced: dict[str, str] = dataclasses.field(default_factory=dict)
    shapes: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    heads: dict[str, int] = dataclasses.field(default_factory=dict)
    quant: list[QuantEdit] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.input_shape is not None:
            self.input_shape = tuple(int(s) for s in self.input_shape)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.zoo is not None:
            out.update(zoo=self.zoo, input_shape=list(self.input_shape or ()), num_classes=self.num_classes)
            out["kwargs"] = self.kwargs
        if self.hf_class is not None:
            out.update(hf_class=self.hf_class, hf_config=self.hf_config)
        if self.graph is not None:
            out["graph"] = self.graph
        if self.wrapper is not None:
            out["wrapper"] = self.wrapper
        if self.edits:
            out["edits"] = [e.to_dict() for e in self.edits]
        for name in ("replaced", "shapes", "heads"):
            if getattr(self, name):
                out[name] = dict(getattr(self, name))
        if self.quant:
            out["quant"] = [q.to_dict() for q in self.quant]
        return out

    @classmethod
    def from_dict(cls, payload: Any, source: str = "architecture") -> Architecture:
        """Validate and rebuild; a field of the wrong kind is a ModelLoadError naming it."""
        if not isinstance(payload, dict):
            raise ModelLoadError(f"{source}: expected a JSON object, got {type(payload).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ModelLoadError(f"{source}: unknown field(s) {unknown}; written by a newer netslim?")
        if payload.get("zoo") is None and payload.get("hf_class") is None and payload.get("graph") is None:
            raise ModelLoadError(
                f"{source}: names neither a zoo model ('zoo'), a Hugging Face class ('hf_class') nor a graph ('graph')"
            )
        try:
            return cls(
                zoo=_opt(payload, "zoo", str, source),
                input_shape=_shape(payload.get("input_shape"), source),
                num_classes=_opt(payload, "num_classes", int, source),
                kwargs=_of(payload, "kwargs", dict, source),
                hf_class=_opt(payload, "hf_class", str, source),
                hf_config=_opt(payload, "hf_config", dict, source),
                graph=_opt(payload, "graph", dict, source),
                wrapper=_opt(payload, "wrapper", dict, source),
                edits=[_edit(e, source) for e in _of(payload, "edits", list, source)],
                replaced={str(k): str(v) for k, v in _of(payload, "replaced", dict, source).items()},
                shapes={str(k): [int(d) for d in v] for k, v in _of(payload, "shapes", dict, source).items()},
                heads={str(k): int(v) for k, v in _of(payload, "heads", dict, source).items()},
                quant=[_quant(q, source) for q in _of(payload, "quant", list, source)],
            )
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"{source}: malformed architecture ({exc})") from None


def architecture_of(model: nn.Module, *, create: bool = False) -> Architecture | None:
    """The model's :class:`Architecture` (an old-style dict is upgraded in place). With ``create``, a Hugging Face
    model without one gets one; other models without one return None (netslim cannot rebuild them)."""
    arch = getattr(model, "netslim_arch", None)
    if isinstance(arch, dict):
        arch = Architecture.from_dict(arch)
        setattr(model, "netslim_arch", arch)  # noqa: B010 - a plain attribute, not a submodule
    if arch is None and create:
        inner: Any = model
        wrapper: dict[str, Any] | None = None
        spec_of = getattr(model, "wrapper_spec", None)
        if callable(spec_of) and isinstance(getattr(model, "model", None), nn.Module):
            inner, wrapper = model.model, spec_of()  # a one-tensor wrapper of a Hugging Face model
        config: Any = getattr(inner, "config", None)
        if type(inner).__module__.startswith("transformers.") and hasattr(config, "to_dict"):
            arch = Architecture(hf_class=type(inner).__name__, hf_config=config.to_dict(), wrapper=wrapper)
            setattr(model, "netslim_arch", arch)  # noqa: B010
    return arch if isinstance(arch, Architecture) else None


def _opt(payload: dict[str, Any], key: str, kind: type, source: str) -> Any:
    value = payload.get(key)
    if value is not None and not isinstance(value, kind):
        raise ModelLoadError(f"{source}: '{key}' must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _of(payload: dict[str, Any], key: str, kind: type, source: str) -> Any:
    value = _opt(payload, key, kind, source)
    return kind() if value is None else value


def _shape(value: Any, source: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value or not all(isinstance(s, int) and 0 < s < 2**20 for s in value):
        raise ModelLoadError(f"{source}: 'input_shape' must be a list of positive sizes, got {value!r}")
    if len(value) > 8 or math.prod(value) > 1 << 26:  # bounded before anything is built for it
        raise ModelLoadError(f"{source}: 'input_shape' {value!r} is implausibly large for one sample")
    return tuple(value)


def _edit(entry: Any, source: str) -> ModuleEdit:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise ModelLoadError(f"{source}: every edit needs a 'path', got {entry!r}")
    return ModuleEdit(entry["path"], entry.get("module"), entry.get("fused_activation"))


def _quant(entry: Any, source: str) -> QuantEdit:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ModelLoadError(f"{source}: every quant entry needs a 'config', got {entry!r}")
    layers = entry.get("layers", [])
    folded = entry.get("folded", [])
    if not isinstance(layers, list) or not all(isinstance(n, str) for n in layers):
        raise ModelLoadError(f"{source}: quant 'layers' must be a list of layer names, got {layers!r}")
    if not isinstance(folded, list) or not all(isinstance(p, list) and len(p) == 2 for p in folded):
        raise ModelLoadError(f"{source}: quant 'folded' must be a list of [layer, batchnorm] pairs, got {folded!r}")
    return QuantEdit(entry["config"], tuple(layers), bool(entry.get("lsq", False)), tuple((a, b) for a, b in folded))
