"""Swap activation functions (the seed's 4.2.2: a dense layer's relu -> tanh), by layer name glob or by type.

Activation modules (ReLU, Tanh, GELU, SiLU, Hardswish, Sigmoid, LeakyReLU) are replaced; the activation fused
inside ``nn.TransformerEncoderLayer`` (its ``activation`` attribute, a function or a module) is selected as
``<layer>.activation`` and swapped too. Weights are untouched, so the model usually needs fine-tuning afterwards.

>>> from torch import nn
>>> from netslim.models import build_model
>>> model = build_model("seed_mlp", (1, 8, 8))
>>> record = swap_activation_(model, SwapActivationConfig({"act1": "tanh"}))
>>> type(model.act1).__name__, record["act1"].note
('Tanh', 'ReLU -> Tanh')
>>> config = SwapActivationConfig({"type:Tanh": ActivationConfig("leaky_relu", negative_slope=0.1)})
>>> record = swap_activation_(model, config)
>>> model.act1.negative_slope
0.1
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netslim.config import Config, check_range, coerce_enum
from netslim.errors import ConfigError
from netslim.models.persist import module_spec, set_fused_activation
from netslim.select import matches
from netslim.structure.edit import note_edit, replace, run_edit
from netslim.transform import LayerChange, Record, transform


class Activation(str, enum.Enum):
    RELU = "relu"
    TANH = "tanh"
    GELU = "gelu"
    SILU = "silu"
    HARDSWISH = "hardswish"
    SIGMOID = "sigmoid"
    LEAKY_RELU = "leaky_relu"


TYPES: dict[Activation, type[nn.Module]] = {
    Activation.RELU: nn.ReLU,
    Activation.TANH: nn.Tanh,
    Activation.GELU: nn.GELU,
    Activation.SILU: nn.SiLU,
    Activation.HARDSWISH: nn.Hardswish,
    Activation.SIGMOID: nn.Sigmoid,
    Activation.LEAKY_RELU: nn.LeakyReLU,
}
_FUNCTIONS: dict[Any, type[nn.Module]] = {F.relu: nn.ReLU, F.gelu: nn.GELU}  # nn.TransformerEncoderLayer's strings


@dataclasses.dataclass(frozen=True)
class ActivationConfig(Config):
    """The activation to put in: ``name`` (relu, tanh, gelu, silu, hardswish, sigmoid, leaky_relu);
    ``negative_slope`` for leaky_relu; ``approximate`` ('none' or 'tanh') for gelu."""

    name: Activation | str = Activation.RELU
    negative_slope: float = 0.01
    approximate: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", coerce_enum("ActivationConfig", "name", Activation, self.name))
        check_range("ActivationConfig", "negative_slope", self.negative_slope, 0.0, 1.0)
        if self.approximate not in ("none", "tanh"):
            raise ConfigError(f"ActivationConfig.approximate must be 'none' or 'tanh', got {self.approximate!r}")

    def build(self) -> nn.Module:
        if self.name is Activation.LEAKY_RELU:
            return nn.LeakyReLU(self.negative_slope)
        if self.name is Activation.GELU:
            return nn.GELU(approximate=self.approximate)
        return TYPES[Activation(self.name)]()


@dataclasses.dataclass(frozen=True)
class SwapActivationConfig(Config):
    """Which activations :func:`swap_activation_` replaces and by what. Keys of ``mapping`` are layer name globs
    (``"act1"``, ``"*"``), activation types as ``"type:ReLU"`` (or the class, ``nn.ReLU``); values are activation
    names or :class:`ActivationConfig`; later keys win."""

    mapping: Mapping[str, ActivationConfig] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.mapping, Mapping) or not self.mapping:
            raise ConfigError(f"SwapActivationConfig.mapping must map selectors to activations, got {self.mapping!r}")
        clean: dict[str, ActivationConfig] = {}
        for key, value in self.mapping.items():
            name = _key_name(key)
            if isinstance(value, ActivationConfig):
                clean[name] = value
            elif isinstance(value, Mapping):
                clean[name] = ActivationConfig.from_dict(dict(value))
            else:
                clean[name] = ActivationConfig(value)
        object.__setattr__(self, "mapping", clean)


@transform("swap_activation_", SwapActivationConfig)
def swap_activation_(
    model: nn.Module,
    config: SwapActivationConfig,
    *,
    example: torch.Tensor | None = None,
    data: Any = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Replace activations, in place, as ``config.mapping`` says. A key that selects no activation is a ConfigError
    naming what it hit. With ``example`` the record carries MACs and the output MSE."""
    if not isinstance(config, SwapActivationConfig):
        raise ConfigError(f"swap_activation_ expects a SwapActivationConfig, got {type(config).__name__}")
    found = _candidates(model)
    chosen: dict[str, ActivationConfig] = {}
    for key, cfg in config.mapping.items():
        chosen.update(dict.fromkeys(_select(model, found, key), cfg))

    def apply() -> tuple[list[LayerChange], dict[str, str], list[Any]]:
        rows, notes = [], {}
        for name, cfg in chosen.items():
            current, layer = found[name]
            new = cfg.build()
            old_name = current.__name__ if not isinstance(current, nn.Module) else type(current).__name__
            if isinstance(current, nn.Module) and module_spec(current) == module_spec(new):
                continue  # already this activation
            if layer is not None:
                set_fused_activation(model.get_submodule(layer), new)
                note_edit(model, {"path": layer, "fused_activation": module_spec(new)})
            else:
                replace(model, name, new)
            rows.append(LayerChange(name, type(new).__name__, "activation"))
            notes[name] = f"{old_name} -> {type(new).__name__}"
        return rows, notes, []

    return run_edit("swap_activation_", config.to_dict(), model, example, apply)


