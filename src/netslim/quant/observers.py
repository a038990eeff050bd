"""Observers: watch activations during calibration and choose their (per-tensor) quantization range.

``minmax`` keeps the extremes; ``moving_average`` smooths per-batch extremes; ``percentile`` clips outliers at a
percentile; ``mse`` searches the clipping range that minimizes the quantization MSE; ``entropy`` is TensorRT's KL
calibration (the clipping threshold whose quantized histogram is closest to the float one).

Example:
    >>> obs = make_observer("percentile", qtype("int8"), symmetric=False)
    >>> obs.observe(torch.randn(1000))
    >>> scale, zero_point = obs.qparams()
"""

from __future__ import annotations

import enum
import math

import numpy as np
import torch

from netslim.errors import ConfigError
from netslim.quant.functional import compute_qparams, fake_quantize
from netslim.quant.qtypes import QType, qtype

__all__ = [
    "EntropyObserver",
    "MSEObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "Observer",
    "ObserverKind",
    "PercentileObserver",
    "make_observer",
]


class ObserverKind(str, enum.Enum):
    MINMAX = "minmax"
    MOVING_AVERAGE = "moving_average"
    PERCENTILE = "percentile"
    MSE = "mse"
    ENTROPY = "entropy"


class Observer:
    """Records the range of the tensors it sees; :meth:`qparams` turns that range into scale and zero point."""

    def __init__(self, qt: QType | str, symmetric: bool = False) -> None:
        self.qtype = qtype(qt)
        self.symmetric = symmetric
        self.min_: torch.Tensor | None = None
        self.max_: torch.Tensor | None = None

    @property
    def observed(self) -> bool:
        return self.min_ is not None

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        """Update the running statistics with ``x`` (any shape)."""
        x = x.detach().float()
        lo, hi = x.min(), x.max()
        self.min_ = lo if self.min_ is None else torch.minimum(self.min_, lo)
        self.max_ = hi if self.max_ is None else torch.maximum(self.max_, hi)

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(min, max)`` range to quantize to."""
        if self.min_ is None or self.max_ is None:
            raise ConfigError(f"{type(self).__name__}: qparams() before observe(); run calibration data through first")
        return self.min_, self.max_

    def qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale and zero point (0-d tensors) for the observed range."""
        lo, hi = self.range()
        return compute_qparams(lo, hi, self.qtype, self.symmetric)


class MinMaxObserver(Observer):
    """The running minimum and maximum of everything observed."""


class MovingAverageMinMaxObserver(Observer):
    """Exponential moving average of each batch's min and max: ``m <- m + momentum * (batch - m)``."""

    def __init__(self, qt: QType | str, symmetric: bool = False, momentum: float = 0.1) -> None:
        super().__init__(qt, symmetric)
        self.momentum = momentum

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        lo, hi = x.detach().float().min(), x.detach().float().max()
        if self.min_ is None or self.max_ is None:
            self.min_, self.max_ = lo, hi
        else:
            self.min_ = self.min_ + self.momentum * (lo - self.min_)
            self.max_ = self.max_ + self.momentum * (hi - self.max_)


class _SampleObserver(Observer):
    """Keeps a bounded random sample of observed values (and the exact extremes) for range searches."""

    def __init__(self, qt: QType | str, symmetric: bool = False, max_samples: int = 1 << 18, seed: int = 0) -> None:
        super().__init__(qt, symmetric)
        self.max_samples = max_samples
        self._chunks: list[torch.Tensor] = []
        self._count = 0
        self._gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        super().observe(x)
        flat = x.detach().float().reshape(-1)
        keep = self.max_samples // 8  # each batch contributes at most an eighth of the budget
        if flat.numel() > keep:
            flat = flat[torch.randint(flat.numel(), (keep,), generator=self._gen)]
        self._chunks.append(flat)
        self._count += flat.numel()
        while self._count > self.max_samples and len(self._chunks) > 1:
            self._count -= self._chunks.pop(0).numel()

    @property
    def samples(self) -> torch.Tensor:
        Observer.range(self)  # raises before any observe()
        return torch.cat(self._chunks)


