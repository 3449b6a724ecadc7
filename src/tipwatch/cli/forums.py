"""Forum monitoring commands: ``forums ingest``, ``themes``, ``tag``, ``summary``,
``emerging``, ``expand``, ``purge``."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from tipwatch import services
from tipwatch.cli import (
    DbOption,
    FormatOption,
    OutputFormat,
    _actor,
    _emit,
    _fail,
    _open,
    _print_json,
    _run,
    _stage_progress,
    app,
    console,
    err_console,
    plain,
)

forums_app = typer.Typer(
    help="Forum monitoring: ingest exports of forum posts (authors pseudonymised), themes, "
    "emerging terms, daily series per theme for `tipwatch trends`.",
    no_args_is_help=True,
)
app.add_typer(forums_app, name="forums")

ThemesOption = Annotated[
    Path | None,
    typer.Option(
        "--themes",
        help="A theme file (TOML). Default: the forum_themes setting, else the shipped one.",
        show_default=False,
    ),
]
LexiconOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--lexicon",
        help="A licensed keyword list (CSV or JSON: term, language, category, source, date, "
        "match); repeatable.",
        show_default=False,
    ),
]


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be a date such as 2020-03-16, got {value!r}")
        raise


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class ObjectOrJson(StrEnum):
    TABLE = "table"
    JSON = "json"


@forums_app.command("ingest")
def forums_ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Export files or folders.", show_default=False)
    ],
    db: DbOption = None,
    themes: ThemesOption = None,
    lexicon: LexiconOption = None,
    country: Annotated[
        str | None,
        typer.Option(
            help="The country the forum's series count for (ISO code). Default: ZZ (none).",
            show_default=False,
        ),
    ] = None,
    input_format: Annotated[
        ExportFormat | None,
        typer.Option(
            "--input-format", help="Read every file so (default: detect).", show_default=False
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Posts per transaction.", min=1)] = 500,
    fmt: Annotated[
        ObjectOrJson, typer.Option("--format", "-f", help="Output format of the summary.")
    ] = ObjectOrJson.TABLE,
) -> None:
    """Read exports of forum posts (JSON Lines, CSV; see docs/forums.md) into the store.

    Author handles become keyed-hash pseudonyms (the pseudonym_key setting) and are never
    stored; text is stored only when the forum_keep_text setting says so. Each post's themes
    are found with their evidence; the daily series per theme, forum and language are written
    for `tipwatch trends`. Idempotent and resumable; bad records go to the quarantine (their
    author pseudonymised, their text left out) with the line and reason.
    """

    def body() -> None:
        store = _open(db, create=True)
        progress, on_progress = _stage_progress(enabled=fmt is ObjectOrJson.TABLE)
        with progress:
            summary, problems = services.forums.ingest(
                store,
                _actor(),
                paths,
                themes_file=themes,
                lexicons=lexicon or [],
                country=country,
                input_format=input_format.value if input_format else None,
                batch_size=batch_size,
                progress=on_progress,
            )
        if fmt is ObjectOrJson.JSON:
            _print_json({**summary.as_dict(), "lexicon_problems": problems})
            return
        for s in summary.sources:
            resumed = f" (resumed after record {s.resumed_from})" if s.resumed_from else ""
            console.print(
                Text(
                    f"{plain(s.source)}: {s.ingested:,} ingested, {s.duplicates:,} duplicates, "
                    f"{s.revised:,} revised, {s.quarantined:,} quarantined{resumed}"
                )
            )
            for location, reason in s.problems:
                err_console.print(Text(f"  {plain(location)}: {plain(reason)}"))
        for problem in problems[:20]:
            err_console.print(Text(f"  keyword list: {plain(problem)}"))
        kept = "kept" if summary.text_kept else "not kept (derived features only)"
        console.print(f"themes {summary.themes_digest}; text {kept}", style="dim")

    _run(body)


@forums_app.command("themes")
def forums_themes(
    themes: ThemesOption = None,
    lexicon: LexiconOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """The themes in force, with their number of terms per language."""

    def body() -> None:
        listing = services.forums.themes(_actor(), themes_file=themes, lexicons=lexicon or [])
        rows = [
            {
                **t,
                "languages": ", ".join(f"{k} {v}" for k, v in t["languages"].items()),
            }
            for t in listing.themes
        ]
        if fmt is OutputFormat.JSON:
            _print_json(
                {
                    "sources": listing.sources,
                    "digest": listing.digest,
                    "themes": listing.themes,
                    "problems": listing.problems,
                }
            )
            return
        _emit(rows, fmt, ("theme", "label", "terms", "languages"))
        for problem in listing.problems[:20]:
            err_console.print(Text(f"  keyword list: {plain(problem)}"))

    _run(body)


@forums_app.command("tag")
def forums_tag(
    texts: Annotated[list[str], typer.Argument(help="Texts to tag.", show_default=False)],
    themes: ThemesOption = None,
    lexicon: LexiconOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """The themes of each text with their evidence: try a theme file before ingesting."""

    def body() -> None:
        results = services.forums.tag(_actor(), texts, themes_file=themes, lexicons=lexicon or [])
        rows = [
            {
                "text": i + 1,
                "theme": ev["theme"],
                "term": ev["term"],
                "channel": ev["channel"],
                "span": f"{ev['start']}-{ev['end']}",
                "raw": ev["raw"],
            }
            for i, r in enumerate(results)
            for ev in r["evidence"]
        ]
        if fmt is OutputFormat.JSON:
            _print_json(results)
            return
        _emit(rows, fmt, ("text", "theme", "term", "channel", "span", "raw"))

    _run(body)


def _emerging_rows(terms: list[Any]) -> list[dict[str, Any]]:
    return [t.as_dict() for t in terms]


_EMERGING_COLUMNS = (
    "term",
    "z",
    "g2",
    "ratio",
    "window_posts",
    "authors",
    "threads",
    "burst_start",
    "examples",
)


@forums_app.command("emerging")
def forums_emerging(
    until: Annotated[
        str | None, typer.Option(help="Last day of the window (default: the last with posts).")
    ] = None,
    window_days: Annotated[int, typer.Option(help="Days of the window.", min=1)] = 7,
    reference_days: Annotated[
        int, typer.Option(help="Days of the reference before the window.", min=7)
    ] = 56,
    min_z: Annotated[float, typer.Option(help="Least z of the weighted log-odds.")] = 3.0,
    min_authors: Annotated[
        int, typer.Option(help="Least distinct (pseudonymous) authors.", min=1)
    ] = 3,
    min_threads: Annotated[int, typer.Option(help="Least distinct threads.", min=1)] = 2,
    forum: Annotated[str | None, typer.Option(help="Only this forum.")] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Terms whose use rose in the window against the reference (weighted log-odds with an
    informative Dirichlet prior, Dunning's G2), used by several authors in more than one
    thread, with the day their burst began and example post ids."""

    def body() -> None:
        end, terms = services.forums.emerging(
            _open(db),
            _actor(),
            until=_day(until, "--until"),
            window_days=window_days,
            reference_days=reference_days,
            min_z=min_z,
            min_authors=min_authors,
            min_threads=min_threads,
            forum=forum,
        )
        rows = _emerging_rows(terms)
        if fmt is OutputFormat.TABLE:
            console.print(f"Emerging terms, {window_days} days to {end}: {len(rows)}")
        _emit(rows, fmt, _EMERGING_COLUMNS)

    _run(body)


