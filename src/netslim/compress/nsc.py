"""The ``.nsc`` file: a Deep-Compression model in one binary file, read back into a runnable torch model.

Layout (little-endian)::

    b"NSC2" | uint32 header length | header (compact UTF-8 JSON) | uint32 CRC-32 of the header | payload

The header holds the architecture (``model.netslim_arch``, rebuilt with :func:`netslim.models.build_model`), the
payload's byte count and CRC-32, and one entry per state_dict tensor, in order, each naming the lengths of its
payload segments (offsets follow by accumulation):

- ``shared`` (a weight-shared conv/linear weight): ``[codebook, index code, gap code, index stream, gap stream]``.
  The codebook is ``2**bits - 1`` fp32 centroids (index 0 is zero). The nonzeros are stored with the paper's relative
  indexing (``gap_bits`` per gap, filler zeros on overflow) as two streams, each either canonical-Huffman coded (the
  code is its symbol lengths packed 5 bits each) or packed at fixed width (``bits`` / ``gap_bits``; no code segment).
- ``dense``: raw little-endian values (floating tensors in ``dense_dtype``: float32, or float16 to halve biases).

Nothing is unpickled. Decoding reproduces the shared weights exactly (fp32 codebooks). The size netslim reports is
this file's byte count.

Example:
    >>> import tempfile, pathlib
    >>> from netslim.models import build_model
    >>> from netslim.compress import share_weights_
    >>> model = build_model("seed_mlp", (1, 8, 8))
    >>> _ = share_weights_(model)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.nsc"
    >>> save_compressed(model, path) == path.stat().st_size
    True
    >>> bool(torch.equal(load_compressed(path).fc1.weight, model.fc1.weight))
    True
"""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from netslim import atomic
from netslim.compress.bits import absolute_index, pack_bits, relative_index, unpack_bits
from netslim.compress.huffman import HuffmanCode
from netslim.compress.sparsity import plain_state, tensor_attr
from netslim.config import Config
from netslim.errors import ConfigError, DataError, ModelLoadError
from netslim.models.arch import Architecture
from netslim.models.persist import architecture as model_architecture
from netslim.models.persist import rebuild

__all__ = ["FORMAT", "EncodeConfig", "encode_model", "load_compressed", "save_compressed"]

# version 2: a CRC-32 of the header follows it, so a flipped bit in the header is refused like one in the payload
FORMAT, VERSION, MAGIC = "netslim-compressed", 2, b"NSC2"
LENGTH_BITS = 5  # a Huffman code is stored as one 5-bit length per symbol (MAX_LENGTH = 24 < 32)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64, "uint8": torch.uint8}


@dataclasses.dataclass(frozen=True)
class EncodeConfig(Config):
    """How :func:`save_compressed` writes shared layers: bits per relative-index gap for conv and linear layers
    (the paper: 8 and 5; ``None`` picks, per layer, the width giving the smallest file), Huffman or fixed-width
    streams, and the dtype of the remaining floating tensors (biases, norms)."""

    conv_gap_bits: int | None = 8
    linear_gap_bits: int | None = 5
    huffman: bool = True
    dense_dtype: str = "float32"

    def __post_init__(self) -> None:
        for field in ("conv_gap_bits", "linear_gap_bits"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16):
                raise ConfigError(f"EncodeConfig.{field} must be an integer in 1..16 or None (search), got {value!r}")
        if self.dense_dtype not in ("float32", "float16"):
            raise ConfigError(f"EncodeConfig.dense_dtype must be 'float32' or 'float16', got {self.dense_dtype!r}")


def _stream(values: np.ndarray, alphabet_bits: int, huffman: bool) -> tuple[list[bytes], int]:
    """Segments ``[code lengths, data]`` (Huffman) or ``[data]`` (fixed width), and the data's bit count."""
    if not huffman:
        return [pack_bits(values, alphabet_bits)], alphabet_bits * values.size
    code = HuffmanCode.from_stream(values, 1 << alphabet_bits)
    data, nbits = code.encode(values)
    return [pack_bits(code.lengths, LENGTH_BITS), data], nbits


def _encode_shared(name: str, module: nn.Module, gap_bits: int, huffman: bool) -> tuple[dict[str, Any], list[bytes]]:
    codebook = tensor_attr(module, "weight_codebook").detach().to(torch.float32).numpy()
    bits = int(np.log2(codebook.size + 1))
    index = tensor_attr(module, "weight_index").numpy().astype(np.int64)
    gaps, values = relative_index(index, gap_bits)
    index_segments, index_bits = _stream(values, bits, huffman)
    gap_segments, gap_bits_used = _stream(gaps - 1, gap_bits, huffman)
    segments = [codebook.astype("<f4").tobytes(), *index_segments, *gap_segments]
    entry = {
        "name": f"{name}.weight" if name else "weight",
        "kind": "shared",
        "shape": list(index.shape),
        "bits": bits,
        "gap_bits": gap_bits,
        "entries": int(values.size),
        "nonzero": int(np.count_nonzero(values)),
        "huffman": huffman,
        "stream_bits": [index_bits, gap_bits_used],
        "segments": [len(s) for s in segments],
    }
    return entry, segments


def _best_shared(name: str, module: nn.Module, gap_bits: int | None, huffman: bool) -> tuple[dict, list[bytes]]:
    if gap_bits is not None:
        return _encode_shared(name, module, gap_bits, huffman)
    options = [_encode_shared(name, module, b, huffman) for b in range(1, 13)]
    return min(options, key=lambda o: sum(o[0]["segments"]))


