"""Accuracy on generated series with a known truth (the bars of the trends issue)."""

from __future__ import annotations

import numpy as np
import pytest

from tipwatch.trends.analysis import DailySeries, detect_change, peak, surge_factor
from tipwatch.trends.simulate import (
    simulate_counts,
    surge_scenario,
    true_factor,
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_change_dates_and_factor_intervals(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    truths = surge_scenario(seed)
    within = covered = 0
    for truth in truths:
        series = DailySeries(truth.start, simulate_counts(truth, rng), truth.country)
        change = detect_change(series)
        assert truth.surge_start is not None
        if change is not None and abs((change.date - truth.surge_start).days) <= 3:
            within += 1
        surge = surge_factor(series, truth.surge_start)
        covered += surge.low <= true_factor(truth, truth.surge_start) <= surge.high
    assert within / len(truths) >= 0.9, f"change within 3 days for {within}/{len(truths)}"
    assert covered / len(truths) >= 0.9, f"factor interval covers the truth {covered}/{len(truths)}"


def test_peak_interval_holds_the_plateau() -> None:
    rng = np.random.default_rng(9)
    truths = surge_scenario(4)
    hits = 0
    for truth in truths:
        series = DailySeries(truth.start, simulate_counts(truth, rng), truth.country)
        result = peak(series)
        start = truth.surge_start
        assert start is not None
        plateau = (start.toordinal() + truth.ramp, start.toordinal() + truth.ramp + truth.plateau)
        # the interval reaches into the plateau (the flat top where the peak truly lies)
        hits += result.low.toordinal() <= plateau[1] and result.high.toordinal() >= plateau[0]
    assert hits / len(truths) >= 0.9


def test_no_change_in_a_quiet_series_mostly() -> None:
    from tipwatch.trends.simulate import quiet_scenario

    rng = np.random.default_rng(5)
    truths = quiet_scenario(6)
    found = sum(
        detect_change(DailySeries(t.start, simulate_counts(t, rng), t.country)) is not None
        for t in truths
    )
    assert found <= 3, f"{found} of {len(truths)} quiet series show a change"


def test_year_earlier_baseline_removes_a_seasonal_rise() -> None:
    """Every March the counts rise 30%; in 2020 a 2x surge comes on top. Against the weeks
    before, the season inflates the factor; against the same weeks a year earlier it does not."""
    from datetime import date, timedelta

    from tipwatch.trends.simulate import SurgeTruth, expected_counts

    start = date(2019, 1, 1)
    truth = SurgeTruth(
        "NL", start, 550, 400.0, date(2020, 3, 16), 0, 2.0, ramp=1, plateau=60, dispersion=80
    )
    mean = expected_counts(truth)
    days = [start + timedelta(days=i) for i in range(truth.days)]
    season = np.array([1.3 if (d.month, d.day) >= (3, 16) and d.month <= 4 else 1.0 for d in days])
    rng = np.random.default_rng(11)
    k = truth.dispersion
    counts = rng.poisson(rng.gamma(k, mean * season / k))
    series = DailySeries(start, counts, "NL")
    before = surge_factor(series, date(2020, 3, 16))
    year = surge_factor(series, date(2020, 3, 16), baseline="year")
    assert before.low > 2.3, "the season inflates the factor against the weeks before"
    assert year.low <= 2.0 <= year.high
    assert "a year earlier" in year.explain()


def test_alignment_on_own_events_beats_a_common_date_and_placebos() -> None:
    from tipwatch.errors import InsufficientDataError
    from tipwatch.trends.countries import alignment_test
    from tipwatch.trends.events import Event

    rng = np.random.default_rng(12)
    truths = surge_scenario(12)
    series = {t.country: DailySeries(t.start, simulate_counts(t, rng), t.country) for t in truths}
    real = [Event(t.country, t.event, "stay-at-home", "", "test") for t in truths if t.event]
    result = alignment_test(series, real)
    assert result.improvement > 0 and result.placebo_p <= 0.01
    assert 0 <= result.lag <= 8
    # the sentence gives the count of placebos that fit as well, and the p-value it makes
    assert result.placebo_p == (result.placebos_as_good + 1) / (result.placebos + 1)
    text = result.explain()
    assert f"{result.placebos_as_good} of {result.placebos} placebos" in text
    assert f"(p = {result.placebo_p:.3f})" in text and "fits the series better" in text
    # the same series against dates that belong to other countries: no better than placebos
    wrong = [
        Event(e.country, real[(i + 11) % len(real)].date, "stay-at-home", "", "test")
        for i, e in enumerate(real)
    ]
    assert alignment_test(series, wrong).placebo_p > 0.05
    with pytest.raises(InsufficientDataError, match="at least 3 countries"):
        alignment_test(series, real[:2])


def test_trend_term_keeps_steady_growth_from_looking_like_a_surge() -> None:
    from datetime import date

    rng = np.random.default_rng(8)
    days = np.arange(200)
    mean = 200 * np.exp(days * 0.006)  # 0.6% a day: +18% a month, no surge at all
    counts = rng.poisson(rng.gamma(80, mean / 80))
    series = DailySeries(date(2020, 1, 1), counts, "NL")
    plain = surge_factor(series, date(2020, 5, 1))
    trended = surge_factor(series, date(2020, 5, 1), trend=True)
    assert plain.low > 1.1, "growth alone reads as a surge against a flat baseline"
    assert trended.low <= 1.0 <= trended.high
    assert "against the trend" in trended.explain()
