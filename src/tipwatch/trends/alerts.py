"""Alerts in the manner of public-health surveillance.

**Surge alerts.** For each country and day, the expected count comes from the weekday-adjusted
level of a baseline (``baseline_days`` ending ``guard_days`` before the day, so that a surge
does not raise its own baseline) times the day's weekday factor, with the dispersion measured
in that baseline (quasi-Poisson: variance = phi x mean). The p-value of the observed count is
read from a negative binomial of that mean and variance. Across countries, each day's p-values
are turned into false-discovery-rate q-values (Benjamini-Hochberg): **red** when q <= 0.001,
**yellow** when q <= 0.01, only when the count is above expectation. ``threshold`` is the
least count that would reach yellow on its own (unadjusted).

**Data-quality alerts** are kept apart: gaps (no count where some were expected), one
reporting service dominating a day, and a viral batch making up much of a day. They say that
a number may mislead, not that something surged.

**Episodes.** A surge lasts days: :func:`surge_episodes` merges a country's alerts on
consecutive days into one episode (start, end, peak day, level), and
:func:`quality_episodes` does the same for data-quality alerts of one kind.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from tipwatch.store import Store
from tipwatch.trends.analysis import DailySeries, weekday_factors
from tipwatch.triage.counts import daily_counts_by_country

__all__ = [
    "Alert",
    "QualityAlert",
    "QualityEpisode",
    "SurgeEpisode",
    "benjamini_hochberg",
    "quality_alerts",
    "quality_episodes",
    "surge_alerts",
    "surge_episodes",
]


class _Dated(Protocol):
    @property
    def day(self) -> date: ...


_D = TypeVar("_D", bound=_Dated)

RED_Q = 0.001
YELLOW_Q = 0.01
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Alert:
    country: str
    metric: str
    day: date
    observed: float
    expected: float
    threshold: float
    p_value: float
    q_value: float
    level: str
    """``red`` or ``yellow``."""

    def explain(self) -> str:
        return (
            f"{self.level.upper()}: {self.metric} for {self.country} on {self.day:%d %b %Y}: "
            f"{self.observed:,.0f} against {self.expected:,.1f} expected (alert threshold "
            f"{self.threshold:,.0f}; q = {self.q_value:.2g})"
        )


@dataclass(frozen=True)
class SurgeEpisode:
    """A country's surge alerts on consecutive days, as one episode."""

    country: str
    metric: str
    start: date
    end: date
    days: int
    """Alerted days (``end - start + 1``: the days are consecutive)."""
    level: str
    """``red`` when any day was red, else ``yellow``."""
    peak_day: date
    """The day with the most counts above expectation."""
    peak_observed: float
    peak_expected: float
    q_value: float
    """The smallest q-value of the episode's days."""
    observed: float
    expected: float
    """Totals over the episode's days."""

    def explain(self) -> str:
        span = (
            f"on {self.start:%d %b %Y}"
            if self.start == self.end
            else f"from {self.start:%d %b %Y} to {self.end:%d %b %Y} ({self.days} days)"
        )
        return (
            f"{self.level.upper()}: {self.metric} for {self.country} {span}: "
            f"{self.observed:,.0f} against {self.expected:,.1f} expected; the peak on "
            f"{self.peak_day:%d %b %Y} was {self.peak_observed:,.0f} against "
            f"{self.peak_expected:,.1f} (smallest q = {self.q_value:.2g})"
        )


def surge_episodes(alerts: Sequence[Alert]) -> list[SurgeEpisode]:
    """Merge each country's (and metric's) alerts on consecutive days into episodes, ordered
    by start, then country."""
    out: list[SurgeEpisode] = []
    for run in _runs(alerts, lambda a: (a.country, a.metric)):
        peak = max(run, key=lambda a: (a.observed - a.expected, -a.day.toordinal()))
        out.append(
            SurgeEpisode(
                country=run[0].country,
                metric=run[0].metric,
                start=run[0].day,
                end=run[-1].day,
                days=len(run),
                level="red" if any(a.level == "red" for a in run) else "yellow",
                peak_day=peak.day,
                peak_observed=peak.observed,
                peak_expected=peak.expected,
                q_value=min(a.q_value for a in run),
                observed=sum(a.observed for a in run),
                expected=sum(a.expected for a in run),
            )
        )
    return sorted(out, key=lambda e: (e.start, e.country))


