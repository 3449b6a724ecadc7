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
from typing import Annotated, Any

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

from tipwatch import __version__
from tipwatch.cli._help import TipwatchGroup
from tipwatch.errors import TipwatchError
from tipwatch.formats.detect import InputFormat
from tipwatch.intake import IngestSummary, ingest_paths, retry_quarantined
from tipwatch.models import IncidentType
from tipwatch.store import Store
from tipwatch.store.quarantine import get_quarantine_entry, list_quarantine
from tipwatch.store.referrals import (
    ReferralFilter,
    get_referral,
    list_referrals,
    list_revisions,
)

app = typer.Typer(
    name="tipwatch",
    help=(
        "tipwatch: referral intake, hash matching, triage and trend analysis for analysts "
        "fighting online child sexual exploitation.\n\n"
        "The store is ./tipwatch.db unless --db or $TIPWATCH_DB names another "
        "(a file path, or a URL such as postgresql://user@host/db)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    cls=TipwatchGroup,
)
referrals_app = typer.Typer(help="List and show stored referrals.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Malformed records kept aside with their reason: list, show, retry.",
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
        envvar="TIPWATCH_DB",
        help="Store: an SQLite file path or a database URL. Default ./tipwatch.db.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _run(action: Callable[[], None]) -> None:
    """Run a command body, turning tipwatch's errors into a clear message and exit status 1."""
    try:
        action()
    except TipwatchError as exc:
        _fail(str(exc))


def _open(db: str | None) -> Store:
    return Store.open(db)


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


_UNBROKEN_COLUMNS = frozenset(
    {"report_id", "incident_time", "id", "location", "status", "country", "file_count"}
)
_HEADERS = {"file_count": "files", "report_id": "report id"}


def _emit(rows: Sequence[dict[str, Any]], fmt: OutputFormat, columns: Sequence[str]) -> None:
    if fmt is OutputFormat.JSON:
        sys.stdout.write(json.dumps(list(rows), indent=2, default=str, ensure_ascii=False) + "\n")
        return
    if fmt is OutputFormat.CSV:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
        sys.stdout.write(buf.getvalue())
        return
    # No vertical rules: the columns then fit an 80-column terminal.
    table = Table(show_lines=False, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        table.add_column(
            _HEADERS.get(col, col.replace("_", " ")),
            overflow="fold",
            no_wrap=col in _UNBROKEN_COLUMNS,
        )
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    if any(str(row.get("report_id", "")).endswith(" !") for row in rows):
        table.caption = "! escalated to high priority by the sender"
    console.print(table)


def _table_referral(row: dict[str, Any]) -> dict[str, Any]:
    """A referral list row made short enough for a terminal table."""
    out = dict(row)
    out["incident_time"] = str(row["incident_time"])[:16].replace("T", " ")
    if row.get("escalated"):
        out["report_id"] = f"{row['report_id']} !"
    with contextlib.suppress(ValueError):
        out["incident_type"] = IncidentType(row["incident_type"]).slug
    return out


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be a date or date-time such as 2020-03-16, got {value!r}")
        raise
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"tipwatch {__version__}")
        raise typer.Exit()


# -- ingest ---------------------------------------------------------------------------------


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
        name = Path(s.source).name
        if s.resumed_from:
            name += f" (resumed at record {s.resumed_from:,})"
        table.add_row(
            name,
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
    shown = 0
    for s in summary.sources:
        for location, reason in s.problems:
            if shown == 0:
                console.print(
                    "[bold yellow]Quarantined records[/] (see `tipwatch quarantine list`):"
                )
            if shown < 10:
                console.print(f"  {s.source}, {location}: {reason}", highlight=False)
            shown += 1
    if shown > 10:
        console.print(f"  … and {summary.quarantined - 10:,} more")


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders (read recursively).", show_default=False)
    ],
    db: DbOption = None,
    input_format: Annotated[
        InputFormat | None,
        typer.Option("--format", help="Force the input format (default: detect per file)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Records per transaction.", min=1)] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Read referrals (CyberTipline XML, JSON Lines, CSV) into the store.

    Idempotent: the same report id again counts as a duplicate, or as a revision when it
    changed. Malformed records go to the quarantine with the reason; the rest is ingested.
    An interrupted run resumes where it stopped when the same file is ingested again.
    """

    def body() -> None:
        store = _open(db)
        show_progress = not as_json and console.is_terminal
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
                tasks[source] = progress.add_task(Path(source).name, total=total)
            progress.update(tasks[source], completed=done)

        with progress:
            summary = ingest_paths(
                store, paths, fmt=input_format, batch_size=batch_size, progress=on_progress
            )
        if as_json:
            out = summary.as_dict()
            out["problems"] = [
                {"source": s.source, "location": loc, "reason": reason}
                for s in summary.sources
                for loc, reason in s.problems
            ]
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            _print_summary(summary)

    _run(body)


# -- referrals ------------------------------------------------------------------------------

_REFERRAL_COLUMNS = (
    "report_id",
    "incident_time",
    "incident_type",
    "country",
    "file_count",
    "platform",
)


@referrals_app.command("list")
def referrals_list(
    db: DbOption = None,
    since: Annotated[str | None, typer.Option(help="Incidents at or after (ISO date).")] = None,
    until: Annotated[str | None, typer.Option(help="Incidents before (ISO date).")] = None,
    country: Annotated[
        str | None,
        typer.Option(help="Country the referral states (ISO alpha-2), or 'unknown'."),
    ] = None,
    incident_type: Annotated[
        str | None,
        typer.Option("--incident-type", help="Full name or short name, e.g. online-enticement."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.", min=1)] = 100,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List referrals, oldest incident first, with filters."""

    def body() -> None:
        try:
            itype = IncidentType.parse(incident_type) if incident_type else None
        except ValueError as exc:
            _fail(str(exc))
            return
        flt = ReferralFilter(
            since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"),
            country=country,
            incident_type=itype,
            limit=limit,
        )
        rows = [s.as_dict() for s in list_referrals(_open(db), flt)]
        if fmt is OutputFormat.TABLE:
            rows = [_table_referral(r) for r in rows]
        columns = (
            list(rows[0].keys())
            if rows and fmt is not OutputFormat.TABLE
            else list(_REFERRAL_COLUMNS)
        )
        _emit(rows, fmt, columns)

    _run(body)


@referrals_app.command("show")
def referrals_show(
    report_id: Annotated[str, typer.Argument(help="The referral's report id.")],
    db: DbOption = None,
    revisions: Annotated[bool, typer.Option(help="Also show earlier versions.")] = False,
) -> None:
    """Show one referral in full (canonical JSON)."""

    def body() -> None:
        store = _open(db)
        referral = get_referral(store, report_id)
        doc: dict[str, Any] = json.loads(referral.model_dump_json(exclude_defaults=True))
        from tipwatch.matching.matcher import file_matches_for, file_statuses

        statuses = file_statuses(store, report_id)
        if statuses:
            doc["_match_status"] = statuses
            doc["_matches"] = file_matches_for(store, report_id)
        from tipwatch.triage.config import load_config
        from tipwatch.triage.queries import (
            attribution_of,
            legal_status,
            links_of,
            packages_of,
            priority_of,
        )

        attribution = attribution_of(store, report_id, history=True)
        if attribution is not None:
            doc["_attribution"] = attribution
            country = None if attribution["country"] == "unknown" else attribution["country"]
            doc["_legal"] = legal_status(store, report_id, load_config(), country)
        priority = priority_of(store, report_id)
        if priority is not None:
            doc["_priority"] = priority
        groups = links_of(store, report_id)
        if groups:
            doc["_links"] = groups
        sent = packages_of(store, report_id)
        if sent:
            doc["_sent_in"] = sent
        if revisions:
            doc["_revisions"] = list_revisions(store, report_id)
        sys.stdout.write(json.dumps(doc, indent=2, default=str, ensure_ascii=False) + "\n")

    _run(body)


# -- quarantine -----------------------------------------------------------------------------

_QUARANTINE_COLUMNS = ("id", "source_file", "location", "record_key", "reason", "status")


class StatusChoice(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    ALL = "all"


@quarantine_app.command("list")
def quarantine_list(
    db: DbOption = None,
    status: Annotated[StatusChoice, typer.Option(help="Which entries.")] = StatusChoice.OPEN,
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List quarantined records with their source, location and reason."""

    def body() -> None:
        entries = list_quarantine(_open(db), status=status.value, limit=limit)
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
) -> None:
    """Show one quarantined record, with its text as it was read."""

    def body() -> None:
        entry = get_quarantine_entry(_open(db), entry_id)
        sys.stdout.write(
            json.dumps(entry.as_dict(with_raw=True), indent=2, ensure_ascii=False) + "\n"
        )

    _run(body)


@quarantine_app.command("retry")
def quarantine_retry(
    entry_ids: Annotated[list[int] | None, typer.Argument(help="Entry ids.")] = None,
    db: DbOption = None,
    all_open: Annotated[bool, typer.Option("--all", help="Retry every open entry.")] = False,
) -> None:
    """Read quarantined records again and ingest those that now read."""

    def body() -> None:
        store = _open(db)
        ids = list(entry_ids or [])
        if all_open:
            ids = [e.id for e in list_quarantine(store, status="open")]
        if not ids:
            _fail("name entry ids or use --all")
        for entry_id in ids:
            console.print(retry_quarantined(store, entry_id), highlight=False)

    _run(body)


# The other command modules register their commands on ``app`` when imported, in the order of
# an analyst's work (``tipwatch --help`` lists them so).
# isort: off
from tipwatch.cli import matching as _matching  # noqa: E402, F401
from tipwatch.cli import triage as _triage  # noqa: E402, F401
from tipwatch.cli import trends as _trends  # noqa: E402, F401
from tipwatch.cli import demo as _demo  # noqa: E402, F401
# isort: on


@app.command()
def schema() -> None:
    """Print the JSON Schema of the canonical referral form."""
    from tipwatch.models import Referral

    sys.stdout.write(json.dumps(Referral.model_json_schema(), indent=2) + "\n")


def main() -> None:  # pragma: no cover - entry point
    app()
