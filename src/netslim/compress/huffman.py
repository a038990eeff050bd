"""Canonical Huffman coding of small-alphabet integer streams (cluster indices, relative-index gaps).

The code is described by one length per symbol (0 = unused), so a decoder rebuilds it from the lengths alone:
codes are assigned in order of (length, symbol). Lengths are capped at ``MAX_LENGTH`` bits.

Example:
    >>> stream = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    >>> code = HuffmanCode.from_stream(stream, alphabet=4)
    >>> code.lengths.tolist()
    [1, 2, 3, 3]
    >>> data, nbits = code.encode(stream)
    >>> nbits, code.decode(data, len(stream)).tolist() == stream.tolist()
    (14, True)
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np

from netslim.errors import DataError

__all__ = ["MAX_LENGTH", "HuffmanCode", "huffman_lengths"]

MAX_LENGTH = 24


def huffman_lengths(counts: np.ndarray, max_length: int = MAX_LENGTH) -> np.ndarray:
    """Optimal prefix-code lengths for symbol ``counts`` (0 for unused symbols; a lone symbol gets 1 bit).

    If the optimal tree is deeper than ``max_length``, counts are halved (keeping them >= 1) until it fits.
    """
    counts = np.asarray(counts, dtype=np.int64)
    while True:
        lengths = _lengths(counts)
        if int(lengths.max(initial=0)) <= max_length:
            return lengths
        counts = np.where(counts > 0, (counts + 1) // 2, 0)


def _lengths(counts: np.ndarray) -> np.ndarray:
    lengths = np.zeros(counts.size, dtype=np.int64)
    used = np.flatnonzero(counts)
    if used.size == 1:
        lengths[used] = 1
    if used.size <= 1:
        return lengths
    # heap of (weight, tiebreak, symbols under this node); merging deepens every symbol below by one
    heap = [(int(counts[s]), i, [int(s)]) for i, s in enumerate(used)]
    heapq.heapify(heap)
    tiebreak = len(heap)
    while len(heap) > 1:
        w1, _, s1 = heapq.heappop(heap)
        w2, _, s2 = heapq.heappop(heap)
        merged = s1 + s2
        lengths[merged] += 1
        heapq.heappush(heap, (w1 + w2, tiebreak, merged))
        tiebreak += 1
    return lengths


@dataclasses.dataclass(frozen=True)
class HuffmanCode:
    """A canonical Huffman code over symbols ``0 .. len(lengths) - 1``."""

    lengths: np.ndarray

    @classmethod
    def from_stream(cls, stream: np.ndarray, alphabet: int) -> HuffmanCode:
        return cls(huffman_lengths(np.bincount(np.asarray(stream, dtype=np.int64), minlength=alphabet)))

    def codes(self) -> np.ndarray:
        """The canonical codeword of each symbol (as an integer of ``lengths[s]`` bits)."""
        lengths = self.lengths
        codes = np.zeros(lengths.size, dtype=np.int64)
        code, previous = 0, 0
        for symbol in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
            code <<= int(lengths[symbol]) - previous
            codes[symbol], previous = code, int(lengths[symbol])
            code += 1
        return codes

    def encode(self, stream: np.ndarray) -> tuple[bytes, int]:
        """Encode ``stream``; returns the packed bytes (MSB first, zero-padded) and the number of bits."""
        stream = np.asarray(stream, dtype=np.int64).ravel()
        if stream.size and (int(stream.min()) < 0 or int(stream.max()) >= self.lengths.size):
            raise ValueError(f"HuffmanCode.encode: symbols must be in 0..{self.lengths.size - 1}")
        lengths = self.lengths[stream]
        if stream.size and int(lengths.min()) == 0:
            raise ValueError("HuffmanCode.encode: the stream has a symbol this code does not cover")
        codes = self.codes()[stream]
        shift = (
            np.repeat(lengths, lengths)
            - 1
            - (np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths))
        )
        bits = (np.repeat(codes, lengths) >> shift) & 1
        return np.packbits(bits.astype(np.uint8)).tobytes(), int(lengths.sum())

    def decode(self, data: bytes, count: int, *, source: str = "Huffman stream") -> np.ndarray:
        """Decode ``count`` symbols from ``data``; a stream that ends early or holds no valid code is a DataError."""
        lengths = self.lengths
        max_len = int(lengths.max(initial=0))
        # canonical tables: per length, the first code and where its symbols start in the sorted symbol list
        order = [int(s) for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s))]
        per_length = np.bincount(lengths[order], minlength=max_len + 1) if order else np.zeros(1, np.int64)
        first, offset, code, start = [0] * (max_len + 1), [0] * (max_len + 1), 0, 0
        for n in range(1, max_len + 1):
            code = (code + int(per_length[n - 1])) << 1 if n > 1 else 0
            first[n], offset[n] = code, start
            start += int(per_length[n])
        counts = [int(c) for c in per_length]
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).tolist()
        out: list[int] = []
        pos, total = 0, len(bits)
        for _ in range(count):
            code, n = 0, 0
            while True:
                if pos >= total or n >= max_len:
                    raise DataError(f"{source}: truncated or corrupt Huffman data after {len(out)} of {count} symbols")
                code = (code << 1) | bits[pos]
                pos += 1
                n += 1
                if code - first[n] < counts[n]:
                    out.append(order[offset[n] + code - first[n]])
                    break
        return np.asarray(out, dtype=np.int64)
