"""Media and matching commands: ``hash``, ``match`` and the ``lists`` group."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from tipwatch import services
from tipwatch.cli import (
    ClusterOption,
    DbOption,
    FormatOption,
    ObjectFormat,
    OutputFormat,
    ShowFormatOption,
    _actor,
    _dumps,
    _emit,
    _fail,
    _open,
    _run,
    _show,
    _stage_progress,
    app,
    console,
    err_console,
    plain,
)
from tipwatch.errors import InputError, exit_code_of
from tipwatch.settings import get_settings

lists_app = typer.Typer(
    help="Hash lists of known material: import, list, show, export, remove.",
    no_args_is_help=True,
)
app.add_typer(lists_app, name="lists")


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
            help="Decode large JPEG photos (shorter side from 1,536 pixels) at reduced size: a "
            "12-megapixel photo about 5 times faster; its PDQ then differs from the reference's "
            "by up to 8 bits.",
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
    cluster: ClusterOption = None,
) -> None:
    """Hash images (PDQ, MD5, SHA-1, SHA-256) and videos (vPDQ, MD5, SHA-256).

    Media are read, hashed and released: nothing of them is stored. A file that cannot be
    hashed gets its reason in the `error` field; the run goes on. PDQ is the reference
    implementation's hash, bit for bit (computed faster by tipwatch unless --reference-pdq).
    """

    def body() -> None:
        files = services.matching.media_files(paths)
        sink = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        writer = None
        if fmt is HashFormat.CSV:
            writer = csv.DictWriter(sink, fieldnames=list(_HASH_COLUMNS), extrasaction="ignore")
            writer.writeheader()
        errors = 0
        progress, on_progress = _stage_progress()
        try:
            with progress:
                on_progress("hashing", 0, len(files))
                limits = get_settings()
                hashed = services.matching.hash_media(
                    _actor(),
                    files,
                    jobs=jobs,
                    reduced=reduced_decode,
                    reference=reference_pdq,
                    video_seconds=limits.media_video_seconds,
                    video_memory_bytes=limits.media_video_memory_bytes,
                    cluster=cluster,
                )
                for done, result in enumerate(hashed, 1):
                    row = result.as_dict()
                    errors += result.error is not None
                    if writer is not None:
                        row["frames"] = len(result.vpdq) if result.vpdq else None
                        writer.writerow(
                            {
                                k: v if v is None else services.exports.csv_cell(str(v))
                                for k, v in row.items()
                            }
                        )
                    else:
                        sink.write(_dumps(row, indent=None) + "\n")
                    on_progress("hashing", done, len(files))
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


@lists_app.command("import")
def lists_import(
    path: Annotated[Path, typer.Argument(help="The list file.", exists=True, dir_okay=False)],
    name: Annotated[str, typer.Option(help="The list's name (created when new).")],
    version: Annotated[str, typer.Option(help="This version's label, e.g. 2020-04-01.")],
    db: DbOption = None,
    list_format: Annotated[
        ListFormat | None,
        typer.Option("--input-format", help="vics, csv or plain (default: by suffix)."),
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Say what the import would add, retire and reject; change nothing."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Import even a version that rejects too many records or retires every entry.",
        ),
    ] = False,
) -> None:
    """Import a version of a hash list (VICS JSON, hash CSV or a plain list).

    A version states the whole list: entries it lacks are retired (unless --add-only); an
    entry whose record is rejected is never retired. A version that rejects more than the
    list_max_rejected_share setting (5%) of its records, rejects all of them, or would retire
    every entry is refused and the list left unchanged, unless --force.
    """

    def body() -> None:
        summary = services.matching.import_list(
            _open(db, create=True),
            _actor(),
            path,
            name=name,
            version=version,
            list_format=list_format.value if list_format else None,
            hash_type=hash_type,
            scheme=scheme,
            source=source,
            near_threshold=threshold,
            quality_floor=quality_floor,
            full=not add_only,
            max_rejected_share=get_settings().list_max_rejected_share,
            dry_run=dry_run,
            force=force,
        )
        would = "would be " if dry_run else ""
        console.print(
            ("dry run, nothing changed: " if dry_run else "")
            + f"list {name} version {version}: {summary.added:,} {would}added, "
            f"{summary.reactivated:,} {would}reactivated, {summary.retired:,} {would}retired, "
            f"{summary.kept:,} kept, {summary.spared:,} kept as named by rejected records, "
            f"{summary.rejected:,} rejected; active entries {summary.active_before:,} -> "
            f"{summary.active_after:,}",
            highlight=False,
        )
        for location, reason in summary.problems[:10]:
            console.print(Text(f"  {plain(path.name)}, {location}: {plain(reason)}"))
        if summary.forced:
            err_console.print(Text(f"imported although {plain(summary.refusal)}"))
        elif dry_run and summary.refusal is not None:
            # A dry run fails as the import would, so that a script can gate on it.
            _fail(
                f"the import would be refused: {summary.refusal}",
                exit_code_of(InputError()),
                hint="check the list file's format and hash values, or add --force to import it "
                "anyway",
            )

    _run(body)


@lists_app.command("list")
def lists_list(db: DbOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """List the hash lists with their active entries."""

    def body() -> None:
        rows = services.matching.list_lists(_open(db), _actor())
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
def lists_show(
    name: Annotated[str, typer.Argument(help="The list's name.")],
    db: DbOption = None,
    fmt: ShowFormatOption = ObjectFormat.JSON,
) -> None:
    """Show one list: settings, versions, entries by algorithm and category."""

    def body() -> None:
        _show(services.matching.show_list(_open(db), _actor(), name), fmt)

    _run(body)


@lists_app.command("export")
def lists_export(
    name: Annotated[str, typer.Argument(help="The list's name.")],
    db: DbOption = None,
    list_format: Annotated[
        ListFormat, typer.Option("--format", "-f", help="The list file format to write.")
    ] = ListFormat.VICS,
    vics_version: Annotated[str, typer.Option(help="VICS 1.3 or 2.0.")] = "1.3",
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = (
        None
    ),
    include_retired: Annotated[bool, typer.Option(help="Also entries later versions dropped.")] = (
        False
    ),
) -> None:
    """Export a list's active entries as VICS JSON, hash CSV or a plain list."""

    def body() -> None:
        store = _open(db)
        sink = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            services.matching.export_list(
                store,
                _actor(),
                name,
                sink,
                list_format=list_format.value,
                vics_version=vics_version,
                include_retired=include_retired,
            )
        finally:
            if out:
                sink.close()

    _run(body)


