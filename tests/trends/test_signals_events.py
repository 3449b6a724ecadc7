"""Events, feeds and referral series in the store (SQLite and PostgreSQL), and bad input."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tipwatch.errors import InputError, InsufficientDataError
from tipwatch.intake import ingest_paths
from tipwatch.store import Store
from tipwatch.trends.analysis import DailySeries, detect_change, peak, surge_factor
from tipwatch.trends.events import add_event, import_events, list_events, shipped_events, stringency
from tipwatch.trends.signals import import_feed, list_signals, referral_series, signal_series
from tipwatch.triage.counts import daily_counts_by_country
from tipwatch.triage.run import triage_store


def test_shipped_oxcgrt_events() -> None:
    events = {(e.country, e.kind): e.date for e in shipped_events()}
    assert date(2020, 3, 1) <= events[("NL", "stay-at-home")] <= date(2020, 4, 30)
    assert ("SE", "stay-at-home") not in events, "Sweden never required staying at home"
    assert ("SE", "school-closure") in events
    assert len({c for c, _ in events}) == 32
    assert 0 <= stringency()["NL"][date(2020, 4, 1)] <= 100


def test_user_events_replace_shipped_ones(store: Store, tmp_path: Path) -> None:
    add_event(store, "nl", date(2020, 3, 16), "stay-at-home", "announced")
    nl = list_events(store, country="NL", kind="stay-at-home")
    assert [(e.date, e.source) for e in nl] == [(date(2020, 3, 16), "user")]
    csv_file = tmp_path / "ev.csv"
    csv_file.write_text(
        "country,date,kind,label\n"
        "DE,2020-03-22,curfew,local\n"
        "XX,2020-03-22,curfew,\n"
        "DE,22/03/2020,curfew,\n"
        "DE,2020-03-23,bad kind!,\n"
    )
    stored, problems = import_events(store, csv_file)
    assert stored == 1
    assert len(problems) == 3
    assert "line 3: unknown country code 'XX'" in problems[0]
    assert "line 4: date must be YYYY-MM-DD" in problems[1]
    assert "line 5: event kind" in problems[2]
    with pytest.raises(InputError, match="unknown country code"):
        add_event(store, "Netherlands", date(2020, 3, 1), "x")


BLOCKED = """date,country,provider,method,list_name,list_size,requests_blocked,unique_clients
2020-04-01,GB,isp-a,http-proxy,iwf,5700,300000,1200
2020-04-01,GB,isp-b,dns,iwf,5700,200000,
2020-04-02,GB,isp-a,http-proxy,iwf,5710,310000,1300
2020-04-02,UK,isp-b,dns,iwf,5710,210000,
2020-04-03,GB,isp-a,http-proxy,iwf,5710,-5,
2020-04-03,GB,isp-b,dns,iwf,5710,many,
2020-04-03,ZZ,isp-b,dns,iwf,5710,10,
2020-04-01,GB,isp-a,http-proxy,iwf,5700,300001,
2020-04-04,GB,isp-a,pigeon,iwf,5700,1,
2020-13-01,GB,isp-a,dns,iwf,5700,1,
"""


def test_blocked_feed_with_bad_rows(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "blocked.csv"
    path.write_text(BLOCKED)
    result = import_feed(store, path, "blocked")
    assert result.rows == 10
    reasons = "\n".join(result.problems)
    assert len(result.problems) == 6, reasons
    assert "line 6: requests_blocked must be zero or more" in reasons
    assert "line 7: requests_blocked is not a number: 'many'" in reasons
    assert "line 8: unknown country code 'ZZ'" in reasons
    assert "line 9: duplicate of line 2" in reasons
    assert "line 10: method must be one of" in reasons
    assert "line 11: date must be YYYY-MM-DD" in reasons
    series = signal_series(store, "blocked_requests")
    assert list(series) == ["GB"]
    assert series["GB"].values.tolist() == [500000.0, 520000.0]  # UK read as GB
    # importing again replaces, never duplicates
    import_feed(store, path, "blocked")
    assert signal_series(store, "blocked_requests")["GB"].values.tolist() == [500000.0, 520000.0]
    listed = {(r["metric"], r["country"]): r["values"] for r in list_signals(store)}
    assert listed[("blocked_requests", "GB")] == 4
    assert listed[("blocked_clients", "GB")] == 2


def test_helpline_feed_by_age_band_and_weekly_values(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "help.csv"
    rows = ["date,country,helpline,age_band,topic,contacts"]
    for i in range(3):
        d = date(2020, 3, 1) + timedelta(days=i)
        rows.append(f"{d},NL,line-1,12-15,online,{10 + i}")
        rows.append(f"{d},NL,line-1,16-17,online,{20 + i}")
    path.write_text("\n".join(rows) + "\n")
    assert import_feed(store, path, "helpline").problems == []
    teen = signal_series(store, "helpline_contacts", where={"age_band": "12-15"})
    assert teen["NL"].values.tolist() == [10.0, 11.0, 12.0]
    assert signal_series(store, "helpline_contacts")["NL"].values.tolist() == [30.0, 32.0, 34.0]
    weekly = tmp_path / "weekly.csv"
    weekly.write_text("date,country,metric,value,period\n2020-03-02,NL,forum_posts,70,week\n")
    assert import_feed(store, weekly, "metric").values_stored == 1
    with pytest.raises(InputError, match="weekly values"):
        signal_series(store, "forum_posts")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("date,country\n2020-01-01,NL\n", "missing column"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_feed_files_that_cannot_be_read(
    store: Store, tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "f.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=message):
        import_feed(store, path, "metric")


def test_referral_series_by_attributed_country(store: Store, tmp_path: Path) -> None:
    lines = []
    for i in range(40):
        day = date(2020, 3, 1) + timedelta(days=i % 10)
        lines.append(
            json.dumps(
                {
                    "report_id": f"r{i}",
                    "incident_type": "online-enticement" if i % 4 == 0 else "child-pornography",
                    "incident_time": f"{day}T10:00:00Z",
                    "platform": "Example",
                    "supplied_geolocation": {"country_code": "NL" if i % 2 else "DE"},
                }
            )
        )
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    ingest_paths(store, [path])
    triage_store(store)
    series = referral_series(store)
    assert sorted(series) == ["DE", "NL"]
    assert series["NL"].values.sum() == 20 and len(series["NL"]) == 10
    enticement = referral_series(store, "incident_type:online-enticement")
    assert enticement["DE"].values.sum() == 10
    with pytest.raises(InputError, match="unknown referral metric"):
        referral_series(store, "nonsense")


def test_referrals_dated_outside_1990_to_next_year_stay_out_of_the_series(
    store: Store, tmp_path: Path
) -> None:
    """Intake keeps an incident time of 0001-01-01 or 9999-12-31 as written; a series that
    reached it would be millions of days long (a 6 GB array and a crash before)."""
    times = ["0001-01-01T00:00:00Z", "1850-01-01T00:00:00Z", "9999-12-31T00:00:00Z"]
    times += [f"2020-03-0{1 + i % 5}T10:00:00Z" for i in range(10)]
    path = tmp_path / "r.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "report_id": f"r{i}",
                    "incident_type": "child-pornography",
                    "incident_time": t,
                    "supplied_geolocation": {"country_code": "NL"},
                }
            )
            + "\n"
            for i, t in enumerate(times)
        )
    )
    assert ingest_paths(store, [path]).ingested == 13
    triage_store(store)
    series = referral_series(store)
    assert series["NL"].start == date(2020, 3, 1) and len(series["NL"]) == 5
    assert series["NL"].values.sum() == 10
    # the counts behind the data-quality alerts too (a day-by-day loop ran 3.6 million days)
    assert {c.day.year for c in daily_counts_by_country(store)} == {2020}


def test_too_short_series_say_what_is_missing() -> None:
    short = DailySeries(date(2020, 3, 1), np.ones(20) * 5, "NL")
    with pytest.raises(InsufficientDataError, match="baseline needs 56 days before 2020-03-10"):
        surge_factor(short, date(2020, 3, 10))
    with pytest.raises(InsufficientDataError, match="at least 28"):
        detect_change(short)
    with pytest.raises(InsufficientDataError, match="a peak needs 21"):
        peak(DailySeries(date(2020, 3, 1), np.ones(10), "NL"))
    gappy = DailySeries(date(2020, 1, 1), np.r_[np.ones(60) * 5, [np.nan] * 30], "NL")
    with pytest.raises(InsufficientDataError, match="missing"):
        surge_factor(gappy, date(2020, 3, 1))
    zeros = DailySeries(date(2020, 1, 1), np.zeros(90), "NL")
    with pytest.raises(InsufficientDataError, match="no counts"):
        surge_factor(zeros, date(2020, 3, 1))


def test_sparse_series_are_analysed_without_a_weekly_pattern() -> None:
    from tipwatch.trends.analysis import weekday_factors

    rng = np.random.default_rng(2)
    sparse = DailySeries(date(2020, 1, 1), rng.poisson(0.4, 182).astype(float), "MT")
    assert weekday_factors(sparse).tolist() == [1.0] * 7
    detect_change(sparse)  # no error, whatever it finds
    assert np.isfinite(surge_factor(sparse, date(2020, 3, 20)).factor)


def test_window_without_counts_says_so() -> None:
    values = np.r_[np.ones(60), np.zeros(28)]
    with pytest.raises(InsufficientDataError, match="too few counts \\(0 in the window"):
        surge_factor(DailySeries(date(2020, 1, 1), values, "MT"), date(2020, 3, 1))
