"""Observers: what range each picks, on data where the right answer is known."""

from __future__ import annotations

import pytest
import torch

from netslim.errors import ConfigError
from netslim.quant import (
    EntropyObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    PercentileObserver,
    fake_quantize,
    make_observer,
    sqnr,
)


def heavy_tailed(n: int = 50_000) -> torch.Tensor:
    """Student t samples with 3 degrees of freedom (seeded)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, generator=gen)
    chi = torch.randn(n, 3, generator=gen).pow(2).sum(1)
    return z / torch.sqrt(chi / 3)  # Student t with 3 degrees of freedom


def observe_batches(observer, x: torch.Tensor, batches: int = 4):
    for chunk in x.chunk(batches):
        observer.observe(chunk)
    return observer


def test_minmax_tracks_extremes_over_batches() -> None:
    obs = observe_batches(MinMaxObserver("int8"), torch.tensor([-1.0, 0.5, 3.0, 2.0]), 2)
    lo, hi = obs.range()
    assert float(lo) == -1.0 and float(hi) == 3.0
    scale, _ = obs.qparams()
    assert scale.ndim == 0 and float(scale) == pytest.approx(4.0 / 255)


def test_moving_average_smooths_a_single_outlier_batch() -> None:
    obs = MovingAverageMinMaxObserver("int8", momentum=0.1)
    for _ in range(10):
        obs.observe(torch.tensor([-1.0, 1.0]))
    obs.observe(torch.tensor([-1.0, 100.0]))
    assert 1.0 < float(obs.range()[1]) < 12.0


def test_percentile_clips_outliers() -> None:
    x = torch.randn(100_000)
    x[:10] = 1000.0
    obs = observe_batches(PercentileObserver("int8", percentile=99.9), x)
    lo, hi = obs.range()
    assert 2.0 < float(hi) < 5.0 and -5.0 < float(lo) < -2.0


def test_mse_range_is_within_minmax_and_has_lower_error_on_heavy_tails() -> None:
    x = heavy_tailed()
    minmax = observe_batches(MinMaxObserver("int8", symmetric=True), x)
    mse = observe_batches(MSEObserver("int8", symmetric=True), x)
    (lo_m, hi_m), (lo_e, hi_e) = minmax.range(), mse.range()
    assert float(hi_e) <= float(hi_m) and float(lo_e) >= float(lo_m)
    assert float(hi_e) < 0.9 * float(hi_m)  # heavy tails: clipping pays off
    err_minmax = (fake_quantize(x, *minmax.qparams(), "int8") - x).pow(2).mean()
    err_mse = (fake_quantize(x, *mse.qparams(), "int8") - x).pow(2).mean()
    assert err_mse < err_minmax


def test_entropy_clips_heavy_tails_and_keeps_sqnr() -> None:
    x = heavy_tailed().abs()  # post-ReLU-like, non-negative
    kl = observe_batches(EntropyObserver("uint8"), x)
    minmax = observe_batches(MinMaxObserver("uint8"), x)
    assert float(kl.range()[1]) < float(minmax.range()[1])
    assert 0.0 <= float(kl.range()[0]) < 1e-3
    bulk = x[x <= torch.quantile(x, 0.99)]
    assert float(kl.range()[1]) > float(bulk.max())  # the bulk is not clipped ...
    kl_db = sqnr(bulk, fake_quantize(bulk, *kl.qparams(), "uint8"))
    minmax_db = sqnr(bulk, fake_quantize(bulk, *minmax.qparams(), "uint8"))
    assert kl_db > minmax_db + 3.0  # ... and gets finer steps than the min/max range gives it


def test_observers_by_name_and_errors() -> None:
    assert isinstance(make_observer("mse", "int8"), MSEObserver)
    with pytest.raises(ConfigError, match="observer must be one of"):
        make_observer("kmeans", "int8")
    with pytest.raises(ConfigError, match=r"MinMaxObserver: qparams\(\) before observe\(\)"):
        MinMaxObserver("int8").qparams()
    with pytest.raises(ConfigError, match="PercentileObserver.percentile"):
        PercentileObserver("int8", percentile=30.0)
