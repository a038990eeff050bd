"""One contract for every technique: ``verb_(model, config, *, example=None, data=None, teacher=None) -> Record``.

A technique is a config dataclass plus one handler registered against it with :func:`transform`; :func:`apply_`
dispatches any config to its handler, so recipes, the search and the CLI run every technique the same way::

    @transform("prune_", PruneConfig)
    def prune_(model, config, *, example=None, data=None, teacher=None) -> Record:
        ...

The handler changes ``model`` in place and returns a :class:`netslim.transform.Record`. What it needs beyond the
config comes through the keywords: ``example`` (an input batch, for graph capture and MACs), ``data`` (a
``Splits`` or dataset: calibration, fine-tuning, Taylor scores) and ``teacher`` (distillation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from torch import nn

from netslim.config import Config
from netslim.errors import ConfigError
from netslim.transform.record import Record

__all__ = ["Handler", "apply_", "handler_for", "registered", "transform"]


class Handler(Protocol):
    __name__: str

    def __call__(
        self, model: nn.Module, config: Any, *, example: Any = None, data: Any = None, teacher: Any = None
    ) -> Record: ...


H = TypeVar("H", bound=Callable[..., Record])

_HANDLERS: dict[type[Config], tuple[str, Callable[..., Record]]] = {}


def transform(verb: str, config_type: type[Config]) -> Callable[[H], H]:
    """Register ``fn`` as the handler of ``config_type`` under the verb name ``verb``."""

    def register(fn: H) -> H:
        _HANDLERS[config_type] = (verb, fn)
        return fn

    return register


def registered() -> dict[str, str]:
    """Config type name -> verb, for every registered technique."""
    _load_techniques()
    return {cls.__name__: verb for cls, (verb, _) in _HANDLERS.items()}


def handler_for(config: Config) -> tuple[str, Callable[..., Record]]:
    _load_techniques()
    for cls in type(config).__mro__:
        if cls in _HANDLERS:
            return _HANDLERS[cls]
    known = sorted(c.__name__ for c in _HANDLERS)
    raise ConfigError(f"no transform is registered for {type(config).__name__}; registered configs: {known}")


def apply_(
    model: nn.Module, config: Config, *, example: Any = None, data: Any = None, teacher: nn.Module | None = None
) -> Record:
    """Apply the technique ``config`` names to ``model`` in place and return its record."""
    if not isinstance(config, Config):
        raise ConfigError(f"apply_ expects a netslim Config (e.g. PruneConfig), got {type(config).__name__}")
    _, fn = handler_for(config)
    return fn(model, config, example=example, data=data, teacher=teacher)


def _load_techniques() -> None:
    # the technique packages register their handlers at import; importing netslim imports them all
    import netslim  # noqa: F401
