"""Signals and trends services: feeds, the event calendar, series, analyses, alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor, authorise
from tipwatch.store import Store
from tipwatch.trends.events import OXCGRT_CREDIT as _OXCGRT_CREDIT

if TYPE_CHECKING:
    from tipwatch.formats.series_csv import ValueSeries
    from tipwatch.trends.alerts import Alert, QualityAlert, QualityEpisode, SurgeEpisode
    from tipwatch.trends.analysis import DailySeries
    from tipwatch.trends.changepoints import Change
    from tipwatch.trends.countries import AlignmentResult, CountryTrend
    from tipwatch.trends.events import Event
    from tipwatch.trends.signals import FeedImport

__all__ = [
    "OXCGRT_CREDIT",
    "AlertsResult",
    "TrendsResult",
    "add_event",
    "alerts",
    "changepoints",
    "import_events",
    "import_signals",
    "list_events",
    "list_signals",
    "series",
    "trends",
]


OXCGRT_CREDIT = _OXCGRT_CREDIT
"""The credit the shipped lockdown dates carry."""


def import_signals(store: Store, actor: Actor, path: Path, feed: str) -> FeedImport:
    from tipwatch.trends.signals import import_feed

    with unit(store, actor, "signal.import", object_type="feed", object_ids=[str(path)]) as work:
        result = import_feed(store, path, feed)
        work.detail = (
            f"{feed}: {result.values_stored} values stored, {len(result.problems)} rows refused"
        )
    return result


def list_signals(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.trends.signals import list_signals as _list

    with unit(store, actor, "signal.read", object_type="signal", writes=False):
        return _list(store)


def _check_span(since: date | None, until: date | None) -> None:
    """Refuse a start or end outside the dates any feed may carry (1990 to the end of next
    year): a start such as 0476-05-28 would make every daily series 570,000 days long."""
    from tipwatch.errors import InputError
    from tipwatch.formats.feeds import EARLIEST_DATE, latest_date

    latest = latest_date()
    for name, day in (("start", since), ("end", until)):
        if day is not None and not EARLIEST_DATE <= day <= latest:
            raise InputError(
                f"the {name} date {day} lies outside {EARLIEST_DATE} to {latest}",
                hint="choose a start and an end within that range",
            )


def series(
    store: Store,
    actor: Actor,
    metric: str,
    *,
    countries: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    attributed_only: bool = False,
) -> dict[str, DailySeries]:
    """Daily series of ``metric`` per country, ``since`` and ``until`` inclusive."""
    from tipwatch.trends.signals import series_of

    _check_span(since, until)

    with unit(store, actor, "signal.read", object_type="signal", object_ids=[metric], writes=False):
        return series_of(
            store,
            metric,
            countries=countries,
            start=since,
            end=until,
            attributed_only=attributed_only,
        )


def list_events(
    store: Store, actor: Actor, *, country: str | None = None, kind: str | None = None
) -> list[Event]:
    from tipwatch.trends.events import list_events as _list

    with unit(store, actor, "event.read", object_type="event", writes=False):
        return _list(store, country=country, kind=kind)


def add_event(
    store: Store, actor: Actor, country: str, day: date, kind: str, label: str = ""
) -> Event:
    from tipwatch.trends.events import add_event as _add

    with unit(store, actor, "event.write", object_type="event") as work:
        event = _add(store, country, day, kind, label)
        work.object_ids = [f"{event.country}:{event.kind}:{event.date.isoformat()}"]
    return event


def import_events(store: Store, actor: Actor, path: Path) -> tuple[int, list[str]]:
    from tipwatch.trends.events import import_events as _import

    with unit(store, actor, "event.write", object_type="event", object_ids=[str(path)]) as work:
        stored, problems = _import(store, path)
        work.detail = f"{stored} stored, {len(problems)} rows refused"
    return stored, problems


@dataclass
class TrendsResult:
    """Each country's analysis from its own event, and the alignment test across them."""

    metric: str
    countries: list[CountryTrend] = field(default_factory=list)
    alignment: AlignmentResult | None = None
    alignment_problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "countries": [r.as_dict() for r in self.countries],
            "alignment": None if self.alignment is None else dict(vars(self.alignment)),
            "alignment_problem": self.alignment_problem,
        }


