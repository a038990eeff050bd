"""Channel atoms and tensor layouts: the bookkeeping under the dependency graph.

Every output channel a layer can produce (a conv's out channel, a linear's out feature) is an *atom*. A tensor in
the graph carries a :class:`Layout`: which axis holds channels, and which atom each position of that axis came from
(a flatten after a conv repeats each atom H*W times; a cat concatenates layouts). Ops that add or multiply two
tensors channel by channel *union* the atoms at equal positions, so after the walk every union-find class is one
channel that must be removed everywhere at once. Atoms touched by an op whose channel mapping is unknown are
*frozen* with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Channels of one tensor: ``atoms[i]`` is the atom at position ``i`` of axis ``axis``."""

    axis: int
    atoms: tuple[int, ...]


class Atoms:
    """A union-find over channel atoms, with a freeze reason per atom."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.frozen: dict[int, str] = {}
        self.why: dict[int, list[str]] = {}  # root -> coupling explanations

    def new(self, n: int, frozen: str | None = None) -> tuple[int, ...]:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        atoms = tuple(range(start, start + n))
        if frozen:
            self.freeze(atoms, frozen)
        return atoms

    def find(self, a: int) -> int:
        root = a
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[a] != root:
            self.parent[a], a = root, self.parent[a]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def union_all(self, first: Sequence[int], second: Sequence[int], why: str) -> None:
        for a, b in zip(first, second, strict=True):
            self.union(a, b)
        if first:
            self.why.setdefault(first[0], []).append(why)

    def freeze(self, atoms: Sequence[int], reason: str) -> None:
        for a in atoms:
            self.frozen.setdefault(a, reason)


def reshape_layout(layout: Layout, before: Sequence[int], after: Sequence[int]) -> Layout | None:
    """Follow the channel axis through a row-major reshape from ``before`` to ``after``.

    The channel axis survives when some output axis starts at the same element stride: kept as is (an unsqueeze),
    or merged with the axes after it (a flatten: each channel becomes a contiguous block of ``k`` positions).
    Splitting channels or merging them with an outer axis returns None (unknown).
    """
    a = layout.axis
    outer, channels = math.prod(before[:a]), before[a]
    inner = math.prod(before[a + 1 :])
    for b in range(len(after)):
        if math.prod(after[:b]) != outer or after[b] % channels:
            continue
        k = after[b] // channels
        if k * math.prod(after[b + 1 :]) == inner and inner % k == 0:
            return Layout(b, tuple(atom for atom in layout.atoms for _ in range(k)))
    return None


def broadcast_axis(layout: Layout, in_ndim: int, out_ndim: int) -> int:
    """The output axis a broadcast input's channel axis lands on (shapes align on the right)."""
    return layout.axis + out_ndim - in_ndim


def permute_layout(layout: Layout, perm: Sequence[int]) -> Layout:
    ndim = len(perm)
    order = [p % ndim for p in perm]
    return Layout(order.index(layout.axis), layout.atoms)


def normalize_dims(dims: int | Sequence[int] | None, ndim: int) -> list[int]:
    if dims is None:
        return list(range(ndim))
    if isinstance(dims, int):
        dims = [dims]
    return sorted(d % ndim for d in dims) if dims else list(range(ndim))
