"""Train the seed document's models on real MNIST with netslim and measure them.

Writes benchmarks/results/seed_models_mnist.json and .md (the README table). Same recipes as the slow tests:
CNNs 3 epochs (5 for seed_cnn_deep; Adam, one-cycle, lr 2e-3, batch 128), MLPs 5 epochs (Adam, one-cycle,
lr 3e-3, batch 64; seed_mlp_l2 with L2(0.001) on its hidden layer as the seed writes it).
Latency: torch eager, medians of warmed runs.

Usage: python benchmarks/seed_models_mnist.py [MNIST_DIR]
"""

from __future__ import annotations

import time

import torch

from common import CNN_RECIPE, mnist_from_argv, write_results
from netslim.analyze import profile
from netslim.bench import TimingConfig, time_model
from netslim.models import build_model, zoo_entry
from netslim.train import TrainConfig, evaluate, train_

CNNS = ["seed_cnn", "seed_cnn_same", "seed_cnn_k5", "seed_cnn_deep"]
MLPS = ["seed_mlp", "seed_mlp_64", "seed_mlp_tanh", "seed_mlp_l2"]


def recipe(name: str) -> TrainConfig:
    if name in CNNS:
        return CNN_RECIPE.replace(epochs=5) if name == "seed_cnn_deep" else CNN_RECIPE
    return TrainConfig(epochs=5, lr=3e-3, batch_size=64, schedule="onecycle", **zoo_entry(name).train_hints)


def main() -> None:
    splits = mnist_from_argv()
    timing = TimingConfig(warmup=10, repeats=50)
    rows = []
    for name in CNNS + MLPS:
        model = build_model(name, splits.input_shape)
        start = time.perf_counter()
        record = train_(model, splits, recipe(name))
        seconds = time.perf_counter() - start
        test = evaluate(model, splits.test)
        prof = profile(model, splits.input_shape, measure_latency=False)
        b1 = time_model(model, torch.rand(1, *splits.input_shape), timing)
        b256 = time_model(model, torch.rand(256, *splits.input_shape), timing)
        rows.append(
            {
                "model": name,
                "epochs": len(record.epochs),
                "train_seconds": seconds,
                "test_accuracy": test.accuracy,
                "params": prof.total_params,
                "macs": prof.total_macs,
                "eager_b1": b1.to_dict(),
                "eager_b256": b256.to_dict(),
                "config": record.config,
            }
        )
        print(f"{name}: {test.accuracy:.4f} in {seconds:.0f}s", flush=True)
    write_results("seed_models_mnist", {"rows": rows}, table(rows))


def table(rows: list[dict]) -> list[str]:
    """Accuracy, size and cost; latencies stay in the JSON (the README's latency claims come from side-by-side
    benchmarks only)."""
    lines = ["| model | epochs | test accuracy | params | MACs |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['epochs']} | {r['test_accuracy']:.2%} | {r['params']:,} | {r['macs']:,} |")
    return lines


if __name__ == "__main__":
    main()
