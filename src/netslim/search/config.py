"""What a search must meet (:class:`Budget`) and what it may try (:class:`SearchConfig`)."""

from __future__ import annotations

import dataclasses
import re

from netslim.bench import TimingConfig
from netslim.config import Config, check_range
from netslim.errors import ConfigError
from netslim.train import DistillConfig, TrainConfig

__all__ = ["OBJECTIVES", "Budget", "SearchConfig", "parse_bytes", "parse_duration", "parse_latency"]

OBJECTIVES = ("latency", "accuracy", "size")
FORMATS = ("fp32", "bf16", "int8", "int8-mixed", "int4-weight")
EXPORTS = ("qdq", "qoperator")


@dataclasses.dataclass(frozen=True)
class Budget(Config):
    """Limits a result must meet, any combination. ``max_drop``: validation accuracy drop, absolute (0.005 = half
    a point); ``max_drop_relative``: the same as a fraction of the original's accuracy (0.01 = 1%);
    ``max_latency_ms`` at batch ``latency_batch`` on this machine; ``max_bytes`` of the deployed ONNX file(s).
    ``time_budget_s`` and ``trials`` bound the search itself (whichever comes first)."""

    max_drop: float | None = 0.002
    max_drop_relative: float | None = None
    max_latency_ms: float | None = None
    latency_batch: int = 1
    max_bytes: int | None = None
    time_budget_s: float | None = 900.0
    trials: int | None = None

    def __post_init__(self) -> None:
        owner = "Budget"
        for field in ("max_drop", "max_drop_relative"):
            value = getattr(self, field)
            if value is not None:
                check_range(owner, field, float(value), 0.0, 1.0)
        if self.max_latency_ms is not None:
            check_range(owner, "max_latency_ms", self.max_latency_ms, 0.0, None, low_open=True)
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ConfigError(f"{owner}.max_bytes must be a positive number of bytes, got {self.max_bytes}")
        if self.latency_batch < 1:
            raise ConfigError(f"{owner}.latency_batch must be >= 1, got {self.latency_batch}")
        if self.time_budget_s is not None:
            check_range(owner, "time_budget_s", self.time_budget_s, 0.0, None, low_open=True)
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"{owner}.trials must be >= 1, got {self.trials}")
        if self.time_budget_s is None and self.trials is None:
            raise ConfigError(f"{owner}: set time_budget_s or trials (or both), or the search never ends")

    def accuracy_floor(self, original: float) -> float:
        """The lowest validation accuracy within budget, given the original's."""
        floor = 0.0
        if self.max_drop is not None:
            floor = max(floor, original - self.max_drop)
        if self.max_drop_relative is not None:
            floor = max(floor, original * (1.0 - self.max_drop_relative))
        return floor


METRICS = ("accuracy", "cosine")


