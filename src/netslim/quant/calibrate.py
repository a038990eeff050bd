"""Calibration passes over a dataset: activation observers, and per-layer output error probes.

``calibrate`` runs data through a model whose activation fake-quantizers observe (values pass through unchanged),
then freezes their ranges. ``probe_layers`` runs data through the quantized model and, for every quantized layer,
compares its output to the float layer's output on the same input: the SQNR in dB and the mean error per output
channel (what bias correction removes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from netslim.data import ArrayDataset
from netslim.errors import DataError
from netslim.quant.fake import ActivationFakeQuant
from netslim.quant.modules import QuantModule

__all__ = ["LayerError", "Progress", "calibrate", "probe_layers"]

Progress = Callable[[int, int], None]
"""Called as ``progress(batches_done, batches_total)`` after every calibration batch."""


def _run(model: nn.Module, data: ArrayDataset, batch_size: int, progress: Progress | None) -> None:
    if len(data) == 0:
        raise DataError(f"dataset {data.name!r} is empty; calibration needs at least one sample")
    total = -(-len(data) // batch_size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i, (x, _) in enumerate(data.batches(batch_size), start=1):
                model(x)
                if progress is not None:
                    progress(i, total)
    finally:
        model.train(was_training)


def calibrate(model: nn.Module, data: ArrayDataset, batch_size: int = 256, progress: Progress | None = None) -> int:
    """Observe every activation fake-quantizer of ``model`` over ``data``, then freeze their ranges.

    Returns how many quantizers were calibrated. An empty ``data`` is a DataError naming the dataset.
    """
    quantizers = [m for m in model.modules() if isinstance(m, ActivationFakeQuant)]
    if not quantizers:
        return 0
    for q in quantizers:
        q.observing = True
    try:
        _run(model, data, batch_size, progress)
    finally:
        for q in quantizers:
            q.observing = False
    for q in quantizers:
        q.freeze()
    return len(quantizers)


@dataclass
class LayerError:
    """Accumulated output error of one quantized layer against its float twin."""

    signal: float = 0.0
    noise: float = 0.0
    error_sum: torch.Tensor | None = None
    count: int = 0

    @property
    def sqnr_db(self) -> float:
        if self.noise == 0:
            return float("inf")
        return float(10 * torch.log10(torch.tensor(self.signal / self.noise)))

    @property
    def mean_error(self) -> torch.Tensor | None:
        """Mean (quantized - float) output per output channel."""
        return None if self.error_sum is None else self.error_sum / max(self.count, 1)


def _channel_dim(module: QuantModule) -> int:
    return -1 if isinstance(module, nn.Linear) else 1


def probe_layers(
    model: nn.Module, data: ArrayDataset, batch_size: int = 256, progress: Progress | None = None
) -> dict[str, LayerError]:
    """Per quantized layer: output SQNR vs the float layer (same input) and mean error per output channel."""
    stats: dict[str, LayerError] = {}
    handles = []

    def hook(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            assert isinstance(module, QuantModule)
            reference = module.float_forward(inputs[0])
            err = (output - reference).double()
            entry = stats.setdefault(name, LayerError())
            entry.signal += float(reference.double().pow(2).sum())
            entry.noise += float(err.pow(2).sum())
            dim = _channel_dim(module) % err.ndim
            per_channel = err.transpose(0, dim).reshape(err.shape[dim], -1)
            entry.error_sum = per_channel.sum(1) if entry.error_sum is None else entry.error_sum + per_channel.sum(1)
            entry.count += per_channel.shape[1]

        return record

    for name, module in model.named_modules():
        if isinstance(module, QuantModule):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        _run(model, data, batch_size, progress)
    finally:
        for handle in handles:
            handle.remove()
    return stats
