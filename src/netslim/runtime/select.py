"""Choose the fastest runtime that meets the accuracy budget, and never one slower than the original model's
fastest fp32 runtime. Every measurement goes into the returned record."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from netslim.bench.timing import Timing, TimingConfig, compare
from netslim.config import check_range
from netslim.errors import ConfigError
from netslim.models.inputs import InputSpec
from netslim.runtime.base import Runtime


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One way to run the model: a runtime plus what it runs (``fp32 original``, ``int8 pruned``...)."""

    name: str
    runtime: Runtime
    baseline: bool = False  # an fp32 runtime of the original model: the "never slower" reference


@dataclasses.dataclass(frozen=True)
class Measured:
    name: str
    baseline: bool
    accuracy: float | None
    timings: dict[int, Timing]  # by batch size
    within_budget: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "baseline": self.baseline,
            "accuracy": self.accuracy,
            "within_budget": self.within_budget,
            "timings": {str(b): t.to_dict() for b, t in self.timings.items()},
        }


@dataclasses.dataclass(frozen=True)
class Selection:
    chosen: str
    reason: str
    objective_batch: int
    reference: str  # the fastest baseline
    speedup: float  # chosen vs reference at the objective batch (median / median)
    measured: list[Measured]

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "reason": self.reason,
            "objective_batch": self.objective_batch,
            "reference": self.reference,
            "speedup": self.speedup,
            "measured": [m.to_dict() for m in self.measured],
        }


def select_runtime(
    candidates: Sequence[Candidate],
    input_shape: Sequence[int] | InputSpec,
    *,
    accuracy: Callable[[Runtime], float] | None = None,
    max_drop: float = 0.005,
    batch_sizes: Sequence[int] = (1, 256),
    objective_batch: int | None = None,
    timing: TimingConfig | None = None,
    seed: int = 0,
) -> Selection:
    """Time every candidate side by side at each batch size, score accuracy with ``accuracy(runtime)`` (a fraction
    on held-out data), drop those more than ``max_drop`` below the best baseline, and return the fastest at
    ``objective_batch`` (default: the largest batch). A baseline always qualifies, so the result is never slower
    than the fastest baseline as measured here."""
    if not any(c.baseline for c in candidates):
        raise ConfigError("select_runtime needs at least one baseline candidate (fp32 of the original model)")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ConfigError(f"candidate names must be unique, got {names}")
    check_range("select_runtime", "max_drop", max_drop, 0, 1)
    objective = objective_batch or max(batch_sizes)
    if objective not in batch_sizes:
        raise ConfigError(f"select_runtime: objective_batch {objective} is not among batch_sizes {list(batch_sizes)}")
    spec = input_shape if isinstance(input_shape, InputSpec) else InputSpec(tuple(input_shape))
    timings: dict[str, dict[int, Timing]] = {c.name: {} for c in candidates}
    for batch in batch_sizes:
        x = spec.random_numpy(batch, seed=seed + batch)
        fns = {c.name: (lambda rt=c.runtime, x=x: rt.run(x)) for c in candidates}
        for name, t in compare(fns, timing, batch_size=batch).items():
            timings[name][batch] = t
    scores = {c.name: accuracy(c.runtime) if accuracy else None for c in candidates}
    base_scores = [s for c in candidates if c.baseline and (s := scores[c.name]) is not None]
    floor = max(base_scores) - max_drop if base_scores else None
    measured = [
        Measured(
            c.name,
            c.baseline,
            scores[c.name],
            timings[c.name],
            c.baseline or floor is None or (scores[c.name] or 0.0) >= floor,
        )
        for c in candidates
    ]
    reference = min((m for m in measured if m.baseline), key=lambda m: m.timings[objective].median_ms)
    eligible = [m for m in measured if m.within_budget]
    best = min(eligible, key=lambda m: m.timings[objective].median_ms)
    if best.timings[objective].median_ms > reference.timings[objective].median_ms:
        best = reference
    speedup = reference.timings[objective].median_ms / best.timings[objective].median_ms
    rejected = [m.name for m in measured if not m.within_budget]
    reason = f"fastest at batch {objective} among {len(eligible)} candidates within the accuracy budget" + (
        f" (rejected for accuracy: {', '.join(rejected)})" if rejected else ""
    )
    return Selection(best.name, reason, objective, reference.name, speedup, measured)
