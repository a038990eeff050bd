"""Page assembly: one self-contained HTML document (inline style, inline SVG, no script, no external resource; the
Content-Security-Policy forbids loading anything). Every text passes through :func:`html.escape`."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

STYLE = """
:root { --ink: #111827; --muted: #4b5563; --faint: #6b7280; --line: #e5e7eb; --panel: #f9fafb; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5; font-size: 15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "DejaVu Sans", Arial,
  sans-serif; -webkit-font-smoothing: antialiased; }
header, main, footer { max-width: 1000px; margin: 0 auto; padding: 0 32px; }
header { padding-top: 36px; padding-bottom: 8px; border-bottom: 1px solid var(--line); }
.eyebrow { margin: 0; font-size: 12px; font-weight: 600; letter-spacing: .08em; text-transform: uppercase;
  color: var(--accent); }
h1 { margin: 4px 0 2px; font-size: 26px; font-weight: 650; letter-spacing: -.01em; }
.subtitle { margin: 0 0 16px; color: var(--muted); }
h2 { margin: 40px 0 4px; font-size: 19px; font-weight: 650; }
.lead { margin: 0 0 14px; color: var(--muted); font-size: 14px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 10px; margin: 22px 0 0; }
.facts div { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.facts dt { font-size: 12px; color: var(--faint); text-transform: uppercase; letter-spacing: .04em; }
.facts dd { margin: 2px 0 0; font-size: 14px; font-weight: 600; overflow-wrap: anywhere; }
figure { margin: 8px 0 18px; padding: 16px 16px 10px; border: 1px solid var(--line); border-radius: 10px; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: 8px; font-size: 13px; color: var(--muted); }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 0 0; padding: 0;
  font-size: 12.5px; color: var(--muted); }
.legend li { display: flex; align-items: center; gap: 6px; }
.swatch { width: 11px; height: 11px; border-radius: 50%; display: inline-block; }
.absent { margin: 8px 0 18px; padding: 12px 16px; border: 1px dashed #d1d5db; border-radius: 10px;
  color: var(--muted); background: var(--panel); font-size: 14px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; margin: 8px 0 18px; }
th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); padding: 6px 8px;
  white-space: nowrap; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; overflow-wrap: break-word; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
tbody tr:nth-child(even) { background: #fcfcfd; }
tr.is-chosen td { background: #fffbeb; font-weight: 600; }
table[data-table="candidates"] td.num { white-space: nowrap; }
table[data-table="environment"] td:first-child { white-space: nowrap; width: 1%; color: var(--muted); }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12px; }
footer { margin-top: 48px; padding-top: 12px; padding-bottom: 40px; border-top: 1px solid var(--line);
  color: var(--faint); font-size: 12px; }
svg text { font-family: inherit; }
.plot-bg { fill: #fcfcfd; }
.grid { stroke: #eceef2; stroke-width: 1; }
.axis { stroke: #9ca3af; stroke-width: 1; }
.tick { fill: #4b5563; font-size: 11px; font-variant-numeric: tabular-nums; }
.axis-label { fill: #111827; font-size: 12px; font-weight: 600; }
.label { fill: #1f2937; font-size: 12px; }
.value { fill: #374151; font-size: 11px; font-variant-numeric: tabular-nums; }
.note { fill: #6b7280; font-size: 11px; font-style: italic; }
.annot { fill: #92400e; font-size: 11.5px; font-weight: 600; }
.ref { stroke: #64748b; stroke-width: 1.2; stroke-dasharray: 4 3; }
.ref-label { fill: #475569; font-weight: 500; }
.front-line { fill: none; stroke: #0d9488; stroke-width: 1.6; stroke-dasharray: 5 3; }
.chosen-ring { fill: none; stroke: #b45309; stroke-width: 2; }
.mark { stroke: #fff; stroke-width: 1; }
.k-candidate, .sw-candidate { fill: #3b82f6; background: #3b82f6; fill-opacity: .85; }
.k-baseline, .sw-baseline { fill: #94a3b8; background: #94a3b8; }
.k-rejected { fill: #fff; stroke: #ef4444; stroke-width: 1.6; }
.sw-rejected { background: #fff; border: 2px solid #ef4444; }
.sw-size { background: transparent; border: 1.5px solid #94a3b8; width: 14px; height: 14px; }
.k-front, .sw-front { fill: #0d9488; background: #0d9488; }
.k-chosen, .sw-chosen { fill: #f59e0b; background: #f59e0b; }
.k-flag, .sw-flag { fill: #f97316; background: #f97316; }
.k-before, .sw-before { fill: #94a3b8; background: #94a3b8; }
.k-after, .sw-after { fill: #2563eb; background: #2563eb; }
rect.mark { stroke: none; }
@media print { figure { break-inside: avoid; } header, main, footer { max-width: none; } }
"""

NUM = ' class="num"'
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def e(value: object) -> str:
    """Escaped text of any value (quotes too, so the result is safe inside an attribute)."""
    return escape(str(value), quote=True)


def page(title: str, subtitle: str, body: Sequence[str], footer: str) -> str:
    """The whole document."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="generator" content="netslim">',
            f"<title>netslim report: {e(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f'<header><p class="eyebrow">netslim report</p><h1>{e(title)}</h1>'
            f'<p class="subtitle">{e(subtitle)}</p></header>',
            "<main>",
            *body,
            "</main>",
            f"<footer>{e(footer)}</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def section(name: str, heading: str, lead: str, parts: Sequence[str]) -> str:
    intro = f'<p class="lead">{e(lead)}</p>' if lead else ""
    return f'<section id="{e(name)}"><h2>{e(heading)}</h2>{intro}{"".join(parts)}</section>'


def figure(name: str, svg: str, caption: str, legend: Sequence[tuple[str, str]] = ()) -> str:
    """A plot: ``<figure data-plot=NAME>`` with its SVG, a legend of (swatch kind, text) and a caption."""
    items = "".join(f'<li><span class="swatch sw-{e(kind)}"></span>{e(text)}</li>' for kind, text in legend)
    keys = f'<ul class="legend">{items}</ul>' if items else ""
    return f'<figure data-plot="{e(name)}">{svg}{keys}<figcaption>{e(caption)}</figcaption></figure>'


def absent(name: str, reason: str) -> str:
    """The sentence shown instead of a plot or table whose data is absent."""
    reason = reason.strip().rstrip(".")
    return f'<p class="absent" data-absent="{e(name)}">Not shown: {e(reason)}.</p>'


def facts(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<div><dt>{e(label)}</dt><dd>{e(value)}</dd></div>" for label, value in rows)
    return f'<dl class="facts">{cells}</dl>'


def table(
    name: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    numeric: Sequence[int] = (),
    highlight: Sequence[bool] = (),
) -> str:
    """A ``<table data-table=NAME>``; columns in ``numeric`` are right-aligned; rows flagged in ``highlight`` bold."""
    head = "".join(f"<th{NUM if i in numeric else ''}>{e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = ' class="is-chosen"' if r < len(highlight) and highlight[r] else ""
        cells = "".join(f"<td{NUM if i in numeric else ''}>{e(v)}</td>" for i, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    table = f'<table data-table="{e(name)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'
