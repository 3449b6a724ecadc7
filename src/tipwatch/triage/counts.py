"""Counts of referrals by what triage found (attributed country, viral links, attribution
quality), for the trends alerts, the assessment's caveats and a country's page. Triage owns
the attributions and links, so the queries that count them are here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement

from tipwatch.formats.feeds import EARLIEST_DATE, latest_date
from tipwatch.store import Store
from tipwatch.store.expressions import as_date, calendar_day
from tipwatch.store.schema import attributions, referral_links, referrals
from tipwatch.triage.attribution import LEVELS, PROXY_DECIDED

__all__ = [
    "CONFIDENCE_BANDS",
    "UNKNOWN_COUNTRY",
    "AttributionQuality",
    "CountryAttributionQuality",
    "DailyCount",
    "attribution_quality",
    "country_attribution_quality",
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
    """Incidents from ``since`` to ``until`` (both days included), and never before 1990 or
    after next year: intake keeps an incident time of 0001-01-01 as its sender wrote it, but
    no daily count reaches it (feeds refuse such dates; a day-by-day loop over it would run
    millions of days)."""
    r = referrals.c
    first = max(since or EARLIEST_DATE, EARLIEST_DATE)
    last = min(until or latest_date(), latest_date())
    return [
        r.incident_time >= datetime.combine(first, time.min),
        r.incident_time < datetime.combine(last + timedelta(days=1), time.min),
    ]


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
                func.coalesce(func.sum(case((_possible_proxy(), 1), else_=0)), 0),
                func.coalesce(func.sum(case((a.confidence < low_confidence, 1), else_=0)), 0),
            )
            .select_from(attributions.join(referrals, r.report_id == a.report_id))
            .where(*_day_range(since, until))
        ).one()
        unknown = conn.execute(
            select(func.count()).select_from(attributions).where(a.country.is_(None))
        ).scalar_one()
    return AttributionQuality(int(total), int(proxy), int(low), int(unknown))


CONFIDENCE_BANDS: tuple[tuple[str, float], ...] = (("high", 0.7), ("medium", 0.5), ("low", 0.0))
"""An attribution's confidence band: the first whose floor it reaches. Clean evidence of a
supplied geolocation, an upload IP or a verified estimated location is ``high``; ``low`` is
below the assessment's low-confidence threshold (0.5)."""


def _possible_proxy() -> ColumnElement[bool]:
    """Whether an attribution's evidence carries a possible-proxy flag (an item marked
    ``proxy``, a note or a warning naming one): the sender's flag, or a GeoIP database's
    anonymous-proxy or satellite mark."""
    return attributions.c.evidence.like("%proxy%")


@dataclass(frozen=True)
class CountryAttributionQuality:
    """How the referrals of a period came to be attributed to one country, and how many of
    the period's referrals no country could be found for."""

    country: str
    since: date | None
    until: date | None
    attributed: int
    """Referrals attributed to the country whose incident falls in the period."""
    by_level: dict[str, int]
    """Of those, how many each kind of evidence decided (levels in order of precedence;
    levels that decided none are left out)."""
    by_confidence: dict[str, int]
    """Of those, how many in each band of :data:`CONFIDENCE_BANDS` (every band named)."""
    possible_proxy: int
    """Of those, how many carry a possible-proxy flag in their evidence (proxy, VPN exit,
    anonymising or satellite network), as :func:`attribution_quality` counts them."""
    proxy_decided: int
    """Of those, how many were decided by possible-proxy evidence alone."""
    unattributed: int
    """Referrals of the period, of any country, that triage attributed to no country."""
    not_triaged: int
    """Referrals in the store, of any period, not attributed yet (triage has not run on
    them)."""

    @property
    def proxy_share(self) -> float | None:
        """The share of :attr:`attributed` with a possible-proxy flag (``None`` of none)."""
        return self.possible_proxy / self.attributed if self.attributed else None


def country_attribution_quality(
    store: Store, country: str, *, since: date | None = None, until: date | None = None
) -> CountryAttributionQuality:
    """The attribution quality of ``country``'s referrals (ISO alpha-2) whose incident falls
    from ``since`` to ``until`` (both days included; 1990 to next year when ``None``). Counted
    in the database, grouped, so a country with a million referrals costs a few grouped
    queries."""
    a, r = attributions.c, referrals.c
    band = case(
        *[(a.confidence >= floor, name) for name, floor in CONFIDENCE_BANDS[:-1]],
        else_=CONFIDENCE_BANDS[-1][0],
    ).label("band")
    proxy = case((_possible_proxy(), 1), else_=0).label("proxy")
    decided = case((a.evidence.like(f"%{PROXY_DECIDED}%"), 1), else_=0).label("decided")
    joined = attributions.join(referrals, r.report_id == a.report_id)
    period = _day_range(since, until)
    by_level: dict[str, int] = {}
    by_band = {name: 0 for name, _ in CONFIDENCE_BANDS}
    total = flagged = by_proxy = 0
    with store.read() as conn:
        rows = conn.execute(
            select(a.level, band, proxy, decided, func.count())
            .select_from(joined)
            .where(a.country == country, *period)
            .group_by(a.level, band, proxy, decided)
        ).all()
        unattributed = conn.execute(
            select(func.count()).select_from(joined).where(a.country.is_(None), *period)
        ).scalar_one()
        # Referrals are never deleted and triage attributes only stored ones, so the
        # difference of two counts is the referrals not attributed yet: a per-period anti-join
        # would read every referral of the period (seconds for a year of a busy store).
        not_triaged = conn.execute(
            select(
                select(func.count()).select_from(referrals).scalar_subquery()
                - select(func.count()).select_from(attributions).scalar_subquery()
            )
        ).scalar_one()
    for level, band_name, is_proxy, is_decided, count in rows:
        n = int(count)
        total += n
        key = level or "unknown"
        by_level[key] = by_level.get(key, 0) + n
        by_band[band_name] += n
        flagged += n if is_proxy else 0
        by_proxy += n if is_decided else 0
    order = {level: i for i, level in enumerate(LEVELS)}
    return CountryAttributionQuality(
        country=country,
        since=since,
        until=until,
        attributed=total,
        by_level=dict(sorted(by_level.items(), key=lambda kv: order.get(kv[0], len(order)))),
        by_confidence=by_band,
        possible_proxy=flagged,
        proxy_decided=by_proxy,
        unattributed=int(unattributed),
        not_triaged=int(not_triaged),
    )
