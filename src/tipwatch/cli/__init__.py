"""The ``tipwatch`` command. A thin layer: every command calls a library function."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from tipwatch import __version__, services
from tipwatch.cli._help import TipwatchGroup
from tipwatch.errors import TipwatchError, exit_code_of
from tipwatch.services import Actor
from tipwatch.services.exports import csv_cell
from tipwatch.settings import get_settings

if TYPE_CHECKING:
    from tipwatch.intake import IngestSummary
    from tipwatch.store import Store

app = typer.Typer(
    name="tipwatch",
    help=(
        "tipwatch: referral intake, hash matching, triage and trend analysis for analysts "
        "fighting online child sexual exploitation.\n\n"
        "The store is ./tipwatch.db unless --db, $TIPWATCH_DB or the settings file "
        "(docs/settings.md) names another (a file path, or a URL such as "
        "postgresql://user@host/db). Dates: --since is the first day included, --until the "
        "last day included; times are printed in ISO 8601 (UTC)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    cls=TipwatchGroup,
)
referrals_app = typer.Typer(help="List and show stored referrals.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Malformed records kept aside with their reason: list, show, retry, dismiss.",
    no_args_is_help=True,
)
app.add_typer(referrals_app, name="referrals")
app.add_typer(quarantine_app, name="quarantine")

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store: an SQLite file path or a database URL. Default: the db setting "
        "(./tipwatch.db).",
        show_default=False,
    ),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run the work on Dask: local:N (N worker processes here) or a scheduler's "
        "tls://HOST:8786. Default: the cluster setting (unset: local processes).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]


class ObjectFormat(StrEnum):
    """Output formats of a command that prints one object (no rows, so no CSV)."""

    TABLE = "table"
    JSON = "json"


ShowFormatOption = Annotated[
    ObjectFormat,
    typer.Option(
        "--format",
        "-f",
        help="Output format: json, or table (a readable summary).",
        case_sensitive=False,
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(help="First day included (YYYY-MM-DD or an ISO 8601 time).", show_default=False),
]
UntilOption = Annotated[
    str | None,
    typer.Option(help="Last day included (YYYY-MM-DD or an ISO 8601 time).", show_default=False),
]

# Library hints name no control of any interface; where a flag does what a hint says, the CLI
# says so.
_HINT_AS_FLAG = {
    "give an end date after the start date": "give an --until date after the --since date",
    "attribute with the older database anyway": "add --force to attribute with it anyway",
    "check the path, or create a store there (init, ingest or demo)": (
        "check --db, or create the store with `tipwatch init`"
    ),
    "name the hash type: md5, sha1, sha256, pdq, ...": "add --hash-type md5|sha1|sha256|pdq|...",
    "check the file's format and hash values, or force the import": (
        "check the list file's format and hash values, or add --force to import it anyway"
    ),
}

_CONTROL = dict.fromkeys([*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)], "\ufffd")


def plain(value: object) -> str:
    """User data as inert text: terminal control characters (escape sequences) replaced."""
    return str(value).translate(_CONTROL)


def _fail(message: str, code: int = 1, *, hint: str | None = None) -> None:
    err_console.print(Text.assemble(("error: ", "bold red"), plain(message)))
    if hint:
        err_console.print(Text.assemble(("hint: ", "bold"), plain(_HINT_AS_FLAG.get(hint, hint))))
    raise typer.Exit(code)


def _run(action: Callable[[], None]) -> None:
    """Run a command body: tipwatch's errors become a message, their hint and the exit status
    of the error's class (``tipwatch.errors.ERROR_STATUS``); Ctrl-C ends with status 130."""
    try:
        action()
    except TipwatchError as exc:
        _fail(str(exc), exit_code_of(exc), hint=exc.hint)
    except KeyboardInterrupt:
        err_console.print(
            "interrupted: work committed so far is kept; run the command again to go on",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _open(db: str | None, *, create: bool = False) -> Store:
    """The store ``--db`` names, else the one the settings name; a missing file is refused
    unless the command creates stores."""
    return services.stores.open_store(db or get_settings().db, create=create)


def _actor() -> Actor:
    """Who acts: the settings' actor (the operating-system user by default) and role."""
    settings = get_settings()
    return Actor.of(settings.actor, settings.role, country=settings.actor_country)


def _stage_progress(*, enabled: bool = True) -> tuple[Progress, Callable[[str, int, int], None]]:
    """A progress display of named stages on stderr (only on a terminal), and the callback the
    library calls with ``(stage, done, total)``; a stage that is a file path shows its name."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not (enabled and err_console.is_terminal),
    )
    tasks: dict[str, Any] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        label = Path(stage).name if "/" in stage else stage
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=total or 1)
        progress.update(tasks[label], completed=done, total=total or 1)

    return progress, on_progress


# Never broken across lines: what a user reads as one token or types into the next command
# (ids, times, codes, an incident type's short name, an audit action). Free text folds.
_UNBROKEN_COLUMNS = frozenset(
    {
        "report_id",
        "incident_time",
        "incident_type",
        "id",
        "location",
        "status",
        "country",
        "attributed_country",
        "file_count",
        "day",
        "at",
        "action",
        "actor",
        "outcome",
    }
)
_HEADERS = {"file_count": "files", "report_id": "report id"}


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def _dumps(data: Any, *, indent: int | None = 2) -> str:
    """JSON for standard output: complete, ISO 8601 times, C1 control characters escaped
    (JSON escapes C0 ones itself), so a terminal never acts on user data."""
    text = json.dumps(data, indent=indent, default=_json_default, ensure_ascii=False)
    return text.translate({c: f"\\u{c:04x}" for c in range(0x7F, 0xA0)})


def _print_json(data: Any) -> None:
    sys.stdout.write(_dumps(data) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _emit(rows: Sequence[dict[str, Any]], fmt: OutputFormat, columns: Sequence[str]) -> None:
    """Rows as a table (the named columns), JSON (every field) or CSV (the named columns)."""
    if fmt is OutputFormat.JSON:
        _print_json(list(rows))
        return
    if fmt is OutputFormat.CSV:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            # Terminal-safe, and no cell a spreadsheet would run as a formula.
            writer.writerow({k: csv_cell(plain(_cell(row.get(k)))) for k in columns})
        sys.stdout.write(buf.getvalue())
        return
    # No vertical rules: the columns then fit an 80-column terminal. Cells are Text, so user
    # data is never read as Rich markup.
    cells = [[plain(_cell(row.get(c))) for c in columns] for row in rows]
    shown = _fitting_columns(list(columns), cells, console.width)
    left_out = [c for c in columns if c not in shown]
    cells = [[cell for c, cell in zip(columns, line, strict=True) if c in shown] for line in cells]
    columns = shown
    table = Table(show_lines=False, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        table.add_column(
            _HEADERS.get(col, col.replace("_", " ")),
            overflow="fold",
            no_wrap=col in _UNBROKEN_COLUMNS,
        )
    for line in cells:
        table.add_row(*(Text(cell) for cell in line))
    captions = []
    if any(str(row.get("report_id", "")).endswith(" !") for row in rows):
        captions.append("! escalated to high priority by the sender")
    if left_out:
        captions.append(
            f"not shown at this width: {', '.join(c.replace('_', ' ') for c in left_out)} "
            "(all columns with --format csv or json)"
        )
    table.caption = "\n".join(captions) or None
    console.print(table)


_FOLDED_MIN = 8
"""The narrowest a column of free text gets before columns are left out instead."""


def _fitting_columns(columns: list[str], cells: list[list[str]], width: int) -> list[str]:
    """The columns that fit ``width`` with every unbroken column whole: the rightmost (the
    least important) are left out first, never the first column (the object's id)."""

    def needed(cols: list[str]) -> int:
        # Between columns, padding and the (blank) rule take 3 characters; the edges 2.
        total = 3 * (len(cols) - 1) + 2
        for col in cols:
            i = columns.index(col)
            header = len(_HEADERS.get(col, col))
            longest = max([header, *(len(line[i]) for line in cells)])
            total += longest if col in _UNBROKEN_COLUMNS else min(longest, _FOLDED_MIN)
        return total

    shown = list(columns)
    while len(shown) > 1 and needed(shown) > width:
        shown.pop()
    return shown


def _show(doc: dict[str, Any], fmt: ObjectFormat) -> None:
    """One object: JSON (complete), or a two-column table of its fields."""
    if fmt is ObjectFormat.JSON:
        _print_json(doc)
        return
    table = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in doc.items():
        table.add_row(Text(key.lstrip("_").replace("_", " ")), Text(plain(_cell(value))))
    console.print(table)


def _table_referral(row: dict[str, Any]) -> dict[str, Any]:
    """A referral list row made short enough for a terminal table."""
    out = dict(row)
    out["incident_time"] = str(row["incident_time"])[:16]  # ISO 8601 to the minute
    if row.get("escalated"):
        out["report_id"] = f"{row['report_id']} !"
    with contextlib.suppress(ValueError):
        out["incident_type"] = services.referrals.incident_slug(row["incident_type"])
    return out


def _parse_time(value: str | None, option: str, *, end: bool = False) -> datetime | None:
    """A date or ISO 8601 time given for ``option``, in UTC when no zone is given.

    With ``end`` (an ``--until``), a day means up to the end of that day: the bound returned is
    exclusive, so that every command includes its ``--until`` day.
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be a date or date-time such as 2020-03-16, got {value!r}")
        raise
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if end:
        from datetime import timedelta

        date_only = len(value.strip()) <= 10
        parsed += timedelta(days=1) if date_only else timedelta(microseconds=1)
    return parsed


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"tipwatch {__version__}")
        raise typer.Exit()


# -- init and ingest ------------------------------------------------------------------------


@app.command()
def init(db: DbOption = None) -> None:
    """Create a store (an SQLite file, or the tables in a PostgreSQL database).

    Other commands refuse a store that does not exist, so that a mistyped --db never answers
    from a new, empty store; `ingest` and `demo` create theirs too.
    """

    def body() -> None:
        store = services.stores.init_store(db or get_settings().db, _actor())
        console.print(Text(f"store ready: {store.url}"))

    _run(body)


def _print_summary(summary: IngestSummary) -> None:
    table = Table(title="Intake summary", header_style="bold")
    for col in (
        "source",
        "ingested",
        "duplicates",
        "revised",
        "files added",
        "pending files",
        "quarantined",
    ):
        table.add_column(col, justify="left" if col == "source" else "right")
    for s in summary.sources:
        name = plain(Path(s.source).name)
        if s.resumed_from:
            name += f" (resumed at record {s.resumed_from:,})"
        table.add_row(
            Text(name),
            f"{s.ingested:,}",
            f"{s.duplicates:,}",
            f"{s.revised:,}",
            f"{s.files_added:,}",
            f"{s.pending:,}",
            f"{s.quarantined:,}",
        )
    if len(summary.sources) > 1:
        table.add_row(
            "[bold]total",
            *(
                f"[bold]{v:,}"
                for v in (
                    summary.ingested,
                    summary.duplicates,
                    summary.revised,
                    summary.files_added,
                    summary.pending,
                    summary.quarantined,
                )
            ),
        )
    console.print(table)
    if summary.skipped:
        console.print(
            f"[bold]Skipped[/] {len(summary.skipped):,} file(s) that are not referral sources:"
        )
        for path, reason in summary.skipped[:10]:
            console.print(Text(f"  {plain(path)}: {reason}"))
        if len(summary.skipped) > 10:
            console.print(f"  … and {len(summary.skipped) - 10:,} more")
    shown = 0
    for s in summary.sources:
        for location, reason in s.problems:
            if shown == 0:
                console.print(
                    "[bold yellow]Quarantined records[/] (see `tipwatch quarantine list`):"
                )
            if shown < 10:
                console.print(Text(f"  {plain(s.source)}, {location}: {plain(reason)}"))
            shown += 1
    if shown > 10:
        console.print(f"  … and {summary.quarantined - 10:,} more")


class InputFormatChoice(StrEnum):
    XML = "xml"
    JSONL = "jsonl"
    CSV = "csv"


class SummaryFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders (read recursively).", show_default=False)
    ],
    db: DbOption = None,
    input_format: Annotated[
        InputFormatChoice | None,
        typer.Option(
            "--input-format",
            help="Read every file in this format (default: detect per file; files in folders "
            "that are not referral sources are skipped).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Records per transaction.", min=1)] = 500,
    fmt: Annotated[
        SummaryFormat, typer.Option("--format", "-f", help="Output format of the summary.")
    ] = SummaryFormat.TABLE,
) -> None:
    """Read referrals (CyberTipline XML, JSON Lines, CSV) into the store (created if new).

    Idempotent: the same report id again counts as a duplicate, or as a revision when it
    changed. Malformed records go to the quarantine with the reason; the rest is ingested.
    An interrupted run resumes where it stopped when the same file is ingested again. Files
    in folders that are not referral sources (hash lists, media, notes) are skipped and listed.
    """

    def body() -> None:
        store = _open(db, create=True)
        as_json = fmt is SummaryFormat.JSON
        show_progress = not as_json and err_console.is_terminal
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=not show_progress,
            transient=True,
        )
        tasks: dict[str, Any] = {}

        def on_progress(source: str, done: int, total: int) -> None:
            if source not in tasks:
                tasks[source] = progress.add_task(plain(Path(source).name), total=total)
            progress.update(tasks[source], completed=done)

        limits = get_settings()
        with progress:
            summary = services.referrals.ingest(
                store,
                _actor(),
                paths,
                input_format=input_format.value if input_format else None,
                batch_size=batch_size,
                progress=on_progress,
                max_xml_record_bytes=limits.max_xml_record_bytes,
                max_jsonl_line_bytes=limits.max_jsonl_line_bytes,
                max_bad_record_share=limits.max_bad_record_share,
            )
        if as_json:
            out = summary.as_dict()
            out["problems"] = [
                {"source": s.source, "location": loc, "reason": reason}
                for s in summary.sources
                for loc, reason in s.problems
            ]
            _print_json(out)
        else:
            _print_summary(summary)

    _run(body)


# -- referrals ------------------------------------------------------------------------------

_REFERRAL_COLUMNS = (
    "report_id",
    "incident_time",
    "incident_type",
    "attributed_country",
    "file_count",
    "platform",
)
_HEADERS["attributed_country"] = "country"


@referrals_app.command("list")
def referrals_list(
    db: DbOption = None,
    since: Annotated[
        str | None, typer.Option(help="Incidents from this day (included).", show_default=False)
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Incidents up to this day (included).", show_default=False),
    ] = None,
    country: Annotated[
        str | None,
        typer.Option(
            help="The country triage attributed (ISO code), or 'unknown'.", show_default=False
        ),
    ] = None,
    stated_country: Annotated[
        str | None,
        typer.Option(
            "--stated-country",
            help="The country the sender stated (ISO code), or 'unknown'.",
            show_default=False,
        ),
    ] = None,
    incident_type: Annotated[
        str | None,
        typer.Option(
            "--incident-type",
            help="Full name or short name, e.g. online-enticement.",
            show_default=False,
        ),
    ] = None,
    tier: Annotated[
        list[str] | None,
        typer.Option(help="Priority tier (repeat for several).", show_default=False),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="open (not yet routed) or sent.", show_default=False),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(help="The reporting service (platform), any case.", show_default=False),
    ] = None,
    received_since: Annotated[
        str | None,
        typer.Option(help="Received from this day (included).", show_default=False),
    ] = None,
    received_until: Annotated[
        str | None,
        typer.Option(help="Received up to this day (included).", show_default=False),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.", min=1)] = 100,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List referrals, oldest incident first, with filters."""

    def body() -> None:
        found = services.referrals.list_referrals(
            _open(db),
            _actor(),
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until", end=True),
            country=country,
            stated_country=stated_country,
            incident_type=incident_type,
            tiers=tier or (),
            status=status,
            service=service,
            received_since=_parse_time(received_since, "--received-since"),
            received_until=_parse_time(received_until, "--received-until", end=True),
            limit=limit,
        )
        rows = [s.as_dict() for s in found]
        if fmt is OutputFormat.TABLE:
            rows = [_table_referral(r) for r in rows]
        columns = (
            list(rows[0].keys())
            if rows and fmt is not OutputFormat.TABLE
            else list(_REFERRAL_COLUMNS)
        )
        _emit(rows, fmt, columns)

    _run(body)


def _triage_config() -> Any:
    """The team's triage configuration (the triage_config setting), for every command."""
    return services.triage.load_triage_config(get_settings().triage_config)


@referrals_app.command("show")
def referrals_show(
    report_id: Annotated[str, typer.Argument(help="The referral's report id.")],
    db: DbOption = None,
    revisions: Annotated[bool, typer.Option(help="Also show earlier versions.")] = False,
    fmt: ShowFormatOption = ObjectFormat.JSON,
) -> None:
    """Show one referral's dossier: the referral as sent, its files and matches, attribution
    with evidence, legal-viewing status, links, priority, packages (and revisions)."""

    def body() -> None:
        dossier = services.referrals.show_referral(
            _open(db), _actor(), report_id, config=_triage_config(), revisions=revisions
        )
        _show(dossier.as_dict(), fmt)

    _run(body)


@referrals_app.command("attach-media")
def referrals_attach_media(
    report_id: Annotated[str, typer.Argument(help="The referral's report id.")],
    file_id: Annotated[str, typer.Argument(help="The file's id in the referral.")],
    media: Annotated[
        Path, typer.Argument(help="The file's media: an image or a video.", show_default=False)
    ],
    db: DbOption = None,
    fmt: ShowFormatOption = ObjectFormat.JSON,
) -> None:
    """Hand in the media of a stored referral's file. They are hashed and checked against the
    hashes the referral states; then discarded, unless the deployment keeps media
    (media_keep, with media_key): then they are kept encrypted, for reviewers to view."""

    def body() -> None:
        done = services.media.attach_media(_open(db), _actor(), report_id, file_id, media)
        _show(done.as_dict(), fmt)

    _run(body)


@referrals_app.command("reindex")
def referrals_reindex(
    db: DbOption = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Referrals per transaction.", min=1, max=100_000)
    ] = 1000,
    fmt: ShowFormatOption = ObjectFormat.TABLE,
) -> None:
    """Index the accounts, e-mail addresses, screen names, IPs and URLs of referrals that
    have no index rows (those stored before the identifier search existed), so that a search
    by one of them finds them. Commits batch by batch with a progress bar; safe to stop and
    run again (a complete index is left as it is). Administrators only; audited."""

    def body() -> None:
        progress, on_progress = _stage_progress(enabled=fmt is ObjectFormat.TABLE)
        with progress:
            result = services.referrals.reindex_identifiers(
                _open(db), _actor(), batch_size=batch_size, progress=on_progress
            )
        if fmt is ObjectFormat.JSON:
            _show(result.as_dict(), fmt)
            return
        console.print(
            Text(
                f"{result.missing} referrals had no identifier rows: {result.indexed} indexed "
                f"({result.rows} rows), {result.missing - result.indexed} name no identifier"
            )
        )

    _run(body)


# -- quarantine -----------------------------------------------------------------------------

_QUARANTINE_COLUMNS = ("id", "source_file", "location", "record_key", "reason", "status")


class StatusChoice(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"
    ALL = "all"


@quarantine_app.command("list")
def quarantine_list(
    db: DbOption = None,
    status: Annotated[StatusChoice, typer.Option(help="Which entries.")] = StatusChoice.OPEN,
    limit: Annotated[int | None, typer.Option(help="At most this many.", min=1)] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List quarantined records with their source, location and reason."""

    def body() -> None:
        entries = services.referrals.list_quarantined(
            _open(db), _actor(), status=status.value, limit=limit
        )
        rows = [e.as_dict() for e in entries]
        columns = (
            list(rows[0].keys())
            if rows and fmt is not OutputFormat.TABLE
            else list(_QUARANTINE_COLUMNS)
        )
        _emit(rows, fmt, columns)

    _run(body)


@quarantine_app.command("show")
def quarantine_show(
    entry_id: Annotated[int, typer.Argument(help="Quarantine entry id.")],
    db: DbOption = None,
    fmt: ShowFormatOption = ObjectFormat.JSON,
) -> None:
    """Show one quarantined record, with its text as it was read."""

    def body() -> None:
        entry = services.referrals.show_quarantined(_open(db), _actor(), entry_id)
        _show(entry.as_dict(with_raw=True), fmt)

    _run(body)


@quarantine_app.command("retry")
def quarantine_retry(
    entry_ids: Annotated[list[int] | None, typer.Argument(help="Entry ids.")] = None,
    db: DbOption = None,
    all_open: Annotated[bool, typer.Option("--all", help="Retry every open entry.")] = False,
) -> None:
    """Read quarantined records again and ingest those that now read."""

    def body() -> None:
        if not entry_ids and not all_open:
            _fail("name entry ids or use --all")
        results = services.referrals.retry_quarantined(
            _open(db), _actor(), None if all_open else list(entry_ids or [])
        )
        for line in results:
            console.print(Text(plain(line)))

    _run(body)


@quarantine_app.command("dismiss")
def quarantine_dismiss(
    entry_ids: Annotated[list[int], typer.Argument(help="Entry ids.", show_default=False)],
    reason: Annotated[str, typer.Option(help="Why the records are set aside (kept in the entry).")],
    db: DbOption = None,
) -> None:
    """Set quarantined records aside for good, with a reason (they are kept, not deleted)."""

    def body() -> None:
        n = services.referrals.dismiss_quarantined(_open(db), _actor(), entry_ids, reason=reason)
        console.print(f"{n:,} entr{'y' if n == 1 else 'ies'} dismissed")

    _run(body)


# The other command modules register their commands on ``app`` when imported, in the order of
# an analyst's work (``tipwatch --help`` lists them so).
# isort: off
from tipwatch.cli import matching as _matching  # noqa: E402, F401
from tipwatch.cli import triage as _triage  # noqa: E402, F401
from tipwatch.cli import trends as _trends  # noqa: E402, F401
from tipwatch.cli import urls as _urls  # noqa: E402, F401
from tipwatch.cli import forums as _forums  # noqa: E402, F401
from tipwatch.cli import demo as _demo  # noqa: E402, F401
from tipwatch.cli import audit as _audit  # noqa: E402, F401
from tipwatch.cli import identity as _identity  # noqa: E402, F401
# isort: on


@app.command()
def schema() -> None:
    """Print the JSON Schema of the canonical referral form."""
    _print_json(services.referrals.referral_schema())


def main() -> None:  # pragma: no cover - entry point
    app()
