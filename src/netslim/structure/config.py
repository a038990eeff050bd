"""The pruning config: one frozen dataclass, validated per field (errors name ``PruneConfig.<field>``)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from netslim.config import Config, check_range, coerce_enum
from netslim.errors import ConfigError
from netslim.select import matches


def matches_any(names: list[str], glob: str) -> bool:
    return any(matches(name, (glob,)) for name in names)


class Importance(str, enum.Enum):
    """How a group channel is scored (lowest scores are removed first)."""

    L1 = "l1"  # sum of |w| over every conv/linear/embedding slice of the channel in the group
    L2 = "l2"  # sum over members of the L2 norm of each member's slice
    BN_SCALE = "bn_scale"  # |gamma| of the group's norm layers (network slimming); L2 where a group has none
    TAYLOR = "taylor"  # first-order Taylor |w * dL/dw| accumulated over a few batches (needs data)
    RANDOM = "random"  # a seeded random baseline


class Scope(str, enum.Enum):
    """``uniform``: every group loses ``ratio`` of its channels. ``global``: the lowest-scoring ``ratio`` of all
    prunable channels go, scores normalized by each group's mean, so layers end up with different widths."""

    UNIFORM = "uniform"
    GLOBAL = "global"


@dataclasses.dataclass(frozen=True)
class PruneConfig(Config):
    """Channel pruning of every dependency group.

    ``per_layer`` overrides the ratio for groups produced by layers matching a glob (``{"conv*": 0.3}``);
    ``ignore`` keeps the output channels of matching layers; ``round_to`` keeps channel counts multiples of it;
    ``min_channels`` is the least a group keeps. Attention-head groups (Q/K/V rows + out-proj columns per head) are
    pruned like any group, a whole head per group channel; ``heads`` sets their ratio apart (``0.0`` keeps every
    head; ``None``: ``ratio``); ``round_to`` does not apply to head counts, and with ``scope="global"`` head groups
    are still pruned group by group (heads and channels are not comparable units). Taylor importance uses
    ``taylor_batches`` batches of ``taylor_batch_size`` samples from the data passed to :func:`prune_`.
    """

    ratio: float = 0.5
    heads: float | None = None
    importance: Importance | str = Importance.L1
    scope: Scope | str = Scope.UNIFORM
    per_layer: Mapping[str, float] = dataclasses.field(default_factory=dict)
    round_to: int | None = None
    ignore: tuple[str, ...] = ()
    min_channels: int = 1
    seed: int = 0
    taylor_batches: int = 4
    taylor_batch_size: int = 64

    def __post_init__(self) -> None:
        owner = "PruneConfig"
        check_range(owner, "ratio", self.ratio, 0.0, 1.0, high_open=True)
        if self.heads is not None:
            check_range(owner, "heads", self.heads, 0.0, 1.0, high_open=True)
        object.__setattr__(self, "importance", coerce_enum(owner, "importance", Importance, self.importance))
        object.__setattr__(self, "scope", coerce_enum(owner, "scope", Scope, self.scope))
        if not isinstance(self.per_layer, Mapping):
            raise ConfigError(f"{owner}.per_layer must map layer globs to ratios, got {self.per_layer!r}")
        for glob, ratio in self.per_layer.items():
            check_range(owner, f"per_layer[{glob!r}]", ratio, 0.0, 1.0, high_open=True)
        object.__setattr__(self, "per_layer", dict(self.per_layer))
        if isinstance(self.ignore, str):
            raise ConfigError(f"{owner}.ignore must be a tuple of layer globs, got the string {self.ignore!r}")
        object.__setattr__(self, "ignore", tuple(self.ignore))
        if self.round_to is not None and self.round_to < 1:
            raise ConfigError(f"{owner}.round_to must be None or >= 1, got {self.round_to!r}")
        for field in ("min_channels", "taylor_batches", "taylor_batch_size"):
            if getattr(self, field) < 1:
                raise ConfigError(f"{owner}.{field} must be >= 1, got {getattr(self, field)!r}")

    def ratio_for(self, producers: list[str], *, heads: bool = False) -> float:
        """The ratio of a group: the first ``per_layer`` glob matching one of its producing layers, else ``heads``
        for an attention-head group when set, else ``ratio``."""
        for glob, ratio in self.per_layer.items():
            if matches_any(producers, glob):
                return float(ratio)
        return float(self.heads if heads and self.heads is not None else self.ratio)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict()


@dataclasses.dataclass(frozen=True)
class ResizeConfig(Config):
    """Explicit output widths (``{"fc1": 64, "conv2": 32}``; keys are layer globs) for :func:`resize_`: the most
    important units are kept (``importance``) and every coupled layer is sliced. Widths can only shrink."""

    widths: Mapping[str, int] = dataclasses.field(default_factory=dict)
    importance: Importance | str = Importance.L1
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.widths, Mapping) or not self.widths:
            raise ConfigError(f"ResizeConfig.widths must map layer globs to widths, got {self.widths!r}")
        for glob, width in self.widths.items():
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise ConfigError(f"ResizeConfig.widths[{glob!r}] must be a positive integer, got {width!r}")
        object.__setattr__(self, "widths", dict(self.widths))
        object.__setattr__(self, "importance", coerce_enum("ResizeConfig", "importance", Importance, self.importance))


@dataclasses.dataclass(frozen=True)
class RemoveChannelsConfig(Config):
    """Exact output channels to remove (``{"conv1": [0, 5]}``) for :func:`remove_channels_`; the coupled channels
    of every other layer go with them."""

    channels: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.channels, Mapping) or not self.channels:
            raise ConfigError(f"RemoveChannelsConfig.channels must map layer names to indices, got {self.channels!r}")
        clean = {}
        for layer, indices in self.channels.items():
            if isinstance(indices, int | str) or not all(isinstance(i, int) and i >= 0 for i in indices):
                raise ConfigError(
                    f"RemoveChannelsConfig.channels[{layer!r}] must be a list of channel indices, got {indices!r}"
                )
            clean[layer] = tuple(int(i) for i in indices)
        object.__setattr__(self, "channels", clean)


@dataclasses.dataclass(frozen=True)
class RemoveBlocksConfig(Config):
    """Blocks (module paths) that :func:`remove_blocks_` replaces by ``nn.Identity``: each must map one tensor to
    one of the same shape (a residual block)."""

    blocks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        blocks = (self.blocks,) if isinstance(self.blocks, str) else tuple(self.blocks)
        if not blocks:
            raise ConfigError("RemoveBlocksConfig.blocks must name at least one block")
        object.__setattr__(self, "blocks", blocks)
