"""netslim: make trained neural networks smaller and faster, and prove by measurement how much accuracy they kept.

The public verbs and configs live here; optional frameworks (keras, transformers, openvino) are never imported at
package import time.
"""

from netslim.analyze import ModelProfile, profile
from netslim.bench import Timing, TimingConfig, compare, measure
from netslim.config import Config
from netslim.data import ArrayDataset, Splits, load_data
from netslim.errors import (
    BudgetNotMetError,
    ConfigError,
    DataError,
    ExportParityError,
    ModelLoadError,
    NetslimError,
    TraceError,
    UnsupportedLayerError,
)
from netslim.export import ExportConfig, export_onnx, load_artifact, save_artifact
from netslim.models import build_model, load_model, save_model
from netslim.quant import QATConfig, QuantConfig, qat_, quantize_
from netslim.train import DistillConfig, TrainConfig, TrainRecord, evaluate, train_

__version__ = "0.1.0"

__all__ = [
    "ArrayDataset",
    "BudgetNotMetError",
    "Config",
    "ConfigError",
    "DataError",
    "DistillConfig",
    "ExportConfig",
    "ExportParityError",
    "ModelLoadError",
    "ModelProfile",
    "NetslimError",
    "QATConfig",
    "QuantConfig",
    "Splits",
    "Timing",
    "TimingConfig",
    "TraceError",
    "TrainConfig",
    "TrainRecord",
    "UnsupportedLayerError",
    "__version__",
    "build_model",
    "compare",
    "evaluate",
    "export_onnx",
    "load_artifact",
    "load_data",
    "load_model",
    "measure",
    "profile",
    "qat_",
    "quantize_",
    "save_artifact",
    "save_model",
    "train_",
]
