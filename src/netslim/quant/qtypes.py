"""Quantized types (``int8`` ... ``binary``) and the granularity at which their scales are shared.

A :class:`QType` is a small description of an integer grid: ``x ≈ (q - zero_point) * scale`` with ``q`` in
``[qmin, qmax]``. Two grids are special: ``ternary`` ({-1, 0, 1}, Ternary Weight Networks) and ``binary``
({-1, +1}, BinaryConnect / XNOR-Net), whose scales come from weight statistics rather than a min/max range.

Example:
    >>> qtype("int4").qmin, qtype("int4").qmax
    (-8, 7)
    >>> Granularity.parse("per_group:32")
    Granularity(kind=<GranularityKind.PER_GROUP: 'per_group'>, group_size=32)
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import torch

from netslim.config import Config, coerce_enum
from netslim.errors import ConfigError


class QKind(str, enum.Enum):
    INT = "int"  # a uniform grid of 2**bits levels
    TERNARY = "ternary"  # {-1, 0, 1} * scale; values with |x| <= threshold map to 0 (TWN: 0.7 * mean|w|)
    BINARY = "binary"  # {-1, +1} * scale; scale = mean|w| (XNOR-Net)


@dataclasses.dataclass(frozen=True)
class QType:
    """An integer grid: ``bits`` wide, codes in ``[qmin, qmax]``, stored unpacked in ``dtype``."""

    name: str
    bits: int
    signed: bool
    qmin: int
    qmax: int
    kind: QKind = QKind.INT

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype that holds the integer codes (one code per element, not bit-packed)."""
        return torch.int8 if self.signed else torch.uint8

    @property
    def levels(self) -> int:
        """How many distinct values the grid represents."""
        return self.qmax - self.qmin + 1 if self.kind is not QKind.BINARY else 2

    @property
    def step(self) -> int:
        """Distance between neighbouring codes in units of ``scale`` (2 for binary, whose codes are -1 and +1)."""
        return 2 if self.kind is QKind.BINARY else 1