def benjamini_hochberg(p: F64) -> F64:
    """Benjamini-Hochberg q-values of ``p`` (nan stays nan)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def _rolling_sum(x: F64, width: int) -> F64:
    """``out[t]`` = sum of ``x[t - width : t]`` (nan before a full window)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    out = np.full(len(x), np.nan)
    out[width:] = c[width:-1] - c[: len(x) - width]
    return out


def _expectations(series: DailySeries, baseline_days: int, guard_days: int) -> tuple[F64, F64, F64]:
    """(expected, dispersion, observed) for every day (nan where no full baseline)."""
    y = np.nan_to_num(series.values, nan=0.0)
    f = weekday_factors(series)[series.weekdays()]
    adj = y / f
    n_sum = _rolling_sum(np.ones_like(y), baseline_days)
    level = _rolling_sum(adj, baseline_days) / n_sum
    sum_y2f = _rolling_sum(y * y / f, baseline_days)
    sum_y = _rolling_sum(y, baseline_days)
    sum_f = _rolling_sum(f, baseline_days)

    # shift by the guard: the baseline of day t ends guard_days before t
    def shift(a: F64) -> F64:
        out = np.full(len(a), np.nan)
        if guard_days < len(a):
            out[guard_days:] = a[: len(a) - guard_days]
        return out

    level, sum_y2f, sum_y, sum_f = shift(level), shift(sum_y2f), shift(sum_y), shift(sum_f)
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = sum_y2f / level - 2 * sum_y + level * sum_f
        phi = np.maximum(pearson / (baseline_days - 1), 1.0)
    expected = level * f
    return expected, phi, y


def _nb_sf(y: F64, mean: F64, phi: F64) -> F64:
    """P(Y >= y) for a count of the given mean and variance phi x mean."""
    from scipy import stats

    p = np.full(len(y), np.nan)
    ok = np.isfinite(mean) & (mean > 0)
    poisson = ok & (phi <= 1.0001)
    nb = ok & ~poisson
    p[poisson] = stats.poisson.sf(y[poisson] - 1, mean[poisson])
    size = mean[nb] / (phi[nb] - 1)
    p[nb] = stats.nbinom.sf(y[nb] - 1, size, 1 / phi[nb])
    return p


def _threshold(mean: F64, phi: F64, alpha: float) -> F64:
    from scipy import stats

    t = np.full(len(mean), np.nan)
    ok = np.isfinite(mean) & (mean > 0)
    poisson = ok & (phi <= 1.0001)
    nb = ok & ~poisson
    t[poisson] = stats.poisson.isf(alpha, mean[poisson]) + 1
    size = mean[nb] / (phi[nb] - 1)
    t[nb] = stats.nbinom.isf(alpha, size, 1 / phi[nb]) + 1
    return t


