"""The assessment's sections come from whatever series the store holds (blocked access, the
list size, helplines by age band, forum themes, written here through the store's signals
module); the analyst's sections and decisions on findings; published versions kept, audited;
the commands; periods and their comparisons."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tipwatch import services
from tipwatch.errors import AccessDenied, InputError
from tipwatch.intake import ingest_paths
from tipwatch.report.assessment import build_assessment
from tipwatch.report.periods import Period, confidence_of, ratio_estimate
from tipwatch.report.render import render_html
from tipwatch.services import Actor, Role
from tipwatch.store import Store
from tipwatch.store.audit import list_events
from tipwatch.store.signals import SignalValue, write_signal_values
from tipwatch.trends.events import add_event
from tipwatch.trends.simulate import SurgeTruth, referral_records
from tipwatch.triage.run import triage_store

START = date(2020, 1, 1)
TRUTHS = [
    SurgeTruth("NL", START, 150, 12.0, date(2020, 3, 16), 2, 2.2, ramp=4),
    SurgeTruth("DE", START, 150, 15.0, date(2020, 3, 22), 3, 1.8, ramp=5),
    SurgeTruth("BE", START, 150, 9.0, date(2020, 3, 18), 2, 2.0, ramp=4),
]
ANALYST = Actor("analyst-1", Role.ANALYST)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("small")
    path = folder / "referrals.jsonl"
    with path.open("w") as fh:
        for record in referral_records(TRUTHS, seed=5):
            fh.write(json.dumps(record) + "\n")
    store = Store.open(str(folder / "small.db"))
    ingest_paths(store, [path])
    triage_store(store)
    for t in TRUTHS:
        assert t.event is not None
        add_event(store, t.country, t.event, "stay-at-home", "simulated")
    store.close()
    return folder / "small.db"


@pytest.fixture
def copy(small: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.db"
    shutil.copy(small, target)
    return target


def _days(n: int = 150) -> list[date]:
    return [START + timedelta(days=i) for i in range(n)]


def test_sections_follow_the_series_in_the_store(copy: Path) -> None:
    store = Store.open(str(copy))
    try:
        bare = build_assessment(store, start=START, end=date(2020, 5, 29))
        ids = {s.id for s in bare.sections}
        assert {"blocked", "helplines", "forums"}.isdisjoint(ids), "no data, no section"
        rng = np.random.default_rng(1)
        values = []
        for i, day in enumerate(_days()):
            after = day >= date(2020, 3, 16)
            for metric, level in (
                ("blocked_requests", 9000),
                ("blocked_attempts", 4000),
                ("blocked_pairs", 1500),
                ("blocked_clients", 600),
            ):
                values.append(
                    SignalValue(
                        "urls", "NL", metric, "day", day,
                        float(rng.poisson(level * (1.5 if after else 1.0))),
                        {"provider": "isp-a", "method": "dns"},
                    )
                )  # fmt: skip
            values.append(
                SignalValue("urls", "NL", "blocked_list_size", "day", day, 5000.0 + i, {})
            )
            for band, level in (("12-15", 20), ("16-17", 15)):
                values.append(
                    SignalValue(
                        "helpline", "NL", "helpline_contacts", "day", day,
                        float(rng.poisson(level * (1.6 if after else 1.0))),
                        {"age_band": band},
                    )
                )  # fmt: skip
            for theme, level in (("competitions", 4), ("children-at-home", 6)):
                boost = 3.0 if after and theme == "children-at-home" else 1.0
                values.append(
                    SignalValue(
                        "forums", "DE", "forum_posts", "day", day,
                        float(rng.poisson(level * boost)), {"theme": theme, "forum": "f1"},
                    )
                )  # fmt: skip
        write_signal_values(store, values)
        a = build_assessment(store, start=START, end=date(2020, 5, 29))
    finally:
        store.close()
    sections = {s.id: s for s in a.sections}
    assert {"blocked", "helplines", "forums"} <= set(sections)
    blocked = sections["blocked"]
    counts = {row[1] for row in blocked.tables[0].rows}
    assert counts == {"matched requests", "attempts", "distinct client-entry pairs",
                      "distinct clients"}  # fmt: skip
    size = next(t for t in blocked.tables if t.id == "table-blocked-list-size")
    assert size.rows[0][0] == "Netherlands"
    assert size.rows[0][2] == "5,000" and size.rows[0][3] == f"{5000 + 149:,}"
    helplines = sections["helplines"].tables[0]
    assert {row[0] for row in helplines.rows} == {"12-15", "16-17"}
    forums = sections["forums"]
    assert {row[0] for row in forums.tables[0].rows} == {"competitions", "children-at-home"}
    assert "children-at-home" in forums.paragraphs[-1], "the theme that rose is the finding"
    assert {"blocked", "helplines", "forums"} <= set(a.charts)
    total = sum(float(row[2].replace(",", "")) for row in blocked.tables[0].rows
                if row[1] == "matched requests")  # fmt: skip
    assert total == sum(
        v.value for v in values if v.metric == "blocked_requests" and v.period_start <= a.end
    )
    html = render_html(a)
    assert "Forum posts" in html and "Blocked access" in html


def test_periods_and_their_comparisons() -> None:
    june = Period(date(2020, 6, 1), date(2020, 6, 30))
    assert (june.kind, june.label) == ("month", "June 2020")
    assert june.previous() == Period(date(2020, 5, 1), date(2020, 5, 31))
    assert june.year_earlier() == Period(date(2019, 6, 1), date(2019, 6, 30))
    q = Period(date(2020, 4, 1), date(2020, 6, 30))
    assert (q.kind, q.label, q.previous().start) == ("quarter", "Q2 2020", date(2020, 1, 1))
    year = Period(date(2020, 1, 1), date(2020, 12, 31))
    assert (year.kind, year.label, year.previous().start) == ("year", "2020", date(2019, 1, 1))
    feb = Period(date(2020, 2, 1), date(2020, 2, 29))
    assert feb.year_earlier() == Period(date(2019, 2, 1), date(2019, 2, 28))
    days = Period(date(2020, 3, 10), date(2020, 3, 19))
    assert days.kind == "days" and days.previous() == Period(date(2020, 2, 29), date(2020, 3, 9))
    assert confidence_of(1.2, 1.5) == "high"
    assert confidence_of(1.1, 2.5) == "moderate"
    assert confidence_of(0.9, 1.3) == "low"
    assert ratio_estimate(np.array([1.0, np.nan]), np.array([1.0, 2.0])) is None


def test_the_ratio_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    trials = 400
    for _ in range(trials):
        # overdispersed daily counts (negative binomial, mean 20 and 30: ratio 1.5)
        now = rng.negative_binomial(5, 5 / (5 + 30.0), size=30).astype(float)
        then = rng.negative_binomial(5, 5 / (5 + 20.0), size=30).astype(float)
        r = ratio_estimate(now, then)
        assert r is not None
        covered += r.low <= 1.5 <= r.high
    assert 0.90 <= covered / trials <= 0.995


def test_draft_sections_decisions_and_published_versions(copy: Path, tmp_path: Path) -> None:
    store = Store.open(str(copy))
    try:
        draft = services.assessment.create_draft(
            store, ANALYST, name="2020-H1", since=START, until=date(2020, 5, 29)
        )
        assert draft.versions == 0
        with pytest.raises(InputError, match="already exists"):
            services.assessment.create_draft(
                store, ANALYST, name="2020-H1", since=START, until=date(2020, 5, 29)
            )
        services.assessment.add_section(
            store, ANALYST, "2020-H1", title="Introduction",
            markdown="This assessment covers **spring 2020**.\n\n<script>alert(1)</script>",
        )  # fmt: skip
        services.assessment.add_section(
            store, ANALYST, "2020-H1", title="Recommendations",
            markdown="1. Staff the hotline.\n2. Watch the forums.", before="caveats",
        )  # fmt: skip
        findings = services.assessment.draft_findings(store, ANALYST, "2020-H1")
        ids = [f.id for f in findings]
        assert "surge-overall" in ids and all(f.decision == "undecided" for f in findings)
        overall = next(f for f in findings if f.id == "surge-overall")
        number = overall.text.split("ran at ")[1].split("x")[0]
        with pytest.raises(InputError, match="leaves out its number"):
            services.assessment.decide_finding(
                store, ANALYST, "2020-H1", "surge-overall", "edit", "Referrals rose a lot."
            )
        services.assessment.decide_finding(
            store, ANALYST, "2020-H1", "surge-overall", "edit",
            f"Referrals across the three countries ran at {number} times their baseline.",
        )  # fmt: skip
        dropped = next(i for i in ids if i != "surge-overall")
        services.assessment.decide_finding(store, ANALYST, "2020-H1", dropped, "drop")
        with pytest.raises(InputError, match="no finding"):
            services.assessment.decide_finding(store, ANALYST, "2020-H1", "nonsense", "drop")
        first = services.assessment.publish(store, ANALYST, "2020-H1", out=tmp_path / "v1.html")
        html = (tmp_path / "v1.html").read_text(encoding="utf-8")
        assert first.version == 1 and "published version 1" in html
        assert f"ran at {number} times their baseline." in html
        assert "<strong>spring 2020</strong>" in html
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
        # the introduction comes first, the recommendations before the caveats
        assert html.index('id="analyst-1"') < html.index('id="summary"')
        assert (
            html.index('id="referrals"') < html.index('id="analyst-2"') < html.index('id="caveats"')
        )
        # a second publication is a new version; the first stays as it was
        services.assessment.decide_finding(store, ANALYST, "2020-H1", dropped, "accept")
        second = services.assessment.publish(store, ANALYST, "2020-H1", out=tmp_path / "v2.html")
        assert second.version == 2
        versions = services.assessment.list_versions(store, ANALYST, "2020-H1")
        assert [v.version for v in versions] == [1, 2]
        kept = services.assessment.published_version(store, ANALYST, "2020-H1", 1)
        assert kept.html == html and kept.inputs_sha256 == first.inputs_sha256
        published = json.loads(kept.findings)
        edited = next(f for f in published if f["id"] == "surge-overall")
        assert edited["numbers"]["factor"] > 1.5 and "edited_from" in edited["numbers"]
        assert all(f["id"] != dropped for f in published)
        again = json.loads(
            services.assessment.published_version(store, ANALYST, "2020-H1", 2).findings
        )
        assert any(f["id"] == dropped for f in again)
        # every step is in the audit log
        actions = [e.action for e in list_events(store, limit=100)]
        assert actions.count("assessment.publish") == 2
        assert actions.count("assessment.edit") >= 5
        with pytest.raises(AccessDenied):
            services.assessment.publish(
                store, Actor("someone", Role.AUDITOR), "2020-H1", out=tmp_path / "x.html"
            )
    finally:
        store.close()


def test_assessment_commands(copy: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tipwatch.cli import app

    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--db", str(copy)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.output

    run("assessment", "new", "may", "--since", "2020-05-01", "--until", "2020-05-29")
    intro = tmp_path / "intro.md"
    intro.write_text("# Why\n\nBecause May matters.\n", encoding="utf-8")
    run("assessment", "section", "may", "--title", "Introduction", "--file", str(intro))
    listed = run("assessment", "findings", "may")
    assert "[undecided] referrals-total" in listed
    run("assessment", "decide", "may", "referrals-total", "accept")
    assert "[accept] referrals-total" in run("assessment", "findings", "may")
    out = tmp_path / "may.html"
    assert "version 1" in run("assessment", "publish", "may", "--out", str(out))
    assert "v1 " in run("assessment", "versions", "may")
    again = tmp_path / "again.html"
    run("assessment", "versions", "may", "--version", "1", "--out", str(again))
    assert again.read_text() == out.read_text()
    assert "Because May matters." in out.read_text()
    assert "1 version(s)" in run("assessment", "list")
    bad = runner.invoke(app, ["assessment", "findings", "nothing", "--db", str(copy)])
    assert bad.exit_code != 0 and "no assessment draft named 'nothing'" in bad.output


def test_a_quarter_is_named_and_compared_with_the_quarter_before(small: Path) -> None:
    store = Store.open(str(small))
    try:
        q1 = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 3, 31))
        march = build_assessment(store, start=date(2020, 3, 1), end=date(2020, 3, 31))
    finally:
        store.close()
    assert q1.title_page.period == "Q1 2020" and q1.period.previous().start == date(2019, 10, 1)
    # the store starts in January 2020: nothing to compare with, so no comparison is made up
    assert q1.key_figures[0].previous is None and q1.key_figures[0].year_earlier is None
    assert any("no referrals for the same period a year earlier" in c for c in q1.caveats)
    assert march.title_page.period == "March 2020"
    # the events of mid-March leave too little of March after them: no surge is measured
    assert march.events_in_period == {} and all("surge" not in f.id for f in march.findings)
    key = march.key_figures[0]
    assert key.previous is not None and key.previous.ratio > 1.0  # against February


def test_a_marking_cannot_break_the_page(small: Path) -> None:
    marking = 'TLP:RED "x" </style><script>alert(1)</script>'
    store = Store.open(str(small))
    try:
        a = build_assessment(store, start=START, end=date(2020, 5, 29), marking=marking)
    finally:
        store.close()
    html = render_html(a)
    assert html.count("</style>") == 1 and "<script>alert(1)</script>" not in html
    # in the page margins as a CSS string with escapes, on the page as text
    assert 'content: "TLP:RED \\22 x\\22  \\3c /style\\3e ' in html
    assert "TLP:RED &#34;x&#34; &lt;/style&gt;" in html
