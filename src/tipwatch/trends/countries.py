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
from tipwatch.trends.events import Event, choose_events, event_name

__all__ = [
    "MIN_EXPECTED_TO_RANK",
    "AlignmentResult",
    "CountryTrend",
    "RankedRise",
    "alignment_test",
    "analyse_countries",
    "gap_notes",
    "rank_rises",
]


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
    notes: tuple[str, ...] = ()
    """What the numbers rest on that a reader should know: an event of another kind used, days
    without data (and which windows they fall in)."""
    requested_event: str = ""
    """The event kind asked for (``event`` may be another, see ``notes``)."""

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
        out.extend(self.notes)
        out.extend(self.problems)
        return out

    def as_dict(self) -> dict[str, Any]:
        def value(v: Any) -> Any:
            if isinstance(v, date):
                return v.isoformat()
            if isinstance(v, tuple):
                return [value(x) for x in v]
            return v

        def plain(obj: Any) -> Any:
            if obj is None:
                return None
            return {k: value(v) for k, v in dict(obj.__dict__).items()}

        return {
            "country": self.country,
            "metric": self.metric,
            "event": None
            if self.event is None
            else {
                "kind": self.event.kind,
                "date": self.event.date.isoformat(),
                "requested": self.requested_event or self.event.kind,
            },
            "surge": plain(self.surge),
            "change": plain(self.change),
            "peak": plain(self.peak),
            "lag_to_change": plain(self.lag_to_change),
            "lag_to_peak": plain(self.lag_to_peak),
            "problems": list(self.problems),
            "notes": list(self.notes),
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
    ``window_start`` for all), the change (a rise or a fall) and its lag from the event, the
    peak.

    A country without an event of ``event_kind`` counts from the next kind it has in the
    documented order (:data:`~tipwatch.trends.events.EVENT_FALLBACKS`), and its ``notes`` say
    so. Days without data are left out of every analysis (never read as zero), and the
    ``notes`` say which windows they fall in. A country whose series cannot support an
    analysis gets the reason in ``problems`` instead of a number."""
    chosen = choose_events(events, event_kind)
    out = []
    for country, s in sorted(series.items()):
        pick = chosen.get(country)
        event = pick.event if pick else None
        result = CountryTrend(country, s.metric, event, requested_event=event_kind)
        problems: list[str] = []
        notes: list[str] = []
        if pick is not None and (note := pick.note()) is not None:
            notes.append(note)
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
        notes.extend(gap_notes(s, result.surge))
        result.problems = tuple(problems)
        result.notes = tuple(notes)
        out.append(result)
    return out


def gap_notes(series: DailySeries, surge: SurgeResult | None = None, most: int = 5) -> list[str]:
    """One sentence per stretch of days without data (at most ``most``, then a count): that it
    is left out, and which of the surge factor's windows it falls in."""
    missing = ~np.isfinite(series.values)
    if not missing.any():
        return []
    edges = np.flatnonzero(np.diff(np.r_[0, missing.astype(np.int8), 0]))
    runs = list(zip(edges[::2].tolist(), (edges[1::2] - 1).tolist(), strict=True))
    out = []
    for first, last in runs[:most]:
        start, end = series.day(first), series.day(last)
        span = f"{start:%d %b %Y}" if first == last else f"{start:%d %b %Y} to {end:%d %b %Y}"
        where = []
        if surge is not None:
            if start <= surge.baseline_end and end >= surge.baseline_start:
                where.append("the surge factor's baseline")
            if start <= surge.window_end and end >= surge.window_start:
                where.append("the surge factor's window")
        out.append(
            f"{series.label()}: no data on {day_count(last - first + 1)} ({span}), left out "
            "of every analysis, never read as zero"
            + (f"; they fall in {' and '.join(where)}" if where else "")
        )
    if len(runs) > most:
        out.append(f"{series.label()}: {len(runs) - most} more stretches without data")
    return out


MIN_EXPECTED_TO_RANK = 100.0
"""Counts a country's baseline must expect in the window before its rise is ranked."""


@dataclass(frozen=True)
class RankedRise:
    """A country's surge factor as a ranking of rises uses it: shrunk towards the countries'
    common level by its own uncertainty."""

    country: str
    factor: float
    low: float
    high: float
    """The shrunk factor and its 95% interval."""
    measured: SurgeResult


def rank_rises(
    trends: Sequence[CountryTrend], *, min_expected: float = MIN_EXPECTED_TO_RANK
) -> tuple[list[RankedRise], list[str]]:
    """The countries whose surge factor is clearly above 1, clearest first, and the countries
    left out of the ranking for too little evidence.

    A factor measured on a handful of referrals is mostly noise, and the noisiest factors are
    the extremes. Two rules keep them from leading: a country is ranked only when its baseline
    expects at least ``min_expected`` counts in the window (100: about 3.6 a day over four
    weeks); and each log factor is shrunk towards the countries' common level (random-effects
    meta-analysis: the between-country variance by the DerSimonian-Laird moments), the more the
    wider its interval. Countries are ranked by the lower end of the shrunk 95% interval, and
    only those whose lower end is above 1 are listed."""
    measured = [(t.country, t.surge) for t in trends if t.surge is not None]
    too_few = sorted(c for c, s in measured if s.expected < min_expected)
    usable = [(c, s) for c, s in measured if s.expected >= min_expected and s.low > 0]
    if not usable:
        return [], too_few
    b = np.array([math.log(s.factor) for _, s in usable])
    se = np.array([(math.log(s.high) - math.log(s.low)) / (2 * 1.959964) for _, s in usable])
    var = np.maximum(se**2, 1e-12)
    w = 1 / var
    mean_fixed = float((w * b).sum() / w.sum())
    q = float((w * (b - mean_fixed) ** 2).sum())
    c = float(w.sum() - (w**2).sum() / w.sum())
    tau2 = max(0.0, (q - (len(b) - 1)) / c) if c > 0 else 0.0
    if tau2 == 0.0:
        # no spread between the countries beyond their noise: each is the common level
        post_mean = np.full_like(b, mean_fixed)
        post_var = np.full_like(b, 1 / float(w.sum()))
    else:
        w_star = 1 / (var + tau2)
        common = float((w_star * b).sum() / w_star.sum())
        post_var = 1 / (1 / var + 1 / tau2)
        post_mean = post_var * (b / var + common / tau2)
    ranked = [
        RankedRise(
            country,
            math.exp(float(m)),
            math.exp(float(m) - 1.959964 * math.sqrt(float(v))),
            math.exp(float(m) + 1.959964 * math.sqrt(float(v))),
            surge,
        )
        for (country, surge), m, v in zip(usable, post_mean, post_var, strict=True)
    ]
    ranked = [r for r in ranked if r.low > 1.0]
    ranked.sort(key=lambda r: -r.low)
    return ranked, too_few


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
    own = {c: e.event.date for c, e in choose_events(events, event_kind).items() if c in series}
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