def surge_alerts(
    series: Mapping[str, DailySeries],
    *,
    start: date | None = None,
    end: date | None = None,
    baseline_days: int = 56,
    guard_days: int = 7,
) -> list[Alert]:
    """Surge alerts for each day from ``start`` to ``end`` (default: every day with a full
    baseline), false-discovery controlled across the countries of each day."""
    if not series:
        return []
    first = min(s.start for s in series.values())
    last = max(s.end for s in series.values())
    days = (last - first).days + 1
    countries = sorted(series)
    obs = np.full((len(countries), days), np.nan)
    exp = np.full_like(obs, np.nan)
    pv = np.full_like(obs, np.nan)
    thr = np.full_like(obs, np.nan)
    for i, c in enumerate(countries):
        s = series[c]
        if len(s) < baseline_days + guard_days + 1:
            continue
        expected, phi, y = _expectations(s, baseline_days, guard_days)
        o = (s.start - first).days
        sl = slice(o, o + len(s))
        obs[i, sl] = y
        exp[i, sl] = expected
        pv[i, sl] = _nb_sf(y, expected, phi)
        thr[i, sl] = _threshold(expected, phi, YELLOW_Q)
    lo = 0 if start is None else max(0, (start - first).days)
    hi = days if end is None else min(days, (end - first).days + 1)
    metric = next(iter(series.values())).metric
    alerts: list[Alert] = []
    for d in range(lo, hi):
        q = benjamini_hochberg(pv[:, d])
        hits = np.flatnonzero(np.isfinite(q) & (q <= YELLOW_Q) & (obs[:, d] > exp[:, d]))
        for i in hits.tolist():
            alerts.append(
                Alert(
                    country=countries[i],
                    metric=metric,
                    day=first + timedelta(days=d),
                    observed=float(obs[i, d]),
                    expected=float(exp[i, d]),
                    threshold=float(thr[i, d]),
                    p_value=float(pv[i, d]),
                    q_value=float(q[i]),
                    level="red" if q[i] <= RED_Q else "yellow",
                )
            )
    return alerts


@dataclass(frozen=True)
class QualityAlert:
    country: str
    day: date
    kind: str
    """``gap``, ``service-outage``, ``dominant-service`` or ``viral-batch``."""
    detail: str

    def explain(self) -> str:
        return f"{self.kind} in {self.country} on {self.day:%d %b %Y}: {self.detail}"


@dataclass(frozen=True)
class QualityEpisode:
    """Data-quality alerts of one kind for one country on consecutive days."""

    country: str
    """A country code, or ``all`` for a reporting service's outage."""
    kind: str
    start: date
    end: date
    days: int
    detail: str
    """The first day's detail (and how many days in all, when more than one)."""

    def explain(self) -> str:
        span = (
            f"on {self.start:%d %b %Y}"
            if self.start == self.end
            else f"from {self.start:%d %b %Y} to {self.end:%d %b %Y}"
        )
        return f"{self.kind} in {self.country} {span}: {self.detail}"


def quality_episodes(alerts: Sequence[QualityAlert]) -> list[QualityEpisode]:
    """Merge data-quality alerts of one kind, country and cause (for an outage, the service) on
    consecutive days into episodes, ordered by start, country and kind."""
    out: list[QualityEpisode] = []
    for run in _runs(alerts, lambda a: (a.country, a.kind, _cause(a))):
        first = run[0]
        detail = first.detail
        if len(run) > 1:
            detail = f"{len(run)} days; the first: {detail}"
        out.append(
            QualityEpisode(first.country, first.kind, first.day, run[-1].day, len(run), detail)
        )
    return sorted(out, key=lambda e: (e.start, e.country, e.kind))


def _cause(alert: QualityAlert) -> str:
    # An outage names its service first: two services' outages stay two episodes.
    return alert.detail.split(" sent no referrals")[0] if alert.kind == "service-outage" else ""


