"""Quantization: integer (int8/int4/int2) and sub-integer (ternary, binary) types, observers, quantized layers,
post-training quantization (``quantize_``), quantization-aware training (``qat_``) and mixed precision.

Example:
    >>> from netslim.data import calibration_subset, load_digits
    >>> from netslim.models import build_model
    >>> from netslim.quant import QuantConfig, quantize_
    >>> data = load_digits()
    >>> model = build_model("seed_cnn", data.input_shape)
    >>> calib = calibration_subset(data.train, 128)
    >>> record = quantize_(model, QuantConfig(weights="int8", activations="int8"), calibration=calib)
    >>> all(row.sqnr_db > 30 for row in record.layers)
    True
"""

from netslim.quant.calibrate import LayerError, calibrate, probe_layers
from netslim.quant.config import QATConfig, QuantConfig, QuantScheme, select_layers
from netslim.quant.cpu import integer_kernels_saturate
from netslim.quant.deep import (
    CompressionReport,
    DeepCompressionConfig,
    EncodeConfig,
    HuffmanCode,
    SharingConfig,
    SparsityConfig,
    deep_compress_,
    load_compressed,
    save_compressed,
    share_weights_,
    sparsify_,
    strip_masks_,
)
from netslim.quant.equalize import equalize_
from netslim.quant.fake import ActivationFakeQuant, WeightFakeQuant
from netslim.quant.fold import fold_batchnorm_
from netslim.quant.functional import QParams, compute_qparams, dequantize, fake_quantize, quantize, sqnr, weight_qparams
from netslim.quant.modules import (
    QuantConv1d,
    QuantConv2d,
    QuantLinear,
    QuantModule,
    QuantSpec,
    quantizable,
    quantized_module,
)
from netslim.quant.observers import (
    EntropyObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MSEObserver,
    Observer,
    ObserverKind,
    PercentileObserver,
    make_observer,
)
from netslim.quant.ptq import LayerQuant, QuantRecord, quantize_
from netslim.quant.qat import QATRecord, qat_
from netslim.quant.qtypes import QTYPES, Granularity, GranularityKind, QKind, QType, qtype
from netslim.quant.sensitivity import allocate_bits, bit_overrides, layer_sensitivity, layer_sizes

__all__ = [
    "QTYPES",
    "ActivationFakeQuant",
    "CompressionReport",
    "DeepCompressionConfig",
    "EncodeConfig",
    "EntropyObserver",
    "Granularity",
    "GranularityKind",
    "HuffmanCode",
    "LayerError",
    "LayerQuant",
    "MSEObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "Observer",
    "ObserverKind",
    "PercentileObserver",
    "QATConfig",
    "QATRecord",
    "QKind",
    "QParams",
    "QType",
    "QuantConfig",
    "QuantConv1d",
    "QuantConv2d",
    "QuantLinear",
    "QuantModule",
    "QuantRecord",
    "QuantScheme",
    "QuantSpec",
    "SharingConfig",
    "SparsityConfig",
    "WeightFakeQuant",
    "allocate_bits",
    "bit_overrides",
    "calibrate",
    "compute_qparams",
    "deep_compress_",
    "dequantize",
    "equalize_",
    "fake_quantize",
    "fold_batchnorm_",
    "integer_kernels_saturate",
    "layer_sensitivity",
    "layer_sizes",
    "load_compressed",
    "make_observer",
    "probe_layers",
    "qat_",
    "qtype",
    "quantizable",
    "quantize",
    "quantize_",
    "quantized_module",
    "save_compressed",
    "select_layers",
    "share_weights_",
    "sparsify_",
    "sqnr",
    "strip_masks_",
    "weight_qparams",
]
