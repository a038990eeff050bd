"""The layer-rule registry: what each layer type needs when its width changes, in one place.

A :class:`LayerRule` says, for one family of layers, how to keep some positions of one side (``slice``: structured
pruning), which weight axis holds a side's channels (``weight_axis``: importance scores), and how to re-derive the
size attributes from tensors of new shapes (``sync``: loading a pruned model). Structure and persistence both read
it; to support a new layer type, register its three functions::

    @layer_rule(MyLayer, weight_axis=lambda module, dim: 0, sync=lambda module, old: ...)
    def _my_layer(module, dim, keep): ...

Example:
    >>> import torch
    >>> layer = nn.Linear(8, 4)
    >>> slice_layer("fc", layer, Dim.OUT, torch.tensor([0, 2]))
    >>> layer.out_features, tuple(layer.weight.shape), weight_axis(layer, Dim.IN)
    (2, (2, 8), 1)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from netslim.errors import UnsupportedLayerError

__all__ = ["Dim", "LayerRule", "layer_rule", "layer_types", "rule_for", "slice_layer", "slice_tensor", "weight_axis"]


class Dim(str, enum.Enum):
    """Which side of a layer a group slices: its produced channels (``out``) or its consumed channels (``in``).

    Norm layers and depthwise convs map channel ``i`` to channel ``i`` and are listed as ``out``."""

    OUT = "out"
    IN = "in"


Slicer = Callable[[nn.Module, Dim, torch.Tensor], None]
Axis = Callable[[nn.Module, Dim], int]
Sync = Callable[[nn.Module, dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class LayerRule:
    types: tuple[type[nn.Module], ...]
    slice: Slicer
    weight_axis: Axis
    sync: Sync


_RULES: dict[type[nn.Module], LayerRule] = {}


def layer_rule(*types: type[nn.Module], weight_axis: Axis, sync: Sync) -> Callable[[Slicer], Slicer]:
    """Register the rule of ``types``: the decorated function slices, ``weight_axis`` and ``sync`` as described."""

    def register(fn: Slicer) -> Slicer:
        rule = LayerRule(tuple(types), fn, weight_axis, sync)
        for t in types:
            _RULES[t] = rule
        return fn

    return register


def rule_for(module: nn.Module) -> LayerRule | None:
    """The rule of ``module``'s type or of its nearest registered base class."""
    for klass in type(module).__mro__:
        if klass in _RULES:
            return _RULES[klass]
    return None


def layer_types() -> tuple[type[nn.Module], ...]:
    """Every registered layer type (exact types: the dependency graph treats subclasses as opaque)."""
    return tuple(_RULES)


