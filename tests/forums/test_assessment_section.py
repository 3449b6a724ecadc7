"""The assessment has a forum section, by theme, when the store holds forum series."""

from __future__ import annotations

import random
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.forums.helpers import KEY, post, stream_export, write_jsonl
from tests.report.test_assessment import world  # noqa: F401 (the generated referral store)
from tipwatch import services
from tipwatch.report.assessment import build_assessment
from tipwatch.report.render import write_report
from tipwatch.services import Actor, Role
from tipwatch.settings import reload_settings
from tipwatch.store import Store


def test_forum_themes_have_their_section(
    world: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "world.db"
    shutil.copy(world, db)
    rng = random.Random(2)
    posts = []
    day = date(2020, 1, 1)
    n = 0
    while day <= date(2020, 6, 30):
        for hour in range(10):
            n += 1
            lockdown = rng.random() < (0.05 if day < date(2020, 3, 18) else 0.3)
            text = "schools closed, kids at home" if lockdown else "the weather and the garden"
            when = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
            posts.append(post(f"p{n}", text, author=f"Handle{n % 30}", when=when))
        day += timedelta(days=1)
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", KEY)
    reload_settings()
    store = Store.open(str(db))
    try:
        services.forums.ingest(
            store, Actor("ana", Role.ANALYST), [write_jsonl(tmp_path / "f.jsonl", posts)]
        )
        result = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
    finally:
        store.close()
    sections = {s.id: s for s in result.sections}
    assert "forums" in sections
    (table,) = [t for t in sections["forums"].tables if t.id == "table-forums"]
    totals = {row[0]: row[1] for row in table.rows}
    lockdown = sum(
        "kids" in p["text"] and date(2020, 1, 1) <= _day(p) <= date(2020, 6, 30) for p in posts
    )
    assert totals["lockdown"] == f"{lockdown:,}"
    found = [f for f in result.findings if f.section == "forums"]
    assert found and found[0].id == "forums-lockdown"


def _day(p: dict[str, str]) -> date:
    return date.fromisoformat(p["time"][:10])


def test_no_forum_finding_without_forum_series(world: Path) -> None:  # noqa: F811
    store = Store.open(str(world))
    try:
        result = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
    finally:
        store.close()
    assert "forums" not in {s.id for s in result.sections}
    assert not [f for f in result.findings if f.section == "forums"]


def test_emerging_terms_have_their_table(
    world: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A word planted in one week (six authors, three threads) is listed in the week it rose,
    with its posts, authors and threads counted again here from the export; a word used
    steadily all along is not; a month without forum posts has no forum section."""
    db = tmp_path / "world.db"
    shutil.copy(world, db)
    posts = stream_export(days=70, start=date(2020, 1, 20), seed=4)
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", KEY)
    reload_settings()
    store = Store.open(str(db))
    try:
        services.forums.ingest(
            store, Actor("ana", Role.ANALYST), [write_jsonl(tmp_path / "f.jsonl", posts)]
        )
        half = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
        june = build_assessment(store, start=date(2020, 6, 1), end=date(2020, 6, 30))
        write_report(half, tmp_path / "half.html")
    finally:
        store.close()
    assert "forums" not in {s.id for s in june.sections}
    assert not [f for f in june.findings if f.section == "forums"]

    section = {s.id: s for s in half.sections}["forums"]
    (table,) = [t for t in section.tables if t.id == "table-emerging"]
    rows = {row[0]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert "zorblat" in rows and "blorptime" not in rows
    row = rows["zorblat"]
    week_to = date.fromisoformat(row["week to"])
    # The planted week is the export's last: 23 to 29 March 2020.
    assert date(2020, 3, 23) <= week_to <= date(2020, 3, 29) + timedelta(days=6)
    in_window = [
        p
        for p in posts
        if "zorblat" in p["text"].split() and week_to - timedelta(days=6) <= _day(p) <= week_to
    ]
    assert row["posts that week"] == f"{len(in_window):,}"
    assert row["authors"] == str(len({p["author"] for p in in_window}))
    assert row["threads"] == str(len({p["thread"] for p in in_window}))
    before = [
        p
        for p in posts
        if "zorblat" in p["text"].split()
        and week_to - timedelta(days=62) <= _day(p) < week_to - timedelta(days=6)
    ]
    assert row["posts 8 weeks before"] == str(len(before))
    (found,) = [f for f in half.findings if f.id == "forums-emerging"]
    assert found.numbers["term"] == "zorblat" and f"{len(in_window):,}" in found.text
    # Ten weekly windows (to 28 January ... 31 March) hold posts, and posts before them.
    assert "1 term emerged in the 10 weeks of the period tested" in " ".join(section.paragraphs)
    html = (tmp_path / "half.html").read_text(encoding="utf-8")
    assert 'id="table-emerging"' in html and "zorblat" in html
