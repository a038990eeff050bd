"""Bit-packing and the paper's relative sparse indexing.

Relative indexing (Han et al. 2016, fig. 2): a sparse tensor (flattened, row-major) is stored as entries
``(gap, value)`` where ``gap`` is the distance from the previous entry's position (the first from position -1), so
``gap >= 1`` and it is stored as ``gap - 1`` in ``gap_bits`` bits. A gap larger than ``2**gap_bits`` is bridged by
filler entries of value 0 placed ``2**gap_bits`` apart.

Example:
    >>> gaps, values = relative_index(np.array([0, 3, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]), 2)
    >>> gaps.tolist(), values.tolist()
    ([2, 4, 2, 4, 4, 4], [3, 0, 5, 0, 0, 2])
    >>> absolute_index(gaps, values, 20).tolist()[:8]
    [0, 3, 0, 0, 0, 0, 0, 5]
"""

from __future__ import annotations

import numpy as np

from netslim.errors import DataError

__all__ = ["absolute_index", "pack_bits", "relative_index", "unpack_bits"]


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """Pack non-negative integers ``< 2**width`` into ``width`` bits each, MSB first, zero-padded to a byte."""
    values = np.asarray(values, dtype=np.uint64).ravel()
    if values.size and int(values.max()) >> width:
        raise ValueError(f"pack_bits: value {int(values.max())} does not fit in {width} bits")
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    bits = ((values[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.ravel()).tobytes()


def unpack_bits(data: bytes, width: int, count: int, *, source: str = "bit stream") -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``count`` integers of ``width`` bits (int64)."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    if bits.size < width * count:
        raise DataError(
            f"{source}: truncated, {count} values of {width} bits need {width * count} bits, got {bits.size}"
        )
    table = bits[: width * count].reshape(count, width).astype(np.int64)
    return table @ (np.int64(1) << np.arange(width - 1, -1, -1, dtype=np.int64))


def relative_index(flat: np.ndarray, gap_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries ``(gaps, values)`` of the nonzeros of ``flat``, with filler zeros where a gap overflows."""
    flat = np.asarray(flat).ravel()
    positions = np.flatnonzero(flat)
    span = 1 << gap_bits
    gaps = np.diff(positions, prepend=-1)
    fillers = (gaps - 1) // span  # filler entries needed before each nonzero
    total = int(gaps.size + fillers.sum())
    out_gaps = np.full(total, span, dtype=np.int64)
    out_values = np.zeros(total, dtype=flat.dtype)
    ends = np.cumsum(fillers + 1) - 1  # where each real entry lands
    out_gaps[ends] = gaps - fillers * span
    out_values[ends] = flat[positions]
    return out_gaps, out_values


def absolute_index(gaps: np.ndarray, values: np.ndarray, size: int, *, source: str = "sparse tensor") -> np.ndarray:
    """Inverse of :func:`relative_index`: the dense flat array of ``size`` elements."""
    gaps = np.asarray(gaps, dtype=np.int64)
    positions = np.cumsum(gaps) - 1
    if gaps.size and (int(gaps.min()) < 1 or int(positions[-1]) >= size):
        raise DataError(f"{source}: relative indices run past the tensor's {size} elements (corrupt data)")
    out = np.zeros(size, dtype=np.asarray(values).dtype)
    out[positions] = values
    return out
