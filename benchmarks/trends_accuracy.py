"""Accuracy of the trend analyses on generated series with a known truth (issue 5).

For each overdispersion level: 10 scenarios of 30 countries (half a year, each surging 1.5x to
3x a few days after its own event, ramps of 3 to 10 days, weekly pattern), and 10 quiet years
of 30 countries. Prints one JSON line per level: the share of countries whose change date is
within 3 days of the truth, the share whose 95% surge-factor interval covers the true factor,
the share whose peak interval reaches the plateau, and yellow/red alerts per quiet
country-year. The bars: 90%, 90%, and at most 1 yellow alert per country-year.

    python benchmarks/trends_accuracy.py
"""

from __future__ import annotations

import json

import numpy as np

from tipwatch.trends.alerts import surge_alerts
from tipwatch.trends.analysis import DailySeries, detect_change, peak, surge_factor
from tipwatch.trends.simulate import quiet_scenario, simulate_counts, surge_scenario, true_factor


def main() -> None:
    for dispersion in (20.0, 50.0, 100.0):
        within = covered = peaks = n = 0
        yellow = red = country_years = 0
        for seed in range(10):
            rng = np.random.default_rng(1000 + seed)
            for truth in surge_scenario(seed, dispersion=dispersion):
                s = DailySeries(truth.start, simulate_counts(truth, rng), truth.country)
                start = truth.surge_start
                assert start is not None
                change = detect_change(s)
                within += change is not None and abs((change.date - start).days) <= 3
                surge = surge_factor(s, start)
                covered += surge.low <= true_factor(truth, start) <= surge.high
                p = peak(s)
                top = (start.toordinal() + truth.ramp, start.toordinal() + truth.ramp + 14)
                peaks += p.low.toordinal() <= top[1] and p.high.toordinal() >= top[0]
                n += 1
            quiet = quiet_scenario(seed, dispersion=dispersion)
            series = {
                t.country: DailySeries(t.start, simulate_counts(t, rng), t.country) for t in quiet
            }
            alerts = surge_alerts(series)
            yellow += sum(a.level == "yellow" for a in alerts)
            red += sum(a.level == "red" for a in alerts)
            country_years += len(quiet)
        print(
            json.dumps(
                {
                    "benchmark": "trends_accuracy",
                    "dispersion": dispersion,
                    "noise_floor_cv": round(1 / dispersion**0.5, 3),
                    "surging_countries": n,
                    "change_within_3_days": round(within / n, 3),
                    "factor_interval_covers_truth": round(covered / n, 3),
                    "peak_interval_reaches_plateau": round(peaks / n, 3),
                    "quiet_country_years": country_years,
                    "yellow_alerts_per_country_year": round(yellow / country_years, 3),
                    "red_alerts_per_country_year": round(red / country_years, 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
