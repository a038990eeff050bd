"""Quantization-aware training: ``qat_(model, data, QATConfig(...), TrainConfig(...)) -> QATRecord``.

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
    >>> record = qat_(model, data, QATConfig(weights="int4", activations="int8"), TrainConfig(epochs=3, lr=3e-3))
    >>> record.accuracy > 0.8
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from netslim.data import Splits, calibration_subset
from netslim.errors import ConfigError, DataError
from netslim.quant.calibrate import calibrate, probe_layers
from netslim.quant.config import QATConfig
from netslim.quant.fold import fold_batchnorm_
from netslim.quant.ptq import QuantRecord, layer_rows, replace_layers
from netslim.train import Callback, TrainConfig, TrainRecord, evaluate, train_

__all__ = ["QATRecord", "qat_"]


@dataclass
class QATRecord:
    """What ``qat_`` did: the quantization record, the training record, and validation accuracy before training
    (float model, then quantized but untrained) and after (``accuracy``)."""

    quant: QuantRecord
    train: TrainRecord
    float_accuracy: float
    initial_accuracy: float
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "quant": self.quant.to_dict(),
            "train": self.train.to_dict(),
            "float_accuracy": self.float_accuracy,
            "initial_accuracy": self.initial_accuracy,
            "accuracy": self.accuracy,
        }


def qat_(
    model: nn.Module,
    data: Splits,
    config: QATConfig | None = None,
    train: TrainConfig | None = None,
    *,
    teacher: nn.Module | None = None,
    callback: Callback | None = None,
) -> QATRecord:
    """Quantize ``model`` in place and train it quantized on ``data.train`` (validating on ``data.val``).

    Accuracies in the record are measured on ``data.val``. ``teacher`` (a float model, e.g. a copy of ``model`` taken
    before this call) turns on knowledge distillation with ``train.distill`` (or its defaults). ``callback`` receives
    the training loop's progress.
    """
    config = config or QATConfig()
    if not isinstance(config, QATConfig):
        raise ConfigError(f"qat_ expects a QATConfig, got {type(config).__name__}")
    if not isinstance(data, Splits):
        raise ConfigError(f"qat_ expects Splits (train/val/test), got {type(data).__name__}")
    if len(data.train) == 0:
        raise DataError(f"dataset {data.train.name!r} is empty; QAT needs training samples")
    train = train or TrainConfig()
    float_accuracy = evaluate(model, data.val).accuracy if len(data.val) else float("nan")
    record = QuantRecord(config=config.to_dict(), calibration=data.train.name)
    if config.fold_bn:
        example, _ = next(data.train.batches(min(len(data.train), 8)))
        record.folded = fold_batchnorm_(model, example)
    names = replace_layers(model, config, lsq=config.lsq)
    calib = calibration_subset(data.train, config.calibration_samples, seed=train.seed)
    if config.activations is not None:
        calibrate(model, calib)
    initial_accuracy = evaluate(model, data.val).accuracy if len(data.val) else float("nan")
    train_record = train_(model, data, train, teacher=teacher, callback=callback)
    sqnr = {n: s.sqnr_db for n, s in probe_layers(model, calib).items()}
    record.layers = layer_rows(model, names, sqnr, set())
    accuracy = evaluate(model, data.val).accuracy if len(data.val) else float("nan")
    return QATRecord(record, train_record, float_accuracy, initial_accuracy, accuracy)
