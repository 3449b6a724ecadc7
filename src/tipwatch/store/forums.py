"""Forum posts and their themes in the store: every read and write of ``forum_posts`` and
``forum_post_themes`` goes through this module."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from tipwatch.store.bulk import bulk_insert
from tipwatch.store.database import Store
from tipwatch.store.schema import forum_post_themes, forum_posts

__all__ = [
    "DayCount",
    "StoredPostTerms",
    "count_posts",
    "day_counts",
    "existing_posts",
    "insert_posts",
    "post_terms_between",
    "purge_expired_text",
    "replace_post",
    "theme_posts",
    "write_themes",
]


def existing_posts(
    conn: Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(forum, post id) -> (row id, content hash) of the posts of ``keys`` already stored."""
    p = forum_posts.c
    found: dict[tuple[str, str], tuple[int, str]] = {}
    by_forum: dict[str, list[str]] = {}
    for forum, post_id in keys:
        by_forum.setdefault(forum, []).append(post_id)
    for forum, ids in by_forum.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in conn.execute(
                select(p.id, p.post_id, p.content_hash).where(
                    p.forum == forum, p.post_id.in_(chunk)
                )
            ):
                found[(forum, row.post_id)] = (row.id, row.content_hash)
    return found


def insert_posts(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert new posts; (forum, post id) -> row id of each."""
    bulk_insert(conn, forum_posts, rows)
    found = existing_posts(conn, [(r["forum"], r["post_id"]) for r in rows])
    return {key: row_id for key, (row_id, _hash) in found.items()}


def replace_post(conn: Connection, row_id: int, row: Mapping[str, Any]) -> None:
    """Replace a stored post's values (a revised post), and drop its themes."""
    conn.execute(update(forum_posts).where(forum_posts.c.id == row_id).values(**row))
    conn.execute(delete(forum_post_themes).where(forum_post_themes.c.post_row == row_id))


def write_themes(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert theme rows: post_row, theme, evidence (JSON text)."""
    bulk_insert(conn, forum_post_themes, rows)


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    country: str
    forum: str
    language: str
    theme: str | None
    """``None``: every post of the day, forum and language."""
    posts: int


def day_counts(conn: Connection, days: Iterable[date]) -> list[DayCount]:
    """Posts per day, country, forum and language, in total and per theme, on ``days``."""
    wanted = sorted(set(days))
    p, t = forum_posts.c, forum_post_themes.c
    out: list[DayCount] = []
    for start in range(0, len(wanted), 200):
        chunk = wanted[start : start + 200]
        keys = (p.day, p.country, p.forum, p.language)
        for row in conn.execute(
            select(*keys, func.count().label("n")).where(p.day.in_(chunk)).group_by(*keys)
        ):
            out.append(DayCount(_day(row.day), row.country, row.forum, row.language, None, row.n))
        for row in conn.execute(
            select(*keys, t.theme, func.count().label("n"))
            .select_from(forum_posts.join(forum_post_themes, t.post_row == p.id))
            .where(p.day.in_(chunk))
            .group_by(*keys, t.theme)
        ):
            out.append(
                DayCount(_day(row.day), row.country, row.forum, row.language, row.theme, row.n)
            )
    return out


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def purge_expired_text(conn: Connection, now: datetime) -> int:
    """Remove the text of posts whose retention ended by ``now``. Returns how many."""
    p = forum_posts.c
    result = conn.execute(
        update(forum_posts)
        .where(p.text.is_not(None), p.text_expires_at <= now)
        .values(text=None, text_expires_at=None)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class StoredPostTerms:
    post_id: str
    forum: str
    thread: str
    author: str
    day: date
    terms: tuple[str, ...]


def post_terms_between(
    store: Store | Connection, start: date, end: date, *, forum: str | None = None
) -> Iterator[StoredPostTerms]:
    """The terms of every post from ``start`` to ``end`` (both included)."""
    p = forum_posts.c
    query = select(p.post_id, p.forum, p.thread, p.author, p.day, p.terms).where(
        p.day >= start, p.day <= end
    )
    if forum is not None:
        query = query.where(p.forum == forum)

    def rows(conn: Connection) -> Iterator[StoredPostTerms]:
        for row in conn.execute(query.order_by(p.day, p.id)):
            yield StoredPostTerms(
                row.post_id,
                row.forum,
                row.thread,
                row.author,
                _day(row.day),
                tuple(row.terms.split("\n")) if row.terms else (),
            )

    if isinstance(store, Store):
        with store.read() as conn:
            yield from rows(conn)
    else:
        yield from rows(store)


def count_posts(conn: Connection) -> dict[str, Any]:
    """How many posts, with text kept, days and forums the store holds."""
    p = forum_posts.c
    row = conn.execute(
        select(
            func.count().label("posts"),
            func.count(p.text).label("with_text"),
            func.min(p.day).label("first"),
            func.max(p.day).label("last"),
            func.count(func.distinct(p.forum)).label("forums"),
            func.count(func.distinct(p.author)).label("authors"),
        )
    ).one()
    return {
        "posts": int(row.posts),
        "with_text": int(row.with_text),
        "first_day": _day(row.first) if row.first is not None else None,
        "last_day": _day(row.last) if row.last is not None else None,
        "forums": int(row.forums),
        "authors": int(row.authors),
    }


def theme_posts(
    conn: Connection,
    *,
    theme: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Iterator[dict[str, Any]]:
    """Tagged posts (theme, day, forum, thread, post id, author pseudonym, evidence)."""
    p, t = forum_posts.c, forum_post_themes.c
    conditions = []
    if theme is not None:
        conditions.append(t.theme == theme)
    if start is not None:
        conditions.append(p.day >= start)
    if end is not None:
        conditions.append(p.day <= end)
    query = select(t.theme, p.day, p.forum, p.thread, p.post_id, p.author, t.evidence).select_from(
        forum_posts.join(forum_post_themes, t.post_row == p.id)
    )
    if conditions:
        query = query.where(and_(*conditions))
    for row in conn.execute(query.order_by(p.day, p.id)):
        yield {
            "theme": row.theme,
            "day": _day(row.day),
            "forum": row.forum,
            "thread": row.thread,
            "post_id": row.post_id,
            "author": row.author,
            "evidence": json.loads(row.evidence),
        }
