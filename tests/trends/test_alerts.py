"""Alerts: false alarms on quiet series, detection of surges, FDR, data-quality alerts."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tipwatch.store import Store
from tipwatch.trends.alerts import (
    Alert,
    QualityAlert,
    benjamini_hochberg,
    quality_alerts,
    quality_episodes,
    surge_alerts,
    surge_episodes,
)
from tipwatch.trends.analysis import DailySeries, detect_change, surge_factor
from tipwatch.trends.signals import import_feed, signal_series
from tipwatch.trends.simulate import quiet_scenario, simulate_counts, surge_scenario


@pytest.mark.parametrize("seed", [21, 22])
def test_quiet_series_raise_at_most_one_yellow_per_country_year(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truths = quiet_scenario(seed)
    series = {t.country: DailySeries(t.start, simulate_counts(t, rng), t.country) for t in truths}
    alerts = surge_alerts(series)
    yellow = sum(a.level == "yellow" for a in alerts)
    assert yellow / len(truths) <= 1.0, f"{yellow} yellow alerts in {len(truths)} country-years"


def test_surges_are_alerted_after_their_start() -> None:
    rng = np.random.default_rng(7)
    truths = surge_scenario(7)
    series = {t.country: DailySeries(t.start, simulate_counts(t, rng), t.country) for t in truths}
    alerts = [a for a in surge_alerts(series) if a.direction == "up"]
    first: dict[str, date] = {}
    for a in alerts:
        first.setdefault(a.country, a.day)
    detected = 0
    for t in truths:
        assert t.surge_start is not None
        day = first.get(t.country)
        detected += day is not None and t.surge_start <= day <= t.surge_start + timedelta(days=14)
    assert detected / len(truths) >= 0.8
    assert all(a.observed > a.expected and a.q_value <= 0.01 for a in alerts)
    assert any(a.level == "red" for a in alerts)


def test_benjamini_hochberg() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    q = benjamini_hochberg(p)
    assert np.allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    many = rng.uniform(0, 0.2, 50)
    assert np.allclose(benjamini_hochberg(many), multipletests(many, method="fdr_bh")[1])
    assert np.isnan(q[4])
    assert np.isnan(benjamini_hochberg(np.array([np.nan]))).all()


def test_gaps_in_a_feed_are_data_quality_alerts_not_zeros(store: Store, tmp_path: Path) -> None:
    lines = ["date,country,metric,value"]
    rng = np.random.default_rng(1)
    for i in range(120):
        if 60 <= i < 63:
            continue  # three days the feed did not report
        lines.append(f"{date(2020, 1, 1) + timedelta(days=i)},NL,calls,{rng.poisson(50)}")
    path = tmp_path / "calls.csv"
    path.write_text("\n".join(lines) + "\n")
    import_feed(store, path, "metric")
    series = signal_series(store, "calls")
    nl = series["NL"]
    assert np.isnan(nl.values[60:63]).all() and len(nl) == 120
    gaps = [a for a in quality_alerts(None, series) if a.kind == "gap"]
    assert [a.day for a in gaps] == [date(2020, 3, 1) + timedelta(days=i) for i in range(3)]
    # the change search leaves the missing days out too: no change, and the days are counted
    assert detect_change(nl) is None
    # the surge factor leaves the missing days out instead of reading them as zeros
    result = surge_factor(nl, date(2020, 3, 20))
    assert 0.8 < result.factor < 1.25


def test_zero_day_in_a_busy_series_is_a_gap() -> None:
    rng = np.random.default_rng(3)
    values = rng.poisson(80, 100).astype(float)
    values[50] = 0
    alerts = quality_alerts(None, {"NL": DailySeries(date(2020, 1, 1), values, "NL")})
    assert [(a.kind, a.day) for a in alerts] == [("gap", date(2020, 2, 20))]


def test_dominant_service_and_viral_batch_from_the_store(store: Store, tmp_path: Path) -> None:
    import json

    from tipwatch.intake import ingest_paths
    from tipwatch.trends.signals import referral_series
    from tipwatch.triage.run import triage_store

    rows = []
    n = 0

    def add(day: date, platform: str, md5: str | None = None) -> None:
        nonlocal n
        n += 1
        rows.append(
            {
                "report_id": f"q{n}",
                "incident_type": "child-pornography",
                "incident_time": f"{day}T09:00:00Z",
                "platform": platform,
                "supplied_geolocation": {"country_code": "NL"},
                "reported": [{"esp_identifier": f"user-{n}", "esp_service": platform}],
                "files": [{"file_id": "f", "hashes": {"md5": md5 or f"{n:032x}"}}],
            }
        )

    for i in range(30):  # a month with two services sharing the work
        day = date(2020, 3, 1) + timedelta(days=i)
        for k in range(12):
            add(day, "Service A" if k % 2 else "Service B")
    burst = date(2020, 3, 20)
    for _ in range(60):  # one day, Service C floods in
        add(burst, "Service C")
    meme = "ab" * 16
    viral_day = date(2020, 3, 25)
    for _ in range(40):  # one day, one item shared by 40 accounts
        add(viral_day, "Service A", meme)
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_paths(store, [path])
    triage_store(store)
    series = referral_series(store)
    alerts = {(a.kind, a.day) for a in quality_alerts(store, series)}
    assert ("dominant-service", burst) in alerts
    assert ("viral-batch", viral_day) in alerts
    # the viral day is also one service's day (40 of its 52 referrals): both are flagged
    assert {day for kind, day in alerts if kind == "dominant-service"} == {burst, viral_day}
    assert {kind for kind, _ in alerts} <= {"dominant-service", "viral-batch"}


def _alert(country: str, day: date, observed: float, level: str = "yellow") -> Alert:
    return Alert(country, "calls", day, observed, 10.0, 20.0, 1e-4, 1e-3, level)


def test_consecutive_surge_days_are_one_episode() -> None:
    d = date(2020, 3, 1)
    alerts = [
        _alert("NL", d, 30),
        _alert("BE", d + timedelta(days=1), 25),
        _alert("NL", d + timedelta(days=1), 50, "red"),
        _alert("NL", d + timedelta(days=2), 40),
        # a day without an alert ends the episode
        _alert("NL", d + timedelta(days=4), 22),
    ]
    episodes = surge_episodes(alerts)
    assert [(e.country, e.start, e.end, e.days, e.level, e.peak_day) for e in episodes] == [
        ("NL", d, d + timedelta(days=2), 3, "red", d + timedelta(days=1)),
        ("BE", d + timedelta(days=1), d + timedelta(days=1), 1, "yellow", d + timedelta(days=1)),
        ("NL", d + timedelta(days=4), d + timedelta(days=4), 1, "yellow", d + timedelta(days=4)),
    ]
    first = episodes[0]
    assert (first.observed, first.expected, first.peak_observed) == (120.0, 30.0, 50.0)
    assert "from 01 Mar 2020 to 03 Mar 2020 (3 days)" in first.explain()
    assert surge_episodes([]) == []


def test_consecutive_quality_alerts_of_one_kind_are_one_episode() -> None:
    d = date(2020, 1, 21)
    alerts = [
        QualityAlert("AT", d, "gap", "no data where about 150 were expected (an outage?)"),
        QualityAlert("AT", d + timedelta(days=1), "gap", "no data"),
        QualityAlert("AT", d + timedelta(days=1), "viral-batch", "9 of 20"),
        QualityAlert("all", d, "service-outage", "svc-a sent no referrals (usually about 9)"),
        QualityAlert("all", d + timedelta(days=1), "service-outage", "svc-b sent no referrals"),
    ]
    episodes = quality_episodes(alerts)
    assert [(e.country, e.kind, e.start, e.end, e.days) for e in episodes] == [
        ("AT", "gap", d, d + timedelta(days=1), 2),
        ("all", "service-outage", d, d, 1),
        ("AT", "viral-batch", d + timedelta(days=1), d + timedelta(days=1), 1),
        ("all", "service-outage", d + timedelta(days=1), d + timedelta(days=1), 1),
    ]
    assert episodes[0].detail.startswith("2 days; the first: no data where about 150")


def test_quality_alerts_on_a_series_shorter_than_their_four_weeks() -> None:
    # 22 days (an assessment of a short month on a young store): a gap is still found, and the
    # level around each day is taken from the days the series has
    values = np.full(22, 30.0)
    values[10] = 0.0
    found = quality_alerts(None, {"NL": DailySeries(date(2020, 3, 10), values, "NL", "referrals")})
    assert [(a.day, a.kind) for a in found] == [(date(2020, 3, 20), "gap")]
