"""One function per report section: report data (see :mod:`netslim.report.data`) in, HTML out. A section without
data shows why; a section whose record cannot be drawn says so instead of failing the whole report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netslim.report import html, svg, units
from netslim.report.fields import items, number, text

Data = Mapping[str, Any]
KINDS = {
    "chosen": "chosen",
    "baseline": "baseline (the original)",
    "candidate": "within the budget",
    "rejected": "outside the budget",
    "front": "on the Pareto front",
}
MAX_TABLE_ROWS = 200


def _absent(data: Data, name: str, heading: str, lead: str, key: str, default: str) -> str:
    """The section ``name`` with the sentence saying why its data is absent (``data["absent"][key]``)."""
    return html.section(name, heading, lead, [html.absent(name, text(data, "absent", key) or default)])


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:] + ("" if words.endswith(".") else ".")


def _kind(row: Mapping[str, Any]) -> str:
    status = row.get("status")
    if status == "chosen":
        return "chosen"
    if status in ("rejected", "misses budget"):
        return "rejected"
    if row.get("pareto"):
        return "front"
    return "baseline" if status == "baseline" else "candidate"


def _point(row: Mapping[str, Any], accuracy_of: str, largest: float) -> svg.Point:
    kind = _kind(row)
    tip = (
        f"{row['name']}\n{units.percent(row['accuracy'])} {accuracy_of} accuracy, {units.ms(row['latency_ms'])}, "
        f"{units.size(row.get('bytes'))}, {row.get('status', '')}"
    )
    area = row["bytes"] / largest if largest and units.is_number(row.get("bytes")) else None
    label = "chosen" if kind == "chosen" else ""
    return svg.Point(row["latency_ms"], row["accuracy"] * 100, kind, area, label, tip)


def _reference(value: Any) -> tuple[float, str] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and units.is_number(value[0]):
        return float(value[0]), str(value[1])
    return None


def candidates(data: Data) -> str:
    table = data.get("candidates") or {}
    rows = [
        r for r in items(table, "rows") if units.is_number(r.get("accuracy")) and units.is_number(r.get("latency_ms"))
    ]
    heading, lead = "Candidates: accuracy, latency and size", "Every candidate that was measured, as it was measured."
    if not rows:
        return _absent(data, "candidates", heading, lead, "candidates", "no candidate was measured")
    batch, accuracy_of = table.get("batch"), text(table, "accuracy_of") or "held-out"
    sized = [r["bytes"] for r in rows if units.is_number(r.get("bytes"))]
    points = [_point(r, accuracy_of, max(sized, default=0.0)) for r in rows]
    front = [p for p, r in zip(points, rows, strict=True) if r.get("pareto")]
    plot = svg.scatter(
        points,
        x_label=f"median latency at batch {batch} (ms)" if batch else "median latency (ms)",
        y_label=f"{accuracy_of} accuracy (%)",
        link=front,
        reference=_reference(table.get("reference")),
    )
    present = {p.kind for p in points}
    legend = [(k, KINDS[k]) for k in KINDS if k in present] + ([("size", "marker area ∝ size")] if sized else [])
    caption = f"{len(rows)} candidates; {text(table, 'note') or 'no search ran: there is no Pareto front'}."
    if front:
        caption += (
            " The dashed line links the front as seen in accuracy × latency; a point of the front may look dominated "
            "here because it is smaller."
        )
    return html.section(
        "candidates", heading, lead, [html.figure("candidates", plot, caption, legend), _candidate_table(rows)]
    )


def _candidate_table(rows: list[Mapping[str, Any]]) -> str:
    batches = sorted(
        {b for r in rows for b in (r.get("latency_by_batch") or {})}, key=lambda b: int(b) if str(b).isdigit() else 0
    )
    shown = rows[:MAX_TABLE_ROWS]
    headers = ["candidate", "status", "val. accuracy", "test accuracy", *[f"batch {b} (ms)" for b in batches], "size"]
    body = [
        [
            r["name"],
            r.get("status", ""),
            units.percent(r["accuracy"]),
            units.percent(r.get("test_accuracy")),
            *[units.ms(number(r, "latency_by_batch", b)).removesuffix(" ms") for b in batches],
            units.size(r.get("bytes")),
        ]
        for r in shown
    ]
    numeric = [2, 3, *range(4, 4 + len(batches) + 1)]
    return html.table("candidates", headers, body, numeric, [r.get("status") == "chosen" for r in shown])


def sizes(data: Data) -> str:
    chart = data.get("sizes") or {}
    rows = [r for r in items(chart, "rows") if units.is_number(r.get("bytes"))]
    heading, lead = "Size", "What each candidate weighs."
    if not rows:
        return _absent(data, "size", heading, lead, "sizes", "no size was recorded")
    scale, unit = units.byte_unit(max(r["bytes"] for r in rows))
    bars = [
        svg.Bar(
            str(r["name"]), r["bytes"] / scale, "chosen" if r.get("chosen") else "candidate", units.size(r["bytes"])
        )
        for r in rows
    ]
    plot = svg.bars(bars, x_label=f"size ({unit})")
    legend = [("chosen", "chosen"), ("candidate", "other candidates")]
    return html.section("size", heading, lead, [html.figure("size", plot, _sentence(text(chart, "of")), legend)])


def layers(data: Data) -> str:
    chart = data.get("layers") or {}
    rows = items(chart, "rows")
    heading = "Per-layer latency, before and after"
    lead = "Median time spent in each layer, measured with hooks on torch eager (whole-model times exclude hooks)."
    if not rows:
        return _absent(data, "layer-latency", heading, "", "layers", "no per-layer latency was measured")
    before, after = text(chart, "before") or "before", text(chart, "after") or "after"
    pairs = [
        svg.Pair(text(r, "name"), number(r, "before_ms"), number(r, "after_ms"), text(r, "missing") or "not measured")
        for r in rows
    ]
    where = f"batch {text(chart, 'batch') or '?'}, {text(chart, 'threads') or '?'} threads"
    plot = svg.paired_bars(
        pairs, x_label=f"median latency per layer (ms, {where})", series=("before", "after"), value_format=units.ms
    )
    caption = f"Before: {before}. After: {after}, fp32 structure in torch eager (the deployed runtime may differ)."
    legend = [("before", f"before: {before}"), ("after", f"after: {after}")]
    return html.section("layer-latency", heading, lead, [html.figure("layer-latency", plot, caption, legend)])


def sensitivity(data: Data) -> str:
    chart = data.get("sensitivity") or {}
    rows = [r for r in items(chart, "rows") if units.is_number(r.get("value"))]
    heading, lead = "Sensitivity", "How much each layer suffers from quantization, per layer."
    if not rows:
        return _absent(data, "sensitivity", heading, lead, "sensitivity", "no sensitivity was measured")
    unit = text(chart, "unit")
    bars = [
        svg.Bar(
            text(r, "name"), r["value"], "flag" if r.get("flag") else "candidate", f"{r['value']:.1f} {unit}".strip()
        )
        for r in rows
    ]
    plot = svg.bars(bars, x_label=f"int8 output SQNR ({unit})" if unit == "dB" else f"sensitivity ({unit})")
    legend = [("candidate", "quantized")] + ([("flag", text(chart, "flag"))] if text(chart, "flag") else [])
    return html.section(
        "sensitivity", heading, lead, [html.figure("sensitivity", plot, _sentence(text(chart, "of")), legend)]
    )


def frozen(data: Data) -> str:
    rows = [r for r in data.get("frozen") or [] if isinstance(r, Mapping)]
    heading, lead = "What was left unchanged, and why", "Layers and channels a transform could not or would not change."
    if not rows:
        return _absent(data, "frozen", heading, lead, "frozen", "nothing was recorded as left unchanged")
    body = [[text(r, "layer"), text(r, "what"), text(r, "why")] for r in rows]
    return html.section("frozen", heading, lead, [html.table("frozen", ["layer", "what", "why"], body)])


def transforms(data: Data) -> str:
    rows = [r for r in data.get("transforms") or [] if isinstance(r, Mapping)]
    heading, lead = "Transforms", "Every record: what each verb did to each candidate, costs before → after."
    if not rows:
        return _absent(data, "transforms", heading, lead, "transforms", "no transform was recorded")

    def span(row: Mapping[str, Any], key: str) -> str:
        pair = row.get(key)
        return units.ratio(pair[0], pair[1]) if isinstance(pair, list) and len(pair) == 2 else "–"

    body = [
        [
            text(r, "candidate"),
            text(r, "verb"),
            text(r, "settings"),
            text(r, "layers"),
            span(r, "params"),
            span(r, "macs"),
            span(r, "bytes"),
        ]
        for r in rows
    ]
    headers = ["candidate", "verb", "settings", "layers changed", "params", "MACs", "bytes"]
    return html.section("transforms", heading, lead, [html.table("transforms", headers, body, [3, 4, 5, 6])])


def environment(data: Data) -> str:
    rows = [r for r in data.get("environment") or [] if isinstance(r, list | tuple) and len(r) == 2]
    heading, lead = "Environment", "The machine and libraries every number above was measured with."
    if not rows:
        return _absent(data, "environment", heading, lead, "environment", "no machine was recorded")
    return html.section(
        "environment", heading, lead, [html.table("environment", ["", "value"], [list(r) for r in rows])]
    )


SECTIONS: tuple[tuple[str, Callable[[Data], str]], ...] = (
    ("candidates", candidates),
    ("size", sizes),
    ("layer-latency", layers),
    ("sensitivity", sensitivity),
    ("frozen", frozen),
    ("transforms", transforms),
    ("environment", environment),
)
