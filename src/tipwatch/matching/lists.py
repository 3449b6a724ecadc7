"""Hash lists in the store: import with versions, list, show, export, remove.

Each import of a list is a new *version*. By default a version states the whole list: entries
it no longer holds are retired (kept, marked with the version that dropped them), entries that
come back are reactivated, nothing is duplicated. ``full=False`` only adds.

An import never silently empties a list. A record that cannot be read is rejected, and an
entry such a record still names (a hash written with a ``0x`` prefix, say) is never retired.
A version is refused, and the list left as it was, when it rejects more than
``max_rejected_share`` of its records, rejects all of them, or would retire every active
entry and add none; ``force`` imports it all the same. ``dry_run`` computes the summary
(what would be added, retired, rejected) and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from tipwatch.errors import ConfigError, InputError, NotFoundError
from tipwatch.formats.hashlists import HashRecord
from tipwatch.matching.schemes import CategoryScheme, get_scheme
from tipwatch.models import normalise_hash_value
from tipwatch.store.database import Store
from tipwatch.store.schema import hash_entries, hash_list_versions, hash_lists
from tipwatch.store.versions import (
    VersionChanges,
    VersionedTables,
    apply_version,
    delete_versioned,
    has_version,
)

__all__ = [
    "DEFAULT_MAX_REJECTED_SHARE",
    "DEFAULT_NEAR_THRESHOLD",
    "DEFAULT_QUALITY_FLOOR",
    "ImportSummary",
    "get_list",
    "import_list",
    "iter_entries",
    "list_lists",
    "remove_list",
]

DEFAULT_NEAR_THRESHOLD = 31
DEFAULT_QUALITY_FLOOR = 50
DEFAULT_MAX_REJECTED_SHARE = 0.05
"""The largest share of a version's records that may be rejected before the import is refused
(the ``list_max_rejected_share`` setting's default)."""

HASH_LIST_TABLES = VersionedTables(
    hash_entries, hash_list_versions, key=("algorithm", "value", "entry_key")
)
"""Hash-list entries are versioned by (algorithm, value, entry key) within a list: two entries
of a source that share a hash (two VICS Media records with one MD5) stay apart."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class ImportSummary:
    list_name: str
    version: str
    added: int = 0
    reactivated: int = 0
    retired: int = 0
    kept: int = 0
    rejected: int = 0
    spared: int = 0
    """Active entries this version does not state but keeps, because a rejected record names
    them."""
    active_before: int = 0
    active_after: int = 0
    dry_run: bool = False
    """Whether this is what the version would change: nothing was written."""
    refusal: str | None = None
    """Why the version is refused (or, when forced, would have been); ``None`` when it is
    not."""
    forced: bool = False
    """Whether the version was imported although it would have been refused."""
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "version": self.version,
            "added": self.added,
            "reactivated": self.reactivated,
            "retired": self.retired,
            "kept": self.kept,
            "rejected": self.rejected,
            "spared": self.spared,
            "active_before": self.active_before,
            "active_after": self.active_after,
            "dry_run": self.dry_run,
            "refusal": self.refusal,
            "forced": self.forced,
            "problems": [{"location": loc, "reason": why} for loc, why in self.problems],
        }


def import_list(
    store: Store,
    name: str,
    records: Iterable[HashRecord],
    *,
    version: str,
    fmt: str,
    scheme: str,
    source_file: str | None = None,
    source: str | None = None,
    near_threshold: int | None = None,
    quality_floor: int | None = None,
    full: bool = True,
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
    force: bool = False,
    dry_run: bool = False,
    purpose: str | None = None,
) -> ImportSummary:
    """Import ``records`` as ``version`` of the list ``name`` (created when new).

    ``purpose``: ``block`` (the default for a new list: matches are known material) or
    ``allow`` (hashes of benign or already-cleared material, whose matches clear a file).

    Raises :class:`InputError`, changing nothing, when the version would empty the list or
    rejects too many records (see the module's description), unless ``force``. With
    ``dry_run`` nothing is written and the summary says what the import would do.
    """
    store.require_autonomy("a list import")
    if purpose is not None and purpose not in ("block", "allow"):
        raise ConfigError(f"a list's purpose is block or allow, not {purpose!r}")
    category_scheme = get_scheme(scheme)
    summary = ImportSummary(name, version, dry_run=dry_run)
    now = _now()
    spare: set[tuple[str, str, str]] = set()

    def check(changes: VersionChanges) -> None:
        _fill(summary, changes)
        summary.refusal = _refusal(summary, full=full, max_rejected_share=max_rejected_share)
        if dry_run:
            raise _DryRun  # the summary says what a real import would do, or meet
        if summary.refusal is not None and not force:
            first = ""
            if summary.problems:
                first = f" (first: {summary.problems[0][0]}: {summary.problems[0][1]})"
            raise InputError(
                f"list {name!r} version {version!r} refused, the list is unchanged: "
                f"{summary.refusal}{first}",
                hint="check the file's format and hash values, or force the import",
            )
        summary.forced = summary.refusal is not None

    # A dry run ends by raising _DryRun in the transaction: rolled back, the list row included.
    with contextlib.suppress(_DryRun):
        _import_version(
            store,
            name,
            records,
            version=version,
            fmt=fmt,
            scheme=scheme,
            category_scheme=category_scheme,
            summary=summary,
            now=now,
            source_file=source_file,
            source=source,
            near_threshold=near_threshold,
            quality_floor=quality_floor,
            full=full,
            spare=spare,
            check=check,
            purpose=purpose,
        )
    return summary


class _DryRun(Exception):
    """Raised inside the import's transaction to roll it back once the summary is known."""


def _fill(summary: ImportSummary, changes: VersionChanges) -> None:
    summary.added = changes.added
    summary.reactivated = changes.reactivated
    summary.retired = changes.retired
    summary.kept = changes.kept + changes.repeated
    summary.spared = changes.spared
    summary.active_before = changes.active_before
    summary.active_after = changes.active_after


def _refusal(summary: ImportSummary, *, full: bool, max_rejected_share: float) -> str | None:
    """Why the version must not be imported without being forced, or ``None``."""
    read = summary.added + summary.reactivated + summary.kept + summary.rejected
    if summary.rejected and summary.rejected == read:
        return f"all {read:,} of its records were rejected"
    if read and summary.rejected / read > max_rejected_share:
        return (
            f"{summary.rejected:,} of its {read:,} records were rejected "
            f"({summary.rejected / read:.1%}; at most {max_rejected_share:.1%} may be)"
        )
    if full and summary.active_before and not summary.active_after:
        return f"it would retire all {summary.active_before:,} active entries and add none"
    return None


def _import_version(
    store: Store,
    name: str,
    records: Iterable[HashRecord],
    *,
    version: str,
    fmt: str,
    scheme: str,
    category_scheme: CategoryScheme,
    summary: ImportSummary,
    now: datetime,
    source_file: str | None,
    source: str | None,
    near_threshold: int | None,
    quality_floor: int | None,
    full: bool,
    spare: set[tuple[str, str, str]],
    check: Callable[[VersionChanges], None],
    purpose: str | None,
) -> None:
    lc = hash_lists.c
    with store.atomic() as conn:
        row = conn.execute(select(hash_lists).where(lc.name == name)).first()
        if row is None:
            list_id = conn.execute(
                insert(hash_lists)
                .values(
                    name=name,
                    source=source,
                    scheme=scheme,
                    version=version,
                    near_threshold=near_threshold
                    if near_threshold is not None
                    else DEFAULT_NEAR_THRESHOLD,
                    quality_floor=quality_floor
                    if quality_floor is not None
                    else DEFAULT_QUALITY_FLOOR,
                    created_at=now,
                    updated_at=now,
                    purpose=purpose or "block",
                )
                .returning(lc.id)
            ).scalar_one()
        else:
            if row.scheme != scheme:
                raise ConfigError(
                    f"list {name!r} uses the {row.scheme} scheme; this import says {scheme}"
                )
            if has_version(conn, HASH_LIST_TABLES, row.id, version):
                raise ConfigError(f"list {name!r} already has a version {version!r}")
            list_id = row.id
            settings: dict[str, Any] = {"version": version, "updated_at": now}
            if near_threshold is not None:
                settings["near_threshold"] = near_threshold
            if quality_floor is not None:
                settings["quality_floor"] = quality_floor
            if purpose is not None:
                settings["purpose"] = purpose
            conn.execute(update(hash_lists).where(lc.id == list_id).values(**settings))
        apply_version(
            conn,
            HASH_LIST_TABLES,
            list_id,
            version,
            _valid_entries(records, category_scheme, summary, spare),
            new_row=_entry_row,
            full=full,
            version_columns=lambda: {
                "source_file": source_file,
                "format": fmt,
                "rejected": summary.rejected,
                "imported_at": now,
            },
            spare=spare,
            check=check,
        )


def _valid_entries(
    records: Iterable[HashRecord],
    category_scheme: CategoryScheme,
    summary: ImportSummary,
    spare: set[tuple[str, str, str]],
) -> Iterator[tuple[tuple[str, str, str], HashRecord]]:
    """The records fit to store, keyed by (algorithm, value, entry key); the others counted
    as rejected in ``summary`` (the first 50 with their reason), and the key each still names,
    if any, put in ``spare`` so that no entry is retired because its record could not be
    read."""
    for record in records:
        problem = record.error
        if problem is None:
            try:
                category_scheme.label(record.category)
            except ConfigError as exc:
                problem = str(exc)
        if problem is not None:
            summary.rejected += 1
            key = _lenient_key(record)
            if key is not None:
                spare.add(key)
            if len(summary.problems) < 50:
                summary.problems.append((record.location, problem))
            continue
        yield (record.algorithm, record.value, record.entry_key), record


_HEX_SEPARATORS = str.maketrans("", "", " \t:-")


def _lenient_key(record: HashRecord) -> tuple[str, str, str] | None:
    """The (algorithm, value, entry key) a rejected record most likely means: its value
    without a ``0x`` prefix, separators or surrounding space; ``None`` when even that is no
    hash."""
    if not record.algorithm or not record.value:
        return None
    text = record.value.strip().translate(_HEX_SEPARATORS)
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        return record.algorithm, normalise_hash_value(record.algorithm, text), record.entry_key
    except ValueError:
        return None


def _entry_row(record: HashRecord) -> dict[str, Any]:
    return {
        "category": record.category,
        "series": record.series,
        "media_id": record.media_id,
        "flags": json.dumps(record.flags, sort_keys=True),
        "extra": json.dumps(record.extra, sort_keys=True, default=str),
    }


def _list_row(store: Store, name: str) -> Any:
    with store.read() as conn:
        row = conn.execute(select(hash_lists).where(hash_lists.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no hash list named {name!r}")
    return row


def list_lists(store: Store) -> list[dict[str, Any]]:
    """Every list with its active entry count."""
    e = hash_entries.c
    counts = (
        select(e.list_id, func.count().label("active"))
        .where(e.retired_version.is_(None))
        .group_by(e.list_id)
        .subquery()
    )
    query = (
        select(hash_lists, func.coalesce(counts.c.active, 0).label("active"))
        .outerjoin(counts, counts.c.list_id == hash_lists.c.id)
        .order_by(hash_lists.c.name)
    )
    with store.read() as conn:
        return [
            {
                "name": r.name,
                "scheme": r.scheme,
                "version": r.version,
                "source": r.source,
                "active_entries": int(r.active),
                "near_threshold": r.near_threshold,
                "quality_floor": r.quality_floor,
                "purpose": r.purpose,
                "connector": r.connector,
            }
            for r in conn.execute(query)
        ]


def get_list(store: Store, name: str) -> dict[str, Any]:
    """One list: settings, versions, active entries by algorithm and category."""
    row = _list_row(store, name)
    e, v = hash_entries.c, hash_list_versions.c
    with store.read() as conn:
        by = conn.execute(
            select(e.algorithm, e.category, func.count().label("n"))
            .where(e.list_id == row.id, e.retired_version.is_(None))
            .group_by(e.algorithm, e.category)
            .order_by(e.algorithm, e.category)
        ).all()
        versions = conn.execute(
            select(hash_list_versions).where(v.list_id == row.id).order_by(v.id)
        ).all()
        held = conn.execute(
            select(func.count())
            .select_from(hash_entries)
            .where(e.list_id == row.id, e.held_at.is_not(None), e.retired_version.is_(None))
        ).scalar_one()
    scheme = get_scheme(row.scheme)
    return {
        "name": row.name,
        "scheme": row.scheme,
        "scheme_name": scheme.name,
        "version": row.version,
        "source": row.source,
        "near_threshold": row.near_threshold,
        "quality_floor": row.quality_floor,
        "purpose": row.purpose,
        "connector": row.connector,
        "connector_config": json.loads(row.connector_config) if row.connector_config else None,
        "held_entries": int(held),
        "active": [
            {
                "algorithm": r.algorithm,
                "category": r.category,
                "category_label": scheme.label(r.category) if r.category else None,
                "entries": int(r.n),
            }
            for r in by
        ],
        "versions": [
            {
                "version": x.version,
                "format": x.format,
                "source_file": x.source_file,
                "added": x.added,
                "retired": x.retired,
                "kept": x.kept,
                "rejected": x.rejected,
                "imported_at": x.imported_at.replace(tzinfo=UTC).isoformat(),
            }
            for x in versions
        ],
    }


def iter_entries(store: Store, name: str, *, include_retired: bool = False) -> Iterator[HashRecord]:
    """The list's entries as records (for export), in import order."""
    row = _list_row(store, name)
    e = hash_entries.c
    query = select(hash_entries).where(e.list_id == row.id).order_by(e.id)
    if not include_retired:
        query = query.where(e.retired_version.is_(None))
    with store.read() as conn:
        for r in conn.execute(query):
            yield HashRecord(
                r.algorithm,
                r.value,
                category=r.category,
                series=r.series,
                media_id=r.media_id,
                flags=json.loads(r.flags),
                extra=json.loads(r.extra),
                entry_key=r.entry_key,
            )


def remove_list(store: Store, name: str) -> int:
    """Delete a list, its entries and the matches against them. Returns entries removed."""
    from tipwatch.store.schema import file_matches

    row = _list_row(store, name)
    with store.atomic() as conn:
        # Matches first: they refer to the entries.
        conn.execute(delete(file_matches).where(file_matches.c.list_id == row.id))
        removed = delete_versioned(conn, HASH_LIST_TABLES, row.id)
        conn.execute(delete(hash_lists).where(hash_lists.c.id == row.id))
    return removed
