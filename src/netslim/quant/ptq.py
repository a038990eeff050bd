"""Post-training quantization: ``quantize_(model, QuantConfig(...), data=calibration) -> Record``.

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
    >>> record = quantize_(model, config, data=calibration_subset(data.train, 256))
    >>> record["fc1"].weights, record["fc1"].sqnr_db > 20
    ('int8', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from netslim.data import ArrayDataset, Splits, calibration_subset
from netslim.errors import ConfigError, DataError, ModelLoadError
from netslim.models.arch import QuantEdit, architecture_of
from netslim.models.persist import rebuilder
from netslim.quant.calibrate import LayerError, Progress, calibrate, probe_layers
from netslim.quant.config import QuantConfig, select_layers
from netslim.quant.equalize import equalize_
from netslim.quant.fold import fold_batchnorm_, set_submodule
from netslim.quant.modules import QuantModule, quantizable
from netslim.transform import LayerChange, Record, transform

__all__ = ["quantize_", "quantized_bytes"]


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


def layer_rows(model: nn.Module, names: list[str], sqnr: dict[str, float], corrected: set[str]) -> list[LayerChange]:
    """One row per quantized layer: its types and scale statistics, and the SQNR of its output (None without
    data) in ``detail``."""
    rows = []
    for name in names:
        layer = model.get_submodule(name)
        assert isinstance(layer, QuantModule)
        scale = layer.weight_quant.scale.detach()
        act = layer.input_quant
        shape = tuple(layer.weight.shape)
        size = sum(p.numel() for p in layer.parameters(recurse=False))
        detail = {
            "weights": layer.weight_quant.qtype.name,
            "activations": None if act is None else act.qtype.name,
            "granularity": str(layer.weight_quant.granularity),
            "scale_min": float(scale.min()),
            "scale_max": float(scale.max()),
            "scale_mean": float(scale.mean()),
            "activation_scale": None if act is None else float(act.scale.detach()),
            "sqnr_db": sqnr.get(name),
            "bias_corrected": name in corrected,
        }
        rows.append(LayerChange(name, type(layer).__name__, "quantized", shape, shape, size, size, detail=detail))
    return rows


def model_params(model: nn.Module) -> int:
    """Parameters of ``model`` without the fake-quantizers' own (learned step sizes are not model weights)."""
    return sum(p.numel() for n, p in model.named_parameters() if "weight_quant." not in n and "input_quant." not in n)


def quantized_bytes(model: nn.Module) -> int:
    """Bytes of ``model``'s tensors as deployed: quantized weights at their bit width plus one fp32 scale (and zero
    point) per group, every other parameter and buffer at its own dtype's size; fake-quantizer state not counted."""
    total = 0
    counted: set[int] = set()
    for module in model.modules():
        if isinstance(module, QuantModule):
            bits = module.weight_qtype.bits
            total += (module.weight.numel() * bits + 7) // 8 + 8 * module.weight_quant.zero_point.numel()
            counted.add(id(module.weight))
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if id(tensor) in counted or "weight_quant." in name or "input_quant." in name:
            continue
        total += tensor.numel() * tensor.element_size()
    return total


@transform("quantize_", QuantConfig)
def quantize_(
    model: nn.Module,
    config: QuantConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Splits | ArrayDataset | None = None,
    teacher: nn.Module | None = None,
    progress: Progress | None = None,
) -> Record:
    """Quantize ``model`` in place after training and return its record (one row per quantized layer; details:
    ``folded``, ``equalized``, ``calibration``).

    ``data`` calibrates: a dataset (a few hundred training samples, e.g. ``calibration_subset(data.train, 256)``)
    is used whole, a ``Splits`` gives ``config.calibration_samples`` stratified training samples. It sets activation
    ranges, drives bias correction and the per-layer SQNR, and is required when ``config.activations`` is set; an
    empty one is a DataError naming it. ``progress(done, total)`` is called after each calibration batch.
    """
    config = config or QuantConfig()
    if not isinstance(config, QuantConfig):
        raise ConfigError(f"quantize_ expects a QuantConfig, got {type(config).__name__}")
    calibration = calibration_subset(data.train, config.calibration_samples) if isinstance(data, Splits) else data
    params_before = model_params(model)
    bytes_before = quantized_bytes(model)
    if calibration is not None and len(calibration) == 0:
        raise DataError(f"dataset {calibration.name!r} is empty; calibration needs at least one sample")
    if config.activations is not None and calibration is None:
        raise ConfigError(
            f"QuantConfig.activations={config.activations!r} needs calibration data to set activation ranges: "
            "pass data=splits (or a calibration_subset(...)), or activations=None for weight-only quantization"
        )
    if config.bias_correction and calibration is None:
        raise ConfigError("QuantConfig.bias_correction needs calibration data; pass data=...")
    select_layers(model, config)  # validate globs before changing anything
    folded: list[tuple[str, str]] = []
    equalized: list[tuple[str, str]] = []
    if config.equalize:
        folded = fold_batchnorm_(model)
        equalized = equalize_(model)
    names = replace_layers(model, config)
    note_quantized(model, config, names, folded=folded)
    corrected: set[str] = set()
    sqnr: dict[str, float] = {}
    if calibration is not None:
        calibrate(model, calibration, config.batch_size, progress)
        if config.bias_correction:
            corrected = _correct_bias(model, probe_layers(model, calibration, config.batch_size))
        sqnr = {n: s.sqnr_db for n, s in probe_layers(model, calibration, config.batch_size).items()}
    return Record(
        verb="quantize_",
        config=config.to_dict(),
        layers=tuple(layer_rows(model, names, sqnr, corrected)),
        params_before=params_before,
        params_after=model_params(model),
        bytes_before=bytes_before,
        bytes_after=quantized_bytes(model),
        details={
            "folded": folded,
            "equalized": equalized,
            "calibration": None if calibration is None else calibration.name,
        },
    )


def note_quantized(
    model: nn.Module, config: Any, names: list[str], *, lsq: bool = False, folded: Sequence[tuple[str, str]] = ()
) -> None:
    """Record the layer swaps in the model's architecture so that ``load_model`` rebuilds the quantized model."""
    arch = architecture_of(model)
    if arch is not None:
        arch.quant.append(QuantEdit(config=config.to_dict(), layers=tuple(names), lsq=lsq, folded=tuple(folded)))


@rebuilder("quant")
def rebuild_quantized(model: nn.Module, entry: QuantEdit, state: dict[str, torch.Tensor]) -> None:
    """At load: re-apply the BatchNorm folds and quantized-layer swaps ``entry`` records (``load_state_dict``
    then fills the weights, scales and calibrated ranges)."""
    from netslim.config import Config

    config = Config.from_dict(entry.config)
    for layer_name, norm_name in entry.folded:
        layer = model.get_submodule(layer_name)
        if getattr(layer, "bias", None) is None:
            out = int(layer.weight.shape[0])  # type: ignore[union-attr, index]
            layer.bias = nn.Parameter(torch.zeros(out))  # type: ignore[assignment]
        set_submodule(model, norm_name, nn.Identity())
    for name in entry.layers:
        module = model.get_submodule(name)
        cls = quantizable(module)
        if cls is None:
            raise ModelLoadError(f"architecture: quantized layer {name!r} is a {type(module).__name__}")
        layer = cls.from_float(module, config.spec(name, lsq=entry.lsq), name)  # type: ignore[attr-defined]
        shift = state.get(f"{name}.bias_shift")
        if shift is not None:
            layer.register_buffer("bias_shift", torch.empty_like(shift))
        set_submodule(model, name, layer)
