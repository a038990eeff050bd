"""What a structural transform changed: per layer shapes, parameters and MACs before and after."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from netslim.analyze.profile import ModelProfile


@dataclasses.dataclass(frozen=True)
class LayerChange:
    name: str
    type: str
    old_shape: tuple[int, ...]
    new_shape: tuple[int, ...]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int


@dataclasses.dataclass(frozen=True)
class GroupChange:
    """One dependency group: channels before/after and the group channel indices removed."""

    name: str
    before: int
    after: int
    removed: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class PruneRecord:
    """The result of :func:`prune_`, :func:`resize_`, :func:`remove_channels_` or :func:`remove_blocks_`."""

    verb: str
    config: dict[str, Any]
    groups: tuple[GroupChange, ...]
    layers: tuple[LayerChange, ...]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int

    @property
    def param_ratio(self) -> float:
        return self.params_after / self.params_before if self.params_before else 1.0

    @property
    def mac_ratio(self) -> float:
        return self.macs_after / self.macs_before if self.macs_before else 1.0

    def summary(self) -> str:
        return (
            f"{self.verb}: params {self.params_before:,} -> {self.params_after:,} ({self.param_ratio:.1%}), "
            f"MACs {self.macs_before:,} -> {self.macs_after:,} ({self.mac_ratio:.1%}), "
            f"{len(self.layers)} layers changed"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def weight_shape(module: nn.Module) -> tuple[int, ...]:
    weight = getattr(module, "weight", None)
    if weight is not None:
        return tuple(weight.shape)
    return tuple(p.shape[0] for p in module.parameters(recurse=False))


def layer_changes(
    model: nn.Module,
    names: list[str],
    old: dict[str, tuple[tuple[int, ...], int]],
    before: ModelProfile,
    after: ModelProfile,
) -> tuple[LayerChange, ...]:
    """Rows for ``names`` from the shapes/params saved in ``old`` and the two profiles."""

    def macs(profile: ModelProfile, name: str) -> int:
        return next((row.macs for row in profile.layers if row.name == name), 0)

    rows = []
    for name in names:
        module = model.get_submodule(name)
        shape, params = old[name]
        rows.append(
            LayerChange(
                name=name,
                type=type(module).__name__,
                old_shape=shape,
                new_shape=weight_shape(module),
                params_before=params,
                params_after=sum(p.numel() for p in module.parameters()),
                macs_before=macs(before, name),
                macs_after=macs(after, name),
            )
        )
    return tuple(rows)
