"""Charts as inline SVG, drawn here: no JavaScript, no network, no plotting dependency.

Three kinds, enough for the report: :func:`line_chart` (several series over time),
:func:`bar_chart` (one signed horizontal bar per item) and :func:`box_plot` (one horizontal
box per group, Tukey whiskers). Inputs are floats (the page keeps the exact Decimals for
the numbers it prints); every label and tooltip is escaped here, so callers pass raw text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "Box", "Series", "bar_chart", "box_plot", "line_chart", "quantile", "ticks"]

_WIDTH = 900
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True, slots=True)
class Series:
    """One line: ``points`` are (x, y) in data units, x increasing."""

    name: str
    color: str
    points: Sequence[tuple[float, float]]
    stroke_width: float = 1.5


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    tooltip: str


@dataclass(frozen=True, slots=True)
class Box:
    """A group's values (at least one)."""

    label: str
    values: Sequence[float]


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering ``lo``..``hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"ticks need finite bounds, got {lo}..{hi}")
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-12 * max(abs(lo), abs(hi), 1.0):
        lo, hi = lo - 1.0, hi + 1.0
    raw = (hi - lo) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * 0.999999)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [_clean(i * step, step) for i in range(first, last + 1)]


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, interpolated linearly between ranks."""
    if not ordered:
        raise ValueError("quantile of no values")
    at = (len(ordered) - 1) * q
    below = math.floor(at)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (at - below)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: Callable[[float], str],
    y_label: Callable[[float], str],
    height: int = 340,
) -> str:
    """Lines over a shared x axis (five evenly spaced x labels) with a zero-based y axis."""
    points = [p for s in series for p in s.points]
    if not points:
        raise ValueError("line_chart needs at least one point")
    left, right, top, bottom = 86, 20, 34, 40
    x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1.0, x_hi + 1.0
    y_ticks = ticks(min(0.0, *(p[1] for p in points)), max(0.0, *(p[1] for p in points)))
    plot_w, plot_h = _WIDTH - left - right, height - top - bottom

    def x_at(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def y_at(y: float) -> float:
        return top + (y_ticks[-1] - y) / (y_ticks[-1] - y_ticks[0]) * plot_h

    parts = [_open(title, height)]
    for value in y_ticks:
        y = y_at(value)
        stroke = "#888" if value == 0 else "#e4e4e4"
        parts.append(_line(left, y, left + plot_w, y, stroke))
        parts.append(_text(left - 6, y + 4, y_label(value), anchor="end"))
    for i in range(5):
        x = x_lo + (x_hi - x_lo) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(_text(x_at(x), top + plot_h + 18, x_label(x), anchor=anchor))
    for s in series:
        coords = " ".join(f"{x_at(x):.1f},{y_at(y):.1f}" for x, y in s.points)
        parts.append(
            f'<polyline fill="none" stroke="{s.color}" stroke-width="{s.stroke_width}" '
            f'points="{coords}"><title>{escape(s.name)}</title></polyline>'
        )
        if len(s.points) == 1:
            x, y = s.points[0]
            parts.append(f'<circle cx="{x_at(x):.1f}" cy="{y_at(y):.1f}" r="3" fill="{s.color}"/>')
    legend_x = left
    for s in series:
        parts.append(f'<rect x="{legend_x}" y="10" width="14" height="4" fill="{s.color}"/>')
        parts.append(_text(legend_x + 18, 16, s.name))
        legend_x += 26 + 7 * len(s.name)
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(bars: Sequence[Bar], *, title: str, value_label: Callable[[float], str]) -> str:
    """One horizontal bar per item, from zero (negative values to the left)."""
    if not bars:
        raise ValueError("bar_chart needs at least one bar")
    left, right, top, row = 230, 20, 10, 20
    x_ticks = ticks(min(0.0, *(b.value for b in bars)), max(0.0, *(b.value for b in bars)))
    plot_w = _WIDTH - left - right
    height = top + row * len(bars) + 30

    def x_at(x: float) -> float:
        return left + (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * plot_w

    parts = [_open(title, height)]
    bottom = top + row * len(bars)
    for value in x_ticks:
        x = x_at(value)
        parts.append(_line(x, top, x, bottom, "#888" if value == 0 else "#e4e4e4"))
        parts.append(_text(x, bottom + 16, value_label(value), anchor="middle"))
    zero = x_at(0.0)
    for i, bar in enumerate(bars):
        y = top + i * row
        end = x_at(bar.value)
        color = "#2a9d8f" if bar.value >= 0 else "#e76f51"
        parts.append(
            f'<rect x="{min(zero, end):.1f}" y="{y + 3}" width="{abs(end - zero):.1f}" '
            f'height="{row - 6}" fill="{color}"><title>{escape(bar.tooltip)}</title></rect>'
        )
        parts.append(_text(left - 6, y + row / 2 + 4, _shorten(bar.label, 34), anchor="end"))
    parts.append("</svg>")
    return "\n".join(parts)


def box_plot(boxes: Sequence[Box], *, title: str, value_label: Callable[[float], str]) -> str:
    """One horizontal box per group: quartiles, median, whiskers at the furthest values
    within 1.5 IQR of the box, the values beyond drawn as dots."""
    if not boxes or not all(b.values for b in boxes):
        raise ValueError("box_plot needs groups of at least one value")
    left, right, top, row = 230, 20, 10, 34
    every = [v for b in boxes for v in b.values]
    x_ticks = ticks(min(0.0, *every), max(0.0, *every))
    plot_w = _WIDTH - left - right
    bottom = top + row * len(boxes)

    def x_at(x: float) -> float:
        return left + (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * plot_w

    parts = [_open(title, bottom + 30)]
    for value in x_ticks:
        x = x_at(value)
        parts.append(_line(x, top, x, bottom, "#888" if value == 0 else "#e4e4e4"))
        parts.append(_text(x, bottom + 16, value_label(value), anchor="middle"))
    for i, box in enumerate(boxes):
        ordered = sorted(box.values)
        q1, median, q3 = (quantile(ordered, q) for q in (0.25, 0.5, 0.75))
        reach = 1.5 * (q3 - q1)
        low = min(v for v in ordered if v >= q1 - reach)
        high = max(v for v in ordered if v <= q3 + reach)
        mid = top + i * row + row / 2
        tip = escape(
            f"{box.label}: n={len(ordered)}, median {value_label(median)}, "
            f"IQR {value_label(q1)}..{value_label(q3)}, range "
            f"{value_label(ordered[0])}..{value_label(ordered[-1])}"
        )
        parts.append(f"<g><title>{tip}</title>")
        parts.append(_line(x_at(low), mid, x_at(high), mid, "#555"))
        parts.extend(_line(x_at(end), mid - 6, x_at(end), mid + 6, "#555") for end in (low, high))
        width = max(x_at(q3) - x_at(q1), 1.0)
        parts.append(
            f'<rect x="{x_at(q1):.1f}" y="{mid - 10:.1f}" width="{width:.1f}" height="20" '
            'fill="#a8dadc" stroke="#457b9d"/>'
        )
        parts.append(_line(x_at(median), mid - 10, x_at(median), mid + 10, "#1d3557", 2))
        parts.extend(
            f'<circle cx="{x_at(value):.1f}" cy="{mid:.1f}" r="2.5" fill="#e76f51"/>'
            for value in ordered
            if value < low or value > high
        )
        parts.append("</g>")
        label = f"{_shorten(box.label, 26)} (n={len(ordered)})"
        parts.append(_text(left - 6, mid + 4, label, anchor="end"))
    parts.append("</svg>")
    return "\n".join(parts)


def _open(title: str, height: int) -> str:
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" '
        f'class="chart" role="img" aria-label="{label}" {_FONT}><title>{label}</title>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{stroke}" stroke-width="{width}"/>'
    )


def _text(x: float, y: float, content: str, *, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="#333">{escape(content)}</text>'
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean(value: float, step: float) -> float:
    """``value`` without float noise (0.30000000000000004) and never ``-0.0``."""
    digits = max(0, -math.floor(math.log10(step)) + 2)
    cleaned = round(value, digits)
    return 0.0 if cleaned == 0 else cleaned