def _candidates(model: nn.Module) -> dict[str, tuple[Any, str | None]]:
    """Activation name -> (the module or function, the TransformerEncoderLayer it is fused into or None)."""
    found: dict[str, tuple[Any, str | None]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, nn.TransformerEncoderLayer):
            act = module.activation
            if isinstance(act, tuple(TYPES.values())) or act in _FUNCTIONS:
                found[f"{name}.activation" if name else "activation"] = (act, name)
        elif name and isinstance(module, tuple(TYPES.values())) and f"{name}" not in found:
            found[name] = (module, None)
    return found


def _select(model: nn.Module, found: dict[str, tuple[Any, str | None]], key: str | type[nn.Module]) -> list[str]:
    if isinstance(key, str) and key.startswith("type:"):
        by_name = {t.__name__: t for t in TYPES.values()}
        if key[5:] not in by_name:
            raise ConfigError(
                f"swap_activation_: {key[5:]!r} is not a swappable activation type; known: {sorted(by_name)}"
            )
        key = by_name[key[5:]]
    if isinstance(key, type):
        if key not in TYPES.values():
            known = ", ".join(t.__name__ for t in TYPES.values())
            raise ConfigError(f"swap_activation_: {key.__name__} is not a swappable activation type; known: {known}")
        hits = [n for n, (act, _) in found.items() if isinstance(act, key) or _FUNCTIONS.get(act) is key]
        if not hits:
            raise ConfigError(
                f"swap_activation_: the model has no {key.__name__} activation; found: {', '.join(found)}"
            )
        return hits
    if not isinstance(key, str):
        raise ConfigError(f"swap_activation_: keys are name globs or activation types, got {key!r}")
    hits = [n for n in found if matches(n, (key,))]
    if not hits:
        other = next((n for n, _ in model.named_modules() if n and matches(n, (key,))), None)
        if other is not None:
            seen = type(model.get_submodule(other)).__name__
            raise ConfigError(f"swap_activation_: layer {other!r} is a {seen}, not an activation")
        raise ConfigError(f"swap_activation_: selector {key!r} matches no activation; activations: {', '.join(found)}")
    return hits


def _key_name(key: str | type[nn.Module]) -> str:
    return key if isinstance(key, str) else f"type:{key.__name__}"
