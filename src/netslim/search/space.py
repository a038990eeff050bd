"""The search space, built from the model's profile and per-layer quantization sensitivity (nothing per model is
written by hand), and the :class:`Plan` one trial draws from it."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

from torch import nn

from netslim.analyze import profile
from netslim.data import Splits, calibration_subset, example_batch
from netslim.quant import QuantConfig, quantize_
from netslim.quant.cpu import cpu_flags
from netslim.runtime import openvino_available
from netslim.runtime.openvino import bf16_supported
from netslim.search.config import SearchConfig
from netslim.structure import analyze_structure

__all__ = ["Plan", "Space", "build_space", "simd_width"]

SENSITIVE_DB = 20.0  # a layer whose int8 output SQNR is below this stays fp32 in the mixed format


@dataclasses.dataclass(frozen=True)
class Plan:
    """One point of the space: the structure (global and per-stage pruning ratios, importance, fine-tune epochs per
    pruning step) and the deployed form (weight/activation format, export form)."""

    ratio: float
    stage_ratios: tuple[tuple[str, float], ...]
    importance: str
    epochs: int
    format: str
    export: str

    @property
    def structure_key(self) -> str:
        """What identifies the fine-tuned parent a plan is built on (the same key is the same pruned model)."""
        stages = ",".join(f"{n}={r:g}" for n, r in self.stage_ratios)
        return f"r{self.ratio:g}-{self.importance}-e{self.epochs}-[{stages}]"

    def label(self) -> str:
        form = self.format if self.format == "fp32" else f"{self.format}-{self.export}"
        return f"pruned-{self.ratio:g}[{','.join(f'{r:g}' for _, r in self.stage_ratios)}]/{self.importance}/{form}"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "stage_ratios": dict(self.stage_ratios)}


@dataclasses.dataclass
class Space:
    """``stages``: the prunable layers with the most MACs (each gets its own ratio around the global one);
    ``sensitive``: layers kept fp32 by the mixed int8 format; ``int4``: whether int4 weight-only Linear layers are
    worth trying (Linear layers carry at least a third of the MACs)."""

    ratios: list[float]
    stages: list[str]
    importance: list[str]
    epochs: list[int]
    formats: list[str]
    exports: list[str]
    sensitive: list[str]
    sqnr_db: dict[str, float]
    step: float
    max_ratio: float

    def suggest(self, trial: Any) -> Plan:
        ratio = float(trial.suggest_categorical("ratio", self.ratios))
        stage_ratios = []
        for name in self.stages:
            offset = int(trial.suggest_categorical(f"stage:{name}", [-1, 0, 1]))
            stage_ratios.append((name, _clip(ratio + offset * self.step, self.max_ratio)))
        fmt = str(trial.suggest_categorical("format", self.formats))
        export = str(trial.suggest_categorical("export", self.exports)) if fmt in ("int8", "int8-mixed") else "qdq"
        return Plan(
            ratio=ratio,
            stage_ratios=tuple(stage_ratios),
            importance=str(trial.suggest_categorical("importance", self.importance)),
            epochs=int(trial.suggest_categorical("epochs", self.epochs)),
            format=fmt,
            export=export,
        )

    def seeds(self) -> list[dict[str, Any]]:
        """A few generic starting points (moderate pruning, each format once), enqueued before the sampler takes
        over so that a short budget still measures the obvious candidates."""
        middle = min(self.ratios, key=lambda r: abs(r - 0.5))
        deeper = min(self.ratios, key=lambda r: abs(r - 0.625))
        epochs = sorted(self.epochs)[len(self.epochs) // 2]
        base = {"importance": self.importance[0], "epochs": epochs, "export": self.exports[0]}
        base.update({f"stage:{name}": 0 for name in self.stages})
        seeds = [{**base, "ratio": middle, "format": "fp32"}]
        if "int8" in self.formats:
            seeds.append({**base, "ratio": middle, "format": "int8"})
        seeds.append({**base, "ratio": deeper, "format": "fp32"})
        deepest = min(self.ratios, key=lambda r: abs(r - 0.75))
        seeds.append({**base, "ratio": deepest, "epochs": max(self.epochs), "format": "fp32"})
        return seeds

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def simd_width() -> int:
    """Floats per SIMD register of this CPU: 16 with AVX-512, 8 with AVX2, else 4 (channel counts on this multiple
    were measured faster on the seed CNN)."""
    flags = cpu_flags()
    return 16 if "avx512f" in flags else 8 if "avx2" in flags else 4


def build_space(model: nn.Module, splits: Splits, config: SearchConfig) -> Space:
    """Measure what the space depends on: the MACs of every prunable layer (the heaviest become stages), the int8
    output SQNR of every quantizable layer on calibration data (the weakest stay fp32 in the mixed format), and the
    share of MACs in Linear layers (int4 weight-only only where it is large)."""
    example = example_batch(splits)
    prof = profile(model, example=example, measure_latency=False)
    macs = {row.name: row.macs for row in prof.layers}
    report = analyze_structure(model, example)
    producers = {p for g in report.prunable for p in g.producers}
    stages = sorted((n for n in producers if macs.get(n, 0) > 0), key=lambda n: -macs[n])[: config.stages]
    probe = copy.deepcopy(model)
    calib = calibration_subset(splits.train, min(config.calibration_samples, 256))
    record = quantize_(probe, QuantConfig(), data=calib)
    sqnr = {row.name: float(row.sqnr_db) for row in record.layers if row.sqnr_db is not None}
    sensitive = [n for n, db in sqnr.items() if db < SENSITIVE_DB]
    if not sensitive and sqnr:
        sensitive = [min(sqnr, key=lambda n: sqnr[n])]  # mixed then differs from int8 by its weakest layer
    linear = sum(row.macs for row in prof.layers if row.type == "Linear")
    formats = [f for f in config.formats if f != "int4-weight" or linear >= prof.total_macs / 3]
    bf16 = "openvino" in config.engines and openvino_available() and bf16_supported()
    formats = [f for f in formats if f != "bf16" or bf16]  # only where the CPU computes bf16 natively
    if len(sqnr) < 2:
        formats = [f for f in formats if f != "int8-mixed"]  # one quantizable layer: mixed would be fp32
    count = math.floor(config.max_ratio / config.ratio_step + 1e-9)
    # a model with nothing prunable searches formats and runtimes only (said once by the caller)
    ratios = [round(config.ratio_step * i, 6) for i in range(1, count + 1)] if report.prunable else [0.0]
    epochs = list(config.epochs)
    if config.metric == "cosine":  # fidelity to the original: formats and runtimes, no label-trained structure
        ratios, epochs = [0.0], [0]
    return Space(
        ratios=ratios,
        stages=stages,
        importance=list(config.importance),
        epochs=epochs,
        formats=formats,
        exports=list(config.exports),
        sensitive=sensitive,
        sqnr_db=sqnr,
        step=config.ratio_step,
        max_ratio=config.max_ratio,
    )


def quant_config(plan: Plan, space: Space, config: SearchConfig) -> QuantConfig | None:
    """The QuantConfig a plan's format means (None for fp32)."""
    samples = config.calibration_samples
    if plan.format == "int8":
        return QuantConfig(calibration_samples=samples)
    if plan.format == "int8-mixed":
        return QuantConfig(calibration_samples=samples, skip=tuple(space.sensitive))
    if plan.format == "int4-weight":
        return QuantConfig(weights="int4", activations=None, granularity="per_group:32", calibration_samples=samples)
    return None


def _clip(ratio: float, high: float) -> float:
    return round(min(max(ratio, 0.0), high), 6)
