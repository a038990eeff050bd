"""The machine a measurement was made on, as rows of the environment table: what the record says (CPU, cores,
threads, versions), and the SIMD / int8 instruction sets, which netslim's records do not store: they are read from
this machine only when its CPU model and core count are the ones recorded."""

from __future__ import annotations

import os
import platform
from typing import Any

from netslim.report.fields import text

# the flags that decide which kernels run: x86 SIMD width, int8 dot products, bf16, AMX; Arm NEON dot products, SVE
ISA = [
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "asimdhp",
    "sve",
    "sve2",
    "i8mm",
    "bf16",
]
LABELS = {
    "cpu": "CPU",
    "cores": "cores",
    "torch_threads": "torch threads",
    "python": "Python",
    "torch": "torch",
    "onnxruntime": "ONNX Runtime",
    "numpy": "NumPy",
    "platform": "platform",
}


def _cpuinfo() -> tuple[str, set[str]]:
    """This machine's CPU model name (as ``netslim.bench.environment`` reads it) and its ISA flags."""
    model: str | None = None
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def isa_row(environment: dict[str, Any]) -> tuple[str, str]:
    """The ISA row: this machine's flags when it is the recorded CPU model with the recorded core count, else a note
    that the record does not hold them."""
    model, flags = _cpuinfo()
    same = text(environment, "cpu") == model and environment.get("cores") == os.cpu_count()
    if not same or not flags:
        return "ISA flags", "not recorded (the record names the CPU model only)"
    found = [flag for flag in ISA if flag in flags]
    return "ISA flags", f"{' '.join(found) or 'none of ' + ' '.join(ISA[:4])} (read on this machine: same CPU model)"


def environment_rows(environment: dict[str, Any]) -> list[tuple[str, str]]:
    """The recorded environment as (name, value) rows, known keys first, then the ISA row."""
    rows = [(label, text(environment, key)) for key, label in LABELS.items() if key in environment]
    rows += [(key, text(environment, key)) for key in environment if key not in LABELS]
    if "cpu" in environment:
        rows.append(isa_row(environment))
    return rows


def _spec(spec: dict[str, Any]) -> str:
    threads = spec.get("threads")
    parts = [
        text(spec, "engine") or "onnxruntime",
        f"{threads} thread{'s' if threads != 1 else ''}" if threads else "threads: automatic",
    ]
    parts += [text(spec, key) for key in ("mode", "precision") if spec.get(key)]
    return ", ".join(parts) + f" ({text(spec, 'file') or 'model.onnx'})"


def policy_rows(policy: dict[str, Any]) -> list[tuple[str, str]]:
    """How the artifact runs on this machine (a ``BatchPolicy`` dict): one row per batch-size range."""
    rules = policy.get("by_batch")
    if not isinstance(rules, list):
        return [("runtime", _spec(policy))] if policy.get("engine") else []
    rows, low = [], 1
    for i, rule in enumerate(r for r in rules if isinstance(r, dict)):
        high = rule.get("max_batch")
        last = i == len(rules) - 1
        span = f"batch ≥ {low}" if last else f"batch {low}–{high}" if high != low else f"batch {low}"
        rows.append((f"runtime at {span}", _spec(rule)))
        low = high + 1 if isinstance(high, int) else low
    return rows
