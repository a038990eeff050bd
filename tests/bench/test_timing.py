from __future__ import annotations

import time

import pytest
import torch

from netslim.bench import Timing, TimingConfig, compare, measure, ratio, time_model, torch_threads
from netslim.errors import ConfigError
from netslim.models import build_model


def test_measure_reports_median_and_spread() -> None:
    t = measure(lambda: time.sleep(0.002), TimingConfig(warmup=1, repeats=7), name="sleep", batch_size=4)
    assert t.repeats == 7 and t.batch_size == 4 and t.name == "sleep"
    assert 1.9 <= t.p10_ms <= t.median_ms <= t.p90_ms
    assert t.throughput == pytest.approx(4 / (t.median_ms / 1e3))


def test_compare_interleaves_and_ranks_a_slow_and_a_fast_callable() -> None:
    calls: list[str] = []

    def fast() -> None:
        calls.append("fast")

    def slow() -> None:
        calls.append("slow")
        time.sleep(0.003)

    result = compare({"fast": fast, "slow": slow}, TimingConfig(warmup=0, repeats=6, block=1))
    assert ratio(result["slow"], result["fast"]) > 10
    assert calls[:4] == ["fast", "slow", "slow", "fast"]  # the order rotates every round
    calls.clear()
    blocked = compare({"fast": fast, "slow": slow}, TimingConfig(warmup=1, repeats=4, block=2, settle_s=0.0))
    # warm-up right before a candidate's first block, then blocks of 2, rotating
    assert calls == ["fast"] * 3 + ["slow"] * 3 + ["slow"] * 2 + ["fast"] * 2
    assert blocked["fast"].repeats == blocked["slow"].repeats == 4


def test_thread_count_is_fixed_and_restored() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []
    measure(lambda: seen.append(torch.get_num_threads()), TimingConfig(warmup=0, repeats=2, threads=1))
    assert seen == [1, 1] and torch.get_num_threads() == before
    with torch_threads(1) as n:
        assert n == 1


def test_time_model_batch_one_and_batch_n() -> None:
    model = build_model("seed_mlp", (1, 8, 8))
    config = TimingConfig(warmup=2, repeats=5)
    b1, b64 = time_model(model, torch.rand(1, 1, 8, 8), config), time_model(model, torch.rand(64, 1, 8, 8), config)
    assert (b1.batch_size, b64.batch_size) == (1, 64)
    assert isinstance(Timing.from_samples("x", [0.001, 0.002], 1, 1).to_dict()["throughput_per_s"], float)


def test_bad_timing_config_names_the_field() -> None:
    with pytest.raises(ConfigError, match="TimingConfig.repeats"):
        TimingConfig(repeats=0)
    with pytest.raises(ConfigError, match="TimingConfig.threads"):
        TimingConfig(threads=0)
