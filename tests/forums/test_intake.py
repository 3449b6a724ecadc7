"""Forum intake through the service, on SQLite and PostgreSQL: pseudonymous authors (the
handles never reach the store), text kept only when set and purged after its retention,
idempotent and resumable runs, bad records quarantined, the daily series for trends."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.forums.helpers import KEY, post, stream_export, write_csv, write_jsonl
from tipwatch import services
from tipwatch.errors import ConfigError
from tipwatch.services import Actor, Role
from tipwatch.settings import reload_settings
from tipwatch.store import Store
from tipwatch.store.audit import list_events
from tipwatch.store.quarantine import list_quarantine
from tipwatch.store.schema import forum_post_themes, forum_posts

ANALYST = Actor("ana", Role.ANALYST)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", KEY)
    reload_settings()
    return monkeypatch


def _keep_text(monkeypatch: pytest.MonkeyPatch, days: int = 30) -> None:
    monkeypatch.setenv("TIPWATCH_FORUM_KEEP_TEXT", "true")
    monkeypatch.setenv("TIPWATCH_FORUM_TEXT_RETENTION_DAYS", str(days))
    reload_settings()


POSTS = [
    post("1", "Schools closed, kids at home all day", author="Anna.K.Example"),
    post("2", "ДЕТИ ДОМА, школы закрыты", author="ВасяПример", thread="t2", language="ru"),
    post(
        "3",
        "weekly challenge: which vpn?",
        author="quiet_fox_42",
        thread="t2",
        when=datetime(2020, 3, 21, 9, 0),
    ),
    post(
        "4",
        "a post about bread",
        author="Anna.K.Example",
        language=None,
        when=datetime(2020, 3, 21, 10, 0),
        reply_to="1",
    ),
]
HANDLES = ["Anna.K.Example", "ВасяПример", "quiet_fox_42", "Hidden.Handle.Bad", "OtherBadOne"]
BAD_LINES = [
    '{"forum": "board-a", "thread": "t9", "post_id": "9", "author": "Hidden.Handle.Bad", '
    '"time": "yesterday", "text": "kids at home"}',
    "not json at all",
    '["an", "array"]',
    '{"forum": "board-a", "thread": "t9", "post_id": "10", "author": "OtherBadOne", '
    '"text": "no time here"}',
]


def test_posts_themes_and_series(store: Store, keyed: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.jsonl", POSTS, BAD_LINES)
    summary, problems = services.forums.ingest(store, ANALYST, [path])
    assert problems == []
    assert summary.total("ingested") == 4 and summary.total("quarantined") == 4
    with store.read() as conn:
        rows = conn.execute(select(forum_posts).order_by(forum_posts.c.post_id)).all()
        themes = conn.execute(select(forum_post_themes)).all()
    assert [r.post_id for r in rows] == ["1", "2", "3", "4"]
    assert all(r.author.startswith("a-") and len(r.author) == 22 for r in rows)
    assert rows[0].author == rows[3].author  # one author followed across posts
    assert all(r.text is None for r in rows)  # text not kept by default
    assert rows[3].reply_to == "1" and rows[3].language == "und"
    assert "bread" in rows[3].terms.split("\n")
    by_post = {(r.post_row, r.theme) for r in themes}
    ids = {r.post_id: r.id for r in rows}
    assert by_post == {
        (ids["1"], "lockdown"),
        (ids["2"], "lockdown"),
        (ids["3"], "competitions"),
        (ids["3"], "security-advice"),
    }
    evidence = json.loads(next(r.evidence for r in themes if r.post_row == ids["2"]))
    assert {e["raw"] for e in evidence} == {"ДЕТИ ДОМА", "школы закрыты"}
    series = services.trends.series(store, ANALYST, "forum_posts[theme=lockdown]")
    assert list(series) == ["ZZ"]
    assert list(series["ZZ"].values) == [2.0, 0.0]  # a day without the theme counts 0
    every = services.trends.series(store, ANALYST, "forum_posts_all")
    assert list(every["ZZ"].values) == [2.0, 2.0]
    russian = services.trends.series(store, ANALYST, "forum_posts[language=ru]")
    assert list(russian["ZZ"].values) == [1.0]
    events = list_events(store, action="forum.ingest")
    assert events and events[0].outcome == "ok"  # newest first


def test_handles_never_reach_the_database_file(keyed: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every byte of the SQLite files (main, WAL and shared memory) is searched for every
    handle of the input, in the records that were stored and in those quarantined; the text
    is kept here, so that nothing else explains their absence."""
    _keep_text(keyed)
    db = tmp_path / "forums.db"
    store = Store.open(str(db))
    try:
        jsonl = write_jsonl(tmp_path / "export.jsonl", POSTS, BAD_LINES)
        csv_posts = [post("c1", "contest tonight", author="CsvHandle.Seven", forum="board-b")]
        csv_path = write_csv(tmp_path / "export.csv", csv_posts)
        summary, _ = services.forums.ingest(store, ANALYST, [jsonl, csv_path])
        assert summary.total("ingested") == 5
        assert services.forums.summary(store, ANALYST)["posts"] == 5
    finally:
        store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("forums.db*"))
    assert b"Schools closed" in stored  # the text is there: the search sees stored text
    for handle in [*HANDLES, "CsvHandle.Seven"]:
        for form in {handle, handle.lower(), handle.casefold()}:
            assert form.encode("utf-8") not in stored, handle


