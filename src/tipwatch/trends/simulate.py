"""Generated daily count series with a known truth, for tests, benchmarks and the demo.

A country's expected daily count is its baseline level times a weekly pattern times a surge
multiplier. The surge starts ``lag`` days after the country's event, rises linearly to its peak
factor over ``ramp`` days, holds for ``plateau`` days and decays exponentially towards
``after`` (the level it settles at). A *fall* is the same with a factor below 1 that stays
(``after`` equal to it). Counts are negative-binomial around that expectation (overdispersion
``dispersion``: variance = mean + mean^2 / dispersion).

The faults of real series can be added: a steady yearly ``growth`` (or decline) of volume,
one-day ``spikes`` (a viral batch: 10 to 15 times the day's level), and ``gaps`` (days without
data: :func:`simulate_values` gives them as ``nan``, never as zero). :func:`faulty_scenario`
draws countries with all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "WEEKLY_PATTERN",
    "SurgeTruth",
    "expected_counts",
    "faulty_scenario",
    "missing_days",
    "simulate_counts",
    "simulate_values",
    "surge_multiplier",
    "surge_shape",
]

WEEKLY_PATTERN = (1.08, 1.05, 1.02, 1.0, 0.97, 0.9, 0.98)
"""Monday .. Sunday, mean about 1."""


@dataclass(frozen=True)
class SurgeTruth:
    """Everything that defines one generated series."""

    country: str
    start: date
    days: int
    baseline: float
    """Expected referrals a day before any surge."""
    event: date | None = None
    lag: int = 0
    """Days from the event to the start of the surge."""
    peak_factor: float = 1.0
    ramp: int = 7
    plateau: int = 14
    decay_days: float = 30.0
    after: float = 1.2
    dispersion: float = 20.0
    weekly: tuple[float, ...] = WEEKLY_PATTERN
    extra: dict[str, float] = field(default_factory=dict)
    growth: float = 0.0
    """Yearly growth of the volume (0.25: +25% a year, compounded daily; -0.1: a decline)."""
    spikes: tuple[tuple[date, float], ...] = ()
    """One-day spikes: (day, multiple of that day's expected count)."""
    gaps: tuple[tuple[date, int], ...] = ()
    """Stretches without data: (first day, number of days)."""

    @property
    def direction(self) -> str | None:
        """``up`` for a surge, ``down`` for a fall, ``None`` for no change."""
        if self.surge_start is None:
            return None
        return "up" if self.peak_factor > 1.0 else "down"

    @property
    def surge_start(self) -> date | None:
        if self.event is None or self.peak_factor == 1.0:
            return None
        return self.event + timedelta(days=self.lag)

    @property
    def peak_date(self) -> date | None:
        start = self.surge_start
        if start is None:
            return None
        # the middle of the plateau
        return start + timedelta(days=self.ramp + self.plateau // 2)

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def surge_shape(
    since: npt.ArrayLike,
    ramp: npt.ArrayLike,
    *,
    peak: float,
    plateau: int,
    decay_days: float,
    after: float,
) -> npt.NDArray[np.float64]:
    """The surge multiplier ``since`` days after the surge starts (1 before it): a straight
    rise to ``peak`` over ``ramp`` days, ``plateau`` days at it, then an exponential fade
    towards ``after``. ``since`` and ``ramp`` broadcast (a grid of onsets and ramps)."""
    t = np.asarray(since, dtype=np.float64)
    r = np.asarray(ramp, dtype=np.float64)
    out = np.ones(np.broadcast(t, r).shape)
    out = np.where((t >= 0) & (t < r), 1 + (peak - 1) * (t + 1) / r, out)
    out = np.where((t >= r) & (t < r + plateau), peak, out)
    faded = after + (peak - after) * np.exp(-np.clip(t - r - plateau, 0, None) / decay_days)
    return np.asarray(np.where(t >= r + plateau, faded, out), dtype=np.float64)


def surge_multiplier(truth: SurgeTruth) -> npt.NDArray[np.float64]:
    """The surge multiplier of each day (1 before the surge)."""
    start = truth.surge_start
    if start is None:
        return np.ones(truth.days)
    return surge_shape(
        np.arange(truth.days) - (start - truth.start).days,
        max(truth.ramp, 1),
        peak=truth.peak_factor,
        plateau=truth.plateau,
        decay_days=truth.decay_days,
        after=truth.after,
    )


def expected_counts(truth: SurgeTruth) -> npt.NDArray[np.float64]:
    weekday = np.array([(truth.start + timedelta(days=i)).weekday() for i in range(truth.days)])
    weekly = np.asarray(truth.weekly)[weekday]
    mean = np.asarray(truth.baseline * weekly * surge_multiplier(truth), dtype=np.float64)
    if truth.growth:
        mean = mean * (1.0 + truth.growth) ** (np.arange(truth.days) / 365.0)
    for day, multiple in truth.spikes:
        i = (day - truth.start).days
        if 0 <= i < truth.days:
            mean[i] *= multiple
    return mean


def missing_days(truth: SurgeTruth) -> npt.NDArray[np.bool_]:
    """True on the days without data (the truth's gaps)."""
    out = np.zeros(truth.days, dtype=bool)
    for first, days in truth.gaps:
        i = (first - truth.start).days
        out[max(i, 0) : max(i + days, 0)] = True
    return out


def simulate_counts(truth: SurgeTruth, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Negative-binomial daily counts around :func:`expected_counts`."""
    mean = expected_counts(truth)
    k = truth.dispersion
    # Gamma-Poisson mixture: the negative binomial with mean `mean` and shape `k`.
    rates = rng.gamma(shape=k, scale=mean / k)
    return rng.poisson(rates).astype(np.int64)


def simulate_values(truth: SurgeTruth, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """:func:`simulate_counts` as the values of a series: the gap days are ``nan``."""
    values = simulate_counts(truth, rng).astype(np.float64)
    values[missing_days(truth)] = np.nan
    return values


def true_factor(truth: SurgeTruth, window_start: date, days: int = 28) -> float:
    """The true surge factor of a window: expected counts in it over those expected without
    the surge (the weekly pattern weighs the days)."""
    m = surge_multiplier(truth)
    i0 = (window_start - truth.start).days
    weekday = (np.arange(truth.days) + truth.start.weekday()) % 7
    w = np.asarray(truth.weekly)[weekday][i0 : i0 + days]
    return float((m[i0 : i0 + days] * w).sum() / w.sum())


def surge_scenario(seed: int, countries: int = 30, *, dispersion: float = 50.0) -> list[SurgeTruth]:
    """The accuracy scenario: half a year from January for ``countries`` countries, each
    surging 1.5x to 3x 0 to 7 days after its own event (spread over March), ramps of 3 to 10
    days, a two-week plateau, baselines of 40 to 2,500 a day."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(countries):
        event = date(2020, 3, 1) + timedelta(days=int(rng.integers(0, 31)))
        out.append(
            SurgeTruth(
                country=f"C{i:02d}",
                start=date(2020, 1, 1),
                days=182,
                baseline=float(rng.choice([40, 150, 600, 2500])),
                event=event,
                lag=int(rng.integers(0, 8)),
                peak_factor=float(rng.uniform(1.5, 3.0)),
                ramp=int(rng.integers(3, 11)),
                plateau=14,
                dispersion=dispersion,
            )
        )
    return out


def quiet_scenario(seed: int, countries: int = 30, *, dispersion: float = 50.0) -> list[SurgeTruth]:
    """A year with no surge anywhere (for false alarms)."""
    rng = np.random.default_rng(seed)
    return [
        SurgeTruth(
            country=f"Q{i:02d}",
            start=date(2019, 1, 1),
            days=365,
            baseline=float(rng.choice([40, 150, 600, 2500])),
            dispersion=dispersion,
        )
        for i in range(countries)
    ]


def faulty_scenario(
    seed: int, countries: int = 40, *, dispersion: float = 8.0, quiet: bool = False
) -> list[SurgeTruth]:
    """Two years (2019 and 2020) of ``countries`` countries with the faults of real series.

    Volumes from 1 to 10,000 a day (log-uniform); yearly growth of -10% to +25%; a 7-day gap
    in seven countries of ten, and a second in three (anywhere, the year before included);
    one or two one-day spikes of 10 to 15 times the level in each country (anywhere). Each
    country's event falls in March 2020 and its change comes 0 to 7 days later. The countries
    take turns: two of five rise (1.5x to 3x, ramps of 1 to 7 days), one of five rises with a
    ramp of 8 to 21 days (half of them exactly 21), one of five falls to 40%-60% of its level
    for good (ramps of 1 to 14 days), one of five has no change. ``quiet``: none changes.
    """
    rng = np.random.default_rng(seed)
    start = date(2019, 1, 1)
    days = 731
    out = []
    for i in range(countries):
        kind = "none" if quiet else ("rise", "rise", "slow", "fall", "none")[i % 5]
        event = date(2020, 3, 1) + timedelta(days=int(rng.integers(0, 31)))
        baseline = float(np.exp(rng.uniform(0.0, np.log(10_000.0))))
        growth = float(rng.uniform(-0.10, 0.25))
        lag = int(rng.integers(0, 8))
        gaps = []
        for chance in (0.7, 0.3):
            if rng.random() < chance:
                gaps.append((start + timedelta(days=int(rng.integers(0, days - 7))), 7))
        spikes = tuple(
            (start + timedelta(days=int(rng.integers(0, days))), float(rng.uniform(10, 15)))
            for _ in range(int(rng.integers(1, 3)))
        )
        quiet_truth = SurgeTruth(
            country=f"F{i:02d}",
            start=start,
            days=days,
            baseline=baseline,
            dispersion=dispersion,
            growth=growth,
            spikes=spikes,
            gaps=tuple(gaps),
        )
        if kind == "none":
            out.append(quiet_truth)
        elif kind == "fall":
            factor = float(rng.uniform(0.4, 0.6))
            ramp = int(rng.integers(1, 15))
            out.append(
                replace(
                    quiet_truth,
                    event=event,
                    lag=lag,
                    peak_factor=factor,
                    ramp=ramp,
                    plateau=days,
                    after=factor,
                )
            )
        else:
            if kind == "rise":
                ramp = int(rng.integers(1, 8))
            else:
                ramp = 21 if rng.random() < 0.5 else int(rng.integers(8, 21))
            factor = float(rng.uniform(1.5, 3.0))
            out.append(
                replace(
                    quiet_truth, event=event, lag=lag, peak_factor=factor, ramp=ramp, plateau=14
                )
            )
    return out


def referral_records(
    truths: list[SurgeTruth], seed: int = 0, *, prefix: str = "sim"
) -> Iterator[dict[str, Any]]:
    """Minimal referrals in canonical JSON form that follow the truths' daily counts: one per
    counted event, at a random time of its day, with a supplied geolocation of the country.
    Benign, invented values only."""
    rng = np.random.default_rng(seed)
    n = 0
    for truth in truths:
        for i, count in enumerate(simulate_counts(truth, rng)):
            day = truth.start + timedelta(days=i)
            for _ in range(int(count)):
                n += 1
                second = int(rng.integers(0, 86400))
                yield {
                    "report_id": f"{prefix}-{n}",
                    "incident_type": "child-pornography",
                    "incident_time": f"{day.isoformat()}T{second // 3600:02d}:"
                    f"{second // 60 % 60:02d}:{second % 60:02d}Z",
                    "platform": "Example Photo Service",
                    "supplied_geolocation": {"country_code": truth.country, "source": "NCMEC"},
                    "reported": [{"esp_identifier": f"{prefix}-u{n}"}],
                }
