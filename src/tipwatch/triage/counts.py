"""Counts of referrals by what triage found (attributed country, viral links, attribution
quality), for the trends alerts and the assessment's caveats. Triage owns the attributions and
links, so the queries that count them are here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement

from tipwatch.store import Store
from tipwatch.store.expressions import as_date, calendar_day
from tipwatch.store.schema import attributions, referral_links, referrals

__all__ = [
    "UNKNOWN_COUNTRY",
    "AttributionQuality",
    "DailyCount",
    "attribution_quality",
    "daily_counts_by_country",
]

UNKNOWN_COUNTRY = "unknown"
"""The country of referrals not (yet) attributed to one."""


@dataclass(frozen=True)
class DailyCount:
    """Referrals of one attributed country on one incident day (and one service, when counted
    by service; ``None`` for referrals that name none)."""

    country: str
    day: date
    referrals: int
    service: str | None = None


def _day_range(since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    r = referrals.c
    out: list[ColumnElement[bool]] = []
    if since is not None:
        out.append(r.incident_time >= datetime.combine(since, time.min))
    if until is not None:
        out.append(r.incident_time < datetime.combine(until + timedelta(days=1), time.min))
    return out


def daily_counts_by_country(
    store: Store,
    *,
    since: date | None = None,
    until: date | None = None,
    by_service: bool = False,
    viral_only: bool = False,
) -> list[DailyCount]:
    """Referrals by attributed country (:data:`UNKNOWN_COUNTRY` when unattributed) and incident
    day, from ``since`` to ``until`` (both days included; all when ``None``). ``by_service``
    counts each reporting service apart; ``viral_only`` counts only referrals in viral
    groups."""
    r, a, link = referrals.c, attributions.c, referral_links.c
    day = calendar_day(store, r.incident_time)
    country = func.coalesce(a.country, UNKNOWN_COUNTRY)
    groups = [country, day, r.platform] if by_service else [country, day]
    query = (
        select(*groups, func.count())
        .select_from(referrals.outerjoin(attributions, a.report_id == r.report_id))
        .where(*_day_range(since, until))
        .group_by(*groups)
    )
    if viral_only:
        query = query.where(r.report_id.in_(select(link.report_id).where(link.kind == "viral")))
    with store.read() as conn:
        rows = conn.execute(query).all()
    if by_service:
        return [DailyCount(row[0], as_date(row[1]), int(row[3]), row[2]) for row in rows]
    return [DailyCount(row[0], as_date(row[1]), int(row[2])) for row in rows]


@dataclass(frozen=True)
class AttributionQuality:
    """How sure the attributions of a period are."""

    referrals: int
    """Attributed referrals (with or without a country) whose incident falls in the period."""
    possible_proxy: int
    """Of those, how many carry a possible-proxy flag in their evidence."""
    low_confidence: int
    """Of those, how many were attributed with confidence below the threshold."""
    unattributable: int
    """Referrals in the whole store that could not be attributed to any country."""


def attribution_quality(
    store: Store, *, since: date, until: date, low_confidence: float = 0.5
) -> AttributionQuality:
    """The attribution quality of the referrals of ``since`` to ``until`` (both days
    included). Counted in the database: a period can hold a million attributions."""
    a, r = attributions.c, referrals.c
    with store.read() as conn:
        total, proxy, low = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((a.evidence.like("%proxy%"), 1), else_=0)), 0),
                func.coalesce(func.sum(case((a.confidence < low_confidence, 1), else_=0)), 0),
            )
            .select_from(attributions.join(referrals, r.report_id == a.report_id))
            .where(*_day_range(since, until))
        ).one()
        unknown = conn.execute(
            select(func.count()).select_from(attributions).where(a.country.is_(None))
        ).scalar_one()
    return AttributionQuality(int(total), int(proxy), int(low), int(unknown))
