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
from tipwatch.errors import ExchangeError, InputError, TipwatchError, exit_code_of
from tipwatch.settings import get_settings

lists_app = typer.Typer(
    help="Hash lists of known material: import, list, show, export, remove; lists fed by "
    "exchanges (connect, sync), votes back to them, entries held for review.",
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
    purpose: Annotated[
        str | None,
        typer.Option(
            help="block (a new list's default): known material; allow: hashes of benign or "
            "cleared material, whose matches suppress a file's other matches."
        ),
    ] = None,
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
            purpose=purpose,
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
                "purpose",
                "connector",
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
            held: list[dict[str, Any]] = []
            for outcome in services.matching.match_hash_file(
                store, _actor(), hashes, jobs=jobs, cluster=cluster, held=held
            ):
                unusable += outcome.verdict is None
                sys.stdout.write(_dumps(outcome.as_dict(), indent=None) + "\n")
            _report_holds(held)
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
                    store,
                    _actor(),
                    report_ids=report,
                    progress=on_progress,
                    jobs=jobs,
                    cluster=cluster,
                )
            console.print(
                f"{summary.files:,} file(s): {summary.known:,} known, {summary.new:,} new"
                + (f", {summary.cleared:,} cleared by allow-lists" if summary.cleared else "")
                + f" ({summary.exact_matches:,} exact and {summary.near_matches:,} near matches)",
                highlight=False,
            )
            _report_holds(summary.held)
            return
        if not paths:
            _fail("name media files or folders, or use --referrals")
            return
        files = services.matching.media_files(paths)
        limits = get_settings()
        media_held: list[dict[str, Any]] = []
        for result, verdict in services.matching.match_media(
            store,
            _actor(),
            files,
            jobs=jobs,
            dihedral=dihedral,
            video_seconds=limits.media_video_seconds,
            video_memory_bytes=limits.media_video_memory_bytes,
            video_percent=limits.vpdq_query_percent,
            video_list_percent=limits.vpdq_list_percent,
            cluster=cluster,
            held=media_held,
        ):
            row: dict[str, Any] = {"path": result.path}
            if verdict is None:
                row["error"] = result.error
            else:
                row["status"] = verdict.status
                row["matches"] = [m.as_dict() for m in verdict.matches]
            sys.stdout.write(_dumps(row, indent=None) + "\n")
        _report_holds(media_held)

    _run(body)


def _report_holds(held: list[dict[str, Any]]) -> None:
    """The flood quarantine's alerts of a run, on standard error."""
    for hold in held:
        err_console.print(
            Text(
                f"held for review (flood): entry {hold['entry_id']} of list "
                f"{plain(hold['list'])}, {plain(hold['reason'])} (lists held)"
            )
        )


# -- exchanges: connect, sync, votes, holds ---------------------------------------------------


class Exchange(StrEnum):
    NCMEC = "ncmec"
    STOPNCII = "stopncii"
    THREATEXCHANGE = "threatexchange"
    FILE = "file"


class Purpose(StrEnum):
    BLOCK = "block"
    ALLOW = "allow"


@lists_app.command("connect")
def lists_connect(
    name: Annotated[str, typer.Argument(help="The list's name (created when new).")],
    exchange: Annotated[Exchange, typer.Option(help="The exchange that feeds the list.")],
    db: DbOption = None,
    scheme: Annotated[
        str, typer.Option(help="Category scheme (NCMEC's classification: industry).")
    ] = "industry",
    environment: Annotated[
        str | None,
        typer.Option(
            help="NCMEC: industry, ngo, exploitative, or a test twin (test_industry, test_ngo, "
            "test_exploitative)."
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="The exchange's address, instead of its default.")
    ] = None,
    privacy_group: Annotated[
        str | None, typer.Option(help="ThreatExchange: the privacy group's id.")
    ] = None,
    page_size: Annotated[
        int | None, typer.Option(help="StopNCII, ThreatExchange: entries a page.", min=1)
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Where the first sync starts: NCMEC an ISO date, StopNCII a Unix time."),
    ] = None,
    purpose: Annotated[
        Purpose, typer.Option(help="block: known material; allow: known benign.")
    ] = Purpose.BLOCK,
    path: Annotated[
        str | None, typer.Option(help="file: the list file (read whole at each sync).")
    ] = None,
    list_format: Annotated[
        ListFormat | None,
        typer.Option("--input-format", help="file: vics, csv or plain (default: by suffix)."),
    ] = None,
    hash_type: Annotated[
        str | None, typer.Option(help="file: a plain list's hash type (md5, sha1, pdq, ...).")
    ] = None,
) -> None:
    """Feed a hash list from an exchange (NCMEC hash sharing, StopNCII, ThreatExchange), or
    from a list file at a fixed place (file).

    Credentials come from the settings (ncmec_username, ncmec_password, stopncii_*_key,
    threatexchange_access_token), never from here. See docs/lists.md.
    """

    def body() -> None:
        config: dict[str, Any] = {}
        for key, value in (
            ("environment", environment),
            ("base_url", base_url),
            ("privacy_group", privacy_group),
            ("page_size", page_size),
            ("start", start),
            ("path", path),
            ("format", list_format.value if list_format else None),
            ("hash_type", hash_type),
        ):
            if value is not None:
                config[key] = value
        services.exchanges.connect_list(
            _open(db, create=True),
            _actor(),
            name,
            connector=exchange.value,
            config=config,
            scheme=scheme,
            purpose=purpose.value,
        )
        console.print(Text(f"list {name} is fed by {exchange.value}; sync it with lists sync"))

    _run(body)


