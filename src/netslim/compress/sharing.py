"""Weight sharing (Deep Compression, stage 2): per-layer 1-D k-means with linear initialisation over [min, max],
then centroid fine-tuning.

A shared layer keeps ``weight_index`` (uint8 buffer, the weight's shape) and ``weight_codebook`` (a Parameter of
``2**bits - 1`` centroids). Index 0 is reserved for zero: pruned weights (and the encoder's filler entries) stay
exactly zero and never move. A forward pre-hook rebuilds ``weight = [0, *codebook][index]``, so the gradient of each
centroid is the sum of the gradients of the weights in its cluster (the paper's grouped gradient update), and
:func:`netslim.train.train_` fine-tunes the centroids without changes.

Example:
    >>> from netslim.models import build_model
    >>> model = build_model("seed_mlp", (1, 8, 8))
    >>> record = share_weights_(model, SharingConfig(linear_bits=3))
    >>> shared_weight(model.fc1).unique().numel() <= 2**3  # 7 centroids and the zero
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import nn

from netslim.compress.sparsity import prunable_layers, strip_masks_, tensor_attr, weight_of
from netslim.config import Config, check_range
from netslim.data import ArrayDataset, Splits
from netslim.errors import ConfigError
from netslim.select import last_match, matches, require
from netslim.train import TrainConfig, train_
from netslim.transform import LayerChange, Record, transform

__all__ = [
    "LayerSharing",
    "SharingConfig",
    "is_shared",
    "kmeans_1d",
    "share_weights_",
    "shared_weight",
    "unshare_",
]


@dataclasses.dataclass(frozen=True)
class SharingConfig(Config):
    """Bits per weight index: ``conv_bits`` / ``linear_bits`` (the paper: 8 and 5), ``overrides`` ``{glob: bits}``
    (last match wins), ``skip`` globs left dense; ``iterations`` caps Lloyd's k-means (it stops when stable);
    ``finetune`` trains the centroids afterwards (summed cluster gradients; None: no training)."""

    conv_bits: int = 8
    linear_bits: int = 5
    overrides: Mapping[str, int] = dataclasses.field(default_factory=dict)
    skip: tuple[str, ...] = ()
    iterations: int = 100
    finetune: TrainConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.finetune, dict):
            object.__setattr__(self, "finetune", TrainConfig.from_dict(self.finetune))
        _check_bits("conv_bits", self.conv_bits)
        _check_bits("linear_bits", self.linear_bits)
        for pattern, bits in self.overrides.items():
            _check_bits(f"overrides[{pattern!r}]", bits)
        object.__setattr__(self, "overrides", dict(self.overrides))
        if isinstance(self.skip, str):
            raise ConfigError(f"SharingConfig.skip must be a tuple of globs, got {self.skip!r}; use ({self.skip!r},)")
        object.__setattr__(self, "skip", tuple(self.skip))
        check_range("SharingConfig", "iterations", self.iterations, 1, None)

    def bits(self, name: str, module: nn.Module) -> int:
        bits = self.linear_bits if isinstance(module, nn.Linear) else self.conv_bits
        return int(last_match(name, self.overrides, bits))  # type: ignore[arg-type]


def _check_bits(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
        raise ConfigError(f"SharingConfig.{field} must be an integer number of bits in 1..8, got {value!r}")


@dataclasses.dataclass(frozen=True)
class LayerSharing:
    layer: str
    bits: int
    nonzero: int
    clusters_used: int
    sqnr_db: float  # of the shared weight against the weight before sharing


def kmeans_1d(values: torch.Tensor, k: int, iterations: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on scalars with the paper's linear initialisation (``k`` points evenly over [min, max]).

    Returns ``(centroids (k,), labels)``; an empty cluster keeps its centroid. Centroids stay sorted.
    """
    x = values.detach().flatten().double()
    if x.numel() == 0:
        return torch.zeros(k, dtype=values.dtype), torch.zeros(0, dtype=torch.long)
    centroids = torch.linspace(float(x.min()), float(x.max()), k, dtype=torch.float64)
    labels = torch.full_like(x, -1, dtype=torch.long)
    for _ in range(iterations):
        new = torch.bucketize(x, (centroids[1:] + centroids[:-1]) / 2)
        if torch.equal(new, labels):
            break
        labels = new
        counts = torch.bincount(labels, minlength=k)
        sums = torch.bincount(labels, weights=x, minlength=k)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids.to(values.dtype), labels


class _SharedWeight:
    """Forward pre-hook: ``weight = [0, *codebook][index]``; the post-hook detaches it so the module stays copyable."""

    def __call__(self, module: nn.Module, inputs: object) -> None:
        module.weight = shared_weight(module)

    @staticmethod
    def detach(module: nn.Module, inputs: object, output: object) -> None:
        module.weight = tensor_attr(module, "weight").detach()


