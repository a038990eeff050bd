"""Unstructured magnitude pruning (Han et al. 2015/2016): per-layer or global fractions, iterative prune + retrain.

Masks live in a ``torch.nn.utils.parametrize`` parametrization (``weight = original * mask``), so every forward pass
of :func:`netslim.train.train_` uses the masked weight and pruned weights stay exactly zero while fine-tuning, with
no change to the training loop. :func:`strip_masks_` bakes the masks into plain weights.

Example:
    >>> from netslim.models import build_model
    >>> model = build_model("seed_mlp", (1, 8, 8))
    >>> record = sparsify_(model, SparsityConfig(sparsity={"fc1": 0.9, "fc2": 0.5}))
    >>> [round(row.density, 2) for row in record.layers]
    [0.1, 0.5]
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import itertools
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import parametrize

from netslim.config import Config, check_range, coerce_enum
from netslim.data import ArrayDataset, Splits
from netslim.errors import ConfigError
from netslim.select import last_match, require
from netslim.train import TrainConfig, train_
from netslim.transform import LayerChange, Record, transform

__all__ = [
    "PruneScope",
    "SparsityConfig",
    "plain_state",
    "prunable_layers",
    "sparsify_",
    "strip_masks_",
    "tensor_attr",
    "weight_of",
]

PRUNABLE = (nn.Linear, nn.modules.conv._ConvNd)


class PruneScope(str, enum.Enum):
    LAYER = "layer"  # each layer loses its own fraction of smallest-magnitude weights
    GLOBAL = "global"  # one magnitude threshold over all selected layers (a float ``sparsity`` only)


@dataclasses.dataclass(frozen=True)
class SparsityConfig(Config):
    """What :func:`sparsify_` prunes.

    ``sparsity``: a fraction in [0, 1) of weights to remove from every conv/linear layer, or ``{glob: fraction}``
    over layer names (the last matching glob wins; layers matched by none are left dense). ``schedule``: the
    fractions of the target sparsity reached at each prune step, increasing and ending at 1.0; with fine-tuning
    data, :func:`sparsify_` retrains between steps (iterative pruning). ``scope``: per-layer or global ranking.
    ``finetune``: the retraining after each step (None: no retraining); its ``distill`` distils from the teacher
    given to :func:`sparsify_`, or else from the dense model.
    """

    sparsity: float | Mapping[str, float] = 0.9
    schedule: tuple[float, ...] = (1.0,)
    scope: PruneScope | str = PruneScope.LAYER
    finetune: TrainConfig | None = None

    def __post_init__(self) -> None:
        owner = "SparsityConfig"
        if isinstance(self.finetune, dict):
            object.__setattr__(self, "finetune", TrainConfig.from_dict(self.finetune))
        object.__setattr__(self, "scope", coerce_enum(owner, "scope", PruneScope, self.scope))
        if isinstance(self.sparsity, Mapping):
            if not self.sparsity:
                raise ConfigError(f"{owner}.sparsity: the mapping is empty; give {{glob: fraction}} or one fraction")
            for pattern, value in self.sparsity.items():
                _check_fraction(f"sparsity[{pattern!r}]", value)
            object.__setattr__(self, "sparsity", {str(k): float(v) for k, v in self.sparsity.items()})
            if self.scope is PruneScope.GLOBAL:
                raise ConfigError(f"{owner}.scope='global' needs one float sparsity, got per-layer {self.sparsity}")
        else:
            _check_fraction("sparsity", self.sparsity)
        schedule = tuple(float(s) for s in self.schedule)
        if not schedule or schedule[-1] != 1.0 or any(b <= a for a, b in itertools.pairwise(schedule)):
            raise ConfigError(f"{owner}.schedule must increase strictly and end at 1.0, got {self.schedule!r}")
        for step in schedule:
            check_range(owner, "schedule", step, 0, 1, low_open=True)
        object.__setattr__(self, "schedule", schedule)

    def targets(self, names: list[str]) -> dict[str, float]:
        """``{layer: final sparsity}`` for the prunable layer ``names``; a glob matching none is a ConfigError."""
        if not isinstance(self.sparsity, Mapping):
            return dict.fromkeys(names, float(self.sparsity))
        require("SparsityConfig.sparsity", self.sparsity, names, "prunable layer")
        chosen = {n: last_match(n, self.sparsity) for n in names}
        return {n: float(v) for n, v in chosen.items() if v is not None}


def _check_fraction(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"SparsityConfig.{field} must be a number in [0, 1), got {value!r}")
    check_range("SparsityConfig", field, float(value), 0, 1, high_open=True)


class _Mask(nn.Module):
    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Conv and linear layers, by module name, in model order."""
    return [(n, m) for n, m in model.named_modules() if n and isinstance(m, PRUNABLE)]


def tensor_attr(module: nn.Module, name: str) -> torch.Tensor:
    """``module.<name>`` as a tensor (a typed getattr for parameters, buffers and parametrized tensors)."""
    value = getattr(module, name)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{type(module).__name__}.{name} is {type(value).__name__}, not a tensor")
    return value


def weight_of(module: nn.Module) -> torch.Tensor:
    """The effective weight (masked where a mask is applied) as a detached tensor."""
    return tensor_attr(module, "weight").detach()


