"""Accuracy of the trend analyses on generated series with a known truth.

Two parts, one JSON line per overdispersion level each.

1. ``trends_accuracy`` (clean series): for overdispersion 20, 50, 100, 10 scenarios of 30
   countries (half a year, each surging 1.5x to 3x a few days after its own event, ramps of 3
   to 10 days, weekly pattern), and 10 quiet years of 30 countries: the share of countries
   whose change date is within 3 days of the truth, the share whose 95% surge-factor interval
   covers the true factor, the share whose peak interval reaches the plateau, and yellow/red
   alerts per quiet country-year.
2. ``trends_accuracy_faulty`` (series with the faults of real data,
   ``tipwatch.trends.simulate.faulty_scenario``): for overdispersion 5, 8, 20, 50, ``--worlds``
   worlds of 40 countries over 2019-2020 (volumes of 1 to 10,000 a day, yearly growth of -10%
   to +25%, 7-day gaps anywhere, one-day spikes of 10x to 15x, rises of 1.5x to 3x with ramps
   of 1 to 21 days, falls to 40%-60%), and as many quiet worlds of 20 countries, scored by
   ``tipwatch.trends.accuracy.faulty_accuracy``. The bars at overdispersion 8: the change
   within 3 days for at least 90% of rises with ramps of up to 7 days (5 a day or more), within
   7 days for 80% of 21-day ramps, at least 90% of falls found as falls (within 7 days), 95%
   intervals covering the true factor for 90% to 97% of countries, surge alerts on at most 5%
   of quiet country-years.

    python benchmarks/trends_accuracy.py                 # both parts, 20 faulty worlds a level
    python benchmarks/trends_accuracy.py --skip-clean --worlds 40
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from tipwatch.trends.alerts import surge_alerts
from tipwatch.trends.analysis import DailySeries, detect_change, peak, surge_factor
from tipwatch.trends.simulate import quiet_scenario, simulate_counts, surge_scenario, true_factor


def faulty(worlds: int) -> None:
    from tipwatch.trends.accuracy import faulty_accuracy

    for dispersion in (5.0, 8.0, 20.0, 50.0):
        began = time.perf_counter()
        score = faulty_accuracy(dispersion, range(worlds))
        print(
            json.dumps(
                {
                    "benchmark": "trends_accuracy_faulty",
                    "worlds": worlds,
                    **score.as_dict(),
                    "seconds": round(time.perf_counter() - began, 1),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=20, help="faulty worlds per level")
    parser.add_argument("--skip-clean", action="store_true")
    parser.add_argument("--skip-faulty", action="store_true")
    args = parser.parse_args()
    if not args.skip_faulty:
        faulty(args.worlds)
    if args.skip_clean:
        return
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
