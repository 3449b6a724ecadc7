"""How well the country analyses recover a generated truth with the faults of real series.

:func:`faulty_accuracy` runs the analyses of ``tipwatch trends`` and ``tipwatch alerts`` on
:func:`~tipwatch.trends.simulate.faulty_scenario` countries (overdispersion, yearly growth,
gaps, one-day spikes, rises with ramps of 1 to 21 days, falls, volumes of 1 to 10,000 a day)
and counts, against the truth:

- rises with ramps of up to 7 days (at least 5 a day): the change found within 3 days;
- rises with 21-day ramps (at least 5 a day): the change found within 7 days;
- falls: reported as falls (direction ``down``), and so within 7 days;
- every country: the 95% interval of the surge factor covers the true factor;
- countries with no change: a change reported anyway;
- quiet countries (no change anywhere): country-years with a surge alert.

The benchmark (``benchmarks/trends_accuracy.py``) prints these for several overdispersion
levels; the tests check the bars at overdispersion 8 on fixed seeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from tipwatch.errors import InsufficientDataError
from tipwatch.trends.alerts import surge_alerts
from tipwatch.trends.analysis import DailySeries, detect_change, surge_factor
from tipwatch.trends.simulate import faulty_scenario, simulate_values, true_factor

__all__ = ["FaultyAccuracy", "faulty_accuracy"]

QUIET_WINDOW = date(2020, 3, 15)
"""Where the surge factor of a country with no change is measured from."""


@dataclass
class _Share:
    hits: int = 0
    total: int = 0

    def add(self, hit: bool) -> None:
        self.hits += bool(hit)
        self.total += 1

    @property
    def share(self) -> float:
        return self.hits / self.total if self.total else float("nan")


@dataclass
class FaultyAccuracy:
    dispersion: float
    fast_rises_within_3: _Share = field(default_factory=_Share)
    """Rises with ramps of 1 to 7 days, at least 5 a day: the change within 3 days."""
    slow_rises_within_7: _Share = field(default_factory=_Share)
    """Rises with 21-day ramps, at least 5 a day: the change within 7 days."""
    middle_rises_within_7: _Share = field(default_factory=_Share)
    """Rises with ramps of 8 to 20 days, at least 5 a day: the change within 7 days."""
    quiet_rises_within_3: _Share = field(default_factory=_Share)
    """Rises with ramps of up to 7 days below 5 a day: the change within 3 days."""
    falls_found: _Share = field(default_factory=_Share)
    """Falls found as falls within 7 days."""
    falls_as_falls: _Share = field(default_factory=_Share)
    """Falls whose change is reported as a fall (direction ``down``), whatever its date."""
    intervals_cover: _Share = field(default_factory=_Share)
    """95% intervals of the surge factor that cover the true factor."""
    no_factor: int = 0
    """Countries without a surge factor (the analysis said why)."""
    false_changes: _Share = field(default_factory=_Share)
    """Countries with no change that got one."""
    alerted_country_years: _Share = field(default_factory=_Share)
    """Country-years of quiet countries with at least one surge alert."""
    fall_alerted_country_years: _Share = field(default_factory=_Share)
    """Country-years of quiet countries with at least one fall alert."""

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"dispersion": self.dispersion}
        for name, value in vars(self).items():
            if isinstance(value, _Share):
                out[name] = round(value.share, 3)
                out[f"{name}_n"] = value.total
        out["no_factor"] = self.no_factor
        return out


def faulty_accuracy(
    dispersion: float, seeds: Iterable[int], *, countries: int = 40, quiet_countries: int = 20
) -> FaultyAccuracy:
    """Score the analyses on ``faulty_scenario`` worlds of the given seeds."""
    score = FaultyAccuracy(dispersion)
    for seed in seeds:
        rng = np.random.default_rng(10_000 + seed)
        for truth in faulty_scenario(seed, countries, dispersion=dispersion):
            s = DailySeries(truth.start, simulate_values(truth, rng), truth.country)
            start = truth.surge_start
            try:
                change = detect_change(s)
            except InsufficientDataError:
                change = None
            off = None if change is None or start is None else abs((change.date - start).days)
            busy = truth.baseline >= 5
            if truth.direction == "up":
                rose = change is not None and change.direction == "up" and off is not None
                if truth.ramp <= 7:
                    (score.fast_rises_within_3 if busy else score.quiet_rises_within_3).add(
                        rose and off is not None and off <= 3
                    )
                elif busy and truth.ramp == 21:
                    score.slow_rises_within_7.add(rose and off is not None and off <= 7)
                elif busy:
                    score.middle_rises_within_7.add(rose and off is not None and off <= 7)
            elif truth.direction == "down":
                score.falls_as_falls.add(change is not None and change.direction == "down")
                score.falls_found.add(
                    change is not None
                    and change.direction == "down"
                    and off is not None
                    and off <= 7
                )
            else:
                score.false_changes.add(change is not None)
            window = start or QUIET_WINDOW
            try:
                surge = surge_factor(s, window)
            except InsufficientDataError:
                score.no_factor += 1
                continue
            score.intervals_cover.add(surge.low <= true_factor(truth, window) <= surge.high)
        quiet = faulty_scenario(seed + 5_000, quiet_countries, dispersion=dispersion, quiet=True)
        series = {
            t.country: DailySeries(t.start, simulate_values(t, rng), t.country) for t in quiet
        }
        alerts = surge_alerts(series)
        surged = {(a.country, a.day.year) for a in alerts if a.direction == "up"}
        fell = {(a.country, a.day.year) for a in alerts if a.direction == "down"}
        for t in quiet:
            for year in (2019, 2020):
                score.alerted_country_years.add((t.country, year) in surged)
                score.fall_alerted_country_years.add((t.country, year) in fell)
    return score
