"""The IDX array format of MNIST-style files, raw or gzip-compressed: a validating reader and a writer."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from netslim.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

#: IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        what = "a directory" if path.is_dir() else "nothing"
        raise DataError(f"{path}: expected an IDX file here, found {what}. Check the path.")
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: starts with the gzip signature but could not be decompressed ({exc}). "
            "The download is probably truncated or corrupt; fetch the file again."
        ) from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip detected by its magic bytes) into an array in native byte order.

    Example:
        >>> images = read_idx("mnist/train-images-idx3-ubyte.gz")  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: expected an IDX header of at least 4 bytes, got {len(data)} bytes. Not an IDX file.")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DataError(
            f"{path}: bad IDX magic {data[:4].hex(' ')}; expected 00 00, a type code in ({_CODES}) and the number "
            "of dimensions. Not an IDX file (or a compressed format other than gzip)."
        )
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(
            f"{path}: IDX header declares {ndim} dimensions, which needs {header} header bytes; the file has "
            f"{len(data)} bytes. The file is truncated or not an IDX file."
        )
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    if (dims < 0).any():
        raise DataError(f"{path}: IDX dimensions must be non-negative, got {dims.tolist()}.")
    expected = int(np.prod(dims)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        kind = "truncated" if found < expected else "followed by trailing bytes"
        raise DataError(
            f"{path}: IDX header declares shape {tuple(dims.tolist())} of {dtype.name} = {expected} payload bytes, "
            f"but the file holds {found} payload bytes ({kind}). Fetch the file again."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(tuple(dims.tolist()))
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` is true (default: when ``path`` ends in ``.gz``).

    Example:
        >>> write_idx(tmp / "train-labels-idx1-ubyte.gz", np.array([3, 1, 4], dtype=np.uint8))  # doctest: +SKIP
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(
            f"{path}: cannot store dtype {array.dtype} in IDX; expected one of uint8, int8, int16, int32, float32, "
            "float64. Convert the array first."
        )
    if not 1 <= array.ndim <= 255:
        raise DataError(f"{path}: IDX stores 1 to 255 dimensions, got an array of shape {array.shape}.")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(payload, mtime=0) if compress else payload)
    return path
