"""A recipe: an ordered list of technique configs, applied by one function, stored as YAML.

The YAML form names each step by its verb (the ``{"type", "data"}`` form of :meth:`Config.to_dict` works too)::

    steps:
      - prune: {ratio: 0.5, importance: l1}
      - finetune: {epochs: 2, distill: {temperature: 4.0, alpha: 0.7}}
      - quantize: {weights: int8, activations: uint8}
    export: {quant_format: qoperator}

Example:
    >>> from netslim.structure import PruneConfig
    >>> recipe = Recipe.from_mapping({"steps": [{"prune": {"ratio": 0.25}}]})
    >>> recipe.steps == (PruneConfig(ratio=0.25),)
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from netslim import atomic
from netslim.config import Config
from netslim.errors import ConfigError
from netslim.transform.record import Record
from netslim.transform.registry import apply_, handler_for, registered

__all__ = ["Recipe", "apply_recipe"]


@dataclasses.dataclass(frozen=True)
class Recipe(Config):
    """``steps``: configs applied in order by :func:`apply_recipe`; ``export``: an ``ExportConfig`` for the
    artifact a recipe run writes (None: the default export); ``seed``: the torch seed set before each step, so that
    the same recipe on the same model gives the same model wherever it runs."""

    steps: tuple[Config, ...] = ()
    export: Config | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        steps = tuple(_step(s, i) for i, s in enumerate(self.steps))
        for i, step in enumerate(steps):
            handler_for(step)  # a config no technique handles is an error now, not after minutes of work
            if type(step).__name__ == "ExportConfig":
                raise ConfigError(f"Recipe.steps[{i}]: export is not an in-place step; give it as Recipe.export")
        object.__setattr__(self, "steps", steps)
        if isinstance(self.export, Mapping):
            object.__setattr__(self, "export", _export_config(self.export))

    @classmethod
    def from_mapping(cls, payload: Mapping[str, Any], source: str = "recipe") -> Recipe:
        """A recipe from the YAML form (``steps`` as ``{verb: fields}`` items) or :meth:`to_dict` output."""
        if not isinstance(payload, Mapping):
            raise ConfigError(f"{source}: a recipe is a mapping with 'steps', got {type(payload).__name__}")
        if payload.get("type") == cls.__name__:
            payload = payload.get("data") or {}
        unknown = sorted(set(payload) - {"steps", "export", "seed"})
        if unknown:
            raise ConfigError(f"{source}: unknown recipe field(s) {unknown}; a recipe has steps, export and seed")
        steps = payload.get("steps") or []
        if not isinstance(steps, list):
            raise ConfigError(f"{source}: 'steps' must be a list of {{verb: fields}} items")
        export = payload.get("export")
        return cls(
            steps=tuple(_step(s, i, source) for i, s in enumerate(steps)),
            export=None if export is None else _export_config(export, source),
            seed=_seed(payload.get("seed", 0), source),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> Recipe:  # type: ignore[override]
        path = Path(path)
        try:
            payload = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read a YAML recipe ({exc})") from exc
        return cls.from_mapping(payload or {}, str(path))

    def to_yaml(self) -> str:
        """The YAML form (steps by verb) that :meth:`from_yaml` reads back to an equal recipe."""
        verbs = registered()
        steps = [{_short(verbs[type(s).__name__]): s.to_dict()["data"]} for s in self.steps]
        payload: dict[str, Any] = {"steps": steps, "seed": self.seed}
        if self.export is not None:
            payload["export"] = self.export.to_dict()["data"]
        return yaml.safe_dump(payload, sort_keys=False)

    def save(self, path: str | Path) -> Path:
        atomic.write_text(path, self.to_yaml())
        return Path(path)


def apply_recipe(
    model: nn.Module,
    recipe: Recipe,
    *,
    example: Any = None,
    data: Any = None,
    teacher: nn.Module | None = None,
    on_step: Callable[[int, Config], None] | None = None,
) -> list[Record]:
    """Apply every step of ``recipe`` to ``model`` in place, in order; one record per step."""
    import torch

    records = []
    for i, step in enumerate(recipe.steps):
        if on_step is not None:
            on_step(i, step)
        torch.manual_seed(recipe.seed + i)
        records.append(apply_(model, step, example=example, data=data, teacher=teacher))
    return records


def _seed(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: 'seed' must be an integer, got {value!r}")
    return value


def _short(verb: str) -> str:
    return verb.rstrip("_")


def _step(step: Any, index: int, source: str = "Recipe") -> Config:
    if isinstance(step, Config):
        return step
    if isinstance(step, Mapping) and "type" in step:
        return Config.from_dict(dict(step))
    if isinstance(step, Mapping) and len(step) == 1:
        ((verb, fields),) = step.items()
        by_verb = {_short(v): name for name, v in registered().items()}
        if verb not in by_verb:
            raise ConfigError(f"{source}: steps[{index}]: unknown verb {verb!r}; known: {sorted(by_verb)}")
        if fields is not None and not isinstance(fields, Mapping):
            raise ConfigError(f"{source}: steps[{index}] ({verb}): fields must be a mapping, got {fields!r}")
        return Config.from_dict({"type": by_verb[verb], "data": dict(fields or {})})
    raise ConfigError(f"{source}: steps[{index}] must be {{verb: {{field: value}}}}, got {step!r}")


def _export_config(fields: Any, source: str = "Recipe") -> Config:
    if isinstance(fields, Config):
        return fields
    if not isinstance(fields, Mapping):
        raise ConfigError(f"{source}: 'export' must be a mapping of ExportConfig fields, got {fields!r}")
    payload = dict(fields) if "type" in fields else {"type": "ExportConfig", "data": dict(fields)}
    return Config.from_dict(payload)
