"""Signals: daily (or weekly, monthly) values per country and metric.

Two kinds of source:

* **stored referrals**, counted by incident day and attributed country
  (:func:`referral_series`); metrics ``referrals``, ``incident_type:SLUG``,
  ``service:PLATFORM``, ``annotation:NAME`` (referrals with a file so annotated),
  ``material:known`` / ``material:new`` (referrals with a known / new file; the exclusive
  ``material:known-only``, ``material:new-only``, ``material:both``),
  ``report_annotation:NAME`` (``minorToMinorInteraction``, ``sextortion`` ...), ``tier:TIER``,
  ``viral`` (referrals in a viral group);
* **imported feeds** (:func:`import_feed`), documented CSV formats (``docs/trends.md``):
  blocked access attempts, helpline contacts, and any metric. A weekly or monthly value is kept
  as such (``period``) and never spread over days.

Every bad row of a feed is reported with its line and reason; the good rows are stored. Values
are replaced when the same key (feed, country, metric, period, start, dimensions) is imported
again, so importing a corrected file is safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select

from tipwatch.errors import InputError
from tipwatch.formats.feeds import EARLIEST_DATE, FEEDS, latest_date, read_feed
from tipwatch.models import FileAnnotation, IncidentType, ReportAnnotation
from tipwatch.store import Store
from tipwatch.store.expressions import as_date, calendar_day
from tipwatch.store.schema import (
    attributions,
    priorities,
    referral_files,
    referral_links,
    referrals,
)
from tipwatch.store.signals import (
    SignalValue,
    signal_summary,
    signal_values_of,
    write_signal_values,
)
from tipwatch.trends.analysis import DailySeries

__all__ = [
    "FEEDS",
    "REFERRAL_METRICS",
    "FeedImport",
    "import_feed",
    "list_signals",
    "referral_breakdown",
    "referral_classes",
    "referral_series",
    "series_of",
    "signal_series",
]


@dataclass
class FeedImport:
    feed: str
    source: str
    rows: int = 0
    values_stored: int = 0
    problems: list[str] = field(default_factory=list)


def import_feed(store: Store, path: Path, feed: str) -> FeedImport:
    """Import one feed file (``feed``: ``blocked``, ``helpline`` or ``metric``): the good rows
    are stored, each bad row is reported with its line and reason."""
    read = read_feed(path, feed)
    source = str(path)
    stored = write_signal_values(
        store,
        (
            SignalValue(
                feed, v.country, v.metric, v.period, v.period_start, v.value, v.dims, source
            )
            for v in read.values
        ),
    )
    return FeedImport(feed, read.source, read.rows, stored, [str(p) for p in read.problems])


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
    incident day in the store). Referrals dated before 1990 or after next year (an incident
    time of 0001-01-01 is kept by intake as its sender wrote it) stay in the store but are
    left out of every series, as dates outside that range are refused in feeds: they would
    make every daily series millions of days long. Referrals of unknown country are under
    ``unknown``. With
    ``collapse_viral`` (the default) the referrals of one viral group count once a day and
    country in the ``referrals`` metric: one viral item is one thing, not a surge.
    """
    r, a = referrals.c, attributions.c
    day = calendar_day(store, r.incident_time)
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
    lo = max(start or EARLIEST_DATE, EARLIEST_DATE)
    hi = min(end or latest_date(), latest_date())
    with store.read() as conn:
        for q in queries:
            q = q.where(
                r.incident_time >= datetime.combine(lo, datetime.min.time()),
                r.incident_time < datetime.combine(hi + timedelta(days=1), datetime.min.time()),
            )
            for row in conn.execute(q):
                d = as_date(row.day)
                counts[(row.country, d)] = counts.get((row.country, d), 0.0) + float(row.n)
    if not counts:
        return {}
    first = lo if start else min(d for _, d in counts)
    last = hi if end else max(d for _, d in counts)
    present = sorted({c for c, _ in counts})
    return _daily(counts, countries or present, first, last, metric)


BREAKDOWNS = {"incident_type": referrals.c.incident_type, "platform": referrals.c.platform}
"""The columns a referral count can be broken down by (:func:`referral_breakdown`)."""


