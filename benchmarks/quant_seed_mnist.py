"""Quantization of the seed CNN and BinaryConnect's MLP on real MNIST with netslim (held-out test set).

Rows: the fp32 seed CNN (``common.CNN_RECIPE``); int8 post-training quantization of it (``quantize_``, per-channel
weights, per-tensor activations calibrated on 1,024 training samples); W4A8 and ternary-weight (W2A8) QAT of it
(``qat_`` with learned step sizes, distilled from the fp32 CNN); the fp32 ``binary_mlp`` (BinaryConnect's 3x1024
MLP with BatchNorm) and its binary-weight version (every linear layer's weights are sign x per-channel scale,
activations and BatchNorms stay float; BinaryConnect's MNIST result is 1.29% test error). Both MLPs are distilled
from the fp32 CNN, so the MLP delta compares like with like.

Sizes are computed: fp32 = 4 bytes per float parameter and BatchNorm statistic; a quantized layer stores its weight
codes bit-packed (8, 4, 2 or 1 bits), one fp32 scale per output channel, and an fp32 scale + one zero-point byte per
quantized input; everything else stays fp32.

Usage: python benchmarks/quant_seed_mnist.py [MNIST_DIR]
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from common import CNN_RECIPE, mnist_from_argv, write_results
from netslim.data import Splits, calibration_subset
from netslim.models import build_model
from netslim.quant import QATConfig, QuantConfig, QuantModule, qat_, quantize_
from netslim.train import DistillConfig, TrainConfig, evaluate, train_

DISTILL = DistillConfig(temperature=4.0, alpha=0.7)
PTQ = QuantConfig(weights="int8", activations="int8")
CALIBRATION_SAMPLES = 1024
# QAT: one config (with its training) per row; the ternary grid moves further from the fp32 weights and takes a
# larger lr
QAT = {
    "W4A8 QAT": QATConfig(
        weights="int4",
        activations="int8",
        train=TrainConfig(epochs=2, lr=3e-4, batch_size=128, schedule="cosine", distill=DISTILL),
    ),
    "ternary QAT (W2A8)": QATConfig(
        weights="ternary",
        activations="int8",
        train=TrainConfig(epochs=2, lr=1e-3, batch_size=128, schedule="cosine", distill=DISTILL),
    ),
}
MLP_TRAIN = TrainConfig(epochs=5, lr=2e-3, batch_size=128, schedule="onecycle", distill=DISTILL)
# BatchNorm stays float after every binary layer (fold_bn=False), as in BinaryConnect
BINARY = QATConfig(
    weights="binary",
    activations=None,
    fold_bn=False,
    train=TrainConfig(epochs=10, lr=3e-3, batch_size=128, schedule="cosine", distill=DISTILL),
)
BINARYCONNECT_ERROR = 1.29


def model_bytes(model: nn.Module) -> int:
    """Deployed size: bit-packed weight codes + fp32 scales for quantized layers, fp32 for every other tensor."""
    total, quantized = 0, set()
    for name, module in model.named_modules():
        if isinstance(module, QuantModule):
            quant = module.weight_quant
            total += -(-module.weight.numel() * quant.qtype.bits // 8) + 4 * quant.scale.numel()
            if module.input_quant is not None:
                total += 4 + 1
            quantized.add(f"{name}.weight")
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if name in quantized or "_quant." in name or not tensor.is_floating_point():
            continue
        total += 4 * tensor.numel()
    return total


def measure(name: str, model: nn.Module, splits: Splits, seconds: float, extra: dict[str, Any]) -> dict[str, Any]:
    accuracy = evaluate(model, splits.test).accuracy
    print(f"{name}: test accuracy {accuracy:.4f}, {model_bytes(model):,} bytes ({seconds:.0f}s)", flush=True)
    return {"row": name, "test_accuracy": accuracy, "bytes": model_bytes(model), "seconds": seconds, **extra}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    splits = mnist_from_argv()
    rows = []
    torch.manual_seed(0)
    cnn = build_model("seed_cnn", splits.input_shape)
    record, seconds = timed(lambda: train_(cnn, splits, CNN_RECIPE))
    rows.append(measure("fp32 seed CNN", cnn, splits, seconds, {"family": "cnn", "train": record.config}))

    ptq = copy.deepcopy(cnn)
    calib = calibration_subset(splits.train, CALIBRATION_SAMPLES, seed=0)
    quant, seconds = timed(lambda: quantize_(ptq, PTQ, data=calib))
    rows.append(measure("int8 PTQ (W8A8)", ptq, splits, seconds, {"family": "cnn", "quant": quant.to_dict()}))

    for name, config in QAT.items():
        torch.manual_seed(0)
        student = copy.deepcopy(cnn)
        qrecord, seconds = timed(lambda s=student, c=config: qat_(s, c, data=splits, teacher=cnn))
        rows.append(measure(name, student, splits, seconds, {"family": "cnn", "qat": qrecord.to_dict()}))

    torch.manual_seed(0)
    mlp = build_model("binary_mlp", splits.input_shape)
    record, seconds = timed(lambda: train_(mlp, splits, MLP_TRAIN, teacher=cnn))
    rows.append(measure("fp32 MLP (3x1024, BN)", mlp, splits, seconds, {"family": "mlp", "train": record.config}))

    torch.manual_seed(0)
    binary = copy.deepcopy(mlp)
    qrecord, seconds = timed(lambda: qat_(binary, BINARY, data=splits, teacher=cnn))
    rows.append(measure("binary-weight MLP", binary, splits, seconds, {"family": "mlp", "qat": qrecord.to_dict()}))
    write_results("quant_seed_mnist", {"rows": rows}, table(rows))


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Test accuracy and error, the change against the fp32 model of the same family, size and time."""
    fp32 = {r["family"]: r for r in rows if r["row"].startswith("fp32")}
    lines = [
        "| model | test accuracy | test error | vs fp32 (points) | bytes | compression | time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        base = fp32[r["family"]]
        delta = 100 * (r["test_accuracy"] - base["test_accuracy"])
        lines.append(
            f"| {r['row']} | {r['test_accuracy']:.2%} | {1 - r['test_accuracy']:.2%} | {delta:+.2f} | "
            f"{r['bytes']:,} | {base['bytes'] / r['bytes']:.1f}x | {r['seconds']:.0f}s |"
        )
    lines += [
        "",
        f"BinaryConnect's MNIST result (binary weights, 3x1024 MLP): {BINARYCONNECT_ERROR}% test error.",
        "Sizes computed: quantized weights bit-packed plus fp32 per-channel scales; other tensors fp32. "
        "Deltas and compression against the fp32 model of the same family (CNN or MLP); times are wall-clock on the "
        "shared 2-core machine (other jobs running).",
    ]
    return lines


if __name__ == "__main__":
    main()