class PercentileObserver(_SampleObserver):
    """Range ``[percentile(100 - p), percentile(p)]`` of the observed values: clips rare outliers."""

    def __init__(self, qt: QType | str, symmetric: bool = False, percentile: float = 99.99) -> None:
        super().__init__(qt, symmetric)
        if not 50 < percentile <= 100:
            raise ConfigError(f"PercentileObserver.percentile must be in (50, 100], got {percentile!r}")
        self.percentile = percentile

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        values = self.samples
        q = torch.tensor([1 - self.percentile / 100, self.percentile / 100])
        lo, hi = torch.quantile(values, q)
        return lo, hi


class MSEObserver(_SampleObserver):
    """Searches ``alpha`` in ``(0, 1]`` so that ``[alpha * min, alpha * max]`` minimizes the fake-quant MSE."""

    def __init__(self, qt: QType | str, symmetric: bool = False, candidates: int = 100) -> None:
        super().__init__(qt, symmetric)
        self.candidates = candidates

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        values = self.samples
        lo, hi = super().range()
        best, best_err = (lo, hi), math.inf
        for alpha in torch.linspace(1.0 / self.candidates, 1.0, self.candidates).flip(0):
            scale, zero_point = compute_qparams(lo * alpha, hi * alpha, self.qtype, self.symmetric)
            err = float((fake_quantize(values, scale, zero_point, self.qtype) - values).pow(2).mean())
            if err < best_err:
                best, best_err = (lo * alpha, hi * alpha), err
        return best


class EntropyObserver(_SampleObserver):
    """TensorRT's entropy calibration: the threshold ``T`` on ``|x|`` minimizing ``KL(P || Q)``, where ``P`` is the
    histogram clipped at ``T`` (outliers folded into the last bin) and ``Q`` is ``P`` quantized to the grid's levels."""

    def __init__(self, qt: QType | str, symmetric: bool = False, bins: int = 2048, stride: int = 4) -> None:
        super().__init__(qt, symmetric)
        self.bins, self.stride = bins, stride

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = super().range()
        values = self.samples.abs().numpy()
        amax = float(values.max())
        if amax == 0:
            return lo, hi
        hist, edges = np.histogram(values, bins=self.bins, range=(0.0, amax))
        half = self.symmetric or float(lo) < 0  # a symmetric range spends half the codes on negative values
        levels = self.qtype.levels // 2 if half else self.qtype.levels
        threshold = _kl_threshold(hist.astype(np.float64), edges, max(levels, 2), self.stride)
        t = torch.tensor(threshold, dtype=torch.float32)
        return torch.maximum(lo, -t), torch.minimum(hi, t)


def _kl_threshold(hist: np.ndarray, edges: np.ndarray, levels: int, stride: int) -> float:
    best_i, best_kl = len(hist), math.inf
    for i in range(levels, len(hist) + 1, stride):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        chunk = np.arange(i) * levels // i  # which quantized bin each histogram bin falls into
        nonzero = p > 0
        sums = np.bincount(chunk, weights=hist[:i], minlength=levels)
        counts = np.bincount(chunk, weights=nonzero, minlength=levels)
        q = np.where(nonzero, sums[chunk] / np.maximum(counts[chunk], 1), 0.0)
        p, q = p / p.sum(), q / max(q.sum(), 1e-12)
        mask = p > 0
        kl = float(np.sum(p[mask] * np.log(p[mask] / np.maximum(q[mask], 1e-12))))
        if kl < best_kl:
            best_i, best_kl = i, kl
    return float(edges[best_i])


_OBSERVERS: dict[ObserverKind, type[Observer]] = {
    ObserverKind.MINMAX: MinMaxObserver,
    ObserverKind.MOVING_AVERAGE: MovingAverageMinMaxObserver,
    ObserverKind.PERCENTILE: PercentileObserver,
    ObserverKind.MSE: MSEObserver,
    ObserverKind.ENTROPY: EntropyObserver,
}


def make_observer(kind: ObserverKind | str, qt: QType | str, symmetric: bool = False, **options: float) -> Observer:
    """Build an observer by name (``minmax``, ``moving_average``, ``percentile``, ``mse``, ``entropy``)."""
    try:
        cls = _OBSERVERS[ObserverKind(kind)]
    except ValueError:
        raise ConfigError(f"observer must be one of {[k.value for k in ObserverKind]}, got {kind!r}") from None
    return cls(qt, symmetric, **options)  # type: ignore[arg-type]
