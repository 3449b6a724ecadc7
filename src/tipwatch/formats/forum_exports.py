"""Exports of forum posts: JSON Lines and CSV.

One post per line (JSON Lines: an object; CSV: a row under a header) with these fields (other
names accepted for each in brackets):

========== ===================================== ==========================================
field      accepted names                        value
========== ===================================== ==========================================
forum      forum, board, site                    the forum's name (required)
thread     thread, thread_id, topic              the thread's id (required)
post_id    post_id, id, message_id               the post's id, unique in its forum (required)
author     author, author_handle, user, handle   the author's handle (required; never stored)
time       time, posted_at, timestamp, created   ISO 8601 (UTC when no zone) or Unix seconds
language   language, lang                        ISO 639-1 code (optional)
text       text, body, content, message          the post's text (required, may be empty)
reply_to   reply_to, parent, in_reply_to         the id of the post it answers (optional)
========== ===================================== ==========================================

Every record comes out as a :class:`ForumItem`: a post, or an error naming its line and the
problem, with the fields that could be read (so that a redacted copy can be quarantined: the
author handle must never be stored, see :mod:`tipwatch.forums.run`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "FIELDS",
    "MAX_LINE_BYTES",
    "ForumFormat",
    "ForumItem",
    "ForumPost",
    "detect_forum_format",
    "read_forum_export",
]

MAX_LINE_BYTES = 4 * 1024 * 1024
"""The longest JSON Lines line read (one post); a longer one is reported and skipped."""

FIELDS: dict[str, tuple[str, ...]] = {
    "forum": ("forum", "board", "site"),
    "thread": ("thread", "thread_id", "topic"),
    "post_id": ("post_id", "id", "message_id"),
    "author": ("author", "author_handle", "user", "handle"),
    "time": ("time", "posted_at", "timestamp", "created"),
    "language": ("language", "lang"),
    "text": ("text", "body", "content", "message"),
    "reply_to": ("reply_to", "parent", "in_reply_to"),
}
"""Each field and the names it is accepted under, first the canonical one."""

_REQUIRED = ("forum", "thread", "post_id", "author", "time", "text")


class ForumFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class ForumPost:
    forum: str
    thread: str
    post_id: str
    author: str
    posted_at: datetime
    """UTC, without a zone."""
    text: str
    language: str | None = None
    reply_to: str | None = None


@dataclass(slots=True)
class ForumItem:
    """One record: ``post``, or ``error`` with the ``fields`` that could be read."""

    source: str
    index: int
    location: str
    post: ForumPost | None = None
    error: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    raw_digest_text: str = ""
    """The record's own text, only to recognise it when it is read again (never stored)."""


def detect_forum_format(path: Path) -> ForumFormat:
    """JSON Lines for ``.jsonl``/``.ndjson``/``.json``, CSV for ``.csv``, else by the first
    character of the file."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return ForumFormat.JSONL
    if suffix == ".csv":
        return ForumFormat.CSV
    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return ForumFormat.JSONL if head.startswith(b"{") else ForumFormat.CSV


def _parse_time(value: str) -> datetime:
    text = value.strip()
    if not text:
        raise ValueError("time is empty")
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(text), UTC).replace(tzinfo=None)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {text[:40]!r} is not ISO 8601 or Unix seconds") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def _fields(data: Mapping[str, Any]) -> dict[str, str]:
    """The known fields of a decoded record, as text, under their canonical names."""
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    out: dict[str, str] = {}
    for name, aliases in FIELDS.items():
        for alias in aliases:
            value = lowered.get(alias)
            if value is not None:
                if isinstance(value, dict | list):
                    raise ValueError(f"{name} must be text, not a JSON {type(value).__name__}")
                out[name] = str(value)
                break
    return out


def _post(fields: dict[str, str]) -> ForumPost:
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for name in ("forum", "thread", "post_id", "author"):
        if not fields[name].strip():
            raise ValueError(f"{name} is empty")
        if len(fields[name]) > 500:
            raise ValueError(f"{name} is longer than 500 characters")
    language = (fields.get("language") or "").strip().lower() or None
    if language is not None and (len(language) > 20 or not language.replace("-", "").isalnum()):
        raise ValueError(f"language {language[:20]!r} is not a language code")
    reply_to = (fields.get("reply_to") or "").strip() or None
    return ForumPost(
        forum=fields["forum"].strip(),
        thread=fields["thread"].strip(),
        post_id=fields["post_id"].strip(),
        author=fields["author"].strip(),
        posted_at=_parse_time(fields["time"]),
        text=fields["text"].replace("\x00", "\ufffd"),
        language=language,
        reply_to=reply_to[:500] if reply_to else None,
    )


def _item(source: str, index: int, location: str, data: Any, raw: str) -> ForumItem:
    item = ForumItem(source, index, location, raw_digest_text=raw)
    if not isinstance(data, dict):
        kind = type(data).__name__.replace("dict", "object").replace("list", "array")
        item.error = f"expected a JSON object, got {kind}"
        return item
    try:
        item.fields = _fields(data)
        item.post = _post(item.fields)
    except ValueError as exc:
        item.error = f"{exc}"
    return item


def _read_jsonl(path: Path, source: str, max_line_bytes: int) -> Iterator[ForumItem]:
    with path.open("rb") as fh:
        line_no = 0
        while True:
            line = fh.readline(max_line_bytes + 1)
            if not line:
                return
            line_no += 1
            location = f"line {line_no}"
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest of the line
                    line = fh.readline(1 << 20)
                yield ForumItem(
                    source,
                    line_no - 1,
                    location,
                    error=f"longer than {max_line_bytes} bytes; skipped",
                )
                continue
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield ForumItem(source, line_no - 1, location, error=f"not UTF-8 ({exc.reason})")
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield ForumItem(
                    source,
                    line_no - 1,
                    location,
                    error=f"not valid JSON ({exc.msg} at column {exc.colno})",
                    raw_digest_text=text,
                )
                continue
            yield _item(source, line_no - 1, location, data, text)


def _read_csv(path: Path, source: str) -> Iterator[ForumItem]:
    csv.field_size_limit(MAX_LINE_BYTES)
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield ForumItem(source, 0, "file", error=f"{source} is not UTF-8 ({exc.reason})")
        return
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        yield ForumItem(source, 0, "line 1", error=f"not a CSV header ({exc})")
        return
    known = {alias for aliases in FIELDS.values() for alias in aliases}
    if not known & set(header):
        yield ForumItem(source, 0, "line 1", error="the header names none of the fields of a post")
        return
    index = 0
    while True:
        start_line = reader.line_num + 1
        location = f"line {start_line}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ForumItem(source, index, location, error=f"{exc}")
            index += 1
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            item = ForumItem(source, index, location, raw_digest_text=",".join(row))
            item.error = f"{len(row)} cells where the header has {len(header)}"
            with_names = dict(zip(header, row, strict=False))
            with contextlib.suppress(ValueError):
                item.fields = _fields(with_names)
            yield item
        else:
            yield _item(source, index, location, dict(zip(header, row, strict=True)), ",".join(row))
        index += 1


def read_forum_export(
    path: Path, fmt: ForumFormat | None = None, *, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[ForumItem]:
    """The records of one export file, in order, each a post or an error."""
    source = str(path)
    chosen = fmt or detect_forum_format(path)
    if chosen is ForumFormat.JSONL:
        yield from _read_jsonl(path, source, max_line_bytes)
    else:
        yield from _read_csv(path, source)
