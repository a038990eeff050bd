"""Post-training quantization: ``quantize_(model, QuantConfig(...), calibration=data) -> QuantRecord``.

Steps: (optionally) fold BatchNorm and equalize ranges across layers; replace every selected layer by its
quantized twin (weights fake-quantized at the configured type and granularity); calibrate activation ranges on
``calibration``; (optionally) correct each layer's bias for the mean output shift quantization causes; measure each
layer's output SQNR against the float layer on the calibration data.

Example:
    >>> from netslim.data import load_digits, calibration_subset
    >>> from netslim.models import build_model
    >>> data = load_digits()
    >>> model = build_model("seed_mlp", data.input_shape)
    >>> config = QuantConfig(weights="int8", activations="int8", reduce_range=False)  # True: 7-bit grid (AVX2)
    >>> record = quantize_(model, config, calibration_subset(data.train, 256))
    >>> record["fc1"].weights, record["fc1"].sqnr_db > 20
    ('int8', True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from netslim.data import ArrayDataset
from netslim.errors import ConfigError, DataError
from netslim.quant.calibrate import LayerError, Progress, calibrate, probe_layers
from netslim.quant.config import QuantConfig, select_layers
from netslim.quant.equalize import equalize_
from netslim.quant.fold import fold_batchnorm_, set_submodule
from netslim.quant.modules import QuantModule, quantizable

__all__ = ["LayerQuant", "QuantRecord", "quantize_"]


@dataclass(frozen=True)
class LayerQuant:
    """What happened to one layer: its types, scale statistics and the SQNR of its output (None without data)."""

    name: str
    layer: str
    weights: str
    activations: str | None
    granularity: str
    scale_min: float
    scale_max: float
    scale_mean: float
    activation_scale: float | None
    sqnr_db: float | None
    bias_corrected: bool


@dataclass
class QuantRecord:
    """The record ``quantize_`` and ``qat_`` return: the config, one row per quantized layer, and preprocessing."""

    config: dict[str, Any]
    layers: list[LayerQuant] = field(default_factory=list)
    folded: list[tuple[str, str]] = field(default_factory=list)
    equalized: list[tuple[str, str]] = field(default_factory=list)
    calibration: str | None = None

    def __getitem__(self, name: str) -> LayerQuant:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"{name!r} was not quantized; quantized layers: {[x.name for x in self.layers]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "layers": [asdict(x) for x in self.layers],
            "folded": [list(p) for p in self.folded],
            "equalized": [list(p) for p in self.equalized],
            "calibration": self.calibration,
        }


def replace_layers(model: nn.Module, config: Any, *, lsq: bool = False) -> list[str]:
    """Swap every layer ``select_layers`` picks for its quantized twin; returns their names."""
    names = []
    for name, module in select_layers(model, config):
        cls = quantizable(module)
        assert cls is not None
        set_submodule(model, name, cls.from_float(module, config.spec(name, lsq=lsq), name))
        names.append(name)
    return names


@torch.no_grad()
def _correct_bias(model: nn.Module, errors: dict[str, LayerError]) -> set[str]:
    corrected = set()
    for name, stats in errors.items():
        layer = model.get_submodule(name)
        shift = stats.mean_error
        if shift is None or not isinstance(layer, QuantModule):
            continue
        layer.correct_bias(shift.to(layer.weight.dtype))
        corrected.add(name)
    return corrected


def layer_rows(model: nn.Module, names: list[str], sqnr: dict[str, float], corrected: set[str]) -> list[LayerQuant]:
    """One :class:`LayerQuant` per quantized layer name."""
    rows = []
    for name in names:
        layer = model.get_submodule(name)
        assert isinstance(layer, QuantModule)
        scale = layer.weight_quant.scale.detach()
        act = layer.input_quant
        rows.append(
            LayerQuant(
                name=name,
                layer=type(layer).__name__,
                weights=layer.weight_quant.qtype.name,
                activations=None if act is None else act.qtype.name,
                granularity=str(layer.weight_quant.granularity),
                scale_min=float(scale.min()),
                scale_max=float(scale.max()),
                scale_mean=float(scale.mean()),
                activation_scale=None if act is None else float(act.scale.detach()),
                sqnr_db=sqnr.get(name),
                bias_corrected=name in corrected,
            )
        )
    return rows


def quantize_(
    model: nn.Module,
    config: QuantConfig | None = None,
    calibration: ArrayDataset | None = None,
    *,
    progress: Progress | None = None,
) -> QuantRecord:
    """Quantize ``model`` in place after training and return a :class:`QuantRecord`.

    ``calibration`` (a few hundred training samples, e.g. ``calibration_subset(data.train, 256)``) sets activation
    ranges, drives bias correction and the per-layer SQNR. It is required when ``config.activations`` is set; an
    empty one is a DataError naming it. ``progress(done, total)`` is called after each calibration batch.
    """
    config = config or QuantConfig()
    if not isinstance(config, QuantConfig):
        raise ConfigError(f"quantize_ expects a QuantConfig, got {type(config).__name__}")
    if calibration is not None and len(calibration) == 0:
        raise DataError(f"dataset {calibration.name!r} is empty; calibration needs at least one sample")
    if config.activations is not None and calibration is None:
        raise ConfigError(
            f"QuantConfig.activations={config.activations!r} needs calibration data to set activation ranges: "
            "pass calibration=calibration_subset(data.train, 256), or activations=None for weight-only quantization"
        )
    if config.bias_correction and calibration is None:
        raise ConfigError("QuantConfig.bias_correction needs calibration data; pass calibration=...")
    record = QuantRecord(config=config.to_dict(), calibration=None if calibration is None else calibration.name)
    select_layers(model, config)  # validate globs before changing anything
    if config.equalize:
        record.folded = fold_batchnorm_(model)
        record.equalized = equalize_(model)
    names = replace_layers(model, config)
    corrected: set[str] = set()
    sqnr: dict[str, float] = {}
    if calibration is not None:
        calibrate(model, calibration, config.batch_size, progress)
        if config.bias_correction:
            corrected = _correct_bias(model, probe_layers(model, calibration, config.batch_size))
        sqnr = {n: s.sqnr_db for n, s in probe_layers(model, calibration, config.batch_size).items()}
    record.layers = layer_rows(model, names, sqnr, corrected)
    return record
