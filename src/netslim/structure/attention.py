"""Attention heads in the dependency graph: how channels flow through ``matmul``/``bmm`` and
``scaled_dot_product_attention``, and how a head-splitting ``view`` turns channels into whole heads.

A projection ``(B, T, H*D) -> view (B, T, H, D)`` makes the H axis the channel axis: the D channels of each head are
united into one group channel (a head is kept or removed whole; D stays). Attention then couples head ``h`` of Q,
K and V (they are multiplied head by head), and the merge back ``(B, T, H, D) -> (B, T, H*D)`` hands head ``h``'s
D positions to the output projection. The resulting group is Q/K/V rows + out-proj columns per head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torch import fx

from netslim.structure.capture import scope
from netslim.structure.flow import _arg, _freeze, rule
from netslim.structure.group import Dim
from netslim.structure.layout import Layout

if TYPE_CHECKING:
    from netslim.structure.graph import Walker

MHA_REASON = (
    "nn.MultiheadAttention fuses Q/K/V in in_proj_weight and requires embed_dim == num_heads * head_dim, so its "
    "heads cannot be removed in place; use separate q/k/v nn.Linear layers (as Hugging Face models do) to prune heads"
)


def split_heads(w: Walker, node: fx.Node, lay: Layout, before: Sequence[int], after: Sequence[int]) -> Layout | None:
    """A reshape that splits the channel axis into two adjacent axes ``(blocks, inner)``: unite each block's
    channels into one (whole heads) and carry the layout on the block axis. None when it is another reshape."""
    a = lay.axis
    outer, channels, inner = math.prod(before[:a]), before[a], math.prod(before[a + 1 :])
    for b in range(len(after) - 1):
        blocks, size = after[b], after[b + 1]
        if math.prod(after[:b]) != outer or blocks * size != channels or math.prod(after[b + 2 :]) != inner:
            continue
        if size == 1 or blocks == 1:
            return None
        heads = [lay.atoms[h * size : (h + 1) * size] for h in range(blocks)]
        why = (
            f"{w.where(node)} reshapes the channel axis ({list(before)} -> {list(after)}): {w.origin(node.args[0])} "
            f"split into {blocks} heads of {size}, each kept or removed whole"
        )
        for block in heads:
            w.atoms.union_all([block[0]] * (size - 1), block[1:], why)
            w.blocks[block[0]] = size
        return Layout(b, tuple(block[0] for block in heads))
    return None


def _couple_heads(w: Walker, node: fx.Node, first: Layout, other: Layout, what: str) -> None:
    w.atoms.union_all(first.atoms, other.atoms, f"{w.where(node)} {what}")
    module = scope(node)
    for atom in first.atoms:
        w.attention.setdefault(atom, module)


@rule("matmul", "bmm")
def matmul(w: Walker, node: fx.Node) -> Layout | None:
    """``a @ b``: rows of ``a`` and columns of ``b`` pass through; the contracted axis couples both operands; batch
    axes (attention heads) couple position by position."""
    a, b = node.args[0], node.args[1]
    la, lb, sa, sb, out = w.layout(a), w.layout(b), w.shape(a), w.shape(b), w.shape(node)
    if (la is None and lb is None) or sa is None or sb is None or out is None:
        return None
    if len(sa) < 2 or len(sb) < 2:
        return _freeze(w, node, "multiplies channels by a vector")
    n = len(out)
    results: list[Layout] = []
    if la is not None and lb is not None and la.axis == len(sa) - 1 and lb.axis == len(sb) - 2:
        w.atoms.union_all(la.atoms, lb.atoms, f"{w.where(node)} contracts {w.origin(a)} with {w.origin(b)}")
    elif (la is not None and la.axis == len(sa) - 1) or (lb is not None and lb.axis == len(sb) - 2):
        return _freeze(w, node, "contracts channels with a tensor that is not sliced")
    if la is not None and la.axis == len(sa) - 2:
        results.append(Layout(n - 2, la.atoms))
    if lb is not None and lb.axis == len(sb) - 1:
        results.append(Layout(n - 1, lb.atoms))
    batch = [(lay, lay.axis + n - len(s), s) for lay, s in ((la, sa), (lb, sb)) if lay and lay.axis < len(s) - 2]
    if len(batch) == 2 and batch[0][1] == batch[1][1]:
        _couple_heads(w, node, batch[0][0], batch[1][0], f"multiplies {w.origin(a)} and {w.origin(b)} head by head")
        results.append(Layout(batch[0][1], batch[0][0].atoms))
    elif len(batch) == 1:
        lay, axis, _ = batch[0]
        other = sb if lay is la else sa
        j = axis - (n - len(other))
        if j >= 0 and other[j] != 1:
            return _freeze(w, node, "multiplies heads with a tensor whose heads are not sliced")
        results.append(Layout(axis, lay.atoms))
    elif batch:
        return _freeze(w, node, "multiplies channels that lie on different batch axes")
    if len(results) > 1:
        return _freeze(w, node, "would carry channels on two output axes")
    return results[0] if results else None


@rule("scaled_dot_product_attention")
def attention(w: Walker, node: fx.Node) -> Layout | None:
    """``(B, H, L, D)`` query/key/value: head ``h`` of Q, K, V (and of a per-head mask) are coupled."""
    q, k, v = node.args[:3]
    mask = _arg(node, 3, "attn_mask")
    lays = [w.layout(t) for t in (q, k, v, mask)]
    if all(lay is None for lay in lays):
        return None
    shapes = [w.shape(t) for t in (q, k, v)]
    out = w.shape(node)
    if out is None or any(s is None or len(s) < 3 for s in shapes):
        return _freeze(w, node, "attends over tensors of unknown shape")
    qkv = [lay for lay in lays[:3] if lay is not None]
    ok = len(qkv) == 3 and all(lay.axis == len(s or ()) - 3 for lay, s in zip(qkv, shapes, strict=True))
    if not ok or len({len(lay.atoms) for lay in qkv}) != 1:
        return _freeze(w, node, "attends with Q, K, V whose heads are not all sliced alike")
    first = qkv[0]
    for t, lay in zip((k, v), qkv[1:], strict=True):
        _couple_heads(w, node, first, lay, f"attends with head h of {w.origin(q)} and {w.origin(t)} together")
    mask_shape = w.shape(mask)
    if mask_shape is not None:
        j = len(mask_shape) - 3
        if lays[3] is not None and lays[3].axis == j and len(lays[3].atoms) == len(first.atoms):
            _couple_heads(w, node, first, lays[3], "adds a per-head mask")
        elif lays[3] is not None or (j >= 0 and mask_shape[j] != 1):
            return _freeze(w, node, "adds a per-head mask whose heads are not sliced")
    return Layout(len(out) - 3, first.atoms)


def mha_heads(w: Walker, name: str, module: Any) -> None:
    """A frozen head group for an ``nn.MultiheadAttention`` (so explain() says why its heads stay)."""
    w.member(name, Dim.OUT, w.source(name, int(module.num_heads), MHA_REASON), module, "heads")
