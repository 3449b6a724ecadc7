"""The server-drawn chart: event labels that do not collide and do not leave the chart."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

from tipwatch.web.pages.chart import LABEL_CHAR_WIDTH, LABEL_ROWS, WIDTH, Marker, series_svg

START = date(2020, 1, 1)


def _labels(svg: str) -> list[tuple[float, float, float, str]]:
    """(left, right, baseline y, text) of each marker label (font size 11, coloured)."""
    out = []
    for x, y, anchor, text in re.findall(
        r'<text x="([\d.]+)" y="([\d.]+)" font-size="11" text-anchor="(start|end)" '
        r'fill="#[0-9a-f]{6}">([^<]*)</text>',
        svg,
    ):
        width = LABEL_CHAR_WIDTH * len(text)
        left = float(x) - width if anchor == "end" else float(x)
        out.append((left, left + width, float(y), text))
    return out


def test_event_labels_close_together_do_not_overlap() -> None:
    # Five events within eleven days, as lockdown calendars have them, and one late in the
    # series (labelled to the left of its line).
    days = [
        (11, "stay-at-home-recommended"),
        (15, "school-closure"),
        (15, "school-closure-regional"),
        (22, "stay-at-home"),
        (22, "stay-at-home-regional"),
        (170, "reopening"),
    ]
    markers = [Marker(START + timedelta(days=d), k, short=k) for d, k in days]
    svg = str(series_svg("x", START, [1.0] * 180, markers=markers))
    labels = _labels(svg)
    assert sorted(t for *_, t in labels) == sorted(k for _, k in days)
    for i, a in enumerate(labels):
        assert a[0] >= 0 and a[1] <= WIDTH, a
        for b in labels[i + 1 :]:
            if a[2] == b[2]:  # same row: apart
                assert a[1] < b[0] or b[1] < a[0], (a, b)
    # Every line is drawn, labelled or not.
    assert svg.count('stroke-dasharray="4 3"') == len(days)


def test_labels_beyond_the_rows_are_left_out_but_lines_stay() -> None:
    many = [Marker(START + timedelta(days=10), f"event-{i}", short=f"event-{i}") for i in range(9)]
    svg = str(series_svg("x", START, [math.nan, 1.0, 2.0] * 20, markers=many))
    assert len(_labels(svg)) == LABEL_ROWS
    assert svg.count('stroke-dasharray="4 3"') == 9
    assert "event-8" in svg  # still named by its line's title