@lists_app.command("sync")
def lists_sync(
    name: Annotated[str | None, typer.Argument(help="The list to sync.")] = None,
    db: DbOption = None,
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help="Sync every list whose last sync is older than the list_sync_every_minutes "
            "setting (for cron).",
        ),
    ] = False,
) -> None:
    """Sync a list from its exchange; an interrupted sync resumes from its checkpoint."""

    def body() -> None:
        store = _open(db)
        if due:
            results = services.exchanges.sync_due(store, _actor())
            for result in results:
                sys.stdout.write(_dumps(result, indent=None) + "\n")
            if any("error" in r for r in results):
                raise typer.Exit(exit_code_of(TipwatchError()))
            return
        if not name:
            _fail("name a list to sync, or use --due")
            return
        progress, on_progress = _stage_progress()
        with progress:
            summary = services.exchanges.sync_list(store, _actor(), name, progress=on_progress)
        console.print(
            Text(
                f"list {name}: {summary.batches:,} batch(es), {summary.added:,} added, "
                f"{summary.removed:,} removed, {summary.updated:,} updated, "
                f"{summary.stale:,} older changes ignored, {len(summary.problems):,} problem(s)"
            )
        )
        for location, reason in summary.problems[:10]:
            console.print(Text(f"  {plain(location)}: {plain(reason)}"))

    _run(body)


@lists_app.command("vote")
def lists_vote(
    name: Annotated[str, typer.Argument(help="The list.")],
    entry: Annotated[str, typer.Argument(help="The entry's key at its exchange.")],
    vote: Annotated[
        str,
        typer.Argument(
            help="NCMEC: affirmative or negative; StopNCII: Blocked, NotBlocked, ...; "
            "ThreatExchange: HELPFUL, NOT_HELPFUL, ..."
        ),
    ],
    db: DbOption = None,
    reason: Annotated[
        str | None, typer.Option(help="Why (NCMEC negative feedback: the reason's id).")
    ] = None,
) -> None:
    """Propose a vote on an entry, sent to its exchange once another user approves it."""

    def body() -> None:
        result = services.exchanges.propose_vote(
            _open(db), _actor(), name, entry, vote, reason=reason
        )
        console.print(Text(f"vote {result['id']} proposed; another user must approve it"))

    _run(body)


@lists_app.command("approve")
def lists_approve(
    vote_id: Annotated[int, typer.Argument(help="The proposed vote's number.")],
    db: DbOption = None,
) -> None:
    """Approve another user's proposed vote and send it to the exchange (two-person rule)."""

    def body() -> None:
        result = services.exchanges.approve_vote(_open(db), _actor(), vote_id)
        sys.stdout.write(_dumps(result, indent=None) + "\n")
        if result["status"] != "sent":
            raise typer.Exit(exit_code_of(ExchangeError()))

    _run(body)


@lists_app.command("reject")
def lists_reject(
    vote_id: Annotated[int, typer.Argument(help="The proposed vote's number.")],
    db: DbOption = None,
) -> None:
    """Reject (or withdraw) a proposed vote: it is never sent."""

    def body() -> None:
        services.exchanges.reject_vote(_open(db), _actor(), vote_id)
        console.print(Text(f"vote {vote_id} rejected"))

    _run(body)


@lists_app.command("votes")
def lists_votes(
    name: Annotated[str | None, typer.Argument(help="Only this list's votes.")] = None,
    db: DbOption = None,
) -> None:
    """The votes proposed, approved, sent, failed or rejected (JSON Lines)."""

    def body() -> None:
        for row in services.exchanges.list_votes(_open(db), _actor(), name=name):
            sys.stdout.write(_dumps(row, indent=None) + "\n")

    _run(body)


@lists_app.command("held")
def lists_held(
    db: DbOption = None,
    include_reviewed: Annotated[
        bool, typer.Option("--all", help="Also the holds already reviewed.")
    ] = False,
) -> None:
    """Entries held out of matching by the flood quarantine (JSON Lines), newest first."""

    def body() -> None:
        for row in services.exchanges.holds(_open(db), _actor(), open_only=not include_reviewed):
            sys.stdout.write(_dumps(row, indent=None) + "\n")

    _run(body)


@lists_app.command("release")
def lists_release(
    hold_id: Annotated[int, typer.Argument(help="The hold's number (lists held).")],
    db: DbOption = None,
    retire: Annotated[
        bool, typer.Option("--retire", help="Retire the entry instead of releasing it.")
    ] = False,
) -> None:
    """Review a held entry: release it (it matches again) or retire it."""

    def body() -> None:
        result = services.exchanges.review_hold(_open(db), _actor(), hold_id, retire=retire)
        console.print(Text(f"hold {hold_id}: entry {result['entry_id']} {result['decision']}"))

    _run(body)


@lists_app.command("fingerprint")
def lists_fingerprint(
    name: Annotated[str, typer.Argument(help="The list.")],
    entry: Annotated[str, typer.Argument(help="The entry's key at its exchange.")],
    fingerprint: Annotated[str, typer.Argument(help="Which one, e.g. tmk-pdqf or videntifier.")],
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = (
        None
    ),
) -> None:
    """Fetch a large fingerprint an entry names (NCMEC's TMK+PDQF, Videntifier) from the
    exchange now: such fingerprints are recorded as present, not stored."""

    def body() -> None:
        value = services.exchanges.large_fingerprint(_open(db), _actor(), name, entry, fingerprint)
        if out:
            out.write_text(value, encoding="utf-8")
        else:
            sys.stdout.write(value + "\n")

    _run(body)
