"""Dependency groups: the sets of (layer, dim, channel mapping) that must lose the same channels together."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from netslim.models.layers import Dim


@dataclass(frozen=True)
class Member:
    """One layer side in a group: ``channels[p]`` is the group channel that position ``p`` of this dim belongs to."""

    module: str
    dim: Dim
    type: str
    channels: tuple[int, ...]
    note: str = ""

    def positions(self, group_channels: set[int]) -> list[int]:
        """Positions of this dim that belong to any of ``group_channels``."""
        return [p for p, c in enumerate(self.channels) if c in group_channels]

    def describe(self) -> str:
        per = len(self.channels) // max(1, len(set(self.channels)))
        block = f", {per} positions per channel" if per > 1 else ""
        note = f" ({self.note})" if self.note else ""
        return f"{self.module}.{self.dim.value} [{self.type}, {len(self.channels)} positions{block}]{note}"


@dataclass(frozen=True)
class Group:
    """Channels that are removed together. ``frozen`` maps a group channel to the reason it must stay."""

    name: str
    members: tuple[Member, ...]
    size: int
    frozen: dict[int, str] = field(default_factory=dict)
    couplings: tuple[str, ...] = ()
    multiple_of: int = 1
    attention: tuple[str, ...] = ()  # attention modules whose heads these group channels are
    head_dim: int = 0  # positions per head in the Q/K/V projections (0: not a head group)

    @property
    def is_heads(self) -> bool:
        """Whether each group channel is a whole attention head (Q/K/V rows + out-proj columns)."""
        return bool(self.attention)

    @property
    def prunable(self) -> list[int]:
        """Group channels that may be removed."""
        return [c for c in range(self.size) if c not in self.frozen]

    @property
    def producers(self) -> list[str]:
        """Layers whose output channels this group is (the names that selectors match)."""
        return [m.module for m in self.members if m.dim is Dim.OUT]

    @property
    def is_frozen(self) -> bool:
        return not self.prunable

    def frozen_reasons(self) -> list[str]:
        return sorted(set(self.frozen.values()))

    def explain(self) -> str:
        """A human explanation: which layers and dims are coupled, why, and what is frozen."""
        unit = "attention heads" if self.is_heads else "channels"
        lines = [f"group {self.name!r}: {self.size} {unit}, {len(self.prunable)} prunable"]
        if self.is_heads:
            lines.append(
                f"  attention heads of {', '.join(self.attention)}: Q/K/V rows and out-proj columns per head "
                f"({self.head_dim} positions per head; whole heads are removed, the head size stays)"
            )
        if self.multiple_of > 1:
            lines.append(f"  kept channel count must be a multiple of {self.multiple_of} (GroupNorm groups)")
        lines.append("  members (pruned together):")
        lines += [f"    - {m.describe()}" for m in self.members]
        if self.couplings:
            lines.append("  coupled because:")
            lines += [f"    - {why}" for why in self.couplings]
        for reason in self.frozen_reasons():
            count = sum(1 for r in self.frozen.values() if r == reason)
            lines.append(f"  frozen ({count} channels): {reason}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "prunable": len(self.prunable),
            "members": [{"module": m.module, "dim": m.dim.value, "type": m.type, "note": m.note} for m in self.members],
            "couplings": list(self.couplings),
            "frozen": self.frozen_reasons(),
            "attention": list(self.attention),
            "head_dim": self.head_dim,
        }


@dataclass(frozen=True)
class StructureReport:
    """Every dependency group of a model: those with prunable channels and those entirely frozen."""

    model: str
    groups: tuple[Group, ...]

    @property
    def prunable(self) -> list[Group]:
        return [g for g in self.groups if not g.is_frozen]

    @property
    def frozen(self) -> list[Group]:
        return [g for g in self.groups if g.is_frozen]

    def __iter__(self) -> Iterator[Group]:
        return iter(self.groups)

    def group(self, layer: str) -> Group:
        """The group that holds ``layer``'s output channels."""
        for g in self.groups:
            if any(m.module == layer and m.dim is Dim.OUT for m in g.members):
                return g
        raise KeyError(f"no group produces {layer!r}; producers: {self.layer_names()}")

    def layer_names(self) -> list[str]:
        names: dict[str, None] = {}
        for g in self.groups:
            for m in g.members:
                names.setdefault(m.module, None)
        return list(names)

    def explain(self) -> str:
        head = f"{self.model}: {len(self.prunable)} prunable groups, {len(self.frozen)} frozen"
        return "\n".join([head, *(g.explain() for g in self.groups)])

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "groups": [g.to_dict() for g in self.groups]}
