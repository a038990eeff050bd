"""What a structural transform changed: the dependency groups it cut and one :class:`LayerChange` per layer."""

from __future__ import annotations

import dataclasses

from torch import nn

from netslim.analyze.profile import ModelProfile
from netslim.transform import LayerChange


@dataclasses.dataclass(frozen=True)
class GroupChange:
    """One dependency group: channels before/after and the group channel indices removed."""

    name: str
    before: int
    after: int
    removed: tuple[int, ...]


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
    change: str = "pruned",
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
                change=change,
                old_shape=shape,
                new_shape=weight_shape(module),
                params_before=params,
                params_after=sum(p.numel() for p in module.parameters()),
                macs_before=macs(before, name),
                macs_after=macs(after, name),
            )
        )
    return tuple(rows)
