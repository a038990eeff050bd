"""How to run an ONNX file, as data: the engine (ONNX Runtime or OpenVINO), its thread count and mode. A
:class:`BatchPolicy` keeps one spec per batch-size range, because the fastest setting for one sample (often a single
thread: no synchronisation) differs from the fastest for a batch job. Both are stored in an artifact's manifest."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netslim.errors import ConfigError
from netslim.runtime.base import Runtime

ENGINES = ("onnxruntime", "openvino")


@dataclasses.dataclass(frozen=True)
class RuntimeSpec:
    engine: str = "onnxruntime"
    threads: int | None = None
    mode: str = "latency"  # openvino: "throughput" runs parallel streams
    file: str | None = None  # another model file beside the policy's main one (None: the main file)
    precision: str = "f32"  # openvino: "bf16" where the CPU computes it natively

    def __post_init__(self) -> None:
        if self.file is not None and (not self.file or Path(self.file).name != self.file):
            raise ConfigError(f"RuntimeSpec.file must be a bare file name inside the artifact, got {self.file!r}")
        if self.engine not in ENGINES:
            raise ConfigError(f"RuntimeSpec.engine must be one of {ENGINES}, got {self.engine!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)):
            raise ConfigError(f"RuntimeSpec.threads must be an integer or null, got {self.threads!r}")
        if not isinstance(self.mode, str):
            raise ConfigError(f"RuntimeSpec.mode must be a string, got {self.mode!r}")
        if self.precision not in ("f32", "bf16") or (self.precision == "bf16" and self.engine != "openvino"):
            raise ConfigError(f"RuntimeSpec.precision must be 'f32' (or 'bf16' on openvino), got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"RuntimeSpec.threads must be >= 1 or null, got {self.threads}")

    @property
    def label(self) -> str:
        threads = "auto" if self.threads is None else str(self.threads)
        mode = "" if self.mode == "latency" else f"-{self.mode}"
        file = "" if self.file is None else f"[{self.file}]"
        precision = "" if self.precision == "f32" else f"-{self.precision}"
        return f"{self.engine}{precision}{mode}-t{threads}{file}"

    def open(self, model: str | Path | bytes) -> Runtime:
        if self.engine == "openvino":
            from netslim.runtime.openvino import OvRuntime

            return OvRuntime(model, threads=self.threads, mode=self.mode, precision=self.precision, name=self.label)
        from netslim.runtime.ort import OrtRuntime

        return OrtRuntime(model, threads=self.threads, name=self.label)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.file is None:
            del data["file"]
        if self.precision == "f32":
            del data["precision"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "runtime") -> RuntimeSpec:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"{where}: unknown fields {sorted(unknown)}; expected engine, threads, mode, file")
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class BatchPolicy:
    """``rules``: (largest batch, spec) in increasing order; a batch larger than every bound uses the last spec."""

    rules: tuple[tuple[int, RuntimeSpec], ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise ConfigError("BatchPolicy needs at least one (max_batch, spec) rule")
        bounds = [b for b, _ in self.rules]
        if bounds != sorted(set(bounds)):
            raise ConfigError(f"BatchPolicy bounds must be strictly increasing, got {bounds}")

    def to_dict(self) -> dict[str, Any]:
        return {"by_batch": [{"max_batch": b, **s.to_dict()} for b, s in self.rules]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "runtime") -> BatchPolicy:
        if "by_batch" not in data:  # a single spec
            return cls(((1 << 30, RuntimeSpec.from_dict(data, where=where)),))
        rules = []
        for i, rule in enumerate(data["by_batch"]):
            rule = dict(rule)
            bound = rule.pop("max_batch", None)
            if not isinstance(bound, int) or bound < 1:
                raise ConfigError(f"{where}.by_batch[{i}].max_batch must be a positive integer, got {bound!r}")
            rules.append((bound, RuntimeSpec.from_dict(rule, where=f"{where}.by_batch[{i}]")))
        return cls(tuple(rules))

    @property
    def files(self) -> list[str]:
        """The model files the rules name besides the main one."""
        return sorted({s.file for _, s in self.rules if s.file is not None})

    def open(self, model: str | Path | bytes) -> DispatchRuntime:
        """Open every rule's runtime on ``model``, or on the file a rule names (beside ``model``)."""
        if isinstance(model, bytes) and self.files:
            raise ConfigError(f"BatchPolicy names files {self.files}: open it on a model path, not bytes")
        opened: dict[tuple[str | None, RuntimeSpec], Runtime] = {}
        runtimes = []
        for bound, spec in self.rules:
            key = (spec.file, spec)
            if key not in opened:
                target = model if spec.file is None else Path(model).parent / spec.file  # type: ignore[arg-type]
                opened[key] = spec.open(target)
            runtimes.append((bound, opened[key]))
        return DispatchRuntime(runtimes)


class DispatchRuntime:
    """Runs each batch on the runtime of its batch-size range (see :class:`BatchPolicy`)."""

    def __init__(self, runtimes: Sequence[tuple[int, Runtime]]) -> None:
        self.runtimes = list(runtimes)
        self.name = "+".join(rt.name for _, rt in self.runtimes)
        self.threads = max((rt.threads or 0) for _, rt in self.runtimes) or None

    def pick(self, batch: int) -> Runtime:
        for bound, runtime in self.runtimes:
            if batch <= bound:
                return runtime
        return self.runtimes[-1][1]

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.pick(len(x)).run(x)


__all__ = ["ENGINES", "BatchPolicy", "DispatchRuntime", "RuntimeSpec"]