def test_quarantine_keeps_line_and_reason_but_no_handle_or_text(
    store: Store, keyed: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "export.jsonl", POSTS, BAD_LINES)
    services.forums.ingest(store, ANALYST, [path])
    entries = list_quarantine(store)
    assert [(e.location, e.format) for e in entries] == [
        ("line 5", "forum-json"),
        ("line 6", "forum-json"),
        ("line 7", "forum-json"),
        ("line 8", "forum-json"),
    ]
    reasons = [e.reason for e in entries]
    assert "is not ISO 8601" in reasons[0]
    assert "not valid JSON" in reasons[1]
    assert "expected a JSON object, got array" in reasons[2]
    assert "missing time" in reasons[3]
    first = json.loads(entries[0].raw or "")
    assert first["author"].startswith("a-") and first["post_id"] == "9"
    assert first["text"] == "[not kept: 12 characters]"
    assert entries[1].raw is None  # nothing could be read: nothing kept
    # read again: counted on the same entries, not added twice
    services.forums.ingest(store, ANALYST, [path])
    again = list_quarantine(store)
    assert [e.id for e in again] == [e.id for e in entries]
    assert all(e.times_seen == 2 for e in again)


def test_idempotent_and_revisions_recount_the_days(
    store: Store, keyed: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", POSTS)
    services.forums.ingest(store, ANALYST, [path])
    second, _ = services.forums.ingest(store, ANALYST, [path])
    assert (second.total("ingested"), second.total("duplicates")) == (0, 4)
    revised = [dict(POSTS[0], text="nothing of note now"), *POSTS[1:]]
    third, _ = services.forums.ingest(store, ANALYST, [write_jsonl(tmp_path / "b.jsonl", revised)])
    assert (third.total("revised"), third.total("duplicates")) == (1, 3)
    series = services.trends.series(store, ANALYST, "forum_posts[theme=lockdown]")
    assert list(series["ZZ"].values) == [1.0, 0.0]  # post 1 lost its theme: the day was recounted
    with store.read() as conn:
        assert len(conn.execute(select(forum_posts)).all()) == 4


def test_an_interrupted_run_resumes(
    store: Store, keyed: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    posts = stream_export(days=10, per_day=5)
    path = write_jsonl(tmp_path / "stream.jsonl", posts)
    calls = []

    def stop_after_two(source: str, done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        services.forums.ingest(store, ANALYST, [path], batch_size=10, progress=stop_after_two)
    with store.read() as conn:
        assert len(conn.execute(select(forum_posts)).all()) == 20
    summary, _ = services.forums.ingest(store, ANALYST, [path], batch_size=10)
    assert summary.sources[0].resumed_from == 20
    assert summary.total("ingested") == len(posts) - 20 and summary.total("duplicates") == 0
    with store.read() as conn:
        assert len(conn.execute(select(forum_posts)).all()) == len(posts)
    failed = [e for e in list_events(store, action="forum.ingest") if e.outcome == "failed"]
    assert failed and failed[0].detail == "interrupted"


def test_text_is_kept_only_when_set_and_purged_after_retention(
    store: Store, keyed: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _keep_text(keyed, days=30)
    now = datetime(2020, 4, 1, 12, 0)
    services.forums.ingest(store, ANALYST, [write_jsonl(tmp_path / "a.jsonl", POSTS)], now=now)
    with store.read() as conn:
        kept = conn.execute(select(forum_posts.c.text, forum_posts.c.text_expires_at)).all()
    assert all(r.text for r in kept)
    assert {r.text_expires_at for r in kept} == {now + timedelta(days=30)}
    assert services.forums.purge(store, ANALYST, now=now + timedelta(days=29)) == 0
    assert services.forums.purge(store, ANALYST, now=now + timedelta(days=30)) == 4
    with store.read() as conn:
        after = conn.execute(select(forum_posts.c.text, forum_posts.c.terms)).all()
    assert all(r.text is None for r in after)
    assert all(r.terms for r in after)  # derived features stay
    # themes and series stay too
    series = services.trends.series(store, ANALYST, "forum_posts[theme=lockdown]")
    assert list(series["ZZ"].values) == [2.0, 0.0]


def test_intake_needs_a_good_pseudonym_key(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", POSTS)
    with pytest.raises(ConfigError, match="pseudonym key"):
        services.forums.ingest(store, ANALYST, [path])
    monkeypatch.setenv("TIPWATCH_PSEUDONYM_KEY", "short")
    reload_settings()
    with pytest.raises(ConfigError, match="shorter than 16"):
        services.forums.ingest(store, ANALYST, [path])
    with store.read() as conn:
        assert conn.execute(select(forum_posts)).all() == []


def test_a_liaison_officer_may_not_ingest_or_read_forums(
    store: Store, keyed: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tipwatch.errors import AccessDenied

    liaison = Actor("lo", Role.LIAISON)
    with pytest.raises(AccessDenied):
        services.forums.ingest(store, liaison, [write_jsonl(tmp_path / "a.jsonl", POSTS)])
    with pytest.raises(AccessDenied):
        services.forums.summary(store, liaison)


def test_emerging_summary_and_expansion(
    store: Store, keyed: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "stream.jsonl", stream_export())
    services.forums.ingest(store, ANALYST, [path], country="NL")
    end, terms = services.forums.emerging(store, ANALYST)
    assert end == date(2020, 3, 29)
    by_term = {t.term: t for t in terms}
    assert "zorblat" in by_term, terms
    zorblat = by_term["zorblat"]
    assert zorblat.authors >= 3 and zorblat.threads >= 2
    assert zorblat.burst_start is not None and zorblat.burst_start >= date(2020, 3, 23)
    assert 1 <= len(zorblat.examples) <= 5
    report = services.forums.summary(store, ANALYST)
    lockdown = next(t for t in report["themes"] if t["theme"] == "lockdown")
    assert lockdown["posts"] == 14
    assert lockdown["top_threads"][0]["evidence"] == ["kids at home"]
    assert any(e["term"] == "zorblat" for e in report["emerging"])
    proposals = services.forums.expand(store, ANALYST, "lockdown")
    assert "blorptime" in {p.term for p in proposals}
    assert "kids" not in {p.term for p in proposals}  # the theme's own words are not proposed
    nl = services.trends.series(store, ANALYST, "forum_posts[theme=lockdown]", countries=["NL"])
    assert np.nansum(nl["NL"].values) == 14