def referral_breakdown(
    store: Store,
    by: str | Sequence[str],
    *,
    start: date,
    end: date,
    countries: Sequence[str] | None = None,
) -> dict[str, DailySeries]:
    """Daily counts of attributed referrals from ``start`` to ``end`` (both inclusive) summed
    over ``countries`` (default: every attributed country), one series per value of ``by``
    (``incident_type`` or ``platform``; a referral without a platform counts under
    ``unknown``), in one query. Several columns (``["incident_type", "platform"]``) are
    counted in the same query, their series keyed ``column:value``."""
    columns = [by] if isinstance(by, str) else list(by)
    for column in columns:
        if column not in BREAKDOWNS:
            raise InputError(f"unknown breakdown {column!r}: {', '.join(BREAKDOWNS)}")
    r, a = referrals.c, attributions.c
    day = calendar_day(store, r.incident_time)
    values = [func.coalesce(BREAKDOWNS[c], "unknown").label(f"v{k}") for k, c in enumerate(columns)]
    query = (
        select(*values, day.label("day"), func.count().label("n"))
        .select_from(referrals.join(attributions, a.report_id == r.report_id))
        .where(a.country.is_not(None))
        .where(r.incident_time >= datetime.combine(start, datetime.min.time()))
        .where(r.incident_time < datetime.combine(end + timedelta(days=1), datetime.min.time()))
        .group_by(*values, day)
    )
    if countries:
        query = query.where(a.country.in_([c.upper() for c in countries]))
    days = (end - start).days + 1
    out: dict[str, np.ndarray] = {}
    with store.read() as conn:
        for row in conn.execute(query):
            i = (as_date(row.day) - start).days
            if not 0 <= i < days:
                continue
            for k, column in enumerate(columns):
                key = str(row[k]) if isinstance(by, str) else f"{column}:{row[k]}"
                out.setdefault(key, np.zeros(days))[i] += float(row.n)
    name = by if isinstance(by, str) else "breakdown"
    return {k: DailySeries(start, v, "", f"{name}:{k}") for k, v in sorted(out.items())}


def _has_annotation(column: Any, name: str) -> Any:
    """Whether a ';'-joined annotations column holds the token ``name`` exactly."""
    return (
        (column == name)
        | column.like(f"{name};%")
        | column.like(f"%;{name}")
        | column.like(f"%;{name};%")
    )


