"""Low-rank factorisation, offered only where measured faster.

A Linear ``W (out, in)`` becomes ``Linear(in, r, bias=False) -> Linear(r, out)`` from the truncated SVD
``W ~ U_r S_r V_r^T`` (factors ``sqrt(S_r) V_r^T`` and ``U_r sqrt(S_r)``), which is the best rank-``r``
approximation in Frobenius norm (Eckart-Young). A Conv2d is factorised by **channel SVD** (its weight as
``(out, in*kh*kw)``: a kxk conv to ``r`` channels, then a 1x1 conv) or **spatial SVD** (Jaderberg et al. 2014: the
weight as ``(in*kh, out*kw)``: a ``kh x 1`` conv to ``r`` channels, then a ``1 x kw`` conv). The rank is ``rank``
or the least that keeps ``energy`` of the sum of squared singular values.

Each candidate is timed against its factorised pair on the layer's real input (a forward pass on ``example``) with
:func:`netslim.bench.compare` (torch eager or ONNX Runtime, fixed threads) and replaced only when the pair saves MACs
and is at least ``min_speedup`` times faster. ``measure=False`` skips timing (MAC savings decide); a ``timer``
argument replaces the measurement (tests use a fake one). The record lists every considered layer.

>>> import torch
>>> from netslim.models import build_model
>>> model = build_model("lenet_300_100", (1, 8, 8))
>>> config = DecomposeConfig(energy=0.9, layers=("fc1",), measure=False)
>>> record = decompose_(model, config, example=torch.rand(4, 1, 8, 8))
>>> type(model.fc1).__name__, record.macs_after < record.macs_before
('Sequential', True)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from netslim.bench.timing import TimingConfig, compare
from netslim.config import Config, check_range, coerce_enum
from netslim.errors import ConfigError
from netslim.select import matches
from netslim.structure.edit import (
    FactorChange,
    capture_inputs,
    module_macs,
    mse,
    params,
    replace,
    run_edit,
    select_layers,
)
from netslim.structure.lowrank import ConvMethod, factorise, matrix_of, product
from netslim.structure.prune import require_example
from netslim.transform import LayerChange, Record, transform

Timer = Callable[[nn.Module, nn.Module, torch.Tensor], tuple[float, float]]  # -> median ms (original, factorised)


# parents that read their Linear children's weights instead of calling them: their layers cannot be replaced
FUSED_PARENTS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer, nn.MultiheadAttention)


class TimeOn(str, enum.Enum):
    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"


@dataclasses.dataclass(frozen=True)
class DecomposeConfig(Config):
    """``rank`` or ``energy`` (exclusive; energy 0.9 when neither is set) picks each layer's rank; ``conv`` the
    conv scheme; ``layers``/``ignore`` are name globs; a layer is replaced when it saves MACs and, with ``measure``,
    runs at least ``min_speedup`` times faster on ``runtime`` with ``threads`` (``warmup`` + ``repeats`` runs)."""

    rank: int | None = None
    energy: float | None = None
    conv: ConvMethod | str = ConvMethod.CHANNEL
    layers: tuple[str, ...] = ("*",)
    ignore: tuple[str, ...] = ()
    min_speedup: float = 1.0
    measure: bool = True
    runtime: TimeOn | str = TimeOn.TORCH
    threads: int | None = 1
    warmup: int = 5
    repeats: int = 20

    def __post_init__(self) -> None:
        owner = "DecomposeConfig"
        if self.rank is not None and self.energy is not None:
            raise ConfigError(
                f"{owner}.rank and {owner}.energy are exclusive; set one (got {self.rank}, {self.energy})"
            )
        if self.rank is not None and (isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1):
            raise ConfigError(f"{owner}.rank must be an int >= 1 or None, got {self.rank!r}")
        if self.rank is None:
            object.__setattr__(self, "energy", 0.9 if self.energy is None else self.energy)
            check_range(owner, "energy", float(self.energy), 0.0, 1.0, low_open=True)  # type: ignore[arg-type]
        object.__setattr__(self, "conv", coerce_enum(owner, "conv", ConvMethod, self.conv))
        object.__setattr__(self, "runtime", coerce_enum(owner, "runtime", TimeOn, self.runtime))
        for field in ("layers", "ignore"):
            if isinstance(getattr(self, field), str):
                raise ConfigError(
                    f"{owner}.{field} must be a tuple of name globs, got the string {getattr(self, field)!r}"
                )
            object.__setattr__(self, field, tuple(getattr(self, field)))
        check_range(owner, "min_speedup", self.min_speedup, 0.0, None, low_open=True)
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"{owner}.threads must be >= 1 or None, got {self.threads!r}")
        check_range(owner, "warmup", self.warmup, 0)
        check_range(owner, "repeats", self.repeats, 1)


@transform("decompose_", DecomposeConfig)
def decompose_(
    model: nn.Module,
    config: DecomposeConfig | None = None,
    *,
    example: torch.Tensor | None = None,
    data: Any = None,
    teacher: nn.Module | None = None,
    timer: Timer | None = None,
) -> Record:
    """Factorise the selected Linear/Conv2d layers that measure faster, in place; the record's ``factors`` says, per
    considered layer, the rank, MACs before/after, the medians, and whether it was applied (or why not)."""
    config = config or DecomposeConfig()
    if not isinstance(config, DecomposeConfig):
        raise ConfigError(f"decompose_ expects a DecomposeConfig, got {type(config).__name__}")
    example = require_example("decompose_", example, data)
    names = [
        n for n in select_layers("decompose_", config.layers, model, (nn.Linear, nn.Conv2d)) if not _ignored(n, config)
    ]
    inputs = capture_inputs(model, example, names)
    timer = timer or torch_timer(config)

    def apply() -> tuple[list[LayerChange], dict[str, str], list[FactorChange]]:
        rows, notes, factors = [], {}, []
        for name in names:
            layer = model.get_submodule(name)
            parent = model.get_submodule(name.rpartition(".")[0])
            why = _ineligible(layer, parent, config) or ("never called by forward()" if name not in inputs else "")
            if why:
                notes[name] = f"skipped: {why}"
                continue
            change, pair = _consider(name, layer, inputs[name], config, timer)
            factors.append(change)
            notes[name] = change.reason or f"{change.method} rank {change.rank}/{change.max_rank}"
            if change.applied:
                shape = tuple(layer.weight.shape)  # type: ignore[union-attr, arg-type]
                new_shape = (shape[0], change.rank, *shape[1:])
                rows.append(
                    LayerChange(name, "Sequential", "factorized", shape, new_shape, params(layer), params(pair))
                )
                replace(model, name, pair)
        return rows, notes, factors

    return run_edit("decompose_", config.to_dict(), model, example, apply)


def _ignored(name: str, config: DecomposeConfig) -> bool:
    return matches(name, config.ignore)


def _ineligible(layer: nn.Module, parent: nn.Module, config: DecomposeConfig) -> str:
    if isinstance(parent, FUSED_PARENTS):
        return f"{type(parent).__name__} reads its weight directly (fused fast path)"
    if type(layer) not in (nn.Linear, nn.Conv2d):
        return f"{type(layer).__name__} is not a plain nn.Linear / nn.Conv2d"
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            return f"grouped conv (groups={layer.groups})"
        if config.conv is ConvMethod.SPATIAL and (min(layer.kernel_size) < 2 or layer.padding_mode != "zeros"):
            return "spatial SVD needs a kxk kernel (k > 1) with zero padding"
    return ""


def _consider(
    name: str, layer: nn.Module, x: torch.Tensor, config: DecomposeConfig, timer: Timer
) -> tuple[FactorChange, nn.Sequential]:
    matrix = matrix_of(layer, ConvMethod(config.conv))
    singular = torch.linalg.svdvals(matrix)
    energy = singular.square().cumsum(0) / singular.square().sum().clamp_min(1e-30)
    max_rank = len(singular)
    if config.rank is not None:
        rank = min(config.rank, max_rank)
    else:
        rank = min(int((energy < float(config.energy) - 1e-12).sum()) + 1, max_rank)  # type: ignore[arg-type]
    pair = factorise(layer, rank, ConvMethod(config.conv))
    weight = layer.weight.detach().double()  # type: ignore[union-attr, operator]
    error = float((product(pair, ConvMethod(config.conv)) - weight).norm() / weight.norm().clamp_min(1e-30))
    with torch.no_grad():
        out_mse = mse(layer(x), pair(x))
    macs = module_macs(layer, x), module_macs(pair, x)
    medians: tuple[float | None, float | None] = (None, None)
    reason = ""
    if macs[1] >= macs[0]:
        reason = f"rank {rank}/{max_rank} saves no MACs ({macs[0]:,} -> {macs[1]:,})"
    elif config.measure:
        medians = timer(layer, pair, x)
        speedup = medians[0] / medians[1] if medians[1] else float("inf")  # type: ignore[operator]
        if speedup < config.min_speedup:
            reason = f"measured {speedup:.2f}x < min_speedup {config.min_speedup}"
    method = "linear_svd" if isinstance(layer, nn.Linear) else f"{ConvMethod(config.conv).value}_svd"
    change = FactorChange(
        name, method, rank, max_rank, error, out_mse, params(layer), params(pair), *macs, *medians, not reason, reason
    )
    return change, pair


def torch_timer(config: DecomposeConfig) -> Timer:
    """Median latency of a layer and of its factor pair on the same input, side by side (interleaved rounds)."""
    timing = TimingConfig(warmup=config.warmup, repeats=config.repeats, threads=config.threads)

    def run(original: nn.Module, factored: nn.Module, x: torch.Tensor) -> tuple[float, float]:
        if config.runtime is TimeOn.ONNXRUNTIME:
            from netslim.export.onnx import ExportConfig, to_onnx_bytes
            from netslim.runtime.ort import OrtRuntime

            arr = x.detach().numpy()
            sessions = [OrtRuntime(to_onnx_bytes(m, x, ExportConfig(dynamic_batch=False)), threads=config.threads)
                        for m in (original, factored)]  # fmt: skip
            fns: dict[str, Callable[[], Any]] = {
                "original": lambda: sessions[0].run(arr),
                "factored": lambda: sessions[1].run(arr),
            }
        else:

            def eager(m: nn.Module) -> Callable[[], None]:
                def call() -> None:
                    with torch.inference_mode():
                        m(x)

                return call

            fns = {"original": eager(original), "factored": eager(factored)}
        t = compare(fns, timing, batch_size=int(x.shape[0]))
        return t["original"].median_ms, t["factored"].median_ms

    return run
