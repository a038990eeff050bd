"""Inline SVG plots drawn from numbers, with nothing to load: a scatter plot, horizontal bars and before/after bar
pairs, each with labelled axes, ticks and grid lines. Every data mark carries the class ``mark`` (and ``k-KIND`` for
its colour, set by the page's style sheet), so a test can count what was drawn.

>>> svg = bars([Bar("conv1", 2.0), Bar("fc1", 1.0)], x_label="time (ms)")
>>> svg.count('class="mark')
2
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from html import escape

from netslim.report.units import tick

Format = Callable[[float, float], str]  # (value, tick step) -> label
CHAR_PX = 6.6  # the mean advance of a 11-12 px sans-serif character, for label room


@dataclasses.dataclass(frozen=True)
class Axis:
    """A linear axis from ``lo`` to ``hi`` with ticks every ``step``."""

    lo: float
    hi: float
    step: float

    @property
    def ticks(self) -> list[float]:
        n = round((self.hi - self.lo) / self.step)
        return [self.lo + i * self.step for i in range(n + 1)]

    def at(self, value: float, start: float, end: float) -> float:
        """The pixel of ``value`` between pixels ``start`` (at ``lo``) and ``end`` (at ``hi``)."""
        span = self.hi - self.lo or 1.0
        return start + (value - self.lo) / span * (end - start)


def nice_axis(lo: float, hi: float, *, count: int = 5, zero: bool = False) -> Axis:
    """An axis covering ``[lo, hi]`` with about ``count`` round steps (1, 2, 2.5 or 5 times a power of ten).

    >>> nice_axis(0.11, 0.33, zero=True)
    Axis(lo=0.0, hi=0.4, step=0.1)
    """
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi <= lo:
        pad = abs(hi) * 0.05 or 1.0
        lo, hi = (lo if zero and lo == 0 else lo - pad), hi + pad
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    return Axis(_clean(start), _clean(stop), _clean(step))


def _clean(value: float) -> float:
    return float(f"{value:.12g}")


def _n(value: float) -> str:
    return f"{value:.1f}"


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{_n(x)}" y="{_n(y)}" class="{cls}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _open(width: float, height: float, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" '
        f'height="{_n(height)}" role="img" aria-label="{escape(label)}">'
    )


def _x_axis(axis: Axis, left: float, right: float, top: float, bottom: float, label: str, fmt: Format) -> list[str]:
    """Vertical grid lines, tick labels under the plot and the axis label."""
    out = []
    for value in axis.ticks:
        x = axis.at(value, left, right)
        out.append(f'<line class="grid" x1="{_n(x)}" y1="{_n(top)}" x2="{_n(x)}" y2="{_n(bottom)}"/>')
        out.append(_text(x, bottom + 16, fmt(value, axis.step), "tick", "middle"))
    out.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(bottom)}" x2="{_n(right)}" y2="{_n(bottom)}"/>')
    out.append(_text((left + right) / 2, bottom + 38, label, "axis-label", "middle"))
    return out


def _clip(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: max(chars - 1, 1)] + "…"


# --- scatter -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Point:
    """One marker: ``kind`` picks its colour (``baseline``, ``candidate``, ``rejected``, ``front``, ``chosen``),
    ``area`` (0..1) its size, ``label`` a word written beside it, ``title`` the text shown on hover."""

    x: float
    y: float
    kind: str = "candidate"
    area: float | None = None
    label: str = ""
    title: str = ""


def scatter(
    points: Sequence[Point],
    *,
    x_label: str,
    y_label: str,
    x_format: Format = tick,
    y_format: Format = tick,
    link: Sequence[Point] = (),
    reference: tuple[float, str] | None = None,
    width: float = 900,
    height: float = 400,
) -> str:
    """A scatter plot; the x axis starts at zero (latency, size), the y axis fits the data. ``link`` is drawn as a
    line through its points in x order (a Pareto front); ``reference`` is a labelled vertical line at x."""
    left, right, top, bottom = 70.0, width - 24.0, 26.0, height - 56.0
    xs = [p.x for p in points] + ([reference[0]] if reference else [])
    ys = [p.y for p in points]
    # a margin around the data, so that no marker sits on the frame
    x_pad = 0.04 * (max(xs) - min(0.0, min(xs))) or 1.0
    y_pad = 0.08 * (max(ys) - min(ys)) or 0.5
    xa = nice_axis(min(xs), max(xs) + x_pad, zero=True)
    ya = nice_axis(min(ys) - y_pad, max(ys) + y_pad, count=5)
    out = [_open(width, height, f"{y_label} against {x_label}")]
    out.append(
        f'<rect class="plot-bg" x="{_n(left)}" y="{_n(top)}" width="{_n(right - left)}" height="{_n(bottom - top)}"/>'
    )
    for value in ya.ticks:
        y = ya.at(value, bottom, top)
        out.append(f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}"/>')
        out.append(_text(left - 8, y + 4, y_format(value, ya.step), "tick", "end"))
    out.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(top)}" x2="{_n(left)}" y2="{_n(bottom)}"/>')
    middle = (top + bottom) / 2
    out.append(_text(18, middle, y_label, "axis-label", "middle", f' transform="rotate(-90 18 {_n(middle)})"'))
    out += _x_axis(xa, left, right, top, bottom, x_label, x_format)

    def pos(p: Point) -> tuple[float, float]:
        return xa.at(p.x, left, right), ya.at(p.y, bottom, top)

    if reference is not None:
        x = xa.at(reference[0], left, right)
        out.append(f'<line class="ref" x1="{_n(x)}" y1="{_n(top)}" x2="{_n(x)}" y2="{_n(bottom)}"/>')
        anchor = "end" if x > (left + right) / 2 else "start"
        out.append(_text(x + (-4 if anchor == "end" else 4), top - 8, reference[1], "annot ref-label", anchor))
    if len(link) > 1:
        coords = " ".join(f"{_n(x)},{_n(y)}" for x, y in sorted(pos(p) for p in link))
        out.append(f'<polyline class="front-line" points="{coords}"/>')
    order = {"rejected": 0, "baseline": 1, "candidate": 2, "front": 3, "chosen": 4}
    for p in sorted(points, key=lambda p: order.get(p.kind, 2)):
        x, y = pos(p)
        r = 4.5 if p.area is None else 4.0 + 9.0 * math.sqrt(max(min(p.area, 1.0), 0.0))
        if p.kind == "chosen":
            out.append(f'<circle class="chosen-ring" cx="{_n(x)}" cy="{_n(y)}" r="{_n(r + 4)}"/>')
        title = f"<title>{escape(p.title)}</title>" if p.title else ""
        out.append(f'<circle class="mark k-{escape(p.kind)}" cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}">{title}</circle>')
        if p.label:
            anchor = "end" if x > right - 140 else "start"
            dx = -(r + 8) if anchor == "end" else r + 8
            out.append(_text(x + dx, y - r - 2, p.label, "annot", anchor))
    out.append("</svg>")
    return "".join(out)


# --- bars --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Bar:
    """One horizontal bar: ``text`` is written after its end (the value with its unit), ``title`` on hover."""

    label: str
    value: float
    kind: str = "candidate"
    text: str = ""
    title: str = ""


def _label_room(labels: Sequence[str]) -> tuple[float, int]:
    chars = min(max((len(label) for label in labels), default=4), 38)
    return max(chars * CHAR_PX + 18, 64.0), chars


def bars(rows: Sequence[Bar], *, x_label: str, x_format: Format = tick, width: float = 900) -> str:
    """Horizontal bars from zero, one row per item, labels on the left and values after the bars."""
    room, chars = _label_room([r.label for r in rows])
    left, right, top = room, width - 84.0, 10.0
    row_h, bar_h = 24.0, 15.0
    bottom = top + row_h * len(rows)
    height = bottom + 50.0
    axis = nice_axis(0.0, max((r.value for r in rows), default=1.0), zero=True)
    out = [_open(width, height, x_label)]
    out += _x_axis(axis, left, right, top, bottom, x_label, x_format)
    for i, row in enumerate(rows):
        y = top + i * row_h + (row_h - bar_h) / 2
        w = axis.at(row.value, left, right) - left
        title = f"<title>{escape(row.title or row.label)}</title>"
        out.append(_text(left - 8, y + bar_h - 3, _clip(row.label, chars), "label", "end"))
        out.append(
            f'<rect class="mark k-{escape(row.kind)}" x="{_n(left)}" y="{_n(y)}" width="{_n(max(w, 0.0))}" '
            f'height="{_n(bar_h)}" rx="2">{title}</rect>'
        )
        if row.text:
            out.append(_text(left + w + 6, y + bar_h - 3, row.text, "value"))
    out.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(top)}" x2="{_n(left)}" y2="{_n(bottom)}"/>')
    out.append("</svg>")
    return "".join(out)


@dataclasses.dataclass(frozen=True)
class Pair:
    """One item measured twice; ``None`` for a side that has no value (``missing`` says why, e.g. "removed")."""

    label: str
    before: float | None
    after: float | None
    missing: str = "not measured"


def paired_bars(
    rows: Sequence[Pair],
    *,
    x_label: str,
    series: tuple[str, str] = ("before", "after"),
    x_format: Format = tick,
    value_format: Callable[[float], str] = lambda v: f"{v:.3g}",
    width: float = 900,
) -> str:
    """Two bars per item (classes ``k-before`` and ``k-after``) on one axis from zero, each with its value written
    after it by ``value_format``."""
    room, chars = _label_room([r.label for r in rows])
    left, right, top = room, width - 84.0, 10.0
    row_h, bar_h = 34.0, 12.0
    bottom = top + row_h * len(rows)
    height = bottom + 50.0
    values = [v for r in rows for v in (r.before, r.after) if v is not None]
    axis = nice_axis(0.0, max(values, default=1.0), zero=True)
    out = [_open(width, height, x_label)]
    out += _x_axis(axis, left, right, top, bottom, x_label, x_format)
    for i, row in enumerate(rows):
        y0 = top + i * row_h + (row_h - 2 * bar_h - 2) / 2
        out.append(_text(left - 8, y0 + bar_h + 4, _clip(row.label, chars), "label", "end"))
        for j, (name, value) in enumerate(zip(series, (row.before, row.after), strict=True)):
            y = y0 + j * (bar_h + 2)
            kind = "before" if j == 0 else "after"
            if value is None:
                out.append(_text(left + 4, y + bar_h - 2, f"{name}: {row.missing}", "note"))
                continue
            w = axis.at(value, left, right) - left
            shown = value_format(value)
            out.append(
                f'<rect class="mark k-{kind}" x="{_n(left)}" y="{_n(y)}" width="{_n(max(w, 0.0))}" '
                f'height="{_n(bar_h)}" rx="2"><title>{escape(f"{row.label}, {name}: {shown}")}</title></rect>'
            )
            out.append(_text(left + w + 6, y + bar_h - 2, shown, "value"))
    out.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(top)}" x2="{_n(left)}" y2="{_n(bottom)}"/>')
    out.append("</svg>")
    return "".join(out)
