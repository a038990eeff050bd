"""Channel pruning that yields smaller dense models: ``prune_`` (by ratio), ``resize_`` (to explicit widths),
``remove_channels_`` (exact channels). Each verb analyzes the model, picks channels per dependency group, slices
every member of the group, and returns a :class:`netslim.transform.Record`.

>>> import torch
>>> from netslim.models import build_model
>>> model = build_model("seed_cnn", (1, 8, 8))
>>> record = prune_(model, PruneConfig(ratio=0.5), example=torch.zeros(1, 1, 8, 8))
>>> model.conv1.out_channels, model.fc1.out_features, model(torch.zeros(2, 1, 8, 8)).shape
(16, 64, torch.Size([2, 10]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from netslim.analyze.profile import profile
from netslim.errors import ConfigError, UnsupportedLayerError
from netslim.models.arch import architecture_of
from netslim.models.layers import slice_layer
from netslim.models.persist import set_head_count
from netslim.select import matches, require
from netslim.structure.config import Importance, PruneConfig, RemoveChannelsConfig, ResizeConfig, Scope
from netslim.structure.graph import analyze_structure
from netslim.structure.group import Group, StructureReport
from netslim.structure.importance import Batches, group_importance, taylor_saliency
from netslim.structure.record import GroupChange, layer_changes, weight_shape
from netslim.transform import Record, transform

Plan = dict[str, tuple[Group, list[int]]]  # group name -> (group, channels to remove)


@transform("prune_", PruneConfig)
def prune_(
    model: nn.Module,
    config: PruneConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Batches | None = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Remove ``config.ratio`` of the channels of every prunable group of ``model``, in place. ``example`` is an
    input batch (graph capture); ``data`` feeds Taylor importance; ``teacher`` is not used."""
    config = config or PruneConfig()
    if not isinstance(config, PruneConfig):
        raise ConfigError(f"prune_ expects a PruneConfig, got {type(config).__name__}")
    example = require_example("prune_", example, data)
    report = analyze_structure(model, example)
    names = report.layer_names()
    require("PruneConfig.per_layer", config.per_layer, names)
    require("PruneConfig.ignore", config.ignore, names)
    groups = [g for g in report.prunable if not any(matches(p, config.ignore) for p in g.producers)]
    if not report.prunable and (config.ratio > 0 or any(r > 0 for r in config.per_layer.values())):
        raise UnsupportedLayerError(nothing_prunable(type(model).__name__, report))
    scores = _scores(model, groups, Importance(config.importance), data, config)
    uniform = groups if config.scope is Scope.UNIFORM else [g for g in groups if g.is_heads]
    keeps = {g.name: _keep(g, _count(config.ratio_for(g.producers, heads=g.is_heads), g.size), config) for g in uniform}
    plan = {g.name: (g, _lowest(g, scores[g.name], keeps[g.name])) for g in uniform}
    if config.scope is Scope.GLOBAL:  # heads and channels are different units: heads are pruned per group
        plan.update(_global_plan([g for g in groups if not g.is_heads], scores, config))
    return _apply(model, example, plan, "prune_", config.to_dict())


