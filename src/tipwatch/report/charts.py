"""Charts of the assessment: Altair specifications rendered to SVG by vl-convert.

SVG inline in the page needs no script and no network, prints sharply, and goes into the PDF
as it is. Colours are the Okabe-Ito palette, readable with the common colour-vision
deficiencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np

from tipwatch.trends.analysis import DailySeries, weekday_factors

__all__ = [
    "OKABE_ITO",
    "aligned_chart",
    "daily_multiples",
    "ranking_chart",
    "render_svg",
    "share_chart",
    "stacked_chart",
]

OKABE_ITO = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
]
_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def render_svg(spec: Mapping[str, Any]) -> str:
    """The SVG text of a Vega-Lite specification (no script, no network)."""
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(dict(spec))
    return svg


def _config(spec: dict[str, Any]) -> dict[str, Any]:
    spec["$schema"] = "https://vega.github.io/schema/vega-lite/v5.json"
    spec["config"] = {
        "font": _FONT,
        "range": {"category": OKABE_ITO},
        "axis": {"labelFontSize": 10, "titleFontSize": 11, "grid": True, "gridColor": "#eee"},
        "view": {"stroke": None},
        "background": "white",
    }
    return spec


def _smooth7(values: np.ndarray) -> np.ndarray:
    kernel = np.ones(7) / 7
    filled = np.nan_to_num(values, nan=0.0)
    ok = np.convolve(np.isfinite(values).astype(float), kernel, mode="same")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.convolve(filled, kernel, mode="same") / ok
    return np.where(ok > 0, out, np.nan)


def daily_multiples(
    series: Mapping[str, DailySeries],
    events: Mapping[str, date],
    baselines: Mapping[str, tuple[float, float]],
    *,
    title: str,
) -> dict[str, Any]:
    """Small multiples: each country's 7-day mean, its baseline band, its event (dashed)."""
    rows: list[dict[str, Any]] = []
    for country, s in sorted(series.items()):
        smooth = _smooth7(s.values)
        low, high = baselines.get(country, (None, None))
        event = events[country].isoformat() if country in events else None
        for i in range(len(s)):
            if np.isfinite(smooth[i]):
                rows.append(
                    {
                        "country": country,
                        "day": s.day(i).isoformat(),
                        "per_day": round(float(smooth[i]), 2),
                        "low": low,
                        "high": high,
                        "is_event": event is not None and s.day(i).isoformat() == event,
                    }
                )
    columns = 5 if len(series) > 8 else max(1, min(4, len(series)))
    x = {
        "field": "day",
        "type": "temporal",
        "title": None,
        "axis": {"format": "%b", "tickCount": 4},
    }
    spec = {
        "title": title,
        "data": {"values": rows},
        "facet": {"field": "country", "type": "nominal", "title": None},
        "columns": columns,
        "resolve": {"scale": {"y": "independent"}},
        "spec": {
            "width": 150,
            "height": 80,
            "layer": [
                {
                    "transform": [{"filter": "datum.low != null"}],
                    "mark": {"type": "area", "color": "#bbbbbb", "opacity": 0.45},
                    "encoding": {
                        "x": x,
                        "y": {"field": "low", "type": "quantitative"},
                        "y2": {"field": "high"},
                    },
                },
                {
                    "mark": {"type": "line", "color": OKABE_ITO[0], "strokeWidth": 1.4},
                    "encoding": {
                        "x": x,
                        "y": {"field": "per_day", "type": "quantitative", "title": "per day"},
                    },
                },
                {
                    "transform": [{"filter": "datum.is_event"}],
                    "mark": {"type": "rule", "color": OKABE_ITO[5], "strokeDash": [4, 3]},
                    "encoding": {"x": x},
                },
            ],
        },
    }
    return _config(spec)