@dataclasses.dataclass(frozen=True)
class SearchConfig(Config):
    """The search: ``objectives`` among latency (at ``objective_batch``), accuracy and size (the first one ranks
    "best"); the space (pruning ratios up to ``max_ratio`` in ``ratio_step`` steps, per-stage ratios for the
    ``stages`` heaviest layers, ``importance`` criteria, ``epochs`` of distilled fine-tuning per pruning step,
    weight/activation ``formats`` and ``exports``; every runtime engine x threads is timed for each trial);
    ``sampler`` ``"tpe"`` (default: TPE with constraints; a 15-minute budget allows tens of trials, fewer than one
    NSGA-II generation of 50; ``benchmarks/search_sampler.py`` measured TPE ahead at equal trials) or ``"nsga2"``;
    ``storage`` an Optuna storage URL (``postgresql://...``; None: a
    journal file in the run directory). ``finetune`` is the base of every fine-tune (its epochs are searched).
    ``rescreen`` feasible trials are timed again side by side with the original at the end (and each time a new best
    appears) before the artifact is chosen. ``metric`` is what the accuracy budget measures: ``"accuracy"`` (top-1
    on the labels) or ``"cosine"`` (mean cosine similarity of each output row to the original model's: the fidelity
    of an embedding model; ``Budget(max_drop=0.01)`` then keeps the mean cosine >= 0.99). A cosine search changes
    formats and runtimes only: fine-tuning a pruned encoder needs labels or a feature-distillation loss, which the
    search does not run."""

    budget: Budget = dataclasses.field(default_factory=Budget)
    objectives: tuple[str, ...] = ("latency",)
    batch_sizes: tuple[int, ...] = (1, 256)
    objective_batch: int = 256
    max_ratio: float = 0.8
    ratio_step: float = 0.0625
    stages: int = 2
    importance: tuple[str, ...] = ("l1", "l2", "taylor")
    epochs: tuple[int, ...] = (1, 2, 4, 6)
    prune_steps: int = 2
    formats: tuple[str, ...] = FORMATS
    exports: tuple[str, ...] = EXPORTS
    engines: tuple[str, ...] = ("onnxruntime", "openvino")
    threads: int | None = None
    round_to: int | None = None
    finetune: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=2, lr=2e-3, batch_size=128, schedule="onecycle")
    )
    distill: DistillConfig | None = dataclasses.field(default_factory=DistillConfig)
    calibration_samples: int = 512
    sampler: str = "tpe"
    storage: str | None = None
    study_name: str = "netslim"
    seed: int = 0
    timing: TimingConfig = dataclasses.field(default_factory=lambda: TimingConfig(warmup=5, repeats=30))
    rescreen: int = 4
    metric: str = "accuracy"

    def __post_init__(self) -> None:
        owner = "SearchConfig"
        if self.metric not in METRICS:
            raise ConfigError(f"{owner}.metric must be one of {METRICS}, got {self.metric!r}")
        for field in ("budget", "finetune", "distill", "timing"):
            value = getattr(self, field)
            if isinstance(value, dict):
                object.__setattr__(self, field, Config.from_dict(value))
        for field in ("objectives", "batch_sizes", "importance", "epochs", "formats", "exports", "engines"):
            value = getattr(self, field)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, field, tuple(value))
            if not getattr(self, field):
                raise ConfigError(f"{owner}.{field} must not be empty")
        for objective in self.objectives:
            if objective not in OBJECTIVES:
                raise ConfigError(f"{owner}.objectives: unknown objective {objective!r}; choose from {OBJECTIVES}")
        for fmt in self.formats:
            if fmt not in FORMATS:
                raise ConfigError(f"{owner}.formats: unknown format {fmt!r}; choose from {FORMATS}")
        for form in self.exports:
            if form not in EXPORTS:
                raise ConfigError(f"{owner}.exports: unknown export form {form!r}; choose from {EXPORTS}")
        for engine in self.engines:
            if engine not in ("onnxruntime", "openvino"):
                raise ConfigError(f"{owner}.engines: unknown engine {engine!r}; use onnxruntime or openvino")
        if self.objective_batch not in self.batch_sizes:
            raise ConfigError(f"{owner}.objective_batch {self.objective_batch} must be one of {self.batch_sizes}")
        if self.budget.max_latency_ms is not None and self.budget.latency_batch not in self.batch_sizes:
            raise ConfigError(
                f"{owner}: the latency budget is at batch {self.budget.latency_batch}, which batch_sizes "
                f"{self.batch_sizes} does not time"
            )
        check_range(owner, "max_ratio", self.max_ratio, 0.0, 1.0, high_open=True)
        check_range(owner, "ratio_step", self.ratio_step, 0.0, 0.5, low_open=True)
        if self.sampler not in ("tpe", "nsga2"):
            raise ConfigError(f"{owner}.sampler must be 'tpe' or 'nsga2', got {self.sampler!r}")
        for field in ("stages", "rescreen"):
            if getattr(self, field) < 0:
                raise ConfigError(f"{owner}.{field} must be >= 0, got {getattr(self, field)}")
        if self.prune_steps < 1 or any(e < 0 for e in self.epochs):
            raise ConfigError(
                f"{owner}: prune_steps must be >= 1 and epochs >= 0 (got {self.prune_steps}, {self.epochs})"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.study_name):
            raise ConfigError(f"{owner}.study_name must be letters, digits, '_', '-', '.', got {self.study_name!r}")


def parse_latency(text: str) -> tuple[float, int]:
    """``"2ms@1"`` -> (2.0, 1); ``"500us@8"`` -> (0.5, 8); a bare ``"2ms"`` is at batch 1."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|us|s)?\s*(?:@\s*([0-9]+))?\s*", text)
    if not match:
        raise ConfigError(f"--max-latency expects a time and a batch size like 2ms@1 or 0.5ms@256, got {text!r}")
    value, unit, batch = float(match.group(1)), match.group(2) or "ms", int(match.group(3) or 1)
    scale = {"ms": 1.0, "us": 1e-3, "s": 1e3}[unit]
    if value <= 0 or batch < 1:
        raise ConfigError(f"--max-latency expects a positive time and batch size, got {text!r}")
    return value * scale, batch


def parse_bytes(text: str) -> int:
    """``"1MB"`` -> 1_000_000, ``"512KiB"`` -> 524_288, ``"2000"`` -> 2000."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]i?[bB]|[bB])?\s*", text)
    if not match:
        raise ConfigError(f"--max-size expects a size like 1MB, 300KB or 250000, got {text!r}")
    unit = (match.group(2) or "b").lower()
    scale = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}[unit]
    size = int(float(match.group(1)) * scale)
    if size < 1:
        raise ConfigError(f"--max-size must be at least one byte, got {text!r}")
    return size


def parse_duration(text: str) -> float:
    """``"20m"`` -> 1200.0, ``"90s"`` -> 90.0, ``"1h"`` -> 3600.0, ``"45"`` (seconds) -> 45.0."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h)?\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--time-budget expects a positive duration like 20m, 90s or 1h, got {text!r}")
    scale = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}[match.group(2) or "s"]
    return float(match.group(1)) * scale