def _runs(items: Sequence[_D], key: Callable[[_D], Hashable]) -> list[list[_D]]:
    """Items grouped by ``key`` and split where a day is missing: runs of consecutive days."""
    groups: dict[Hashable, list[_D]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    runs: list[list[_D]] = []
    for group in groups.values():
        group.sort(key=lambda item: item.day)
        run = [group[0]]
        for item in group[1:]:
            if (item.day - run[-1].day).days <= 1:
                run.append(item)
            else:
                runs.append(run)
                run = [item]
        runs.append(run)
    return runs


def quality_alerts(
    store: Store | None,
    series: Mapping[str, DailySeries],
    *,
    min_expected_for_gap: float = 5.0,
    dominance: float = 0.8,
    viral_share: float = 0.3,
    min_referrals: int = 20,
) -> list[QualityAlert]:
    """Data-quality alerts: gaps in any series; with the ``store`` of referral series also a
    dominant service and viral batches."""
    out: list[QualityAlert] = []
    for country, s in sorted(series.items()):
        y = s.values
        if len(y) < 15:
            continue
        f = weekday_factors(s)[s.weekdays()]
        level = np.convolve(np.nan_to_num(y / f), np.ones(14) / 14, mode="same")
        for i in np.flatnonzero(
            (np.nan_to_num(y, nan=0) == 0) & (level * f >= min_expected_for_gap)
        ):
            out.append(
                QualityAlert(
                    country,
                    s.day(int(i)),
                    "gap",
                    f"no data where about {level[i] * f[i]:.0f} were expected (an outage?)",
                )
            )
    if store is not None:
        out.extend(_service_and_viral(store, set(series), dominance, viral_share, min_referrals))
    return sorted(out, key=lambda a: (a.day, a.country, a.kind))


def _service_and_viral(
    store: Store, countries: set[str], dominance: float, viral_share: float, min_referrals: int
) -> list[QualityAlert]:
    totals: dict[tuple[str, date], int] = {}
    top: dict[tuple[str, date], tuple[int, str]] = {}
    by_country: dict[str, int] = {}
    by_country_service: dict[tuple[str, str], int] = {}
    by_service_day: dict[tuple[str, date], int] = {}
    out: list[QualityAlert] = []
    for count in daily_counts_by_country(store, by_service=True):
        if count.country not in countries:
            continue
        key = (count.country, count.day)
        totals[key] = totals.get(key, 0) + count.referrals
        name = count.service or "unnamed service"
        service_day = (name, key[1])
        by_service_day[service_day] = by_service_day.get(service_day, 0) + count.referrals
        if count.referrals > top.get(key, (0, ""))[0]:
            top[key] = (count.referrals, name)
        by_country[count.country] = by_country.get(count.country, 0) + count.referrals
        pair = (count.country, name)
        by_country_service[pair] = by_country_service.get(pair, 0) + count.referrals
    viral_counts = {
        (count.country, count.day): count.referrals
        for count in daily_counts_by_country(store, viral_only=True)
        if count.country in countries
    }
    out.extend(_outages(by_service_day))
    for key, total in totals.items():
        if total < min_referrals:
            continue
        n, name = top[key]
        usual = by_country_service[(key[0], name)] / by_country[key[0]]
        # Only unusual dominance: a service that always sends most referrals is no news.
        if n / total >= dominance and usual <= dominance - 0.2:
            out.append(
                QualityAlert(
                    key[0],
                    key[1],
                    "dominant-service",
                    f"{name} sent {n} of {total} referrals ({n / total:.0%}; usually {usual:.0%})",
                )
            )
        v = viral_counts.get(key, 0)
        if v / total >= viral_share:
            out.append(
                QualityAlert(
                    key[0],
                    key[1],
                    "viral-batch",
                    f"{v} of {total} referrals ({v / total:.0%}) belong to viral groups",
                )
            )
    return out


def _outages(
    by_service_day: dict[tuple[str, date], int], min_usual: float = 5.0
) -> list[QualityAlert]:
    """Days a reporting service that usually sends referrals every day sent none (all
    countries together): an outage at the service, not a fall in offending."""
    out: list[QualityAlert] = []
    services = sorted({s for s, _ in by_service_day})
    days = sorted({d for _, d in by_service_day})
    if not days:
        return out
    first, last = days[0], days[-1]
    span = (last - first).days + 1
    for service in services:
        counts = np.array(
            [by_service_day.get((service, first + timedelta(days=i)), 0) for i in range(span)],
            dtype=float,
        )
        for i in range(28, span):
            usual = (
                float(np.median(counts[i - 28 : i][counts[i - 28 : i] > 0]))
                if (counts[i - 28 : i] > 0).sum() >= 14
                else 0.0
            )
            if counts[i] == 0 and usual >= min_usual:
                out.append(
                    QualityAlert(
                        "all",
                        first + timedelta(days=i),
                        "service-outage",
                        f"{service} sent no referrals (usually about {usual:.0f} a day)",
                    )
                )
    return out
