"""How channels flow through non-layer ATen ops. Each rule returns the output layout (or a tuple for multi-output
ops); an op without a rule freezes the channels it touches (see :meth:`Walker.unknown`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch import fx
from torch.utils._pytree import tree_leaves

from netslim.structure.layout import Layout, broadcast_axis, normalize_dims, permute_layout, reshape_layout

if TYPE_CHECKING:
    from netslim.structure.graph import Walker

Rule = Callable[["Walker", fx.Node], Any]
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    """Register a rule for ATen ops by name (the overload packet, e.g. ``"max_pool2d"``)."""

    def wrap(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return wrap


def _arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


@rule("add", "sub", "mul", "div", "where", "maximum", "minimum", "clamp", "relu", "gelu", "silu", "sigmoid", "tanh")
@rule("dropout", "feature_dropout", "alpha_dropout", "contiguous", "clone", "_to_copy", "to", "detach", "alias")
@rule("hardswish", "hardsigmoid", "relu6", "hardtanh", "leaky_relu", "elu", "mish", "softplus", "lift_fresh_copy")
def pointwise(w: Walker, node: fx.Node) -> Layout | None:
    """Elementwise ops with broadcasting: channels at equal positions are coupled (a residual add)."""
    out = w.shape(node)
    tensors = [a for a in tree_leaves((node.args, node.kwargs)) if w.shape(a) is not None]
    laid = [(a, w.layout(a)) for a in tensors if w.layout(a) is not None]
    if out is None or not laid:
        return None
    axes = {broadcast_axis(lay, len(w.shape(a) or ()), len(out)) for a, lay in laid if lay is not None}
    if len(axes) != 1:
        w.freeze_inputs(node, f"{w.where(node)} combines tensors whose channels lie on different axes")
        return None
    axis = axes.pop()
    first, base = laid[0]
    assert base is not None
    for a, lay in laid[1:]:
        assert lay is not None
        if len(lay.atoms) != len(base.atoms):
            w.freeze_inputs(node, f"{w.where(node)} broadcasts one operand's channels over the other's")
            return None
        why = f"{w.where(node)} couples {w.origin(first)} and {w.origin(a)} position by position"
        w.atoms.union_all(base.atoms, lay.atoms, why)
    for a in tensors:
        shape = w.shape(a) or ()
        j = axis - (len(out) - len(shape))
        if w.layout(a) is None and j >= 0 and shape[j] != 1:
            w.atoms.freeze(base.atoms, f"{w.where(node)} combines these channels with {w.who(a)}, which is not sliced")
    return Layout(axis, base.atoms)


@rule("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool2d_with_indices")
@rule("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d")
@rule("_adaptive_avg_pool2d", "upsample_nearest2d", "upsample_bilinear2d", "upsample_nearest1d", "pixel_dropout")
def spatial(w: Walker, node: fx.Node) -> Any:
    """Pooling and resizing act on the trailing spatial axes; the channel axis before them passes through."""
    lay, shape = w.layout(node.args[0]), w.shape(node.args[0]) or ()
    if lay is None:
        return None
    name = str(node.target)
    k = 3 if "3d" in name else 1 if "1d" in name else 2
    if lay.axis >= len(shape) - k:
        w.unknown(node)
        return None
    return (lay, None) if "with_indices" in name or "adaptive_max" in name else lay


@rule("constant_pad_nd", "pad")
def pad(w: Walker, node: fx.Node) -> Layout | None:
    lay, shape = w.layout(node.args[0]), w.shape(node.args[0]) or ()
    if lay is None:
        return None
    amounts = list(node.args[1])  # type: ignore[arg-type]
    padded = {len(shape) - 1 - i // 2 for i, p in enumerate(amounts) if p}
    if lay.axis in padded:
        w.freeze_inputs(node, f"{w.where(node)} pads the channel axis")
        return None
    return lay


@rule("mean", "sum", "amax", "amin", "max", "min", "logsumexp")
def reduce(w: Walker, node: fx.Node) -> Any:
    """A reduction over other axes keeps channels (shifted axis); one over channels mixes them (frozen)."""
    lay, shape = w.layout(node.args[0]), w.shape(node.args[0]) or ()
    if lay is None:
        return None
    dims = _arg(node, 1, "dim")
    if not isinstance(dims, int | list | tuple | type(None)):
        dims = None
    reduced = normalize_dims(dims, len(shape))
    if lay.axis in reduced:
        w.freeze_inputs(node, f"{w.where(node)} reduces over the channel axis")
        return None
    keep = bool(_arg(node, 2, "keepdim", False))
    result = Layout(lay.axis if keep else lay.axis - sum(d < lay.axis for d in reduced), lay.atoms)
    return (result, None) if str(node.target).endswith(".dim") and w.shape(node) is None else result


@rule("softmax", "_softmax", "log_softmax", "_log_softmax", "cumsum")
def along(w: Walker, node: fx.Node) -> Layout | None:
    lay, shape = w.layout(node.args[0]), w.shape(node.args[0]) or ()
    if lay is None:
        return None
    if _int(node.args[1]) % len(shape) == lay.axis:
        w.freeze_inputs(node, f"{w.where(node)} normalizes across channels")
        return None
    return lay


@rule("view", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as")
def view(w: Walker, node: fx.Node) -> Layout | None:
    """Reshapes: a flatten maps a conv channel to a contiguous block of features; a split channel axis freezes."""
    lay, before, after = w.layout(node.args[0]), w.shape(node.args[0]), w.shape(node)
    if lay is None or before is None or after is None:
        return None
    result = reshape_layout(lay, before, after)
    if result is None:
        result = w.split_heads(node, lay, before, after)  # (B, T, H*D) -> (B, T, H, D): whole heads
    if result is None:
        w.freeze_inputs(node, f"{w.where(node)} reshapes the channel axis ({list(before)} -> {list(after)})")
    return result


@rule("expand", "expand_as")
def expand(w: Walker, node: fx.Node) -> Layout | None:
    lay, before, after = w.layout(node.args[0]), w.shape(node.args[0]), w.shape(node)
    if lay is None or before is None or after is None:
        return None
    return Layout(broadcast_axis(lay, len(before), len(after)), lay.atoms)


@rule("permute", "transpose", "t", "numpy_T", "swapaxes")
def permute(w: Walker, node: fx.Node) -> Layout | None:
    lay, shape = w.layout(node.args[0]), w.shape(node.args[0])
    if lay is None or shape is None:
        return None
    ndim = len(shape)
    if str(node.target).startswith("aten.permute"):
        perm = [_int(p) for p in node.args[1]]  # type: ignore[union-attr]
    else:
        perm = list(range(ndim))
        d0, d1 = (_int(node.args[1]) % ndim, _int(node.args[2]) % ndim) if len(node.args) > 2 else (0, 1)
        perm[d0], perm[d1] = perm[d1], perm[d0]
    return permute_layout(lay, perm)


@rule("cat", "concat", "concatenate")
def cat(w: Walker, node: fx.Node) -> Layout | None:
    """Concatenation along channels places each input's channels at an offset; along other axes it couples them."""
    parts = list(node.args[0])  # type: ignore[arg-type]
    shape = w.shape(node)
    if shape is None:
        return None
    dim = int(_arg(node, 1, "dim", 0)) % len(shape)
    lays = [w.layout(p) for p in parts]
    axes = {lay.axis for lay in lays if lay is not None}
    if not axes:
        return None
    if axes != {dim}:
        return pointwise(w, node) if dim not in axes else _freeze(w, node, "mixes channel axes")
    atoms: list[int] = []
    offsets = []
    for part, lay in zip(parts, lays, strict=True):
        size = (w.shape(part) or (0,) * (dim + 1))[dim]
        offsets.append(f"{w.origin(part)} -> [{len(atoms)}:{len(atoms) + size}]")
        atoms += lay.atoms if lay is not None else w.atoms.new(size, f"{w.where(node)} concatenates {w.who(part)}")
    w.atoms.why.setdefault(atoms[0], []).append(f"{w.where(node)} concatenates channels: {', '.join(offsets)}")
    return Layout(dim, tuple(atoms))


