"""The timing harness: warm-up, repeated runs, median with p10/p90, fixed thread count, A/B side by side.

The CLI, the search and every script in ``benchmarks/`` time through this module, so numbers are comparable.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from netslim.config import Config
from netslim.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TimingConfig(Config):
    """``warmup`` untimed calls, then ``repeats`` timed calls (at least ``min_seconds`` in all) on ``threads``.

    Side-by-side runs go in blocks of ``block`` consecutive calls per candidate, with ``settle_s`` of idle time
    between blocks: thread pools that spin after a call (ONNX Runtime's, OpenMP's) park before the next candidate
    runs, so one runtime's spinning threads are not billed to another.
    """

    warmup: int = 10
    repeats: int = 50
    min_seconds: float = 0.0
    threads: int | None = None
    block: int = 10
    settle_s: float = 0.005

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ConfigError(f"TimingConfig.warmup must be >= 0, got {self.warmup}")
        if self.repeats < 1:
            raise ConfigError(f"TimingConfig.repeats must be >= 1, got {self.repeats}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"TimingConfig.threads must be >= 1 or None, got {self.threads}")
        if self.block < 1:
            raise ConfigError(f"TimingConfig.block must be >= 1, got {self.block}")
        if self.settle_s < 0:
            raise ConfigError(f"TimingConfig.settle_s must be >= 0, got {self.settle_s}")


@dataclasses.dataclass(frozen=True)
class Timing:
    """Latency of one callable: median and spread in milliseconds, for a given batch size and thread count."""

    name: str
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    repeats: int
    batch_size: int
    threads: int

    @property
    def throughput(self) -> float:
        """Samples per second at the median latency."""
        return self.batch_size / (self.median_ms / 1e3)

    @property
    def spread(self) -> float:
        """(p90 - p10) / median: the relative noise of the measurement."""
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "throughput_per_s": self.throughput}

    @classmethod
    def from_samples(cls, name: str, samples_s: list[float], batch_size: int, threads: int) -> Timing:
        ms = np.asarray(samples_s, dtype=np.float64) * 1e3
        return cls(
            name=name,
            median_ms=float(np.median(ms)),
            p10_ms=float(np.percentile(ms, 10)),
            p90_ms=float(np.percentile(ms, 90)),
            mean_ms=float(ms.mean()),
            min_ms=float(ms.min()),
            repeats=len(ms),
            batch_size=batch_size,
            threads=threads,
        )


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(n)`` (None keeps the current count); restore afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def measure(
    fn: Callable[[], Any], config: TimingConfig | None = None, *, name: str = "", batch_size: int = 1
) -> Timing:
    """Time ``fn()``; returns a :class:`Timing`. ``fn`` should block until its result is ready.

    >>> t = measure(lambda: sum(range(1000)), TimingConfig(warmup=2, repeats=5))
    >>> t.median_ms > 0
    True
    """
    return compare({name or "fn": fn}, config, batch_size=batch_size)[name or "fn"]


def compare(
    candidates: Mapping[str, Callable[[], Any]], config: TimingConfig | None = None, *, batch_size: int = 1
) -> dict[str, Timing]:
    """Time several callables side by side in one process.

    Runs are interleaved in blocks (round ``r`` runs a block of ``config.block`` calls of every candidate, in an order
    rotated each round), so drift in machine load affects all candidates alike; each candidate gets its own warm-up
    right before its first block, and the machine settles for ``config.settle_s`` between blocks.
    """
    config = config or TimingConfig()
    if not candidates:
        raise ConfigError("compare() needs at least one candidate")
    names = list(candidates)
    samples: dict[str, list[float]] = {n: [] for n in names}
    warm: set[str] = set()

    def more() -> bool:
        return min(len(v) for v in samples.values()) < config.repeats or elapsed() < config.min_seconds

    started = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - started

    with torch_threads(config.threads) as threads:
        rounds = 0
        while more():
            for n in names[rounds % len(names) :] + names[: rounds % len(names)]:
                fn = candidates[n]
                if n not in warm:
                    for _ in range(config.warmup):
                        fn()
                    warm.add(n)
                for _ in range(min(config.block, max(1, config.repeats - len(samples[n])))):
                    t0 = time.perf_counter()
                    fn()
                    samples[n].append(time.perf_counter() - t0)
                if config.settle_s and len(names) > 1:
                    time.sleep(config.settle_s)
            rounds += 1
    return {n: Timing.from_samples(n, samples[n], batch_size, threads) for n in names}


def time_model(
    model: torch.nn.Module, example: torch.Tensor, config: TimingConfig | None = None, *, name: str = "torch-eager"
) -> Timing:
    """Latency of ``model(example)`` in eval mode under ``torch.inference_mode``."""
    was_training = model.training
    model.eval()

    def run() -> None:
        with torch.inference_mode():
            model(example)

    try:
        return measure(run, config, name=name, batch_size=int(example.shape[0]))
    finally:
        model.train(was_training)


def ratio(baseline: Timing, candidate: Timing) -> float:
    """Speed-up of ``candidate`` over ``baseline`` (median / median; > 1 means faster)."""
    return baseline.median_ms / candidate.median_ms


def environment() -> dict[str, Any]:
    """A fingerprint of the machine and library versions that every measurement is recorded with."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
