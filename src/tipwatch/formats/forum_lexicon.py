"""Keyword lists for forum themes (CSV or JSON), read as data.

Licensed keyword lists (from a hotline network, a research partner ...) are never shipped with
tipwatch: a team loads its own. Each entry has a ``term``, a ``language`` (ISO 639-1, or
``und``), a ``category`` (the theme it adds to), a ``source``, a ``date`` (when the source
listed it) and a ``match`` mode: ``word`` (whole words, the default), ``prefix`` (words that
begin so) or ``substring`` (anywhere, inside words too).

CSV: a header row naming those columns (``term`` and ``category`` required). JSON: an array of
objects with those keys, or an object with an ``entries`` array. A bad entry is reported with
its line (CSV) or position (JSON); the others are read.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tipwatch.errors import InputError

__all__ = ["MATCH_MODES", "LexiconEntry", "LexiconRead", "read_lexicon"]

MATCH_MODES = ("word", "prefix", "substring")
"""How a term matches: whole words, the start of words, or anywhere."""


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    term: str
    category: str
    language: str = "und"
    source: str = ""
    listed: date | None = None
    match: str = "word"


@dataclass
class LexiconRead:
    source: str
    entries: list[LexiconEntry]
    problems: list[str]


def _entry(data: Any, where: str) -> LexiconEntry:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object with term and category")
    term = str(data.get("term") or "").strip()
    category = str(data.get("category") or "").strip()
    if not term:
        raise ValueError(f"{where}: no term")
    if not category:
        raise ValueError(f"{where}: no category for term {term[:40]!r}")
    if len(category) > 100:
        raise ValueError(f"{where}: category longer than 100 characters")
    match = str(data.get("match") or data.get("match_mode") or "word").strip().lower()
    if match not in MATCH_MODES:
        raise ValueError(
            f"{where}: match mode {match[:20]!r} is not one of {', '.join(MATCH_MODES)}"
        )
    listed: date | None = None
    raw_date = str(data.get("date") or "").strip()
    if raw_date:
        try:
            listed = date.fromisoformat(raw_date[:10])
        except ValueError:
            raise ValueError(f"{where}: date {raw_date[:20]!r} is not YYYY-MM-DD") from None
    return LexiconEntry(
        term=term,
        category=category,
        language=str(data.get("language") or "und").strip().lower() or "und",
        source=str(data.get("source") or "").strip(),
        listed=listed,
        match=match,
    )


def read_lexicon(path: Path) -> LexiconRead:
    """Read a keyword list; raises :class:`InputError` when the file cannot be read at all."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"keyword list {source} cannot be read: {exc}") from exc
    entries: list[LexiconEntry] = []
    problems: list[str] = []
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"keyword list {source} is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            data = data.get("entries")
        if not isinstance(data, list):
            raise InputError(
                f"keyword list {source}: expected an array of entries (or an object with one "
                "under 'entries')"
            )
        for i, item in enumerate(data):
            try:
                entries.append(_entry(item, f"{source} entry {i + 1}"))
            except ValueError as exc:
                problems.append(str(exc))
        return LexiconRead(source, entries, problems)
    reader = csv.DictReader(text.splitlines())
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not {"term", "category"} <= fields:
        raise InputError(
            f"keyword list {source}: the header must name term and category "
            f"(found {', '.join(sorted(fields)) or 'nothing'})"
        )
    for row in reader:
        where = f"{source} line {reader.line_num}"
        clean = {(k or "").strip().lower(): v for k, v in row.items()}
        try:
            entries.append(_entry(clean, where))
        except ValueError as exc:
            problems.append(str(exc))
    return LexiconRead(source, entries, problems)