@rule("split", "split_with_sizes", "chunk", "unbind", "slice", "narrow", "select", "index_select", "unsafe_split")
def slicing(w: Walker, node: fx.Node) -> Any:
    """Slicing another axis passes channels through; slicing the channel axis uses offsets written in the code."""
    lay, shape = w.layout(node.args[0]), w.shape(node.args[0])
    if lay is None or shape is None:
        return None
    op = str(node.target).split(".")[1]
    index = {"split": 2, "split_with_sizes": 2, "chunk": 2, "unsafe_split": 2, "unbind": 1}.get(op, 1)
    dim = int(_arg(node, index, "dim", 0)) % len(shape)
    if dim == lay.axis:
        if op == "slice" and _full_slice(node, shape[dim]):
            return lay
        return _freeze(w, node, "slices the channel axis at offsets fixed in the code")
    if op in ("split", "split_with_sizes", "chunk", "unbind", "unsafe_split"):
        count = len(node.meta.get("val") or ())
        shifted = Layout(lay.axis - 1, lay.atoms) if op == "unbind" and dim < lay.axis else lay
        return tuple(shifted for _ in range(count))
    return Layout(lay.axis - 1, lay.atoms) if op == "select" and dim < lay.axis else lay


def _full_slice(node: fx.Node, size: int) -> bool:
    start, end, step = _arg(node, 2, "start", 0), _arg(node, 3, "end", None), _arg(node, 4, "step", 1)
    return start in (0, None) and (end is None or int(end) >= size) and step == 1


def _int(value: Any) -> int:
    return int(value)


def _freeze(w: Walker, node: fx.Node, what: str) -> Layout | None:
    w.freeze_inputs(node, f"{w.where(node)} {what}")
    return None