def encode_model(model: nn.Module, config: EncodeConfig | None = None) -> bytes:
    """The ``.nsc`` bytes of ``model`` (shared layers compressed, every other tensor dense)."""
    config = config or EncodeConfig()
    entries: list[dict[str, Any]] = []
    payload: list[bytes] = []
    for name, tensor in plain_state(model).items():
        module = model.get_submodule(name.rpartition(".")[0])
        if name.endswith(".weight_index"):
            continue
        if name.endswith(".weight_codebook"):
            gap_bits = config.linear_gap_bits if isinstance(module, nn.Linear) else config.conv_gap_bits
            entry, segments = _best_shared(name.rpartition(".")[0], module, gap_bits, config.huffman)
            entries.append(entry)
            payload.extend(segments)
            continue
        value = tensor.detach().cpu()
        dtype = config.dense_dtype if value.is_floating_point() else str(value.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise ConfigError(f"save_compressed: {name} has dtype {value.dtype}, which the .nsc format cannot store")
        data = value.to(DTYPES[dtype]).contiguous().numpy().astype(np.dtype(dtype).newbyteorder("<")).tobytes()
        shape = list(value.shape)
        entries.append({"name": name, "kind": "dense", "shape": shape, "dtype": dtype, "segments": [len(data)]})
        payload.append(data)
    body = b"".join(payload)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": model_architecture(model).to_dict(),
        "payload": len(body),
        "crc32": zlib.crc32(body),
        "tensors": entries,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + struct.pack("<I", zlib.crc32(head)) + body


def save_compressed(model: nn.Module, path: str | Path, config: EncodeConfig | None = None) -> int:
    """Write ``model`` as one ``.nsc`` file (atomically) and return the number of bytes written."""
    data = encode_model(model, config)
    atomic.write_bytes(path, data)
    return len(data)


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the compressed model ({exc})") from exc
    if len(raw) < 8 or raw[:4] != MAGIC:
        raise DataError(f"{path}: not a netslim .nsc file (expected the magic {MAGIC!r}, got {raw[:4]!r})")
    (size,) = struct.unpack("<I", raw[4:8])
    if 8 + size + 4 > len(raw):
        raise DataError(f"{path}: truncated .nsc file ({len(raw)} bytes; its header alone claims {size})")
    head = raw[8 : 8 + size]
    (head_crc,) = struct.unpack("<I", raw[8 + size : 12 + size])
    if zlib.crc32(head) != head_crc:
        raise DataError(f"{path}: corrupt .nsc file (header CRC-32 mismatch); re-create it with save_compressed")
    try:
        header = json.loads(head.decode())
        if not isinstance(header, dict) or not isinstance(header.get("tensors"), list):
            raise ValueError("the header is not an object with a list of tensors")
        body, expected, crc = raw[12 + size :], int(header["payload"]), int(header["crc32"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: corrupt or truncated .nsc header ({exc}); re-create it with save_compressed") from exc
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DataError(
            f"{path}: format {header.get('format')!r} v{header.get('version')}, expected {FORMAT!r} v{VERSION}"
        )
    if len(body) != expected:
        raise DataError(f"{path}: truncated .nsc file, payload has {len(body)} bytes, the header says {expected}")
    if zlib.crc32(body) != crc:
        raise DataError(f"{path}: corrupt .nsc file (payload CRC-32 mismatch); re-create it with save_compressed")
    return header, body


def _decode_stream(segments: list[bytes], width: int, count: int, huffman: bool, source: str) -> np.ndarray:
    if not huffman:
        return unpack_bits(segments[0], width, count, source=source)
    lengths = unpack_bits(segments[0], LENGTH_BITS, 1 << width, source=source)
    return HuffmanCode(lengths).decode(segments[1], count, source=source)


def _decode_shared(entry: dict[str, Any], segments: list[bytes], source: str) -> torch.Tensor:
    bits, gap_bits, count, huffman = entry["bits"], entry["gap_bits"], entry["entries"], entry["huffman"]
    codebook = np.concatenate([[0.0], np.frombuffer(segments[0], dtype="<f4")]).astype(np.float32)
    split = 3 if huffman else 2
    values = _decode_stream(segments[1:split], bits, count, huffman, source)
    gaps = _decode_stream(segments[split:], gap_bits, count, huffman, source) + 1
    size = int(np.prod(entry["shape"]))
    index = absolute_index(gaps, values, size, source=source)
    if int(index.max(initial=0)) >= codebook.size:
        raise DataError(f"{source}: cluster index {int(index.max())} outside the {codebook.size}-entry codebook")
    return torch.from_numpy(codebook[index].reshape(entry["shape"]))


def load_compressed(path: str | Path, architecture: Architecture | dict[str, Any] | None = None) -> nn.Module:
    """Rebuild the model stored by :func:`save_compressed` as plain float layers, in eval mode.

    ``architecture`` overrides the one in the file (an :class:`netslim.models.Architecture` or its dict).
    """
    path = Path(path)
    header, body = _read(path)
    arch = architecture or header["architecture"]
    state: dict[str, torch.Tensor] = {}
    offset = 0
    try:
        for entry in header["tensors"]:
            segments = []
            for length in entry["segments"]:
                segments.append(body[offset : offset + length])
                offset += length
            source = f"{path} [{entry['name']}]"
            if entry["kind"] == "shared":
                state[entry["name"]] = _decode_shared(entry, segments, source)
            else:
                array = np.frombuffer(segments[0], dtype=np.dtype(entry["dtype"]).newbyteorder("<"))
                state[entry["name"]] = torch.from_numpy(array.copy().reshape(entry["shape"]))
    except DataError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: corrupt .nsc contents ({type(exc).__name__}: {exc})") from exc
    record = arch if isinstance(arch, Architecture) else Architecture.from_dict(arch, f"{path}: architecture")
    return rebuild(record, state, str(path))
