"""Timing harness shared by the CLI, the search and benchmarks/."""

from netslim.bench.timing import Timing, TimingConfig, compare, environment, measure, ratio, time_model, torch_threads

__all__ = ["Timing", "TimingConfig", "compare", "environment", "measure", "ratio", "time_model", "torch_threads"]
