"""Forum intake and the analyses over the store: ingest exports, purge text, daily series,
emerging terms, the summary and lexicon expansion.

Intake reads each export record by record (:mod:`tipwatch.formats.forum_exports`) and commits
batch by batch:

* the author handle is replaced at once by its keyed-hash pseudonym (:func:`pseudonym`, HMAC-
  SHA-256 with the ``pseudonym_key`` setting): the handle never reaches the store, not even in
  the quarantine, whose copy of a bad record has the pseudonym instead and no text;
* the post's themes (with their evidence) and terms are found; its text is stored only when
  the settings keep text, with the time its retention ends (:func:`purge_text` removes it then);
* a post read again is a duplicate (same content) or a revision (its values replaced);
* an interrupted run of an unchanged file resumes after its last committed batch, as referral
  intake does (the ``ingest_runs`` table);
* the daily series of the days a batch touched are counted again from the stored posts and
  written through :mod:`tipwatch.store.signals`: ``forum_posts`` per theme, forum and language
  (``forum_posts[theme=competitions]``; a post with two themes counts in each) and
  ``forum_posts_all`` (every post once, per forum and language). Their country is the one
  given to intake, else ``ZZ`` (no country).
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tipwatch.errors import ConfigError, InputError, NotFoundError
from tipwatch.formats.forum_exports import (
    ForumFormat,
    ForumItem,
    ForumPost,
    detect_forum_format,
    read_forum_export,
)
from tipwatch.forums.emerging import (
    EmergingSettings,
    EmergingTerm,
    PostTerms,
    TermIndex,
    dunning_g2,
    terms_of,
)
from tipwatch.forums.normalise import light_words
from tipwatch.forums.themes import Tagger
from tipwatch.pseudonyms import keyed_hex
from tipwatch.store import Store
from tipwatch.store.bulk import bulk_insert
from tipwatch.store.forums import (
    DayCount,
    count_posts,
    day_counts,
    existing_posts,
    insert_posts,
    post_terms_between,
    purge_expired_text,
    replace_post,
    theme_posts,
    write_themes,
)
from tipwatch.store.schema import forum_posts, ingest_runs, quarantine
from tipwatch.store.signals import SignalValue, delete_signal_values, write_signal_values

__all__ = [
    "FEED",
    "METRIC_ALL",
    "METRIC_THEMES",
    "NO_COUNTRY",
    "ForumIngest",
    "ForumIngestSummary",
    "PeriodTerm",
    "emerging_in_period",
    "expand_theme",
    "forum_emerging",
    "forum_summary",
    "ingest_forum_paths",
    "pseudonym",
    "purge_text",
]

FEED = "forum"
"""The feed name of forum series in the signal store."""
METRIC_THEMES = "forum_posts"
"""Posts per day, theme, forum and language (dimensions ``theme``, ``forum``, ``language``)."""
METRIC_ALL = "forum_posts_all"
"""Every post once, per day, forum and language."""
NO_COUNTRY = "ZZ"
"""The country of forum series when intake is given none (ISO 3166 user-assigned: unknown)."""

MIN_KEY_CHARS = 16
ProgressCallback = Callable[[str, int, int], None]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _key_bytes(key: str | None) -> bytes:
    if not key:
        raise ConfigError(
            "forum intake needs a pseudonym key: author handles are stored only as keyed hashes",
            hint="set the pseudonym_key setting (TIPWATCH_PSEUDONYM_KEY) to a long random secret",
        )
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(
            f"the pseudonym key is shorter than {MIN_KEY_CHARS} characters: too easy to guess",
            hint="set the pseudonym_key setting to a long random secret",
        )
    return key.encode("utf-8")


def pseudonym(key: bytes, handle: str) -> str:
    """The pseudonym of an author handle: ``a-`` and 20 hex digits of HMAC-SHA-256 of the
    handle (NFKC, case folded, trimmed) under ``key``. The same handle gives the same
    pseudonym on every forum and in every run with the same key; without the key it cannot be
    turned back, nor guessed from a list of handles."""
    norm = unicodedata.normalize("NFKC", handle).casefold().strip()
    return "a-" + keyed_hex(key, norm)[:20]


@dataclass
class ForumIngest:
    """What one export gave."""

    source: str
    format: str
    read: int = 0
    ingested: int = 0
    duplicates: int = 0
    revised: int = 0
    quarantined: int = 0
    resumed_from: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "read": self.read,
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "revised": self.revised,
            "quarantined": self.quarantined,
            "resumed_from": self.resumed_from,
            "problems": [{"location": loc, "reason": why} for loc, why in self.problems],
        }


@dataclass
class ForumIngestSummary:
    sources: list[ForumIngest] = field(default_factory=list)
    themes_digest: str = ""
    text_kept: bool = False

    def total(self, name: str) -> int:
        return sum(int(getattr(s, name)) for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": [s.as_dict() for s in self.sources],
            "ingested": self.total("ingested"),
            "duplicates": self.total("duplicates"),
            "revised": self.total("revised"),
            "quarantined": self.total("quarantined"),
            "themes_digest": self.themes_digest,
            "text_kept": self.text_kept,
        }


def _fingerprint(path: Path) -> str:
    st = path.stat()
    h = hashlib.sha256()
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
    return f"forum:{st.st_size}:{st.st_mtime_ns}:{h.hexdigest()[:24]}"


class _Intake:
    def __init__(
        self,
        store: Store,
        tagger: Tagger,
        *,
        key: bytes,
        keep_text: bool,
        retention_days: int,
        country: str,
        now: datetime,
    ) -> None:
        self.store = store
        self.tagger = tagger
        self.key = key
        self.keep_text = keep_text
        self.retention = timedelta(days=retention_days)
        self.country = country
        self.now = now
        self.digest = tagger.themes.digest

    def _hash(self, text: str) -> str:
        return keyed_hex(self.key, text)

    def _row(self, post: ForumPost, source: str) -> tuple[dict[str, Any], dict[str, str]]:
        author = pseudonym(self.key, post.author)
        language = post.language or "und"
        found = self.tagger.tag(post.text)
        themes = {
            theme: json.dumps([e.as_dict() for e in evidence], ensure_ascii=False)
            for theme, evidence in found.items()
        }
        content = "\x1f".join(
            [
                post.thread,
                author,
                post.posted_at.isoformat(),
                language,
                post.reply_to or "",
                post.text,
                self.digest,
            ]
        )
        row = {
            "forum": post.forum,
            "thread": post.thread,
            "post_id": post.post_id,
            "author": author,
            "posted_at": post.posted_at,
            "day": post.posted_at.date(),
            "language": language,
            "country": self.country,
            "reply_to": post.reply_to,
            "text": post.text if self.keep_text else None,
            "text_expires_at": self.now + self.retention if self.keep_text else None,
            "terms": "\n".join(terms_of(post.text)),
            "content_hash": hashlib.sha256(content.encode("utf-8", "replace")).hexdigest(),
            "themes_digest": self.digest,
            "source_file": source,
            "ingested_at": self.now,
        }
        return row, themes

    def _redacted(self, item: ForumItem) -> str | None:
        """The quarantined copy of a bad record: its fields, the author as a pseudonym, the
        text left out (its length said); nothing when no field could be read."""
        if not item.fields:
            return None
        copy: dict[str, Any] = dict(item.fields)
        if "author" in copy:
            copy["author"] = pseudonym(self.key, copy["author"])
        if "text" in copy:
            copy["text"] = f"[not kept: {len(copy['text'])} characters]"
        return json.dumps(copy, ensure_ascii=False, sort_keys=True)

    def _quarantine(
        self, conn: Connection, items: Sequence[ForumItem], outcome: ForumIngest, fmt: str
    ) -> None:
        if not items:
            return
        q = quarantine.c
        source = items[0].source
        indexes = [it.index for it in items]
        seen = {
            (row.record_index, row.raw_hash): row.id
            for row in conn.execute(
                select(q.id, q.record_index, q.raw_hash).where(
                    q.source_file == source,
                    q.record_index.between(min(indexes), max(indexes)),
                    q.status.in_(("open", "dismissed")),
                )
            )
        }
        rows = []
        for it in items:
            reason = it.error or "unreadable"
            raw_hash = self._hash(it.raw_digest_text or reason)
            entry = seen.get((it.index, raw_hash))
            if entry is not None:
                conn.execute(
                    update(quarantine)
                    .where(q.id == entry)
                    .values(times_seen=q.times_seen + 1, reason=reason)
                )
            else:
                rows.append(
                    {
                        "source_file": it.source,
                        "location": it.location,
                        "record_index": it.index,
                        "record_key": it.fields.get("post_id"),
                        "format": fmt,
                        "reason": reason,
                        "raw": self._redacted(it),
                        "raw_hash": raw_hash,
                        "status": "open",
                        "times_seen": 1,
                        "created_at": self.now,
                        "resolved_at": None,
                        "note": None,
                    }
                )
            outcome.quarantined += 1
            if len(outcome.problems) < 20:
                outcome.problems.append((it.location, reason))
        bulk_insert(conn, quarantine, rows)

    def _commit(
        self, conn: Connection, items: Sequence[ForumItem], outcome: ForumIngest, fmt: str
    ) -> set[date]:
        """Write one batch; the days whose counts changed."""
        bad = [it for it in items if it.post is None]
        self._quarantine(conn, bad, outcome, fmt)
        batch: dict[tuple[str, str], tuple[dict[str, Any], dict[str, str]]] = {}
        for it in items:
            if it.post is None:
                continue
            key = (it.post.forum, it.post.post_id)
            row, themes = self._row(it.post, it.source)
            earlier = batch.get(key)
            if earlier is not None:
                if earlier[0]["content_hash"] == row["content_hash"]:
                    outcome.duplicates += 1
                    continue
                outcome.revised += 1
                outcome.ingested -= 1
            batch[key] = (row, themes)
            outcome.ingested += 1
        stored = existing_posts(conn, list(batch))
        days: set[date] = set()
        new_rows: list[dict[str, Any]] = []
        theme_rows: list[dict[str, Any]] = []
        for key, (row, themes) in batch.items():
            days.add(row["day"])
            if key in stored:
                row_id, content_hash = stored[key]
                outcome.ingested -= 1
                if content_hash == row["content_hash"]:
                    outcome.duplicates += 1
                    continue
                outcome.revised += 1
                days.update(_day_of(conn, row_id))  # a revised time moves the post's day
                replace_post(conn, row_id, row)
                theme_rows.extend(
                    {"post_row": row_id, "theme": t, "evidence": ev} for t, ev in themes.items()
                )
            else:
                new_rows.append(row)
        if new_rows:
            ids = insert_posts(conn, new_rows)
            for row in new_rows:
                row_id = ids[(row["forum"], row["post_id"])]
                theme_rows.extend(
                    {"post_row": row_id, "theme": t, "evidence": ev}
                    for t, ev in batch[(row["forum"], row["post_id"])][1].items()
                )
        write_themes(conn, theme_rows)
        return days

    def ingest(
        self,
        path: Path,
        fmt: ForumFormat | None,
        *,
        batch_size: int,
        progress: ProgressCallback | None,
    ) -> ForumIngest:
        source = str(path)
        chosen = fmt or detect_forum_format(path)
        fmt_name = f"forum-{chosen.value}"[:10]
        outcome = ForumIngest(source, chosen.value)
        fingerprint = _fingerprint(path)
        r = ingest_runs.c
        with self.store.atomic() as conn:
            resume = conn.execute(
                select(r.id, r.records_done)
                .where(r.source_file == source, r.fingerprint == fingerprint, r.status == "running")
                .order_by(r.id.desc())
            ).first()
            if resume is not None:
                run_id = int(resume.id)
                outcome.resumed_from = int(resume.records_done)
            else:
                run_id = int(
                    conn.execute(
                        insert(ingest_runs)
                        .values(
                            source_file=source,
                            fingerprint=fingerprint,
                            format=fmt_name,
                            status="running",
                            records_done=0,
                            ingested=0,
                            duplicates=0,
                            revised=0,
                            files_added=0,
                            pending=0,
                            quarantined=0,
                            started_at=self.now,
                        )
                        .returning(r.id)
                    ).scalar_one()
                )
        total = path.stat().st_size

        def commit(chunk: list[ForumItem], done: int) -> None:
            with self.store.atomic() as conn:
                days = self._commit(conn, chunk, outcome, fmt_name)
                _recount(conn, days, self.tagger.themes.themes)
                conn.execute(
                    update(ingest_runs)
                    .where(r.id == run_id)
                    .values(
                        records_done=done,
                        ingested=outcome.ingested,
                        duplicates=outcome.duplicates,
                        revised=outcome.revised,
                        quarantined=outcome.quarantined,
                    )
                )

        chunk: list[ForumItem] = []
        for item in read_forum_export(path, chosen):
            if item.index < outcome.resumed_from:
                continue
            outcome.read += 1
            chunk.append(item)
            if len(chunk) >= batch_size:
                commit(chunk, item.index + 1)
                chunk = []
                if progress is not None:
                    progress(source, min(outcome.read * 200, total), total)
        if chunk:
            commit(chunk, chunk[-1].index + 1)
        with self.store.atomic() as conn:
            conn.execute(
                update(ingest_runs)
                .where(r.id == run_id)
                .values(status="complete", finished_at=_now())
            )
        if progress is not None:
            progress(source, total, total)
        return outcome


def _day_of(conn: Connection, row_id: int) -> set[date]:
    day = conn.execute(select(forum_posts.c.day).where(forum_posts.c.id == row_id)).scalar()
    if day is None:
        return set()
    return {day if isinstance(day, date) else date.fromisoformat(str(day)[:10])}


def _recount(conn: Connection, days: set[date], themes: Iterable[str] = ()) -> None:
    """Count ``days`` again from the stored posts and replace their series values.

    A theme absent on a day, forum and language that had posts counts 0 there (a known zero,
    not a missing day), for every theme of ``themes`` and every theme found."""
    if not days:
        return
    delete_signal_values(conn, feed=FEED, metrics=(METRIC_THEMES, METRIC_ALL), days=days)
    counts = day_counts(conn, days)
    every = set(themes) | {c.theme for c in counts if c.theme is not None}
    present = {(c.day, c.country, c.forum, c.language, c.theme) for c in counts}
    zeros = [
        DayCount(c.day, c.country, c.forum, c.language, theme, 0)
        for c in counts
        if c.theme is None
        for theme in sorted(every)
        if (c.day, c.country, c.forum, c.language, theme) not in present
    ]
    values = []
    for c in [*counts, *zeros]:
        if c.theme is None:
            values.append(
                SignalValue(
                    FEED,
                    c.country,
                    METRIC_ALL,
                    "day",
                    c.day,
                    float(c.posts),
                    {"forum": c.forum, "language": c.language},
                )
            )
        else:
            values.append(
                SignalValue(
                    FEED,
                    c.country,
                    METRIC_THEMES,
                    "day",
                    c.day,
                    float(c.posts),
                    {"theme": c.theme, "forum": c.forum, "language": c.language},
                )
            )
    write_signal_values(conn, values)


def ingest_forum_paths(
    store: Store,
    paths: Iterable[Path],
    tagger: Tagger,
    *,
    key: str | None,
    keep_text: bool,
    retention_days: int,
    country: str | None = None,
    fmt: ForumFormat | None = None,
    batch_size: int = 500,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> ForumIngestSummary:
    """Ingest forum export files (folders: their ``.jsonl``, ``.ndjson`` and ``.csv`` files)."""
    from tipwatch.countries import require_country

    code = NO_COUNTRY
    if country is not None and country.strip().upper() != NO_COUNTRY:
        code = require_country(country, "forum country")
    intake = _Intake(
        store,
        tagger,
        key=_key_bytes(key),
        keep_text=keep_text,
        retention_days=retention_days,
        country=code,
        now=now or _now(),
    )
    store.require_autonomy("forum intake")
    summary = ForumIngestSummary(themes_digest=intake.digest, text_kept=keep_text)
    for path in _files(paths):
        summary.sources.append(intake.ingest(path, fmt, batch_size=batch_size, progress=progress))
    return summary


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in (".jsonl", ".ndjson", ".csv")
                )
            )
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"{path} does not exist", hint="check the path")
    return out


def purge_text(store: Store | Connection, *, now: datetime | None = None) -> int:
    """Remove the text of every post whose retention has ended. Returns how many."""
    when = now or _now()
    if isinstance(store, Store):
        with store.atomic() as conn:
            return purge_expired_text(conn, when)
    return purge_expired_text(store, when)


def _post_index(
    source: Store | Connection, start: date, end: date, forum: str | None = None
) -> TermIndex:
    """The terms of the posts from ``start`` to ``end`` (of one forum, or all)."""
    return TermIndex(
        PostTerms(p.post_id, p.thread, p.author, p.day, frozenset(p.terms), p.forum)
        for p in post_terms_between(source, start, end, forum=forum)
    )


def _last_day(conn: Connection) -> date:
    last = count_posts(conn)["last_day"]
    if last is None:
        raise NotFoundError("no forum posts in the store", hint="ingest a forum export first")
    return last  # type: ignore[no-any-return]


def forum_emerging(
    conn: Connection,
    *,
    until: date | None = None,
    settings: EmergingSettings | None = None,
    forum: str | None = None,
) -> tuple[date, list[EmergingTerm]]:
    """The emerging terms of the window ending on ``until`` (default: the last day with
    posts), and that day."""
    s = settings or EmergingSettings()
    end = until or _last_day(conn)
    start = end - timedelta(days=s.window_days + s.reference_days - 1)
    return end, _post_index(conn, start, end, forum).emerging(end, s)


@dataclass(frozen=True)
class PeriodTerm:
    """A term that emerged in a period: the first window (of ``window_days`` to
    ``first_until``) in which it did, its figures in that window, and in how many of the
    period's windows it did."""

    first_until: date
    term: EmergingTerm
    windows: int


