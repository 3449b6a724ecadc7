"""A daily series as an SVG chart drawn on the server: no script, no third-party origin.

The chart has a title, labelled axes, the baseline band, event markers and a text
alternative (``<title>``/``<desc>`` and ``role="img"``), and uses presentation attributes
only (the pages' Content-Security-Policy allows no inline style).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

from markupsafe import Markup

__all__ = ["Band", "Marker", "series_svg"]

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40
LABEL_ROWS = 6
"""Rows of marker labels at the top of the plot, before a label is left out."""
LABEL_CHAR_WIDTH = 6.6
"""A generous width of one character of an 11-unit label, to keep labels apart."""


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded range of values between two days (the baseline's expected range)."""

    start: date
    end: date
    low: float
    high: float
    label: str


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical line on a day (an event, an alert's start)."""

    day: date
    label: str
    """Shown when the line is pointed at."""
    colour: str = "#8a1c1c"
    short: str = ""
    """Written beside the line (empty: nothing written)."""


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def series_svg(
    title: str,
    start: date,
    values: Sequence[float],
    *,
    unit: str = "a day",
    bands: Sequence[Band] = (),
    markers: Sequence[Marker] = (),
) -> Markup:
    """The series from ``start`` (one value a day; NaN: no data) as an SVG element."""
    n = len(values)
    finite = [v for v in values if math.isfinite(v)]
    top = _nice_max(max([*finite, *(b.high for b in bands if math.isfinite(b.high))], default=1))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day_index: float) -> float:
        return LEFT + (plot_w * day_index / max(n - 1, 1))

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * min(max(value, 0.0), top) / top

    def index_of(day: date) -> float:
        return float((day - start).days)

    parts: list[str] = []
    end = start + timedelta(days=max(n - 1, 0))
    summary = (
        f"{n} days from {start.isoformat()} to {end.isoformat()}; highest {max(finite):,.0f} {unit}"
        if finite
        else "no data"
    )
    parts.append(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-title">{escape(title)}</title>'
        f'<desc id="chart-desc">{escape(summary)}</desc>'
    )
    # Axes and gridlines, with the value labels on the left (decimals where the scale is small).
    decimals = 0 if top >= 8 else (1 if top >= 0.8 else 2)
    for i in range(5):
        value = top * i / 4
        yy = y(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" '
            f'stroke="#d0d0d0" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333">{value:,.{decimals}f}</text>'
        )
    parts.append(
        f'<text x="14" y="{TOP + plot_h / 2:.0f}" font-size="11" fill="#333" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.0f})" text-anchor="middle">'
        f"{escape(unit)}</text>"
    )
    # Date labels: about six, on month-aligned days where the span allows.
    step = max(1, n // 6)
    for i in range(0, n, step):
        day = start + timedelta(days=i)
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" fill="#333" '
            f'text-anchor="middle">{day.isoformat()}</text>'
        )
    for band in bands:
        x0 = x(max(index_of(band.start), 0))
        x1 = x(min(index_of(band.end), n - 1))
        if x1 <= x0:
            continue
        parts.append(
            f'<rect x="{x0:.1f}" y="{y(band.high):.1f}" width="{x1 - x0:.1f}" '
            f'height="{max(y(band.low) - y(band.high), 1):.1f}" fill="#7aa6d6" '
            f'fill-opacity="0.35"><title>{escape(band.label)}</title></rect>'
        )
    # The series: one path, broken where a day has no data.
    path: list[str] = []
    pen_down = False
    for i, v in enumerate(values):
        if not math.isfinite(v):
            pen_down = False
            continue
        path.append(f"{'L' if pen_down else 'M'}{x(i):.1f},{y(v):.1f}")
        pen_down = True
    if path:
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="#1f3b63" stroke-width="1.6"/>'
        )
    rows: list[list[tuple[float, float]]] = [[] for _ in range(LABEL_ROWS)]
    for marker in markers:
        at = index_of(marker.day)
        if not 0 <= at <= n - 1:
            continue
        xx = x(at)
        parts.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="{marker.colour}" stroke-width="1.5" stroke-dasharray="4 3">'
            f"<title>{escape(marker.day.isoformat() + ': ' + marker.label)}</title></line>"
        )
        if marker.short:
            # To the left of the line in the right half, so that no label leaves the chart,
            # in the first row where it overlaps no other label; a label that finds no free
            # row is left out (the line still names it when pointed at, and the page lists
            # the events).
            right_half = xx > LEFT + plot_w * 0.55
            width = LABEL_CHAR_WIDTH * len(marker.short)
            x0, x1 = (xx - 4 - width, xx - 4) if right_half else (xx + 4, xx + 4 + width)
            row = next(
                (i for i, taken in enumerate(rows) if all(x1 < a or x0 > b for a, b in taken)),
                None,
            )
            if row is None:
                continue
            rows[row].append((x0 - 2, x1 + 2))
            parts.append(
                f'<text x="{xx + (-4 if right_half else 4):.1f}" '
                f'y="{TOP + 12 + 13 * row}" font-size="11" '
                f'text-anchor="{"end" if right_half else "start"}" fill="{marker.colour}">'
                f"{escape(marker.short)}</text>"
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#333"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        f'stroke="#333"/>'
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="#111">'
        f"{escape(title)}</text></svg>"
    )
    return Markup("".join(parts))
