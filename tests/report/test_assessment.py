"""The assessment on a small simulated world: findings checked against the numbers they cite,
the table sorts in a real browser, the command. The reader's checks on the demo (structure,
periods, browser, accessibility, print) are in ``test_assessment_reader.py``."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tipwatch.countries import country_name
from tipwatch.errors import InsufficientDataError
from tipwatch.intake import ingest_paths
from tipwatch.report.assessment import Assessment, build_assessment
from tipwatch.report.render import render_html
from tipwatch.store import Store
from tipwatch.trends.analysis import DailySeries, surge_factor
from tipwatch.trends.countries import rank_rises
from tipwatch.trends.events import add_event
from tipwatch.trends.signals import referral_series
from tipwatch.trends.simulate import SurgeTruth, referral_records
from tipwatch.triage.run import triage_store

TRUTHS = [
    SurgeTruth("NL", date(2020, 1, 1), 182, 14.0, date(2020, 3, 16), 2, 2.4, ramp=4),
    SurgeTruth("DE", date(2020, 1, 1), 182, 18.0, date(2020, 3, 22), 3, 1.9, ramp=5),
    SurgeTruth("FR", date(2020, 1, 1), 182, 12.0, date(2020, 3, 17), 1, 2.2, ramp=4),
    SurgeTruth("BE", date(2020, 1, 1), 182, 10.0, date(2020, 3, 18), 2, 2.0, ramp=4),
    SurgeTruth("SE", date(2020, 1, 1), 182, 9.0),  # no surge, no stay-at-home order
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of generated referrals (SQLite, built once for the module), triaged."""
    folder = tmp_path_factory.mktemp("world")
    path = folder / "referrals.jsonl"
    with path.open("w") as fh:
        for record in referral_records(TRUTHS, seed=3):
            fh.write(json.dumps(record) + "\n")
    store = Store.open(str(folder / "world.db"))
    ingest_paths(store, [path])
    triage_store(store)
    for t in TRUTHS:  # the simulated events replace the shipped dates
        if t.event:
            add_event(store, t.country, t.event, "stay-at-home", "simulated")
    store.close()
    return folder / "world.db"


@pytest.fixture(scope="module")
def assessment(world: Path) -> Assessment:
    store = Store.open(str(world))
    try:
        return build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
    finally:
        store.close()


def test_findings_match_the_numbers_they_cite(world: Path, assessment: Assessment) -> None:
    store = Store.open(str(world))
    series = referral_series(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
    store.close()
    findings = {f.text.split(" ")[0]: f for f in assessment.findings}
    assert assessment.findings == sorted(assessment.findings, key=lambda f: -f.weight)
    # 1. the overall surge, recomputed from the summed series
    overall = findings["Across"]
    total = DailySeries(date(2020, 1, 1), sum(s.values for s in series.values()), "", "x")
    check = surge_factor(total, overall.numbers["window_start"])
    assert overall.numbers["factor"] == pytest.approx(check.factor)
    assert f"{check.factor:.1f}x" in overall.text
    assert f"95% CI {check.low:.1f}-{check.high:.1f}" in overall.text
    assert overall.numbers["window_start"] == date(2020, 3, 18)  # median of the four events
    # 2. the clearest rises above baseline, each recomputed, ranked by the interval's low end
    top = findings["Clearest"]
    for country, factor in zip(top.numbers["countries"], top.numbers["factors"], strict=True):
        event = next(t.event for t in TRUTHS if t.country == country)
        assert event is not None
        again = surge_factor(series[country], event)
        assert factor == pytest.approx(again.factor)
        assert (
            f"{country_name(country)} {again.factor:.1f}x (95% CI {again.low:.1f}-{again.high:.1f}; "
            "shrunk"
            in top.text
        )
    # ranked by the lower end of the shrunk interval (every country here has ample counts)
    assert top.numbers["shrunk_lows"] == sorted(top.numbers["shrunk_lows"], reverse=True)
    assert top.numbers["not_ranked"] == []
    ranked, _ = rank_rises(assessment.trends)
    assert top.numbers["countries"] == [r.country for r in ranked[:3]]
    assert all(
        min(m, s) - 1e-9 <= s <= max(m, s) + 1e-9
        for m, s in zip(top.numbers["factors"], top.numbers["shrunk_factors"], strict=True)
    )
    # 3. lags: the numbers in the sentence are the numbers kept
    lag = findings["In"]
    for key in ("after", "of", "median_lag", "min_lag", "max_lag"):
        assert str(lag.numbers[key]) in lag.text
    lags = sorted(
        t.lag_to_change.days
        for t in assessment.trends
        if t.lag_to_change is not None and 0 <= t.lag_to_change.days <= 21
    )
    assert lag.numbers["after"] == len(lags) >= 3
    assert (lag.numbers["min_lag"], lag.numbers["max_lag"]) == (lags[0], lags[-1])
    assert lag.numbers["median_lag"] == lags[len(lags) // 2]
    # 4. the alignment test and what did not change
    # Sweden had no stay-at-home order: it counts from its recommendation, and the report says so
    assert any(f.text.startswith("Aligning each of 5 countries") for f in assessment.findings)
    assert any(
        f.text.startswith("No stay-at-home order in the calendar for 1 country")
        and "Sweden (stay-at-home recommendation)" in f.text
        for f in assessment.findings
    )
    assert any(
        f.text.startswith("No rise beyond the noise") and "Sweden" in f.text
        for f in assessment.findings
    )


def test_table_caveats_and_provenance(assessment: Assessment) -> None:
    rows = {r["country"]: r for r in assessment.table}
    assert set(rows) == {"BE", "DE", "FR", "NL", "SE"}
    assert rows["NL"]["factor_low"] > 1.5 and rows["NL"]["alert"] == "red"
    # Sweden, without a stay-at-home order, is measured from its recommendation: no rise
    assert rows["SE"]["factor_low"] <= 1.0 <= rows["SE"]["factor_high"]
    assert any("proxies" in c for c in assessment.caveats)
    assert re.fullmatch(r"[0-9a-f]{64}", assessment.provenance["inputs_sha256"])
    assert any("CC BY 4.0" in s for s in assessment.provenance["sources"])
    assert {"daily", "aligned", "ranking"} <= set(assessment.charts)


def test_same_data_same_fingerprint(world: Path, assessment: Assessment) -> None:
    store = Store.open(str(world))
    again = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
    other = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 29))
    store.close()
    assert again.provenance["inputs_sha256"] == assessment.provenance["inputs_sha256"]
    assert other.provenance["inputs_sha256"] != assessment.provenance["inputs_sha256"]


