"""netslim: make trained neural networks smaller and faster, and prove by measurement how much accuracy they kept.

The public verbs and configs live here; optional frameworks (keras, transformers, openvino) are never imported at
package import time.
"""

from netslim.analyze import ModelProfile, profile
from netslim.bench import Timing, TimingConfig, compare, measure
from netslim.compress import (
    DeepCompressionConfig,
    SharingConfig,
    SparsityConfig,
    deep_compress_,
    load_compressed,
    save_compressed,
    share_weights_,
    sparsify_,
)
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
from netslim.structure import (
    ActivationConfig,
    DecomposeConfig,
    IterativePruneConfig,
    KernelConfig,
    PruneConfig,
    RemoveBlocksConfig,
    ResizeConfig,
    SeparableConfig,
    SwapActivationConfig,
    analyze_structure,
    decompose_,
    prune_,
    prune_iteratively_,
    remove_blocks_,
    resize_,
    separable_,
    set_kernel_,
    swap_activation_,
)
from netslim.train import DistillConfig, TrainConfig, TrainRecord, evaluate, finetune_, train_
from netslim.transform import LayerChange, Recipe, Record, apply_, apply_recipe

__version__ = "0.1.0"

__all__ = [
    "ActivationConfig",
    "ArrayDataset",
    "BudgetNotMetError",
    "Config",
    "ConfigError",
    "DataError",
    "DecomposeConfig",
    "DeepCompressionConfig",
    "DistillConfig",
    "ExportConfig",
    "ExportParityError",
    "IterativePruneConfig",
    "KernelConfig",
    "LayerChange",
    "ModelLoadError",
    "ModelProfile",
    "NetslimError",
    "PruneConfig",
    "QATConfig",
    "QuantConfig",
    "Recipe",
    "Record",
    "RemoveBlocksConfig",
    "ResizeConfig",
    "SeparableConfig",
    "SharingConfig",
    "SparsityConfig",
    "Splits",
    "SwapActivationConfig",
    "Timing",
    "TimingConfig",
    "TraceError",
    "TrainConfig",
    "TrainRecord",
    "UnsupportedLayerError",
    "__version__",
    "analyze_structure",
    "apply_",
    "apply_recipe",
    "build_model",
    "compare",
    "decompose_",
    "deep_compress_",
    "evaluate",
    "export_onnx",
    "finetune_",
    "load_artifact",
    "load_compressed",
    "load_data",
    "load_model",
    "measure",
    "profile",
    "prune_",
    "prune_iteratively_",
    "qat_",
    "quantize_",
    "remove_blocks_",
    "resize_",
    "save_artifact",
    "save_compressed",
    "save_model",
    "separable_",
    "set_kernel_",
    "share_weights_",
    "sparsify_",
    "swap_activation_",
    "train_",
]
