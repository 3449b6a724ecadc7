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
)
referrals_app = typer.Typer(help="List and show stored referrals.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Malformed records kept aside with their reason: list, show, retry.",
    no_args_is_help=True,
)
lists_app = typer.Typer(
    help="Hash lists of known material: import, list, show, export, remove.",
    no_args_is_help=True,
)
app.add_typer(referrals_app, name="referrals")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(lists_app, name="lists")

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


# -- media hashing --------------------------------------------------------------------------


class HashFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


_HASH_COLUMNS = (
    "path",
    "kind",
    "size",
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "pdq_quality",
    "width",
    "height",
    "frames",
    "error",
)


@app.command("hash")
def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (read recursively).")],
    fmt: Annotated[HashFormat, typer.Option("--format", "-f", help="Output format.")] = (
        HashFormat.JSONL
    ),
    jobs: Annotated[int, typer.Option(help="Processes to use (0: one per CPU).", min=0)] = 0,
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = (
        None
    ),
    reduced_decode: Annotated[
        bool,
        typer.Option(
            "--reduced-decode",
            help="Decode JPEGs at reduced size: about twice as fast; PDQ then differs from the "
            "reference's by a few bits.",
        ),
    ] = False,
    reference_pdq: Annotated[
        bool,
        typer.Option(
            "--reference-pdq",
            help="Compute PDQ with the reference implementation (pdqhash) itself: the same "
            "hashes, several times slower.",
        ),
    ] = False,
) -> None:
    """Hash images (PDQ, MD5, SHA-1, SHA-256) and videos (vPDQ, MD5, SHA-256).

    Media are read, hashed and released: nothing of them is stored. A file that cannot be
    hashed gets its reason in the `error` field; the run goes on. PDQ is the reference
    implementation's hash, bit for bit (computed faster by tipwatch unless --reference-pdq).
    """
    from tipwatch.formats.detect import iter_source_files
    from tipwatch.media import hash_paths

    def body() -> None:
        files = list(iter_source_files(paths))
        sink = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        writer = None
        if fmt is HashFormat.CSV:
            writer = csv.DictWriter(sink, fieldnames=list(_HASH_COLUMNS), extrasaction="ignore")
            writer.writeheader()
        errors = 0
        progress = Progress(
            TextColumn("[bold]hashing"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        )
        try:
            with progress:
                task = progress.add_task("hash", total=len(files))
                for result in hash_paths(
                    files, jobs=jobs, reduced=reduced_decode, reference=reference_pdq
                ):
                    row = result.as_dict()
                    errors += result.error is not None
                    if writer is not None:
                        row["frames"] = len(result.vpdq) if result.vpdq else None
                        writer.writerow(row)
                    else:
                        sink.write(json.dumps(row, default=lambda o: o.__dict__) + "\n")
                    progress.advance(task)
        finally:
            if out:
                sink.close()
        err_console.print(
            f"{len(files) - errors:,} file(s) hashed, {errors:,} could not be hashed",
            highlight=False,
        )

    _run(body)


# -- hash lists -----------------------------------------------------------------------------


class ListFormat(StrEnum):
    VICS = "vics"
    CSV = "csv"
    PLAIN = "plain"


def _detect_list_format(path: Path) -> ListFormat:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return ListFormat.VICS
    if suffix == ".csv":
        return ListFormat.CSV
    return ListFormat.PLAIN


@lists_app.command("import")
def lists_import(
    path: Annotated[Path, typer.Argument(help="The list file.", exists=True, dir_okay=False)],
    name: Annotated[str, typer.Option(help="The list's name (created when new).")],
    version: Annotated[str, typer.Option(help="This version's label, e.g. 2020-04-01.")],
    db: DbOption = None,
    list_format: Annotated[
        ListFormat | None, typer.Option("--format", help="vics, csv or plain (default: by suffix).")
    ] = None,
    hash_type: Annotated[
        str | None, typer.Option(help="For a plain list: md5, sha1, sha256, pdq, ...")
    ] = None,
    scheme: Annotated[
        str,
        typer.Option(help="Category scheme: projectvic_us, dhs, uk_abc, interpol, industry, none."),
    ] = "projectvic_us",
    source: Annotated[str | None, typer.Option(help="Who issues the list.")] = None,
    threshold: Annotated[
        int | None, typer.Option(help="PDQ distance for a near match (default 31).", min=0, max=128)
    ] = None,
    quality_floor: Annotated[
        int | None, typer.Option(help="Least PDQ quality to match (default 50).", min=0, max=100)
    ] = None,
    add_only: Annotated[
        bool, typer.Option("--add-only", help="Only add: do not retire entries this file lacks.")
    ] = False,
) -> None:
    """Import a version of a hash list (VICS JSON, hash CSV or a plain list)."""
    from tipwatch.formats import hashlists
    from tipwatch.matching.lists import import_list

    def body() -> None:
        fmt = list_format or _detect_list_format(path)
        if fmt is ListFormat.VICS:
            records = hashlists.read_vics(path)
        elif fmt is ListFormat.CSV:
            records = hashlists.read_hash_csv(path)
        else:
            if not hash_type:
                _fail("a plain list needs --hash-type (md5, sha1, sha256, pdq, ...)")
                return
            records = hashlists.read_plain(path, hash_type)
        summary = import_list(
            _open(db),
            name,
            records,
            version=version,
            fmt=fmt.value,
            scheme=scheme,
            source_file=str(path),
            source=source,
            near_threshold=threshold,
            quality_floor=quality_floor,
            full=not add_only,
        )
        console.print(
            f"list [bold]{name}[/] version {version}: {summary.added:,} added, "
            f"{summary.reactivated:,} reactivated, {summary.retired:,} retired, "
            f"{summary.kept:,} kept, {summary.rejected:,} rejected",
            highlight=False,
        )
        for location, reason in summary.problems[:10]:
            console.print(f"  {path.name}, {location}: {reason}", highlight=False)

    _run(body)


@lists_app.command("list")
def lists_list(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """List the hash lists with their active entries."""
    from tipwatch.matching.lists import list_lists

    def body() -> None:
        rows = list_lists(_open(db))
        _emit(
            rows,
            fmt,
            [
                "name",
                "scheme",
                "version",
                "active_entries",
                "near_threshold",
                "quality_floor",
                "source",
            ],
        )

    _run(body)


@lists_app.command("show")
def lists_show(name: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Show one list: settings, versions, entries by algorithm and category."""
    from tipwatch.matching.lists import get_list

    def body() -> None:
        sys.stdout.write(json.dumps(get_list(_open(db), name), indent=2) + "\n")

    _run(body)


@lists_app.command("export")
def lists_export(
    name: Annotated[str, typer.Argument()],
    db: DbOption = None,
    list_format: Annotated[ListFormat, typer.Option("--format")] = ListFormat.VICS,
    vics_version: Annotated[str, typer.Option(help="VICS 1.3 or 2.0.")] = "1.3",
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = (
        None
    ),
    include_retired: Annotated[bool, typer.Option(help="Also entries later versions dropped.")] = (
        False
    ),
) -> None:
    """Export a list's active entries as VICS JSON, hash CSV or a plain list."""
    from tipwatch.formats import hashlists
    from tipwatch.matching.lists import iter_entries

    def body() -> None:
        records = iter_entries(_open(db), name, include_retired=include_retired)
        sink = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            if list_format is ListFormat.VICS:
                hashlists.write_vics(records, sink, version=vics_version)
            elif list_format is ListFormat.CSV:
                hashlists.write_hash_csv(records, sink)
            else:
                hashlists.write_plain(records, sink)
        finally:
            if out:
                sink.close()

    _run(body)


@lists_app.command("remove")
def lists_remove(
    name: Annotated[str, typer.Argument()],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove a list, its entries and the matches against it."""
    from tipwatch.matching.lists import remove_list

    def body() -> None:
        if not yes and not typer.confirm(f"Remove the list {name!r} and its matches?"):
            raise typer.Exit(1)
        n = remove_list(_open(db), name)
        console.print(f"removed list {name} ({n:,} entries)")

    _run(body)


# -- matching -------------------------------------------------------------------------------


@app.command()
def match(
    paths: Annotated[list[Path] | None, typer.Argument(help="Media files or folders.")] = None,
    db: DbOption = None,
    referrals: Annotated[
        bool, typer.Option("--referrals", help="Match the hashes of stored referrals' files.")
    ] = False,
    report: Annotated[
        list[str] | None, typer.Option(help="With --referrals: only these report ids.")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Processes for hashing media (0: one per CPU).")] = 0,
    dihedral: Annotated[
        bool, typer.Option(help="Also match images' 8 rotations and flips (PDQ).")
    ] = False,
) -> None:
    """Match media, or stored referrals, against the hash lists: each file known or new.

    A near (perceptual) match is a lead, not proof: its algorithm, distance and list are shown.
    """
    from tipwatch.formats.detect import iter_source_files
    from tipwatch.matching.matcher import match_media, match_referrals

    def body() -> None:
        store = _open(db)
        if referrals:
            summary = match_referrals(store, report_ids=report)
            console.print(
                f"{summary.files:,} file(s): {summary.known:,} known, {summary.new:,} new "
                f"({summary.exact_matches:,} exact and {summary.near_matches:,} near matches)",
                highlight=False,
            )
            return
        if not paths:
            _fail("name media files or folders, or use --referrals")
            return
        files = iter_source_files(paths)
        for result, verdict in match_media(store, files, jobs=jobs, dihedral=dihedral):
            row: dict[str, Any] = {"path": result.path}
            if verdict is None:
                row["error"] = result.error
            else:
                row["status"] = verdict.status
                row["matches"] = [m.as_dict() for m in verdict.matches]
            sys.stdout.write(json.dumps(row) + "\n")

    _run(body)


# -- schema and demo ------------------------------------------------------------------------


@app.command()
def schema() -> None:
    """Print the JSON Schema of the canonical referral form."""
    from tipwatch.models import Referral

    sys.stdout.write(json.dumps(Referral.model_json_schema(), indent=2) + "\n")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's world, store and outputs.")] = (
        Path("demo-out")
    ),
    scale: Annotated[
        float,
        typer.Option(
            help="Share of real referral volume (1.0: about 1.2 million referrals).",
            min=0.001,
            max=2.0,
        ),
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="The same seed gives the same world.")] = 7,
    sample: Annotated[
        bool, typer.Option("--sample", help="Only ingest the small bundled sample instead.")
    ] = False,
) -> None:
    """Run tipwatch end to end on an invented, calibrated 2019-2020 and compare what it finds
    with the truth: intake, matching, triage, routing, signals, trends, alerts, assessment."""

    def body() -> None:
        if sample:
            _sample_demo(out)
            return
        from tipwatch.demo.run import run_demo

        progress, on_progress = _stage_progress()

        console.print(
            f"Generating an invented 2019-2020 at {scale:g} of real volume (seed {seed})..."
        )
        with progress:
            report = run_demo(out, scale=scale, seed=seed, progress=on_progress)
        _print_demo(report)

    _run(body)


def _print_demo(report: Any) -> None:
    from tipwatch.demo.run import DemoReport

    assert isinstance(report, DemoReport)
    world = report.world
    seconds = sum(report.seconds.values())
    console.print(
        f"\n[bold]tipwatch demo[/]: {report.files.referrals:,} referrals in "
        f"{len(world.countries)} countries, {seconds:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in report.seconds.items())})"
    )
    table = Table(
        title="Recovered beside the truth", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for col in ("country", "event", "surge (95% CI)", "truth", "change", "truth", "off"):
        table.add_column(col, no_wrap=True)
    by_volume = sorted(report.checks, key=lambda c: -world.countries[c.country].baseline)
    shown = [c for c in report.checks if c.country in ("NL", "SE", world.viral["country"])]
    shown += [c for c in by_volume if c not in shown][: 9 - len(shown)]
    for c in sorted(shown, key=lambda c: c.country):
        surge = "-" if c.factor is None else f"{c.factor:.1f}x ({c.low:.1f}-{c.high:.1f})"
        mark = "" if c.factor is None or c.factor_ok else " !"
        table.add_row(
            c.country,
            c.event,
            surge + mark,
            f"{c.truth_factor:.1f}x",
            c.change.strftime("%d %b") if c.change else "-",
            c.truth_change.strftime("%d %b") if c.truth_change else "none",
            "" if c.change_days_off is None else f"{c.change_days_off:+d} d",
        )
    console.print(table)
    surging = report.surging
    within = report.changes_within_3_days
    covered = report.intervals_covering_truth
    note = (
        " (small countries have few referrals a day at this scale)"
        if within < len(surging) or covered < len(surging)
        else ""
    )
    console.print(
        f"All {len(surging)} surging countries: change within 3 days in {within}, surge interval "
        f"covers the truth in {covered}{note}.",
        highlight=False,
    )
    r = report.month_ratios
    if r:
        console.print(
            f"World, 2020 over 2019: March {r['march_2020_over_2019']}x (truth "
            f"{r['march_truth']}x, NCMEC {r['march_ncmec']}x), April "
            f"{r['april_2020_over_2019']}x (truth {r['april_truth']}x, NCMEC {r['april_ncmec']}x)",
            highlight=False,
        )
    kp, kf = report.known_planted, report.known_found
    console.print(
        f"Known files found: {kf.get('exact', 0):,} of {kp.get('exact', 0):,} exact, "
        f"{kf.get('near', 0):,} of {kp.get('near', 0):,} near (resized or re-encoded); "
        f"planted account links found: {report.links_found:,} of {report.links_planted:,}",
        highlight=False,
    )
    v = world.viral
    console.print(
        f"Viral batch ({v['referrals']} referrals, {v['country']} {v['day']}): "
        + ("[red]reported as a surge[/]" if report.viral_surge_alert else "not a surge alert")
        + ("; flagged as data quality" if report.viral_quality_alert else "")
        + f". Outage of {world.outage['service']}: "
        + ("flagged" if report.outage_seen else "[red]missed[/]")
        + f". Gap in {world.gap['country']}: "
        + ("flagged" if report.gap_seen else "[red]missed[/]")
        + "."
    )
    for finding in report.findings[:3]:
        console.print(f"  - {finding}", highlight=False)
    console.print(
        f"\nAssessment: [bold]{report.assessment}[/]\nPackage for NL: {report.package}\n"
        f"Truth: {report.files.truth}  Store: {report.out / 'tipwatch.db'}\n"
        f"Next: tipwatch queue --db {report.out / 'tipwatch.db'} --country NL"
    )


def _sample_demo(out: Path) -> None:
    from tipwatch.demo import run_sample_demo

    report = run_sample_demo(out)
    _print_summary(report.summary)
    console.print(
        f"\nStored in [bold]{report.db_path}[/]: {report.referral_count} referrals, "
        f"{report.file_count} files, {report.quarantined} quarantined record(s)."
    )
    rows = [_table_referral(s.as_dict()) for s in report.referrals]
    # The platform column is left out so the table reads in an 80-column terminal.
    _emit(rows, OutputFormat.TABLE, _REFERRAL_COLUMNS[:-1])
    console.print(
        "\nNext: [bold]tipwatch referrals show ID --db " + str(report.db_path) + "[/], "
        "[bold]tipwatch quarantine list --db " + str(report.db_path) + "[/]"
    )


# The triage commands register themselves on ``app``.
from tipwatch.cli import trends as _trends  # noqa: E402, F401
from tipwatch.cli import triage as _triage  # noqa: E402, F401


def main() -> None:  # pragma: no cover - entry point
    app()
