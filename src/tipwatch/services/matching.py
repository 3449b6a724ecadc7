"""Media and matching services: hashing, hash lists, matching."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tipwatch.services._unit import batch, unit
from tipwatch.services.access import Actor, authorise
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.matching.lists import ImportSummary
    from tipwatch.matching.matcher import FileVerdict, MatchSummary
    from tipwatch.media.hashing import MediaHashes

__all__ = [
    "LIST_FORMATS",
    "export_list",
    "hash_media",
    "import_list",
    "list_lists",
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
) -> Iterator[MediaHashes]:
    """Hash media files; nothing of them is stored (no store is involved, nothing audited).

    ``video_seconds`` and ``video_memory_bytes`` limit each video (default: the library's,
    600 s and 2 GiB); a file that is no regular file gets its error like any other file."""
    from tipwatch.media import hash_paths
    from tipwatch.media.hashing import VIDEO_MEMORY_BYTES, VIDEO_SECONDS

    authorise(actor, "media.hash")
    return hash_paths(
        files,
        jobs=jobs,
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
) -> ImportSummary:
    """Import a version of a hash list from a file (VICS JSON, hash CSV or plain).

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
    from tipwatch.matching.lists import get_list

    with unit(store, actor, "list.read", object_type="hash_list", object_ids=[name], writes=False):
        return get_list(store, name)


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


def match_referrals(
    store: Store,
    actor: Actor,
    *,
    report_ids: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> MatchSummary:
    """Match the stored referrals' files against the lists (committed batch by batch)."""
    from tipwatch.matching.matcher import match_referrals as _match

    with batch(
        store, actor, "match.run", object_type="referral", object_ids=list(report_ids or ())
    ) as work:
        summary = _match(
            store, report_ids=list(report_ids) if report_ids else None, progress=progress
        )
        work.detail = f"{summary.files} files: {summary.known} known, {summary.new} new"
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
) -> Iterator[tuple[MediaHashes, FileVerdict | None]]:
    """Hash media and match each against the lists; media are not stored."""
    from tipwatch.matching.matcher import match_media as _match

    with batch(store, actor, "match.run", object_type="media") as work:
        count = 0
        for pair in _match(
            store,
            files,
            jobs=jobs,
            dihedral=dihedral,
            video_seconds=video_seconds,
            video_memory_bytes=video_memory_bytes,
        ):
            count += 1
            yield pair
        work.detail = f"{count} media files matched"


class _IndexCache:
    """One matcher (and its in-memory PDQ index) per store per process, built on first use
    and refreshed, incrementally, when the lists' fingerprint changes (a version imported,
    a list removed). Searches and refreshes take turns under one lock."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._matchers: dict[int, tuple[tuple[int, int, int, Any], Any]] = {}

    def verdicts(
        self,
        store: Store,
        files: list[dict[str, str]],
        qualities: list[int | None],
        video: list[tuple[str, int]] | None = None,
    ) -> list[FileVerdict]:
        """Verdicts for ``files``; ``video`` (frame PDQ, quality) adds vPDQ hits to the
        first file's."""
        from tipwatch.matching.lists import lists_state
        from tipwatch.matching.matcher import Matcher

        state = lists_state(store)
        with self._lock:
            known = self._matchers.get(id(store))
            if known is None:
                matcher = Matcher(store)
            else:
                matcher = known[1]
                if known[0] != state:
                    matcher.refresh()
            self._matchers[id(store)] = (state, matcher)
            verdicts = list(matcher.verdicts(files, qualities))
            if video:
                verdicts[0].matches.extend(matcher.video(video))
            return verdicts

    def forget(self, store: Store) -> None:
        with self._lock:
            self._matchers.pop(id(store), None)


_INDEXES = _IndexCache()

MATCH_ALGORITHMS = ("md5", "sha1", "sha256", "pdq")
MAX_MATCH_ITEMS = 1000


def match_hashes(
    store: Store,
    actor: Actor,
    items: Sequence[dict[str, str]],
    *,
    qualities: Sequence[int | None] | None = None,
    video: list[tuple[str, int]] | None = None,
) -> list[FileVerdict]:
    """Match hashes (each item: ``algorithm -> hex value``, for md5, sha1, sha256, pdq)
    against the lists with the process's in-memory index; nothing is stored but the audit
    event. Exact and near matches are kept apart; each names its list, category, algorithm,
    distance and entry id."""
    from tipwatch.errors import InputError
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
    with unit(store, actor, "match.run", object_type="hash", writes=False) as work:
        verdicts = _INDEXES.verdicts(store, files, quality_list, video)
        known = sum(1 for v in verdicts if v.matches)
        work.detail = f"{len(files)} files by hash: {known} known, {len(files) - known} new"
    return verdicts


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
