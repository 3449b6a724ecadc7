"""Building the assessment: the analyses of a period, the findings in words, the key figures,
one section per signal in the store, the charts with the tables of their numbers, the caveats
and the provenance. Rendering to HTML and PDF is in ``render``.

Every finding keeps the numbers it cites (``Finding.numbers``), so that a reader (and a test)
can trace each sentence to its figures. A section is built only from the series the store
holds for the period: a signal without data leaves its section out rather than show it empty.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from tipwatch import __version__
from tipwatch.countries import country_name
from tipwatch.errors import InputError, InsufficientDataError
from tipwatch.forums.emerging import EmergingSettings
from tipwatch.forums.run import PeriodTerm, emerging_in_period
from tipwatch.models import IncidentType
from tipwatch.report.model import Chart, Table
from tipwatch.report.periods import Period, RatioEstimate, confidence_of, ratio_estimate
from tipwatch.store import Store
from tipwatch.store.signals import signal_dimensions, signal_summary
from tipwatch.trends.alerts import quality_alerts, surge_alerts
from tipwatch.trends.analysis import DailySeries, day_span, detect_change, peak, surge_factor
from tipwatch.trends.countries import (
    MIN_EXPECTED_TO_RANK,
    AlignmentResult,
    CountryTrend,
    alignment_test,
    analyse_countries,
    rank_rises,
)
from tipwatch.trends.events import OXCGRT_CREDIT, choose_events, event_name, list_events
from tipwatch.trends.signals import (
    referral_breakdown,
    referral_classes,
    referral_series,
    signal_series,
)
from tipwatch.triage.counts import attribution_quality

__all__ = [
    "BLOCKED_METRICS",
    "EU27",
    "REGIONS",
    "Assessment",
    "Chart",
    "Finding",
    "KeyFigure",
    "Section",
    "Table",
    "TitlePage",
    "build_assessment",
    "countries_of",
]

EU27 = ("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE").split()


REGIONS = {"EU27": EU27}
"""Named groups of countries for ``--region``."""

BLOCKED_METRICS = {
    "blocked_requests": "matched requests",
    "blocked_attempts": "attempts",
    "blocked_pairs": "distinct client-entry pairs",
    "blocked_clients": "distinct clients",
}
"""The four counts of blocked access, as the URL-list accounting defines them."""

LIST_SIZE_METRIC = "blocked_list_size"
HELPLINE_METRIC = "helpline_contacts"
FORUM_METRIC = "forum_posts"
FORUM_ALL_METRIC = "forum_posts_all"
"""Every forum post once (``forum_posts`` counts a post under each theme it matched)."""

ANNOTATIONS = {
    "annotation:liveStreaming": "webcam or live streaming",
    "annotation:possibleSelfProduction": "possible self-production",
    "report_annotation:minorToMinorInteraction": "minor-to-minor interaction",
    "report_annotation:sextortion": "sextortion",
}
"""Annotations whose share of referrals the assessment follows (metric -> words)."""

MATERIAL = {
    "material:known-only": "known material only",
    "material:new-only": "new material only",
    "material:both": "both known and new material",
}
"""Exclusive classes of referrals by the files they carry: they never add up past 100%."""


def countries_of(countries: str | None, region: str | None) -> list[str] | None:
    """The countries an assessment covers: a comma-separated list, else a region's, else all
    (``None``)."""
    if countries:
        return [c.strip().upper() for c in countries.split(",") if c.strip()]
    if region:
        try:
            return list(REGIONS[region.upper()])
        except KeyError:
            known = ", ".join(REGIONS)
            raise InputError(
                f"unknown region {region!r}", hint=f"name one of these regions: {known}"
            ) from None
    return None


@dataclass(frozen=True)
class Finding:
    text: str
    weight: float
    """Larger comes first."""
    numbers: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    """Stable within an assessment of the same period: what an analyst's decision names."""
    section: str = ""
    """The id of the section the finding belongs to."""
    confidence: str = ""
    """``high``, ``moderate`` or ``low`` (see the method); empty for a plain count."""
    headline: str = ""
    """The finding's main number as its text writes it: an analyst's edit must keep it."""


@dataclass
class Section:
    id: str
    title: str
    level: int = 2
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    chart_title: str = ""
    """A title stating the section's main finding, for its chart."""


@dataclass(frozen=True)
class KeyFigure:
    label: str
    current: float
    per_day: float
    previous: RatioEstimate | None
    year_earlier: RatioEstimate | None
    baseline: RatioEstimate | None


@dataclass(frozen=True)
class TitlePage:
    title: str
    period: str
    span: str
    scope: str
    author: str
    made_on: date
    marking: str


@dataclass
class Assessment:
    start: date
    end: date
    metric: str
    event_kind: str
    countries: list[str]
    trends: list[CountryTrend]
    overall: CountryTrend | None
    alignment: AlignmentResult | None
    findings: list[Finding]
    table: list[dict[str, Any]]
    charts: dict[str, Chart]
    caveats: list[str]
    provenance: dict[str, Any]
    quality: list[Any]
    title_page: TitlePage
    key_figures: list[KeyFigure] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    events_in_period: dict[str, date] = field(default_factory=dict)
    """Each country's own event, where it falls in the period with room for its analyses."""

    @property
    def period(self) -> Period:
        return Period(self.start, self.end)

    @property
    def summary(self) -> list[Finding]:
        """The executive summary: the five most important findings."""
        return self.findings[:5]


def _fmt_factor(x: float) -> str:
    return f"{x:.1f}"


def _ratio_words(r: RatioEstimate) -> str:
    return f"{r.ratio:.2f} times (95% CI {r.low:.2f}-{r.high:.2f}; {r.confidence} confidence)"


def _change(r: RatioEstimate | None) -> str:
    if r is None:
        return ""
    return f"{r.change:+.0%} ({r.low - 1:+.0%} to {r.high - 1:+.0%})"


def _window_alerts(
    alerts: Sequence[Any], country: str, start: date | None, days: int
) -> str | None:
    if start is None:
        return None
    end = start + timedelta(days=days)
    levels = {a.level for a in alerts if a.country == country and start <= a.day < end}
    return "red" if "red" in levels else "yellow" if "yellow" in levels else None


def _names(codes: Sequence[str]) -> str:
    return ", ".join(country_name(c) for c in codes)


# -- the data of the period and of its comparisons ---------------------------------------------


