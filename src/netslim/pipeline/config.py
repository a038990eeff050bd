"""Configuration of the end-to-end optimization path."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from netslim.bench.timing import TimingConfig
from netslim.config import Config, check_range
from netslim.errors import ConfigError
from netslim.quant import QuantConfig
from netslim.structure import IterativePruneConfig, PruneConfig
from netslim.train import DistillConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class OptimizeConfig(Config):
    """What :func:`netslim.pipeline.optimize` tries and the budget it must meet.

    ``ratios``: structured-pruning ratios tried in increasing order, each pruned in ``prune_steps`` compounding steps
    (:func:`netslim.structure.prune_iteratively_`) with a fine-tune after each, distilled from the original model
    when ``distill`` is set; every candidate whose validation accuracy is within ``max_drop`` (absolute, e.g.
    0.002 = 0.2 point) of the original is timed. ``importance`` (l1, l2, bn_scale, taylor, random), ``per_layer``
    ratios (``{"conv1": 0.25}``, compounded per step like ``ratios``) and ``round_to`` (kept channel counts rounded
    to a multiple: 16 matches AVX-512's 16 floats) shape the pruning. ``quant``: a :class:`QuantConfig` also tried
    on the most-pruned candidate (every field reachable: types, granularity, observer, skip/overrides, bias
    correction, calibration samples), exported as QDQ and, for ONNX Runtime, as QOperator (QLinearConv/QGemm);
    None skips it.
    Every model file is timed on each of ``engines`` (OpenVINO only when installed) with ``threads`` and with one
    thread, at ``batch_sizes``; the fastest at ``objective_batch`` that meets the budget is chosen, never one slower
    than the original's fastest fp32 runtime, and the artifact runs that file with the fastest engine/threads
    measured for each batch size.
    """

    ratios: tuple[float, ...] = (0.5, 0.625, 0.75)
    importance: str = "l1"
    round_to: int | None = None
    prune_steps: int = 2
    finetune: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=2, lr=2e-3, batch_size=128, schedule="onecycle")
    )
    distill: DistillConfig | None = dataclasses.field(default_factory=lambda: DistillConfig(temperature=4.0, alpha=0.7))
    per_layer: Mapping[str, float] = dataclasses.field(default_factory=dict)
    quant: QuantConfig | None = dataclasses.field(default_factory=QuantConfig)
    max_drop: float = 0.002
    batch_sizes: tuple[int, ...] = (1, 256)
    objective_batch: int = 256
    threads: int | None = None
    engines: tuple[str, ...] = ("onnxruntime", "openvino")
    timing: TimingConfig = dataclasses.field(default_factory=lambda: TimingConfig(warmup=10, repeats=60))

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratios", tuple(float(r) for r in self.ratios))
        object.__setattr__(self, "batch_sizes", tuple(int(b) for b in self.batch_sizes))
        object.__setattr__(self, "engines", tuple(self.engines))
        for engine in self.engines:
            if engine not in ("onnxruntime", "openvino"):
                raise ConfigError(f"OptimizeConfig.engines: unknown engine {engine!r}; use onnxruntime or openvino")
        if not self.engines:
            raise ConfigError("OptimizeConfig.engines must name at least one engine")
        for field in ("finetune", "distill", "timing", "quant"):
            value = getattr(self, field)
            if isinstance(value, dict):
                object.__setattr__(self, field, Config.from_dict(value))
        for ratio in self.ratios:
            check_range("OptimizeConfig", "ratios", ratio, 0, 1, high_open=True)
        if list(self.ratios) != sorted(self.ratios):
            raise ConfigError(f"OptimizeConfig.ratios must be increasing, got {self.ratios}")
        check_range("OptimizeConfig", "max_drop", self.max_drop, 0, 1)
        if self.prune_steps < 1:
            raise ConfigError(f"OptimizeConfig.prune_steps must be >= 1, got {self.prune_steps}")
        if self.objective_batch not in self.batch_sizes:
            raise ConfigError(
                f"OptimizeConfig.objective_batch ({self.objective_batch}) must be one of batch_sizes {self.batch_sizes}"
            )
        if not isinstance(self.per_layer, Mapping):
            raise ConfigError(f"OptimizeConfig.per_layer must map layer globs to ratios, got {self.per_layer!r}")
        object.__setattr__(self, "per_layer", dict(self.per_layer))
        # the pruning config is built (and validated: importance, per-layer ratios) now, not after minutes of work
        self.prune_config(self.ratios[0] if self.ratios else 0.5)

    def prune_config(self, ratio: float) -> PruneConfig:
        """The :class:`PruneConfig` of the candidate pruned to ``ratio``."""
        return PruneConfig(ratio=ratio, importance=self.importance, round_to=self.round_to, per_layer=self.per_layer)

    def pruning(self, ratio: float) -> IterativePruneConfig:
        """The whole pruning step of one candidate: ``prune_steps`` steps, each followed by the (distilled)
        fine-tune."""
        finetune = self.finetune.replace(distill=self.distill)
        return IterativePruneConfig(prune=self.prune_config(ratio), steps=self.prune_steps, finetune=finetune)
