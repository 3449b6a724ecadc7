"""Feed files: the documented CSV formats of signals from outside the store (``docs/trends.md``):
blocked access attempts, helpline contacts, and any metric.

:func:`read_feed` reads a file into typed values (:class:`FeedValue`); each bad row becomes a
:class:`FeedRowError` naming its line and the problem, and the good rows are still read. A
problem with the file as a whole (unreadable, not UTF-8, no header, a required column missing,
too many rows) raises :class:`InputError`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tipwatch.countries import require_country
from tipwatch.errors import InputError

__all__ = [
    "EARLIEST_DATE",
    "FEEDS",
    "MAX_ROWS",
    "MAX_VALUE",
    "PERIODS",
    "FeedFile",
    "FeedRowError",
    "FeedValue",
    "latest_date",
    "read_feed",
]

FEEDS: dict[str, dict[str, Any]] = {
    "blocked": {
        "required": ["date", "country", "provider", "method", "requests_blocked"],
        "optional": ["list_name", "list_size", "unique_clients", "period"],
        "dims": ["provider", "method", "list_name"],
        "values": {
            "requests_blocked": "blocked_requests",
            "unique_clients": "blocked_clients",
            "list_size": "blocked_list_size",
        },
        "methods": {"http-proxy", "dns", "sni", "other"},
    },
    "helpline": {
        "required": ["date", "country", "helpline", "age_band", "contacts"],
        "optional": ["topic", "period"],
        "dims": ["helpline", "age_band", "topic"],
        "values": {"contacts": "helpline_contacts"},
    },
    "metric": {
        "required": ["date", "country", "metric", "value"],
        "optional": ["period"],
        "dims": [],
        "values": {"value": None},
    },
}
"""The documented feed formats: required and optional columns, dimensions, value columns (a
value column of ``None`` takes its metric name from the ``metric`` column)."""

PERIODS = ("day", "week", "month")
"""The periods a value may cover; a weekly or monthly value is kept as such."""

MAX_ROWS = 5_000_000
"""More rows than this in one file is refused."""

EARLIEST_DATE = date(1990, 1, 1)
"""A row dated before this is refused: no feed tipwatch reads goes back further, and a date
such as 0001-01-01 would make every daily series millions of days long."""

MAX_VALUE = 1e15
"""A value above this is refused: no daily count comes near it, and sums of values such as
1e308 overflow to infinity (above 2^53, about 9e15, whole numbers are no longer exact)."""


def latest_date(today: date | None = None) -> date:
    """The last date a feed row may carry: 31 December of the year after ``today``."""
    today = today or date.today()
    return date(today.year + 1, 12, 31)


@dataclass(frozen=True)
class FeedValue:
    """One value of a feed: a metric for a country over a period, with its dimensions."""

    line: int
    country: str
    """ISO 3166-1 alpha-2."""
    metric: str
    period: str
    """``day``, ``week`` or ``month``."""
    period_start: date
    value: float
    dims: dict[str, str]
    """Provider, method, age band ... (only those the row gives)."""


@dataclass(frozen=True)
class FeedRowError:
    """A row that was not read: where (file and line) and why."""

    location: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.location}: {self.problem}"


@dataclass
class FeedFile:
    """What a feed file held: its values, the number of rows read, and the rows refused."""

    feed: str
    source: str
    rows: int = 0
    values: list[FeedValue] = field(default_factory=list)
    problems: list[FeedRowError] = field(default_factory=list)


class _RowProblem(Exception):
    """A row's problem, without its location (the reader adds it)."""


