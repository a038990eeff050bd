"""Quantization: integer (int8/int4/int2) and sub-integer (ternary, binary) types, observers, quantized layers,
post-training quantization (``quantize_``), quantization-aware training (``qat_``) and mixed precision.

Example:
    >>> from netslim.data import calibration_subset, load_digits
    >>> from netslim.models import build_model
    >>> from netslim.quant import QuantConfig, quantize_
    >>> data = load_digits()
    >>> model = build_model("seed_cnn", data.input_shape)
    >>> calib = calibration_subset(data.train, 128)
    >>> record = quantize_(model, QuantConfig(weights="int8", activations="int8"), data=calib)
    >>> all(row.sqnr_db > 30 for row in record.layers)
    True
"""

from netslim.quant.calibrate import LayerError, calibrate, probe_layers
from netslim.quant.config import QATConfig, QuantConfig, QuantScheme, select_layers
from netslim.quant.cpu import integer_kernels_saturate
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
from netslim.quant.ptq import quantize_, quantized_bytes
from netslim.quant.qat import qat_
from netslim.quant.qtypes import QTYPES, Granularity, GranularityKind, QKind, QType, qtype
from netslim.quant.sensitivity import allocate_bits, bit_overrides, layer_sensitivity, layer_sizes

__all__ = [
    "QTYPES",
    "ActivationFakeQuant",
    "EntropyObserver",
    "Granularity",
    "GranularityKind",
    "LayerError",
    "MSEObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "Observer",
    "ObserverKind",
    "PercentileObserver",
    "QATConfig",
    "QKind",
    "QParams",
    "QType",
    "QuantConfig",
    "QuantConv1d",
    "QuantConv2d",
    "QuantLinear",
    "QuantModule",
    "QuantScheme",
    "QuantSpec",
    "WeightFakeQuant",
    "allocate_bits",
    "bit_overrides",
    "calibrate",
    "compute_qparams",
    "dequantize",
    "equalize_",
    "fake_quantize",
    "fold_batchnorm_",
    "integer_kernels_saturate",
    "layer_sensitivity",
    "layer_sizes",
    "make_observer",
    "probe_layers",
    "qat_",
    "qtype",
    "quantizable",
    "quantize",
    "quantize_",
    "quantized_bytes",
    "quantized_module",
    "select_layers",
    "sqnr",
    "weight_qparams",
]
