"""What a module-replacing edit changed (:class:`EditRecord`), and the helpers the edit verbs share: layer
selection, a forward pass that captures layer inputs, module replacement recorded for ``load_model``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn

from netslim.analyze.profile import ModelProfile, profile
from netslim.errors import ConfigError
from netslim.models.persist import module_spec, replace_module
from netslim.structure.record import LayerChange


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


@dataclasses.dataclass(frozen=True)
class EditRecord:
    """The result of :func:`set_kernel_`, :func:`swap_activation_`, :func:`separable_` and :func:`decompose_`.

    ``layers``: one row per changed module. A factorised layer reports ``new_shape`` as ``(out, rank, in, *kernel)``;
    ``notes`` says per layer how it was initialised or what it became; ``factors`` lists every considered layer of the
    factorising verbs. MACs are None when the verb ran without an example; ``output_mse`` compares the model's outputs
    on ``example`` before and after."""

    verb: str
    config: dict[str, Any]
    layers: tuple[LayerChange, ...]
    params_before: int
    params_after: int
    macs_before: int | None
    macs_after: int | None
    output_mse: float | None = None
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    factors: tuple[FactorChange, ...] = ()

    @property
    def param_ratio(self) -> float:
        return self.params_after / self.params_before if self.params_before else 1.0

    @property
    def mac_ratio(self) -> float | None:
        if self.macs_before is None or self.macs_after is None:
            return None
        return self.macs_after / self.macs_before if self.macs_before else 1.0

    def summary(self) -> str:
        macs = (
            ""
            if self.mac_ratio is None
            else f", MACs {self.macs_before:,} -> {self.macs_after:,} ({self.mac_ratio:.1%})"
        )
        return (
            f"{self.verb}: params {self.params_before:,} -> {self.params_after:,} ({self.param_ratio:.1%}){macs}, "
            f"{len(self.layers)} layers changed"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def select_layers(verb: str, selectors: Iterable[str], model: nn.Module, kinds: tuple[type, ...]) -> list[str]:
    """Names of the modules of type ``kinds`` matched by the name globs; a glob matching none is a ConfigError that
    names the layer it hit of another type, or the candidates."""
    candidates = [n for n, m in model.named_modules() if n and isinstance(m, kinds)]
    wanted = " / ".join(k.__name__ for k in kinds)
    chosen: list[str] = []
    for glob in selectors:
        hits = [n for n in candidates if fnmatchcase(n, glob)]
        if not hits:
            other = next((n for n, _ in model.named_modules() if n and fnmatchcase(n, glob)), None)
            if other is not None:
                seen = type(model.get_submodule(other)).__name__
                raise ConfigError(f"{verb}: layer {other!r} is a {seen}; {verb} edits {wanted} layers")
            raise ConfigError(
                f"{verb}: selector {glob!r} matches no {wanted} layer; candidates: {', '.join(candidates)}"
            )
        chosen += [n for n in hits if n not in chosen]
    return chosen


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
    """Put ``module`` at ``name`` and note it in ``netslim_arch["edits"]`` so that ``load_model`` rebuilds it."""
    replace_module(model, name, module)
    note_edit(model, {"path": name, "module": module_spec(module)})


def note_edit(model: nn.Module, edit: dict[str, Any]) -> None:
    arch = getattr(model, "netslim_arch", None)
    if isinstance(arch, dict):
        setattr(model, "netslim_arch", {**arch, "edits": [*arch.get("edits", []), edit]})  # noqa: B010


def run_edit(
    verb: str,
    config: dict[str, Any],
    model: nn.Module,
    example: torch.Tensor | None,
    apply: Callable[[], tuple[list[LayerChange], dict[str, str], list[FactorChange]]],
) -> EditRecord:
    """Profile before, ``apply()``, profile after, and build the record (MACs only with an example)."""
    before = profile(model, example=example, measure_latency=False) if example is not None else None
    reference = outputs(model, example) if example is not None else None
    params_before = params(model)
    rows, notes, factors = apply()
    after = profile(model, example=example, measure_latency=False) if example is not None else None
    if before is not None and after is not None:
        rows = [
            dataclasses.replace(r, macs_before=macs_of(before, r.name), macs_after=macs_of(after, r.name)) for r in rows
        ]
    return EditRecord(
        verb=verb,
        config=config,
        layers=tuple(rows),
        params_before=params_before,
        params_after=params(model),
        macs_before=before.total_macs if before else None,
        macs_after=after.total_macs if after else None,
        output_mse=mse(reference, outputs(model, example)) if reference is not None and example is not None else None,
        notes=notes,
        factors=tuple(factors),
    )


def config_dict(configs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in configs.items()}
