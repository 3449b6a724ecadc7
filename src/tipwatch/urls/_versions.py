"""Importing a URL list version (whole or as changes), comparing versions, exporting a
version in the forms filters load, and loading the index that ``check`` and the log reader
use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection

from tipwatch.errors import InputError
from tipwatch.formats.url_lists import (
    ExportCounts,
    detect_url_format,
    read_url_list,
    write_hosts,
    write_plain_state,
    write_rpz,
    write_splash,
    write_squid,
    write_url_csv,
)
from tipwatch.store.url_lists import (
    StoredEntry,
    UrlListVersion,
    UrlState,
    active_entries,
    apply_url_version,
    iter_active,
    list_generation,
    state_at,
)
from tipwatch.urls._canonical import MAX_URL_LENGTH, URLError
from tipwatch.urls._list import EntryKey, Scope, UrlIndex, entry_key, state_lines, state_sha256

__all__ = [
    "EXPORT_FORMATS",
    "ExportResult",
    "ImportResult",
    "VersionDiff",
    "cached_index",
    "diff_versions",
    "export_version",
    "import_url_list",
    "load_index",
]

EXPORT_FORMATS = ("rpz", "hosts", "squid", "plain", "csv", "splash")


@dataclass
class ImportResult:
    list_name: str
    version: str
    seq: int
    delta: bool
    records: int = 0
    added: int = 0
    retired: int = 0
    kept: int = 0
    entries: int = 0
    state_sha256: str = ""
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def import_url_list(
    conn: Connection,
    path: Path,
    *,
    list_name: str,
    version: str | None = None,
    fmt: str | None = None,
    delta: bool = False,
    default_scope: Scope | None = None,
    category: str | None = None,
    source: str | None = None,
    max_length: int = MAX_URL_LENGTH,
    now: datetime | None = None,
) -> ImportResult:
    """Read ``path`` and make it version ``version`` (default: the import time) of the list.

    A whole list states every entry: entries it no longer holds are retired. A ``delta``
    states changes (adds, and removals marked ``-`` or ``action=remove``) to the newest
    version. Each bad record is reported with its line and the reason; the others are read."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    label = version or now.isoformat(timespec="microseconds")
    fmt = fmt or detect_url_format(path)
    problems: list[str] = []
    state: dict[tuple[str, str], UrlState] = {}
    removals: set[tuple[str, str]] = set()
    records = 0
    for record in read_url_list(path, fmt):
        records += 1
        if record.error is not None:
            problems.append(record.error)
            continue
        try:
            scope = Scope.parse(record.scope) if record.scope else default_scope
            key = entry_key(record.url, scope, max_length=max_length)
        except URLError as exc:
            problems.append(f"line {record.line}: {exc} ({record.url[:80]!r})")
            continue
        pair = (key.scope.value, key.key)
        if record.remove:
            if not delta:
                problems.append(f"line {record.line}: a removal in a whole list (not a delta)")
                continue
            removals.add(pair)
            state.pop(pair, None)
            continue
        state[pair] = UrlState(record.category or category, record.source or source, record.added)
    if delta:
        from tipwatch.store.url_lists import require_url_list

        current = active_entries(conn, require_url_list(conn, list_name))
        full = {k: UrlState(cat) for k, (_, cat) in current.items() if k not in removals}
        for pair in removals - set(current):
            problems.append(f"removal of an entry the list does not hold: {pair[0]} {pair[1]}")
        full.update(state)
        state = full
    if not state and not delta:
        raise InputError(
            f"{path}: no entry could be read ({len(problems)} problems)"
            + (f"; first: {problems[0]}" if problems else "")
        )
    sha = state_sha256(EntryKey(Scope(s), k) for s, k in state)
    changes, seq = apply_url_version(
        conn,
        list_name,
        label,
        state,
        state_sha256=sha,
        fmt=fmt,
        source_file=str(path),
        delta=delta,
        rejected=len(problems),
        source=source,
        now=now,
    )
    return ImportResult(
        list_name,
        label,
        seq,
        delta,
        records,
        changes.added + changes.reactivated,
        changes.retired,
        changes.kept,
        len(state),
        sha,
        problems,
    )


@dataclass
class VersionDiff:
    list_name: str
    old: str
    new: str
    added: list[tuple[str, str]]
    removed: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "old": self.old,
            "new": self.new,
            "added": [{"scope": s, "key": k} for s, k in self.added],
            "removed": [{"scope": s, "key": k} for s, k in self.removed],
        }