def aligned_chart(
    series: Mapping[str, DailySeries],
    events: Mapping[str, date],
    baselines: Mapping[str, float],
    *,
    before: int = 28,
    after: int = 70,
    title: str,
) -> dict[str, Any]:
    """Each country's level against its baseline, day 0 = its own event."""
    rows: list[dict[str, Any]] = []
    by_day: dict[int, list[float]] = {}
    for country, s in sorted(series.items()):
        if country not in events or not baselines.get(country):
            continue
        smooth = _smooth7(s.values / weekday_factors(s)[s.weekdays()])
        zero = s.index(events[country])
        for d in range(-before, after + 1):
            i = zero + d
            if 0 <= i < len(s) and np.isfinite(smooth[i]):
                ratio = float(smooth[i]) / baselines[country]
                rows.append({"country": country, "day": d, "ratio": round(ratio, 3)})
                by_day.setdefault(d, []).append(ratio)
    median = [{"day": d, "ratio": round(float(np.median(v)), 3)} for d, v in sorted(by_day.items())]
    spec = {
        "title": title,
        "width": 620,
        "height": 300,
        "layer": [
            {
                "data": {"values": rows},
                "mark": {"type": "line", "strokeWidth": 0.8, "opacity": 0.35, "color": "#777"},
                "encoding": {
                    "x": {
                        "field": "day",
                        "type": "quantitative",
                        "title": "days from the country's own event",
                    },
                    "y": {
                        "field": "ratio",
                        "type": "quantitative",
                        "title": "level / baseline (7-day mean)",
                    },
                    "detail": {"field": "country"},
                },
            },
            {
                "data": {"values": median},
                "mark": {"type": "line", "strokeWidth": 2.5, "color": OKABE_ITO[0]},
                "encoding": {
                    "x": {"field": "day", "type": "quantitative"},
                    "y": {"field": "ratio", "type": "quantitative"},
                },
            },
            {
                "data": {"values": [{"day": 0}]},
                "mark": {"type": "rule", "color": OKABE_ITO[5], "strokeDash": [4, 3]},
                "encoding": {"x": {"field": "day", "type": "quantitative"}},
            },
            {
                "data": {"values": [{"ratio": 1.0}]},
                "mark": {"type": "rule", "color": "#333", "strokeWidth": 0.8},
                "encoding": {"y": {"field": "ratio", "type": "quantitative"}},
            },
        ],
    }
    return _config(spec)


def ranking_chart(
    factors: Sequence[tuple[str, float, float, float]], *, title: str
) -> dict[str, Any]:
    """Surge factors with their 95% intervals, highest first: (country, factor, low, high)."""
    rows = [
        {"country": c, "factor": round(f, 3), "low": round(lo, 3), "high": round(hi, 3)}
        for c, f, lo, hi in sorted(factors, key=lambda x: -x[1])
    ]
    order = [r["country"] for r in rows]
    y = {"field": "country", "type": "nominal", "sort": order, "title": None}
    spec = {
        "title": title,
        "width": 460,
        "height": max(120, 16 * len(rows)),
        "data": {"values": rows},
        "layer": [
            {
                "mark": {"type": "rule", "color": OKABE_ITO[0]},
                "encoding": {
                    "y": y,
                    "x": {
                        "field": "low",
                        "type": "quantitative",
                        "title": "surge factor (95% interval)",
                    },
                    "x2": {"field": "high"},
                },
            },
            {
                "mark": {"type": "point", "filled": True, "color": OKABE_ITO[0], "size": 40},
                "encoding": {"y": y, "x": {"field": "factor", "type": "quantitative"}},
            },
            {
                "data": {"values": [{"x": 1.0}]},
                "mark": {"type": "rule", "color": "#333", "strokeDash": [3, 3]},
                "encoding": {"x": {"field": "x", "type": "quantitative"}},
            },
        ],
    }
    return _config(spec)


def _weekly_parts(
    parts: Mapping[str, Sequence[tuple[date, float]]],
    *,
    title: str,
    mark: dict[str, Any],
    y: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Weekly values of several named parts over time: the shape both charts below share."""
    rows = [
        {"part": name, "week": d.isoformat(), "value": round(v, 4)}
        for name, points in parts.items()
        for d, v in points
    ]
    spec = {
        "title": title,
        "width": 620,
        "height": 220,
        "data": {"values": rows},
        "mark": mark,
        "encoding": {
            "x": {"field": "week", "type": "temporal", "title": "week"},
            "y": {"field": "value", "type": "quantitative", **y},
            "color": {"field": "part", "type": "nominal", "title": None},
            **(extra or {}),
        },
    }
    return _config(spec)


def share_chart(
    shares: Mapping[str, Sequence[tuple[date, float]]], *, title: str, y_title: str
) -> dict[str, Any]:
    """Weekly shares (0-1) of several named parts, as lines (dashed apart for print)."""
    return _weekly_parts(
        shares,
        title=title,
        mark={"type": "line", "point": True, "strokeWidth": 2},
        y={"title": y_title, "axis": {"format": "%"}},
        extra={"strokeDash": {"field": "part", "type": "nominal", "title": None}},
    )


def stacked_chart(
    parts: Mapping[str, Sequence[tuple[date, float]]], *, title: str, y_title: str
) -> dict[str, Any]:
    """Weekly totals of several parts, stacked (helpline contacts by age band ...)."""
    return _weekly_parts(
        parts, title=title, mark={"type": "area"}, y={"title": y_title, "stack": True}
    )


def weekly(series: DailySeries) -> list[tuple[date, float]]:
    """Weekly sums (weeks from Monday), complete weeks only."""
    out: list[tuple[date, float]] = []
    first = series.start + timedelta(days=(7 - series.start.weekday()) % 7)
    i = series.index(first)
    while i + 7 <= len(series):
        chunk = series.values[i : i + 7]
        if np.isfinite(chunk).all():
            out.append((series.day(i), float(chunk.sum())))
        i += 7
    return out
