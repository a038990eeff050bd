"""Per-layer prune functions: keep the given positions of one dim of one layer, in place.

Parameters are replaced by sliced copies (same module objects, so names and hooks survive); attributes such as
``out_channels`` are updated so the result is an ordinary dense module. To support a new layer type, register a
function ``(module, dim, keep) -> None`` with :func:`slicer`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from netslim.errors import UnsupportedLayerError
from netslim.structure.group import Dim

Slicer = Callable[[nn.Module, Dim, torch.Tensor], None]
_SLICERS: dict[type[nn.Module], Slicer] = {}


def slicer(*types: type[nn.Module]) -> Callable[[Slicer], Slicer]:
    """Register the prune function of a layer type."""

    def wrap(fn: Slicer) -> Slicer:
        for t in types:
            _SLICERS[t] = fn
        return fn

    return wrap


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


def apply(name: str, module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    """Keep positions ``keep`` of ``module``'s ``dim``; raises UnsupportedLayerError naming the layer otherwise."""
    fn = _SLICERS.get(type(module))
    if fn is None:
        raise UnsupportedLayerError(
            f"{name}: no prune function for {type(module).__name__}; supported: "
            f"{sorted(t.__name__ for t in _SLICERS)}. Register one with netslim.structure.slicing.slicer"
        )
    fn(module, dim, keep)


@slicer(nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def _conv(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.modules.conv._ConvNd)
    transposed = module.transposed
    n = len(keep)
    depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
    if dim is Dim.OUT:
        slice_tensor(module, "weight", 1 if transposed and not depthwise else 0, keep)
        slice_tensor(module, "bias", 0, keep)
        module.out_channels = n
        if depthwise:
            module.in_channels = module.groups = n
    else:
        slice_tensor(module, "weight", 0 if transposed else 1, keep)
        module.in_channels = n


@slicer(nn.Linear)
def _linear(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.Linear)
    if dim is Dim.OUT:
        slice_tensor(module, "weight", 0, keep)
        slice_tensor(module, "bias", 0, keep)
        module.out_features = len(keep)
    else:
        slice_tensor(module, "weight", 1, keep)
        module.in_features = len(keep)


@slicer(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def _batch_norm(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.modules.batchnorm._BatchNorm)
    for attr in ("weight", "bias", "running_mean", "running_var"):
        slice_tensor(module, attr, 0, keep)
    module.num_features = len(keep)


@slicer(nn.LayerNorm)
def _layer_norm(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.LayerNorm)
    slice_tensor(module, "weight", 0, keep)
    slice_tensor(module, "bias", 0, keep)
    module.normalized_shape = (len(keep),)


@slicer(nn.GroupNorm)
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


@slicer(nn.Embedding)
def _embedding(module: nn.Module, dim: Dim, keep: torch.Tensor) -> None:
    assert isinstance(module, nn.Embedding)
    slice_tensor(module, "weight", 1, keep)
    module.embedding_dim = len(keep)


def weight_axis(module: nn.Module, dim: Dim) -> int:
    """The axis of ``module.weight`` that holds the positions of ``dim`` (for importance scores)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        if depthwise:
            return 0
        return (1 if dim is Dim.OUT else 0) if module.transposed else (0 if dim is Dim.OUT else 1)
    if isinstance(module, nn.Linear):
        return 0 if dim is Dim.OUT else 1
    if isinstance(module, nn.Embedding):
        return 1
    return 0
