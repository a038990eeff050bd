"""Layer selection by name glob. A selector that matches nothing is a ConfigError naming it and the candidates."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from netslim.errors import ConfigError


def matches(name: str, globs: Iterable[str]) -> bool:
    return any(fnmatchcase(name, glob) for glob in globs)


def check_selectors(field: str, selectors: Iterable[str], candidates: list[str]) -> None:
    """Raise ConfigError for the first selector in ``selectors`` that matches none of ``candidates``."""
    for glob in selectors:
        if not any(fnmatchcase(name, glob) for name in candidates):
            shown = ", ".join(candidates[:40]) + (f", ... ({len(candidates)} in all)" if len(candidates) > 40 else "")
            raise ConfigError(f"{field}: selector {glob!r} matches no layer; candidate layers: {shown}")