def referral_classes(
    store: Store,
    *,
    start: date,
    end: date,
    countries: Sequence[str] | None = None,
    annotations: Sequence[str] | None = None,
) -> dict[str, DailySeries]:
    """Daily counts of attributed referrals (every one, viral batches too) summed over
    ``countries`` (default: all), for ``referrals`` and for each class the files and the
    report carry: ``annotation:NAME``, ``report_annotation:NAME``, ``material:known``,
    ``material:new`` and the exclusive ``material:known-only``, ``material:new-only``,
    ``material:both``. The same counts as :func:`referral_series` with
    ``collapse_viral=False``, summed, but counted by the database in two queries instead of
    one per metric. ``annotations`` narrows the file annotations counted (default: all; each
    costs a pattern match per file)."""
    import json

    from sqlalchemy import case

    r, a, f = referrals.c, attributions.c, referral_files.c
    day = calendar_day(store, r.incident_time)
    low = datetime.combine(start, datetime.min.time())
    high = datetime.combine(end + timedelta(days=1), datetime.min.time())
    flags = {
        "material:known": f.match_status == "known",
        "material:new": f.match_status == "new",
        **{
            f"annotation:{n.value}": _has_annotation(f.annotations, n.value) for n in FileAnnotation
        },
    }
    names = list(flags)
    per_referral = (
        select(
            day.label("day"),
            *(
                func.max(case((condition, 1), else_=0)).label(f"c{k}")
                for k, condition in enumerate(flags.values())
            ),
        )
        .select_from(
            referrals.join(attributions, a.report_id == r.report_id).outerjoin(
                referral_files, f.report_id == r.report_id
            )
        )
        .where(a.country.is_not(None), r.incident_time >= low, r.incident_time < high)
        .group_by(r.report_id, day)
    )
    annotated = (
        select(day.label("day"), r.document)
        .select_from(referrals.join(attributions, a.report_id == r.report_id))
        .where(a.country.is_not(None), r.incident_time >= low, r.incident_time < high)
        .where(r.document.like('%"report_annotations":[%'))
    )
    if countries:
        wanted = [c.upper() for c in countries]
        per_referral = per_referral.where(a.country.in_(wanted))
        annotated = annotated.where(a.country.in_(wanted))
    inner = per_referral.subquery()
    columns = [inner.c[f"c{k}"] for k in range(len(names))]
    query = select(inner.c.day, *columns, func.count().label("n")).group_by(inner.c.day, *columns)
    days = (end - start).days + 1
    out: dict[str, np.ndarray] = {}

    def add(name: str, i: int, n: float) -> None:
        out.setdefault(name, np.zeros(days))[i] += n

    with store.read() as conn:
        for row in conn.execute(query):
            i = (as_date(row.day) - start).days
            if not 0 <= i < days:
                continue
            n = float(row.n)
            add("referrals", i, n)
            held = {name for k, name in enumerate(names) if row[k + 1]}
            for name in held:
                add(name, i, n)
            known, new = "material:known" in held, "material:new" in held
            if known and new:
                add("material:both", i, n)
            elif known:
                add("material:known-only", i, n)
            elif new:
                add("material:new-only", i, n)
        for doc in conn.execute(annotated):
            i = (as_date(doc.day) - start).days
            if 0 <= i < days:
                for name in set(json.loads(doc.document).get("report_annotations", [])):
                    add(f"report_annotation:{name}", i, 1.0)
    return {k: DailySeries(start, v, "", k) for k, v in sorted(out.items()) if v.sum() > 0}


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
            r.report_id.in_(select(f.report_id).where(_has_annotation(f.annotations, value)))
        )
    if kind == "material" and value in ("known", "new"):
        f = referral_files.c
        return query.where(r.report_id.in_(select(f.report_id).where(f.match_status == value)))
    if kind == "material" and value in ("known-only", "new-only", "both"):
        # Exclusive classes: a referral with a known and a new file is in "both" alone, so
        # that the shares of the three add up to the share of referrals with a checked file.
        f = referral_files.c
        known = select(f.report_id).where(f.match_status == "known")
        new = select(f.report_id).where(f.match_status == "new")
        if value == "known-only":
            return query.where(r.report_id.in_(known), r.report_id.not_in(new))
        if value == "new-only":
            return query.where(r.report_id.in_(new), r.report_id.not_in(known))
        return query.where(r.report_id.in_(known), r.report_id.in_(new))
    if kind == "report_annotation" and value:
        return query.where(_report_annotation_filter(value))
    if metric == "viral":
        link = referral_links.c
        return query.where(r.report_id.in_(select(link.report_id).where(link.kind == "viral")))
    raise InputError(
        f"unknown referral metric {metric!r}: referrals, incident_type:SLUG, service:NAME, "
        "annotation:NAME, report_annotation:NAME, material:known|new|known-only|new-only|both, "
        "tier:NAME or viral"
    )


def _report_annotation_filter(name: str) -> Any:
    """Referrals whose report annotations include ``name``. The stored document lists them
    sorted, without spaces (``"report_annotations":["sextortion","spam"]``), and they come
    from a closed set, so every list that holds ``name`` is matched exactly."""
    import itertools

    try:
        wanted = ReportAnnotation(name)
    except ValueError:
        names = ", ".join(a.value for a in ReportAnnotation)
        raise InputError(f"unknown report annotation {name!r}: one of {names}") from None
    others = sorted(a for a in ReportAnnotation if a is not wanted)
    doc = referrals.c.document
    patterns = []
    for k in range(len(others) + 1):
        for extra in itertools.combinations(others, k):
            members = sorted({wanted, *extra})
            listed = ",".join(f'"{m.value}"' for m in members)
            patterns.append(doc.like(f'%"report_annotations":[{listed}]%'))
    return or_(*patterns)


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
    counts: dict[tuple[str, date], float] = {}
    periods: set[str] = set()
    for found in signal_values_of(
        store, metric, countries=countries, where=where, start=start, end=end
    ):
        periods.add(found.period)
        key = (found.country, found.period_start)
        counts[key] = counts.get(key, 0.0) + found.value
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
    "report_annotation:",
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
    return signal_summary(store)