def is_shared(module: nn.Module) -> bool:
    return isinstance(getattr(module, "weight_index", None), torch.Tensor)


def shared_weight(module: nn.Module) -> torch.Tensor:
    """The weight of a shared layer, rebuilt from its index and codebook (differentiable in the codebook)."""
    codebook = tensor_attr(module, "weight_codebook")
    table = torch.cat([codebook.new_zeros(1), codebook])
    return table[tensor_attr(module, "weight_index").long()]


def _install(module: nn.Module, codebook: torch.Tensor, index: torch.Tensor) -> None:
    requires_grad = tensor_attr(module, "weight").requires_grad
    del module.weight
    module.register_parameter("weight_codebook", nn.Parameter(codebook, requires_grad=requires_grad))
    module.register_buffer("weight_index", index.to(torch.uint8))
    module.register_forward_pre_hook(_SharedWeight())
    module.register_forward_hook(_SharedWeight.detach)
    module.weight = shared_weight(module).detach()


@torch.no_grad()
def share_layer_(module: nn.Module, bits: int, iterations: int = 100) -> LayerSharing:
    """Cluster the nonzero weights of one conv/linear layer into ``2**bits - 1`` shared values, in place."""
    weight = weight_of(module)
    nonzero = weight != 0
    centroids, labels = kmeans_1d(weight[nonzero], 2**bits - 1, iterations)
    index = torch.zeros(weight.shape, dtype=torch.long)
    index[nonzero] = labels + 1
    _install(module, centroids.to(weight.dtype), index)
    error = (shared_weight(module) - weight).pow(2).sum().clamp(min=1e-30)
    sqnr = float(10 * torch.log10(weight.pow(2).sum().clamp(min=1e-30) / error))
    return LayerSharing("", bits, int(nonzero.sum()), int(labels.unique().numel()), sqnr)


@transform("share_weights_", SharingConfig)
def share_weights_(
    model: nn.Module,
    config: SharingConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Splits | ArrayDataset | None = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Replace every conv/linear weight (outside ``config.skip``) by shared centroids, in place, then fine-tune
    the centroids on ``data`` with ``config.finetune`` (distilled from ``teacher`` when its ``distill`` is set).

    Pruning masks are baked first (:func:`netslim.compress.strip_masks_`); zeros stay zero. Each row's detail:
    ``bits``, ``nonzero``, ``clusters_used`` and the ``sqnr_db`` of the shared weight against the weight before.
    """
    config = config or SharingConfig()
    if not isinstance(config, SharingConfig):
        raise ConfigError(f"share_weights_ expects a SharingConfig, got {type(config).__name__}")
    if config.finetune is not None and data is None:
        raise ConfigError("SharingConfig.finetune trains the centroids: pass data=splits to share_weights_")
    strip_masks_(model)
    layers = prunable_layers(model)
    names = [n for n, _ in layers]
    require("SharingConfig", (*config.skip, *config.overrides), names, "conv/linear layer")
    params_before = sum(p.numel() for p in model.parameters())
    rows = []
    for name, module in layers:
        if is_shared(module) or matches(name, config.skip):
            continue
        shape = tuple(weight_of(module).shape)
        row = dataclasses.asdict(share_layer_(module, config.bits(name, module), config.iterations))
        row.pop("layer")
        size = int(torch.Size(shape).numel())
        rows.append(LayerChange(name, type(module).__name__, "shared", shape, shape, size, size, detail=row))
    trained = None
    if config.finetune is not None and data is not None:
        if config.finetune.distill is None:
            teacher = None
        trained = train_(model, data, config.finetune, teacher=teacher)
    return Record(
        verb="share_weights_",
        config=config.to_dict(),
        layers=tuple(rows),
        params_before=params_before,
        params_after=params_before,
        details={"finetune": trained},
    )


def unshare_(model: nn.Module) -> nn.Module:
    """Turn shared layers back into plain layers whose ``weight`` parameter holds the shared values."""
    for _, module in prunable_layers(model):
        if not is_shared(module):
            continue
        weight = shared_weight(module).detach().clone()
        for hooks in (module._forward_pre_hooks, module._forward_hooks):
            for key in [k for k, h in hooks.items() if isinstance(h, _SharedWeight) or h == _SharedWeight.detach]:
                del hooks[key]
        del module.weight_codebook, module.weight_index
        if "weight" in module.__dict__:
            del module.__dict__["weight"]
        module.weight = nn.Parameter(weight)
    return model
