"""Configs are frozen dataclasses: validated per field at construction, serialisable as {"type", "version", "data"}."""

from __future__ import annotations

import dataclasses
import enum
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from netslim.errors import ConfigError

C = TypeVar("C", bound="Config")

_REGISTRY: dict[str, type[Config]] = {}


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every netslim config. Subclasses are frozen dataclasses and validate in ``__post_init__``."""

    version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"type": ClassName, "version": n, "data": {field: value}}`` with enums as their values."""
        data = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.init}
        return {"type": type(self).__name__, "version": self.version, "data": data}

    @classmethod
    def from_dict(cls: type[C], payload: dict[str, Any]) -> C:
        """Rebuild a config from :meth:`to_dict` output (or a flat mapping of fields); unknown fields, and fields of
        the wrong kind, are a ConfigError naming them."""
        if not isinstance(payload, dict):
            raise ConfigError(f"{cls.__name__}: expected a mapping of fields, got {type(payload).__name__}")
        kind = payload.get("type", cls.__name__)
        target = _REGISTRY.get(kind) if isinstance(kind, str) else None
        if target is None or not issubclass(target, cls):
            raise ConfigError(f"config type {kind!r} is not a {cls.__name__}; known: {sorted(_REGISTRY)}")
        # {"type", "version", "data"} as to_dict writes it, or a flat mapping of fields (YAML written by hand)
        data = payload.get("data") if "data" in payload or "type" in payload else payload
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{kind}: 'data' must be a mapping of fields, got {type(data).__name__}")
        data = {k: v for k, v in data.items() if k not in ("type", "version")} if data is payload else dict(data)
        names = {f.name: f for f in dataclasses.fields(target) if f.init}
        unknown = sorted(str(k) for k in set(data) - set(names))
        if unknown:
            raise ConfigError(f"{kind}: unknown field(s) {unknown}; valid fields: {sorted(names)}")
        nested = _nested_config_types(target)
        try:
            kwargs = {k: _revive(v, nested.get(k)) for k, v in data.items()}
            return target(**kwargs)  # type: ignore[return-value]
        except ConfigError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
            # a field of the wrong kind that validation did not name: name the config and the cause
            raise ConfigError(f"{kind}: a field has the wrong kind ({type(exc).__name__}: {exc})") from None

    @classmethod
    def from_yaml(cls: type[C], path: str | Path) -> C:
        path = Path(path)
        try:
            payload = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read a YAML config ({exc})") from exc
        if not isinstance(payload, dict):
            raise ConfigError(f"{path}: expected a mapping with 'type' and 'data', got {type(payload).__name__}")
        return cls.from_dict(payload)

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _revive(value: Any, expected: type[Config] | None = None) -> Any:
    if isinstance(value, dict) and value.get("type") in _REGISTRY:
        return _REGISTRY[value["type"]].from_dict(value)
    if isinstance(value, dict) and expected is not None:
        return expected.from_dict(value)
    return value


def _nested_config_types(cls: type) -> dict[str, type[Config]]:
    """Fields of ``cls`` annotated with a Config type (``DistillConfig | None``): a plain mapping given for one is
    built into that config."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: no nested revival for that class
        return {}
    found: dict[str, type[Config]] = {}
    for name, hint in hints.items():
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and issubclass(candidate, Config):
                found[name] = candidate
                break
    return found


def check_range(
    owner: str,
    field: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ConfigError naming ``owner.field`` when ``value`` is outside the interval."""
    bad = (low is not None and (value < low or (low_open and value == low))) or (
        high is not None and (value > high or (high_open and value == high))
    )
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ConfigError(f"{owner}.{field} must be in {interval}, got {value!r}")


def coerce_enum(owner: str, field: str, enum_type: type[enum.Enum], value: Any) -> Any:
    """Turn a string into ``enum_type``; a bad value is a ConfigError that lists the choices."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        choices = [e.value for e in enum_type]
        raise ConfigError(f"{owner}.{field} must be one of {choices}, got {value!r}") from None
