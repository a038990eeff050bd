"""Structured pruning of the seed CNN on MNIST: netslim vs Torch-Pruning (the anchor) at the same ratio and the same
fine-tuning, side by side in one process: params, MACs, held-out accuracy, torch-eager and ONNX Runtime latency at
batch 1 and 256 (medians of warmed, interleaved runs; p10-p90 in the JSON).

Usage: python benchmarks/structure_seed_cnn.py [MNIST_DIR]   (needs the bench extra: pip install -e ".[bench]")
"""

from __future__ import annotations

import copy
import time

import torch

from common import CNN_RECIPE, FINETUNE_RECIPE, latency_side_by_side, mnist_from_argv, write_results
from netslim.analyze import profile
from netslim.models import build_model
from netslim.structure import PruneConfig, prune_
from netslim.train import evaluate, train_

RATIO = 0.5


def torch_pruning_anchor(model: torch.nn.Module, example: torch.Tensor, ratio: float) -> torch.nn.Module:
    """Torch-Pruning used as its README shows: L1 magnitude importance, uniform ratio, classifier ignored."""
    import torch_pruning as tp

    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio,
        ignored_layers=[model.fc2],
    )
    pruner.step()
    return model


def main() -> None:
    splits = mnist_from_argv()
    shape = splits.input_shape
    example = torch.rand(1, *shape)
    original = build_model("seed_cnn", shape)
    train_(original, splits, CNN_RECIPE)
    models = {"original": original}
    seconds: dict[str, float] = {}

    ours = copy.deepcopy(original)
    start = time.perf_counter()
    prune_(ours, PruneConfig(ratio=RATIO, importance="l1"), example=example)
    train_(ours, splits, FINETUNE_RECIPE)
    seconds["netslim"] = time.perf_counter() - start
    models["netslim"] = ours

    anchor = copy.deepcopy(original)
    start = time.perf_counter()
    torch_pruning_anchor(anchor, example, RATIO)
    train_(anchor, splits, FINETUNE_RECIPE)
    seconds["torch-pruning"] = time.perf_counter() - start
    models["torch-pruning"] = anchor

    rows = {}
    for name, model in models.items():
        prof = profile(model, shape, measure_latency=False)
        rows[name] = {
            "params": prof.total_params,
            "macs": prof.total_macs,
            "test_accuracy": evaluate(model, splits.test).accuracy,
            "prune_and_finetune_s": seconds.get(name),
        }
    timings = latency_side_by_side(models, shape)
    for key, by_batch in timings.items():
        name, runtime = key.split("/")
        rows[name][runtime] = {b: t.to_dict() for b, t in by_batch.items()}

    table = [
        f"Seed CNN on MNIST, {RATIO:.0%} channel pruning + 1 epoch fine-tune (same recipe for both tools); "
        "latency in ms, median of warmed interleaved runs, 2 threads",
        "",
        "| model | params | MACs | test acc | eager b1 | eager b256 | ORT b1 | ORT b256 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        cells = [f"{r[rt][b]['median_ms']:.3f}" for rt in ("torch-eager", "onnxruntime") for b in ("1", "256")]
        table.append(
            f"| {name} | {r['params']:,} | {r['macs']:,} | {r['test_accuracy']:.2%} | " + " | ".join(cells) + " |"
        )
    write_results(
        "structure_seed_cnn",
        {"ratio": RATIO, "finetune": FINETUNE_RECIPE.to_dict(), "train": CNN_RECIPE.to_dict(), "rows": rows},
        table,
    )


if __name__ == "__main__":
    main()