def test_empty_store_says_what_to_do(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "empty.db"))
    with pytest.raises(InsufficientDataError, match="run `tipwatch triage` first"):
        build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))


@pytest.fixture(scope="module")
def page(assessment: Assessment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "assessment.html"
    out.write_text(render_html(assessment), encoding="utf-8")
    return out


def test_html_is_self_contained(page: Path) -> None:
    html = page.read_text()
    assert len(html.encode()) < 10_000_000
    # nothing is fetched: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html
    assert html.count("<svg") >= 3


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_in_a_browser(page: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.on(
            "request",
            lambda r: (
                problems.append(f"fetched {r.url}") if not r.url.startswith("file:") else None
            ),
        )
        tab.goto(page.as_uri())
        charts = tab.locator("figure.chart")
        assert charts.count() >= 3
        for i in range(charts.count()):
            svg = charts.nth(i).locator("svg").first
            box = svg.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
            assert svg.locator("path").count() > 5, f"chart {i} drew nothing"
        # the table sorts by surge factor when its heading is clicked (twice: highest first)
        heading = tab.locator("#country-table th", has_text="surge factor")
        heading.click()
        heading.click()
        cells = tab.locator("#country-table tbody tr td:nth-child(4)").all_inner_texts()
        shown = [float(c) for c in cells if c.strip()]
        assert shown == sorted(shown, reverse=True) and len(shown) == 5
        tab.screenshot(path=str(tmp_path / "assessment.png"), full_page=True)
        browser.close()
    assert problems == []
    assert (tmp_path / "assessment.png").stat().st_size > 50_000


def test_assess_command(world: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tipwatch.cli import app

    runner = CliRunner()

    def assess(*options: str) -> Any:
        first_half = ["--since", "2020-01-01", "--until", "2020-06-30"]
        args = ["assess", *(options if "--since" in options else [*first_half, *options])]
        return runner.invoke(app, [*args, "--db", str(world)], env={"COLUMNS": "200"})

    out = tmp_path / "a.html"
    result = assess("--countries", "NL,DE,FR,SE", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and out.exists()
    html = out.read_text()
    assert "Executive summary" in html and "Netherlands" in html and "Belgium" not in html
    result = assess("--since", "2020-06-30", "--until", "2020-01-01")
    assert result.exit_code == 65 and "is not after its start" in result.output
    assert "hint: give an --until date after the --since date" in result.output
    result = assess("--region", "ASIA")
    assert result.exit_code == 65 and "unknown region 'ASIA'" in result.output
    assert "EU27" in result.output
