"""Configuration of the end-to-end optimization path."""

from __future__ import annotations

import dataclasses

from netslim.bench.timing import TimingConfig
from netslim.config import Config, check_range
from netslim.errors import ConfigError
from netslim.train import DistillConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class OptimizeConfig(Config):
    """What :func:`netslim.pipeline.optimize` tries and the budget it must meet.

    ``ratios``: structured-pruning ratios tried in increasing order, each pruned in ``prune_steps`` steps with a
    distilled fine-tune from the original model after each; the most-pruned candidate whose validation accuracy is
    within ``max_drop`` (absolute, e.g. 0.002 = 0.2 point) of the original is timed as a candidate. ``round_to``
    rounds kept channel counts up to a multiple (16 matches AVX-512's 16 floats). ``quant_weights`` /
    ``quant_activations``: also try that quantization of the most-pruned candidate, exported as QDQ and, for ONNX
    Runtime, as QOperator (QLinearConv/QGemm); None skips it.
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
    quant_weights: str | None = "int8"
    quant_activations: str | None = "uint8"
    calibration_samples: int = 512
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
        for field in ("finetune", "distill", "timing"):
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
        if self.calibration_samples < 1:
            raise ConfigError(f"OptimizeConfig.calibration_samples must be >= 1, got {self.calibration_samples}")
