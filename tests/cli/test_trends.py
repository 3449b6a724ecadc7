"""The signals, events, trends, alerts and changepoints commands as an analyst runs them."""

from __future__ import annotations

import json
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.trends.simulate import SurgeTruth, simulate_counts

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def write_metric_feed(path: Path) -> dict[str, SurgeTruth]:
    """Daily values of one metric for four countries; three surge after their own events."""
    rng = np.random.default_rng(4)
    truths = {
        "AT": SurgeTruth("AT", date(2020, 1, 1), 150, 200, date(2020, 3, 16), 2, 2.2, ramp=4),
        "BE": SurgeTruth("BE", date(2020, 1, 1), 150, 300, date(2020, 3, 18), 2, 1.9, ramp=4),
        "DK": SurgeTruth("DK", date(2020, 1, 1), 150, 150, date(2020, 3, 13), 2, 2.5, ramp=4),
        "SE": SurgeTruth("SE", date(2020, 1, 1), 150, 250),
    }
    lines = ["date,country,metric,value"]
    for code, t in truths.items():
        for i, v in enumerate(simulate_counts(t, rng)):
            lines.append(f"{t.start + timedelta(days=i)},{code},calls,{v}")
    path.write_text("\n".join(lines) + "\n")
    return truths


def test_signals_events_trends_alerts(db_url: str, tmp_path: Path) -> None:
    truths = write_metric_feed(tmp_path / "calls.csv")
    code, out = invoke(
        "signals", "import", str(tmp_path / "calls.csv"), "--feed", "metric", "--db", db_url
    )
    assert code == 0 and "600 value(s) stored" in out
    code, out = invoke("signals", "list", "--db", db_url, "--format", "json")
    assert {r["country"] for r in json.loads(out)} == {"AT", "BE", "DK", "SE"}
    code, out = invoke("signals", "show", "calls", "--country", "AT", "--db", db_url)
    assert (
        code == 0 and out.splitlines()[0] == "date,country,value" and len(out.splitlines()) == 151
    )
    for c in ("AT", "BE", "DK"):
        t = truths[c]
        assert t.event is not None
        code, out = invoke("events", "add", c, t.event.isoformat(), "stay-at-home", "--db", db_url)
        assert code == 0, out
    code, out = invoke("events", "list", "--country", "SE", "--db", db_url)
    assert "school-closure" in out and "stay-at-home " not in out and "OxCGRT" in out
    code, out = invoke("trends", "--metric", "calls", "--db", db_url, "--format", "json")
    assert code == 0, out
    result = json.loads(out)
    by_country = {c["country"]: c for c in result["countries"]}
    for c in ("AT", "BE", "DK"):
        change = by_country[c]["change"]
        t = truths[c]
        assert t.surge_start is not None
        # one noisy series each: the 3-day bar over many countries is in test_accuracy.py
        assert abs((date.fromisoformat(change["date"]) - t.surge_start).days) <= 6
        assert by_country[c]["surge"]["low"] > 1.3
        assert any("stay-at-home order" in s for s in by_country[c]["sentences"])
    # Sweden never ordered people home: it counts from its recommendation, and says so
    se = by_country["SE"]
    assert se["event"]["kind"] == "stay-at-home-recommended"
    assert se["event"]["requested"] == "stay-at-home"
    assert any(
        "no stay-at-home order in the calendar; measured from its stay-at-home recommendation" in n
        for n in se["notes"]
    )
    assert se["surge"]["low"] <= 1.0 <= se["surge"]["high"]
    assert result["alignment"]["countries"] == 4
    code, out = invoke("trends", "--metric", "calls", "--db", db_url)
    assert code == 0 and "ran at" in out and "95% CI" in out
    code, out = invoke("alerts", "--metric", "calls", "--db", db_url, "--format", "json")
    alerts = [a for a in json.loads(out)["surge"] if a["direction"] == "up"]
    flagged = {a["country"] for a in alerts}
    assert {"AT", "BE", "DK"} <= flagged
    assert all(
        date.fromisoformat(a["start"]) >= date(2020, 3, 1) for a in alerts if a["country"] != "SE"
    )
    code, out = invoke("trends", "--metric", "nothing", "--db", db_url)
    assert code == 65 and "no data for nothing" in out


def _import_with_a_gap(db_url: str, tmp_path: Path) -> None:
    """The four countries' feed, with AT's 21-23 January left out (a gap), imported."""
    path = tmp_path / "calls.csv"
    write_metric_feed(path)
    gap = {f"2020-01-{d},AT," for d in (21, 22, 23)}
    lines = [ln for ln in path.read_text().splitlines() if ln[:14] not in gap]
    path.write_text("\n".join(lines) + "\n")
    code, out = invoke("signals", "import", str(path), "--feed", "metric", "--db", db_url)
    assert code == 0 and "597 value(s) stored" in out, out


