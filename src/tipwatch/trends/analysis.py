"""Analyses of one daily count series: surge factor, change, peak, lag from an event.

Every result carries the numbers behind it and can say itself in a sentence
(``explain()``), so that a report never prints a number without its interval and basis.
A series too short for what is asked raises :class:`~tipwatch.errors.InsufficientDataError`
saying what is missing, rather than returning a number that means nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from tipwatch.errors import InsufficientDataError
from tipwatch.trends.changepoints import Change, clip_spikes, detect_changes, noise_model, onset

__all__ = [
    "ChangeResult",
    "DailySeries",
    "LagResult",
    "PeakResult",
    "SurgeResult",
    "clip_spikes_of",
    "count_dispersion",
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
    return _weekday_factors_of(series.start, series.values.tobytes())


@lru_cache(maxsize=64)
def _weekday_factors_of(start: date, raw: bytes) -> F64:
    # one computation per series, however many analyses ask (read-only: it is shared)
    out = _weekday_factors(DailySeries(start, np.frombuffer(raw, dtype=np.float64)))
    out.setflags(write=False)
    return out


def _weekday_factors(series: DailySeries) -> F64:
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


def _adjusted(series: DailySeries) -> F64:
    """Weekday-adjusted, variance-stabilised values (square root of counts)."""
    factors = weekday_factors(series)
    y = series.values / factors[series.weekdays()]
    return np.sqrt(np.clip(y, 0, None) + 3.0 / 8.0)


def count_dispersion(series: DailySeries) -> float:
    """The negative-binomial shape ``k`` of a count series (variance = mean + mean^2 / k),
    measured robustly: from the day-to-day differences of the weekday-adjusted counts against
    a running median level, so that level shifts, gaps and one-day spikes barely move it.
    Large (1e6) where the counts are as steady as Poisson counts."""
    return _dispersion_of(series.start, series.values.tobytes())


@lru_cache(maxsize=64)
def _dispersion_of(start: date, raw: bytes) -> float:
    series = DailySeries(start, np.frombuffer(raw, dtype=np.float64))
    y = series.values / weekday_factors(series)[series.weekdays()]
    y = y[np.isfinite(y)]
    if len(y) < 15:
        return _POISSON_K
    level = np.maximum(_running_median(y, 7), 0.5)
    m = level[1:]
    d2 = np.diff(y) ** 2
    # For locally constant means, (y[t] - y[t-1])^2 / (2 (m + m^2 / k)) has the median of a
    # chi-square with one degree of freedom (0.455) when the noise is near normal: the k
    # where it does, read off a grid of k (the median grows with k).
    target = 0.4549
    grid = np.exp(np.linspace(math.log(0.2), math.log(_POISSON_K), 97))
    medians = np.median(d2[None, :] / (2 * (m[None, :] + m[None, :] ** 2 / grid[:, None])), axis=1)
    if medians[-1] <= target:
        return _POISSON_K
    i = int(np.argmax(medians > target))
    if i == 0:
        return float(grid[0])
    # interpolate log k between the last grid point below the target and the first above
    lo, hi = math.log(grid[i - 1]), math.log(grid[i])
    f0, f1 = float(medians[i - 1]), float(medians[i])
    return math.exp(lo + (target - f0) / (f1 - f0) * (hi - lo))


_POISSON_K = 1e6
OUTLIER_DEVIATIONS = 5.0
"""A day this many standard deviations above the running median of its week is a one-day
spike, left out of a surge factor (about 1 ordinary day in 5,000 at overdispersion 5)."""
SPIKE_DEVIATIONS = 4.0
"""A day this many noise deviations above the running median of its week (on the stabilised
scale of :func:`detect_change`) is a one-day spike, left out of the change search (a normal
day does so about once in 30,000 days)."""
ONSET_HISTORY = 42
"""Days of the old level fitted before the earliest onset :func:`detect_change` considers."""
ONSET_LATER = 28
"""How many days after the change found its onset may be placed (a surge that fades is often
found where its level is highest, a gradual one in the middle of its ramp)."""
SLOPE_PENALTY = 1.5
"""Price of a segment's line in :func:`detect_change` (x noise variance x log n): half that of a
change, so that a steady growth or decline of volume stays one trending segment."""


def _running_median(values: F64, half: int) -> F64:
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.asarray(np.median(windows, axis=1), dtype=np.float64)


def _stabilise(counts: F64, k: float) -> F64:
    """Variance-stabilising transform of negative-binomial counts of shape ``k``: about
    ``2 sqrt(y)`` for counts well below ``k``, a log for counts well above it; unit variance."""
    root_k = math.sqrt(k)
    return np.asarray(
        2 * root_k * np.arcsinh(np.sqrt((np.clip(counts, 0, None) + 3.0 / 8.0) / k)),
        dtype=np.float64,
    )


def _unstabilise(value: float, k: float) -> float:
    """The count level of a value on the :func:`_stabilise` scale."""
    return max(k * math.sinh(value / (2 * math.sqrt(k))) ** 2 - 3.0 / 8.0, 0.0)


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
    """``up`` (a rise) or ``down`` (a fall)."""
    missing_days: int = 0
    """Days without data in the series: left out of the search (never read as zero)."""

    def explain(self) -> str:
        verb = "rose" if self.direction == "up" else "fell"
        return (
            f"{self.series} {verb} on {self.date:%d %b %Y} (interval "
            f"{day_span(self.low, self.high, self.date)}), from about {_level(self.before)} to "
            f"{_level(self.after)} a day"
        )


def _level(value: float) -> str:
    """A daily level as a sentence gives it: whole numbers, a decimal below 10."""
    return f"{value:,.1f}" if value < 9.95 else f"{value:,.0f}"


def _episodes(changes: list[Change]) -> list[Change]:
    """The changes with each return folded into the change it ends: a rise followed by a fall
    that stays above the level before the rise (a surge that fades) is one episode, dated at
    its rise, as strong as the stronger of the two; likewise a fall and a partial recovery."""
    out: list[Change] = []
    for change in changes:
        if out:
            first = out[-1]
            up = first.after > first.before
            returns = (change.after < change.before) if up else (change.after > change.before)
            low, high = sorted((first.before, first.after))
            if returns and low <= change.after <= high:
                out[-1] = replace(first, gain=max(first.gain, change.gain))
                continue
        out.append(change)
    return out


def detect_change(series: DailySeries, *, direction: str = "any") -> ChangeResult | None:
    """The strongest change of level (``up``, ``down`` or ``any``), with its onset fitted as a
    ramp and a date interval; ``None`` when there is no change.

    The weekday-adjusted counts are put on a variance-stabilised scale for negative-binomial
    counts of the series' own dispersion (:func:`count_dispersion`: about a square root for
    quiet series, a log for busy ones, so that a rise and a fall of the same ratio weigh alike
    and a steady growth of volume is a straight line); one-day spikes (more than
    :data:`SPIKE_DEVIATIONS` above the running median of their week) are left out like days
    without data, milder outliers clipped; changes are found by binary segmentation whose
    segments are a level or a trend (a trend costs half a change, :data:`SLOPE_PENALTY`).
    Days without data are left out (the days either side of a gap are compared directly), so
    a gap never hides a change elsewhere and is never read as a fall to zero. A rise followed
    by a fall that stays above the level before it (a surge that fades), or a fall and a
    partial recovery, is one episode: with ``direction="any"`` it is reported at its start,
    as strong as the stronger of its two changes.

    The date is where the rise (or fall) begins: a flat level, a ramp of 1 to 28 days (a
    straight ramp of the counts; shorter ramps a priori likelier, the prior flat in the
    logarithm of the length), a new level, fitted to six weeks of the old level and the days
    after it, the onset within three weeks before and four after the change found; the date
    given is the onset most likely to be within 3 days of the truth for a ramp of up to a week,
    within 7 days for a longer one (each onset and ramp length weighed by its evidence). The
    interval holds the onsets within the 95% likelihood-ratio bound of the best. Onsets, ramps
    and tolerances are counted in calendar days: a gap or a spike left out inside the window
    neither shortens a ramp nor moves the date."""
    if direction not in ("up", "down", "any"):
        raise ValueError(f"direction must be up, down or any, got {direction!r}")
    if len(series) < 28:
        raise InsufficientDataError(
            f"{series.label()}: {len(series)} days; finding a change needs at least 28"
        )
    known = np.flatnonzero(np.isfinite(series.values))
    if len(known) < 28:
        raise InsufficientDataError(
            f"{series.label()}: {day_count(len(known))} with a value; finding a change needs "
            "at least 28"
        )
    k = count_dispersion(series)
    adjusted = series.values / weekday_factors(series)[series.weekdays()]
    z = _stabilise(adjusted[known], k)
    # One-day spikes (a viral batch) are left out of the search and the onset fit, as days
    # without data are; milder outliers are clipped.
    spread = noise_model(z).sigma
    ordinary = z - _running_median(z, 3) <= SPIKE_DEVIATIONS * spread
    used = known[ordinary]
    z = clip_spikes(z[ordinary], spread)
    changes, sigma = detect_changes(z, transform="none", min_size=7, slope_penalty=SLOPE_PENALTY)
    if direction == "any":
        changes = _episodes(changes)
    if direction == "up":
        changes = [c for c in changes if c.after > c.before]
    elif direction == "down":
        changes = [c for c in changes if c.after < c.before]
    if not changes:
        return None
    best = max(changes, key=lambda c: c.gain)
    rising = best.after > best.before
    lo_level, hi_level = _unstabilise(best.before, k), _unstabilise(best.after, k)
    g0, g1 = (
        float(_stabilise(np.array([lo_level]), k)[0]),
        float(_stabilise(np.array([hi_level]), k)[0]),
    )

    def count_ramp(x: F64) -> F64:
        # a straight ramp of the counts, seen on the stabilised scale
        return (_stabilise(lo_level + (hi_level - lo_level) * x, k) - g0) / (g1 - g0)

    # Onsets, ramps and their tolerances in calendar days: the days left out (gaps, spikes)
    # neither shorten a ramp nor bring the days either side of them closer.
    day, low, high = onset(
        z if rising else -z,
        best.index,
        sigma=sigma,
        before=21,
        after=0,
        later=ONSET_LATER,
        max_ramp=28,
        marginal=True,
        ramp_penalty=2.0,
        shape=count_ramp if g1 != g0 else None,
        tolerance=3,
        history=ONSET_HISTORY,
        gradual_tolerance=7,
        days=used.astype(np.float64),
    )
    last = len(series) - 1
    return ChangeResult(
        series=series.label(),
        date=series.day(min(day, last)),
        low=series.day(min(low, last)),
        high=series.day(min(high, last)),
        before=_unstabilise(best.before, k),
        after=_unstabilise(best.after, k),
        strength=best.gain,
        direction="up" if rising else "down",
        missing_days=len(series) - len(known),
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
    """Variance over mean of a day's count at the mean level (1 for Poisson noise, larger for
    overdispersed counts)."""
    baseline: str = "before"
    """``before`` (the weeks before) or ``year`` (also the same weeks a year earlier), with
    `` with trend`` when a time trend was fitted."""
    missing_days: int = 0
    """Days of the baseline and window without data: left out, never read as zero."""
    outliers: tuple[date, ...] = ()
    """One-day spikes left out of the fit (a batch, not the level)."""

    @property
    def excess(self) -> float:
        return self.observed - self.expected

    def caveats(self) -> str:
        """What was left out of the fit, in words (empty when nothing was)."""
        parts = []
        if self.missing_days:
            parts.append(f"{day_count(self.missing_days)} without data")
        if self.outliers:
            days = ", ".join(f"{d:%d %b %Y}" for d in self.outliers)
            parts.append(
                f"{len(self.outliers)} one-day spike{'s' if len(self.outliers) > 1 else ''} "
                f"({days})"
            )
        return f" (left out: {'; '.join(parts)})" if parts else ""

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
            + self.caveats()
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
    day_index: list[npt.NDArray[np.int64]] = []
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
        day_index.append(idx)
    y = np.concatenate(ys)
    design = np.vstack(rows)
    surge = np.concatenate(flags)
    days_used = np.concatenate(day_index)
    known = np.isfinite(y)
    missing = int((~known).sum())
    # One-day spikes (a viral batch) are left out, as days without data are: neither is the
    # level. They are the days far above the running median of their week.
    clipped = clip_spikes_of(series, OUTLIER_DEVIATIONS)[days_used]
    spike = known & (y > clipped)
    keep = known & ~spike
    if keep[surge == 0].sum() < 28 or keep[surge == 1].sum() < 7:
        raise InsufficientDataError(f"{label}: too many missing days in the baseline or window")
    y, design, surge = y[keep], design[keep], surge[keep]
    if np.any(y < 0):
        raise InsufficientDataError(f"{label}: negative counts")
    if y[surge == 0].sum() == 0:
        raise InsufficientDataError(f"{label}: the baseline has no counts at all")
    if y[surge == 1].sum() == 0:
        raise InsufficientDataError(f"{label}: too few counts (0 in the window) for a surge factor")
    params, se, scale = _count_regression(y, design)
    beta = float(params[-1])
    if not (math.isfinite(beta) and math.isfinite(se)) or abs(beta) + 2 * se > 50:
        # No counts in the window, or so few that the interval spans everything.
        raise InsufficientDataError(
            f"{label}: too few counts ({y[surge == 1].sum():.0f} in the window, "
            f"{y[surge == 0].sum():.0f} in the baseline) for a surge factor"
        )
    expected_window = float(np.exp(design[surge == 1, :-1] @ params[:-1]).sum())
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
        dispersion=scale,
        baseline=baseline + (" with trend" if trend else ""),
        missing_days=missing,
        outliers=tuple(series.day(int(i)) for i in sorted(set(days_used[spike].tolist()))),
    )


def _count_regression(y: F64, design: F64) -> tuple[F64, float, float]:
    """Negative-binomial regression of ``y`` on ``design`` (log link): (coefficients, standard
    error of the last one, dispersion as variance over mean at the mean count).

    The shape is estimated by moments from a Poisson fit first; the standard error is then
    scaled by the Pearson statistic of the negative-binomial fit where that exceeds 1, so that
    the interval stays honest when the variance is not quite quadratic in the mean."""
    dof = max(len(y) - design.shape[1], 1)
    params, _, mu = _irls(y, design, 0.0, None)
    alpha = float(np.sum(((y - mu) ** 2 - mu) / np.maximum(mu, 1e-9) ** 2)) / dof
    if alpha <= 1e-6:
        alpha = 0.0
    else:
        params, _, mu = _irls(y, design, alpha, params)
    params, cov, mu = _irls(y, design, alpha, params)
    pearson = float(np.sum((y - mu) ** 2 / np.maximum(mu + alpha * mu**2, 1e-12))) / dof
    scale = max(pearson, 1.0)
    se = math.sqrt(max(float(cov[-1, -1]), 0.0) * scale)
    mean = float(np.mean(mu))
    return params, se, 1.0 + alpha * mean if alpha > 0 else pearson


def _irls(
    y: F64, design: F64, alpha: float, start: F64 | None, iterations: int = 100
) -> tuple[F64, F64, F64]:
    """Maximum likelihood of a log-link count regression with variance mu + alpha mu^2
    (alpha 0: Poisson) by iteratively reweighted least squares: (coefficients, their
    covariance, fitted means)."""
    eta = np.log(y + 0.5) if start is None else design @ start
    params = np.zeros(design.shape[1]) if start is None else start
    previous = math.inf
    for _ in range(iterations):
        mu = np.exp(np.clip(eta, -30, 30))
        weight = mu / (1 + alpha * mu)
        working = eta + (y - mu) / mu
        xw = design * weight[:, None]
        information = design.T @ xw
        try:
            params = np.linalg.solve(information, xw.T @ working)
        except np.linalg.LinAlgError:
            params = np.linalg.lstsq(information, xw.T @ working, rcond=None)[0]
        eta = design @ params
        mu = np.exp(np.clip(eta, -30, 30))
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(y > 0, y * np.log(y / mu), 0.0)
        deviance = float(np.sum(logs - (y - mu)))
        if abs(previous - deviance) <= 1e-9 * (abs(deviance) + 1e-3):
            break
        previous = deviance
    mu = np.exp(np.clip(eta, -30, 30))
    weight = mu / (1 + alpha * mu)
    information = design.T @ (design * weight[:, None])
    try:
        cov = np.linalg.inv(information)
    except np.linalg.LinAlgError:
        cov = np.full_like(information, np.inf)
    return np.asarray(params, dtype=np.float64), cov, mu


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


def _smooth(values: F64, width: int = 7, min_known: int = 4) -> F64:
    """Centred moving mean of the known (finite) values (rows at a time for a 2-D array):
    ``nan`` where fewer than ``min_known`` of the ``width`` days are known."""
    half = width // 2
    arr = np.atleast_2d(np.asarray(values, dtype=np.float64))
    known = np.isfinite(arr)
    # the days known are the same in every row (draws of one series): count them once
    pattern = known[0] if bool((known == known[0]).all()) else None
    if pattern is not None:
        n = np.cumsum(np.pad(pattern.astype(np.float64), (half + 1, half)))
        seen = (n[width:] - n[:-width])[None, :]
        values_known = arr if pattern.all() else np.where(known, arr, 0.0)
    else:
        n = np.cumsum(np.pad(known.astype(np.float64), ((0, 0), (half + 1, half))), axis=1)
        seen = n[:, width:] - n[:, :-width]
        values_known = np.where(known, arr, 0.0)
    c = np.cumsum(np.pad(values_known, ((0, 0), (half + 1, half))), axis=1)
    total = c[:, width:] - c[:, :-width]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(seen >= min_known, total / seen, np.nan)
    return out[0] if np.ndim(values) == 1 else out


def clip_spikes_of(series: DailySeries, deviations: float = 4.0) -> F64:
    """The series' values with one-day spikes clipped to ``deviations`` standard deviations
    (negative binomial, the series' own dispersion) above the running median of the 15 days
    around them; days without data stay ``nan``."""
    y = np.asarray(series.values, dtype=np.float64)
    known = np.isfinite(y)
    if known.sum() <= 7:
        return y
    f = weekday_factors(series)[series.weekdays()]
    k = count_dispersion(series)
    m = np.full(len(y), np.nan)
    m[known] = _running_median(y[known] / f[known], 7) * f[known]
    bound = m + deviations * np.sqrt(m + m * m / k) + 1.0
    return np.where(known, np.minimum(y, bound), np.nan)


def peak(
    series: DailySeries,
    *,
    start: date | None = None,
    end: date | None = None,
    resamples: int = 200,
    seed: int = 0,
) -> PeakResult:
    """The day of the highest weekday-adjusted 7-day mean, with a parametric bootstrap
    interval (counts redrawn around the smoothed level with the series' own dispersion).

    Days without data are left out of the means (a mean needs 4 of its 7 days), and one-day
    spikes are clipped first (:func:`clip_spikes_of`): a viral batch is not a peak."""
    if len(series) < 21:
        raise InsufficientDataError(f"{series.label()}: {len(series)} days; a peak needs 21")
    factors = weekday_factors(series)
    dow = series.weekdays()
    known = np.isfinite(series.values)
    if known.sum() < 21:
        raise InsufficientDataError(
            f"{series.label()}: {day_count(int(known.sum()))} with a value; a peak needs 21"
        )
    adjusted = clip_spikes_of(series) / factors[dow]
    lo = 3 if start is None else max(3, series.index(start))
    hi = len(series) - 3 if end is None else min(len(series) - 3, series.index(end) + 1)
    if hi - lo < 7:
        raise InsufficientDataError(f"{series.label()}: the peak search range is under a week")
    level = _smooth(adjusted)
    if not np.isfinite(level[lo:hi]).any():
        raise InsufficientDataError(
            f"{series.label()}: no week in the peak search range has 4 days with a value"
        )
    best = lo + int(np.nanargmax(level[lo:hi]))
    finite = np.flatnonzero(np.isfinite(level))
    filled = np.interp(np.arange(len(level)), finite, level[finite])
    mean = np.clip(filled * factors[dow], 1e-9, None)
    k = count_dispersion(series)
    # Only days whose smoothed level could plausibly top the peak can win a redraw: draw
    # those (with a margin for the smoothing) and leave out the rest of the series.
    sd = np.sqrt((mean + mean**2 / k) / 7) / factors[dow]
    plausible = np.flatnonzero(filled[lo:hi] + 3 * sd[lo:hi] >= level[best] - 3 * sd[best]) + lo
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
    draws = np.where(known[d0:d1], counts, np.nan) / factors[dow[d0:d1]]
    smooth = np.nan_to_num(_smooth(draws), nan=-np.inf)
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
