"""Analyses of one daily count series: surge factor, change, peak, lag from an event.

Every result carries the numbers behind it and can say itself in a sentence
(``explain()``), so that a report never prints a number without its interval and basis.
A series too short for what is asked raises :class:`~tipwatch.errors.InsufficientDataError`
saying what is missing, rather than returning a number that means nothing.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from tipwatch.errors import InsufficientDataError
from tipwatch.trends.changepoints import detect_changes, onset

__all__ = [
    "ChangeResult",
    "DailySeries",
    "LagResult",
    "PeakResult",
    "SurgeResult",
    "day_count",
    "day_span",
    "detect_change",
    "lag_from_event",
    "peak",
    "surge_factor",
    "weekday_factors",
]

F64 = npt.NDArray[np.float64]
_Date = date  # for fields next to one named ``date``


def day_count(n: int) -> str:
    """``1 day``, ``3 days``: how the sentences count days."""
    return f"{n} day" if n == 1 else f"{n} days"


def day_span(low: date, high: date, within: date | None = None) -> str:
    """``23 Jun-09 Jul`` for an interval: with the years (``23 Jun 2019-09 Jun 2020``) when its
    ends, or the date ``within`` it is given for, are not all in one year."""
    years = {low.year, high.year} | ({within.year} if within is not None else set())
    if len(years) == 1:
        return f"{low:%d %b}-{high:%d %b}"
    return f"{low:%d %b %Y}-{high:%d %b %Y}"


@dataclass(frozen=True)
class DailySeries:
    """Daily values from ``start``, one per day, no gaps (missing days are ``nan``)."""

    start: date
    values: F64
    country: str = ""
    metric: str = "referrals"

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=len(self.values) - 1)

    def index(self, day: date) -> int:
        return (day - self.start).days

    def day(self, index: int) -> date:
        return self.start + timedelta(days=int(index))

    def weekdays(self) -> npt.NDArray[np.int64]:
        first = self.start.weekday()
        return (np.arange(len(self.values)) + first) % 7

    def label(self) -> str:
        return f"{self.metric} attributed to {self.country}" if self.country else self.metric


def weekday_factors(series: DailySeries) -> F64:
    """Each weekday's level relative to the week (mean 1), from ratios to a centred 7-day
    mean, so that a change of level does not bias it."""
    y = series.values
    dow = series.weekdays()
    ok = np.isfinite(y)
    filled = np.where(ok, y, np.nan)
    kernel = np.ones(7) / 7
    if len(y) < 21 or np.nanmean(y) < 3:
        return np.ones(7)
    padded = np.nan_to_num(filled, nan=0.0)
    counts = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(divide="ignore", invalid="ignore"):
        ma = np.convolve(padded, kernel, mode="same") / counts
        ratio = filled / ma
    factors = np.ones(7)
    for d in range(7):
        pick = ratio[3:-3][dow[3:-3] == d]
        pick = pick[np.isfinite(pick)]
        if len(pick):
            factors[d] = float(np.median(pick))
    if not np.all(np.isfinite(factors)) or factors.min() <= 0:
        # Too sparse to see a weekly pattern (days of zero): leave the days as they are.
        return np.ones(7)
    factors = np.clip(factors / factors.mean(), 0.5, 2.0)
    return np.asarray(factors / factors.mean(), dtype=np.float64)


def _require_complete(series: DailySeries) -> None:
    missing = np.flatnonzero(~np.isfinite(series.values))
    if len(missing):
        raise InsufficientDataError(
            f"{series.label()}: {day_count(len(missing))} without a value, the first "
            f"{series.day(int(missing[0]))}; this analysis needs every day (import the "
            "missing days, or analyse a range without gaps)"
        )


def _adjusted(series: DailySeries) -> F64:
    """Weekday-adjusted, variance-stabilised values (square root of counts)."""
    factors = weekday_factors(series)
    y = series.values / factors[series.weekdays()]
    return np.sqrt(np.clip(y, 0, None) + 3.0 / 8.0)


# -- change ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeResult:
    series: str
    date: _Date
    low: _Date
    high: _Date
    before: float
    """Mean daily count before the change (weekday-adjusted)."""
    after: float
    strength: float
    """How much better the series is explained with the change (in noise variances)."""
    direction: str

    def explain(self) -> str:
        return (
            f"{self.series} changed on {self.date:%d %b %Y} (interval "
            f"{day_span(self.low, self.high, self.date)}), from about {self.before:.0f} to "
            f"{self.after:.0f} a day"
        )


def detect_change(series: DailySeries, *, direction: str = "up") -> ChangeResult | None:
    """The strongest change of level (``up``, ``down`` or ``any``), with its onset refined
    as a ramp and a date interval; ``None`` when there is no change."""
    if len(series) < 28:
        raise InsufficientDataError(
            f"{series.label()}: {len(series)} days; finding a change needs at least 28"
        )
    _require_complete(series)
    z = _adjusted(series)
    changes, sigma = detect_changes(z, transform="none", min_size=7)
    if direction == "up":
        changes = [c for c in changes if c.after > c.before]
    elif direction == "down":
        changes = [c for c in changes if c.after < c.before]
    if not changes:
        return None
    best = max(changes, key=lambda c: c.gain)
    if best.after > best.before:
        index, low, high = onset(z, best.index, sigma=sigma)
    else:
        index, low, high = best.index, best.index, best.index
    return ChangeResult(
        series=series.label(),
        date=series.day(index),
        low=series.day(low),
        high=series.day(high),
        before=max(best.before**2 - 3 / 8, 0.0),
        after=max(best.after**2 - 3 / 8, 0.0),
        strength=best.gain,
        direction="up" if best.after > best.before else "down",
    )


# -- surge factor --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurgeResult:
    series: str
    factor: float
    low: float
    high: float
    """95% interval of the factor."""
    window_start: date
    window_end: date
    baseline_start: date
    baseline_end: date
    observed: float
    expected: float
    """Counts expected in the window at the baseline level (weekday pattern kept)."""
    dispersion: float
    """Quasi-Poisson scale: 1 for Poisson noise, larger for overdispersed counts."""
    baseline: str = "before"
    """``before`` (the weeks before) or ``year`` (also the same weeks a year earlier), with
    `` with trend`` when a time trend was fitted."""

    @property
    def excess(self) -> float:
        return self.observed - self.expected

    def explain(self) -> str:
        weeks = ((self.window_end - self.window_start).days + 1) / 7
        span = f"the {weeks:.0f} weeks" if weeks == int(weeks) else f"the {weeks:.1f} weeks"
        return (
            f"{self.series} ran at {self.factor:.1f}x the baseline (95% CI "
            f"{self.low:.1f}-{self.high:.1f}) in {span} from {self.window_start:%d %B %Y}: "
            f"{self.observed:,.0f} against {self.expected:,.0f} expected, "
            f"{self.excess:+,.0f}"
            + (
                " (beyond the change the same weeks saw a year earlier)"
                if self.baseline.startswith("year")
                else ""
            )
            + (" (against the trend)" if self.baseline.endswith("with trend") else "")
        )


def surge_factor(
    series: DailySeries,
    window_start: date,
    *,
    window_days: int = 28,
    baseline_days: int = 56,
    gap_days: int = 0,
    baseline: str = "before",
    trend: bool = False,
) -> SurgeResult:
    """The level in ``window_days`` from ``window_start`` against a baseline, from a
    quasi-Poisson regression with day-of-week effects; the factor is exp(surge coefficient),
    its 95% interval uses the estimated dispersion.

    ``baseline="before"``: the ``baseline_days`` before the window. ``baseline="year"``: the
    same stretch (weeks before and window) 52 weeks earlier too, with a term for the level of
    each year (the trend between years) and one for the season of the window, so that the
    factor is the change this year beyond the change the same weeks saw a year earlier.

    ``trend``: also a straight-line trend in time (within each year), so that a steady growth
    of volume is not read as a surge: the factor is then against the trend extrapolated into
    the window.
    """
    import statsmodels.api as sm

    if baseline not in ("before", "year"):
        raise ValueError(f"baseline must be 'before' or 'year', got {baseline!r}")
    label = series.label()
    w0 = series.index(window_start)
    spans = [(w0, 1.0)]
    if baseline == "year":
        spans.append((w0 - 364, 0.0))
    ys: list[F64] = []
    rows: list[F64] = []
    flags: list[F64] = []
    for start, this_year in spans:
        w1 = start + window_days
        b1 = start - gap_days
        b0 = b1 - baseline_days
        if b0 < 0:
            which = "a year earlier " if this_year == 0.0 else ""
            raise InsufficientDataError(
                f"{label}: the baseline {which}needs {baseline_days} days before "
                f"{series.day(start)}, the series starts {series.start}"
            )
        if w1 > len(series):
            raise InsufficientDataError(
                f"{label}: the window needs {window_days} days from {window_start}, the series "
                f"ends {series.end}"
            )
        idx = np.r_[np.arange(b0, b1), np.arange(start, w1)]
        in_window = np.r_[np.zeros(b1 - b0), np.ones(window_days)]
        dow = series.weekdays()[idx]
        columns = [np.ones(len(idx)), *[(dow == d).astype(float) for d in range(1, 7)]]
        if baseline == "year":
            columns += [np.full(len(idx), this_year), in_window]
        if trend:
            columns.append((idx - start) / 28.0)
        columns.append(in_window * this_year)
        ys.append(series.values[idx])
        rows.append(np.column_stack(columns))
        flags.append(in_window * this_year)
    y = np.concatenate(ys)
    design = np.vstack(rows)
    surge = np.concatenate(flags)
    keep = np.isfinite(y)
    if keep[surge == 0].sum() < 28 or keep[surge == 1].sum() < 7:
        raise InsufficientDataError(f"{label}: too many missing days in the baseline or window")
    y, design, surge = y[keep], design[keep], surge[keep]
    if np.any(y < 0):
        raise InsufficientDataError(f"{label}: negative counts")
    if y[surge == 0].sum() == 0:
        raise InsufficientDataError(f"{label}: the baseline has no counts at all")
    if y[surge == 1].sum() == 0:
        raise InsufficientDataError(f"{label}: too few counts (0 in the window) for a surge factor")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(y, design, family=sm.families.Poisson()).fit(scale="X2")
    beta = float(fit.params[-1])
    se = float(fit.bse[-1])
    if not (math.isfinite(beta) and math.isfinite(se)) or abs(beta) + 2 * se > 50:
        # No counts in the window, or so few that the interval spans everything.
        raise InsufficientDataError(
            f"{label}: too few counts ({y[surge == 1].sum():.0f} in the window, "
            f"{y[surge == 0].sum():.0f} in the baseline) for a surge factor"
        )
    expected_window = float(np.exp(design[surge == 1, :-1] @ fit.params[:-1]).sum())
    first_baseline = w0 - gap_days - baseline_days - (364 if baseline == "year" else 0)
    return SurgeResult(
        series=label,
        factor=math.exp(beta),
        low=math.exp(beta - 1.959964 * se),
        high=math.exp(beta + 1.959964 * se),
        window_start=window_start,
        window_end=series.day(w0 + window_days - 1),
        baseline_start=series.day(first_baseline),
        baseline_end=series.day(w0 - gap_days - 1),
        observed=float(y[surge == 1].sum()),
        expected=expected_window,
        dispersion=float(fit.scale),
        baseline=baseline + (" with trend" if trend else ""),
    )


# -- peak ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeakResult:
    series: str
    date: _Date
    low: _Date
    high: _Date
    level: float
    """Smoothed daily count at the peak (weekday-adjusted, 7-day mean)."""

    def explain(self) -> str:
        return (
            f"{self.series} peaked on {self.date:%d %b %Y} (95% interval "
            f"{day_span(self.low, self.high, self.date)}) at about {self.level:,.0f} a day"
        )


def _smooth(values: F64, width: int = 7) -> F64:
    """Centred moving mean (rows at a time for a 2-D array), zero-padded at the ends."""
    half = width // 2
    arr = np.atleast_2d(np.asarray(values, dtype=np.float64))
    padded = np.pad(arr, ((0, 0), (half + 1, half)))
    c = np.cumsum(padded, axis=1)
    out = (c[:, width:] - c[:, :-width]) / width
    return out[0] if np.ndim(values) == 1 else out


def peak(
    series: DailySeries,
    *,
    start: date | None = None,
    end: date | None = None,
    resamples: int = 200,
    seed: int = 0,
) -> PeakResult:
    """The day of the highest weekday-adjusted 7-day mean, with a parametric bootstrap
    interval (counts redrawn around the smoothed level with the series' own dispersion)."""
    if len(series) < 21:
        raise InsufficientDataError(f"{series.label()}: {len(series)} days; a peak needs 21")
    factors = weekday_factors(series)
    dow = series.weekdays()
    adjusted = series.values / factors[dow]
    _require_complete(series)
    lo = 3 if start is None else max(3, series.index(start))
    hi = len(series) - 3 if end is None else min(len(series) - 3, series.index(end) + 1)
    if hi - lo < 7:
        raise InsufficientDataError(f"{series.label()}: the peak search range is under a week")
    level = _smooth(adjusted)
    best = lo + int(np.argmax(level[lo:hi]))
    mean = np.clip(level * factors[dow], 1e-9, None)
    # dispersion from the residuals around the smooth level: var = mu + mu^2 / k
    resid = series.values[3:-3] - mean[3:-3]
    excess = float(np.mean(resid**2 - mean[3:-3]))
    k = float(np.mean(mean[3:-3] ** 2)) / excess if excess > 0 else 1e6
    # Only days whose smoothed level could plausibly top the peak can win a redraw: draw
    # those (with a margin for the smoothing) and leave out the rest of the series.
    sd = np.sqrt((mean + mean**2 / k) / 7) / factors[dow]
    plausible = np.flatnonzero(level[lo:hi] + 3 * sd[lo:hi] >= level[best] - 3 * sd[best]) + lo
    d0, d1 = max(0, int(plausible.min()) - 3), min(len(mean), int(plausible.max()) + 4)
    rng = np.random.default_rng(seed)
    mu = mean[d0:d1]
    if mu.min() >= 30:
        # Busy series: the negative binomial is close to normal, and much cheaper to draw.
        sd_count = np.sqrt(mu + mu**2 / k)
        counts = np.clip(mu + sd_count * rng.standard_normal((resamples, d1 - d0)), 0, None)
    else:
        rates = rng.gamma(shape=k, scale=mu / k, size=(resamples, d1 - d0))
        counts = rng.poisson(rates).astype(np.float64)
    draws = counts / factors[dow[d0:d1]]
    smooth = _smooth(draws)
    s0, s1 = max(lo, d0 + 3) - d0, min(hi, d1 - 3) - d0
    if s1 <= s0:  # a peak at the very edge: the window is the days drawn
        s0, s1 = 0, d1 - d0
    peaks = d0 + s0 + np.argmax(smooth[:, s0:s1], axis=1)
    low, high = np.percentile(peaks, [2.5, 97.5])
    return PeakResult(
        series=series.label(),
        date=series.day(best),
        low=series.day(math.floor(low)),
        high=series.day(math.ceil(high)),
        level=float(level[best]),
    )


# -- lag -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LagResult:
    series: str
    event: str
    event_date: date
    days: int
    low: int
    high: int
    to: str
    """``change`` or ``peak``."""

    def explain(self) -> str:
        when = "after" if self.days >= 0 else "before"
        return (
            f"the {self.to} in {self.series} came {day_count(abs(self.days))} {when} the "
            f"{self.event} ({self.event_date:%d %b %Y}; interval {self.low} to {self.high} days)"
        )


def lag_from_event(event: str, event_date: date, result: ChangeResult | PeakResult) -> LagResult:
    """Days from an event to a change or peak, with the interval carried over."""
    return LagResult(
        series=result.series,
        event=event,
        event_date=event_date,
        days=(result.date - event_date).days,
        low=(result.low - event_date).days,
        high=(result.high - event_date).days,
        to="change" if isinstance(result, ChangeResult) else "peak",
    )
