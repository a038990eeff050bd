from __future__ import annotations

import time

import numpy as np
import pytest

from netslim.bench import TimingConfig
from netslim.errors import ConfigError
from netslim.runtime import Candidate, select_runtime


class Fake:
    """A runtime with a known cost and a known accuracy."""

    def __init__(self, name: str, seconds: float, accuracy: float) -> None:
        self.name, self.seconds, self.accuracy, self.threads = name, seconds, accuracy, 1

    def run(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)
        return x


FAST = TimingConfig(warmup=1, repeats=5)


def score(runtime: Fake) -> float:
    return runtime.accuracy


def test_the_fastest_candidate_within_the_budget_wins() -> None:
    candidates = [
        Candidate("fp32", Fake("fp32", 0.004, 0.99), baseline=True),
        Candidate("int8", Fake("int8", 0.001, 0.988)),
    ]
    result = select_runtime(candidates, (4,), accuracy=score, max_drop=0.005, timing=FAST, batch_sizes=(1, 8))
    assert result.chosen == "int8" and result.speedup > 2
    assert {m.name for m in result.measured} == {"fp32", "int8"}
    assert set(result.measured[0].timings) == {1, 8}


def test_a_fast_candidate_that_loses_accuracy_falls_back() -> None:
    candidates = [
        Candidate("fp32", Fake("fp32", 0.003, 0.99), baseline=True),
        Candidate("int8", Fake("int8", 0.0005, 0.95)),
    ]
    result = select_runtime(candidates, (4,), accuracy=score, max_drop=0.005, timing=FAST)
    assert result.chosen == "fp32" and "rejected for accuracy: int8" in result.reason


def test_never_slower_than_the_fastest_baseline() -> None:
    candidates = [
        Candidate("ort-fp32", Fake("a", 0.001, 0.99), baseline=True),
        Candidate("eager-fp32", Fake("b", 0.004, 0.99), baseline=True),
        Candidate("slow-int8", Fake("c", 0.003, 0.99)),
    ]
    result = select_runtime(candidates, (4,), accuracy=score, timing=FAST)
    assert result.chosen == "ort-fp32" and result.reference == "ort-fp32" and result.speedup == 1.0


def test_selection_inputs_are_validated() -> None:
    with pytest.raises(ConfigError, match="baseline"):
        select_runtime([Candidate("x", Fake("x", 0, 1))], (4,), timing=FAST)
    with pytest.raises(ConfigError, match="unique"):
        select_runtime([Candidate("x", Fake("x", 0, 1), True), Candidate("x", Fake("x", 0, 1))], (4,), timing=FAST)