def read_feed(path: Path, feed: str) -> FeedFile:
    """Read the feed file ``path`` of kind ``feed`` (``blocked``, ``helpline`` or ``metric``).

    A row dated before :data:`EARLIEST_DATE` or after :func:`latest_date`, or with a value that
    is not a finite number from 0 to :data:`MAX_VALUE`, is refused with its line."""
    if feed not in FEEDS:
        raise InputError(f"unknown feed {feed!r}; one of {', '.join(FEEDS)}")
    spec = FEEDS[feed]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise InputError(f"{path}: the file is empty (a header row is needed)")
    reader.fieldnames = header
    missing = [c for c in spec["required"] if c not in header]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} for a {feed} feed "
            f"(needs {', '.join(spec['required'])})"
        )
    result = FeedFile(feed, str(path))
    latest = latest_date()
    seen: dict[tuple[Any, ...], int] = {}
    try:
        for line, raw in enumerate(reader, start=2):
            if result.rows >= MAX_ROWS:
                raise InputError(f"{path}: more than {MAX_ROWS:,} rows")
            result.rows += 1
            try:
                result.values.extend(_feed_row(raw, spec, feed, seen, line, latest))
            except _RowProblem as exc:
                result.problems.append(FeedRowError(f"{path}, line {line}", line, str(exc)))
    except csv.Error as exc:
        line = reader.line_num
        result.problems.append(FeedRowError(str(path), line, f"CSV error after line {line}: {exc}"))
    return result


def _number(text: str, column: str, *, integer: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _RowProblem(f"{column} is not a number: {text[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise _RowProblem(f"{column} must be zero or more, got {text[:40]!r}")
    if value > MAX_VALUE:
        raise _RowProblem(f"{column} must be at most {MAX_VALUE:.0e}, got {text[:40]!r}")
    if integer and value != int(value):
        raise _RowProblem(f"{column} must be a whole number, got {text[:40]!r}")
    return value


def _country(text: str) -> str:
    where = "country"
    try:
        return require_country(text, where)
    except InputError as exc:
        # The reader names the line; the problem is the rest of the message.
        raise _RowProblem(str(exc).removeprefix(f"{where}: ")) from None


def _feed_row(
    raw: dict[str, Any],
    spec: dict[str, Any],
    feed: str,
    seen: dict[tuple[Any, ...], int],
    line: int,
    latest: date,
) -> list[FeedValue]:
    if None in raw:
        raise _RowProblem("more cells than columns")
    cells = {k: (v or "").strip() for k, v in raw.items()}
    try:
        day = date.fromisoformat(cells["date"])
    except ValueError:
        raise _RowProblem(f"date must be YYYY-MM-DD, got {cells['date'][:30]!r}") from None
    if not EARLIEST_DATE <= day <= latest:
        raise _RowProblem(f"date must be from {EARLIEST_DATE} to {latest}, got {day}")
    code = _country(cells["country"])
    period = cells.get("period") or "day"
    if period not in PERIODS:
        raise _RowProblem(f"period must be day, week or month, got {period!r}")
    if period == "month" and day.day != 1:
        raise _RowProblem("a monthly value's date must be the first of the month")
    if "methods" in spec and cells["method"] not in spec["methods"]:
        methods = ", ".join(sorted(spec["methods"]))
        raise _RowProblem(f"method must be one of {methods}, got {cells['method']!r}")
    dims = {d: cells[d] for d in spec["dims"] if cells.get(d)}
    for d in spec["dims"]:
        if d in spec["required"] and not cells.get(d):
            raise _RowProblem(f"{d} is empty")
    dims_key = json.dumps(dims, sort_keys=True)
    out = []
    for column, metric in spec["values"].items():
        if not cells.get(column):
            if column in spec["required"]:
                raise _RowProblem(f"{column} is empty")
            continue
        value = _number(cells[column], column, integer=feed != "metric")
        name = metric or cells["metric"]
        if not name or len(name) > 120:
            raise _RowProblem("metric must be a name of 1 to 120 characters")
        key = (name, code, period, day, dims_key)
        if key in seen:
            raise _RowProblem(
                f"duplicate of line {seen[key]} ({code}, {day}, {name}"
                + (f", {dims_key}" if dims else "")
                + ")"
            )
        seen[key] = line
        out.append(FeedValue(line, code, name, period, day, value, dims))
    return out
