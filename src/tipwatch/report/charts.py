"""Charts of the assessment: Altair-style Vega-Lite specifications rendered to SVG by
vl-convert.

SVG inline in the page needs no script and no network, prints sharply, and goes into the PDF
as it is. Colours are the Okabe-Ito palette and, for the map, a diverging blue-orange scheme,
readable with the common colour-vision deficiencies; lines also differ by dash. Each chart
comes with a title that states what it shows, a caption, and the table of its numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from tipwatch.countries import country_name, numeric_to_alpha2
from tipwatch.report.model import Chart, Table
from tipwatch.report.periods import Period
from tipwatch.trends.analysis import DailySeries, weekday_factors
from tipwatch.trends.countries import CountryTrend

__all__ = [
    "EUROPE",
    "OKABE_ITO",
    "aligned_chart",
    "europe_features",
    "europe_map",
    "forest_chart",
    "render_svg",
    "share_chart",
    "small_multiples_chart",
    "weekly",
    "weekly_lines_chart",
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

EUROPE = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "GB NO CH IS LI AD MC SM AL BA ME MK RS MD UA BY"
).split()
"""The countries the map draws (the EU, its neighbours in the west of the continent)."""

_BOUNDS = (-25.0, 34.0, 45.0, 72.0)
"""West, south, east, north: parts of a country outside (overseas) are not drawn."""


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
        "axis": {"labelFontSize": 11, "titleFontSize": 12, "grid": True, "gridColor": "#e6e6e6"},
        "header": {"labelFontSize": 13, "labelFontWeight": "bold", "labelColor": "#1b1b1b"},
        "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "bottom"},
        "title": {"fontSize": 14, "anchor": "start"},
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


def _month_totals(s: DailySeries) -> list[tuple[str, float]]:
    """Totals by month, or by quarter past six months, or by year past eight quarters: a
    table that fits the page whatever the period."""
    months = {(s.day(i).year, s.day(i).month) for i in range(len(s))}
    quarters = {(y, (m - 1) // 3) for y, m in months}

    def key(d: date) -> str:
        if len(months) <= 6:
            return f"{d:%b %Y}"
        if len(quarters) <= 8:
            return f"Q{(d.month - 1) // 3 + 1} {d.year}"
        return str(d.year)

    out: dict[str, float] = {}
    for i, v in enumerate(s.values):
        if np.isfinite(v):
            k = key(s.day(i))
            out[k] = out.get(k, 0.0) + float(v)
    return list(out.items())


def small_multiples_chart(
    series: Mapping[str, DailySeries],
    trends: Sequence[CountryTrend],
    events: Mapping[str, date],
    period: Period,
) -> Chart:
    """One panel per country, named: the 7-day mean against the country's own level (its
    baseline before its event where measured, else its mean in the period), on one shared
    scale so that the panels compare; the event dashed."""
    levels: dict[str, float] = {}
    for t in trends:
        if t.surge is not None:
            levels[t.country] = t.surge.expected / max(
                (t.surge.window_end - t.surge.window_start).days + 1, 1
            )
    rows: list[dict[str, Any]] = []
    table_rows: list[list[str]] = []
    months: list[str] = []
    above = 0
    for country, s in sorted(series.items(), key=lambda kv: country_name(kv[0])):
        name = country_name(country)
        smooth = _smooth7(s.values)
        own = levels.get(country) or float(np.nanmean(s.values)) or 1.0
        event = events[country].isoformat() if country in events else None
        for i in range(len(s)):
            if np.isfinite(smooth[i]):
                rows.append(
                    {
                        "country": name,
                        "day": s.day(i).isoformat(),
                        "ratio": round(float(smooth[i]) / own, 3),
                        "is_event": event is not None and s.day(i).isoformat() == event,
                    }
                )
        totals = _month_totals(s)
        months = months or [m for m, _ in totals]
        peak_ratio = float(np.nanmax(smooth)) / own if np.any(np.isfinite(smooth)) else 0.0
        above += peak_ratio >= 1.5
        table_rows.append(
            [name, f"{own:,.1f}", f"{peak_ratio:.2f}"] + [f"{v:,.0f}" for _, v in totals]
        )
    against = "its baseline before its own event" if levels else f"its mean in {period.label}"
    columns = 5 if len(series) > 12 else 4 if len(series) > 6 else max(1, min(3, len(series)))
    x = {
        "field": "day",
        "type": "temporal",
        "title": None,
        "axis": {"format": "%b", "tickCount": 4, "labelFontSize": 11},
    }
    spec = {
        "data": {"values": rows},
        "facet": {"field": "country", "type": "nominal", "title": None},
        "columns": columns,
        "spacing": {"row": 18, "column": 14},
        "spec": {
            "width": 150 if columns >= 4 else 190,
            "height": 90,
            "layer": [
                {
                    "data": {"values": [{"ratio": 1.0}]},
                    "mark": {"type": "rule", "color": "#555", "strokeWidth": 0.8},
                    "encoding": {"y": {"field": "ratio", "type": "quantitative"}},
                },
                {
                    "mark": {"type": "line", "color": OKABE_ITO[0], "strokeWidth": 1.6},
                    "encoding": {
                        "x": x,
                        "y": {
                            "field": "ratio",
                            "type": "quantitative",
                            "title": "level / own normal",
                        },
                    },
                },
                {
                    "transform": [{"filter": "datum.is_event"}],
                    "mark": {"type": "rule", "color": OKABE_ITO[5], "strokeDash": [4, 3]},
                    "encoding": {"x": x},
                },
            ],
        },
        "resolve": {"scale": {"y": "shared"}},
    }
    title = (
        f"{above} of {len(series)} countries rose to 1.5 times their own normal or more"
        if above
        else f"No country rose to 1.5 times its own normal in {period.label}"
    )
    return Chart(
        "daily",
        title,
        f"Each country's daily count (7-day mean) divided by {against}, on one shared scale "
        "(1 = normal); dashed: the country's own event.",
        _config(spec),
        Table(
            "table-daily",
            "The numbers behind the panels: each country's normal level per day, the highest "
            "7-day mean against it, and the totals by month (by quarter or year for long "
            "periods).",
            ["country", "normal / day", "highest / normal", *months],
            table_rows,
            [False, True, True, *([True] * len(months))],
        ),
    )


def aligned_chart(
    series: Mapping[str, DailySeries],
    events: Mapping[str, date],
    baselines: Mapping[str, float],
    *,
    before: int = 28,
    after: int = 70,
    event_label: str = "event",
) -> Chart:
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
                rows.append({"country": country_name(country), "day": d, "ratio": round(ratio, 3)})
                by_day.setdefault(d, []).append(ratio)
    median = [(d, round(float(np.median(v)), 3)) for d, v in sorted(by_day.items())]
    top_day, top_ratio = max(median, key=lambda r: r[1]) if median else (0, 1.0)
    spec = {
        "width": 560,
        "height": 280,
        "layer": [
            {
                "data": {"values": rows},
                "mark": {"type": "line", "strokeWidth": 0.8, "opacity": 0.4, "color": "#777"},
                "encoding": {
                    "x": {
                        "field": "day",
                        "type": "quantitative",
                        "title": f"days from the country's own {event_label}",
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
                "data": {"values": [{"day": d, "ratio": r} for d, r in median]},
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
    weekly_median = [(d, r) for d, r in median if d % 7 == 0]
    return Chart(
        "aligned",
        f"Aligned on each country's own {event_label}, the median level peaked at "
        f"{top_ratio:.2f} times baseline {top_day} days after it",
        f"Level against baseline (1 = no change), each country's own {event_label} at day 0; "
        "grey lines: countries, blue: their median.",
        _config(spec),
        Table(
            "table-aligned",
            "The median over the countries of the level against baseline, every 7 days from "
            f"the {event_label} (the blue line).",
            ["days from event", "median level / baseline", "countries"],
            [[str(d), f"{r:.2f}", str(len(by_day[d]))] for d, r in weekly_median],
            [True, True, True],
        ),
    )


def forest_chart(factors: Sequence[tuple[str, float, float, float]], *, event_label: str) -> Chart:
    """Surge factors with their 95% intervals, highest first: (name, factor, low, high)."""
    ordered = sorted(factors, key=lambda x: -x[1])
    rows = [
        {"country": c, "factor": round(f, 3), "low": round(lo, 3), "high": round(hi, 3)}
        for c, f, lo, hi in ordered
    ]
    order = [r["country"] for r in rows]
    y = {
        "field": "country",
        "type": "nominal",
        "sort": order,
        "title": None,
        "axis": {"labelFontSize": 12, "labelLimit": 200},
    }
    spec = {
        "width": 460,
        "height": max(120, 20 * len(rows)),
        "data": {"values": rows},
        "layer": [
            {
                "mark": {"type": "rule", "color": OKABE_ITO[0], "strokeWidth": 2},
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
                "mark": {"type": "point", "filled": True, "color": OKABE_ITO[0], "size": 50},
                "encoding": {"y": y, "x": {"field": "factor", "type": "quantitative"}},
            },
            {
                "data": {"values": [{"x": 1.0}]},
                "mark": {"type": "rule", "color": "#333", "strokeDash": [3, 3]},
                "encoding": {"x": {"field": "x", "type": "quantitative"}},
            },
        ],
    }
    clear = [c for c, _, lo, _ in ordered if lo > 1.0]
    if clear:
        title = (
            f"{len(clear)} of {len(rows)} countries rose beyond the noise; "
            f"{ordered[0][0]} most, {ordered[0][1]:.1f}x"
        )
    else:
        title = f"No country's surge factor is clear of 1 (all {len(rows)} intervals include it)"
    return Chart(
        "ranking",
        title,
        f"Surge factor of the four weeks from each country's own {event_label}, with its 95% "
        "interval; the dashed line is no change.",
        _config(spec),
        Table(
            "table-ranking",
            "The surge factors drawn, with their 95% intervals.",
            ["country", "surge factor", "95% low", "95% high"],
            [[c, f"{f:.2f}", f"{lo:.2f}", f"{hi:.2f}"] for c, f, lo, hi in ordered],
            [False, True, True, True],
        ),
    )


def _weekly_rows(
    parts: Mapping[str, Sequence[tuple[date, float]]], fmt: str
) -> tuple[list[str], list[list[str]]]:
    weeks = sorted({d for points in parts.values() for d, _ in points})
    lookup = {name: dict(points) for name, points in parts.items()}
    rows = []
    for w in weeks:
        row = [w.isoformat()]
        for name in parts:
            v = lookup[name].get(w)
            row.append("" if v is None else format(v, fmt))
        rows.append(row)
    return ["week from", *parts], rows


def share_chart(
    shares: Mapping[str, Sequence[tuple[date, float]]],
    *,
    name: str,
    title: str,
    caption: str,
    stacked: bool = False,
) -> Chart:
    """Weekly shares (0-1) of several named parts: lines dashed apart, or stacked areas for
    exclusive parts."""
    rows = [
        {"part": part, "week": d.isoformat(), "value": round(v, 4)}
        for part, points in shares.items()
        for d, v in points
    ]
    encoding: dict[str, Any] = {
        "x": {"field": "week", "type": "temporal", "title": "week"},
        "y": {
            "field": "value",
            "type": "quantitative",
            "title": "share of referrals",
            "axis": {"format": "%"},
            **({"stack": True} if stacked else {}),
        },
        "color": {"field": "part", "type": "nominal", "title": None},
    }
    if not stacked:
        encoding["strokeDash"] = {"field": "part", "type": "nominal", "title": None}
    spec = {
        "width": 560,
        "height": 220,
        "data": {"values": rows},
        "mark": {"type": "area"} if stacked else {"type": "line", "point": True, "strokeWidth": 2},
        "encoding": encoding,
    }
    columns, table_rows = _weekly_rows(shares, ".1%")
    return Chart(
        name,
        title,
        caption,
        _config(spec),
        Table(
            f"table-{name}",
            "The weekly shares drawn (weeks from Monday).",
            columns,
            table_rows,
            [False, *([True] * (len(columns) - 1))],
        ),
    )


def weekly_lines_chart(
    parts: Mapping[str, Sequence[tuple[date, float]]],
    *,
    name: str,
    title: str,
    caption: str,
    y_title: str,
) -> Chart:
    """Weekly totals of several named parts as lines (dashed apart for print)."""
    rows = [
        {"part": part, "week": d.isoformat(), "value": round(v, 2)}
        for part, points in parts.items()
        for d, v in points
    ]
    spec = {
        "width": 560,
        "height": 220,
        "data": {"values": rows},
        "mark": {"type": "line", "point": True, "strokeWidth": 2},
        "encoding": {
            "x": {"field": "week", "type": "temporal", "title": "week"},
            "y": {"field": "value", "type": "quantitative", "title": y_title},
            "color": {"field": "part", "type": "nominal", "title": None},
            "strokeDash": {"field": "part", "type": "nominal", "title": None},
        },
    }
    columns, table_rows = _weekly_rows(parts, ",.0f")
    return Chart(
        name,
        title,
        caption,
        _config(spec),
        Table(
            f"table-{name}",
            "The weekly totals drawn (weeks from Monday).",
            columns,
            table_rows,
            [False, *([True] * (len(columns) - 1))],
        ),
    )


# -- the map -----------------------------------------------------------------------------------


@cache
def _topology() -> dict[str, Any]:
    text = (resources.files("tipwatch") / "data" / "countries-50m.json").read_text("utf-8")
    topology: dict[str, Any] = json.loads(text)
    return topology


def _arc_points(topology: dict[str, Any], index: int) -> list[tuple[float, float]]:
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arc = topology["arcs"][index if index >= 0 else ~index]
    x = y = 0
    points = []
    for dx, dy in arc:
        x += dx
        y += dy
        points.append((x * sx + tx, y * sy + ty))
    return points if index >= 0 else points[::-1]


def _ring(topology: dict[str, Any], arcs: list[int]) -> list[tuple[float, float]]:
    ring: list[tuple[float, float]] = []
    for k, index in enumerate(arcs):
        points = _arc_points(topology, index)
        ring.extend(points if k == 0 else points[1:])
    return ring


def _inside(polygon: list[list[tuple[float, float]]]) -> bool:
    xs = [p[0] for p in polygon[0]]
    ys = [p[1] for p in polygon[0]]
    west, south, east, north = _BOUNDS
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return west <= cx <= east and south <= cy <= north


def _rounded(ring: list[tuple[float, float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for x, y in ring:
        point = [round(x, 2), round(y, 2)]
        if not out or out[-1] != point:
            out.append(point)
    if out and out[0] != out[-1]:
        out.append(out[0])
    return out


@cache
def _features() -> tuple[tuple[str, str], ...]:
    """Each European country's (code, GeoJSON geometry as JSON) from the shipped TopoJSON,
    overseas parts left out."""
    topology = _topology()
    out = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = numeric_to_alpha2(geometry.get("id", ""))
        if code not in EUROPE:
            continue
        kind = geometry.get("type")
        polygons = geometry["arcs"] if kind == "MultiPolygon" else [geometry.get("arcs", [])]
        kept = []
        for polygon in polygons:
            rings = [_ring(topology, arcs) for arcs in polygon]
            if rings and rings[0] and _inside(rings):
                rounded = [_rounded(r) for r in rings]
                if len(rounded[0]) >= 4:
                    kept.append(rounded)
        if kept:
            out.append((code, json.dumps({"type": "MultiPolygon", "coordinates": kept})))
    return tuple(out)


def europe_features() -> list[dict[str, Any]]:
    """The map's countries as GeoJSON features (``properties``: ``code``, ``name``)."""
    return [
        {
            "type": "Feature",
            "properties": {"code": code, "name": country_name(code)},
            "geometry": json.loads(geometry),
        }
        for code, geometry in _features()
    ]


