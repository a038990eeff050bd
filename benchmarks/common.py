"""Shared pieces of the benchmark scripts: MNIST location, the training recipes, side-by-side latency of torch eager
and ONNX Runtime, and writing JSON + a markdown table under benchmarks/results/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netslim import atomic
from netslim.bench import Timing, TimingConfig, compare, environment
from netslim.data import Splits, load_mnist
from netslim.data.mnist import default_mnist_dir
from netslim.export import ExportConfig, to_onnx_bytes
from netslim.runtime import OrtRuntime, TorchRuntime
from netslim.train import TrainConfig

RESULTS = Path(__file__).parent / "results"
CNN_RECIPE = TrainConfig(epochs=3, lr=2e-3, batch_size=128, schedule="onecycle", seed=0)
# one epoch, the recipe of the structure slow test (there lr 1e-3 ended 0.13 point lower for netslim)
FINETUNE_RECIPE = TrainConfig(epochs=1, lr=2e-3, batch_size=128, schedule="onecycle", seed=0)


def mnist_from_argv() -> Splits:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else default_mnist_dir()
    if directory is None:
        raise SystemExit("MNIST not found: pass its directory or set NETSLIM_MNIST_DIR")
    return load_mnist(directory)


def latency_side_by_side(
    models: dict[str, torch.nn.Module],
    input_shape: tuple[int, ...],
    *,
    batch_sizes: tuple[int, ...] = (1, 256),
    threads: int = 2,
    timing: TimingConfig | None = None,
) -> dict[str, dict[str, Timing]]:
    """For each batch size, time every model on torch eager and ONNX Runtime, interleaved in one process.

    Returns ``{f"{model}/{runtime}": {str(batch): Timing}}``."""
    timing = timing or TimingConfig(warmup=20, repeats=200, threads=threads)
    runners: dict[str, Any] = {}
    for name, model in models.items():
        model.eval()
        runners[f"{name}/torch-eager"] = TorchRuntime(model, threads=threads)
        onnx_bytes = to_onnx_bytes(model, torch.rand(1, *input_shape), ExportConfig())
        runners[f"{name}/onnxruntime"] = OrtRuntime(onnx_bytes, threads=threads)
    out: dict[str, dict[str, Timing]] = {key: {} for key in runners}
    rng = np.random.default_rng(0)
    for batch in batch_sizes:
        x = rng.random((batch, *input_shape), dtype=np.float32)
        fns = {key: (lambda r=r, x=x: r.run(x)) for key, r in runners.items()}
        for key, t in compare(fns, timing, batch_size=batch).items():
            out[key][str(batch)] = t
    return out


def cpu_name() -> str:
    """The CPU model and its SIMD / int8 / bf16 ISA extensions (the int8 and bf16 speed-ups depend on them)."""
    from netslim.quant.cpu import cpu_flags

    flags = cpu_flags()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    isa = ", ".join(f for f in wanted if f in flags) or "no AVX2"
    return f"{environment()['cpu']} ({isa})"


def write_results(name: str, payload: dict[str, Any], table: list[str]) -> None:
    atomic.write_json(RESULTS / f"{name}.json", {"benchmark": name, "environment": environment(), **payload})
    atomic.write_text(RESULTS / f"{name}.md", "\n".join(table) + "\n")
    print("\n".join(table))