def emerging_in_period(
    store: Store | Connection,
    start: date,
    end: date,
    *,
    settings: EmergingSettings | None = None,
) -> tuple[int, list[PeriodTerm]]:
    """The terms that emerged in any window of ``start``..``end``: the windows end every
    ``window_days`` from the period's first full window, and on its last day; each window is
    weighed against the ``reference_days`` before it, which may reach before ``start``.
    Returns how many windows were tested (those with posts, and posts before them to compare
    with), and the terms in the order they first emerged (then strongest first)."""
    s = settings or EmergingSettings()
    first = start + timedelta(days=s.window_days - 1)
    if first > end:
        first = end
    ends: list[date] = []
    day = first
    while day <= end:
        ends.append(day)
        day += timedelta(days=s.window_days)
    if ends[-1] != end:
        ends.append(end)
    read_from = first - timedelta(days=s.window_days + s.reference_days - 1)
    index = _post_index(store, read_from, end)
    found: dict[str, PeriodTerm] = {}
    tested = 0
    for until in ends:
        w_start = until - timedelta(days=s.window_days - 1)
        r_start = w_start - timedelta(days=s.reference_days)
        if not any(w_start <= d <= until for d in index.by_day) or not any(
            r_start <= d < w_start for d in index.by_day
        ):
            continue  # no posts in the window, or none before it to compare with
        tested += 1
        for term in index.emerging(until, s):
            seen = found.get(term.term)
            if seen is None:
                found[term.term] = PeriodTerm(until, term, 1)
            else:
                found[term.term] = PeriodTerm(seen.first_until, seen.term, seen.windows + 1)
    ordered = sorted(found.values(), key=lambda t: (t.first_until, -t.term.z, t.term.term))
    return tested, ordered


