"""Numbers as people read them: milliseconds, bytes, percentages and counts, each with its unit."""

from __future__ import annotations

import math
from typing import TypeGuard


def is_number(value: object) -> TypeGuard[float]:
    """A finite int or float (not a bool): JSON records may hold ``None``, strings such as ``"nan"``, or bools."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def ms(value: object) -> str:
    """``0.11234`` -> ``"0.112 ms"``: three significant digits."""
    return f"{_significant(value, 3)} ms" if is_number(value) else "–"


def percent(fraction: object, digits: int = 2) -> str:
    """``0.9815`` -> ``"98.15%"``."""
    return f"{fraction * 100:.{digits}f}%" if is_number(fraction) else "–"


def count(value: object) -> str:
    """``38272`` -> ``"38,272"``."""
    return f"{int(value):,}" if is_number(value) else "–"


BYTE_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def byte_unit(largest: float) -> tuple[float, str]:
    """The scale and SI unit to show byte counts up to ``largest`` in: ``(1000.0, "kB")`` for 31,610."""
    for scale, unit in BYTE_UNITS:
        if largest >= 10 * scale:
            return scale, unit
    return 1.0, "B"


def size(value: object) -> str:
    """``31610`` -> ``"31.6 kB"`` (SI units, as file managers show them)."""
    if not is_number(value):
        return "–"
    for scale, unit in BYTE_UNITS:
        if abs(value) >= scale:
            return f"{_significant(value / scale, 3)} {unit}"
    return f"{int(value)} B"


def ratio(before: object, after: object) -> str:
    """``before -> after`` with the after/before ratio: ``"38,272 -> 12,480 (32.6%)"``."""
    share = f" ({after / before:.1%})" if is_number(before) and is_number(after) and before else ""
    return f"{count(before)} → {count(after)}{share}"


def _significant(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs: ``tick(0.25, 0.25)`` -> ``"0.25"``."""
    decimals = next((d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 6)
    text = f"{value:,.{decimals}f}"
    return "0" if text.strip("-0.,") == "" else text
