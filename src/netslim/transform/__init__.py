"""The transform contract: one :class:`Record` type, a registry that dispatches configs to their handlers
(:func:`apply_`), and recipes (ordered configs, YAML) applied by :func:`apply_recipe`."""

from netslim.transform.recipe import Recipe, apply_recipe
from netslim.transform.record import LayerChange, Record, plain
from netslim.transform.registry import apply_, handler_for, registered, transform

__all__ = [
    "LayerChange",
    "Recipe",
    "Record",
    "apply_",
    "apply_recipe",
    "handler_for",
    "plain",
    "registered",
    "transform",
]
