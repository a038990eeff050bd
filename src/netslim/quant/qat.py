"""Quantization-aware training: ``qat_(model, QATConfig(..., train=TrainConfig(...)), data=splits) -> Record``.

Steps: fold BatchNorm into the preceding layers (``fold_bn``, so training sees the folded weights that deployment
will quantize); replace the selected layers by quantized twins (learned step sizes with ``lsq``); initialize the
activation ranges on ``calibration_samples`` training samples; then train with :func:`netslim.train.train_`, the
straight-through estimator carrying gradients through the rounding. Every grid works, ternary and binary included.

Example:
    >>> from netslim.data import load_digits
    >>> from netslim.models import build_model
    >>> from netslim.train import TrainConfig
    >>> data = load_digits()
    >>> model = build_model("seed_mlp", data.input_shape)
    >>> config = QATConfig(weights="int4", activations="int8", train=TrainConfig(epochs=3, lr=3e-3))
    >>> record = qat_(model, config, data=data)
    >>> record.accuracy > 0.8
    True
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from netslim.data import Splits, calibration_subset
from netslim.errors import ConfigError, DataError
from netslim.quant.calibrate import calibrate, probe_layers
from netslim.quant.config import QATConfig
from netslim.quant.fold import fold_batchnorm_
from netslim.quant.ptq import layer_rows, model_params, note_quantized, quantized_bytes, replace_layers
from netslim.train import Callback, evaluate, train_
from netslim.transform import Record, transform

__all__ = ["qat_"]


@transform("qat_", QATConfig)
def qat_(
    model: nn.Module,
    config: QATConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Splits | None = None,
    teacher: nn.Module | None = None,
    callback: Callback | None = None,
) -> Record:
    """Quantize ``model`` in place and train it quantized on ``data.train`` (validating on ``data.val``).

    The record's details hold the training record and validation accuracies: of the float model
    (``float_accuracy``), quantized before training (``initial_accuracy``) and after (``accuracy``). With
    ``config.train.distill`` set, training distils from ``teacher`` (default: a copy of the float model taken
    before this call); a ``teacher`` alone distils with the default DistillConfig. ``callback`` receives the
    training loop's progress.
    """
    config = config or QATConfig()
    if not isinstance(config, QATConfig):
        raise ConfigError(f"qat_ expects a QATConfig, got {type(config).__name__}")
    if not isinstance(data, Splits):
        raise ConfigError(f"qat_ trains: pass data=Splits (train/val/test), got {type(data).__name__}")
    if len(data.train) == 0:
        raise DataError(f"dataset {data.train.name!r} is empty; QAT needs training samples")
    train = config.train
    if train.distill is not None and teacher is None:
        teacher = copy.deepcopy(model).eval()
    params_before = model_params(model)
    bytes_before = quantized_bytes(model)
    float_accuracy = evaluate(model, data.val).accuracy if len(data.val) else float("nan")
    folded: list[tuple[str, str]] = []
    if config.fold_bn:
        batch, _ = next(data.train.batches(min(len(data.train), 8)))
        folded = fold_batchnorm_(model, batch)
    names = replace_layers(model, config, lsq=config.lsq)
    note_quantized(model, config, names, lsq=config.lsq, folded=folded)
    calib = calibration_subset(data.train, config.calibration_samples, seed=train.seed)
    if config.activations is not None:
        calibrate(model, calib)
    initial_accuracy = evaluate(model, data.val).accuracy if len(data.val) else float("nan")
    train_record = train_(model, data, train, teacher=teacher, callback=callback)
    sqnr = {n: s.sqnr_db for n, s in probe_layers(model, calib).items()}
    accuracy = evaluate(model, data.val).accuracy if len(data.val) else float("nan")
    return Record(
        verb="qat_",
        config=config.to_dict(),
        layers=tuple(layer_rows(model, names, sqnr, set())),
        params_before=params_before,
        params_after=model_params(model),
        bytes_before=bytes_before,
        bytes_after=quantized_bytes(model),
        details={
            "folded": folded,
            "calibration": data.train.name,
            "train": train_record,
            "float_accuracy": float_accuracy,
            "initial_accuracy": initial_accuracy,
            "accuracy": accuracy,
        },
    )
