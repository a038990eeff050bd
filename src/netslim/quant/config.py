"""Quantization configs: ``QuantConfig`` (post-training, :func:`quantize_`) and ``QATConfig`` (:func:`qat_`).

Both share a :class:`QuantScheme`: the weight and activation types, the weight granularity, the activation observer,
layers to ``skip`` and per-layer type ``overrides`` (``{"fc*": "int4"}``), all given as globs over module names.

Example:
    >>> config = QuantConfig(weights="int4", activations=None, granularity="per_group:32", overrides={"fc2": "int8"})
    >>> config.spec("fc2").weights, str(config.granularity)
    ('int8', 'per_group:32')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from torch import nn

from netslim.config import Config, check_range, coerce_enum
from netslim.errors import ConfigError
from netslim.quant.cpu import integer_kernels_saturate
from netslim.quant.modules import QuantSpec, quantizable
from netslim.quant.observers import ObserverKind
from netslim.quant.qtypes import Granularity, qtype
from netslim.select import last_match, matches, require
from netslim.train.config import TrainConfig

__all__ = ["QATConfig", "QuantConfig", "QuantScheme", "select_layers"]


@dataclasses.dataclass(frozen=True)
class QuantScheme(Config):
    """What to quantize and to which types. ``activations=None`` quantizes weights only. The defaults (int8
    per-channel symmetric weights, uint8 asymmetric activations) are the pattern ONNX Runtime and OpenVINO run as
    integer kernels on x86.

    ``reduce_range`` puts int8 weights on the 7-bit grid [-64, 63] (exported as int8) when the activations are
    quantized too (weight-only layers compute in fp32): x86 CPUs without VNNI (AVX2
    only) multiply u8 activations by s8 weights with ``vpmaddubsw``, whose int16 pair sums saturate for full-range
    weights, so ONNX Runtime's integer kernels drift from the model. :func:`netslim.quant.integer_kernels_saturate`
    says whether this CPU is one of them; ``None`` (the default) asks it, so that the config holds the answer.
    A model quantized on a VNNI machine for deployment on an AVX2 one should pass ``reduce_range=True``."""

    weights: str = "int8"
    activations: str | None = "uint8"  # u8 activations x s8 weights: the integer fast path of x86 runtimes
    granularity: Granularity | str = "per_channel"
    weight_symmetric: bool = True
    activation_symmetric: bool = False
    observer: ObserverKind | str = ObserverKind.MINMAX
    percentile: float = 99.99
    skip: tuple[str, ...] = ()
    overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)
    reduce_range: bool | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "weights", qtype(self.weights, owner=f"{owner}.weights").name)
        if self.activations is not None:
            object.__setattr__(self, "activations", qtype(self.activations, owner=f"{owner}.activations").name)
        object.__setattr__(self, "granularity", Granularity.parse(self.granularity, owner=f"{owner}.granularity"))
        object.__setattr__(self, "observer", coerce_enum(owner, "observer", ObserverKind, self.observer))
        check_range(owner, "percentile", self.percentile, 50, 100, low_open=True)
        if isinstance(self.skip, str):
            raise ConfigError(
                f"{owner}.skip must be a tuple of globs, got the string {self.skip!r}; use ({self.skip!r},)"
            )
        object.__setattr__(self, "skip", tuple(self.skip))
        overrides = dict(self.overrides)
        for pattern, value in overrides.items():
            overrides[pattern] = qtype(value, owner=f"{owner}.overrides[{pattern!r}]").name
        object.__setattr__(self, "overrides", overrides)
        if self.reduce_range is None:
            object.__setattr__(self, "reduce_range", integer_kernels_saturate())
        elif not isinstance(self.reduce_range, bool):
            raise ConfigError(
                f"{owner}.reduce_range must be True, False or None (ask the CPU), got {self.reduce_range!r}"
            )

    def spec(self, name: str, *, lsq: bool = False) -> QuantSpec:
        """The QuantSpec of layer ``name``: the last override whose glob matches wins over ``weights``."""
        weights = str(last_match(name, self.overrides, self.weights))
        if self.reduce_range and weights == "int8" and self.activations is not None:  # weight-only computes in fp32
            weights = "int7"
        options = (("percentile", self.percentile),) if self.observer is ObserverKind.PERCENTILE else ()
        return QuantSpec(
            weights=weights,
            activations=self.activations,
            granularity=Granularity.parse(self.granularity),
            weight_symmetric=self.weight_symmetric,
            activation_symmetric=self.activation_symmetric,
            observer=self.observer,
            lsq=lsq,
            observer_options=options,
        )


@dataclasses.dataclass(frozen=True)
class QuantConfig(QuantScheme):
    """Post-training quantization (:func:`netslim.quant.quantize_`).

    ``bias_correction`` removes the mean output shift that quantization causes in each layer, measured on the
    calibration data (Nagel et al. 2019, empirical variant). ``equalize`` applies cross-layer equalization to
    ``conv/linear -> [bn] -> relu -> conv/linear`` chains before quantizing. ``batch_size`` is the calibration batch.
    """

    bias_correction: bool = False
    equalize: bool = False
    batch_size: int = 256
    calibration_samples: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        for field in ("batch_size", "calibration_samples"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"QuantConfig.{field} must be a positive integer, got {value!r}")


@dataclasses.dataclass(frozen=True)
class QATConfig(QuantScheme):
    """Quantization-aware training (:func:`netslim.quant.qat_`): defaults to W4A8 with learned step sizes.

    ``lsq`` learns the scales (Esser et al. 2020); ``fold_bn`` folds BatchNorm into the preceding conv before
    training; ``calibration_samples`` training samples initialize the activation ranges; ``train`` is the training
    run (its ``distill`` distils from the teacher given to ``qat_``, or else from the float model).
    """

    weights: str = "int4"
    lsq: bool = True
    fold_bn: bool = True
    calibration_samples: int = 512
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", TrainConfig.from_dict(self.train))
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(f"QATConfig.train must be a TrainConfig, got {type(self.train).__name__}")
        if isinstance(self.calibration_samples, bool) or self.calibration_samples < 1:
            raise ConfigError(f"QATConfig.calibration_samples must be >= 1, got {self.calibration_samples!r}")


def select_layers(model: nn.Module, scheme: QuantScheme) -> list[tuple[str, nn.Module]]:
    """The quantizable layers of ``model`` not matched by ``scheme.skip``.

    A ``skip`` or ``overrides`` glob that matches no quantizable layer is a ConfigError naming it.
    """
    layers = [(name, m) for name, m in model.named_modules() if name and quantizable(m) is not None]
    names = [name for name, _ in layers]
    owner = type(scheme).__name__
    for field, patterns in (("skip", scheme.skip), ("overrides", tuple(scheme.overrides))):
        require(f"{owner}.{field}", patterns, names, "quantizable layer")
    return [(n, m) for n, m in layers if not matches(n, scheme.skip)]