def forum_summary(
    conn: Connection,
    *,
    since: date | None = None,
    until: date | None = None,
    top: int = 5,
    settings: EmergingSettings | None = None,
) -> dict[str, Any]:
    """Themes over time (weekly), the top threads per theme (post ids, pseudonymous authors,
    matched evidence) and the emerging terms of the last window."""
    totals = count_posts(conn)
    if not totals["posts"]:
        raise NotFoundError("no forum posts in the store", hint="ingest a forum export first")
    end = until or totals["last_day"]
    start = since or totals["first_day"]
    weekly: dict[str, Counter[str]] = {}
    threads: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for row in theme_posts(conn, start=start, end=end):
        week = (row["day"] - timedelta(days=row["day"].weekday())).isoformat()
        weekly.setdefault(row["theme"], Counter())[week] += 1
        entry = threads.setdefault(row["theme"], {}).setdefault(
            (row["forum"], row["thread"]),
            {
                "forum": row["forum"],
                "thread": row["thread"],
                "posts": 0,
                "authors": set(),
                "post_ids": [],
                "evidence": Counter(),
            },
        )
        entry["posts"] += 1
        entry["authors"].add(row["author"])
        if len(entry["post_ids"]) < 5:
            entry["post_ids"].append(row["post_id"])
        for ev in row["evidence"]:
            entry["evidence"][ev["term"]] += 1
    themes_out = []
    for theme in sorted(weekly):
        ranked = sorted(
            threads[theme].values(), key=lambda e: (-e["posts"], -len(e["authors"]), e["thread"])
        )
        themes_out.append(
            {
                "theme": theme,
                "posts": sum(weekly[theme].values()),
                "weeks": dict(sorted(weekly[theme].items())),
                "top_threads": [
                    {
                        "forum": e["forum"],
                        "thread": e["thread"],
                        "posts": e["posts"],
                        "authors": sorted(e["authors"])[:10],
                        "author_count": len(e["authors"]),
                        "post_ids": e["post_ids"],
                        "evidence": [t for t, _n in e["evidence"].most_common(5)],
                    }
                    for e in ranked[:top]
                ],
            }
        )
    emerging_until, emerging = forum_emerging(conn, until=end, settings=settings)
    return {
        "posts": totals["posts"],
        "with_text": totals["with_text"],
        "forums": totals["forums"],
        "authors": totals["authors"],
        "first_day": start,
        "last_day": end,
        "themes": themes_out,
        "emerging_until": emerging_until,
        "emerging": [t.as_dict() for t in emerging],
    }


