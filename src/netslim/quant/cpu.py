"""What this CPU's integer kernels can do: whether u8 x s8 products saturate (x86 without VNNI).

x86 integer GEMM/conv kernels multiply uint8 activations by int8 weights. With VNNI (AVX512-VNNI, AVX-VNNI, or AMX)
the products accumulate in int32. Without it (AVX2 only: e.g. AMD Zen 1-3, Intel before Cascade Lake) they go
through ``vpmaddubsw``, which adds pairs of products in int16 and saturates: ``2 * 255 * 127`` does not fit, so a
full-range int8 weight grid drifts in ONNX Runtime. Weights on the 7-bit grid (``QuantScheme.reduce_range``) cannot
saturate (``2 * 255 * 64 <= 32767``).
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The feature flags of the first CPU in ``/proc/cpuinfo`` (or the given text); empty where there is none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def integer_kernels_saturate() -> bool:
    """True on an x86 CPU whose flags show AVX2 but no VNNI: full-range u8 x s8 products can saturate there.

    False on ARM, on VNNI CPUs, and where the flags cannot be read (no ``/proc/cpuinfo``).
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    return saturates(cpu_flags())


def saturates(flags: frozenset[str]) -> bool:
    """Whether a CPU with these flags runs u8 x s8 through int16 pair sums (AVX2 without any VNNI flavour)."""
    return "avx2" in flags and not (flags & VNNI_FLAGS)


__all__ = ["VNNI_FLAGS", "cpu_flags", "integer_kernels_saturate", "saturates"]