@dataclass
class _Data:
    """The store over the assessed period, the period before, the same period a year earlier
    and the baseline, each series read once however many sections use it."""

    store: Store
    period: Period
    wanted: list[str] | None
    first: date
    """The first day read (the earliest comparison period's)."""
    covered_from: date | None = None
    """The first day with any referral in the store (comparisons before it are unknown)."""
    _totals: dict[str, DailySeries | None] = field(default_factory=dict)
    _signals: dict[tuple[str, str], dict[str, DailySeries]] = field(default_factory=dict)
    _classes: dict[str, DailySeries] | None = None
    emerging: list[tuple[str, str, int, int]] = field(default_factory=list)
    """The emerging terms of the forum section (week, term, posts, posts before), for the
    inputs' fingerprint."""

    def total(self, metric: str, *, collapse_viral: bool = True) -> DailySeries | None:
        """The daily sum over the attributed countries of a referral metric, or ``None``."""
        if not collapse_viral:
            if self._classes is None:
                self._classes = referral_classes(
                    self.store,
                    start=self.first,
                    end=self.period.end,
                    countries=self.wanted,
                    annotations=[
                        m.partition(":")[2] for m in ANNOTATIONS if m.startswith("annotation:")
                    ],
                )
            return self._classes.get(metric)
        key = f"{metric}|{collapse_viral}"
        if key not in self._totals:
            self._totals[key] = self._read_total(metric, collapse_viral)
        return self._totals[key]

    def _read_total(self, metric: str, collapse_viral: bool) -> DailySeries | None:
        try:
            found = referral_series(
                self.store,
                metric,
                countries=self.wanted,
                start=self.first,
                end=self.period.end,
                collapse_viral=collapse_viral,
            )
        except InputError:
            return None
        found.pop("unknown", None)
        if not found:
            return None
        values = np.nansum(np.vstack([s.values for s in found.values()]), axis=0)
        return DailySeries(self.first, values, "", metric)

    def signal(self, metric: str, where: dict[str, str] | None = None) -> dict[str, DailySeries]:
        """Daily series of an imported metric by country over the whole read span (empty
        when the store holds none, or holds only weekly or monthly values)."""
        key = (metric, json.dumps(where or {}, sort_keys=True))
        if key not in self._signals:
            try:
                self._signals[key] = signal_series(
                    self.store,
                    metric,
                    countries=self.wanted,
                    where=where,
                    start=self.first,
                    end=self.period.end,
                )
            except InputError:
                self._signals[key] = {}
        return self._signals[key]

    def covered(self, p: Period) -> bool:
        return self.covered_from is not None and p.start >= self.covered_from

    def window(self, s: DailySeries, p: Period) -> np.ndarray | None:
        """The values of ``s`` over ``p``; ``None`` when ``p`` is not within ``s``."""
        i, j = s.index(p.start), s.index(p.end)
        if i < 0 or j >= len(s):
            return None
        return s.values[i : j + 1]

    def compare(self, s: DailySeries, p: Period, *, referrals: bool = True) -> RatioEstimate | None:
        """The assessed period against ``p`` for the series ``s`` (``None`` when either is
        not in the data: referrals before the store's first one count as unknown)."""
        if referrals and not self.covered(p):
            return None
        now, then = self.window(s, self.period), self.window(s, p)
        if now is None or then is None:
            return None
        return ratio_estimate(now, then)


def _sum_series(found: dict[str, DailySeries], start: date) -> DailySeries | None:
    if not found:
        return None
    stack = np.vstack([s.values for s in found.values()])
    # A day that no country reported stays unknown; otherwise the reported ones are summed.
    values = np.where(np.all(np.isnan(stack), axis=0), np.nan, np.nansum(stack, axis=0))
    return DailySeries(start, values, "", "")


def _slice(s: DailySeries, p: Period) -> DailySeries:
    i = s.index(p.start)
    return DailySeries(p.start, s.values[i : i + p.days], s.country, s.metric)


# -- the assessment ----------------------------------------------------------------------------


def build_assessment(
    store: Store,
    *,
    start: date,
    end: date,
    countries: Sequence[str] | None = None,
    event_kind: str = "stay-at-home",
    metric: str = "referrals",
    window_days: int = 28,
    baseline_days: int = 56,
    title: str | None = None,
    author: str = "",
    marking: str = "TLP:AMBER",
) -> Assessment:
    """Analyse ``metric`` for ``countries`` (default: every attributed country) from
    ``start`` to ``end`` and put the results in words, tables and charts."""
    if end <= start:
        raise InputError(
            f"the assessment's end ({end}) is not after its start ({start})",
            hint="give an end date after the start date",
        )
    period = Period(start, end)
    wanted = [c.upper() for c in countries] if countries else None
    previous, year_earlier = period.previous(), period.year_earlier()
    baseline_start = start - timedelta(days=baseline_days)
    first = min(previous.start, year_earlier.start, baseline_start)
    long_series = referral_series(store, metric, countries=wanted, start=first, end=end)
    long_series.pop("unknown", None)
    series = {c: _slice(s, period) for c, s in long_series.items()}
    series = {c: s for c, s in series.items() if np.nansum(s.values) > 0 or wanted}
    long_series = {c: s for c, s in long_series.items() if c in series}
    if not series:
        raise InsufficientDataError(
            f"no {metric} attributed to a country between {start} and {end}: ingest referrals "
            "and run `tipwatch triage` first"
        )
    requested = period
    total_long = _sum_series(long_series, first)
    covered_from = None
    if total_long is not None:
        seen = np.flatnonzero(np.nan_to_num(total_long.values) > 0)
        if len(seen):
            covered_from = total_long.day(int(seen[0]))
            last = total_long.day(int(seen[-1]))
            if last < end and last > start:
                # The store's referrals stop before the period does: the days after them
                # are unknown, not zero, so the analyses end with the data.
                end = last
                period = Period(start, end)
                series = {c: _slice(s, period) for c, s in series.items()}
                long_series = {
                    c: DailySeries(s.start, s.values[: s.index(end) + 1], s.country, s.metric)
                    for c, s in long_series.items()
                }
    data = _Data(store, period, wanted, first)
    data.covered_from = covered_from
    calendar = list_events(store)
    own_events = {
        c: e.event.date for c, e in choose_events(calendar, event_kind).items() if c in series
    }
    # An event counts for the period when its baseline and its window both fall inside it:
    # otherwise a surge, a lag or an alignment measured from it would be undefined.
    in_period = {
        c: d
        for c, d in own_events.items()
        if start + timedelta(days=28) <= d <= end - timedelta(days=window_days - 1)
    }
    trends = analyse_countries(
        series,
        [e for e in calendar if e.country in in_period or e.kind != event_kind],
        event_kind=event_kind,
        window_days=window_days,
        baseline_days=baseline_days,
    )
    alignment = None
    if len(in_period) >= 3:
        try:
            alignment = alignment_test(
                {c: series[c] for c in in_period},
                [e for e in calendar if e.country in in_period],
                event_kind=event_kind,
            )
        except InsufficientDataError:
            alignment = None
    overall = _overall(series, in_period, window_days, baseline_days, metric)
    alerts = surge_alerts(series)
    quality = quality_alerts(store if metric == "referrals" else None, series)
    findings: list[Finding] = []
    findings.extend(_surge_findings(trends, overall, alignment, event_kind, metric, in_period))
    sections: list[Section] = []
    charts: dict[str, Chart] = {}
    key_figures: list[KeyFigure] = []
    baseline = _baseline_period(period, in_period, baseline_days)
    _referral_sections(
        data,
        long_series,
        series,
        trends,
        in_period,
        baseline,
        metric,
        event_kind,
        sections,
        charts,
        findings,
        key_figures,
    )
    _blocked_section(data, baseline, sections, charts, findings, key_figures)
    _helpline_section(data, baseline, sections, charts, findings, key_figures)
    _forum_section(data, baseline, sections, charts, findings, key_figures)
    table = _table(trends, alerts, quality, window_days)
    if in_period:
        sections.append(
            _timing_section(trends, table, in_period, alignment, event_kind, series, charts)
        )
    findings.sort(key=lambda f: -f.weight)
    caveats = _caveats(data, quality, sections)
    provenance = _provenance(
        long_series, calendar, start, end, metric, event_kind, window_days, baseline_days, data
    )
    scope = _scope(sorted(series), sections)
    cut = f" (the store's referrals end on {end:%d %B %Y})" if requested.end != end else ""
    if cut:
        caveats.insert(
            0,
            f"The period asked for runs to {requested.end:%d %B %Y}, but the store holds "
            f"referrals only to {end:%d %B %Y}: the assessment covers {period.span}, and "
            "compares those days with the same days of the comparison periods.",
        )
    page = TitlePage(
        title=title or f"Threat assessment: online child sexual exploitation, {requested.label}",
        period=requested.label + cut,
        span=period.span,
        scope=scope,
        author=author,
        made_on=datetime.now(UTC).date(),
        marking=marking,
    )
    return Assessment(
        start=start,
        end=end,
        metric=metric,
        event_kind=event_kind,
        countries=sorted(series),
        trends=trends,
        overall=overall,
        alignment=alignment,
        findings=findings,
        table=table,
        charts=charts,
        caveats=caveats,
        provenance=provenance,
        quality=quality,
        title_page=page,
        key_figures=key_figures,
        sections=sections,
        events_in_period=in_period,
    )