def diff_versions(conn: Connection, list_name: str, old: str, new: str | None) -> VersionDiff:
    """The entries ``new`` (default: the newest version) holds and ``old`` does not, and the
    reverse."""
    old_version, old_entries = state_at(conn, list_name, old)
    new_version, new_entries = state_at(conn, list_name, new)
    before = {(e.scope, e.key) for e in old_entries}
    after = {(e.scope, e.key) for e in new_entries}
    return VersionDiff(
        list_name,
        old_version.version,
        new_version.version,
        sorted(after - before),
        sorted(before - after),
    )


@dataclass
class ExportResult:
    list_name: str
    version: str
    state_sha256: str
    format: str
    entries: int
    written: int
    left_out_pages: int = 0
    left_out_other: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _sort_key(e: StoredEntry) -> bytes:
    return f"{e.scope}\t{e.key}".encode("utf-8", "surrogateescape")


def export_version(
    conn: Connection,
    list_name: str,
    fmt: str,
    out: Path | IO[str],
    *,
    version: str | None = None,
    zone: str = "rpz.tipwatch.invalid",
    splash: dict[str, str] | None = None,
) -> ExportResult:
    """Write version ``version`` (default: the newest) of the list in ``fmt``
    (:data:`EXPORT_FORMATS`) to ``out`` (a text stream; a folder for ``squid``)."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}: {', '.join(EXPORT_FORMATS)}")
    chosen, entries = state_at(conn, list_name, version)
    entries.sort(key=_sort_key)
    header = [
        f"tipwatch URL list {list_name} version {chosen.version} ({chosen.entries} entries)",
        f"state SHA-256 {chosen.state_sha256}",
    ]
    result = ExportResult(list_name, chosen.version, chosen.state_sha256, fmt, len(entries), 0)
    triples = [(e.scope, e.key, e.category) for e in entries]
    counts = ExportCounts()
    if fmt == "squid":
        if not isinstance(out, Path):
            raise InputError("a Squid export is a folder of files: name the folder")
        counts = write_squid(out, triples, header=header)
    else:
        if isinstance(out, Path):
            with out.open("w", encoding="utf-8", newline="") as stream:
                return export_version(
                    conn, list_name, fmt, stream, version=version, zone=zone, splash=splash
                )
        if fmt == "rpz":
            counts = write_rpz(out, triples, zone=zone, serial=chosen.seq, header=header)
        elif fmt == "hosts":
            counts = write_hosts(out, triples, header=header)
        elif fmt == "plain":
            counts.written = write_plain_state(
                out, state_lines(EntryKey(Scope(e.scope), e.key) for e in entries)
            )
        elif fmt == "csv":
            counts.written = write_url_csv(
                out, ((e.scope, e.key, e.category, list_name, e.added_version) for e in entries)
            )
        else:
            about = splash or {}
            write_splash(
                out,
                message=about.get("message", ""),
                helpline=about.get("helpline", ""),
                helpline_url=about.get("helpline_url", ""),
            )
            counts.written = 1
    result.written = counts.written
    result.left_out_pages = counts.left_out_pages
    result.left_out_other = counts.left_out_other
    result.notes = list(counts.notes or [])
    if counts.left_out_pages:
        result.notes.append(
            f"{counts.left_out_pages} page, page+query and folder entries left out: "
            f"a {fmt} filter acts on names, not pages"
        )
    return result


def version_of(conn: Connection, list_name: str, version: str | None) -> UrlListVersion:
    return state_at(conn, list_name, version)[0]


def load_index(
    conn: Connection, names: Sequence[str] | None = None, *, version: str | None = None
) -> UrlIndex:
    """The index of the active entries of the lists ``names`` (default: all); with
    ``version`` (one list only), of that version's entries."""
    index = UrlIndex()
    entries: Iterable[StoredEntry]
    if version is not None:
        if not names or len(names) != 1:
            raise InputError("a version can be chosen for one list only")
        entries = state_at(conn, names[0], version)[1]
    else:
        entries = iter_active(conn, names)
    for e in entries:
        index.add(EntryKey(Scope(e.scope), e.key), e.list_name, e.category)
    return index


_cached: dict[str, tuple[tuple[Any, ...], UrlIndex]] = {}


def cached_index(conn: Connection, store_url: str, names: Sequence[str] | None = None) -> UrlIndex:
    """The index of the active entries of ``names`` (default: all lists), kept between calls
    (one, the last asked for) until a version of one of those lists is imported: a server
    that checks URL after URL loads the lists once."""
    key = f"{store_url}|{','.join(sorted(names or ()))}"
    generation = list_generation(conn, names)
    found = _cached.get(key)
    if found is not None and found[0] == generation:
        return found[1]
    index = load_index(conn, names)
    _cached.clear()
    _cached[key] = (generation, index)
    return index
