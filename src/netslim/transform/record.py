"""The one record every transform returns: what changed, per layer, and the costs before and after.

Example:
    >>> row = LayerChange("fc1", "Linear", "pruned", (128, 64), (64, 64), 8320, 4160)
    >>> record = Record("prune_", {}, (row,), params_before=8320, params_after=4160)
    >>> record.param_ratio, record["fc1"].change
    (0.5, 'pruned')
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["LayerChange", "Record", "plain"]


@dataclasses.dataclass(frozen=True)
class LayerChange:
    """One layer a transform touched: its type after, how it changed (``"pruned"``, ``"quantized"``,
    ``"factorized"``, ``"replaced"``, ``"sparsified"``, ``"shared"``, ``"kernel"``, ``"activation"``, ``"removed"``,
    ``"kept"``), weight shapes and costs before and after, and ``detail``: what the verb measured for that layer
    (SQNR, bits, rank, kept fraction, ...). ``note`` says in words why or how (why a layer was left alone)."""

    name: str
    type: str
    change: str
    old_shape: tuple[int, ...] = ()
    new_shape: tuple[int, ...] = ()
    params_before: int = 0
    params_after: int = 0
    macs_before: int | None = None
    macs_after: int | None = None
    note: str = ""
    detail: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # verb-specific measurements read like fields (``row.sqnr_db``); a missing one is an AttributeError
        detail = self.__dict__.get("detail", {})
        if name in detail:
            return detail[name]
        raise AttributeError(f"LayerChange of {self.__dict__.get('name')!r} has no field or detail {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


@dataclasses.dataclass(frozen=True)
class Record:
    """What one verb did to a model. ``config`` is the config's ``to_dict()``; ``details`` holds verb-level
    results (dependency groups, training history, calibration, file sizes); MACs are None when no example input was
    given; bytes are those of the float parameters and buffers (``4 * numel`` for fp32) unless the verb measured a
    file."""

    verb: str
    config: dict[str, Any]
    layers: tuple[LayerChange, ...] = ()
    params_before: int = 0
    params_after: int = 0
    macs_before: int | None = None
    macs_after: int | None = None
    bytes_before: int | None = None
    bytes_after: int | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # verb-level results read like fields (``record.groups``, ``record.folded``)
        details = self.__dict__.get("details", {})
        if name in details:
            return details[name]
        raise AttributeError(f"Record of {self.__dict__.get('verb')!r} has no field or detail {name!r}")

    def __getitem__(self, name: str) -> LayerChange:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"{self.verb}: layer {name!r} is not in the record; changed layers: {self.names}")

    @property
    def names(self) -> list[str]:
        return [row.name for row in self.layers]

    @property
    def param_ratio(self) -> float:
        return self.params_after / self.params_before if self.params_before else 1.0

    @property
    def mac_ratio(self) -> float:
        if not self.macs_before or self.macs_after is None:
            return 1.0
        return self.macs_after / self.macs_before

    def summary(self) -> str:
        parts = [f"{self.verb}: {len(self.layers)} layers changed"]
        if self.params_before:
            parts.append(f"params {self.params_before:,} -> {self.params_after:,} ({self.param_ratio:.1%})")
        if self.macs_before and self.macs_after is not None:
            parts.append(f"MACs {self.macs_before:,} -> {self.macs_after:,} ({self.mac_ratio:.1%})")
        if self.bytes_before and self.bytes_after is not None:
            parts.append(f"bytes {self.bytes_before:,} -> {self.bytes_after:,}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return plain(
            {
                "verb": self.verb,
                "config": self.config,
                "layers": [row.to_dict() for row in self.layers],
                "params_before": self.params_before,
                "params_after": self.params_after,
                "macs_before": self.macs_before,
                "macs_after": self.macs_after,
                "bytes_before": self.bytes_before,
                "bytes_after": self.bytes_after,
                "details": self.details,
            }
        )


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses and records as dicts, enums as values, tuples as lists, non-finite
    floats as strings (JSON has no NaN)."""
    if hasattr(value, "to_dict") and callable(value.to_dict) and not isinstance(value, type):
        return plain(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
