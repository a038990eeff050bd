"""The one layer selector: name globs (``fnmatch`` rules, case-sensitive) over module names, used by every config
field that picks layers. A glob that selects nothing is a ConfigError naming the field, the glob and the
candidates, so a typo never silently selects no layer.

Example:
    >>> names = ["conv1", "conv2", "fc1", "fc2"]
    >>> select(names, ["conv*", "fc2"], field="PruneConfig.ignore")
    ['conv1', 'conv2', 'fc2']
    >>> last_match("fc2", {"fc*": 4, "fc2": 8})
    8
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import TypeVar

from netslim.errors import ConfigError

__all__ = ["last_match", "matches", "require", "select", "shown"]

V = TypeVar("V")


def matches(name: str, globs: Iterable[str]) -> bool:
    """Whether any glob selects ``name``."""
    return any(fnmatchcase(name, glob) for glob in globs)


def shown(candidates: Sequence[str], limit: int = 40) -> str:
    """Candidates as a comma-separated list for an error message (the first ``limit`` of many)."""
    head = ", ".join(candidates[:limit])
    return head + (f", ... ({len(candidates)} in all)" if len(candidates) > limit else "")


def require(field: str, globs: Iterable[str], candidates: Sequence[str], what: str = "layer") -> None:
    """Raise ConfigError for the first glob that selects none of ``candidates``:
    ``"FIELD: selector 'x' matches no WHAT; candidate layers: ..."``."""
    for glob in globs:
        if not any(fnmatchcase(name, glob) for name in candidates):
            raise ConfigError(f"{field}: selector {glob!r} matches no {what}; candidate layers: {shown(candidates)}")


def select(candidates: Sequence[str], globs: Iterable[str], *, field: str, what: str = "layer") -> list[str]:
    """The candidates any glob selects, in candidate order; every glob must select at least one."""
    globs = list(globs)
    require(field, globs, candidates, what)
    return [name for name in candidates if matches(name, globs)]


def last_match(name: str, mapping: Mapping[str, V], default: V | None = None) -> V | None:
    """The value of the last glob in ``mapping`` that selects ``name`` (later entries win), else ``default``."""
    found = default
    for glob, value in mapping.items():
        if fnmatchcase(name, glob):
            found = value
    return found
