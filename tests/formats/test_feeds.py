"""Feed files (formats.feeds): typed values, and each bad row named by its line and problem."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tipwatch.errors import InputError
from tipwatch.formats.feeds import FeedRowError, FeedValue, latest_date, read_feed

LATEST = date(date.today().year + 1, 12, 31)

BLOCKED = """date,country,provider,method,list_name,list_size,requests_blocked,unique_clients
2020-04-01,GB,isp-a,http-proxy,iwf,5700,300000,1200
2020-04-01,UK,isp-a,http-proxy,iwf,5700,5,
2020-04-02,GB,isp-b,dns,,,7,
2020-04-03,GB,isp-b,dns,iwf,5710,7.5,
2020-04-03,GB,isp-b,dns,iwf,5710,7,8,9
"""


def test_blocked_rows_become_typed_values(tmp_path: Path) -> None:
    path = tmp_path / "blocked.csv"
    path.write_text(BLOCKED)
    read = read_feed(path, "blocked")
    assert read.rows == 5 and read.feed == "blocked" and read.source == str(path)
    dims = {"provider": "isp-a", "method": "http-proxy", "list_name": "iwf"}
    assert read.values == [
        FeedValue(2, "GB", "blocked_requests", "day", date(2020, 4, 1), 300000.0, dims),
        FeedValue(2, "GB", "blocked_clients", "day", date(2020, 4, 1), 1200.0, dims),
        FeedValue(2, "GB", "blocked_list_size", "day", date(2020, 4, 1), 5700.0, dims),
        # An empty optional dimension is left out of the dimensions.
        FeedValue(
            4,
            "GB",
            "blocked_requests",
            "day",
            date(2020, 4, 2),
            7.0,
            {"provider": "isp-b", "method": "dns"},
        ),
    ]
    assert read.problems == [
        # UK is GB: the same key as line 2.
        FeedRowError(
            f"{path}, line 3",
            3,
            "duplicate of line 2 (GB, 2020-04-01, blocked_requests, "
            '{"list_name": "iwf", "method": "http-proxy", "provider": "isp-a"})',
        ),
        FeedRowError(f"{path}, line 5", 5, "requests_blocked must be a whole number, got '7.5'"),
        FeedRowError(f"{path}, line 6", 6, "more cells than columns"),
    ]
    assert str(read.problems[2]) == f"{path}, line 6: more cells than columns"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2020-03-01,NL,calls,3,fortnight", "period must be day, week or month, got 'fortnight'"),
        ("2020-03-02,NL,calls,3,month", "a monthly value's date must be the first of the month"),
        ("2020-03-01,XX,calls,3,day", "unknown country code 'XX'"),
        ("2020-03-01,NL,,3,day", "metric must be a name of 1 to 120 characters"),
        ("2020-03-01,NL,calls,,day", "value is empty"),
        ("2020-03-01,NL,calls,inf,day", "value must be zero or more, got 'inf'"),
        ("2020-03-01,NL,calls,-inf,day", "value must be zero or more, got '-inf'"),
        ("2020-03-01,NL,calls,nan,day", "value must be zero or more, got 'nan'"),
        ("2020-03-01,NL,calls,-1,day", "value must be zero or more, got '-1'"),
        ("2020-03-01,NL,calls,1e308,day", "value must be at most 1e+15, got '1e308'"),
        ("1989-12-31,NL,calls,3,day", f"date must be from 1990-01-01 to {LATEST}, got 1989-12-31"),
        ("0001-01-01,NL,calls,3,day", f"date must be from 1990-01-01 to {LATEST}, got 0001-01-01"),
        (
            f"{LATEST + timedelta(days=1)},NL,calls,3,day",
            f"date must be from 1990-01-01 to {LATEST}, got {LATEST + timedelta(days=1)}",
        ),
    ],
)
def test_each_bad_row_names_its_line_and_problem(tmp_path: Path, row: str, problem: str) -> None:
    path = tmp_path / "metric.csv"
    path.write_text(f"date,country,metric,value,period\n2020-03-01,NL,calls,2.5,week\n{row}\n")
    read = read_feed(path, "metric")
    assert [(p.line, p.problem) for p in read.problems] == [(3, problem)]
    # The good row is read all the same; a metric's value need not be whole.
    assert [(v.metric, v.period, v.value) for v in read.values] == [("calls", "week", 2.5)]


def test_an_unknown_feed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("date\n")
    with pytest.raises(InputError, match="unknown feed 'weather'"):
        read_feed(path, "weather")


def test_the_date_range_ends_with_the_year_after_today() -> None:
    assert latest_date(date(2026, 1, 1)) == date(2027, 12, 31)
    assert latest_date(date(2026, 12, 31)) == date(2027, 12, 31)


def test_the_range_ends_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "metric.csv"
    path.write_text(f"date,country,metric,value\n1990-01-01,NL,calls,1e15\n{LATEST},NL,calls,0\n")
    read = read_feed(path, "metric")
    assert read.problems == []
    assert [(v.period_start, v.value) for v in read.values] == [
        (date(1990, 1, 1), 1e15),
        (LATEST, 0.0),
    ]
