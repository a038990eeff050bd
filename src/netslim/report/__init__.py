"""``report.html``: one self-contained page (inline SVG and style, no script, nothing loaded from anywhere) that shows
what a netslim run measured: accuracy against latency of every candidate (the Pareto front when a search ran), size,
per-layer latency before and after, per-layer sensitivity, what was left unchanged and why, every transform record
and the machine. A leaf package: it reads netslim's JSON records and imports no other netslim package but
``atomic`` and ``errors``, so any layer may write a report.

Example:
    >>> data = {"title": "seed_cnn", "sizes": {"of": "weight bytes", "rows": [
    ...     {"name": "original", "bytes": 113704}, {"name": "pruned-0.5", "bytes": 30248, "chosen": True}]}}
    >>> page = build_report(data)
    >>> page.startswith("<!DOCTYPE html>"), 'data-plot="size"' in page, 'data-absent="candidates"' in page
    (True, True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from netslim import atomic
from netslim.report import html, sections
from netslim.report.data import report_data_from_dir, report_data_from_manifest
from netslim.report.from_pipeline import from_demo as report_data_from_demo

__all__ = [
    "REPORT",
    "build_report",
    "report_data_from_demo",
    "report_data_from_dir",
    "report_data_from_manifest",
    "write_report",
]

REPORT = "report.html"
# a record this version cannot draw shows these errors in its section instead of failing the page
DRAWING_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError, OverflowError)


def _version() -> str:
    try:
        return metadata.version("netslim")
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def build_report(data: Mapping[str, Any]) -> str:
    """The HTML page of ``data`` (see :mod:`netslim.report.data` for its keys; every key is optional)."""
    body = []
    facts = [(str(f[0]), str(f[1])) for f in data.get("facts") or [] if isinstance(f, list | tuple) and len(f) == 2]
    if facts:
        body.append(html.section("summary", "Summary", "", [html.facts(facts)]))
    for name, render in sections.SECTIONS:
        try:
            body.append(render(data))
        except DRAWING_ERRORS as exc:
            reason = f"this record could not be drawn ({type(exc).__name__}: {exc}); please report it"
            body.append(html.section(name, name.replace("-", " ").capitalize(), "", [html.absent(name, reason)]))
    footer = f"Written by netslim {_version()}"
    footer += f" from {data['source']}" if data.get("source") else ""
    footer += f", run {data['run_id']}" if data.get("run_id") else ""
    footer += ". Self-contained: opens offline."
    return html.page(str(data.get("title") or "netslim run"), str(data.get("subtitle") or ""), body, footer)


def write_report(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``build_report(data)`` to ``path`` atomically (a reader never sees half a page); returns the path."""
    return atomic.write_text(path, build_report(data))
