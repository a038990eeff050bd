"""The bookkeeping under the Keras converters: tensor references that remember their axis order, and the builder
that emits graph-spec nodes and the weights that go into them.

A Keras image tensor is channels-last (N, H, W, C); the GraphNet holds it channels-first (N, C, H, W) so that
netslim's channel pruning follows convolutions through flattens. Each converted tensor is a :class:`Ref`: the node
that computes it, its Keras shape, and ``perm``, the permutation that turns the Keras tensor into the torch tensor
(``(0, 3, 1, 2)`` for an image held as NCHW, the identity for a tensor held as Keras holds it). Permutes are emitted
only where a layer needs another order (:meth:`Builder.arrange`). A flatten of an NCHW tensor that only Dense layers
read keeps torch's (C, H, W) feature order and says which Keras feature each position holds (``order``); the Dense
weights are reordered instead of the tensor.

>>> b = Builder()
>>> image = Ref("x", (8, 8, 3), NCHW)
>>> image.axis(-1), image.axis(1)
(1, 2)
>>> plain = b.arrange(image, (0, 1, 2, 3), "conv")
>>> b.nodes[0]["op"], b.nodes[0]["attrs"], plain.node
('permute', {'dims': [0, 2, 3, 1]}, 'conv_permute')
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from netslim.errors import UnsupportedLayerError

__all__ = ["NCHW", "Builder", "Ref", "channels_first", "flat_order", "identity"]

NCHW = (0, 3, 1, 2)


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_first(rank: int, data_format: str = "channels_last") -> tuple[int, ...]:
    """The ``perm`` under which a Keras tensor of ``rank`` (batch included) has its channels on axis 1."""
    if data_format == "channels_first" or rank < 3:
        return identity(rank)
    return (0, rank - 1, *range(1, rank - 1))


@dataclasses.dataclass(frozen=True, eq=False)
class Ref:
    """A converted tensor: ``node`` computes it, ``shape`` is its Keras shape without batch, the torch tensor is the
    Keras tensor permuted by ``perm`` (batch included), and for a flattened tensor ``order[i]`` is the Keras feature
    at torch position ``i`` (None: the same order)."""

    node: str
    shape: tuple[int, ...]
    perm: tuple[int, ...]
    order: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return len(self.shape) + 1

    def axis(self, keras_axis: int) -> int:
        """The torch axis of Keras axis ``keras_axis`` (negative counts from the end, batch is axis 0)."""
        return self.perm.index(keras_axis % self.rank)

    def torch_shape(self) -> tuple[int, ...]:
        full = (1, *self.shape)
        return tuple(full[p] for p in self.perm[1:])

    def replace(self, node: str, **changes: Any) -> Ref:
        return dataclasses.replace(self, node=node, **changes)


def flat_order(shape: tuple[int, ...], perm: tuple[int, ...], keras_perm: tuple[int, ...]) -> np.ndarray | None:
    """Flattening a tensor held under ``perm`` gives features in this Keras order (Keras flattens its tensor under
    ``keras_perm``); None when the orders agree."""
    index = np.arange(math.prod(shape)).reshape(shape)
    held = index.transpose([p - 1 for p in perm[1:]]).reshape(-1)
    keras = index.transpose([p - 1 for p in keras_perm[1:]]).reshape(-1)
    position = np.empty_like(keras)
    position[keras] = np.arange(keras.size)
    order = position[held]
    return None if np.array_equal(order, np.arange(order.size)) else order


class Builder:
    """Collects the nodes of a graph spec, unique names and the weights each module node gets."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.weights: dict[str, dict[str, np.ndarray]] = {}
        self.names: set[str] = set(taken or ())

    def unique(self, name: str) -> str:
        found, count = name, 1
        while found in self.names:
            found, count = f"{name}_{count}", count + 1
        self.names.add(found)
        return found

    def module(
        self,
        name: str,
        inputs: list[Ref],
        spec: dict[str, Any],
        weights: dict[str, np.ndarray] | None = None,
        keras: dict[str, Any] | None = None,
    ) -> str:
        node = self._add(name, "module", inputs, keras)
        node["module"] = spec
        if weights:
            self.weights[node["name"]] = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        return str(node["name"])

    def op(
        self,
        name: str,
        kind: str,
        inputs: list[Ref],
        attrs: dict[str, Any] | None = None,
        keras: dict[str, Any] | None = None,
    ) -> str:
        node = self._add(name, kind, inputs, keras)
        if attrs:
            node["attrs"] = attrs
        return str(node["name"])

    def _add(self, name: str, kind: str, inputs: list[Ref], keras: dict[str, Any] | None) -> dict[str, Any]:
        node: dict[str, Any] = {"name": self.unique(name), "op": kind, "inputs": [r.node for r in inputs]}
        if keras:
            node["keras"] = keras
        self.nodes.append(node)
        return node

    def arrange(self, ref: Ref, perm: tuple[int, ...], name: str) -> Ref:
        """``ref`` held under ``perm`` (a permute node when it is held otherwise)."""
        if ref.perm == tuple(perm):
            return ref
        if ref.order is not None:  # the flatten look-ahead guarantees this never happens
            raise UnsupportedLayerError(f"{name}: cannot reorder the features of a flattened tensor")
        dims = [ref.perm.index(p) for p in perm]
        return Ref(self.op(f"{name}_permute", "permute", [ref], {"dims": dims}), ref.shape, tuple(perm))
