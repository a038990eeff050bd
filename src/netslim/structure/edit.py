"""The helpers the module-replacing edit verbs share (:class:`FactorChange` rows, the record built around an edit):
layer selection, a forward pass that captures layer inputs, module replacement recorded for ``load_model``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from netslim.analyze.profile import ModelProfile, profile
from netslim.errors import ConfigError
from netslim.models.arch import ModuleEdit, architecture_of
from netslim.models.persist import module_spec, replace_module
from netslim.select import matches, select
from netslim.transform import LayerChange, Record


@dataclasses.dataclass(frozen=True)
class FactorChange:
    """One layer considered by :func:`separable_` or :func:`decompose_`: the factorisation, its exact costs and
    errors, the measured medians (None when not timed), and whether it was applied (``reason`` says why not).

    ``weight_error`` is the relative Frobenius error ``||W - W_r|| / ||W||`` of the product of the factors;
    ``output_mse`` is the mean squared difference of the layer's output on its input from ``example``."""

    name: str
    method: str
    rank: int
    max_rank: int
    weight_error: float
    output_mse: float
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    median_ms_before: float | None
    median_ms_after: float | None
    applied: bool
    reason: str

    @property
    def speedup(self) -> float | None:
        if self.median_ms_before is None or not self.median_ms_after:
            return None
        return self.median_ms_before / self.median_ms_after


def select_layers(verb: str, selectors: Iterable[str], model: nn.Module, kinds: tuple[type, ...]) -> list[str]:
    """Names of the modules of type ``kinds`` matched by the name globs; a glob matching none is a ConfigError that
    names the layer it hit of another type, or the candidates."""
    candidates = [n for n, m in model.named_modules() if n and isinstance(m, kinds)]
    wanted = " / ".join(k.__name__ for k in kinds)
    for glob in selectors:
        if not matching(candidates, glob):
            other = next((n for n, _ in model.named_modules() if n and matches(n, (glob,))), None)
            if other is not None:
                seen = type(model.get_submodule(other)).__name__
                raise ConfigError(f"{verb}: layer {other!r} is a {seen}; {verb} edits {wanted} layers")
    chosen: list[str] = []
    for glob in selectors:  # in the order of the selectors, each layer once
        chosen += [n for n in select(candidates, [glob], field=verb, what=f"{wanted} layer") if n not in chosen]
    return chosen


def matching(candidates: list[str], glob: str) -> list[str]:
    return [n for n in candidates if matches(n, (glob,))]


def capture_inputs(model: nn.Module, example: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """The first input each named module receives in an eval-mode forward pass on ``example`` (missing: not called)."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:

        def hook(mod: nn.Module, args: tuple[Any, ...], name: str = name) -> None:
            if args and isinstance(args[0], torch.Tensor):
                seen.setdefault(name, args[0].detach().clone())

        handles.append(model.get_submodule(name).register_forward_pre_hook(hook))
    try:
        outputs(model, example)
    finally:
        for h in handles:
            h.remove()
    return seen


def outputs(model: nn.Module, example: torch.Tensor) -> torch.Tensor:
    """``model(example)`` in eval mode without gradients; the training flag is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(example)
    finally:
        model.train(was_training)


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a.float() - b.float()) ** 2).mean())


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def macs_of(report: ModelProfile, name: str) -> int:
    """MACs of a layer and everything below it (a factorised layer is a Sequential of two)."""
    return sum(r.macs for r in report.layers if r.name == name or r.name.startswith(name + "."))


def module_macs(module: nn.Module, x: torch.Tensor) -> int:
    return profile(module, example=x, measure_latency=False).total_macs


def replace(model: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` at ``name`` and note it in the model's architecture so that ``load_model`` rebuilds it."""
    replace_module(model, name, module)
    note_edit(model, {"path": name, "module": module_spec(module)})


def note_edit(model: nn.Module, edit: dict[str, Any]) -> None:
    arch = architecture_of(model, create=True)
    if arch is not None:
        arch.edits.append(ModuleEdit(edit["path"], edit.get("module"), edit.get("fused_activation")))


def run_edit(
    verb: str,
    config: dict[str, Any],
    model: nn.Module,
    example: torch.Tensor | None,
    apply: Callable[[], tuple[list[LayerChange], dict[str, str], list[FactorChange]]],
) -> Record:
    """Profile before, ``apply()``, profile after, and build the record (MACs only with an example). The record's
    details: ``output_mse`` (the model's outputs on ``example`` before and after), ``notes`` (per layer, how it was
    initialised or what it became; also each row's ``note``) and ``factors`` (every layer a factorising verb
    considered, applied or not, and why)."""
    before = profile(model, example=example, measure_latency=False) if example is not None else None
    reference = outputs(model, example) if example is not None else None
    params_before = params(model)
    rows, notes, factors = apply()
    after = profile(model, example=example, measure_latency=False) if example is not None else None
    if before is not None and after is not None:
        rows = [
            dataclasses.replace(r, macs_before=macs_of(before, r.name), macs_after=macs_of(after, r.name)) for r in rows
        ]
    rows = [dataclasses.replace(r, note=notes.get(r.name, r.note)) for r in rows]
    output_mse = mse(reference, outputs(model, example)) if reference is not None and example is not None else None
    return Record(
        verb=verb,
        config=config,
        layers=tuple(rows),
        params_before=params_before,
        params_after=params(model),
        macs_before=before.total_macs if before else None,
        macs_after=after.total_macs if after else None,
        bytes_before=4 * params_before,
        bytes_after=4 * params(model),
        details={"output_mse": output_mse, "notes": notes, "factors": tuple(factors)},
    )


def config_dict(configs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in configs.items()}
