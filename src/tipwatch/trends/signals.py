"""Signals: daily (or weekly, monthly) values per country and metric.

Two kinds of source:

* **stored referrals**, counted by incident day and attributed country
  (:func:`referral_series`); metrics ``referrals``, ``incident_type:SLUG``,
  ``service:PLATFORM``, ``annotation:NAME`` (referrals with a file so annotated),
  ``material:known`` / ``material:new`` (referrals with a known / new file), ``tier:TIER``,
  ``viral`` (referrals in a viral group);
* **imported feeds** (:func:`import_feed`), documented CSV formats (``docs/signals.md``):
  blocked access attempts, helpline contacts, and any metric. A weekly or monthly value is kept
  as such (``period``) and never spread over days.

Every bad row of a feed is reported with its line and reason; the good rows are stored. Values
are replaced when the same key (feed, country, metric, period, start, dimensions) is imported
again, so importing a corrected file is safe.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Date, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite

from tipwatch.countries import require_country
from tipwatch.errors import InputError
from tipwatch.models import IncidentType
from tipwatch.store import Store
from tipwatch.store.schema import (
    attributions,
    priorities,
    referral_files,
    referral_links,
    referrals,
    signal_values,
)
from tipwatch.trends.analysis import DailySeries

__all__ = [
    "FEEDS",
    "REFERRAL_METRICS",
    "FeedImport",
    "import_feed",
    "list_signals",
    "referral_series",
    "series_of",
    "signal_series",
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
"""The documented feed formats: required and optional columns, dimensions, value columns."""

PERIODS = ("day", "week", "month")
MAX_ROWS = 5_000_000


@dataclass
class FeedImport:
    feed: str
    source: str
    rows: int = 0
    values_stored: int = 0
    problems: list[str] = field(default_factory=list)


def _number(text: str, column: str, where: str, *, integer: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {column} is not a number: {text[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: {column} must be zero or more, got {text[:40]!r}")
    if integer and value != int(value):
        raise InputError(f"{where}: {column} must be a whole number, got {text[:40]!r}")
    return value


def import_feed(store: Store, path: Path, feed: str) -> FeedImport:
    """Import one feed file (``feed``: ``blocked``, ``helpline`` or ``metric``)."""
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
    result = FeedImport(feed, str(path))
    now = datetime.now(UTC).replace(tzinfo=None)
    seen: dict[tuple[Any, ...], int] = {}
    rows: list[dict[str, Any]] = []
    try:
        for line, raw in enumerate(reader, start=2):
            if result.rows >= MAX_ROWS:
                raise InputError(f"{path}: more than {MAX_ROWS:,} rows")
            result.rows += 1
            where = f"{path}, line {line}"
            try:
                rows.extend(_feed_row(raw, spec, feed, where, seen, line, str(path), now))
            except InputError as exc:
                result.problems.append(str(exc))
    except csv.Error as exc:
        result.problems.append(f"{path}: CSV error after line {reader.line_num}: {exc}")
    _store_values(store, rows)
    result.values_stored = len(rows)
    return result


def _feed_row(
    raw: dict[str, Any],
    spec: dict[str, Any],
    feed: str,
    where: str,
    seen: dict[tuple[Any, ...], int],
    line: int,
    source: str,
    now: datetime,
) -> list[dict[str, Any]]:
    if None in raw:
        raise InputError(f"{where}: more cells than columns")
    cells = {k: (v or "").strip() for k, v in raw.items()}
    try:
        day = date.fromisoformat(cells["date"])
    except ValueError:
        raise InputError(f"{where}: date must be YYYY-MM-DD, got {cells['date'][:30]!r}") from None
    code = require_country(cells["country"], where)
    period = cells.get("period") or "day"
    if period not in PERIODS:
        raise InputError(f"{where}: period must be day, week or month, got {period!r}")
    if period == "month" and day.day != 1:
        raise InputError(f"{where}: a monthly value's date must be the first of the month")
    if "methods" in spec and cells["method"] not in spec["methods"]:
        methods = ", ".join(sorted(spec["methods"]))
        raise InputError(f"{where}: method must be one of {methods}, got {cells['method']!r}")
    dims = {d: cells[d] for d in spec["dims"] if cells.get(d)}
    for d in spec["dims"]:
        if d in spec["required"] and not cells.get(d):
            raise InputError(f"{where}: {d} is empty")
    dims_key = json.dumps(dims, sort_keys=True)
    out = []
    for column, metric in spec["values"].items():
        if not cells.get(column):
            if column in spec["required"]:
                raise InputError(f"{where}: {column} is empty")
            continue
        value = _number(cells[column], column, where, integer=feed != "metric")
        name = metric or cells["metric"]
        if not name or len(name) > 120:
            raise InputError(f"{where}: metric must be a name of 1 to 120 characters")
        key = (name, code, period, day, dims_key)
        if key in seen:
            raise InputError(
                f"{where}: duplicate of line {seen[key]} ({code}, {day}, {name}"
                + (f", {dims_key}" if dims else "")
                + ")"
            )
        seen[key] = line
        out.append(
            {
                "feed": feed,
                "country": code,
                "metric": name,
                "period": period,
                "period_start": day,
                "value": value,
                "dims": dims_key,
                "dims_key": dims_key[:400],
                "source_file": source,
                "imported_at": now,
            }
        )
    return out


def _store_values(store: Store, rows: list[dict[str, Any]]) -> None:
    insert = postgresql.insert if store.dialect == "postgresql" else sqlite.insert
    key = ["feed", "country", "metric", "period", "period_start", "dims_key"]
    with store.atomic() as conn:
        for start in range(0, len(rows), 2000):
            stmt = insert(signal_values).values(rows[start : start + 2000])
            stmt = stmt.on_conflict_do_update(
                index_elements=key,
                set_={
                    "value": stmt.excluded.value,
                    "source_file": stmt.excluded.source_file,
                    "imported_at": stmt.excluded.imported_at,
                },
            )
            conn.execute(stmt)


# -- series ----------------------------------------------------------------------------------


def _daily(
    counts: dict[tuple[str, date], float],
    countries: Sequence[str],
    start: date,
    end: date,
    metric: str,
    missing: float = 0.0,
) -> dict[str, DailySeries]:
    days = (end - start).days + 1
    out: dict[str, DailySeries] = {}
    for country in countries:
        values = np.full(days, missing)
        for i in range(days):
            values[i] = counts.get((country, start + timedelta(days=i)), missing)
        out[country] = DailySeries(start, values, country, metric)
    return out


def referral_series(
    store: Store,
    metric: str = "referrals",
    *,
    countries: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    collapse_viral: bool = True,
) -> dict[str, DailySeries]:
    """Daily counts of referrals by attributed country (run ``tipwatch triage`` first).

    Days without referrals count 0 between ``start`` and ``end`` (default: the first and last
    incident day in the store). Referrals of unknown country are under ``unknown``. With
    ``collapse_viral`` (the default) the referrals of one viral group count once a day and
    country in the ``referrals`` metric: one viral item is one thing, not a surge.
    """
    r, a = referrals.c, attributions.c
    day = (
        cast(r.incident_time, Date) if store.dialect == "postgresql" else func.date(r.incident_time)
    )
    country = func.coalesce(a.country, "unknown")
    query = (
        select(country.label("country"), day.label("day"), func.count().label("n"))
        .select_from(referrals.outerjoin(attributions, a.report_id == r.report_id))
        .group_by(country, day)
    )
    query = _metric_filter(query, metric)
    collapse = collapse_viral and metric == "referrals"
    link = referral_links.c
    viral_members = select(link.report_id).where(link.kind == "viral")
    queries = [query]
    if collapse:
        queries = [
            query.where(r.report_id.not_in(viral_members)),
            select(
                country.label("country"),
                day.label("day"),
                func.count(func.distinct(link.group_id)).label("n"),
            )
            .select_from(
                referrals.join(referral_links, link.report_id == r.report_id).outerjoin(
                    attributions, a.report_id == r.report_id
                )
            )
            .where(link.kind == "viral")
            .group_by(country, day),
        ]
    counts: dict[tuple[str, date], float] = {}
    with store.read() as conn:
        for q in queries:
            if start is not None:
                q = q.where(r.incident_time >= datetime.combine(start, datetime.min.time()))
            if end is not None:
                q = q.where(
                    r.incident_time < datetime.combine(end + timedelta(days=1), datetime.min.time())
                )
            for row in conn.execute(q):
                d = row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day))
                counts[(row.country, d)] = counts.get((row.country, d), 0.0) + float(row.n)
    if not counts:
        return {}
    first = start or min(d for _, d in counts)
    last = end or max(d for _, d in counts)
    present = sorted({c for c, _ in counts})
    return _daily(counts, countries or present, first, last, metric)


def _metric_filter(query: Any, metric: str) -> Any:
    r = referrals.c
    kind, _, value = metric.partition(":")
    if metric == "referrals":
        return query
    if kind == "incident_type" and value:
        try:
            return query.where(r.incident_type == IncidentType.parse(value).value)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if kind == "service" and value:
        return query.where(r.platform == value)
    if kind == "tier" and value:
        p = priorities.c
        return query.where(r.report_id.in_(select(p.report_id).where(p.tier == value)))
    if kind == "annotation" and value:
        f = referral_files.c
        return query.where(
            r.report_id.in_(
                select(f.report_id).where(
                    (f.annotations == value)
                    | f.annotations.like(f"{value};%")
                    | f.annotations.like(f"%;{value}")
                    | f.annotations.like(f"%;{value};%")
                )
            )
        )
    if kind == "material" and value in ("known", "new"):
        f = referral_files.c
        return query.where(r.report_id.in_(select(f.report_id).where(f.match_status == value)))
    if metric == "viral":
        link = referral_links.c
        return query.where(r.report_id.in_(select(link.report_id).where(link.kind == "viral")))
    raise InputError(
        f"unknown referral metric {metric!r}: referrals, incident_type:SLUG, service:NAME, "
        "annotation:NAME, material:known|new, tier:NAME or viral"
    )


def signal_series(
    store: Store,
    metric: str,
    *,
    countries: Sequence[str] | None = None,
    where: dict[str, str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, DailySeries]:
    """Daily series of an imported metric, summed over dimensions (``where`` keeps only
    values whose dimensions match, e.g. ``{"age_band": "13-15"}``). Only daily values make a
    daily series: weekly and monthly values are refused, not spread over days."""
    s = signal_values.c
    query = select(s.country, s.period, s.period_start, s.value, s.dims).where(s.metric == metric)
    if countries:
        query = query.where(s.country.in_([c.upper() for c in countries]))
    if start is not None:
        query = query.where(s.period_start >= start)
    if end is not None:
        query = query.where(s.period_start <= end)
    counts: dict[tuple[str, date], float] = {}
    periods: set[str] = set()
    with store.read() as conn:
        for row in conn.execute(query):
            if where:
                dims = json.loads(row.dims)
                if any(dims.get(k) != v for k, v in where.items()):
                    continue
            periods.add(row.period)
            key = (row.country, row.period_start)
            counts[key] = counts.get(key, 0.0) + row.value
    if periods - {"day"}:
        raise InputError(
            f"{metric} holds {', '.join(sorted(periods - {'day'}))}ly values; daily analyses "
            "need daily values (tipwatch does not spread a week or month over days)"
        )
    if not counts:
        return {}
    first = start or min(d for _, d in counts)
    last = end or max(d for _, d in counts)
    present = sorted({c for c, _ in counts})
    # A day a feed does not report is unknown, not zero.
    return _daily(counts, countries or present, first, last, metric, missing=math.nan)


REFERRAL_METRICS = (
    "referrals",
    "incident_type:",
    "service:",
    "annotation:",
    "material:",
    "tier:",
    "viral",
)
"""Metrics counted from stored referrals (the rest are imported signals)."""


def series_of(
    store: Store,
    metric: str,
    *,
    countries: Sequence[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    attributed_only: bool = False,
) -> dict[str, DailySeries]:
    """The daily series of any metric: a referral metric (:data:`REFERRAL_METRICS`) or an
    imported one, optionally narrowed by one dimension (``helpline_contacts[age_band=13-15]``).
    ``attributed_only`` leaves out referrals of unknown country. Raises :class:`InputError`
    saying what to do when there is nothing."""
    wanted = [c.upper() for c in countries] if countries else None
    if metric.startswith(REFERRAL_METRICS):
        found = referral_series(store, metric, countries=wanted, start=start, end=end)
    else:
        name, _, condition = metric.partition("[")
        where = {}
        if condition:
            key, _, value = condition.rstrip("]").partition("=")
            where[key] = value
        found = signal_series(
            store, name, countries=wanted, where=where or None, start=start, end=end
        )
    if attributed_only:
        found.pop("unknown", None)
    if not found:
        place = f" in {', '.join(wanted)}" if wanted else ""
        if metric.startswith(REFERRAL_METRICS):
            raise InputError(
                f"no {metric}{place} in the store: ingest referrals, then run `tipwatch triage` "
                "(it attributes each referral to a country)"
            )
        raise InputError(
            f"no data for {metric}{place}: `tipwatch signals list` shows what is imported"
        )
    return found


def list_signals(store: Store) -> list[dict[str, Any]]:
    """What the store holds: each imported metric and country with its period and span."""
    s = signal_values.c
    query = (
        select(
            s.feed,
            s.metric,
            s.country,
            s.period,
            func.count().label("values"),
            func.min(s.period_start).label("first"),
            func.max(s.period_start).label("last"),
            func.sum(s.value).label("total"),
        )
        .group_by(s.feed, s.metric, s.country, s.period)
        .order_by(s.feed, s.metric, s.country)
    )
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