@forums_app.command("summary")
def forums_summary(
    since: Annotated[str | None, typer.Option(help="From this day (included).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this day (included).")] = None,
    top: Annotated[int, typer.Option(help="Threads shown per theme.", min=1)] = 5,
    db: DbOption = None,
    fmt: Annotated[
        ObjectOrJson, typer.Option("--format", "-f", help="Output format.")
    ] = ObjectOrJson.TABLE,
) -> None:
    """Themes over time (posts per week), the top threads of each theme (post ids,
    pseudonymous authors, matched evidence) and the emerging terms."""

    def body() -> None:
        result = services.forums.summary(
            _open(db),
            _actor(),
            since=_day(since, "--since"),
            until=_day(until, "--until"),
            top=top,
        )
        if fmt is ObjectOrJson.JSON:
            _print_json(result)
            return
        console.print(
            f"[bold]Forum posts[/] {result['first_day']} to {result['last_day']}: "
            f"{result['posts']:,} posts, {result['forums']} forums, "
            f"{result['authors']:,} pseudonymous authors, {result['with_text']:,} with text kept",
            highlight=False,
        )
        for theme in result["themes"]:
            weeks = " ".join(f"{w[5:]}:{n}" for w, n in theme["weeks"].items())
            console.print(Text(f"\n{theme['theme']}: {theme['posts']:,} posts"))
            console.print(Text(f"  per week: {weeks}"))
            rows = [
                {
                    "forum": t["forum"],
                    "thread": t["thread"],
                    "posts": t["posts"],
                    "authors": t["author_count"],
                    "post_ids": ", ".join(t["post_ids"]),
                    "evidence": ", ".join(t["evidence"]),
                }
                for t in theme["top_threads"]
            ]
            _emit(
                rows,
                OutputFormat.TABLE,
                ("forum", "thread", "posts", "authors", "post_ids", "evidence"),
            )
        console.print(
            f"\n[bold]Emerging terms[/] (7 days to {result['emerging_until']}): "
            f"{len(result['emerging'])}",
            highlight=False,
        )
        if result["emerging"]:
            _emit(result["emerging"], OutputFormat.TABLE, _EMERGING_COLUMNS)

    _run(body)


@forums_app.command("expand")
def forums_expand(
    theme: Annotated[str, typer.Argument(help="The theme to find company for.")],
    themes: ThemesOption = None,
    lexicon: LexiconOption = None,
    since: Annotated[str | None, typer.Option(help="From this day (included).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this day (included).")] = None,
    limit: Annotated[int, typer.Option(help="Most proposals shown.", min=1)] = 20,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Terms that keep company with a theme's posts (Dunning's G2, several authors), proposed
    for an analyst to accept into the theme file. Nothing is changed."""

    def body() -> None:
        found = services.forums.expand(
            _open(db),
            _actor(),
            theme,
            themes_file=themes,
            lexicons=lexicon or [],
            since=_day(since, "--since"),
            until=_day(until, "--until"),
            limit=limit,
        )
        _emit(
            [p.as_dict() for p in found],
            fmt,
            ("term", "with_theme", "without_theme", "authors", "lift", "g2"),
        )

    _run(body)


@forums_app.command("purge")
def forums_purge(db: DbOption = None) -> None:
    """Remove the text of forum posts past their retention (forum_text_retention_days)."""

    def body() -> None:
        removed = services.forums.purge(_open(db), _actor())
        console.print(f"text of {removed:,} post(s) removed")

    _run(body)