@dataclass(frozen=True)
class Proposal:
    """A term that keeps company with a theme: a candidate for the analyst to accept."""

    term: str
    with_theme: int
    without_theme: int
    authors: int
    lift: float
    g2: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "with_theme": self.with_theme,
            "without_theme": self.without_theme,
            "authors": self.authors,
            "lift": round(self.lift, 2),
            "g2": round(self.g2, 1),
        }


def expand_theme(
    conn: Connection,
    theme: str,
    tagger: Tagger,
    *,
    since: date | None = None,
    until: date | None = None,
    limit: int = 20,
    min_posts: int = 3,
    min_authors: int = 2,
) -> list[Proposal]:
    """Terms used in the theme's posts much more than elsewhere (Dunning's G2, positive
    association, at least ``min_posts`` posts of the theme by ``min_authors`` authors), that
    the theme does not have yet: proposals for an analyst to accept into the theme file."""
    if theme not in tagger.themes.themes:
        known = ", ".join(sorted(tagger.themes.themes))
        raise InputError(f"no theme {theme!r}; the themes are {known}")
    totals = count_posts(conn)
    if not totals["posts"]:
        raise NotFoundError("no forum posts in the store", hint="ingest a forum export first")
    start = since or totals["first_day"]
    end = until or totals["last_day"]
    tagged = {
        (r["forum"], r["post_id"]) for r in theme_posts(conn, theme=theme, start=start, end=end)
    }
    have = {" ".join(light_words(t.text)) for t in tagger.themes.themes[theme].terms} | {
        w for t in tagger.themes.themes[theme].terms for w in light_words(t.text)
    }
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    authors: dict[str, set[str]] = {}
    n_in = n_out = 0
    for post in post_terms_between(conn, start, end):
        if (post.forum, post.post_id) in tagged:
            n_in += 1
            inside.update(post.terms)
            for term in post.terms:
                authors.setdefault(term, set()).add(post.author)
        else:
            n_out += 1
            outside.update(post.terms)
    if n_in == 0:
        return []
    out = []
    for term, a in inside.items():
        if a < min_posts or term in have or len(authors[term]) < min_authors:
            continue
        b = outside.get(term, 0)
        rate_in, rate_all = a / n_in, (a + b) / (n_in + n_out)
        lift = rate_in / rate_all if rate_all > 0 else math.inf
        if lift <= 1.0:
            continue
        g2 = dunning_g2(a, n_in - a, b, n_out - b)
        out.append(Proposal(term, a, b, len(authors[term]), lift, g2))
    out.sort(key=lambda p: (-p.g2, p.term))
    return out[:limit]