def _int(bits: int, signed: bool) -> QType:
    if signed:
        return QType(f"int{bits}", bits, True, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return QType(f"uint{bits}", bits, False, 0, 2**bits - 1)


QTYPES: dict[str, QType] = {
    q.name: q
    for q in (
        _int(8, True),
        _int(8, False),
        _int(7, True),  # int8 weights on a 7-bit grid: u8 x s8 kernels without VNNI (AVX2) cannot saturate
        _int(4, True),
        _int(4, False),
        _int(2, True),
        QType("ternary", 2, True, -1, 1, QKind.TERNARY),
        QType("binary", 1, True, -1, 1, QKind.BINARY),
    )
}


def qtype(value: QType | str | int, *, owner: str = "qtype") -> QType:
    """Look a type up by name (``"int4"``) or signed bit width (``4``); anything else is a ConfigError naming
    ``owner`` and listing the valid types."""
    if isinstance(value, QType):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        by_bits = {q.bits: q for q in QTYPES.values() if q.signed and q.kind is QKind.INT}
        by_bits[1] = QTYPES["binary"]
        if value in by_bits:
            return by_bits[value]
        raise ConfigError(
            f"{owner}: no quantized type has {value} bits; valid bit widths are {sorted(by_bits)} "
            f"and valid types are {sorted(QTYPES)}"
        )
    if isinstance(value, str) and value.lower() in QTYPES:
        return QTYPES[value.lower()]
    raise ConfigError(f"{owner} must be one of {sorted(QTYPES)} (or a bit width 8/4/2/1), got {value!r}")


class GranularityKind(str, enum.Enum):
    PER_TENSOR = "per_tensor"  # one scale for the whole tensor
    PER_CHANNEL = "per_channel"  # one scale per output channel (dim 0 of a weight)
    PER_GROUP = "per_group"  # one scale per output channel and per ``group_size`` input channels (dim 1)


@dataclasses.dataclass(frozen=True)
class Granularity(Config):
    """Which elements share one scale. Strings parse: ``"per_tensor"``, ``"per_channel"``, ``"per_group:64"``."""

    kind: GranularityKind | str = GranularityKind.PER_CHANNEL
    group_size: int | None = None

    def __post_init__(self) -> None:
        kind = coerce_enum("Granularity", "kind", GranularityKind, self.kind)
        object.__setattr__(self, "kind", kind)
        if kind is GranularityKind.PER_GROUP:
            if isinstance(self.group_size, bool) or not isinstance(self.group_size, int) or self.group_size < 1:
                raise ConfigError(
                    f"Granularity.group_size must be a positive integer for per_group, got {self.group_size!r}"
                )
        elif self.group_size is not None:
            raise ConfigError(
                f"Granularity.group_size is only used with per_group, got {self.group_size!r} for {kind.value}"
            )

    @classmethod
    def per_tensor(cls) -> Granularity:
        return cls(GranularityKind.PER_TENSOR)

    @classmethod
    def per_channel(cls) -> Granularity:
        return cls(GranularityKind.PER_CHANNEL)

    @classmethod
    def per_group(cls, group_size: int) -> Granularity:
        return cls(GranularityKind.PER_GROUP, group_size)

    @classmethod
    def parse(cls, value: Any, *, owner: str = "granularity") -> Granularity:
        """Accept a Granularity, a kind name, ``"per_group:N"`` or a ``to_dict`` payload."""
        if isinstance(value, Granularity):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        if isinstance(value, str) and value.startswith("per_group:"):
            size = value.split(":", 1)[1]
            if not size.isdigit():
                raise ConfigError(f"{owner}: expected 'per_group:<int>', got {value!r}")
            return cls.per_group(int(size))
        try:
            return cls(value)
        except ConfigError as exc:
            raise ConfigError(f"{owner}: {exc} (or 'per_group:<group size>')") from None

    def __str__(self) -> str:
        kind = GranularityKind(self.kind)
        return f"per_group:{self.group_size}" if kind is GranularityKind.PER_GROUP else kind.value

    def reduce_shape(self, x: torch.Tensor, layer: str = "tensor") -> tuple[int, ...]:
        """Shape of the scale tensor for ``x``: ``()``, ``(C,)`` or ``(C, in // group_size)``.

        A group size that does not divide the input channels is a ConfigError naming ``layer`` and both sizes.
        """
        kind = GranularityKind(self.kind)
        if kind is GranularityKind.PER_TENSOR:
            return ()
        if x.ndim < 2 and kind is GranularityKind.PER_GROUP:
            raise ConfigError(f"{layer}: per_group needs a weight with an input dimension, got shape {tuple(x.shape)}")
        if kind is GranularityKind.PER_CHANNEL:
            return (x.shape[0],)
        size = int(self.group_size or 0)
        if x.shape[1] % size:
            raise ConfigError(
                f"{layer}: group_size {size} does not divide its {x.shape[1]} input channels; "
                f"pick a divisor of {x.shape[1]} or skip the layer"
            )
        return (x.shape[0], x.shape[1] // size)


def grouped(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """View ``x`` so that reducing over dim ``len(shape)`` onwards gives one value per scale (``shape``)."""
    if len(shape) == 0:
        return x.reshape(1, -1)
    if len(shape) == 1:
        return x.reshape(shape[0], -1)
    return x.reshape(shape[0], shape[1], -1)


def expand(param: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a compact scale/zero point (``()``, ``(C,)`` or ``(C, G)``) against ``x`` (``(C, in, ...)``)."""
    if param.ndim == 0:
        return param
    if param.ndim == 1:
        return param.reshape(-1, *([1] * (x.ndim - 1)))
    group = x.shape[1] // param.shape[1]
    return param.repeat_interleave(group, dim=1).reshape(*param.shape[:1], x.shape[1], *([1] * (x.ndim - 2)))
