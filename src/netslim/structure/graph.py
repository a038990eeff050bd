"""The channel dependency graph: walk an exported ATen graph, build groups of coupled channels.

Layers (conv, transposed conv, linear, norms, embedding) are recognised by the *parameter* their op reads, mapped
to the owning module through the export signature, so ``F.conv2d(x, self.weight)`` is recognised as well as
``nn.Conv2d``. Channel-preserving ops (activations, pooling, views, cat, ...) are rules in
:mod:`netslim.structure.flow`; every other op freezes the channels it touches, with its name and scope as reason.

>>> import torch
>>> from netslim.models import build_model
>>> report = analyze_structure(build_model("seed_cnn", (1, 8, 8)), torch.zeros(1, 1, 8, 8))
>>> [g.name for g in report.prunable]
['conv1', 'conv2', 'fc1']
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
from torch import fx, nn
from torch.utils._pytree import tree_leaves

from netslim.models.layers import layer_types
from netslim.structure.attention import MHA_REASON, mha_heads, split_heads
from netslim.structure.capture import Capture, capture, owner, scope
from netslim.structure.flow import RULES
from netslim.structure.group import Dim, Group, Member, StructureReport
from netslim.structure.layout import Atoms, Layout

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)
LAYERS = layer_types()  # every layer type with a rule in models.layers (slicing, weight axis, resizing at load)
_CONV_OPS = {"conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d"}
_CONV_OPS |= {"conv_transpose3d"}
_NORM_OPS = {"batch_norm", "_native_batch_norm_legit_no_training", "native_batch_norm", "layer_norm", "group_norm"}


class Walker:
    """State of one walk: layouts per node, channel atoms, and the layer members found so far."""

    def __init__(self, model: nn.Module, cap: Capture) -> None:
        self.model, self.cap = model, cap
        self.atoms = Atoms()
        self.env: dict[fx.Node, Any] = {}
        self.members: dict[tuple[str, Dim], list[int]] = {}
        self.info: dict[tuple[str, Dim], tuple[str, str]] = {}  # (type, note)
        self.sources: dict[str, tuple[int, ...]] = {}
        self.multiple: dict[str, int] = {}
        self.blocks: dict[int, int] = {}  # first atom of a head -> head size (a view split channels into heads)
        self.attention: dict[int, str] = {}  # atom -> attention module whose op coupled it head by head

    # -- helpers used by the rules -------------------------------------------------------------------------------
    def layout(self, arg: Any) -> Layout | None:
        value = self.env.get(arg) if isinstance(arg, fx.Node) else None
        return value if isinstance(value, Layout) else None

    @staticmethod
    def shape(arg: Any) -> tuple[int, ...] | None:
        val = arg.meta.get("val") if isinstance(arg, fx.Node) else None
        return tuple(int(s) for s in val.shape) if isinstance(val, torch.Tensor) else None

    def who(self, arg: Any) -> str:
        if not isinstance(arg, fx.Node):
            return repr(arg)
        if arg.op == "placeholder":
            name = self.cap.tensor_name(arg)
            return f"tensor {name!r}" if name else "the model input"
        return scope(arg)

    def origin(self, arg: Any) -> str:
        """The layer that produced a tensor's channels (``"stem.0"``), else :meth:`who`."""
        lay = self.layout(arg)
        if lay is not None and lay.atoms:
            root = self.atoms.find(lay.atoms[0])
            for name, atoms in self.sources.items():
                if any(self.atoms.find(a) == root for a in atoms[:1]):
                    return f"{name} channels"
        return self.who(arg)

    def where(self, node: fx.Node) -> str:
        return f"`{_opname(node)}` in {scope(node)}"

    def freeze_inputs(self, node: fx.Node, reason: str) -> None:
        for arg in tree_leaves((node.args, node.kwargs)):
            lay = self.layout(arg)
            if lay is not None:
                self.atoms.freeze(lay.atoms, reason)

    def unknown(self, node: fx.Node) -> None:
        self.freeze_inputs(node, f"{self.where(node)} mixes channels in a way netslim does not model")

    # -- layers ---------------------------------------------------------------------------------------------------
    def module_of(self, node: fx.Node) -> tuple[str, nn.Module] | None:
        """The supported layer whose parameter or buffer this op reads, if any."""
        for arg in tree_leaves((node.args, node.kwargs)):
            fqn = self.cap.tensor_name(arg)
            if fqn is None:
                continue
            path, _ = owner(fqn)
            module = self.model.get_submodule(path)
            return (path, module) if type(module) in LAYERS else None
        return None

    def split_heads(self, node: fx.Node, lay: Layout, before: tuple[int, ...], after: tuple[int, ...]) -> Layout | None:
        return split_heads(self, node, lay, before, after)

    def multihead(self, node: fx.Node) -> tuple[str, nn.MultiheadAttention] | None:
        """The ``nn.MultiheadAttention`` whose fused ``in_proj_weight`` this op reads, if any."""
        for arg in tree_leaves((node.args, node.kwargs)):
            fqn = self.cap.tensor_name(arg)
            if fqn is not None:
                path, _ = owner(fqn)
                module = self.model.get_submodule(path)
                return (path, module) if isinstance(module, nn.MultiheadAttention) else None
        return None

    def member(self, name: str, dim: Dim, atoms: tuple[int, ...], module: nn.Module, note: str = "") -> None:
        key = (name, dim)
        if key in self.members:  # a module called twice: both call sites must agree channel by channel
            self.atoms.union_all(self.members[key], atoms, f"{name} is called more than once")
            return
        self.members[key] = list(atoms)
        self.info[key] = (type(module).__name__, note)

    def source(self, name: str, n: int, frozen: str | None = None) -> tuple[int, ...]:
        if name not in self.sources:
            self.sources[name] = self.atoms.new(n, frozen)
        return self.sources[name]

    def consumed(self, node: fx.Node, name: str, axis: int, n: int) -> tuple[int, ...]:
        """Atoms for the ``n`` input channels of layer ``name`` (fresh frozen ones when untraceable)."""
        x = node.args[0]
        lay = self.layout(x)
        if lay is not None and (lay.axis != axis or len(lay.atoms) != n):
            self.atoms.freeze(lay.atoms, f"{name} reads these channels on another axis than its channel axis")
            lay = None
        if lay is not None:
            return lay.atoms
        origin = self.who(x) if isinstance(x, fx.Node) and x.op == "placeholder" else f"`{_opname(x)}`"
        return self.atoms.new(n, f"{name} input channels come from {origin}, which has no channel mapping")

    def conv(self, node: fx.Node, name: str, module: nn.Module) -> Layout:
        assert isinstance(module, CONVS)
        ins = self.consumed(node, name, 1, module.in_channels)
        g, out_n = module.groups, module.out_channels
        if g == 1:
            self.member(name, Dim.IN, ins, module)
            out = self.source(name, out_n)
        elif g == module.in_channels == out_n:
            self.member(name, Dim.OUT, ins, module, "depthwise: in channel i -> out channel i")
            return Layout(1, ins)
        else:
            reason = f"{name} is a grouped conv (groups={g}); per-group pruning is not supported yet"
            self.atoms.freeze(ins, reason)
            self.member(name, Dim.IN, ins, module)
            out = self.source(name, out_n, reason)
        self.member(name, Dim.OUT, out, module)
        return Layout(1, out)

    def linear(self, node: fx.Node, name: str, module: nn.Linear) -> Layout:
        x_shape = self.shape(node.args[0]) or (module.in_features,)
        self.member(name, Dim.IN, self.consumed(node, name, len(x_shape) - 1, module.in_features), module)
        out = self.source(name, module.out_features)
        self.member(name, Dim.OUT, out, module)
        return Layout(len(self.shape(node) or (0,)) - 1, out)

    def norm(self, node: fx.Node, name: str, module: nn.Module) -> Layout | None:
        x = self.layout(node.args[0])
        ndim = len(self.shape(node.args[0]) or ())
        axis = ndim - 1 if isinstance(module, nn.LayerNorm) else 1
        n = module.num_channels if isinstance(module, nn.GroupNorm) else _norm_width(module)
        if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) != 1:
            self.unknown(node)
            return None
        atoms = self.consumed(node, name, axis, n)
        note = "LayerNorm: statistics are recomputed over the kept channels" if axis == ndim - 1 else ""
        self.member(name, Dim.OUT, atoms, module, note)
        if isinstance(module, nn.GroupNorm) and 1 < module.num_groups < n:
            self.multiple[name] = module.num_groups
        return Layout(axis, atoms) if x is not None and x.axis == axis else None

    def embedding(self, node: fx.Node, name: str, module: nn.Embedding) -> Layout:
        out = self.source(name, module.embedding_dim)
        self.member(name, Dim.OUT, out, module, "embedding vectors (weight columns)")
        return Layout(len(self.shape(node) or (0,)) - 1, out)

    # -- the walk -------------------------------------------------------------------------------------------------
    def visit(self, node: fx.Node) -> Any:
        if node.op != "call_function":
            return None
        if node.target is operator.getitem:
            value = self.env.get(node.args[0])  # type: ignore[arg-type]
            return value[node.args[1]] if isinstance(value, tuple | list) else None  # type: ignore[index]
        op = _opname(node)
        found = self.module_of(node) if op in _CONV_OPS | _NORM_OPS | {"linear", "embedding"} else None
        if found is None and op == "linear" and (mha := self.multihead(node)) is not None:
            mha_heads(self, *mha)
            self.freeze_inputs(node, f"{mha[0]} reads these channels through its fused in_proj_weight ({MHA_REASON})")
            return None
        if found is not None:
            name, module = found
            if isinstance(module, CONVS) and op in _CONV_OPS:
                return self.conv(node, name, module)
            if isinstance(module, nn.Linear) and op == "linear":
                return self.linear(node, name, module)
            if isinstance(module, NORMS) and op in _NORM_OPS:
                return self.norm(node, name, module)
            if isinstance(module, nn.Embedding) and op == "embedding":
                return self.embedding(node, name, module)
        rule = RULES.get(op)
        if rule is None and isinstance(node.target, torch._ops.OpOverload) and torch.Tag.pointwise in node.target.tags:
            rule = RULES["add"]
        if rule is None:
            self.unknown(node)
            return None
        return rule(self, node)

    def run(self) -> None:
        for node in self.cap.graph.nodes:
            if node.op == "output":
                for leaf in tree_leaves(node.args):
                    lay = self.layout(leaf)
                    if lay is not None:
                        self.atoms.freeze(lay.atoms, f"model output (shape {list(self.shape(leaf) or ())})")
            else:
                self.env[node] = self.visit(node)

    def groups(self) -> tuple[Group, ...]:
        find = self.atoms.find
        link: dict[int, int] = {}

        def gfind(c: int) -> int:
            while link.setdefault(c, c) != c:
                c = link[c]
            return c

        for atoms in self.members.values():
            first = gfind(find(atoms[0]))
            for a in atoms[1:]:
                link[gfind(find(a))] = first
        order: dict[int, dict[int, int]] = {}
        keys: dict[int, list[tuple[str, Dim]]] = {}
        for key, atoms in self.members.items():
            g = gfind(find(atoms[0]))
            index = order.setdefault(g, {})
            keys.setdefault(g, []).append(key)
            for a in atoms:
                index.setdefault(find(a), len(index))
        frozen: dict[int, str] = {}
        for a, reason in self.atoms.frozen.items():
            frozen.setdefault(find(a), reason)
        why: dict[int, list[str]] = {}
        for a, texts in self.atoms.why.items():
            why.setdefault(gfind(find(a)), []).extend(texts)
        attention: dict[int, dict[str, None]] = {}
        for a, module in self.attention.items():
            attention.setdefault(gfind(find(a)), {})[module] = None
        head_dim = {gfind(find(a)): size for a, size in self.blocks.items()}
        result = []
        for g, index in order.items():
            members = tuple(
                Member(
                    n,
                    d,
                    self.info[(n, d)][0],
                    tuple(index[find(a)] for a in self.members[(n, d)]),
                    self.info[(n, d)][1],
                )
                for n, d in keys[g]
            )
            producers = [m.module for m in members if m.dim is Dim.OUT]
            result.append(
                Group(
                    name=producers[0] if producers else f"{members[0].module}.{members[0].dim.value}",
                    members=members,
                    size=len(index),
                    frozen={i: frozen[c] for c, i in index.items() if c in frozen},
                    couplings=tuple(dict.fromkeys(why.get(g, []))),
                    multiple_of=math.lcm(1, *(self.multiple.get(m.module, 1) for m in members)),
                    attention=tuple(attention.get(g, {})) if g in head_dim else (),
                    head_dim=head_dim.get(g, 0) if g in attention else 0,
                )
            )
        return tuple(result)


def _opname(node: Any) -> str:
    target = getattr(node, "target", None)
    return str(getattr(target, "_opname", getattr(target, "__name__", target)))


def _norm_width(module: nn.Module) -> int:
    if isinstance(module, nn.LayerNorm):
        return int(module.normalized_shape[0])
    return int(module.num_features)  # type: ignore[arg-type]


def analyze_structure(model: nn.Module, example: torch.Tensor) -> StructureReport:
    """Capture ``model`` on ``example`` and return its channel dependency groups (prunable and frozen)."""
    walker = Walker(model, capture(model, example))
    walker.run()
    return StructureReport(type(model).__name__, walker.groups())
