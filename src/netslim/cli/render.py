"""Rich tables for the CLI (Rich is used only in the CLI layer)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from netslim.analyze import ModelProfile
from netslim.bench import Timing


def human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def profile_table(prof: ModelProfile, title: str = "Profile") -> Table:
    timed = sum(layer.latency_ms or 0 for layer in prof.layers)
    table = Table(title=f"{title} (batch {prof.batch_size}, input {tuple(prof.input_shape)}, {prof.threads} threads)")
    for col in ("layer", "type", "output", "params", "MACs", "MACs %", "act. mem", "time ms", "time %"):
        table.add_column(col, justify="left" if col in ("layer", "type", "output") else "right")
    for layer in prof.layers:
        share = layer.macs / prof.total_macs if prof.total_macs else 0
        t = layer.latency_ms
        table.add_row(
            layer.name,
            layer.type,
            "x".join(map(str, layer.output_shape)),
            human(layer.params),
            human(layer.macs),
            f"{share:.1%}",
            f"{layer.activation_bytes / 1024:.1f} KiB",
            "-" if t is None else f"{t:.4f}",
            "-" if t is None or not timed else f"{t / timed:.1%}",
        )
    whole = "-" if prof.latency_ms is None else f"{prof.latency_ms:.4f}"
    table.add_row(
        "total",
        "",
        "",
        human(prof.total_params),
        human(prof.total_macs),
        "100%",
        f"{prof.activation_bytes / 1024:.1f} KiB",
        whole,
        "",
        style="bold",
    )
    return table


def timing_table(timings: Iterable[Timing], title: str = "Latency") -> Table:
    table = Table(title=title)
    for col in ("runtime", "batch", "threads", "median ms", "p10 ms", "p90 ms", "samples/s"):
        table.add_column(col, justify="left" if col == "runtime" else "right")
    for t in timings:
        table.add_row(
            t.name,
            str(t.batch_size),
            str(t.threads),
            f"{t.median_ms:.4f}",
            f"{t.p10_ms:.4f}",
            f"{t.p90_ms:.4f}",
            f"{t.throughput:,.0f}",
        )
    return table