def trends(
    store: Store,
    actor: Actor,
    *,
    metric: str = "referrals",
    country: str | None = None,
    event: str = "stay-at-home",
    window_start: date | None = None,
    window_days: int = 28,
    baseline_days: int = 56,
    baseline: str = "before",
    trend: bool = False,
    since: date | None = None,
    until: date | None = None,
    align: bool = True,
) -> TrendsResult:
    """Surge factor, change, peak and lag from each country's own event."""
    from tipwatch.errors import InputError, InsufficientDataError
    from tipwatch.trends.countries import alignment_test, analyse_countries
    from tipwatch.trends.events import list_events as _events
    from tipwatch.trends.signals import series_of

    if baseline not in ("before", "year"):
        raise InputError(f"the baseline is before or year, not {baseline!r}")
    _check_span(since, until)
    with unit(store, actor, "trends.read", object_type="signal", object_ids=[metric], writes=False):
        data = series_of(
            store,
            metric,
            countries=[country] if country else None,
            start=since,
            end=until,
            attributed_only=True,
        )
        calendar = _events(store)
    result = TrendsResult(metric)
    result.countries = analyse_countries(
        data,
        calendar,
        event_kind=event,
        window_days=window_days,
        baseline_days=baseline_days,
        window_start=window_start,
        baseline=baseline,
        trend=trend,
    )
    if align and len(data) >= 3:
        try:
            result.alignment = alignment_test(data, calendar, event_kind=event)
        except InsufficientDataError as exc:
            result.alignment_problem = str(exc)
    return result


@dataclass
class AlertsResult:
    """Surge alerts and, apart, data-quality alerts, each day and merged into episodes."""

    surge: list[SurgeEpisode]
    data_quality: list[QualityEpisode]
    surge_days: list[Alert] = field(default_factory=list)
    data_quality_days: list[QualityAlert] = field(default_factory=list)


def alerts(
    store: Store,
    actor: Actor,
    *,
    metric: str = "referrals",
    countries: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    quality: bool = True,
) -> AlertsResult:
    """Surge alerts (false-discovery controlled) and, apart, data-quality alerts, from
    ``since`` to ``until`` (inclusive) for ``countries`` (default: all).

    The false-discovery control runs across every country of the metric, so that a country's
    alerts do not depend on which countries were asked for; an outage of a reporting service
    (country ``all``) is kept whichever countries were asked for."""
    from tipwatch.countries import require_country
    from tipwatch.errors import InputError
    from tipwatch.trends.alerts import (
        quality_alerts,
        quality_episodes,
        surge_alerts,
        surge_episodes,
    )
    from tipwatch.trends.signals import series_of

    _check_span(since, until)
    if since is not None and until is not None and since > until:
        raise InputError(
            f"the alerts' start ({since}) is after their end ({until})",
            hint="give a start on or before the end",
        )
    wanted = None if not countries else {require_country(c, "country") for c in countries}

    def chosen(country: str, day: date) -> bool:
        return (
            (wanted is None or country in wanted or country == "all")
            and (since is None or day >= since)
            and (until is None or day <= until)
        )

    with unit(store, actor, "trends.read", object_type="signal", object_ids=[metric], writes=False):
        data = series_of(store, metric, attributed_only=True)
        found = [a for a in surge_alerts(data, start=since, end=until) if chosen(a.country, a.day)]
        quality_found = (
            [
                a
                for a in quality_alerts(store if metric == "referrals" else None, data)
                if chosen(a.country, a.day)
            ]
            if quality
            else []
        )
    return AlertsResult(
        surge_episodes(found), quality_episodes(quality_found), found, quality_found
    )


def changepoints(
    actor: Actor,
    path: Path,
    *,
    column: str | None = None,
    penalty: float = 3.0,
    min_size: int = 5,
) -> tuple[ValueSeries, list[Change]]:
    """Changes of level in a numeric series read from a CSV file (no store involved).

    Counts (whole numbers, none negative) are analysed on the square-root scale, so that busy
    and quiet stretches weigh alike, and a positive series whose noise grows with its level on
    a log scale (``choose_transform``); the levels before and after each change are given back
    on the scale of the data."""
    import dataclasses
    import math

    import numpy as np

    from tipwatch.formats.series_csv import read_value_series
    from tipwatch.trends.changepoints import choose_transform, detect_changes

    authorise(actor, "trends.read")
    data = read_value_series(path, column)
    values = np.asarray(data.values, dtype=np.float64)
    transform = choose_transform(values) if len(values) else "none"
    changes, _ = detect_changes(values, penalty=penalty, min_size=min_size, transform=transform)
    if transform == "none":
        return data, list(changes)

    def level(value: float) -> float:
        if transform == "log":
            return math.exp(value)
        # The inverse of sqrt(y + 3/8), the transform counts are analysed on.
        return max(value * value - 3.0 / 8.0, 0.0)

    return data, [
        dataclasses.replace(c, before=level(c.before), after=level(c.after)) for c in changes
    ]
