"""The assessment has a forum section, by theme, when the store holds forum series."""

from __future__ import annotations

import random
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.forums.helpers import KEY, post, write_jsonl
from tests.report.test_assessment import world  # noqa: F401 (the generated referral store)
from tipwatch import services
from tipwatch.report.assessment import build_assessment
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
