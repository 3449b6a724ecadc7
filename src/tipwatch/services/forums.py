"""Forum monitoring services: intake of exports, themes, tagging, emerging terms, the
summary, lexicon expansion and the purge of text past its retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipwatch.services._unit import batch, unit
from tipwatch.services.access import Actor, authorise
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.forums.emerging import EmergingTerm
    from tipwatch.forums.run import ForumIngestSummary, ProgressCallback, Proposal
    from tipwatch.forums.themes import Tagger

__all__ = [
    "EXPORT_FORMATS",
    "ThemeListing",
    "emerging",
    "expand",
    "ingest",
    "purge",
    "summary",
    "tag",
    "themes",
]

EXPORT_FORMATS = ("jsonl", "csv")
"""The forum export formats intake reads (detected per file unless one is forced)."""


def _tagger(themes_file: Path | None, lexicons: Sequence[Path]) -> tuple[Tagger, list[str]]:
    """The tagger of the theme file (else the settings', else the shipped one) with the keyword
    lists added; the problems of the lists' bad entries."""
    from tipwatch.formats.forum_lexicon import read_lexicon
    from tipwatch.forums.themes import Tagger, load_themes
    from tipwatch.settings import get_settings

    theme_set = load_themes(themes_file or get_settings().forum_themes)
    problems: list[str] = []
    for path in lexicons:
        read = read_lexicon(path)
        theme_set.add_lexicon(read.entries, read.source)
        problems.extend(read.problems)
    return Tagger(theme_set), problems


def ingest(
    store: Store,
    actor: Actor,
    paths: Sequence[Path],
    *,
    themes_file: Path | None = None,
    lexicons: Sequence[Path] = (),
    country: str | None = None,
    input_format: str | None = None,
    batch_size: int = 500,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
    pseudonym_key: str | None = None,
) -> tuple[ForumIngestSummary, list[str]]:
    """Read forum exports into the store (committed batch by batch); the summary, and the
    problems of the keyword lists' bad entries. Authors are pseudonymised with the
    ``pseudonym_key`` setting (or ``pseudonym_key`` given here: the demo's own, for its
    invented handles, where no setting names one); text is kept as the ``forum_keep_text``
    setting says."""
    from tipwatch.errors import InputError
    from tipwatch.formats.forum_exports import ForumFormat
    from tipwatch.forums.run import ingest_forum_paths
    from tipwatch.settings import get_settings

    if input_format is not None and input_format not in EXPORT_FORMATS:
        raise InputError(f"a forum export is jsonl or csv, not {input_format!r}")
    settings = get_settings()
    with batch(store, actor, "forum.ingest", object_type="file") as work:
        work.object_ids = [str(p) for p in paths]
        tagger, problems = _tagger(themes_file, lexicons)
        key = settings.pseudonym_key.get_secret_value() if settings.pseudonym_key else None
        key = key or pseudonym_key
        result = ingest_forum_paths(
            store,
            paths,
            tagger,
            key=key,
            keep_text=settings.forum_keep_text,
            retention_days=settings.forum_text_retention_days,
            country=country,
            fmt=ForumFormat(input_format) if input_format else None,
            batch_size=batch_size,
            progress=progress,
            now=now,
        )
        work.detail = (
            f"{result.total('ingested')} ingested, {result.total('duplicates')} duplicates, "
            f"{result.total('revised')} revised, {result.total('quarantined')} quarantined; "
            f"themes {result.themes_digest}; text {'kept' if result.text_kept else 'not kept'}"
        )
    return result, problems


@dataclass
class ThemeListing:
    """The themes in force: each with its label and how many terms per language."""

    sources: list[str]
    digest: str
    themes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def themes(
    actor: Actor, *, themes_file: Path | None = None, lexicons: Sequence[Path] = ()
) -> ThemeListing:
    """The themes of the theme file and keyword lists (no store involved)."""
    authorise(actor, "forum.read")
    tagger, problems = _tagger(themes_file, lexicons)
    listing = ThemeListing(list(tagger.themes.sources), tagger.themes.digest, problems=problems)
    for name, theme in sorted(tagger.themes.themes.items()):
        languages: dict[str, int] = {}
        for term in theme.terms:
            languages[term.language] = languages.get(term.language, 0) + 1
        listing.themes.append(
            {
                "theme": name,
                "label": theme.label,
                "terms": len(theme.terms),
                "languages": dict(sorted(languages.items())),
                "description": theme.description,
            }
        )
    return listing


def tag(
    actor: Actor,
    texts: Sequence[str],
    *,
    themes_file: Path | None = None,
    lexicons: Sequence[Path] = (),
) -> list[dict[str, Any]]:
    """The themes of each text, with the evidence (to try a theme file; no store involved)."""
    authorise(actor, "forum.read")
    tagger, _problems = _tagger(themes_file, lexicons)
    out = []
    for text in texts:
        found = tagger.tag(text)
        out.append(
            {
                "themes": sorted(found),
                "evidence": [e.as_dict() for theme in sorted(found) for e in found[theme]],
            }
        )
    return out


def emerging(
    store: Store,
    actor: Actor,
    *,
    until: date | None = None,
    window_days: int = 7,
    reference_days: int = 56,
    min_z: float = 3.0,
    min_authors: int = 3,
    min_threads: int = 2,
    forum: str | None = None,
) -> tuple[date, list[EmergingTerm]]:
    """Emerging terms of the window ending on ``until`` (default: the last day with posts)."""
    from tipwatch.errors import InputError
    from tipwatch.forums.emerging import EmergingSettings
    from tipwatch.forums.run import forum_emerging

    if window_days < 1 or reference_days < window_days:
        raise InputError("the window needs a day or more, and a reference at least as long")
    settings = EmergingSettings(
        window_days=window_days,
        reference_days=reference_days,
        min_z=min_z,
        min_authors=min_authors,
        min_threads=min_threads,
    )
    with unit(store, actor, "forum.read", object_type="forum", writes=False) as work:
        assert work.conn is not None
        end, found = forum_emerging(work.conn, until=until, settings=settings, forum=forum)
        work.detail = f"emerging terms to {end}: {len(found)}"
    return end, found


def summary(
    store: Store,
    actor: Actor,
    *,
    since: date | None = None,
    until: date | None = None,
    top: int = 5,
) -> dict[str, Any]:
    """Themes over time, the top threads per theme and the emerging terms."""
    from tipwatch.forums.run import forum_summary

    with unit(store, actor, "forum.read", object_type="forum", writes=False) as work:
        assert work.conn is not None
        result = forum_summary(work.conn, since=since, until=until, top=top)
        work.detail = f"summary {result['first_day']} to {result['last_day']}"
    return result


def expand(
    store: Store,
    actor: Actor,
    theme: str,
    *,
    themes_file: Path | None = None,
    lexicons: Sequence[Path] = (),
    since: date | None = None,
    until: date | None = None,
    limit: int = 20,
) -> list[Proposal]:
    """Terms that keep company with ``theme``'s posts, proposed for the theme file."""
    from tipwatch.forums.run import expand_theme

    tagger, _problems = _tagger(themes_file, lexicons)
    with unit(
        store, actor, "forum.read", object_type="theme", object_ids=[theme], writes=False
    ) as work:
        assert work.conn is not None
        found = expand_theme(work.conn, theme, tagger, since=since, until=until, limit=limit)
        work.detail = f"{len(found)} proposals"
    return found


def purge(store: Store, actor: Actor, *, now: datetime | None = None) -> int:
    """Remove the text of forum posts past their retention. Returns how many."""
    from tipwatch.forums.run import purge_text

    with unit(store, actor, "forum.purge", object_type="forum") as work:
        assert work.conn is not None
        removed = purge_text(work.conn, now=now)
        work.detail = f"text of {removed} posts removed"
    return removed
