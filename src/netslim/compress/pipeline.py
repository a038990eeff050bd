"""The Deep Compression pipeline (Han, Mao, Dally, ICLR 2016): prune + retrain, share weights + fine-tune centroids,
Huffman-code, and the paper's per-stage table (size and test error after each stage).

Stage sizes: ``fp32`` is 4 bytes per parameter; ``pruned`` is computed for the sparse format (each relative-index
entry holds an fp32 value and a gap, plus the dense tensors in fp32); ``shared`` is the byte count of the ``.nsc``
file written with fixed-width streams; ``huffman`` is the byte count of the final ``.nsc`` file, and its error is
measured on the model loaded back from that file.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netslim.compress.bits import relative_index
from netslim.compress.nsc import EncodeConfig, encode_model, load_compressed, save_compressed
from netslim.compress.sharing import SharingConfig, share_weights_
from netslim.compress.sparsity import (
    SparsityConfig,
    plain_state,
    prunable_layers,
    sparsify_,
    weight_of,
)
from netslim.config import Config
from netslim.data import Splits
from netslim.errors import ConfigError
from netslim.train import TrainConfig, evaluate, train_
from netslim.transform import Record, transform

__all__ = [
    "CompressionReport",
    "DeepCompressionConfig",
    "StageResult",
    "deep_compress_",
    "density_table",
    "sparse_fp32_bytes",
]


@dataclasses.dataclass(frozen=True)
class DeepCompressionConfig(Config):
    """The three stages and their retraining: ``prune_finetune`` after each prune step, ``recover`` once more after
    the last (masks held), ``share_finetune`` for the centroids. ``distill`` retrains against a frozen copy of the
    input (fp32) model as teacher (``train_(..., teacher=...)``)."""

    sparsity: SparsityConfig = dataclasses.field(default_factory=SparsityConfig)
    prune_finetune: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=2, lr=1e-3))
    recover: TrainConfig | None = None
    sharing: SharingConfig = dataclasses.field(default_factory=SharingConfig)
    share_finetune: TrainConfig | None = dataclasses.field(default_factory=lambda: TrainConfig(epochs=1, lr=1e-4))
    encode: EncodeConfig = dataclasses.field(default_factory=EncodeConfig)
    distill: bool = False


@dataclasses.dataclass(frozen=True)
class StageResult:
    stage: str
    bytes: int
    ratio: float  # fp32 bytes / this stage's bytes
    test_error: float  # percent


@dataclasses.dataclass
class CompressionReport:
    """Bytes and test error after each stage (the last: the ``.nsc`` file, measured on the model loaded from it),
    and the records of the pruning and sharing stages."""

    stages: list[StageResult]
    sparsity: Record
    sharing: Record

    def table(self) -> list[str]:
        rows = ["| stage | bytes | compression | test error |", "|---|---:|---:|---:|"]
        for s in self.stages:
            rows.append(f"| {s.stage} | {s.bytes:,} | {s.ratio:.1f}x | {s.test_error:.2f}% |")
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [dataclasses.asdict(s) for s in self.stages],
            "sparsity": self.sparsity.to_dict(),
            "sharing": self.sharing.to_dict(),
        }


def sparse_fp32_bytes(model: nn.Module, encode: EncodeConfig) -> int:
    """Bytes of the pruned model in the sparse format with fp32 values: per conv/linear weight, one entry (fp32
    value + gap) per nonzero or filler; every other tensor dense in fp32."""
    total_bits, sparse_numel = 0, 0
    for _, module in prunable_layers(model):
        flat = weight_of(module).flatten().numpy()
        fixed = encode.linear_gap_bits if isinstance(module, nn.Linear) else encode.conv_gap_bits
        options = [fixed] if fixed is not None else list(range(1, 13))
        total_bits += min(relative_index(flat, b)[0].size * (32 + b) for b in options)
        sparse_numel += flat.size
    dense = sum(p.numel() for p in plain_state(model).values() if p.is_floating_point()) - sparse_numel
    return math.ceil(total_bits / 8) + 4 * dense


def _error(model: nn.Module, data: Splits) -> float:
    return 100.0 * (1.0 - evaluate(model, data.test).accuracy)


@transform("deep_compress_", DeepCompressionConfig)
def deep_compress_(
    model: nn.Module,
    config: DeepCompressionConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Splits | None = None,
    teacher: nn.Module | None = None,
) -> Record:
    """Compress ``model`` in place (prune, retrain, share, fine-tune), so that it holds exactly what its ``.nsc``
    file holds (write it with :func:`save_compressed`). The record's ``bytes_after`` is the size of that file and
    its details hold the per-stage report (``report``: bytes and test error on ``data.test`` after each stage)."""
    config = config or DeepCompressionConfig()
    if not isinstance(config, DeepCompressionConfig):
        raise ConfigError(f"deep_compress_ expects a DeepCompressionConfig, got {type(config).__name__}")
    if not isinstance(data, Splits):
        raise ConfigError("deep_compress_ retrains and measures test error: pass data=splits")
    fp32_bytes = 4 * sum(p.numel() for p in model.state_dict().values() if p.is_floating_point())
    params_before = sum(p.numel() for p in model.parameters())
    if config.distill and teacher is None:
        teacher = copy.deepcopy(model).eval()
    if not config.distill:
        teacher = None
    stages = [StageResult("fp32", fp32_bytes, 1.0, _error(model, data))]

    def stage(name: str, size: int, error: float) -> None:
        stages.append(StageResult(name, size, fp32_bytes / size, error))

    sparsity = sparsify_(model, config.sparsity.replace(finetune=config.prune_finetune), data=data, teacher=teacher)
    if config.recover is not None:
        train_(model, data, config.recover, teacher=teacher)
    stage("pruned (sparse fp32 + relative index)", sparse_fp32_bytes(model, config.encode), _error(model, data))
    sharing = share_weights_(model, config.sharing.replace(finetune=config.share_finetune), data=data, teacher=teacher)
    fixed = encode_model(model, config.encode.replace(huffman=False))
    stage("+ weight sharing (fixed-width .nsc)", len(fixed), _error(model, data))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.nsc"
        written = save_compressed(model, path, config.encode)
        loaded = load_compressed(path)
    # the model becomes what the file holds (biases and other dense tensors are float16 there); shared layers keep
    # their codebook and indices, so the model can be written again
    _take_dense_tensors(model, loaded)
    model.eval()
    stage("+ Huffman (.nsc file)", written, _error(model, data))
    report = CompressionReport(stages, sparsity, sharing)
    rows = tuple(
        dataclasses.replace(row, change="compressed", detail={**row.detail, **sharing[row.name].detail})
        if row.name in sharing.names
        else row
        for row in sparsity.layers
    )
    return Record(
        verb="deep_compress_",
        config=config.to_dict(),
        layers=rows,
        params_before=params_before,
        params_after=sparsity.params_after,
        bytes_before=fp32_bytes,
        bytes_after=written,
        details={"report": report},
    )


@torch.no_grad()
def _take_dense_tensors(model: nn.Module, loaded: nn.Module) -> None:
    stored = loaded.state_dict()
    for name, tensor in model.state_dict().items():
        value = stored.get(name)
        if value is not None and value.shape == tensor.shape and tensor.is_floating_point():
            tensor.copy_(value)


def density_table(report: CompressionReport) -> list[str]:
    """Per-layer kept fraction and bits, as markdown rows."""
    bits = {row.name: row.bits for row in report.sharing.layers}
    rows = ["| layer | weights | kept | bits |", "|---|---:|---:|---:|"]
    for row in report.sparsity.layers:
        rows.append(f"| {row.name} | {row.params:,} | {100 * row.density:.1f}% | {bits.get(row.name, 32)} |")
    return rows