@transform("resize_", ResizeConfig)
def resize_(
    model: nn.Module,
    config: ResizeConfig,
    *,
    example: torch.Tensor | None = None,
    data: Batches | None = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Set the output width of layers (``ResizeConfig(widths={"fc1": 64, "conv2": 32})``; keys are globs), keeping
    the most important units and slicing every coupled layer. Widths can only shrink."""
    if not isinstance(config, ResizeConfig):
        raise ConfigError(f"resize_ expects a ResizeConfig, got {type(config).__name__}")
    example = require_example("resize_", example, data)
    widths = config.widths
    report = analyze_structure(model, example)
    require("ResizeConfig.widths", widths, [p for g in report.groups for p in g.producers])
    scoring = PruneConfig(importance=config.importance, seed=config.seed)
    targets: dict[str, tuple[Group, int]] = {}
    for glob, width in widths.items():
        for g in report.groups:
            if matches_any := [p for p in g.producers if matches(p, [glob])]:
                targets[g.name] = (g, _check_width(g, matches_any[0], int(width)))
    scores = _scores(model, [g for g, _ in targets.values()], Importance(scoring.importance), data, scoring)
    plan = {name: (g, _lowest(g, scores[name], width)) for name, (g, width) in targets.items()}
    return _apply(model, example, plan, "resize_", config.to_dict())


@transform("remove_channels_", RemoveChannelsConfig)
def remove_channels_(
    model: nn.Module,
    config: RemoveChannelsConfig,
    *,
    example: torch.Tensor | None = None,
    data: Batches | None = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Remove exact output channels of layers (``RemoveChannelsConfig(channels={"conv1": [0, 5]})``) and the
    coupled channels everywhere."""
    if not isinstance(config, RemoveChannelsConfig):
        raise ConfigError(f"remove_channels_ expects a RemoveChannelsConfig, got {type(config).__name__}")
    example = require_example("remove_channels_", example, data)
    channels = config.channels
    report = analyze_structure(model, example)
    plan: Plan = {}
    for layer, indices in channels.items():
        group = _group_of(report, layer)
        member = next(m for m in group.members if m.module == layer and m.dim.value == "out")
        drop = sorted({member.channels[int(i)] for i in indices})
        frozen = [c for c in drop if c in group.frozen]
        if frozen:
            raise ConfigError(f"{layer}: channels {frozen} cannot be removed: {group.frozen[frozen[0]]}")
        plan[group.name] = (group, sorted(set(plan.get(group.name, (group, []))[1]) | set(drop)))
    return _apply(model, example, plan, "remove_channels_", config.to_dict())


def _group_of(report: StructureReport, layer: str) -> Group:
    try:
        return report.group(layer)
    except KeyError:
        names = [p for g in report.groups for p in g.producers]
        raise ConfigError(f"layer {layer!r} produces no channel group; candidate layers: {', '.join(names)}") from None


def _check_width(group: Group, layer: str, width: int) -> int:
    if width > group.size or width < 1:
        unit = "attention heads (a width counts heads)" if group.is_heads else "output channels"
        raise ConfigError(
            f"resize_: {layer} has {group.size} {unit}; a width in [1, {group.size}] is "
            f"needed, got {width} (growing layers is not supported)"
        )
    if width < len(group.frozen):
        reason = group.frozen_reasons()[0]
        raise ConfigError(
            f"resize_: {layer} must keep {len(group.frozen)} of {group.size} channels ({reason}); got width {width}"
        )
    return width


def _scores(
    model: nn.Module, groups: list[Group], kind: Importance, data: Batches | None, config: PruneConfig
) -> dict[str, torch.Tensor]:
    grads = None
    if kind is Importance.TAYLOR:
        if data is None:
            raise ConfigError("PruneConfig.importance='taylor' needs data: pass data=splits to the pruning verb")
        grads = taylor_saliency(
            model, data, batches=config.taylor_batches, batch_size=config.taylor_batch_size, seed=config.seed
        )
    return {g.name: group_importance(model, g, kind, grads=grads, seed=config.seed) for g in groups}


def nothing_prunable(name: str, report: StructureReport) -> str:
    """The message for a model with no prunable channel group: which layers, and why each group is frozen."""
    reasons = [f"{', '.join(g.producers) or g.name}: {g.frozen_reasons()[0]}" for g in report.frozen[:6]]
    more = f" (and {len(report.frozen) - 6} more groups)" if len(report.frozen) > 6 else ""
    return (
        f"nothing in {name} can be pruned: every channel group is frozen - {'; '.join(reasons)}{more}. "
        "Quantization and export still apply; netslim.structure.analyze_structure(model, example).explain() "
        "shows the whole dependency graph"
    )


def _count(ratio: float, size: int) -> int:
    """How many of ``size`` channels a ratio removes: the nearest whole number (half up), so that compounding steps
    deliver the ratio asked for (two steps of ``1 - sqrt(0.75)`` take 32 channels to 24, not 25)."""
    return min(size, math.floor(ratio * size + 0.5 + 1e-9))


def _keep(group: Group, remove: int, config: PruneConfig) -> int:
    """How many channels ``group`` keeps when asked to remove ``remove``, honouring min_channels, frozen channels
    and rounding (``round_to`` and GroupNorm groups: the kept count is rounded to the nearest multiple)."""
    keep = group.size - remove
    step = math.lcm(1 if group.is_heads else config.round_to or 1, group.multiple_of)
    if step > 1:
        keep = min(group.size, max(step, round(keep / step) * step))
    return min(group.size, max(keep, config.min_channels, len(group.frozen)))


def _lowest(group: Group, score: torch.Tensor, keep: int) -> list[int]:
    """The ``size - keep`` lowest-scoring prunable channels."""
    prunable = group.prunable
    count = min(len(prunable), group.size - keep)
    order = sorted(prunable, key=lambda c: (float(score[c]), c))
    return sorted(order[:count])


def _global_plan(groups: list[Group], scores: dict[str, torch.Tensor], config: PruneConfig) -> Plan:
    """Rank every prunable channel by its score over its group's mean; remove the lowest ``ratio`` of them."""
    ranked = []
    for g in groups:
        mean = float(scores[g.name][g.prunable].mean()) or 1.0
        ranked += [(float(scores[g.name][c]) / mean, g.name, c) for c in g.prunable]
    ranked.sort()
    budget = _count(config.ratio, sum(g.size for g in groups))
    by_name = {g.name: g for g in groups}
    floor = {g.name: max(config.min_channels, len(g.frozen)) for g in groups}
    chosen: dict[str, list[int]] = {g.name: [] for g in groups}
    for _, name, c in ranked:
        if budget <= 0:
            break
        if by_name[name].size - len(chosen[name]) > floor[name]:
            chosen[name].append(c)
            budget -= 1
    plan: Plan = {}
    for name, drop in chosen.items():
        g = by_name[name]
        keep = _keep(g, len(drop), config)
        plan[name] = (g, _lowest(g, scores[name], keep))
    return plan


def _apply(model: nn.Module, example: torch.Tensor, plan: Plan, verb: str, config: dict[str, Any]) -> Record:
    before = profile(model, example=example, measure_latency=False)
    work = [(g, set(drop)) for g, drop in plan.values() if drop]
    touched = list(dict.fromkeys(m.module for g, _ in work for m in g.members))
    old = {n: (weight_shape(model.get_submodule(n)), _params(model.get_submodule(n))) for n in touched}
    with torch.no_grad():
        for group, drop in work:
            for m in group.members:
                keep = torch.tensor([p for p, c in enumerate(m.channels) if c not in drop], dtype=torch.long)
                slice_layer(m.module, model.get_submodule(m.module), m.dim, keep)
    _set_heads(model, work)
    _mark_arch(model, touched)
    after = profile(model, example=example, measure_latency=False)
    return Record(
        verb=verb,
        config=config,
        layers=layer_changes(model, touched, old, before, after),
        params_before=before.total_params,
        params_after=after.total_params,
        macs_before=before.total_macs,
        macs_after=after.total_macs,
        bytes_before=before.total_params * 4,
        bytes_after=after.total_params * 4,
        details={"groups": tuple(GroupChange(g.name, g.size, g.size - len(d), tuple(sorted(d))) for g, d in work)},
    )


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _set_heads(model: nn.Module, work: list[tuple[Group, set[int]]]) -> None:
    """Update the head count of attention modules that lost heads, and note it in ``netslim_arch["heads"]`` (a
    Hugging Face model gets a ``netslim_arch`` for it) so that ``load_model`` re-applies it."""
    counts = {path: g.size - len(drop) for g, drop in work for path in g.attention if path != "<model>"}
    if not counts:
        return
    for path, count in counts.items():
        set_head_count(model.get_submodule(path), count)
    arch = architecture_of(model, create=True)
    if arch is not None:
        arch.heads.update(counts)


def _mark_arch(model: nn.Module, touched: list[str]) -> None:
    """Note the new layer shapes in ``netslim_arch`` (``load_model`` rebuilds from the saved tensor shapes)."""
    arch = architecture_of(model)
    if arch is not None:
        arch.shapes.update({n: list(weight_shape(model.get_submodule(n))) for n in touched})


def require_example(verb: str, example: torch.Tensor | None, data: Any) -> torch.Tensor:
    """The example batch a structural verb traces: ``example``, else the first two samples of ``data``."""
    if example is not None:
        return example
    from netslim.data import example_batch

    if data is not None:
        return example_batch(data)
    raise ConfigError(f"{verb} needs an example input to trace the model: pass example=torch.rand(1, *input_shape)")
