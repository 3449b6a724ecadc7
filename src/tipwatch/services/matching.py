"""Media and matching services: hashing, hash lists, matching."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tipwatch.services._unit import batch, require, unit
from tipwatch.services.access import Actor, authorise
from tipwatch.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tipwatch.matching.flood import FloodRule
    from tipwatch.matching.hashfile import HashVerdict
    from tipwatch.matching.lists import ImportSummary
    from tipwatch.matching.matcher import FileVerdict, MatchSummary
    from tipwatch.media.hashing import MediaHashes

__all__ = [
    "LIST_FORMATS",
    "export_list",
    "hash_media",
    "import_list",
    "list_lists",
    "match_hash_file",
    "match_hashes",
    "match_media",
    "match_referrals",
    "match_upload",
    "media_files",
    "remove_list",
    "show_list",
]

LIST_FORMATS = ("vics", "csv", "plain")
"""The hash-list file formats tipwatch reads and writes."""


def media_files(paths: Sequence[Path]) -> list[Path]:
    """The files named and found (recursively) in the folders named. A path named that is no
    regular file or folder (a FIFO, a symlink loop) is kept: hashing gives it its error."""
    from tipwatch.formats.detect import iter_source_files

    return list(iter_source_files(paths, keep_unreadable=True))


def hash_media(
    actor: Actor,
    files: Sequence[Path],
    *,
    jobs: int = 0,
    reduced: bool = False,
    reference: bool = False,
    video_seconds: float | None = None,
    video_memory_bytes: int | None = None,
    cluster: str | None = None,
) -> Iterator[MediaHashes]:
    """Hash media files; nothing of them is stored (no store is involved, nothing audited).

    ``video_seconds`` and ``video_memory_bytes`` limit each video (default: the library's,
    600 s and 2 GiB); a file that is no regular file gets its error like any other file.
    The files are hashed on ``jobs`` local processes, or on the Dask ``cluster`` (default:
    the cluster setting)."""
    from tipwatch.media import hash_paths
    from tipwatch.media.hashing import VIDEO_MEMORY_BYTES, VIDEO_SECONDS
    from tipwatch.services._compute import compute_for

    authorise(actor, "media.hash")
    return hash_paths(
        files,
        compute=compute_for(jobs=jobs, cluster=cluster),
        reduced=reduced,
        reference=reference,
        video_seconds=VIDEO_SECONDS if video_seconds is None else video_seconds,
        video_memory_bytes=VIDEO_MEMORY_BYTES if video_memory_bytes is None else video_memory_bytes,
    )


def _detect_list_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "vics"
    if suffix == ".csv":
        return "csv"
    return "plain"


def import_list(
    store: Store,
    actor: Actor,
    path: Path,
    *,
    name: str,
    version: str,
    list_format: str | None = None,
    hash_type: str | None = None,
    scheme: str = "projectvic_us",
    source: str | None = None,
    near_threshold: int | None = None,
    quality_floor: int | None = None,
    full: bool = True,
    max_rejected_share: float | None = None,
    force: bool = False,
    dry_run: bool = False,
    purpose: str | None = None,
) -> ImportSummary:
    """Import a version of a hash list from a file (VICS JSON, hash CSV or plain).

    ``purpose``: ``block`` (a new list's default) or ``allow`` (an allow-list: hashes of
    benign or already-cleared material whose matches suppress a file's other matches).

    A version that rejects more than ``max_rejected_share`` of its records (default: the
    library's, 5%), rejects all of them, or would retire every active entry is refused with
    :class:`InputError` and the list is unchanged, unless ``force``. ``dry_run`` returns what
    the import would do and changes nothing.
    """
    from tipwatch.errors import InputError
    from tipwatch.formats import hashlists
    from tipwatch.matching.lists import DEFAULT_MAX_REJECTED_SHARE
    from tipwatch.matching.lists import import_list as _import

    fmt = list_format or _detect_list_format(path)
    if fmt not in LIST_FORMATS:
        raise InputError(f"unknown list format {fmt!r}; the formats are {', '.join(LIST_FORMATS)}")
    with batch(store, actor, "list.import", object_type="hash_list", object_ids=[name]) as work:
        if fmt == "vics":
            records = hashlists.read_vics(path)
        elif fmt == "csv":
            records = hashlists.read_hash_csv(path)
        else:
            if not hash_type:
                raise InputError(
                    f"{path}: a plain list needs its hash type",
                    hint="name the hash type: md5, sha1, sha256, pdq, ...",
                )
            records = hashlists.read_plain(path, hash_type)
        summary = _import(
            store,
            name,
            records,
            version=version,
            fmt=fmt,
            scheme=scheme,
            source_file=str(path),
            source=source,
            near_threshold=near_threshold,
            quality_floor=quality_floor,
            full=full,
            max_rejected_share=DEFAULT_MAX_REJECTED_SHARE
            if max_rejected_share is None
            else max_rejected_share,
            force=force,
            dry_run=dry_run,
            purpose=purpose,
        )
        work.detail = (
            ("dry run, nothing changed: " if dry_run else "")
            + f"version {version}: {summary.added} added, {summary.reactivated} reactivated, "
            f"{summary.retired} retired, {summary.spared} spared, {summary.rejected} rejected"
            + (" (forced)" if summary.forced else "")
        )
    return summary


def list_lists(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.matching.lists import list_lists as _list

    with unit(store, actor, "list.read", object_type="hash_list", writes=False):
        return _list(store)


def show_list(store: Store, actor: Actor, name: str) -> dict[str, Any]:
    from tipwatch.matching.exchanges import sync_health
    from tipwatch.matching.lists import get_list

    with unit(store, actor, "list.read", object_type="hash_list", object_ids=[name], writes=False):
        shown = get_list(store, name)
        shown["sync"] = sync_health(store, name)
        return shown


def export_list(
    store: Store,
    actor: Actor,
    name: str,
    sink: IO[str],
    *,
    list_format: str = "vics",
    vics_version: str = "1.3",
    include_retired: bool = False,
) -> None:
    """Write a list's entries to ``sink`` in one snapshot."""
    from tipwatch.formats import hashlists
    from tipwatch.matching.lists import iter_entries

    with unit(
        store, actor, "list.export", object_type="hash_list", object_ids=[name], writes=False
    ) as work:
        records = iter_entries(store, name, include_retired=include_retired)
        if list_format == "vics":
            hashlists.write_vics(records, sink, version=vics_version)
        elif list_format == "csv":
            hashlists.write_hash_csv(records, sink)
        else:
            hashlists.write_plain(records, sink)
        work.detail = f"as {list_format}"


def remove_list(store: Store, actor: Actor, name: str) -> int:
    from tipwatch.matching.lists import remove_list as _remove

    with unit(store, actor, "list.remove", object_type="hash_list", object_ids=[name]) as work:
        n = _remove(store, name)
        work.detail = f"{n} entries removed"
    return n


def _flood_rule() -> FloodRule:
    """The flood quarantine's rule of the ``flood_*`` settings."""
    from tipwatch.matching.flood import FloodRule
    from tipwatch.settings import get_settings

    s = get_settings()
    return FloodRule(s.flood_factor, s.flood_min_matches, s.flood_history_days)


def _held_detail(held: list[dict[str, Any]]) -> str:
    if not held:
        return ""
    return "; held for review (flood): " + ", ".join(
        f"entry {h['entry_id']} of {h['list']} ({h['matches']} matches)" for h in held
    )


def match_referrals(
    store: Store,
    actor: Actor,
    *,
    report_ids: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    flood: FloodRule | None = None,
    jobs: int = 0,
    cluster: str | None = None,
) -> MatchSummary:
    """Match the stored referrals' files against the lists (committed batch by batch).

    ``flood`` (default: the ``flood_*`` settings) holds for review an entry whose matches in a
    day jump far above its history; the holds made are in the summary and the audit event.
    The PDQ search runs on ``jobs`` local processes or on the Dask ``cluster`` (default: the
    setting); the exact pass and the writes run here."""
    from tipwatch.matching.matcher import match_referrals as _match
    from tipwatch.services._compute import compute_for

    if flood is None:
        flood = _flood_rule()
    with batch(
        store, actor, "match.run", object_type="referral", object_ids=list(report_ids or ())
    ) as work:
        summary = _match(
            store,
            report_ids=list(report_ids) if report_ids else None,
            progress=progress,
            flood=flood,
            compute=compute_for(jobs=jobs, cluster=cluster),
        )
        work.detail = (
            f"{summary.files} files: {summary.known} known, {summary.new} new, "
            f"{summary.cleared} cleared by allow-lists"
        )
        work.detail += _held_detail(summary.held)
    return summary


def match_media(
    store: Store,
    actor: Actor,
    files: Iterable[Path],
    *,
    jobs: int = 0,
    dihedral: bool = False,
    video_seconds: float | None = None,
    video_memory_bytes: int | None = None,
    video_percent: float = 80.0,
    video_list_percent: float = 0.0,
    cluster: str | None = None,
    flood: FloodRule | None = None,
    held: list[dict[str, Any]] | None = None,
) -> Iterator[tuple[MediaHashes, FileVerdict | None]]:
    """Hash media and match each against the lists; media are not stored. The media are
    hashed on ``jobs`` local processes or on the Dask ``cluster`` (default: the setting).

    ``video_percent`` and ``video_list_percent``: the least shares of a video's and of a vPDQ
    entry's usable frames for a video match (the ``vpdq_*_percent`` settings). Block-list
    matches count towards the flood quarantine: ``flood`` (default: the ``flood_*`` settings)
    holds an entry whose matches in a day jump far above its history; the holds made are
    appended to ``held`` and named in the audit event."""
    from tipwatch.matching.matcher import match_media as _match
    from tipwatch.services._compute import compute_for
    from tipwatch.settings import get_settings

    made: list[dict[str, Any]] = []
    with batch(store, actor, "match.run", object_type="media") as work:
        count = 0
        for pair in _match(
            store,
            files,
            compute=compute_for(jobs=jobs, cluster=cluster),
            poll_seconds=get_settings().list_poll_seconds,
            dihedral=dihedral,
            video_seconds=video_seconds,
            video_memory_bytes=video_memory_bytes,
            video_percent=video_percent,
            video_list_percent=video_list_percent,
            flood=_flood_rule() if flood is None else flood,
            held=made,
        ):
            count += 1
            yield pair
        work.detail = f"{count} media files matched" + _held_detail(made)
        if held is not None:
            held.extend(made)


class _IndexCache:
    """One matcher (and its in-memory PDQ index) per store per process, built on first use
    and refreshed, incrementally, when the lists have changed (a version imported, a list
    removed, an entry held or released). Searches and refreshes take turns under one lock.

    The cache does not ask the store before a search: :func:`match_hashes` compares the
    version the search used with the lists' version inside the transaction that records the
    request, and searches again, after a refresh, when they differ."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        # Keyed by ``id(store)``: each matcher holds its store, so no address is reused while
        # its entry lives. Each value: (the lists' version the index reflects, the matcher).
        self._matchers: dict[int, tuple[tuple[Any, ...] | None, Any]] = {}

    def verdicts(
        self,
        store: Store,
        files: list[dict[str, str]],
        qualities: list[int | None],
        video: list[tuple[str, int]] | None = None,
        *,
        current: tuple[Any, ...] | None = None,
    ) -> tuple[tuple[Any, ...] | None, list[FileVerdict]]:
        """Verdicts for ``files`` and the lists' version the index reflected; ``video``
        (frame PDQ, quality) adds vPDQ hits to the first file's. ``current``: the version
        the store holds now, when known to differ from the index's: it is refreshed first."""
        from tipwatch.matching.matcher import Matcher

        with self._lock:
            known = self._matchers.get(id(store))
            if known is None:
                matcher = Matcher(store)
            else:
                matcher = known[1]
                if current is not None and known[0] != current:
                    matcher.refresh()
            seen = matcher.seen_version
            self._matchers[id(store)] = (seen, matcher)
            verdicts = list(matcher.verdicts(files, qualities))
            if video:
                verdicts[0].matches.extend(matcher.video(video))
            return seen, verdicts

    def forget(self, store: Store) -> None:
        with self._lock:
            self._matchers.pop(id(store), None)


class _ListsChanged(Exception):
    """The lists changed after a request's search; its transaction is rolled back and the
    request searched again."""


_SEARCH_TRIES = 5
"""Searches of one request when the lists keep changing under it; the last one stands."""


_INDEXES = _IndexCache()


def forget_index(store: Store) -> None:
    """Drop this process's in-memory index of ``store``; the next match builds it afresh. For
    a store whose entries were replaced wholesale (emptied, or restored from a backup), where
    the incremental refresh, which follows entry ids, cannot tell old entries from new."""
    _INDEXES.forget(store)


MATCH_ALGORITHMS = ("md5", "sha1", "sha256", "pdq")
MAX_MATCH_ITEMS = 1000


def match_hashes(
    store: Store,
    actor: Actor,
    items: Sequence[dict[str, str]],
    *,
    qualities: Sequence[int | None] | None = None,
    video: list[tuple[str, int]] | None = None,
    flood: FloodRule | None = None,
) -> list[FileVerdict]:
    """Match hashes (each item: ``algorithm -> hex value``, for md5, sha1, sha256, pdq)
    against the lists with the process's in-memory index. Exact and near matches are kept
    apart; each names its list, category, algorithm, distance and entry id. Nothing of the
    hashes is stored: only the audit event and, for block-list matches, the entries' counts
    towards the flood quarantine (``flood``, default: the ``flood_*`` settings), which holds
    an entry whose matches in a day jump far above its history."""
    from tipwatch.errors import InputError
    from tipwatch.matching.matcher import lists_version
    from tipwatch.models import normalise_hash_value

    if not items:
        raise InputError("a match request names at least one file's hashes")
    if len(items) > MAX_MATCH_ITEMS:
        raise InputError(f"a match request holds at most {MAX_MATCH_ITEMS} files")
    files: list[dict[str, str]] = []
    for i, item in enumerate(items):
        if not item:
            raise InputError(f"item {i}: no hashes")
        clean: dict[str, str] = {}
        for algorithm, value in item.items():
            if algorithm not in MATCH_ALGORITHMS:
                raise InputError(
                    f"item {i}: no hash type {algorithm!r}; the types are "
                    + ", ".join(MATCH_ALGORITHMS)
                )
            try:
                clean[algorithm] = normalise_hash_value(algorithm, value)
            except ValueError as exc:
                raise InputError(f"item {i}: {exc}") from None
        files.append(clean)
    quality_list: list[int | None] = (
        list(qualities) if qualities is not None else [None for _ in files]
    )
    require(store, actor, "match.run", object_type="hash")
    current: tuple[Any, ...] | None = None
    for attempt in range(_SEARCH_TRIES):
        used, verdicts = _INDEXES.verdicts(store, files, quality_list, video, current=current)
        counts: dict[int, int] = {}
        for verdict in verdicts:
            for entry_id in verdict.block_entries():
                counts[entry_id] = counts.get(entry_id, 0) + 1
        try:
            # One transaction: the lists' version is read in it, so the verdicts returned are
            # those of the lists as they stand when the request is recorded; then a request
            # that matched a block list counts its entries' matches towards the flood
            # quarantine (and makes any hold they call for); then the audit event.
            with unit(store, actor, "match.run", object_type="hash") as work:
                assert work.conn is not None
                current = lists_version(work.conn)
                if current != used and attempt < _SEARCH_TRIES - 1:
                    raise _ListsChanged  # rolls back; searched again after a refresh
                known = sum(1 for v in verdicts if v.matches)
                work.detail = f"{len(files)} files by hash: {known} known, {len(files) - known} new"
                if counts:
                    work.detail += _held_detail(_count_floods(work.conn, counts, flood))
        except _ListsChanged:
            continue
        return verdicts
    raise AssertionError("unreachable: the last search always stands")


def _count_floods(
    conn: Connection, counts: dict[int, int], flood: FloodRule | None
) -> list[dict[str, Any]]:
    """Record a request's block-list matches per entry for today and hold the floods among
    them (``flood``, default: the ``flood_*`` settings); the holds made."""
    from datetime import UTC, datetime

    from tipwatch.matching.flood import count_and_hold

    rule = _flood_rule() if flood is None else flood
    return count_and_hold(conn, counts, datetime.now(UTC).date(), rule)


def match_upload(store: Store, actor: Actor, path: Path) -> tuple[MediaHashes, FileVerdict | None]:
    """Hash one uploaded image or video and match its hashes; the caller removes the file.
    The verdict is ``None`` when the file could not be hashed (``hashes.error`` says why)."""
    from tipwatch.media.hashing import hash_file
    from tipwatch.settings import get_settings

    authorise(actor, "match.run")
    settings = get_settings()
    hashes = hash_file(
        path,
        video_seconds=settings.media_video_seconds,
        video_memory_bytes=settings.media_video_memory_bytes,
    )
    if hashes.error is not None:
        return hashes, None
    item = {a: v for a in MATCH_ALGORITHMS if (v := getattr(hashes, a)) is not None}
    frames = [(f.pdq, f.quality) for f in hashes.vpdq] if hashes.vpdq else None
    (verdict,) = match_hashes(store, actor, [item], qualities=[hashes.pdq_quality], video=frames)
    return hashes, verdict


def match_hash_file(
    store: Store,
    actor: Actor,
    path: Path,
    *,
    jobs: int = 0,
    cluster: str | None = None,
    flood: FloodRule | None = None,
    held: list[dict[str, Any]] | None = None,
) -> Iterator[HashVerdict]:
    """Match the records of a hash file written by ``tipwatch hash`` (JSON Lines or CSV),
    hashed here or elsewhere, against the lists: a verdict per record, in order. The PDQ
    search runs on ``jobs`` local processes or on the Dask ``cluster`` (default: the setting).
    Block-list matches count towards the flood quarantine as in :func:`match_media`.
    """
    from tipwatch.formats.hash_output import read_hash_output
    from tipwatch.matching.hashfile import match_hash_records
    from tipwatch.services._compute import compute_for

    made: list[dict[str, Any]] = []
    with batch(store, actor, "match.run", object_type="media") as work:
        count = 0
        for verdict in match_hash_records(
            store,
            read_hash_output(path),
            compute=compute_for(jobs=jobs, cluster=cluster),
            flood=_flood_rule() if flood is None else flood,
            held=made,
        ):
            count += 1
            yield verdict
        work.detail = f"{count} records of hash file {path.name} matched" + _held_detail(made)
        if held is not None:
            held.extend(made)