@lists_app.command("remove")
def lists_remove(
    name: Annotated[str, typer.Argument(help="The list's name.")],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove a list, its entries and the matches against it."""

    def body() -> None:
        store = _open(db)
        if not yes and not typer.confirm(f"Remove the list {name!r} and its matches?"):
            raise typer.Exit(1)
        n = services.matching.remove_list(store, _actor(), name)
        console.print(Text(f"removed list {name} ({n:,} entries)"))

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
    jobs: Annotated[
        int, typer.Option(help="Processes for hashing media or searching PDQ (0: one per CPU).")
    ] = 0,
    dihedral: Annotated[
        bool, typer.Option(help="Also match images' 8 rotations and flips (PDQ).")
    ] = False,
    cluster: ClusterOption = None,
    hashes: Annotated[
        Path | None,
        typer.Option(
            "--hashes",
            help="Match the records of a file written by `tipwatch hash` (JSON Lines or CSV), "
            "hashed here or on another machine.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Match media, a hash file, or stored referrals against the hash lists: each file known
    or new.

    A near (perceptual) match is a lead, not proof: its algorithm, distance and list are shown.
    With --hashes, each output line also names the record's line in the hash file; a record
    that cannot be matched gets its reason in `error`.
    """

    def body() -> None:
        store = _open(db)
        if hashes is not None:
            if paths or referrals:
                _fail("give media, --hashes or --referrals, one of them")
                return
            unusable = 0
            for outcome in services.matching.match_hash_file(
                store, _actor(), hashes, jobs=jobs, cluster=cluster
            ):
                unusable += outcome.verdict is None
                sys.stdout.write(_dumps(outcome.as_dict(), indent=None) + "\n")
            if unusable:
                err_console.print(
                    f"{unusable:,} record(s) of {plain(hashes.name)} could not be matched",
                    highlight=False,
                )
            return
        if referrals:
            progress, on_progress = _stage_progress()
            with progress:
                summary = services.matching.match_referrals(
                    store, _actor(), report_ids=report, progress=on_progress
                )
            console.print(
                f"{summary.files:,} file(s): {summary.known:,} known, {summary.new:,} new "
                f"({summary.exact_matches:,} exact and {summary.near_matches:,} near matches)",
                highlight=False,
            )
            return
        if not paths:
            _fail("name media files or folders, or use --referrals")
            return
        files = services.matching.media_files(paths)
        limits = get_settings()
        for result, verdict in services.matching.match_media(
            store,
            _actor(),
            files,
            jobs=jobs,
            dihedral=dihedral,
            video_seconds=limits.media_video_seconds,
            video_memory_bytes=limits.media_video_memory_bytes,
            cluster=cluster,
        ):
            row: dict[str, Any] = {"path": result.path}
            if verdict is None:
                row["error"] = result.error
            else:
                row["status"] = verdict.status
                row["matches"] = [m.as_dict() for m in verdict.matches]
            sys.stdout.write(_dumps(row, indent=None) + "\n")

    _run(body)
