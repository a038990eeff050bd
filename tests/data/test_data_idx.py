"""read_idx / write_idx: round trips, gzip detection and every corruption the reader must name."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from netslim.data import read_idx, write_idx
from netslim.errors import DataError


def _idx_bytes(array: np.ndarray, code: int, big_endian_dtype: str) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(big_endian_dtype).tobytes()


def _names(path) -> str:
    return re.escape(str(path))


@pytest.mark.parametrize("compressed", [False, True])
def test_reads_hand_built_file(tmp_path, compressed):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = _idx_bytes(images, 0x08, ">u1")
    path = tmp_path / "images.idx"  # no .gz suffix: gzip must be detected by its magic bytes
    path.write_bytes(gzip.compress(payload) if compressed else payload)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["data-idx3-ubyte", "data-idx3-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, dtype, name):
    array = (np.arange(60) - 7).astype(dtype).reshape(3, 4, 5)
    path = write_idx(tmp_path / name, array)
    assert path.read_bytes().startswith(b"\x1f\x8b") == name.endswith(".gz")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_big_endian_values_are_decoded(tmp_path):
    path = tmp_path / "ints.idx"
    path.write_bytes(_idx_bytes(np.array([1, 256, -2], dtype=np.int32), 0x0C, ">i4"))
    np.testing.assert_array_equal(read_idx(path), [1, 256, -2])


def test_truncated_file_names_file_and_byte_counts(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(np.zeros((10, 28, 28), np.uint8), 0x08, ">u1")[:-100])
    with pytest.raises(DataError, match=_names(path)) as info:
        read_idx(path)
    message = str(info.value)
    assert "7840" in message and "7740" in message and "truncated" in message


def test_trailing_bytes_are_rejected(tmp_path):
    path = tmp_path / "labels.idx1-ubyte"
    path.write_bytes(_idx_bytes(np.zeros(5, np.uint8), 0x08, ">u1") + b"\x00\x00")
    with pytest.raises(DataError, match=_names(path)) as info:
        read_idx(path)
    assert "trailing" in str(info.value) and "5 payload" in str(info.value)


@pytest.mark.parametrize("header", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"PK\x03\x04"])
def test_bad_magic(tmp_path, header):
    path = tmp_path / "bad.idx"
    path.write_bytes(header + b"\x00\x00\x00\x01\x00")
    with pytest.raises(DataError, match=_names(path)) as info:
        read_idx(path)
    assert "magic" in str(info.value)


def test_short_header_and_tiny_file(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match=_names(path)):
        read_idx(path)
    path.write_bytes(b"\x00")
    with pytest.raises(DataError, match="header"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros(100, np.uint8), 0x08, ">u1"))[:20])
    with pytest.raises(DataError, match=_names(path)) as info:
        read_idx(path)
    assert "gzip" in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope-idx1-ubyte"
    with pytest.raises(DataError, match=_names(path)) as info:
        read_idx(path)
    assert "expected an IDX file" in str(info.value)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))
