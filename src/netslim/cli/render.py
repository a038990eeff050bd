"""Rich tables for the CLI (Rich is used only in the CLI layer)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from netslim.analyze import ModelProfile
from netslim.bench import Timing
from netslim.pipeline import OptimizeResult


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


def optimize_table(result: OptimizeResult, title: str) -> Table:
    """One row per runtime candidate: model size, held-out accuracy and latency at each timed batch size."""
    variants = {result.original.name: result.original, **{v.name: v for v in result.structural}}
    batches = sorted(next(iter(result.selection.measured)).timings)
    table = Table(title=title)
    for col in ("candidate", "params", "MACs", "test acc", *(f"b{b} ms" for b in batches), "speed-up", "budget"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    reference = next(m for m in result.selection.measured if m.name == result.selection.reference)
    objective = result.selection.objective_batch
    for m in result.selection.measured:
        model = m.name.split("/")[0]
        base = variants.get(model.split("-w")[0])
        mark = " <- chosen" if m.name == result.chosen else ""
        table.add_row(
            m.name + mark,
            "-" if base is None else human(base.params),
            "-" if base is None else human(base.macs),
            f"{result.test_accuracy[m.name]:.2%}",
            *(f"{m.timings[b].median_ms:.4f}" for b in batches),
            f"{reference.timings[objective].median_ms / m.timings[objective].median_ms:.2f}x",
            "ok" if m.within_budget else "rejected",
            style="bold" if mark else None,
        )
    return table
