"""Benchmark: the trend analyses at scale, and the generic change points (issue 5).

Prints two JSON lines.

1. ``trends``: 250 countries x 3 years x 10 metrics of generated daily counts (2,500 series of
   1,096 days), each series analysed as ``tipwatch trends`` and ``tipwatch alerts`` do: surge
   factor from its own event, change with onset and interval, peak with a 200-draw bootstrap,
   lags; per metric the alignment test (200 placebos) and the surge alerts of every day with
   false-discovery control. Baseline in the same run: generating the series (the cost of
   merely having the data in memory).
2. ``changepoints``: ``tipwatch.trends.changepoints`` on a 100,000-point series with 49 level
   shifts against ruptures' binary segmentation (``Binseg``, ``l2`` cost, the same penalty)
   on the same series, with both results compared.

    python benchmarks/trends.py
    python benchmarks/trends.py --countries 50 --metrics 2     # quicker
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np


def generate(countries: int, metrics: int, seed: int = 1) -> tuple[list, list, float]:  # type: ignore[type-arg]
    from tipwatch.trends.analysis import DailySeries
    from tipwatch.trends.events import Event
    from tipwatch.trends.simulate import SurgeTruth, simulate_counts

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    per_metric = []
    events = []
    for c in range(countries):
        code = f"{chr(65 + c // 26 % 26)}{chr(65 + c % 26)}"
        events.append(
            Event(
                code,
                date(2020, 3, 1) + timedelta(days=int(rng.integers(0, 30))),
                "stay-at-home",
                "",
                "bench",
            )
        )
    for m in range(metrics):
        series = {}
        for c, event in enumerate(events):
            truth = SurgeTruth(
                country=event.country,
                start=date(2018, 1, 1),
                days=1096,
                baseline=float(rng.choice([20, 100, 500, 3000])),
                event=event.date if c % 5 else None,  # a fifth never surges
                lag=int(rng.integers(0, 8)),
                peak_factor=float(rng.uniform(1.3, 3.0)),
                ramp=int(rng.integers(3, 11)),
            )
            series[event.country] = DailySeries(
                truth.start, simulate_counts(truth, rng), event.country, f"metric{m}"
            )
        per_metric.append(series)
    return per_metric, events, time.perf_counter() - start


def analyse(per_metric: list, events: list) -> dict[str, float]:  # type: ignore[type-arg]
    from tipwatch.trends.alerts import surge_alerts
    from tipwatch.trends.countries import alignment_test, analyse_countries

    stages = {"country analyses": 0.0, "alignment": 0.0, "alerts": 0.0}
    problems = 0
    for series in per_metric:
        t = time.perf_counter()
        results = analyse_countries(series, events)
        problems += sum(bool(r.problems) for r in results)
        stages["country analyses"] += time.perf_counter() - t
        t = time.perf_counter()
        alignment_test(series, events)
        stages["alignment"] += time.perf_counter() - t
        t = time.perf_counter()
        surge_alerts(series)
        stages["alerts"] += time.perf_counter() - t
    stages["series_with_a_problem"] = problems
    return stages


def changepoint_race(points: int = 100_000) -> dict[str, object]:
    import ruptures

    from tipwatch.trends.changepoints import DEFAULT_PENALTY, changepoints, noise_sigma

    rng = np.random.default_rng(3)
    levels = rng.normal(0, 5, 50)
    y = np.repeat(levels, points // 50) + rng.normal(0, 1, points)
    t = time.perf_counter()
    ours = changepoints(y)
    ours_s = time.perf_counter() - t
    sigma = noise_sigma(y)
    pen = DEFAULT_PENALTY * sigma**2 * math.log(len(y))
    t = time.perf_counter()
    theirs = ruptures.Binseg(model="l2", min_size=5, jump=1).fit(y).predict(pen=pen)[:-1]
    theirs_s = time.perf_counter() - t
    truth = [i * (points // 50) for i in range(1, 50)]
    return {
        "benchmark": "changepoints",
        "points": len(y),
        "true_changes": len(truth),
        "tipwatch_s": round(ours_s, 3),
        "tipwatch_found": len(ours),
        "tipwatch_within_5_of_truth": sum(any(abs(o - t) <= 5 for o in ours) for t in truth),
        "baseline_ruptures_binseg_s": round(theirs_s, 3),
        "ruptures_found": len(theirs),
        "ruptures_within_5_of_truth": sum(any(abs(o - t) <= 5 for o in theirs) for t in truth),
        "speedup_vs_ruptures": round(theirs_s / ours_s, 1),
        "same_changes": sorted(ours) == sorted(theirs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--countries", type=int, default=250)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--skip-changepoints", action="store_true")
    args = parser.parse_args()
    per_metric, events, generate_s = generate(args.countries, args.metrics)
    start = time.perf_counter()
    stages = analyse(per_metric, events)
    total = time.perf_counter() - start
    print(
        json.dumps(
            {
                "benchmark": "trends",
                "countries": args.countries,
                "metrics": args.metrics,
                "days": 1096,
                "series": args.countries * args.metrics,
                "baseline_generate_series_s": round(generate_s, 2),
                "tipwatch_all_analyses_s": round(total, 2),
                "analyses_vs_generation": round(total / generate_s, 1),
                "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "date": datetime.now(UTC).date().isoformat(),
            }
        ),
        flush=True,
    )
    if not args.skip_changepoints:
        print(json.dumps(changepoint_race()), flush=True)


if __name__ == "__main__":
    main()
