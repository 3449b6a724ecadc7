"""Analyses across countries: each country's surge, change, peak and lag from its own event,
and whether aligning countries on their own events explains the series better than one
common date (with a placebo check on shuffled dates)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from tipwatch.errors import InsufficientDataError
from tipwatch.trends.analysis import (
    ChangeResult,
    DailySeries,
    LagResult,
    PeakResult,
    SurgeResult,
    _adjusted,
    day_count,
    detect_change,
    lag_from_event,
    peak,
    surge_factor,
)
from tipwatch.trends.events import Event, event_name, first_events

__all__ = ["AlignmentResult", "CountryTrend", "alignment_test", "analyse_countries"]


@dataclass
class CountryTrend:
    country: str
    metric: str
    event: Event | None
    surge: SurgeResult | None = None
    change: ChangeResult | None = None
    peak: PeakResult | None = None
    lag_to_change: LagResult | None = None
    lag_to_peak: LagResult | None = None
    problems: tuple[str, ...] = ()

    def sentences(self) -> list[str]:
        out = []
        if self.surge is not None:
            out.append(self.surge.explain())
        if self.change is not None:
            out.append(self.change.explain())
        if self.lag_to_change is not None:
            out.append(self.lag_to_change.explain())
        if self.peak is not None:
            out.append(self.peak.explain())
        out.extend(self.problems)
        return out

    def as_dict(self) -> dict[str, Any]:
        def plain(obj: Any) -> Any:
            if obj is None:
                return None
            data = dict(obj.__dict__)
            return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}

        return {
            "country": self.country,
            "metric": self.metric,
            "event": None
            if self.event is None
            else {"kind": self.event.kind, "date": self.event.date.isoformat()},
            "surge": plain(self.surge),
            "change": plain(self.change),
            "peak": plain(self.peak),
            "lag_to_change": plain(self.lag_to_change),
            "lag_to_peak": plain(self.lag_to_peak),
            "problems": list(self.problems),
            "sentences": self.sentences(),
        }


def analyse_countries(
    series: Mapping[str, DailySeries],
    events: Sequence[Event],
    *,
    event_kind: str = "stay-at-home",
    window_days: int = 28,
    baseline_days: int = 56,
    window_start: date | None = None,
    baseline: str = "before",
    trend: bool = False,
) -> list[CountryTrend]:
    """For each country: the surge in the ``window_days`` from its own event (or from
    ``window_start`` for all), the change and its lag from the event, the peak.

    A country whose series cannot support an analysis gets the reason in ``problems``
    instead of a number."""
    first_event = first_events(events, event_kind)
    out = []
    for country, s in sorted(series.items()):
        event = first_event.get(country)
        result = CountryTrend(country, s.metric, event)
        problems: list[str] = []
        start = window_start or (event.date if event else None)
        if start is None:
            problems.append(
                f"{country}: no {event_kind} event and no window given: no surge factor"
            )
        else:
            available = s.index(start) - (364 if baseline == "year" else 0)
            days = baseline_days
            if 28 <= available < baseline_days:
                # An early event: use the shorter baseline there is, and say so.
                days = available
                problems.append(
                    f"{country}: only {available} days of data before {start}; the baseline "
                    f"is {available} days, not {baseline_days}"
                )
            try:
                result.surge = surge_factor(
                    s,
                    start,
                    window_days=window_days,
                    baseline_days=days,
                    baseline=baseline,
                    trend=trend,
                )
            except InsufficientDataError as exc:
                problems.append(str(exc))
        try:
            result.change = detect_change(s)
            if result.change is not None and event is not None:
                result.lag_to_change = lag_from_event(
                    event_name(event.kind), event.date, result.change
                )
        except InsufficientDataError as exc:
            problems.append(str(exc))
        try:
            result.peak = peak(s)
            if event is not None:
                result.lag_to_peak = lag_from_event(event_name(event.kind), event.date, result.peak)
        except InsufficientDataError as exc:
            problems.append(str(exc))
        result.problems = tuple(problems)
        out.append(result)
    return out


@dataclass(frozen=True)
class AlignmentResult:
    countries: int
    lag: int
    """The common lag (days from each country's event to its step) that fits best."""
    own_event_fit: float
    common_date_fit: float
    common_date: date
    improvement: float
    """How much better (in noise variances) the own-event alignment fits than a common date."""
    placebo_p: float
    """Share of shuffled-date alignments that fit at least as well as the real one."""
    placebos: int
    left_out: tuple[str, ...] = ()
    """Countries with the event left out: outside their data, or days missing."""

    @property
    def placebos_as_good(self) -> int:
        """How many shuffled-date alignments fit at least as well as the real one."""
        return round(self.placebo_p * (self.placebos + 1)) - 1

    def explain(self) -> str:
        better = "better" if self.improvement > 0 else "no better"
        return (
            f"Aligning each of {self.countries} countries on its own event fits the series "
            f"{better} than one common date ({self.common_date:%d %b %Y}), with the step "
            f"{day_count(self.lag)} after each event: the fit improves by "
            f"{self.improvement:,.0f} (a sum of squares in units of the noise variance), and "
            f"{self.placebos_as_good} of {self.placebos} placebos, the event dates shuffled "
            "among the countries, fit as well "
            f"(p = {self.placebo_p:.3f})"
            + (
                f"; left out (event outside the data, or days missing): {', '.join(self.left_out)}"
                if self.left_out
                else ""
            )
        )


def alignment_test(
    series: Mapping[str, DailySeries],
    events: Sequence[Event],
    *,
    event_kind: str = "stay-at-home",
    max_lag: int = 21,
    placebos: int = 200,
    seed: int = 0,
) -> AlignmentResult:
    """Does a step at each country's own event (plus one common lag) fit the countries'
    series better than a step at one common date? Placebo: the same with the event dates
    shuffled among the countries."""
    own = {c: e.date for c, e in first_events(events, event_kind).items() if c in series}
    # An event outside a country's data (or too near its ends for a step to be seen) says
    # nothing about alignment, and a series with missing days has no defined fit: both are
    # left out, and the test says so, rather than reading "no better" into them.
    edge = 7
    outside = sorted(
        c
        for c, day in own.items()
        if not series[c].start + timedelta(days=edge) <= day <= series[c].end - timedelta(days=edge)
    )
    incomplete = sorted(
        c for c in own if c not in outside and not np.all(np.isfinite(series[c].values))
    )
    countries = sorted(set(own) - set(outside) - set(incomplete))
    if len(countries) < 3:
        reasons = []
        if outside:
            reasons.append(
                f"{len(outside)} with the event outside their data ({', '.join(outside)})"
            )
        if incomplete:
            reasons.append(f"{len(incomplete)} with days missing ({', '.join(incomplete)})")
        raise InsufficientDataError(
            f"the alignment test needs at least 3 countries with a {event_kind} event within "
            f"their data and no day missing, found {len(countries)}"
            + (f" (left out: {'; '.join(reasons)})" if reasons else ""),
            hint="analyse dates that include the events, or import the missing days",
        )
    if len({own[c] for c in countries}) == 1:
        raise InsufficientDataError(
            f"the alignment test needs countries whose {event_kind} events fall on different "
            f"dates; all {len(countries)} are on {own[countries[0]]}"
        )
    # Per country (standardised, weekday-adjusted): cumulative sums, so that the error of a
    # two-level fit with the step at any day costs O(1).
    n_max = max(len(series[c]) for c in countries)
    csum = np.zeros((len(countries), n_max + 1))
    total_ss = np.zeros(len(countries))
    lengths = np.zeros(len(countries), dtype=np.int64)
    starts = np.zeros(len(countries), dtype=np.int64)
    for i, c in enumerate(countries):
        z = _adjusted(series[c])
        sigma = float(np.std(np.diff(z))) / np.sqrt(2) or 1.0
        z = (z - z.mean()) / sigma
        csum[i, 1 : len(z) + 1] = np.cumsum(z)
        total_ss[i] = float(z @ z)
        lengths[i] = len(z)
        starts[i] = series[c].start.toordinal()
    rows = np.arange(len(countries))

    def total(ordinals: np.ndarray, lag: int) -> float:
        k = np.clip(ordinals + lag - starts, 0, lengths)
        s_left = csum[rows, k]
        s_all = csum[rows, lengths]
        with np.errstate(divide="ignore", invalid="ignore"):
            explained = np.where(k > 0, s_left**2 / k, 0.0) + np.where(
                lengths - k > 0, (s_all - s_left) ** 2 / (lengths - k), 0.0
            )
        return float((total_ss - explained).sum())

    def best(ordinals: np.ndarray) -> tuple[float, int]:
        return min((total(ordinals, lag), lag) for lag in range(0, max_lag + 1))

    own_ordinals = np.array([own[c].toordinal() for c in countries], dtype=np.int64)
    own_fit, lag = best(own_ordinals)
    common = date.fromordinal(int(np.sort(own_ordinals)[len(own_ordinals) // 2]))
    common_fit, _ = best(np.full(len(countries), common.toordinal(), dtype=np.int64))
    rng = np.random.default_rng(seed)
    as_good = 0
    for _ in range(placebos):
        fit, _ = best(rng.permutation(own_ordinals))
        as_good += fit <= own_fit
    if not (math.isfinite(own_fit) and math.isfinite(common_fit)):
        raise InsufficientDataError(
            "the alignment test's fits are undefined for these series (no finite values)"
        )
    return AlignmentResult(
        countries=len(countries),
        lag=lag,
        own_event_fit=own_fit,
        common_date_fit=common_fit,
        common_date=common,
        improvement=common_fit - own_fit,
        placebo_p=(as_good + 1) / (placebos + 1),
        placebos=placebos,
        left_out=tuple(outside + incomplete),
    )
