"""The ``urls`` group: the URL list and blocked-access accounting."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from tipwatch import services
from tipwatch.cli import (
    DbOption,
    FormatOption,
    ObjectFormat,
    OutputFormat,
    ShowFormatOption,
    _actor,
    _emit,
    _open,
    _print_json,
    _run,
    app,
    console,
    err_console,
    plain,
)

urls_app = typer.Typer(
    help="The URL list: import versions, check URLs, export for filters, compare versions, "
    "and count blocked access from filter logs.",
    no_args_is_help=True,
)
app.add_typer(urls_app, name="urls")


class UrlListFormat(StrEnum):
    PLAIN = "plain"
    CSV = "csv"
    JSONL = "jsonl"


class UrlScope(StrEnum):
    PAGE = "page"
    PAGE_QUERY = "page+query"
    FOLDER = "folder"
    HOST = "host"
    SUBDOMAINS = "host+subdomains"


class UrlExportFormat(StrEnum):
    RPZ = "rpz"
    HOSTS = "hosts"
    SQUID = "squid"
    PLAIN = "plain"
    CSV = "csv"
    SPLASH = "splash"


class UrlLogFormat(StrEnum):
    SQUID = "squid"
    SQUID_COMBINED = "squid-combined"
    BIND = "bind"
    UNBOUND = "unbound"
    CSV = "csv"


ListOption = Annotated[str, typer.Option("--list", help="The URL list's name.")]


def _problems(problems: list[str], total: int | None = None) -> None:
    for problem in problems[:20]:
        err_console.print(Text(f"  {plain(problem)}"))
    total = len(problems) if total is None else total
    if total > 20:
        err_console.print(f"  ... and {total - 20:,} more (all of them with --format json)")


@urls_app.command("import")
def urls_import(
    path: Annotated[Path, typer.Argument(help="The list file.", exists=True, dir_okay=False)],
    list_name: ListOption,
    version: Annotated[
        str | None, typer.Option(help="This version's label (default: the import time, UTC).")
    ] = None,
    db: DbOption = None,
    input_format: Annotated[
        UrlListFormat | None,
        typer.Option("--input-format", help="plain, csv or jsonl (default: by name, content)."),
    ] = None,
    delta: Annotated[
        bool,
        typer.Option(
            "--delta",
            help="The file states changes to the newest version (lines starting - remove, "
            "action=remove in CSV and JSONL), not the whole list.",
        ),
    ] = False,
    scope: Annotated[
        UrlScope | None,
        typer.Option(help="Scope of lines that name none (default: page, or page+query)."),
    ] = None,
    category: Annotated[str | None, typer.Option(help="Category of entries that name none.")] = (
        None
    ),
    source: Annotated[str | None, typer.Option(help="Who issues the list.")] = None,
    fmt: ShowFormatOption = ObjectFormat.TABLE,
) -> None:
    """Import a version of a URL list (plain lines with an optional scope, CSV or JSONL).

    A whole list retires the entries it no longer holds; a --delta adds and removes. Each
    version records the SHA-256 of its full state (of `urls export --format plain`), so a
    filter can check it holds exactly that version. A bad line is reported with its number
    and reason; the others are imported.
    """

    def body() -> None:
        result = services.urls.import_list(
            _open(db, create=True),
            _actor(),
            path,
            list_name=list_name,
            version=version,
            fmt=input_format.value if input_format else None,
            delta=delta,
            scope=scope.value if scope else None,
            category=category,
            source=source,
        )
        if fmt is ObjectFormat.JSON:
            _print_json(result.as_dict())
            return
        console.print(
            Text(
                f"URL list {plain(list_name)} version {plain(result.version)}: "
                f"{result.entries:,} entries ({result.added:,} added, {result.retired:,} "
                f"retired), {len(result.problems):,} records refused\n"
                f"state SHA-256 {result.state_sha256}"
            )
        )
        _problems(result.problems)

    _run(body)


@urls_app.command("check")
def urls_check(
    urls: Annotated[
        list[str] | None, typer.Argument(help="URLs to check (default: one a line on stdin).")
    ] = None,
    lists: Annotated[
        list[str] | None, typer.Option("--list", help="Check against this list (repeatable).")
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Check URLs against the URL lists: the canonical URL and each matching entry and scope.

    Exit status 0 whether or not a URL is listed; a URL that cannot be read gets its reason
    in the `error` column.
    """

    def body() -> None:
        given = list(urls or [])
        if not given:
            given = [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
        results = services.urls.check_urls(_open(db), _actor(), given, lists=lists)
        rows = []
        for r in results:
            first = r.matches[0] if r.matches else {}
            rows.append(
                {
                    **r.as_dict(),
                    "scope": first.get("scope"),
                    "entry": first.get("key"),
                    "list": ", ".join(sorted({m["list"] for m in r.matches})) or None,
                    "category": first.get("category"),
                }
            )
        _emit(
            rows,
            fmt,
            ["url", "listed", "scope", "entry", "list", "category", "canonical", "error"],
        )

    _run(body)


@urls_app.command("list")
def urls_list(
    name: Annotated[
        str | None, typer.Argument(help="A list's name: show its versions.", show_default=False)
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List the URL lists (newest version, entries, state hash), or one list's versions."""

    def body() -> None:
        store = _open(db)
        if name is None:
            rows = services.urls.list_lists(store, _actor())
            _emit(
                rows,
                fmt,
                ["name", "version", "versions", "entries", "state_sha256", "imported_at"],
            )
            return
        rows = services.urls.list_versions(store, _actor(), name)
        _emit(
            rows,
            fmt,
            [
                "version",
                "seq",
                "delta",
                "entries",
                "added",
                "retired",
                "rejected",
                "state_sha256",
                "imported_at",
            ],
        )

    _run(body)


@urls_app.command("diff")
def urls_diff(
    name: Annotated[str, typer.Argument(help="The list's name.")],
    old: Annotated[str, typer.Argument(help="The older version.")],
    new: Annotated[
        str | None, typer.Argument(help="The newer version (default: the newest).")
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """The entries one version added and removed against another."""

    def body() -> None:
        diff = services.urls.diff_versions(_open(db), _actor(), name, old, new)
        rows = [{"change": "+", "scope": s, "key": k} for s, k in diff.added] + [
            {"change": "-", "scope": s, "key": k} for s, k in diff.removed
        ]
        _emit(rows, fmt, ["change", "scope", "key"])
        if fmt is OutputFormat.TABLE:
            console.print(
                Text(
                    f"{plain(name)} {plain(diff.old)} -> {plain(diff.new)}: "
                    f"{len(diff.added):,} added, {len(diff.removed):,} removed"
                )
            )

    _run(body)


@urls_app.command("export")
def urls_export(
    name: Annotated[str, typer.Argument(help="The list's name.")],
    export_format: Annotated[
        UrlExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="rpz (a DNS response-policy zone), hosts, squid (ACL files in --out), plain "
            "(scope and key a line: its SHA-256 is the version's), csv, splash (the blocked "
            "page).",
        ),
    ] = UrlExportFormat.PLAIN,
    out: Annotated[
        Path | None,
        typer.Option(help="Write here (a folder for squid) instead of standard output."),
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="The version to export (default: the newest).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Export a version of a URL list in a form filters load.

    A DNS filter (rpz, hosts) acts on names: page, page+query and folder entries are left out,
    and the export says how many (in its comments and here). The splash page's message and
    helpline come from the settings url_splash_message, url_helpline and url_helpline_url.
    """

    def body() -> None:
        fmt = export_format.value
        if fmt == "squid" and out is None:
            raise typer.BadParameter("a squid export writes a folder of files: give --out")
        target = out if out is not None else sys.stdout
        result = services.urls.export_list(_open(db), _actor(), name, fmt, target, version=version)
        err_console.print(
            Text(
                f"{plain(name)} version {plain(result.version)} as {fmt}: "
                f"{result.written:,} written (state SHA-256 {result.state_sha256})"
            )
        )
        for note in result.notes:
            err_console.print(Text(f"note: {plain(note)}"))

    _run(body)


@urls_app.command("ingest-log")
def urls_ingest_log(
    paths: Annotated[
        list[Path], typer.Argument(help="Filter log files.", exists=True, dir_okay=False)
    ],
    list_name: ListOption,
    log_format: Annotated[
        UrlLogFormat | None,
        typer.Option("--log-format", help="The logs' format (default: detected per file)."),
    ] = None,
    provider: Annotated[str, typer.Option(help="Who runs the filter.")] = "unknown",
    country: Annotated[
        str | None,
        typer.Option(help="Country of every client (a provider serving one country)."),
    ] = None,
    geoip: Annotated[
        Path | None,
        typer.Option(
            "--geoip",
            help="A MaxMind-format country database: each client's country from its address.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="The list version to check against (default: newest).")
    ] = None,
    window: Annotated[
        float | None,
        typer.Option(help="Attempt window in seconds (default: url_attempt_window, 30).", min=0),
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Count blocked access from filter logs into daily signals that trends read.

    Squid (native or combined), BIND rpz, Unbound rpz and CSV logs. Per day, country,
    provider, method and mode: blocked_requests, blocked_attempts, blocked_pairs,
    blocked_clients (docs/urls.md defines each), with blocked_list_size. Clients are
    pseudonymised with the pseudonym_key setting as they are read; no address is stored.
    Values for the same day and dimensions are replaced: give all the logs of a day in one
    run. A bad line is reported with its file and number; the rest is read.
    """

    def body() -> None:
        summary = services.urls.ingest_logs(
            _open(db),
            _actor(),
            paths,
            list_name=list_name,
            fmt=log_format.value if log_format else None,
            provider=provider,
            country=country,
            geoip=geoip,
            version=version,
            window=window,
        )
        if fmt is OutputFormat.JSON:
            _print_json(summary)
            return
        _emit(
            summary["cells"],
            fmt,
            [
                "day",
                "country",
                "provider",
                "method",
                "mode",
                "requests",
                "attempts",
                "pairs",
                "clients",
                "list_version",
            ],
        )
        err_console.print(
            Text(
                f"{summary['lines']:,} lines: {summary['matched']:,} matched the list, "
                f"{summary['blocked_not_listed']:,} blocked but not listed, "
                f"{summary['listed_not_blocked']:,} listed but let through, "
                f"{summary['errors']:,} refused; {summary['values_written']:,} signal values "
                "written"
            )
        )
        _problems(summary["problems"], summary["errors"])

    _run(body)
