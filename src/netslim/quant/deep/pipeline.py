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
from pathlib import Path

from torch import nn

from netslim.config import Config
from netslim.data import Splits
from netslim.quant.deep.bits import relative_index
from netslim.quant.deep.nsc import EncodeConfig, encode_model, load_compressed, save_compressed
from netslim.quant.deep.sharing import SharingConfig, SharingRecord, share_weights_
from netslim.quant.deep.sparsity import (
    SparsityConfig,
    SparsityRecord,
    plain_state,
    prunable_layers,
    sparsify_,
    weight_of,
)
from netslim.train import TrainConfig, evaluate, train_

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
    stages: list[StageResult]
    sparsity: SparsityRecord
    sharing: SharingRecord
    path: Path

    def table(self) -> list[str]:
        rows = ["| stage | bytes | compression | test error |", "|---|---:|---:|---:|"]
        for s in self.stages:
            rows.append(f"| {s.stage} | {s.bytes:,} | {s.ratio:.1f}x | {s.test_error:.2f}% |")
        return rows


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


def deep_compress_(
    model: nn.Module, data: Splits, config: DeepCompressionConfig, path: str | Path
) -> tuple[nn.Module, CompressionReport]:
    """Compress ``model`` in place (prune, retrain, share, fine-tune), write ``path`` (``.nsc``), and return the
    model loaded back from that file with the per-stage report (test errors on ``data.test``)."""
    fp32_bytes = 4 * sum(p.numel() for p in model.state_dict().values() if p.is_floating_point())
    teacher = copy.deepcopy(model).eval() if config.distill else None
    stages = [StageResult("fp32", fp32_bytes, 1.0, _error(model, data))]

    def stage(name: str, size: int, error: float) -> None:
        stages.append(StageResult(name, size, fp32_bytes / size, error))

    sparsity = sparsify_(model, config.sparsity, data=data, finetune=config.prune_finetune, teacher=teacher)
    if config.recover is not None:
        train_(model, data, config.recover, teacher=teacher)
    stage("pruned (sparse fp32 + relative index)", sparse_fp32_bytes(model, config.encode), _error(model, data))
    sharing = share_weights_(model, config.sharing)
    if config.share_finetune is not None:
        train_(model, data, config.share_finetune, teacher=teacher)
    fixed = encode_model(model, config.encode.replace(huffman=False))
    stage("+ weight sharing (fixed-width .nsc)", len(fixed), _error(model, data))
    written = save_compressed(model, path, config.encode)
    loaded = load_compressed(path)
    stage("+ Huffman (.nsc file)", written, _error(loaded, data))
    return loaded, CompressionReport(stages, sparsity, sharing, Path(path))


def density_table(report: CompressionReport) -> list[str]:
    """Per-layer kept fraction and bits, as markdown rows."""
    bits = {row.layer: row.bits for row in report.sharing.layers}
    rows = ["| layer | weights | kept | bits |", "|---|---:|---:|---:|"]
    for row in report.sparsity.layers:
        rows.append(f"| {row.layer} | {row.params:,} | {100 * row.density:.1f}% | {bits.get(row.layer, 32)} |")
    return rows