def test_alerts_are_episodes_of_consecutive_days(db_url: str, tmp_path: Path) -> None:
    _import_with_a_gap(db_url, tmp_path)
    code, out = invoke("alerts", "--metric", "calls", "--db", db_url, "--format", "json")
    assert code == 0, out
    found = json.loads(out)
    surge = found["surge"]
    assert {"AT", "BE", "DK"} <= {e["country"] for e in surge}
    for e in surge:
        start, end = date.fromisoformat(e["start"]), date.fromisoformat(e["end"])
        assert e["days"] == (end - start).days + 1 >= 1
        assert start <= date.fromisoformat(e["peak_day"]) <= end
        above = e["peak_observed"] > e["peak_expected"]
        assert e["level"] in ("red", "yellow") and above == (e["direction"] == "up")
    # Episodes of one country neither touch nor overlap: touching days would be one episode.
    for c in {e["country"] for e in surge}:
        spans = sorted(
            (date.fromisoformat(e["start"]), date.fromisoformat(e["end"]))
            for e in surge
            if e["country"] == c
        )
        assert all((b[0] - a[1]).days >= 2 for a, b in pairwise(spans))
    # A surge of several weeks is few episodes, not one row a day.
    assert any(e["days"] >= 3 for e in surge)
    # The three missing days of AT are one data-quality episode.
    assert [
        (q["country"], q["kind"], q["start"], q["end"], q["days"]) for q in found["data_quality"]
    ] == [("AT", "gap", "2020-01-21", "2020-01-23", 3)]


def test_alerts_apply_dates_and_countries_to_every_alert(db_url: str, tmp_path: Path) -> None:
    _import_with_a_gap(db_url, tmp_path)
    args = ("alerts", "--metric", "calls", "--db", db_url, "--format", "json")
    code, out = invoke(*args, "--since", "2020-03-01")
    assert code == 0, out
    found = json.loads(out)
    # The January gap is before the dates asked for: it is not listed.
    assert found["data_quality"] == []
    assert found["surge"] and all(e["start"] >= "2020-03-01" for e in found["surge"])
    code, out = invoke(*args, "--until", "2020-01-22")
    found = json.loads(out)
    assert [(q["start"], q["end"]) for q in found["data_quality"]] == [("2020-01-21", "2020-01-22")]
    assert all(e["end"] <= "2020-01-22" for e in found["surge"])
    code, out = invoke(*args, "--country", "BE,dk")
    found = json.loads(out)
    assert {e["country"] for e in found["surge"]} == {"BE", "DK"}
    assert found["data_quality"] == []
    code, out = invoke(*args, "--country", "AT")
    found = json.loads(out)
    assert {e["country"] for e in found["surge"]} == {"AT"}
    assert [q["country"] for q in found["data_quality"]] == ["AT"]
    code, out = invoke(*args, "--country", "XX")
    assert code != 0 and "unknown country code 'XX'" in out
    code, out = invoke(*args, "--since", "2020-03-02", "--until", "2020-03-01")
    assert code != 0 and "after their end" in out
    # The table and CSV say the same episodes.
    code, out = invoke("alerts", "--metric", "calls", "--db", db_url, "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("start,end,days,country,kind,level")
    assert ",surge," in out
    assert "AT,gap" in out
    code, out = invoke("alerts", "--metric", "calls", "--db", db_url, "--country", "AT")
    assert code == 0 and "Surge alerts (" in out and " episodes;" in out
    assert "2020-01-21   2020-01-23   3      AT        gap" in out


def test_absurd_feed_rows_are_refused_and_alerts_stay_quick(db_url: str, tmp_path: Path) -> None:
    import time

    path = tmp_path / "calls.csv"
    write_metric_feed(path)
    hostile = [
        "0001-01-01,AT,calls,3",
        "9999-12-31,AT,calls,3",
        "1900-06-01,BE,calls,3",
        "2020-07-01,BE,calls,1e308",
        "2020-07-02,BE,calls,nan",
        "2020-07-03,BE,calls,-inf",
        "2020-07-04,BE,calls,-5",
    ]
    path.write_text(path.read_text() + "\n".join(hostile) + "\n")
    code, out = invoke("signals", "import", str(path), "--feed", "metric", "--db", db_url)
    assert code == 0 and "600 value(s) stored, 7 row(s) refused" in out, out
    for line in range(602, 609):
        assert f"line {line}:" in out
    began = time.perf_counter()
    code, out = invoke("alerts", "--metric", "calls", "--db", db_url, "--format", "json")
    assert code == 0, out
    assert time.perf_counter() - began < 20
    assert json.loads(out)["surge"]
    # a start or end outside the feeds' dates is refused at once, not analysed for minutes
    for command in ("trends", "alerts", "signals show"):
        code, out = invoke(
            *command.split(), *(["calls"] if command == "signals show" else ["--metric", "calls"]),
            "--since", "0476-05-28", "--db", db_url,
        )  # fmt: skip
        assert code == 65 and "0476-05-28 lies outside 1990-01-01" in out, (command, out)


def test_changepoints_command(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(10, 1, 100), rng.normal(20, 1, 100)]
    path = tmp_path / "s.csv"
    path.write_text("day,value\n" + "".join(f"d{i},{v:.3f}\n" for i, v in enumerate(values)))
    code, out = invoke("changepoints", str(path), "--format", "json")
    assert code == 0, out
    found = json.loads(out)
    assert len(found) == 1 and abs(found[0]["index"] - 100) <= 2
    assert found[0]["label"].startswith("d")
    flat = tmp_path / "flat.csv"
    flat.write_text("value\n" + "5\n" * 50)
    code, out = invoke("changepoints", str(flat))
    assert code == 0 and "No change in 50 values" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("value\n1\n2\nthree\n")
    code, out = invoke("changepoints", str(bad))
    assert code == 65 and "line 4" in out and "'three'" in out
    code, out = invoke("changepoints", str(path), "--column", "nope")
    assert code == 65 and "no column 'nope'" in out
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, out = invoke("changepoints", str(empty))
    assert code == 65 and "empty" in out
