"""Alerts in the manner of public-health surveillance.

**Surge alerts.** For each country and day, the expected count comes from the weekday-adjusted
level of a baseline (``baseline_days`` ending ``guard_days`` before the day, so that a surge
does not raise its own baseline) times the day's weekday factor, with the dispersion measured
in that baseline (quasi-Poisson: variance = phi x mean). Days without data are left out of the
baseline (never read as zero), and so that one viral batch does not inflate eight weeks of
baselines, each baseline day is first clipped to 4 standard deviations above a running median
of its week. The p-value of the observed count is read from a negative binomial of that mean
and variance. Across countries, each day's p-values are turned into false-discovery-rate
q-values (Benjamini-Hochberg): **red** when q <= 0.001, **yellow** when q <= 0.01, only when
the count is above expectation. ``threshold`` is the least count that would reach yellow on its
own (unadjusted).

**One-day spikes** are not surges: a day far above expectation (unadjusted p <= 0.001; the day
before not so) whose next three days are, together, back within expectation (their total's
p > 0.05), or whose ratio to expectation is at least three times both its neighbours', is left
out of the surge alerts and reported as a ``spike`` data-quality alert instead. The last three
days of the data (and days just before a gap) cannot be told apart yet and stay surge alerts.

**Fall alerts.** A fall shows over days rather than on one: for each day, the total of the 7
days ending then against the total expected of them (the same baselines), with its p-value
read from the lower tail of a negative binomial; false-discovery control across countries as
for surges. They carry ``direction="down"``.

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
from tipwatch.trends.analysis import (
    DailySeries,
    clip_spikes_of,
    count_dispersion,
    weekday_factors,
)
from tipwatch.triage.counts import daily_counts_by_country

__all__ = [
    "Alert",
    "QualityAlert",
    "QualityEpisode",
    "SurgeEpisode",
    "benjamini_hochberg",
    "quality_alerts",
    "quality_episodes",
    "spike_days",
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
    direction: str = "up"
    """``up``: a surge (the day's count above expectation); ``down``: a fall (the total of
    the 7 days ending that day below expectation)."""
    days: int = 1
    """Days the observed and expected counts are totals of (7 for a fall)."""

    def explain(self) -> str:
        if self.direction == "down":
            return (
                f"{self.level.upper()} (fall): {self.metric} for {self.country} in the "
                f"{self.days} days to {self.day:%d %b %Y}: {self.observed:,.0f} against "
                f"{self.expected:,.1f} expected (alert threshold {self.threshold:,.0f}; "
                f"q = {self.q_value:.2g})"
            )
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
    direction: str = "up"
    """``up`` (a surge) or ``down`` (a fall: the days' counts are 7-day totals)."""

    def explain(self) -> str:
        span = (
            f"on {self.start:%d %b %Y}"
            if self.start == self.end
            else f"from {self.start:%d %b %Y} to {self.end:%d %b %Y} ({self.days} days)"
        )
        if self.direction == "down":
            return (
                f"{self.level.upper()} (fall): {self.metric} for {self.country} {span}: the "
                f"lowest 7-day total, to {self.peak_day:%d %b %Y}, was {self.peak_observed:,.0f} "
                f"against {self.peak_expected:,.1f} expected (smallest q = {self.q_value:.2g})"
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
    for run in _runs(alerts, lambda a: (a.country, a.metric, a.direction)):
        sign = 1.0 if run[0].direction == "up" else -1.0
        peak = max(run, key=lambda a: (sign * (a.observed - a.expected), -a.day.toordinal()))
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
                direction=run[0].direction,
            )
        )
    return sorted(out, key=lambda e: (e.start, e.country, e.direction))


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


SPIKE_CLIP_SD = 4.0
"""Baseline days are clipped to this many standard deviations above a running median."""
FALL_DAYS = 7


