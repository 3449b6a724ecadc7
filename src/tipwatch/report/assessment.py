"""Building the assessment: the analyses of a period, the findings in words, the table, the
charts, the caveats and the provenance. Rendering to HTML and PDF is in ``render``.

Every finding keeps the numbers it cites (``Finding.numbers``), so that a reader (and a test)
can trace each sentence to its figures.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from tipwatch import __version__
from tipwatch.errors import InputError, InsufficientDataError
from tipwatch.store import Store
from tipwatch.store.signals import signal_dimensions
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
from tipwatch.trends.signals import referral_series, signal_series
from tipwatch.triage.counts import attribution_quality

__all__ = ["EU27", "REGIONS", "Assessment", "Finding", "build_assessment", "countries_of"]

EU27 = ("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE").split()


REGIONS = {"EU27": EU27}
"""Named groups of countries for ``--region``."""


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
    charts: dict[str, dict[str, Any]]
    """Chart name -> (title, Vega-Lite specification)."""
    caveats: list[str]
    provenance: dict[str, Any]
    quality: list[Any]


def _fmt_factor(x: float) -> str:
    return f"{x:.1f}"


def _window_alerts(
    alerts: Sequence[Any], country: str, start: date | None, days: int
) -> str | None:
    if start is None:
        return None
    end = start + timedelta(days=days)
    levels = {a.level for a in alerts if a.country == country and start <= a.day < end}
    return "red" if "red" in levels else "yellow" if "yellow" in levels else None


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
) -> Assessment:
    """Analyse ``metric`` for ``countries`` (default: every attributed country) from
    ``start`` to ``end`` and put the results in words, tables and charts."""
    if end <= start:
        raise InputError(
            f"the assessment's end ({end}) is not after its start ({start})",
            hint="give an end date after the start date",
        )
    wanted = [c.upper() for c in countries] if countries else None
    series = referral_series(store, metric, countries=wanted, start=start, end=end)
    series.pop("unknown", None)
    series = {c: s for c, s in series.items() if np.nansum(s.values) > 0 or wanted}
    if not series:
        raise InsufficientDataError(
            f"no {metric} attributed to a country between {start} and {end}: ingest referrals "
            "and run `tipwatch triage` first"
        )
    calendar = list_events(store)
    own_events = {
        c: e.event.date for c, e in choose_events(calendar, event_kind).items() if c in series
    }
    trends = analyse_countries(
        series,
        calendar,
        event_kind=event_kind,
        window_days=window_days,
        baseline_days=baseline_days,
    )
    alignment = None
    try:
        alignment = alignment_test(series, calendar, event_kind=event_kind)
    except InsufficientDataError:
        alignment = None
    overall = _overall(series, own_events, window_days, baseline_days, metric)
    alerts = surge_alerts(series)
    quality = quality_alerts(store if metric == "referrals" else None, series)
    findings = _findings(trends, overall, alignment, event_kind, metric, own_events)
    period = _Period(store, start, end, wanted)
    findings.extend(_share_findings(period, own_events))
    findings.extend(_feed_findings(period))
    findings.sort(key=lambda f: -f.weight)
    table = _table(trends, alerts, quality, window_days)
    charts = _charts(period, series, trends, own_events, metric)
    caveats = _caveats(period, quality)
    provenance = _provenance(
        series, calendar, start, end, metric, event_kind, window_days, baseline_days
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
    )


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


def _findings(
    trends: list[CountryTrend],
    overall: CountryTrend | None,
    alignment: AlignmentResult | None,
    event_kind: str,
    metric: str,
    own_events: dict[str, date],
) -> list[Finding]:
    out: list[Finding] = []
    if overall is not None and overall.surge is not None:
        s = overall.surge
        text = (
            f"Across the {len(trends)} countries, {metric} ran at {_fmt_factor(s.factor)}x "
            f"their baseline (95% CI {_fmt_factor(s.low)}-{_fmt_factor(s.high)}) in the "
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
        out.append(Finding(text + ".", 100.0, numbers))
    surged = [t for t in trends if t.surge is not None]
    # A country with a handful of referrals can show 7x on noise: it is not ranked, and each
    # factor is shrunk towards the countries' common level by its uncertainty first.
    ranked, too_few = rank_rises(trends)
    if ranked:
        top = ranked[:3]
        parts = [
            f"{r.country} {_fmt_factor(r.measured.factor)}x (95% CI "
            f"{_fmt_factor(r.measured.low)}-{_fmt_factor(r.measured.high)}; shrunk "
            f"{_fmt_factor(r.factor)}x, {_fmt_factor(r.low)}-{_fmt_factor(r.high)})"
            for r in top
        ]
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
                + ".",
                90.0,
                {
                    "countries": [r.country for r in top],
                    "factors": [r.measured.factor for r in top],
                    "shrunk_factors": [r.factor for r in top],
                    "lows": [r.low for r in top],
                    "not_ranked": too_few,
                },
            )
        )
    lagged = [t for t in trends if t.lag_to_change is not None and t.country in own_events]
    after = [t for t in lagged if t.lag_to_change and 0 <= t.lag_to_change.days <= 21]
    if lagged:
        lags = sorted(t.lag_to_change.days for t in after if t.lag_to_change)
        if lags:
            median = lags[len(lags) // 2]
            text = (
                f"In {len(after)} of the {len(lagged)} countries with a change and a "
                f"{event_name(event_kind)}, the rise began 0 to 21 days after their own "
                f"{event_name(event_kind)}: a median of {median} days (from {lags[0]} to "
                f"{lags[-1]})."
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
                )
            )
    if alignment is not None:
        out.append(
            Finding(
                alignment.explain() + ".",
                70.0,
                {
                    "improvement": alignment.improvement,
                    "placebo_p": alignment.placebo_p,
                    "lag": alignment.lag,
                },
            )
        )
    flat = [t.country for t in surged if t.surge and t.surge.low <= 1.0 <= t.surge.high]
    no_event = [t.country for t in trends if t.country not in own_events]
    others = [
        f"{t.country} ({event_name(t.event.kind)})"
        for t in trends
        if t.event is not None and t.event.kind != event_kind
    ]
    if others:
        out.append(
            Finding(
                f"No {event_name(event_kind)} in the calendar for "
                f"{len(others)} {'country' if len(others) == 1 else 'countries'}; measured "
                f"from the next event they had instead: {', '.join(others)}.",
                25.0,
                {"countries": [o.split(" ")[0] for o in others]},
            )
        )
    if flat:
        out.append(
            Finding(
                f"No rise beyond the noise in {', '.join(flat)}: the 95% interval of the surge "
                "factor includes 1.",
                60.0,
                {"countries": flat},
            )
        )
    if no_event:
        out.append(
            Finding(
                f"No {event_name(event_kind)} in the calendar for {', '.join(no_event)}: no "
                "surge factor is measured from an event there.",
                20.0,
                {"countries": no_event},
            )
        )
    return out


@dataclass
class _Period:
    """The store over the assessed period and countries, each series read once however many
    findings, charts and caveats use it."""

    store: Store
    start: date
    end: date
    wanted: list[str] | None
    _totals: dict[str, DailySeries | None] = field(default_factory=dict)
    _blocked: dict[str, DailySeries] | None = None

    def total(self, metric: str) -> DailySeries | None:
        """The daily sum over the attributed countries of a referral metric, or ``None``."""
        if metric not in self._totals:
            self._totals[metric] = self._read_total(metric)
        return self._totals[metric]

    def _read_total(self, metric: str) -> DailySeries | None:
        try:
            found = referral_series(
                self.store, metric, countries=self.wanted, start=self.start, end=self.end
            )
        except InputError:
            return None
        found.pop("unknown", None)
        if not found:
            return None
        first = next(iter(found.values()))
        values = np.nansum(np.vstack([s.values for s in found.values()]), axis=0)
        return DailySeries(first.start, values, "", metric)

    def blocked(self) -> dict[str, DailySeries]:
        """Blocked access attempts by country (empty when no feed was imported)."""
        if self._blocked is None:
            try:
                self._blocked = signal_series(
                    self.store,
                    "blocked_requests",
                    countries=self.wanted,
                    start=self.start,
                    end=self.end,
                )
            except InputError:
                self._blocked = {}
        return self._blocked


def _share_findings(period: _Period, own_events: dict[str, date]) -> list[Finding]:
    if not own_events:
        return []
    total = period.total("referrals")
    if total is None:
        return []
    ordinals = sorted(d.toordinal() for d in own_events.values())
    pivot = date.fromordinal(ordinals[len(ordinals) // 2])
    k = total.index(pivot)
    if k < 28 or k + 28 > len(total):
        return []
    out = []
    labels = {
        "annotation:possibleSelfProduction": "possible self-production",
        "annotation:liveStreaming": "live streaming",
        "material:new": "new (unmatched) material",
    }
    for metric, label in labels.items():
        part = period.total(metric)
        if part is None:
            continue
        before = float(part.values[k - 28 : k].sum()) / max(
            float(total.values[k - 28 : k].sum()), 1
        )
        after = float(part.values[k : k + 28].sum()) / max(float(total.values[k : k + 28].sum()), 1)
        if before == 0 and after == 0:
            continue
        out.append(
            Finding(
                f"The share of referrals with {label} went from {before:.1%} in the four weeks "
                f"before {pivot:%d %B} to {after:.1%} in the four weeks after.",
                50.0 + 10 * abs(after - before),
                {"metric": metric, "before": before, "after": after, "pivot": pivot},
            )
        )
    return out


def _feed_findings(period: _Period) -> list[Finding]:
    out = []
    blocked = period.blocked()
    for country, s in sorted(blocked.items()):
        values = np.nan_to_num(s.values)
        if len(values) < 28:
            continue
        sums = np.convolve(values, np.ones(28), mode="valid")
        i = int(np.argmax(sums))
        out.append(
            Finding(
                f"Blocked access attempts in {country}: {sums[i]:,.0f} requests in the 28 days "
                f"from {s.day(i):%d %B %Y}, the busiest four weeks of the period (requests, not "
                "people).",
                40.0,
                {"country": country, "requests": float(sums[i]), "from": s.day(i)},
            )
        )
    return out


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


def _weekly_shares(
    period: _Period, weekly_total: dict[date, float], metrics: dict[str, str]
) -> dict[str, list[tuple[date, float]]]:
    """Each metric's weekly share of all referrals (chart label -> metric), for the metrics
    with any referral in the period."""
    from tipwatch.report import charts as ch

    shares: dict[str, list[tuple[date, float]]] = {}
    for name, metric in metrics.items():
        part = period.total(metric)
        if part is not None and part.values.sum() > 0:
            shares[name] = [
                (d, v / weekly_total[d]) for d, v in ch.weekly(part) if weekly_total.get(d)
            ]
    return shares


def _charts(
    period: _Period,
    series: dict[str, DailySeries],
    trends: list[CountryTrend],
    own_events: dict[str, date],
    metric: str,
) -> dict[str, dict[str, Any]]:
    from tipwatch.report import charts as ch

    bands: dict[str, tuple[float, float]] = {}
    levels: dict[str, float] = {}
    for t in trends:
        if t.surge is not None:
            per_day = t.surge.expected / max(
                (t.surge.window_end - t.surge.window_start).days + 1, 1
            )
            spread = 2 * math.sqrt(per_day * t.surge.dispersion / 7)
            bands[t.country] = (max(per_day - spread, 0.0), per_day + spread)
            levels[t.country] = per_day
    out: dict[str, dict[str, Any]] = {
        "daily": ch.daily_multiples(
            series,
            own_events,
            bands,
            title=f"Daily {metric} (7-day mean), baseline band and {event_name('stay-at-home')}",
        ),
    }
    if own_events and levels:
        out["aligned"] = ch.aligned_chart(
            series,
            own_events,
            levels,
            title="Aligned on each country's own event (day 0); median in bold",
        )
    factors = [(t.country, t.surge.factor, t.surge.low, t.surge.high) for t in trends if t.surge]
    if factors:
        out["ranking"] = ch.ranking_chart(factors, title="Surge factors with 95% intervals")
    total = period.total("referrals")
    if total is not None and metric == "referrals":
        weekly_total = dict(ch.weekly(total))
        shares = _weekly_shares(
            period,
            weekly_total,
            {"known material": "material:known", "new material": "material:new"},
        )
        if shares:
            out["material"] = ch.share_chart(
                shares, title="Referrals with known and with new material", y_title="share"
            )
        ann = _weekly_shares(
            period,
            weekly_total,
            {
                "possible self-production": "annotation:possibleSelfProduction",
                "live streaming": "annotation:liveStreaming",
            },
        )
        if ann:
            out["annotations"] = ch.share_chart(
                ann,
                title="Referrals with self-production and live-streaming annotations",
                y_title="share",
            )
    blocked = period.blocked()
    if blocked:
        out["blocked"] = ch.stacked_chart(
            {c: ch.weekly(s) for c, s in blocked.items()},
            title="Blocked access attempts (requests, not people), weekly",
            y_title="requests",
        )
    helpline = _helpline_by_band(period.store, period.start, period.end, period.wanted)
    if helpline:
        out["helpline"] = ch.stacked_chart(
            helpline, title="Helpline contacts by age band, weekly", y_title="contacts"
        )
    return out


def _helpline_by_band(
    store: Store, start: date, end: date, wanted: list[str] | None
) -> dict[str, list[tuple[date, float]]]:
    from tipwatch.report.charts import weekly

    dims = signal_dimensions(store, "helpline_contacts")
    bands = sorted({d.get("age_band", "") for d in dims} - {""})
    out = {}
    for band in bands:
        try:
            found = signal_series(
                store,
                "helpline_contacts",
                countries=wanted,
                where={"age_band": band},
                start=start,
                end=end,
            )
        except InputError:
            continue
        if not found:
            continue
        first = next(iter(found.values()))
        total = DailySeries(
            first.start, np.nansum(np.vstack([x.values for x in found.values()]), axis=0), "", band
        )
        out[band] = weekly(total)
    return out


def _caveats(period: _Period, quality: Sequence[Any]) -> list[str]:
    out = []
    counted = attribution_quality(period.store, since=period.start, until=period.end)
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
        days = ", ".join(f"{q.country} {q.day:%d %b}" for q in viral[:6])
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
    blocked = period.blocked()
    if blocked:
        out.append(
            "Blocked access attempts are requests, not people: retries, embedded "
            "images, prefetching and bots all count, and the totals depend on the size "
            "of the list and on which providers report."
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
) -> dict[str, Any]:
    digest = hashlib.sha256()
    for country in sorted(series):
        digest.update(country.encode())
        digest.update(np.nan_to_num(series[country].values, nan=-1).astype("<f8").tobytes())
    for e in sorted(calendar, key=lambda e: (e.country, e.date, e.kind)):
        digest.update(f"{e.country}|{e.date}|{e.kind}".encode())
    settings = {
        "metric": metric,
        "event": event_kind,
        "window_days": window_days,
        "baseline_days": baseline_days,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return {
        "period": f"{start.isoformat()} to {end.isoformat()}",
        "settings": settings,
        "tipwatch_version": __version__,
        "inputs_sha256": digest.hexdigest(),
        "made_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": [
            "Referrals in the tipwatch store, by incident day and attributed country.",
            f"Event dates: {OXCGRT_CREDIT}, where not replaced by the analyst's own events.",
        ],
    }
