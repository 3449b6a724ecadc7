"""The assessment reports the forum themes when the store holds forum series."""

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


def test_forum_theme_shares_before_and_after(
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
    forum = [f for f in result.findings if f.text.startswith("On the monitored forums")]
    assert len(forum) == 1 and forum[0].numbers["theme"] == "lockdown"
    pivot = date(2020, 3, 18)  # the median of the generated events
    before = [p for p in posts if pivot - timedelta(days=28) <= _day(p) < pivot]
    after = [p for p in posts if pivot <= _day(p) < pivot + timedelta(days=28)]
    share_before = sum("kids" in p["text"] for p in before) / len(before)
    share_after = sum("kids" in p["text"] for p in after) / len(after)
    assert forum[0].numbers["before"] == pytest.approx(share_before)
    assert forum[0].numbers["after"] == pytest.approx(share_after)
    assert f"{share_before:.1%}" in forum[0].text and f"{share_after:.1%}" in forum[0].text


def _day(p: dict[str, str]) -> date:
    return date.fromisoformat(p["time"][:10])


def test_no_forum_finding_without_forum_series(world: Path) -> None:  # noqa: F811
    store = Store.open(str(world))
    try:
        result = build_assessment(store, start=date(2020, 1, 1), end=date(2020, 6, 30))
    finally:
        store.close()
    assert not [f for f in result.findings if f.text.startswith("On the monitored forums")]