def slice_layer(name: str, module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    """Keep positions ``keep`` of ``module``'s ``dim``, in place; UnsupportedLayerError names the layer otherwise."""
    rule = _RULES.get(type(module))
    if rule is None:
        raise UnsupportedLayerError(
            f"{name}: no prune function for {type(module).__name__}; supported: "
            f"{sorted(t.__name__ for t in _RULES)}. Register one with netslim.models.layers.layer_rule"
        )
    rule.slice(module, dim, keep)


def weight_axis(module: nn.Module, dim: Dim) -> int:
    """The axis of ``module.weight`` that holds the positions of ``dim`` (0 for layers without a rule)."""
    rule = rule_for(module)
    return 0 if rule is None else rule.weight_axis(module, dim)


def slice_tensor(module: nn.Module, attr: str, axis: int, keep: torch.Tensor) -> None:
    """Replace parameter/buffer ``attr`` by its ``keep`` entries along ``axis`` (no-op when it is None)."""
    value = getattr(module, attr, None)
    if value is None:
        return
    sliced = value.detach().index_select(axis, keep.to(value.device)).clone()
    if isinstance(value, nn.Parameter):
        setattr(module, attr, nn.Parameter(sliced, requires_grad=value.requires_grad))
    else:
        module.register_buffer(attr, sliced)


# --- convolutions ------------------------------------------------------------------------------------------------


def _depthwise(module: nn.modules.conv._ConvNd) -> bool:
    return module.groups > 1 and module.groups == module.in_channels == module.out_channels


def _conv_axis(module: nn.Module, dim: Dim) -> int:
    assert isinstance(module, nn.modules.conv._ConvNd)
    if _depthwise(module):
        return 0
    return (1 if dim is Dim.OUT else 0) if module.transposed else (0 if dim is Dim.OUT else 1)


def _conv_sync(module: nn.Module, old: dict[str, Any]) -> None:
    assert isinstance(module, nn.modules.conv._ConvNd)
    w = module.weight.shape
    depthwise = old["groups"] > 1 and old["groups"] == old["in"] and w[1] == 1
    if module.transposed:
        module.in_channels = w[0]
        module.groups = w[0] if depthwise else module.groups
        module.out_channels = w[1] * module.groups
    else:
        module.out_channels = w[0]
        module.groups = w[0] if depthwise else module.groups
        module.in_channels = w[1] * module.groups


@layer_rule(
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    weight_axis=_conv_axis, sync=_conv_sync,
)  # fmt: skip
def _conv(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.modules.conv._ConvNd)
    transposed = module.transposed
    n = len(keep)
    depthwise = _depthwise(module)
    if dim is Dim.OUT:
        slice_tensor(module, "weight", 1 if transposed and not depthwise else 0, keep)
        slice_tensor(module, "bias", 0, keep)
        module.out_channels = n
        if depthwise:
            module.in_channels = module.groups = n
    else:
        slice_tensor(module, "weight", 0 if transposed else 1, keep)
        module.in_channels = n


# --- linear and embedding ----------------------------------------------------------------------------------------


def _linear_sync(module: nn.Module, old: dict[str, Any]) -> None:
    assert isinstance(module, nn.Linear)
    module.out_features, module.in_features = module.weight.shape


@layer_rule(nn.Linear, weight_axis=lambda module, dim: 0 if dim is Dim.OUT else 1, sync=_linear_sync)
def _linear(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.Linear)
    if dim is Dim.OUT:
        slice_tensor(module, "weight", 0, keep)
        slice_tensor(module, "bias", 0, keep)
        module.out_features = len(keep)
    else:
        slice_tensor(module, "weight", 1, keep)
        module.in_features = len(keep)


def _embedding_sync(module: nn.Module, old: dict[str, Any]) -> None:
    assert isinstance(module, nn.Embedding)
    module.num_embeddings, module.embedding_dim = module.weight.shape


@layer_rule(nn.Embedding, weight_axis=lambda module, dim: 1, sync=_embedding_sync)
def _embedding(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.Embedding)
    slice_tensor(module, "weight", 1, keep)
    module.embedding_dim = len(keep)


# --- norms -------------------------------------------------------------------------------------------------------


def _batch_norm_sync(module: nn.Module, old: dict[str, Any]) -> None:
    assert isinstance(module, nn.modules.batchnorm._BatchNorm)
    ref = module.weight if module.weight is not None else module.running_mean
    module.num_features = ref.shape[0]  # type: ignore[union-attr]


@layer_rule(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, weight_axis=lambda m, d: 0, sync=_batch_norm_sync)
def _batch_norm(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.modules.batchnorm._BatchNorm)
    for attr in ("weight", "bias", "running_mean", "running_var"):
        slice_tensor(module, attr, 0, keep)
    module.num_features = len(keep)


def _layer_norm_sync(module: nn.Module, old: dict[str, Any]) -> None:
    assert isinstance(module, nn.LayerNorm)
    if module.weight is not None:
        module.normalized_shape = tuple(module.weight.shape)


@layer_rule(nn.LayerNorm, weight_axis=lambda m, d: 0, sync=_layer_norm_sync)
def _layer_norm(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.LayerNorm)
    slice_tensor(module, "weight", 0, keep)
    slice_tensor(module, "bias", 0, keep)
    module.normalized_shape = (len(keep),)


def _group_norm_sync(module: nn.Module, old: dict[str, Any]) -> None:
    assert isinstance(module, nn.GroupNorm)
    if module.weight is not None:
        if module.num_groups == module.num_channels:
            module.num_groups = module.weight.shape[0]
        module.num_channels = module.weight.shape[0]


@layer_rule(nn.GroupNorm, weight_axis=lambda m, d: 0, sync=_group_norm_sync)
def _group_norm(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.GroupNorm)
    if module.num_groups == module.num_channels:
        module.num_groups = len(keep)
    if len(keep) % module.num_groups:
        raise UnsupportedLayerError(
            f"GroupNorm({module.num_groups} groups): cannot keep {len(keep)} channels, not a multiple of the groups"
        )
    slice_tensor(module, "weight", 0, keep)
    slice_tensor(module, "bias", 0, keep)
    module.num_channels = len(keep)