def _mask_of(module: nn.Module) -> _Mask | None:
    if not parametrize.is_parametrized(module, "weight"):
        return None
    for p in getattr(module, "parametrizations")["weight"]:  # noqa: B009 - typed as Tensor | Module
        if isinstance(p, _Mask):
            return p
    return None


def _apply(module: nn.Module, keep: torch.Tensor) -> None:
    mask = _mask_of(module)
    if mask is None:
        parametrize.register_parametrization(module, "weight", _Mask(keep.to(weight_of(module).dtype)))
    else:
        mask.mask.copy_(keep.to(mask.mask.dtype))


def _keep_mask(weight: torch.Tensor, fraction: float, current: torch.Tensor) -> torch.Tensor:
    """Keep the largest-magnitude weights so that ``fraction`` of the tensor is zero; never revive pruned weights."""
    drop = round(fraction * weight.numel())
    if drop <= 0:
        return current.clone()
    scores = (weight.abs() * current).flatten()
    order = torch.argsort(scores, stable=True)
    keep = torch.ones_like(scores)
    keep[order[:drop]] = 0
    return keep.view_as(weight)


@torch.no_grad()
def _prune(layers: dict[str, nn.Module], targets: dict[str, float], scale: float, scope: PruneScope) -> None:
    current = {n: (weight_of(m) != 0).float() for n, m in layers.items()}
    if scope is PruneScope.GLOBAL:
        fraction = next(iter(targets.values())) * scale
        scores = torch.cat([weight_of(m).abs().flatten() * current[n].flatten() for n, m in layers.items()])
        drop = round(fraction * scores.numel())
        threshold = torch.sort(scores).values[drop - 1] if drop > 0 else torch.tensor(-1.0)
        for n, m in layers.items():
            _apply(m, current[n] * (weight_of(m).abs() > threshold))
        return
    for n, m in layers.items():
        _apply(m, _keep_mask(weight_of(m), targets[n] * scale, current[n]))


@transform("sparsify_", SparsityConfig)
def sparsify_(
    model: nn.Module,
    config: SparsityConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Splits | ArrayDataset | None = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Prune the smallest-magnitude weights of ``model`` in place, following ``config.schedule``.

    With ``config.finetune``, each step is followed by ``train_(model, data, config.finetune, teacher=...)``
    (masks hold during training). Masks stay attached, so further ``train_`` calls keep the weights sparse;
    :func:`strip_masks_` removes them. The record has one row per layer (``kept``, ``density``) and, in its
    details, the overall ``density`` and each step's validation accuracy (``steps``).
    """
    config = config or SparsityConfig()
    if not isinstance(config, SparsityConfig):
        raise ConfigError(f"sparsify_ expects a SparsityConfig, got {type(config).__name__}")
    finetune = config.finetune
    if finetune is not None and data is None:
        raise ConfigError("SparsityConfig.finetune retrains between prune steps: pass data=splits to sparsify_")
    if finetune is None or finetune.distill is None:
        teacher = None
    elif teacher is None:
        teacher = copy.deepcopy(model).eval()
    layers = dict(prunable_layers(model))
    targets = config.targets(list(layers))
    chosen = {n: layers[n] for n in targets}
    steps: list[dict[str, float]] = []
    params_before = sum(p.numel() for p in model.parameters())
    for scale in config.schedule:
        _prune(chosen, targets, scale, PruneScope(config.scope))
        step: dict[str, float] = {"scale": scale}
        if finetune is not None and data is not None:
            history = train_(model, data, finetune, teacher=teacher)
            if history.final.val_accuracy is not None:
                step["val_accuracy"] = max(e.val_accuracy or 0.0 for e in history.epochs)
        steps.append(step)
    rows = []
    for n, m in chosen.items():
        w = weight_of(m)
        kept, size = int((w != 0).sum()), w.numel()
        shape = tuple(w.shape)
        detail = {"params": size, "kept": kept, "density": kept / size if size else 1.0}
        rows.append(LayerChange(n, type(m).__name__, "sparsified", shape, shape, size, kept, detail=detail))
    model.eval()
    total = sum(r.params_before for r in rows)
    density = sum(r.params_after for r in rows) / max(1, total)
    return Record(
        verb="sparsify_",
        config=config.to_dict(),
        layers=tuple(rows),
        params_before=params_before,
        params_after=params_before - total + sum(r.params_after for r in rows),
        bytes_before=4 * params_before,
        details={"density": density, "steps": steps},
    )


def plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` with masked weights under their plain names (``fc1.weight``, masks applied), without
    changing ``model``. (Deep-copying a parametrized model and stripping the copy would break the original: torch
    shares the parametrized class between copies.)"""
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        prefix, marker, rest = key.partition(".parametrizations.")
        if not marker:
            out[key] = value
        elif rest.endswith(".original"):
            attr = rest.removesuffix(".original")
            out[f"{prefix}.{attr}"] = tensor_attr(model.get_submodule(prefix), attr).detach()
    return out


def strip_masks_(model: nn.Module) -> nn.Module:
    """Bake the pruning masks into plain ``weight`` parameters (zeros stay zero); return ``model``."""
    for _, module in prunable_layers(model):
        if _mask_of(module) is not None:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model