def _expectations(
    series: DailySeries, baseline_days: int, guard_days: int
) -> tuple[F64, F64, F64, F64]:
    """(expected, dispersion, observed, dispersion of a week's total) for every day (nan
    where the baseline has fewer than half its days with data, and on days without data)."""
    y = np.asarray(series.values, dtype=np.float64)
    known = np.isfinite(y)
    f = weekday_factors(series)[series.weekdays()]
    k = count_dispersion(series)
    # A one-day batch would raise eight weeks of baselines: baseline days are clipped first.
    clipped = np.nan_to_num(clip_spikes_of(series, SPIKE_CLIP_SD), nan=0.0)
    weight = known.astype(np.float64)
    adj = clipped / f
    n_sum = _rolling_sum(weight, baseline_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        level_b = _rolling_sum(adj, baseline_days) / n_sum
    sum_y2f = _rolling_sum(clipped * clipped / f, baseline_days)
    sum_y = _rolling_sum(clipped, baseline_days)
    sum_f = _rolling_sum(f * weight, baseline_days)

    # shift by the guard: the baseline of day t ends guard_days before t
    def shift(a: F64) -> F64:
        out = np.full(len(a), np.nan)
        if guard_days < len(a):
            out[guard_days:] = a[: len(a) - guard_days]
        return out

    level_b, sum_y2f, sum_y, sum_f, n_sum = (
        shift(level_b),
        shift(sum_y2f),
        shift(sum_y),
        shift(sum_f),
        shift(n_sum),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = sum_y2f / level_b - 2 * sum_y + level_b * sum_f
        # Eight weeks measure the dispersion loosely (and too low more often than too high):
        # it is at least what the series' own negative-binomial shape gives at this level.
        phi = np.maximum(pearson / (n_sum - 1), 1.0 + level_b / k)
        # The level is itself estimated from the baseline's days: its variance adds to the
        # day's (to a week's total, seven days' worth).
        phi_week = phi * (1 + FALL_DAYS / n_sum)
        phi = phi * (1 + 1 / n_sum)
    expected = np.where(n_sum >= baseline_days / 2, level_b * f, np.nan)
    expected[~known] = np.nan
    return expected, phi, y, phi_week


def spike_days(
    series: Mapping[str, DailySeries], *, baseline_days: int = 56, guard_days: int = 7
) -> dict[str, list[tuple[date, float, float]]]:
    """Each country's one-day spikes: (day, observed, expected) for the days alerted on their
    own (see the module docstring), which are data-quality events, not surges."""
    out: dict[str, list[tuple[date, float, float]]] = {}
    for country, s in series.items():
        if len(s) < baseline_days + guard_days + 1:
            continue
        expected, phi, y, _ = _expectations(s, baseline_days, guard_days)
        p = _nb_sf(y, expected, phi)
        for i in _spike_indices(p, y, expected, phi):
            out.setdefault(country, []).append((s.day(i), float(y[i]), float(expected[i])))
    return out


def _spike_indices(p: F64, y: F64, expected: F64, phi: F64) -> list[int]:
    """Days far above expectation (unadjusted p <= ``_SPIKE_P``) on their own: the day before
    not so, and the next ``_AFTER_SPIKE`` days known and, together, back within expectation
    (their total's p > ``_BACK_TO_NORMAL_P``), or both neighbours' ratios to expectation at
    most a third of the day's."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = y / expected
    high = np.isfinite(p) & (p <= _SPIKE_P) & (y > expected)
    n = len(p)
    out = []
    for i in np.flatnonzero(high).tolist():
        if i > 0 and high[i - 1]:
            continue
        after = slice(i + 1, i + 1 + _AFTER_SPIKE)
        if i + _AFTER_SPIKE >= n or not np.all(np.isfinite(expected[after])):
            continue  # the days after are not known yet: it may be the start of a surge
        total_p = _nb_sf(
            np.array([y[after].sum()]), np.array([expected[after].sum()]), phi[i + 1 : i + 2]
        )[0]
        before = ratio[i - 1] if i > 0 and np.isfinite(ratio[i - 1]) else 0.0
        towering = ratio[i] >= _SPIKE_RATIO * max(before, float(ratio[i + 1]))
        if total_p > _BACK_TO_NORMAL_P or towering:
            out.append(i)
    return out


_AFTER_SPIKE = 3
_SPIKE_RATIO = 3.0
_SPIKE_P = 0.001
_BACK_TO_NORMAL_P = 0.05


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
    falls: bool = True,
) -> list[Alert]:
    """Surge alerts (and, with ``falls``, fall alerts) for each day from ``start`` to ``end``
    (default: every day with a full baseline), false-discovery controlled across the
    countries of each day. One-day spikes are left out (see the module docstring)."""
    if not series:
        return []
    first = min(s.start for s in series.values())
    last = max(s.end for s in series.values())
    days = (last - first).days + 1
    countries = sorted(series)
    obs = np.full((len(countries), days), np.nan)
    exp = np.full_like(obs, np.nan)
    disp = np.full_like(obs, np.nan)
    pv = np.full_like(obs, np.nan)
    fall_obs = np.full_like(obs, np.nan)
    fall_exp = np.full_like(obs, np.nan)
    fall_disp = np.full_like(obs, np.nan)
    fall_pv = np.full_like(obs, np.nan)
    for i, c in enumerate(countries):
        s = series[c]
        if len(s) < baseline_days + guard_days + 1:
            continue
        expected, phi, y, phi_week = _expectations(s, baseline_days, guard_days)
        o = (s.start - first).days
        sl = slice(o, o + len(s))
        p = _nb_sf(y, expected, phi)
        spikes = _spike_indices(p, y, expected, phi)
        p[spikes] = np.nan  # a one-day spike is a data-quality event, not a surge
        obs[i, sl] = y
        exp[i, sl] = expected
        disp[i, sl] = phi
        pv[i, sl] = p
        if falls:
            total, total_expected, total_phi = _week_totals(y, expected, phi_week)
            fall_obs[i, sl] = total
            fall_exp[i, sl] = total_expected
            fall_disp[i, sl] = total_phi
            fall_pv[i, sl] = _nb_cdf(total, total_expected, total_phi)
    lo = 0 if start is None else max(0, (start - first).days)
    hi = days if end is None else min(days, (end - first).days + 1)
    metric = next(iter(series.values())).metric
    found: list[tuple[int, int, int, Alert]] = []
    kinds = [("up", obs, exp, disp, pv)]
    if falls:
        kinds.append(("down", fall_obs, fall_exp, fall_disp, fall_pv))
    for order, (direction, o_, e_, d_, p_) in enumerate(kinds):
        q = _bh_by_day(p_[:, lo:hi])
        beyond = o_[:, lo:hi] > e_[:, lo:hi] if direction == "up" else o_[:, lo:hi] < e_[:, lo:hi]
        rows, cols = np.nonzero(np.isfinite(q) & (q <= YELLOW_Q) & beyond)
        cols = cols + lo
        # only the alerts' thresholds are computed: the inverse distribution is slow
        mean, phi = e_[rows, cols], d_[rows, cols]
        thresholds = (
            _threshold(mean, phi, YELLOW_Q)
            if direction == "up"
            else _low_threshold(mean, phi, YELLOW_Q)
        )
        for i, d, threshold in zip(rows.tolist(), cols.tolist(), thresholds.tolist(), strict=True):
            qv = float(q[i, d - lo])
            found.append(
                (
                    d,
                    order,
                    i,
                    Alert(
                        country=countries[i],
                        metric=metric,
                        day=first + timedelta(days=d),
                        observed=float(o_[i, d]),
                        expected=float(e_[i, d]),
                        threshold=float(threshold),
                        p_value=float(p_[i, d]),
                        q_value=qv,
                        level="red" if qv <= RED_Q else "yellow",
                        direction=direction,
                        days=1 if direction == "up" else FALL_DAYS,
                    ),
                )
            )
    found.sort(key=lambda item: item[:3])
    return [alert for *_, alert in found]


def _bh_by_day(p: F64) -> F64:
    """Benjamini-Hochberg q-values of each column of ``p`` (a day's countries); nan stays nan."""
    q = np.full_like(p, np.nan)
    if p.size == 0:
        return q
    ok = np.isfinite(p)
    m = ok.sum(axis=0)
    order = np.argsort(np.where(ok, p, np.inf), axis=0)
    ranked = np.take_along_axis(np.where(ok, p, np.inf), order, axis=0)
    rank = np.arange(1, p.shape[0] + 1, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        scaled = ranked * m[None, :] / rank
    scaled = np.where(np.isfinite(scaled), scaled, np.inf)
    scaled = np.minimum.accumulate(scaled[::-1], axis=0)[::-1]
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.minimum(scaled, 1.0), axis=0)
    q[ok] = out[ok]
    return q


def _week_totals(y: F64, expected: F64, phi: F64) -> tuple[F64, F64, F64]:
    """Totals of the ``FALL_DAYS`` days ending each day (nan unless every one of them has data
    and an expectation), their expectation, and the dispersion of the last day's baseline."""
    ok = np.isfinite(y) & np.isfinite(expected)

    def ending_on(x: F64) -> F64:
        c = np.concatenate([[0.0], np.cumsum(x)])
        out = np.full(len(x), np.nan)
        out[FALL_DAYS - 1 :] = c[FALL_DAYS:] - c[: len(x) - FALL_DAYS + 1]
        return out

    complete = ending_on(ok.astype(np.float64)) == FALL_DAYS
    total = np.where(complete, ending_on(np.where(ok, y, 0.0)), np.nan)
    total_expected = np.where(complete, ending_on(np.where(ok, expected, 0.0)), np.nan)
    return total, total_expected, phi


def _nb_cdf(y: F64, mean: F64, phi: F64) -> F64:
    """P(Y <= y) for a count of the given mean and variance phi x mean."""
    from scipy import stats

    p = np.full(len(y), np.nan)
    ok = np.isfinite(mean) & (mean > 0) & np.isfinite(y) & np.isfinite(phi)
    poisson = ok & (phi <= 1.0001)
    nb = ok & ~poisson
    p[poisson] = stats.poisson.cdf(y[poisson], mean[poisson])
    size = mean[nb] / (phi[nb] - 1)
    p[nb] = stats.nbinom.cdf(y[nb], size, 1 / phi[nb])
    return p


def _low_threshold(mean: F64, phi: F64, alpha: float) -> F64:
    """The largest total that would reach yellow on its own (unadjusted)."""
    from scipy import stats

    t = np.full(len(mean), np.nan)
    ok = np.isfinite(mean) & (mean > 0) & np.isfinite(phi)
    poisson = ok & (phi <= 1.0001)
    nb = ok & ~poisson
    t[poisson] = stats.poisson.ppf(alpha, mean[poisson]) - 1
    size = mean[nb] / (phi[nb] - 1)
    t[nb] = stats.nbinom.ppf(alpha, size, 1 / phi[nb]) - 1
    return t


@dataclass(frozen=True)
class QualityAlert:
    country: str
    day: date
    kind: str
    """``gap``, ``spike``, ``service-outage``, ``dominant-service`` or ``viral-batch``."""
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
    """Data-quality alerts: gaps and one-day spikes in any series; with the ``store`` of
    referral series also a dominant service and viral batches."""
    out: list[QualityAlert] = []
    for country, s in sorted(series.items()):
        y = s.values
        if len(y) < 15:
            continue
        f = weekday_factors(s)[s.weekdays()]
        # the level around each day from the days with data only (a gap is not zeros)
        known = np.isfinite(y)
        # (a kernel longer than the series would make "same" return the kernel's length)
        kernel = np.ones(min(28, len(y)))
        seen = np.convolve(known.astype(np.float64), kernel, mode="same")
        with np.errstate(divide="ignore", invalid="ignore"):
            level = np.convolve(np.where(known, y / f, 0.0), kernel, mode="same") / seen
        level = np.nan_to_num(level, nan=0.0)
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
    for country, spikes in spike_days(series).items():
        for day, observed, expected in spikes:
            out.append(
                QualityAlert(
                    country,
                    day,
                    "spike",
                    f"{observed:,.0f} where about {expected:,.0f} were expected, and the days "
                    "after back to normal: a one-day excess (a batch, or chance), not a surge",
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
