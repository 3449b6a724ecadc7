"""Sentences a reader cannot catch out: intervals across a year show the years, levels are on
the scale of the data, and the alignment test says nothing it cannot back."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.errors import InsufficientDataError
from tipwatch.trends.analysis import ChangeResult, DailySeries, PeakResult, day_span
from tipwatch.trends.countries import alignment_test
from tipwatch.trends.events import Event
from tipwatch.trends.simulate import SurgeTruth, simulate_counts


def test_an_interval_across_a_year_shows_the_years() -> None:
    assert day_span(date(2020, 6, 23), date(2020, 7, 9)) == "23 Jun-09 Jul"
    assert day_span(date(2019, 6, 23), date(2020, 6, 9)) == "23 Jun 2019-09 Jun 2020"
    # An interval within one year, for a date in another (an interval that misses its date).
    assert day_span(date(2020, 1, 2), date(2020, 1, 5), date(2019, 12, 31)) == (
        "02 Jan 2020-05 Jan 2020"
    )
    change = ChangeResult(
        "calls in NL", date(2020, 1, 2), date(2019, 12, 28), date(2020, 1, 9), 10, 20, 30, "up"
    )
    assert "(interval 28 Dec 2019-09 Jan 2020)" in change.explain()
    peak = PeakResult("calls in NL", date(2020, 3, 1), date(2019, 6, 23), date(2020, 6, 9), 40)
    assert "(95% interval 23 Jun 2019-09 Jun 2020)" in peak.explain()
    same_year = PeakResult("calls in NL", date(2020, 3, 1), date(2020, 2, 20), date(2020, 3, 9), 4)
    assert "(95% interval 20 Feb-09 Mar)" in same_year.explain()


def _countries(gap_in: tuple[str, ...] = ()) -> tuple[dict[str, DailySeries], list[Event]]:
    """Five countries' daily counts for 2020 H1, each rising after its own event."""
    rng = np.random.default_rng(7)
    series: dict[str, DailySeries] = {}
    events: list[Event] = []
    for i, code in enumerate(("AT", "BE", "DK", "FI", "NL")):
        event = date(2020, 3, 1) + timedelta(days=6 * i)
        truth = SurgeTruth(code, date(2020, 1, 1), 180, 100, event, 2, 2.0, ramp=3)
        values = simulate_counts(truth, rng).astype(np.float64)
        if code in gap_in:
            values[20:27] = np.nan
        series[code] = DailySeries(truth.start, values, code, metric="calls")
        events.append(Event(code, event, "stay-at-home", "", "test"))
    return series, events


def test_alignment_leaves_out_series_with_missing_days() -> None:
    series, events = _countries(gap_in=("AT",))
    result = alignment_test(series, events, placebos=50)
    assert result.countries == 4 and result.left_out == ("AT",)
    assert np.isfinite(result.own_event_fit) and np.isfinite(result.common_date_fit)
    assert "left out (event outside the data, or days missing): AT" in result.explain()


def test_alignment_with_undefined_fits_is_not_stated() -> None:
    # Every series has missing days: no fit is defined, so no p-value may be printed.
    series, events = _countries(gap_in=("AT", "BE", "DK", "FI", "NL"))
    with pytest.raises(InsufficientDataError, match="days missing"):
        alignment_test(series, events, placebos=50)


def test_a_window_without_the_events_yields_no_finding() -> None:
    series, events = _countries()
    # Only May and June: every event (March) is outside the data.
    late = {
        c: DailySeries(date(2020, 5, 1), s.values[s.index(date(2020, 5, 1)) :], c, "calls")
        for c, s in series.items()
    }
    with pytest.raises(InsufficientDataError, match="event outside their data"):
        alignment_test(late, events, placebos=50)


def test_alignment_needs_events_on_different_dates() -> None:
    series, events = _countries()
    same = [Event(e.country, date(2020, 3, 10), e.kind, "", "test") for e in events]
    with pytest.raises(InsufficientDataError, match="different dates"):
        alignment_test(series, same, placebos=50)


def test_changepoints_of_counts_give_levels_on_the_scale_of_the_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    counts = np.r_[rng.poisson(10, 100), rng.poisson(40, 100)]
    path = tmp_path / "counts.csv"
    path.write_text("value\n" + "".join(f"{v}\n" for v in counts))
    result = CliRunner().invoke(app, ["changepoints", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert len(found) == 1 and abs(found[0]["index"] - 100) <= 3
    # About 10 and 40 referrals a day, not their square roots (about 3.2 and 6.3).
    assert 8 < found[0]["before"] < 12 and 36 < found[0]["after"] < 44