def europe_map(
    values: Mapping[str, tuple[float, float, float]], *, what: str, period_label: str
) -> Chart:
    """A choropleth of Europe: each country's factor (with its interval in the table),
    coloured on a diverging log scale centred on 1 (no change); countries without a value
    grey."""
    features = europe_features()
    drawn = {f["properties"]["code"] for f in features}
    for f in features:
        code = f["properties"]["code"]
        if code in values:
            f["properties"]["factor"] = round(values[code][0], 3)
    largest = max(abs(np.log(max(v[0], 1e-6))) for v in values.values())
    bound = float(np.exp(max(largest, np.log(1.25))))
    data = {
        "values": {"type": "FeatureCollection", "features": features},
        "format": {"type": "json", "property": "features"},
    }
    spec = {
        "width": 520,
        "height": 440,
        "projection": {"type": "azimuthalEqualArea", "rotate": [-10, -52, 0]},
        "data": data,
        # keep the countries without a value (a log scale would filter them out)
        "mark": {"type": "geoshape", "stroke": "#ffffff", "strokeWidth": 0.5, "invalid": None},
        "encoding": {
            "color": {
                # one layer: countries without a value are grey, the rest on the scale
                "condition": {"test": "!isValid(datum.properties.factor)", "value": "#dddddd"},
                "field": "properties.factor",
                "type": "quantitative",
                "title": what,
                "scale": {
                    "type": "log",
                    "scheme": "blueorange",
                    "domain": [round(1 / bound, 3), round(bound, 3)],
                    "domainMid": 1,
                    "clamp": True,
                },
                "legend": {
                    "orient": "bottom",
                    "gradientLength": 300,
                    "format": ".2f",
                    "titleLimit": 480,
                },
            },
        },
    }
    ranked = sorted(values.items(), key=lambda kv: -kv[1][0])
    top_code, (top, low, high) = ranked[0]
    missing = sorted(c for c in values if c not in drawn)
    title = (
        f"{country_name(top_code)} shows the largest {what}: {top:.2f}x "
        f"(95% CI {low:.2f}-{high:.2f}), {period_label}"
    )
    caption = (
        f"The {what} by country (orange: above 1, a rise; blue: below 1, a fall; grey: no "
        "value). Natural Earth boundaries."
        + (f" Not on the map: {', '.join(country_name(c) for c in missing)}." if missing else "")
    )
    return Chart(
        "map",
        title,
        caption,
        _config(spec),
        Table(
            "table-map",
            f"The {what} drawn on the map, with its 95% interval.",
            ["country", "factor", "95% low", "95% high"],
            [[country_name(c), f"{f:.2f}", f"{lo:.2f}", f"{hi:.2f}"] for c, (f, lo, hi) in ranked],
            [False, True, True, True],
        ),
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
