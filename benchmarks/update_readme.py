"""Copy the markdown tables the benchmark scripts wrote (benchmarks/results/*.md) into README.md and
benchmarks/README.md, between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` markers, and build the
README's headline table (``<!-- results:headline -->``) from the results JSON, so every number there comes from a
script.

Usage: python benchmarks/update_readme.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _cpu(payload: dict[str, Any]) -> str:
    return str(payload.get("environment", {}).get("cpu") or payload.get("cpu") or "?")


def headline() -> str:
    """One row per technique: the result, its accuracy delta against fp32, and its speed or size, with the script
    and the CPU that measured it."""
    rows = ["| technique | result | accuracy vs fp32 | speed or size | script (CPU) |", "|---|---|---|---|---|"]
    acc = _load("accelerate_seed_cnn")
    if acc:
        searched = [v for k, v in acc["rows"].items() if k.startswith("netslim optimize")]
        ours = searched[0] if searched else next(v for k, v in acc["rows"].items() if k.startswith("netslim"))
        base = next(v for k, v in acc["rows"].items() if k.startswith("original"))
        delta = 100 * (ours["test_accuracy"] - base["test_accuracy"])
        what = "netslim optimize (15-minute search" if searched else "whole path (prune + distil + int8 candidates"
        rows.append(
            f"| {what}, runtime selection), seed CNN, MNIST | "
            f"{ours['test_accuracy']:.2%} test accuracy | {delta:+.2f} pt"
            f" | {ours['speedup_vs_anchor_b1']:.2f}x (b1) / {ours['speedup_vs_anchor_b256']:.2f}x (b256) the "
            f"Torch-Pruning + ONNX Runtime anchor | accelerate_seed_cnn.py ({_cpu(acc)}) |"
        )
    quant = _load("quant_seed_mnist")
    if quant:
        fp32 = {r["family"]: r for r in quant["rows"] if r["row"].startswith("fp32")}
        for row in quant["rows"]:
            if row["row"].startswith("fp32"):
                continue
            ref = fp32[row["family"]]
            rows.append(
                f"| {row['row']}, MNIST | {row['test_accuracy']:.2%} test accuracy | "
                f"{100 * (row['test_accuracy'] - ref['test_accuracy']):+.2f} pt | "
                f"{ref['bytes'] / row['bytes']:.1f}x smaller ({row['bytes']:,} bytes) | quant_seed_mnist.py "
                f"({_cpu(quant)}) |"
            )
    deep = _load("deep_compression")
    if deep:
        for result in deep["results"]:
            first, last = result["stages"][0], result["stages"][-1]
            rows.append(
                f"| Deep Compression ({result['target']} densities), {result['model']}, MNIST | "
                f"{last['test_error']:.2f}% test error | {first['test_error'] - last['test_error']:+.2f} pt | "
                f"{last['ratio']:.1f}x smaller .nsc file ({last['bytes']:,} bytes) | deep_compression.py "
                f"({result.get('cpu', '?')}) |"
            )
    enc = _load("transformer_encoder")
    if enc:
        ours = enc["rows"]["netslim W8A8 u8 / ONNX Runtime"]
        nncf = enc["rows"]["OpenVINO + NNCF int8"]
        fp32 = enc["rows"]["torch fp32 eager"]
        rows.append(
            f"| W8A8 BERT-style encoder (4 layers, hidden 256), 128 tokens | min cosine {ours['min_cosine']:.4f} "
            f"(NNCF {nncf['min_cosine']:.4f}) | {100 * (ours['test_accuracy'] - fp32['test_accuracy']):+.2f} pt | "
            f"{ours['speedup_b8']:.2f}x torch fp32 at b8 (NNCF {nncf['speedup_b8']:.2f}x) | transformer_encoder.py "
            f"({_cpu(enc)}) |"
        )
    structure = _load("structure_seed_cnn")
    if structure:
        table = (RESULTS / "structure_seed_cnn.md").read_text()
        match = re.search(r"\| netslim \| ([\d,]+) \| ([\d,]+) \| ([\d.]+)% \|", table)
        original = re.search(r"\| original \| ([\d,]+) \| ([\d,]+) \| ([\d.]+)% \|", table)
        if match and original:
            delta = float(match.group(3)) - float(original.group(3))
            rows.append(
                f"| structured pruning 50% + 1 epoch, seed CNN, MNIST | {match.group(3)}% test accuracy | "
                f"{delta:+.2f} pt | {match.group(2)} of {original.group(2)} MACs, a dense model | "
                f"structure_seed_cnn.py ({_cpu(structure)}) |"
            )
    return "\n".join(rows)


def fill(path: Path) -> None:
    text = path.read_text()
    for name in re.findall(r"<!-- results:([\w-]+) -->", text):
        if name == "headline":
            body = headline()
        else:
            table = RESULTS / f"{name}.md"
            body = table.read_text().strip() if table.is_file() else f"_not measured yet: run benchmarks/{name}.py_"
        text = re.sub(
            rf"(<!-- results:{name} -->)\n.*?(<!-- /results:{name} -->)",
            lambda m, body=body: m.group(1) + "\n" + body + "\n" + m.group(2),
            text,
            flags=re.S,
        )
    path.write_text(text)


def main() -> None:
    for path in (ROOT / "README.md", ROOT / "benchmarks" / "README.md"):
        fill(path)


if __name__ == "__main__":
    main()