def _scope(countries: list[str], sections: list[Section]) -> str:
    by_name = sorted(countries, key=country_name)
    shown = _names(by_name) if len(countries) <= 12 else f"{len(countries)} countries"
    signals = [s.title.lower() for s in sections if s.level == 2 and s.id != "timing"]
    return f"{shown}; signals: {', '.join(signals)}."


def _baseline_period(period: Period, in_period: dict[str, date], baseline_days: int) -> Period:
    """The baseline of the key figures: the weeks before the median event of the period
    when it holds events, else the weeks before the period."""
    if in_period:
        ordinals = sorted(d.toordinal() for d in in_period.values())
        pivot = date.fromordinal(ordinals[len(ordinals) // 2])
    else:
        pivot = period.start
    return Period(pivot - timedelta(days=baseline_days), pivot - timedelta(days=1))


def _overall(
    series: dict[str, DailySeries],
    own_events: dict[str, date],
    window_days: int,
    baseline_days: int,
    metric: str,
) -> CountryTrend | None:
    first = next(iter(series.values()))
    total = np.nansum(np.vstack([s.values for s in series.values()]), axis=0)
    combined = DailySeries(first.start, total, "", f"{metric} across the {len(series)} countries")
    result = CountryTrend("all", combined.metric, None)
    problems = []
    if own_events:
        ordinals = sorted(d.toordinal() for d in own_events.values())
        median_event = date.fromordinal(ordinals[len(ordinals) // 2])
        try:
            result.surge = surge_factor(
                combined, median_event, window_days=window_days, baseline_days=baseline_days
            )
        except InsufficientDataError as exc:
            problems.append(str(exc))
    try:
        result.change = detect_change(combined)
    except InsufficientDataError as exc:
        problems.append(str(exc))
    try:
        result.peak = peak(combined)
    except InsufficientDataError as exc:
        problems.append(str(exc))
    result.problems = tuple(problems)
    return result


def _surge_findings(
    trends: list[CountryTrend],
    overall: CountryTrend | None,
    alignment: AlignmentResult | None,
    event_kind: str,
    metric: str,
    own_events: dict[str, date],
) -> list[Finding]:
    """Findings measured from each country's own event: only for events in the period."""
    out: list[Finding] = []
    if not own_events:
        return out
    if overall is not None and overall.surge is not None:
        s = overall.surge
        text = (
            f"Across the {len(trends)} countries, {metric} ran at {_fmt_factor(s.factor)}x "
            f"their baseline (95% CI {_fmt_factor(s.low)}-{_fmt_factor(s.high)}; "
            f"{confidence_of(s.low, s.high)} confidence) in the "
            f"{(s.window_end - s.window_start).days + 1} days from {s.window_start:%d %B %Y} "
            f"(the median date of the {event_name(event_kind)}s)"
        )
        numbers: dict[str, Any] = {
            "factor": s.factor,
            "low": s.low,
            "high": s.high,
            "window_start": s.window_start,
        }
        if overall.peak is not None:
            p = overall.peak
            text += (
                f"; the total peaked on {p.date:%d %B}"
                + (f" {p.date:%Y}" if p.low.year != p.high.year else "")
                + f" (95% interval {day_span(p.low, p.high, p.date)})"
            )
            numbers.update(peak=p.date, peak_low=p.low, peak_high=p.high)
        out.append(
            Finding(
                text + ".",
                100.0,
                numbers,
                id="surge-overall",
                section="timing",
                confidence=confidence_of(s.low, s.high),
                headline=_fmt_factor(s.factor),
            )
        )
    surged = [t for t in trends if t.surge is not None]
    # A country with a handful of referrals can show 7x on noise: it is not ranked, and each
    # factor is shrunk towards the countries' common level by its uncertainty first.
    ranked, too_few = rank_rises(trends)
    if ranked:
        top = ranked[:3]
        parts = [
            f"{country_name(r.country)} {_fmt_factor(r.measured.factor)}x (95% CI "
            f"{_fmt_factor(r.measured.low)}-{_fmt_factor(r.measured.high)}; shrunk "
            f"{_fmt_factor(r.factor)}x, {_fmt_factor(r.low)}-{_fmt_factor(r.high)})"
            for r in top
        ]
        lows = [r.measured.low for r in top]
        highs = [r.measured.high for r in top]
        conf = confidence_of(min(lows), max(highs))
        out.append(
            Finding(
                "Clearest rises above baseline in the four weeks from each country's own "
                f"{event_name(event_kind)} (each factor shrunk towards the countries' common "
                "level by its uncertainty, ranked by the lower end of the shrunk 95% interval"
                + (
                    f"; not ranked, fewer than {MIN_EXPECTED_TO_RANK:.0f} {metric} expected in "
                    f"the window: {', '.join(too_few)}"
                    if too_few
                    else ""
                )
                + "): "
                + ", ".join(parts)
                + f" ({conf} confidence).",
                90.0,
                {
                    "countries": [r.country for r in top],
                    "factors": [r.measured.factor for r in top],
                    "lows": lows,
                    "highs": highs,
                    "shrunk_factors": [r.factor for r in top],
                    "shrunk_lows": [r.low for r in top],
                    "not_ranked": too_few,
                },
                id="surge-countries",
                section="timing",
                confidence=conf,
                headline=_fmt_factor(top[0].measured.factor),
            )
        )
    lagged = [t for t in trends if t.lag_to_change is not None and t.country in own_events]
    after = [t for t in lagged if t.lag_to_change and 0 <= t.lag_to_change.days <= 21]
    if lagged:
        lags = sorted(t.lag_to_change.days for t in after if t.lag_to_change)
        if lags:
            median = lags[len(lags) // 2]
            # How far the countries agree: most of them within three weeks of their own
            # measures is a pattern, a few of them is not.
            agree = len(after) / len(lagged)
            conf = "high" if agree >= 0.75 else "moderate" if agree >= 0.5 else "low"
            text = (
                f"In {len(after)} of the {len(lagged)} countries with a change and a "
                f"{event_name(event_kind)}, the rise began 0 to 21 days after their own "
                f"{event_name(event_kind)}: a median of {median} days (range {lags[0]} to "
                f"{lags[-1]} days; {conf} confidence, from how many countries agree)."
            )
            out.append(
                Finding(
                    text,
                    80.0,
                    {
                        "after": len(after),
                        "of": len(lagged),
                        "median_lag": median,
                        "min_lag": lags[0],
                        "max_lag": lags[-1],
                    },
                    id="timing-lags",
                    section="timing",
                    headline=str(median),
                    confidence=conf,
                )
            )
    if alignment is not None:
        # A test that finds no improvement says little; it stays in its section, not in the
        # summary's lead.
        clear = alignment.improvement > 0 and alignment.placebo_p <= 0.05
        conf = "high" if clear and alignment.placebo_p <= 0.01 else "moderate" if clear else "low"
        out.append(
            Finding(
                alignment.explain() + f" ({conf} confidence).",
                70.0 if clear else 15.0,
                {
                    "improvement": alignment.improvement,
                    "placebo_p": alignment.placebo_p,
                    "lag": alignment.lag,
                },
                id="timing-alignment",
                section="timing",
                confidence=conf,
                headline=f"{alignment.improvement:,.0f}",
            )
        )
    flat = [t.country for t in surged if t.surge and t.surge.low <= 1.0 <= t.surge.high]
    no_event = [t.country for t in trends if t.country not in own_events]
    others = [t for t in trends if t.event is not None and t.event.kind != event_kind]
    if others:
        named = [
            f"{country_name(t.country)} ({event_name(t.event.kind)})"
            for t in others
            if t.event is not None
        ]
        out.append(
            Finding(
                f"No {event_name(event_kind)} in the calendar for "
                f"{len(others)} {'country' if len(others) == 1 else 'countries'}; measured "
                f"from the next event they had instead: {', '.join(named)}.",
                25.0,
                {"countries": [t.country for t in others]},
                id="timing-fallback-events",
                section="timing",
            )
        )
    if flat:
        out.append(
            Finding(
                f"No rise beyond the noise in {_names(flat)}: the 95% interval of the surge "
                "factor includes 1.",
                60.0,
                {"countries": flat},
                id="surge-flat",
                section="timing",
                confidence="low",
            )
        )
    if no_event:
        out.append(
            Finding(
                f"No {event_name(event_kind)} in the period for {_names(no_event)}: no "
                "surge factor is measured from an event there.",
                20.0,
                {"countries": no_event},
                id="surge-no-event",
                section="timing",
            )
        )
    return out


def _comparison_finding(
    fid: str,
    section: str,
    what: str,
    period: Period,
    current: float,
    versus_year: RatioEstimate | None,
    versus_previous: RatioEstimate | None,
    weight: float,
    unit: str = "",
    versus_baseline: tuple[RatioEstimate | None, Period] | None = None,
) -> Finding | None:
    """``what`` in the period against the same period a year earlier (or, without one, the
    period before; failing both, the baseline weeks), with the ratio's interval and
    confidence."""
    choices: list[tuple[RatioEstimate | None, str, str, Period]] = [
        (versus_year, "the same period a year earlier", "year", period.year_earlier()),
        (versus_previous, "the period before", "previous", period.previous()),
    ]
    if versus_baseline is not None:
        estimate, weeks = versus_baseline
        choices.append((estimate, f"the baseline weeks ({weeks.span})", "baseline", weeks))
    chosen = next((c for c in choices if c[0] is not None), None)
    if chosen is None:
        return None
    compared, against, key, then = chosen
    assert compared is not None
    text = (
        f"{what} numbered {current:,.0f}{unit} in {period.label}, {_ratio_words(compared)} "
        f"the daily level of {against}."
    )
    # A clear change matters more than an unclear one, a large change more than a small one.
    strength = abs(np.log(compared.ratio)) * (2.0 if compared.confidence != "low" else 0.5)
    return Finding(
        text,
        weight + 10 * float(min(strength, 3.0)),
        {
            "total": current,
            "ratio": compared.ratio,
            "low": compared.low,
            "high": compared.high,
            "against": key,
            "then_from": then.start,
            "then_to": then.end,
        },
        id=fid,
        section=section,
        confidence=compared.confidence,
        headline=f"{compared.ratio:.2f}",
    )


def _figure(
    data: _Data, label: str, s: DailySeries, baseline: Period, *, referrals: bool
) -> KeyFigure | None:
    now = data.window(s, data.period)
    if now is None or not np.any(np.isfinite(now)):
        return None
    total = float(np.nansum(now))
    return KeyFigure(
        label=label,
        current=total,
        per_day=total / data.period.days,
        previous=data.compare(s, data.period.previous(), referrals=referrals),
        year_earlier=data.compare(s, data.period.year_earlier(), referrals=referrals),
        baseline=data.compare(s, baseline, referrals=referrals),
    )


def _referral_sections(
    data: _Data,
    long_series: dict[str, DailySeries],
    series: dict[str, DailySeries],
    trends: list[CountryTrend],
    in_period: dict[str, date],
    baseline: Period,
    metric: str,
    event_kind: str,
    sections: list[Section],
    charts: dict[str, Chart],
    findings: list[Finding],
    key_figures: list[KeyFigure],
) -> None:
    from tipwatch.report import charts as ch

    period = data.period
    total = _sum_series(long_series, data.first)
    if total is None:
        return
    figure = _figure(
        data, f"{metric.capitalize()} attributed to a country", total, baseline, referrals=True
    )
    if figure is not None:
        key_figures.append(figure)
        found = _comparison_finding(
            "referrals-total",
            "referrals",
            f"{metric.capitalize()} attributed to the {len(series)} countries",
            period,
            figure.current,
            figure.year_earlier,
            figure.previous,
            75.0,
        )
        if found:
            findings.append(found)
    intro = Section(
        "referrals",
        "Referrals",
        2,
        [
            f"Referrals by incident day and attributed country, {period.span}; a viral batch (one "
            "item shared by many) counts once a day and country."
        ],
    )
    sections.append(intro)
    # by country
    rows = []
    ratios: dict[str, RatioEstimate] = {}
    for c in sorted(series, key=lambda c: -float(np.nansum(series[c].values))):
        s = long_series[c]
        now = float(np.nansum(series[c].values))
        prev = data.compare(s, period.previous())
        year = data.compare(s, period.year_earlier())
        best = year or prev
        if best is not None:
            ratios[c] = best
        rows.append(
            [
                country_name(c),
                f"{now:,.0f}",
                f"{now / period.days:,.1f}",
                _change(prev),
                _change(year),
            ]
        )
    by_country = Section("referrals-country", "By country", 3)
    by_country.tables.append(
        Table(
            "table-referrals-country",
            f"Referrals by attributed country, {period.label}: total, per day, and the change "
            "in the daily level against the period before and the same period a year earlier "
            "(95% interval).",
            ["country", "referrals", "per day", "vs period before", "vs a year earlier"],
            rows,
            [False, True, True, True, True],
        )
    )
    # the country whose change is clearest (by the interval's end nearest 1)
    clear = sorted((c for c, r in ratios.items() if r.low > 1.0), key=lambda c: -ratios[c].low)
    if clear and not in_period:
        c = clear[0]
        r = ratios[c]
        against = (
            "a year earlier"
            if data.compare(long_series[c], period.year_earlier())
            else ("in the period before")
        )
        findings.append(
            Finding(
                f"{country_name(c)} showed the clearest rise: {_ratio_words(r)} its daily level "
                f"{against} ({r.current:,.0f} referrals in {period.label}).",
                72.0 + 5 * min(float(np.log(r.ratio)), 2.0),
                {
                    "country": c,
                    "ratio": r.ratio,
                    "low": r.low,
                    "high": r.high,
                    "total": r.current,
                    "against": "year" if "year" in against else "previous",
                },
                id="referrals-country-rise",
                section="referrals-country",
                confidence=r.confidence,
                headline=f"{r.ratio:.2f}",
            )
        )
    map_chart = _map_chart(trends, ratios, in_period, period)
    if map_chart is not None:
        charts[map_chart.name] = map_chart
        by_country.charts.append(map_chart.name)
    multiples = ch.small_multiples_chart(series, trends, in_period, period)
    charts[multiples.name] = multiples
    by_country.charts.append(multiples.name)
    sections.append(by_country)
    # by incident type and by platform
    both = referral_breakdown(
        data.store,
        ["incident_type", "platform"],
        start=data.first,
        end=period.end,
        countries=data.wanted,
    )
    for by, title, words in (
        ("incident_type", "By incident type", "incident type"),
        ("platform", "By platform", "platform (the reporting service's product)"),
    ):
        parts = {k.partition(":")[2]: s for k, s in both.items() if k.partition(":")[0] == by}
        table = _breakdown_table(data, parts, by, words)
        if table is not None:
            sections.append(Section(f"referrals-{by.replace('_', '-')}", title, 3, [], [table]))
    # annotations and material
    pivot = None
    if in_period:
        ordinals = sorted(d.toordinal() for d in in_period.values())
        pivot = date.fromordinal(ordinals[len(ordinals) // 2])
    all_refs = data.total("referrals", collapse_viral=False)
    if all_refs is not None:
        ann = _share_section(
            data,
            all_refs,
            ANNOTATIONS,
            "referrals-annotations",
            "Webcam, self-production and minor-to-minor annotations",
            "Share of referrals with each annotation (a referral can carry several, so the "
            "shares need not add up to 100%).",
            findings,
            pivot,
        )
        if ann is not None:
            sections.append(ann)
            chart = ch.share_chart(
                _weekly_shares(data, all_refs, {v: k for k, v in ANNOTATIONS.items()}),
                name="annotations",
                title=_share_title(ann),
                caption="Weekly share of referrals with a file annotated as live streaming or "
                "possible self-production, or a report annotated as minor-to-minor interaction "
                "or sextortion.",
            )
            charts[chart.name] = chart
            ann.charts.append(chart.name)
        mat = _share_section(
            data,
            all_refs,
            MATERIAL,
            "referrals-material",
            "Known and new material",
            "Each referral is in one class only: with known material only (a file matched a "
            "hash list), new material only (files checked and matched no list), or both. "
            "Counted this way the shares add up to at most 100%; the rest are referrals with "
            "no checked file. (Counting every referral with a known file and every referral "
            "with a new file would count a referral with both twice, and the two shares "
            "would add up to more than 100%.)",
            findings,
            pivot,
            finding_weight=45.0,
        )
        if mat is not None:
            sections.append(mat)
            chart = ch.share_chart(
                _weekly_shares(data, all_refs, {v: k for k, v in MATERIAL.items()}),
                name="material",
                title=_share_title(mat),
                caption="Weekly share of referrals in each exclusive class of material; the "
                "three never add up to more than 100%.",
                stacked=True,
            )
            charts[chart.name] = chart
            mat.charts.append(chart.name)


def _share_title(section: Section) -> str:
    return section.chart_title or section.title


def _breakdown_table(
    data: _Data, parts: dict[str, DailySeries], by: str, words: str
) -> Table | None:
    period = data.period
    rows = []
    totals = {}
    for name, s in parts.items():
        now = data.window(s, period)
        totals[name] = float(now.sum()) if now is not None else 0.0
    grand = sum(totals.values())
    if grand <= 0:
        return None
    for name in sorted(parts, key=lambda n: -totals[n]):
        if totals[name] <= 0:
            continue
        s = parts[name]
        label = name
        if by == "incident_type":
            try:
                label = IncidentType(name).value
            except ValueError:
                label = name
        rows.append(
            [
                label,
                f"{totals[name]:,.0f}",
                f"{totals[name] / grand:.1%}",
                _change(data.compare(s, period.previous())),
                _change(data.compare(s, period.year_earlier())),
            ]
        )
    return Table(
        f"table-referrals-{by.replace('_', '-')}",
        f"Referrals by {words}, {period.label}, with the change in the daily level against "
        "the period before and a year earlier (95% interval). Every referral is counted "
        "(viral batches too).",
        [by.replace("_", " "), "referrals", "share", "vs period before", "vs a year earlier"],
        rows,
        [False, True, True, True, True],
    )


def _share_interval(part: float, whole: float) -> tuple[float, float, float]:
    p = part / whole
    se = float(np.sqrt(max(p * (1 - p), 1e-12) / whole))
    return p, max(p - 1.96 * se, 0.0), min(p + 1.96 * se, 1.0)


def _share_finding(
    data: _Data,
    part: DailySeries,
    all_refs: DailySeries,
    now_p: Period,
    then_p: Period,
    *,
    metric: str,
    words: str,
    when: str,
    against: str,
    key: str,
    sid: str,
    weight: float,
) -> Finding | None:
    """The share of ``part`` in ``all_refs`` over ``now_p`` against ``then_p``, with the
    difference's 95% interval (normal approximation of two binomial shares)."""
    part_now, whole_now = data.window(part, now_p), data.window(all_refs, now_p)
    part_then, whole_then = data.window(part, then_p), data.window(all_refs, then_p)
    if part_now is None or whole_now is None or part_then is None or whole_then is None:
        return None
    if whole_now.sum() <= 0 or whole_then.sum() <= 0 or not data.covered(then_p):
        return None
    share = float(part_now.sum()) / float(whole_now.sum())
    before = float(part_then.sum()) / float(whole_then.sum())
    diff = share - before
    se = float(
        np.sqrt(
            max(share * (1 - share), 1e-12) / whole_now.sum()
            + max(before * (1 - before), 1e-12) / whole_then.sum()
        )
    )
    d_low, d_high = diff - 1.96 * se, diff + 1.96 * se
    conf = "low" if d_low <= 0 <= d_high else ("high" if se < abs(diff) / 4 else "moderate")
    text = (
        f"The share of referrals with {words} was {share:.1%} {when} against {before:.1%} "
        f"{against}: {diff * 100:+.1f} percentage points (95% CI {d_low * 100:+.1f} to "
        f"{d_high * 100:+.1f}; {conf} confidence)."
    )
    return Finding(
        text,
        weight + 300 * abs(diff) * (1.0 if conf != "low" else 0.2),
        {
            "metric": metric,
            "share": share,
            "before": before,
            "diff": diff,
            "low": d_low,
            "high": d_high,
            "against": key,
            "from": now_p.start,
            "to": now_p.end,
            "then_from": then_p.start,
            "then_to": then_p.end,
        },
        id=f"share-{metric.split(':')[-1]}",
        section=sid,
        confidence=conf,
        headline=f"{share:.1%}",
    )


def _share_section(
    data: _Data,
    all_refs: DailySeries,
    metrics: dict[str, str],
    sid: str,
    title: str,
    intro: str,
    findings: list[Finding],
    pivot: date | None,
    finding_weight: float = 50.0,
) -> Section | None:
    period = data.period
    rows = []
    candidates: list[Finding] = []
    whole_now = data.window(all_refs, period)
    if whole_now is None or whole_now.sum() <= 0:
        return None
    for metric, words in metrics.items():
        part = data.total(metric, collapse_viral=False)
        if part is None:
            continue
        part_now = data.window(part, period)
        if part_now is None or part_now.sum() <= 0:
            continue
        share, low, high = _share_interval(float(part_now.sum()), float(whole_now.sum()))
        row = [words, f"{part_now.sum():,.0f}", f"{share:.1%} ({low:.1%}-{high:.1%})"]
        common = {"metric": metric, "words": words, "sid": sid, "weight": finding_weight}
        for against, other, key in (
            ("the period before", period.previous(), "previous"),
            ("a year earlier", period.year_earlier(), "year"),
        ):
            found = _share_finding(
                data,
                part,
                all_refs,
                period,
                other,
                when=f"in {period.label}",
                against=against,
                key=key,
                **common,  # type: ignore[arg-type]
            )
            row.append(f"{found.numbers['before']:.1%}" if found else "")
            if found is not None:
                candidates.append(found)
        if pivot is not None:
            # Within the period: the four weeks from the median date of the measures against
            # the four weeks before it.
            after = Period(pivot, pivot + timedelta(days=27))
            before_p = Period(pivot - timedelta(days=28), pivot - timedelta(days=1))
            found = _share_finding(
                data,
                part,
                all_refs,
                after,
                before_p,
                when=f"in the four weeks from {pivot:%d %B %Y}",
                against="in the four weeks before",
                key="event",
                **common,  # type: ignore[arg-type]
            )
            if found is not None and period.contains(after.end):
                candidates.append(found)
        rows.append(row)
    if not rows:
        return None
    section = Section(sid, title, 3, [intro])
    section.tables.append(
        Table(
            f"table-{sid}",
            f"Referrals by {title.lower()}, {period.label}: count, share of all referrals (95% "
            "interval), and the share in the period before and a year earlier.",
            ["class", "referrals", "share", "period before", "a year earlier"],
            rows,
            [False, True, True, True, True],
        )
    )
    if candidates:
        found = max(candidates, key=lambda f: abs(f.numbers["diff"]))
        findings.append(found)
        section.paragraphs.append(found.text)
        words = metrics[found.numbers["metric"]]
        against = {
            "year": "a year earlier",
            "previous": "the period before",
            "event": "in the four weeks before the measures",
        }[found.numbers["against"]]
        when = period.label if found.numbers["against"] != "event" else "the four weeks after"
        section.chart_title = (
            f"{words.capitalize()}: {found.numbers['share']:.1%} of referrals in {when}, "
            f"against {found.numbers['before']:.1%} {against}"
        )
    return section


def _weekly_shares(
    data: _Data, all_refs: DailySeries, metrics: dict[str, str]
) -> dict[str, list[tuple[date, float]]]:
    """Each metric's weekly share of all referrals (chart label -> metric) in the period."""
    from tipwatch.report import charts as ch

    weekly_total = dict(ch.weekly(_slice(all_refs, data.period)))
    shares: dict[str, list[tuple[date, float]]] = {}
    for name, metric in metrics.items():
        part = data.total(metric, collapse_viral=False)
        if part is None:
            continue
        inside = _slice(part, data.period)
        if inside.values.sum() > 0:
            shares[name] = [
                (d, v / weekly_total[d]) for d, v in ch.weekly(inside) if weekly_total.get(d)
            ]
    return shares


def _signal_rows(
    data: _Data, found: dict[str, DailySeries], label: str
) -> tuple[list[list[str]], DailySeries | None]:
    period = data.period
    rows = []
    for c, s in sorted(found.items()):
        now = data.window(s, period)
        if now is None or not np.any(np.isfinite(now)):
            continue
        total = float(np.nansum(now))
        rows.append(
            [
                country_name(c),
                label,
                f"{total:,.0f}",
                f"{total / max(int(np.isfinite(now).sum()), 1):,.0f}",
                _change(data.compare(s, period.previous(), referrals=False)),
                _change(data.compare(s, period.year_earlier(), referrals=False)),
            ]
        )
    return rows, _sum_series(found, data.first)


def _blocked_section(
    data: _Data,
    baseline: Period,
    sections: list[Section],
    charts: dict[str, Chart],
    findings: list[Finding],
    key_figures: list[KeyFigure],
) -> None:
    from tipwatch.report import charts as ch

    period = data.period
    rows: list[list[str]] = []
    weekly_parts: dict[str, list[tuple[date, float]]] = {}
    first_total: tuple[str, DailySeries] | None = None
    for metric, words in BLOCKED_METRICS.items():
        found = data.signal(metric)
        metric_rows, total = _signal_rows(data, found, words)
        if not metric_rows or total is None:
            continue
        rows.extend(metric_rows)
        figure = _figure(data, f"Blocked access: {words}", total, baseline, referrals=False)
        if figure is not None:
            key_figures.append(figure)
            if first_total is None:
                first_total = (words, total)
                found_finding = _comparison_finding(
                    "blocked-total",
                    "blocked",
                    f"Blocked access ({words})",
                    period,
                    figure.current,
                    figure.year_earlier,
                    figure.previous,
                    55.0,
                    versus_baseline=(figure.baseline, baseline),
                )
                if found_finding:
                    findings.append(found_finding)
        weekly_parts[words] = ch.weekly(_slice(total, period))
    if not rows:
        return
    section = Section(
        "blocked",
        "Blocked access",
        2,
        [
            "Attempts to reach listed addresses that filtering providers blocked, counted four "
            "ways: matched requests; attempts (the same client and entry within a short window "
            "counted once); distinct client-entry pairs; distinct clients. Requests are not "
            "people: retries, embedded images, prefetching and bots all count."
        ],
    )
    section.tables.append(
        Table(
            "table-blocked",
            f"Blocked access by country and count, {period.label}: total, per reported day, and "
            "the change in the daily level against the period before and a year earlier (95% "
            "interval).",
            ["country", "count", "total", "per day", "vs period before", "vs a year earlier"],
            rows,
            [False, False, True, True, True, True],
        )
    )
    busiest = ""
    if first_total is not None:
        words, total = first_total
        inside = _slice(total, period)
        values = np.nan_to_num(inside.values)
        if len(values) >= 28:
            sums = np.convolve(values, np.ones(28), mode="valid")
            i = int(np.argmax(sums))
            text = (
                f"The busiest four weeks of blocked access were the 28 days from "
                f"{inside.day(i):%d %B %Y}: {sums[i]:,.0f} {words} (requests, not people)."
            )
            section.paragraphs.append(text)
            busiest = f"Busiest four weeks from {inside.day(i):%d %B %Y}: {sums[i]:,.0f} {words}"
            findings.append(
                Finding(
                    text,
                    40.0,
                    {"count": words, "requests": float(sums[i]), "from": inside.day(i)},
                    id="blocked-busiest",
                    section="blocked",
                    headline=f"{sums[i]:,.0f}",
                )
            )
    sizes = data.signal(LIST_SIZE_METRIC)
    size_rows = []
    requests = data.signal("blocked_requests")
    for c, s in sorted(sizes.items()):
        now = data.window(s, period)
        if now is None or not np.any(np.isfinite(now)):
            continue
        mean_size = float(np.nanmean(now))
        rate = ""
        if c in requests:
            req = data.window(requests[c], period)
            if req is not None and np.any(np.isfinite(req)) and mean_size > 0:
                rate = f"{np.nanmean(req) / mean_size * 1000:,.0f}"
        size_rows.append(
            [
                country_name(c),
                f"{mean_size:,.0f}",
                f"{np.nanmin(now):,.0f}",
                f"{np.nanmax(now):,.0f}",
                rate,
            ]
        )
    if size_rows:
        section.tables.append(
            Table(
                "table-blocked-list-size",
                "The size of the list the filters used (entries, summed over the reporting "
                "providers' lists, per day) and blocked requests per day per 1,000 listed "
                "entries: a longer list blocks more, so rates compare better than totals.",
                ["country", "list size (mean)", "smallest", "largest", "requests / 1,000 entries"],
                size_rows,
                [False, True, True, True, True],
            )
        )
    sections.append(section)
    chart = ch.weekly_lines_chart(
        weekly_parts,
        name="blocked",
        title=busiest or "Blocked access, weekly",
        caption="Blocked access by count, weekly totals over the reporting countries: requests, "
        "not people.",
        y_title="per week",
    )
    charts[chart.name] = chart
    section.charts.append(chart.name)


def _dimension_values(data: _Data, metric: str, dim: str) -> list[str]:
    return sorted({d.get(dim, "") for d in signal_dimensions(data.store, metric)} - {""})


def _dimension_section(
    data: _Data,
    baseline: Period,
    metric: str,
    dim: str,
    sid: str,
    title: str,
    intro: str,
    unit: str,
    charts: dict[str, Chart],
    findings: list[Finding],
    key_figures: list[KeyFigure],
    weight: float,
    whole_metric: str | None = None,
) -> Section | None:
    """``metric`` by the values of ``dim``; its key figure is the sum over them, or the
    metric ``whole_metric`` where the values overlap (a forum post can match two themes)."""
    from tipwatch.report import charts as ch

    period = data.period
    values = _dimension_values(data, metric, dim)
    if not values:
        return None
    rows = []
    weekly_parts: dict[str, list[tuple[date, float]]] = {}
    totals: dict[str, float] = {}
    best: Finding | None = None
    for value in values:
        total = _sum_series(data.signal(metric, {dim: value}), data.first)
        if total is None:
            continue
        now = data.window(total, period)
        if now is None or not np.any(np.isfinite(now)):
            continue
        totals[value] = float(np.nansum(now))
        prev = data.compare(total, period.previous(), referrals=False)
        year = data.compare(total, period.year_earlier(), referrals=False)
        rows.append([value, f"{totals[value]:,.0f}", _change(prev), _change(year)])
        weekly_parts[value] = ch.weekly(_slice(total, period))
        found = _comparison_finding(
            f"{sid}-{value}",
            sid,
            f"{title} ({dim.replace('_', ' ')} {value})",
            period,
            totals[value],
            year,
            prev,
            weight,
            unit,
            versus_baseline=(
                data.compare(total, baseline, referrals=False),
                baseline,
            ),
        )
        if found is not None and (best is None or found.weight > best.weight):
            best = found
    if not rows:
        return None
    grand = sum(totals.values())
    for row in rows:
        row.insert(2, f"{totals[row[0]] / grand:.1%}" if grand else "")
    whole = _sum_series(data.signal(whole_metric or metric), data.first)
    if whole is not None:
        figure = _figure(data, title, whole, baseline, referrals=False)
        if figure is not None:
            key_figures.append(figure)
    section = Section(sid, title, 2, [intro])
    section.tables.append(
        Table(
            f"table-{sid}",
            f"{title} by {dim.replace('_', ' ')}, {period.label}: total, share, and the change in "
            "the daily level against the period before and a year earlier (95% interval).",
            [dim.replace("_", " "), "total", "share", "vs period before", "vs a year earlier"],
            rows,
            [False, True, True, True, True],
        )
    )
    if best is not None:
        findings.append(best)
        section.paragraphs.append(best.text)
    chart = ch.weekly_lines_chart(
        weekly_parts,
        name=sid,
        title=_dimension_title(title, dim, best),
        caption=f"{title} by {dim.replace('_', ' ')}, weekly totals.",
        y_title="per week",
    )
    charts[chart.name] = chart
    section.charts.append(chart.name)
    return section


def _dimension_title(title: str, dim: str, best: Finding | None) -> str:
    if best is None:
        return f"{title}, weekly"
    value = best.id.split("-", 1)[1]
    against = {"year": "a year earlier", "previous": "the period before"}.get(
        best.numbers["against"], "the baseline weeks"
    )
    return (
        f"{title}, {dim.replace('_', ' ')} {value}: {best.numbers['ratio']:.2f} times the "
        f"daily level of {against}"
    )


def _helpline_section(
    data: _Data,
    baseline: Period,
    sections: list[Section],
    charts: dict[str, Chart],
    findings: list[Finding],
    key_figures: list[KeyFigure],
) -> None:
    section = _dimension_section(
        data,
        baseline,
        HELPLINE_METRIC,
        "age_band",
        "helplines",
        "Helpline contacts",
        "Contacts with child helplines about online harm, by the age band of the child.",
        " contacts",
        charts,
        findings,
        key_figures,
        50.0,
    )
    if section is not None:
        sections.append(section)


def _forum_section(
    data: _Data,
    baseline: Period,
    sections: list[Section],
    charts: dict[str, Chart],
    findings: list[Finding],
    key_figures: list[KeyFigure],
) -> None:
    """Forum posts by theme, and the terms that emerged in the period's weeks; left out when
    the store holds no forum posts for the period."""
    section = _dimension_section(
        data,
        baseline,
        FORUM_METRIC,
        "theme",
        "forums",
        "Forum posts",
        "Posts in lawfully obtained exports of offender forums, by the theme their wording "
        "matched (a post can match several themes). Counts follow what was exported, not all "
        "that was posted.",
        " posts",
        charts,
        findings,
        key_figures,
        45.0,
        whole_metric=FORUM_ALL_METRIC,
    )
    windows, terms = emerging_in_period(data.store, data.period.start, data.period.end)
    data.emerging = [
        (t.first_until.isoformat(), t.term.term, t.term.window_posts, t.term.reference_posts)
        for t in terms
    ]
    if section is None and windows == 0:
        return
    if section is None:
        section = Section(
            "forums",
            "Forum posts",
            2,
            ["Posts in lawfully obtained exports of offender forums (no theme matched them)."],
        )
    if windows:
        # Without posts to test (forum series imported without their posts), say nothing.
        section.paragraphs.append(_emerging_words(windows, terms))
    if terms:
        shown = sorted(terms, key=lambda t: -t.term.z)[:EMERGING_SHOWN]
        shown.sort(key=lambda t: (t.first_until, -t.term.z, t.term.term))
        section.tables.append(
            Table(
                "table-emerging",
                f"Emerging terms of {data.period.label}: the week in which each first rose, its "
                "posts in that week and in the eight weeks before, the rise in its rate "
                "(smoothed), the distinct pseudonymous authors and threads using it, and in "
                "how many of the period's weeks it was emerging"
                + (
                    f" (the {EMERGING_SHOWN} strongest of {len(terms)})."
                    if len(terms) > EMERGING_SHOWN
                    else "."
                ),
                [
                    "term",
                    "week to",
                    "posts that week",
                    "posts 8 weeks before",
                    "rate ratio",
                    "authors",
                    "threads",
                    "weeks",
                ],
                [
                    [
                        t.term.term,
                        t.first_until.isoformat(),
                        f"{t.term.window_posts:,}",
                        f"{t.term.reference_posts:,}",
                        f"{t.term.ratio:.1f}",
                        f"{t.term.authors:,}",
                        f"{t.term.threads:,}",
                        f"{t.windows} of {windows}",
                    ]
                    for t in shown
                ],
                [False, False, True, True, True, True, True, True],
            )
        )
        strongest = max(terms, key=lambda t: t.term.z)
        findings.append(_emerging_finding(strongest, len(terms), data.period))
    sections.append(section)


EMERGING_SHOWN = 20
"""The most emerging terms the assessment's table lists (the strongest)."""


def _emerging_words(windows: int, terms: list[PeriodTerm]) -> str:
    s = EmergingSettings()
    test = (
        f"A term emerges in a week when its use in posts rose against the "
        f"{s.reference_days // 7} weeks before beyond chance (weighted log-odds z of "
        f"{s.min_z:g} or more, confirmed by Dunning's G2), at least {s.min_ratio:g} times "
        f"its earlier rate, in {s.min_posts} or more posts by {s.min_authors} or more authors "
        f"in more than one thread."
    )
    weeks = _plural(windows, "week")
    if not terms:
        return f"No term emerged in the {weeks} of the period with posts to test. {test}"
    return f"{_plural(len(terms), 'term')} emerged in the {weeks} of the period tested. {test}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _emerging_finding(strongest: PeriodTerm, count: int, period: Period) -> Finding:
    t = strongest.term
    confidence = "high" if t.z >= 5 else "moderate" if t.z >= 4 else "low"
    text = (
        f"{_plural(count, 'term')} emerged in forum posts in {period.label}; the strongest, "
        f"\u201c{t.term}\u201d, rose in the week to {strongest.first_until.day} "
        f"{strongest.first_until:%B %Y} to "
        f"{t.window_posts:,} posts by {t.authors:,} authors in {t.threads:,} threads, "
        f"{t.ratio:.1f} times its rate of the eight weeks before (z = {t.z:.1f}; "
        f"{confidence} confidence)."
    )
    return Finding(
        text,
        40.0 + min(t.z, 10.0),
        {
            "terms": count,
            "term": t.term,
            "week_to": strongest.first_until,
            "posts": t.window_posts,
            "reference_posts": t.reference_posts,
            "authors": t.authors,
            "threads": t.threads,
            "ratio": t.ratio,
            "z": t.z,
        },
        id="forums-emerging",
        section="forums",
        confidence=confidence,
        headline=f"{t.window_posts:,}",
    )


def _timing_section(
    trends: list[CountryTrend],
    table: list[dict[str, Any]],
    in_period: dict[str, date],
    alignment: AlignmentResult | None,
    event_kind: str,
    series: dict[str, DailySeries],
    charts: dict[str, Chart],
) -> Section:
    from tipwatch.report import charts as ch

    label = event_name(event_kind)
    section = Section(
        "timing",
        "Timing by country against its own measures",
        2,
        [
            f"Each country's surge is measured in the four weeks from its own {label} against "
            "the eight weeks before, so that countries whose measures came on different dates "
            "are each compared with their own normal."
        ],
    )
    if alignment is not None:
        section.paragraphs.append(alignment.explain() + ".")
    surge_rows, timing_rows = [], []
    for r in table:
        ci = f"{r['factor_low']:.2f}-{r['factor_high']:.2f}" if r["factor_low"] is not None else ""
        surge_rows.append(
            [
                country_name(r["country"]),
                r["event"],
                "" if r["baseline_per_day"] is None else f"{r['baseline_per_day']:,.1f}",
                "" if r["factor"] is None else f"{r['factor']:.2f}",
                ci,
                r["alert"],
            ]
        )
        timing_rows.append(
            [
                country_name(r["country"]),
                r["event"],
                r["change"],
                "" if r["lag"] is None else str(r["lag"]),
                r["peak"],
                r["quality"],
            ]
        )
    section.tables.append(
        Table(
            "country-table",
            f"Surge factor of the four weeks from each country's own {label} (quasi-Poisson, "
            "day-of-week effects) with its 95% interval; alert: the highest surge alert level in "
            "those four weeks.",
            ["country", label, "baseline / day", "surge factor", "95% CI", "alert"],
            surge_rows,
            [False, False, True, True, False, False],
        )
    )
    section.tables.append(
        Table(
            "table-timing",
            "When each country's level changed and peaked, and the lag in days from its own "
            f"{label} to the change; data-quality flags of the period.",
            ["country", label, "change", "lag (days)", "peak", "data quality"],
            timing_rows,
            [False, False, False, True, False, False],
        )
    )
    factors = [
        (country_name(t.country), t.surge.factor, t.surge.low, t.surge.high)
        for t in trends
        if t.surge
    ]
    if factors:
        chart = ch.forest_chart(factors, event_label=label)
        charts[chart.name] = chart
        section.charts.append(chart.name)
    levels: dict[str, float] = {}
    for t in trends:
        if t.surge is not None:
            levels[t.country] = t.surge.expected / max(
                (t.surge.window_end - t.surge.window_start).days + 1, 1
            )
    if levels:
        chart = ch.aligned_chart(series, in_period, levels, event_label=label)
        charts[chart.name] = chart
        section.charts.append(chart.name)
    return section


def _map_chart(
    trends: list[CountryTrend],
    ratios: dict[str, RatioEstimate],
    in_period: dict[str, date],
    period: Period,
) -> Chart | None:
    from tipwatch.report import charts as ch

    if in_period:
        values = {
            t.country: (t.surge.factor, t.surge.low, t.surge.high)
            for t in trends
            if t.surge is not None
        }
        what = "surge factor from the country's own measures"
    else:
        values = {c: (r.ratio, r.low, r.high) for c, r in ratios.items()}
        what = "change in the daily level"
    if not values:
        return None
    return ch.europe_map(values, what=what, period_label=period.label)


def _table(
    trends: list[CountryTrend], alerts: Sequence[Any], quality: Sequence[Any], window_days: int
) -> list[dict[str, Any]]:
    rows = []
    for t in trends:
        flags: dict[str, int] = {}
        for q in quality:
            if q.country == t.country:
                flags[q.kind] = flags.get(q.kind, 0) + 1
        window = t.surge.window_start if t.surge else (t.event.date if t.event else None)
        rows.append(
            {
                "country": t.country,
                "event": t.event.date.isoformat() if t.event else "",
                "baseline_per_day": round(t.surge.expected / window_days, 1) if t.surge else None,
                "factor": round(t.surge.factor, 2) if t.surge else None,
                "factor_low": round(t.surge.low, 2) if t.surge else None,
                "factor_high": round(t.surge.high, 2) if t.surge else None,
                "change": t.change.date.isoformat() if t.change else "",
                "lag": t.lag_to_change.days if t.lag_to_change else None,
                "peak": t.peak.date.isoformat() if t.peak else "",
                "alert": _window_alerts(alerts, t.country, window, window_days) or "",
                "quality": ", ".join(f"{k} ({v})" for k, v in sorted(flags.items())),
            }
        )
    return rows


def _caveats(data: _Data, quality: Sequence[Any], sections: list[Section]) -> list[str]:
    out = []
    counted = attribution_quality(data.store, since=data.period.start, until=data.period.end)
    total, proxy, low = counted.referrals, counted.possible_proxy, counted.low_confidence
    if total:
        out.append(
            f"Country attribution rests on IP geolocation and account details; proxies and "
            f"VPNs distort it. {proxy:,} of the {total:,} referrals of the period "
            f"({proxy / total:.1%}) carry a possible-proxy flag, {low:,} "
            f"({low / total:.1%}) were attributed with confidence below 0.5, and "
            f"{counted.unattributable:,} referrals in the store could not be attributed at all."
        )
    viral = [q for q in quality if q.kind == "viral-batch"]
    if viral:
        days = ", ".join(f"{country_name(q.country)} {q.day:%d %b}" for q in viral[:6])
        out.append(
            f"Viral batches (one item shared by many) made up much of {len(viral)} "
            f"country-day(s) ({days}); they are counted, but one viral item is not "
            "many incidents."
        )
    gaps = [q for q in quality if q.kind == "gap"]
    if gaps:
        out.append(
            f"{len(gaps)} gap(s) in the data (days without counts where some were "
            "expected): an outage at a reporting service or in a feed, not a fall."
        )
    dominant = [q for q in quality if q.kind == "dominant-service"]
    if dominant:
        out.append(
            f"On {len(dominant)} country-day(s) one reporting service sent most "
            "referrals, unusually: a change at one service can look like a trend."
        )
    if not data.covered(data.period.year_earlier()):
        out.append(
            "The store holds no referrals for the same period a year earlier (or only part "
            "of it): changes against a year earlier are not given for referrals."
        )
    ids = {s.id for s in sections}
    if "blocked" in ids:
        out.append(
            "Blocked access attempts are requests, not people: retries, embedded "
            "images, prefetching and bots all count, and the totals depend on the size "
            "of the list and on which providers report."
        )
    if "forums" in ids:
        out.append(
            "Forum counts cover the exports received, matched by wording: a theme's count is "
            "posts whose words matched it, not a reading of every post. An emerging term is a "
            "word whose use rose, a lead for an analyst to read the posts, not a finding of "
            "what the posters meant."
        )
    out.append(
        "Referral counts follow detection and reporting by services, not the level of "
        "abuse in a country; a rise can mean more detection as well as more offending."
    )
    return out


def _provenance(
    series: dict[str, DailySeries],
    calendar: Sequence[Any],
    start: date,
    end: date,
    metric: str,
    event_kind: str,
    window_days: int,
    baseline_days: int,
    data: _Data,
) -> dict[str, Any]:
    digest = hashlib.sha256()
    for country in sorted(series):
        digest.update(country.encode())
        digest.update(np.nan_to_num(series[country].values, nan=-1).astype("<f8").tobytes())
    for e in sorted(calendar, key=lambda e: (e.country, e.date, e.kind)):
        digest.update(f"{e.country}|{e.date}|{e.kind}".encode())
    for (name, where), found in sorted(data._signals.items()):
        for country in sorted(found):
            digest.update(f"{name}|{where}|{country}".encode())
            digest.update(np.nan_to_num(found[country].values, nan=-1).astype("<f8").tobytes())
    for row in data.emerging:
        digest.update(json.dumps(row).encode())
    settings = {
        "metric": metric,
        "event": event_kind,
        "window_days": window_days,
        "baseline_days": baseline_days,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    feeds = sorted({r["feed"] for r in signal_summary(data.store)})
    sources = [
        "Referrals in the tipwatch store, by incident day and attributed country.",
        f"Event dates: {OXCGRT_CREDIT}, where not replaced by the analyst's own events.",
    ]
    if feeds:
        sources.append(f"Imported signal feeds in the store: {', '.join(feeds)}.")
    sources.append(
        "Map: Natural Earth 1:50m country boundaries (public domain), as TopoJSON by the "
        "world-atlas project (ISC licence)."
    )
    return {
        "period": f"{start.isoformat()} to {end.isoformat()}",
        "settings": settings,
        "tipwatch_version": __version__,
        "inputs_sha256": digest.hexdigest(),
        "made_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": sources,
        "read_from": data.first.isoformat(),
    }
