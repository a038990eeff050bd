"""Reading netslim's JSON records, which may be partial (an older version, a run still going, a hand edit): a
missing or mistyped field reads as empty, never as an exception."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netslim.report.units import is_number


def field(record: Any, *path: str | int) -> Any:
    """``record[path[0]][path[1]]...``, or None where a step is missing.

    >>> field({"a": {"b": [1, 2]}}, "a", "b", 1), field({"a": 1}, "a", "b")
    (2, None)
    """
    for step in path:
        if isinstance(record, list) and isinstance(step, int) and -len(record) <= step < len(record):
            record = record[step]
            continue
        if not (isinstance(record, Mapping) and isinstance(step, str) and step in record):
            return None
        record = record[step]
    return record


def mapping(record: Any, *path: str | int) -> dict[str, Any]:
    value = field(record, *path)
    return dict(value) if isinstance(value, Mapping) else {}


def items(record: Any, *path: str | int) -> list[Any]:
    value = field(record, *path)
    return list(value) if isinstance(value, list | tuple) else []


def number(record: Any, *path: str | int) -> float | None:
    value = field(record, *path)
    return float(value) if is_number(value) else None


def text(record: Any, *path: str | int) -> str:
    value = field(record, *path)
    return "" if value is None else str(value)


def settings(config: Any, limit: int = 6) -> str:
    """A config's ``{"type", "data"}`` dict in one short line: its type and the scalar fields that are set.

    >>> settings({"type": "PruneConfig", "data": {"ratio": 0.5, "importance": "l1", "per_layer": {}, "seed": None}})
    'PruneConfig(ratio=0.5, importance=l1)'
    """
    data = mapping(config, "data") or mapping(config)
    kind = text(config, "type")
    shown = [
        f"{key}={value}"
        for key, value in data.items()
        if key != "type" and isinstance(value, str | int | float) and not isinstance(value, bool) and value != ""
    ]
    more = ", …" if len(shown) > limit else ""
    return f"{kind}({', '.join(shown[:limit])}{more})" if kind else ", ".join(shown[:limit]) + more


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable (a record another process is writing)."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
