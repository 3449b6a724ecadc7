"""Versioned lists: each import of a list is a new version that states the whole list.

A versioned list is two tables of the same shape, whatever the entries hold (hashes today,
URLs next):

- an *entry table* with an integer ``id``, the owning list's id, the columns that identify an
  entry within its list (the *key*), ``added_version`` and ``retired_version`` (``NULL`` while
  the entry is active);
- a *version table* with the list's id, ``version``, and the counts ``added`` (new plus
  reactivated entries), ``retired`` and ``kept`` (entries already active, and repeats within
  the version), beside whatever else the list records about an import.

:func:`apply_version` brings the entries to a new version: new keys are inserted, active keys
the version no longer holds are retired (kept, marked with the version that dropped them),
retired keys that come back are reactivated; nothing is duplicated. Before anything is written
the caller may inspect what the version would change (``check``) and refuse it, and may name
keys that must not be retired although the version does not state them (``spare``: entries
whose records in the version could not be read).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.sql.schema import Table

__all__ = [
    "VersionChanges",
    "VersionedTables",
    "apply_version",
    "delete_versioned",
    "has_version",
]

T = TypeVar("T")

_BATCH = 5000
"""Rows per INSERT or UPDATE statement (bounded by SQLite's bound-parameter limit)."""


@dataclass(frozen=True)
class VersionedTables:
    """The entry and version tables of one kind of versioned list."""

    entries: Table
    versions: Table
    key: tuple[str, ...]
    """The entry columns that identify an entry within its list, e.g. ``("algorithm", "value")``."""
    owner: str = "list_id"
    """The column, in both tables, holding the list's id."""


@dataclass
class VersionChanges:
    """What a version changed. ``kept`` counts entries that were already active; ``repeated``
    the entries the version stated more than once (each counted once); ``spared`` the active
    entries the version does not state but that were kept active because they were named in
    ``spare``; ``active_before`` the list's active entries before the version."""

    added: int = 0
    reactivated: int = 0
    retired: int = 0
    kept: int = 0
    repeated: int = 0
    spared: int = 0
    active_before: int = 0

    @property
    def active_after(self) -> int:
        """The list's active entries once the version is applied."""
        return self.active_before - self.retired + self.added + self.reactivated


def has_version(conn: Connection, tables: VersionedTables, owner_id: int, version: str) -> bool:
    """Whether the list ``owner_id`` already has a version labelled ``version``."""
    v = tables.versions.c
    query = (
        select(func.count())
        .select_from(tables.versions)
        .where(v[tables.owner] == owner_id, v.version == version)
    )
    return bool(conn.execute(query).scalar_one())


def apply_version(
    conn: Connection,
    tables: VersionedTables,
    owner_id: int,
    version: str,
    entries: Iterable[tuple[tuple[Hashable, ...], T]],
    *,
    new_row: Callable[[T], Mapping[str, Any]],
    full: bool = True,
    version_columns: Callable[[], Mapping[str, Any]] | Mapping[str, Any] | None = None,
    spare: Container[tuple[Hashable, ...]] = (),
    check: Callable[[VersionChanges], None] | None = None,
) -> VersionChanges:
    """Bring the list ``owner_id`` to ``version`` and record the version.

    ``entries`` yields each entry of the version as its key (values of ``tables.key``, in
    order) and an item; ``new_row(item)`` gives the other columns of an entry that is new (it
    is called for new entries only). With ``full`` (the version states the whole list) active
    entries absent from it are retired; otherwise the version only adds. ``version_columns``
    are the version row's other columns; a callable is called once ``entries`` is consumed, so
    that counts made while reading (such as rejected records) can be recorded.

    ``spare`` holds keys never to retire (it is consulted once ``entries`` is consumed, so the
    iterable may fill it while it is read). ``check(changes)`` is called with what the version
    would change, before anything is written; it raises to refuse the version (the caller's
    transaction then rolls back whatever else it wrote).
    """
    e = tables.entries.c
    owner = e[tables.owner]
    key_columns = [e[name] for name in tables.key]
    existing: dict[tuple[Hashable, ...], tuple[int, bool]] = {
        tuple(row[1:-1]): (row[0], row[-1] is None)
        for row in conn.execute(
            select(e.id, *key_columns, e.retired_version).where(owner == owner_id)
        )
    }
    changes = VersionChanges()
    seen: set[tuple[Hashable, ...]] = set()
    new_rows: list[dict[str, Any]] = []
    reactivate: list[int] = []
    for key, item in entries:
        if key in seen:
            changes.repeated += 1
            continue
        seen.add(key)
        known = existing.get(key)
        if known is None:
            row = dict(new_row(item))
            row[tables.owner] = owner_id
            row.update(zip(tables.key, key, strict=True))
            row["added_version"] = version
            row["retired_version"] = None
            new_rows.append(row)
            changes.added += 1
        elif not known[1]:
            reactivate.append(known[0])
            changes.reactivated += 1
        else:
            changes.kept += 1
    changes.active_before = sum(1 for _, active in existing.values() if active)
    gone: list[int] = []
    if full:
        for key, (entry_id, active) in existing.items():
            if not active or key in seen:
                continue
            if key in spare:
                changes.spared += 1
            else:
                gone.append(entry_id)
        changes.retired = len(gone)
    if check is not None:
        check(changes)
    for start in range(0, len(new_rows), _BATCH):
        conn.execute(insert(tables.entries), new_rows[start : start + _BATCH])
    _set_retired(conn, tables, reactivate, None)
    _set_retired(conn, tables, gone, version)
    extra = version_columns() if callable(version_columns) else (version_columns or {})
    conn.execute(
        insert(tables.versions).values(
            {
                **extra,
                tables.owner: owner_id,
                "version": version,
                "added": changes.added + changes.reactivated,
                "retired": changes.retired,
                "kept": changes.kept + changes.repeated + changes.spared,
            }
        )
    )
    return changes


def _set_retired(
    conn: Connection, tables: VersionedTables, ids: list[int], version: str | None
) -> None:
    e = tables.entries.c
    for start in range(0, len(ids), _BATCH):
        conn.execute(
            update(tables.entries)
            .where(e.id.in_(ids[start : start + _BATCH]))
            .values(retired_version=version)
        )


def delete_versioned(conn: Connection, tables: VersionedTables, owner_id: int) -> int:
    """Delete the entries and versions of the list ``owner_id`` (not the list itself).
    Returns the number of entries deleted."""
    e, v = tables.entries.c, tables.versions.c
    count = conn.execute(
        select(func.count()).select_from(tables.entries).where(e[tables.owner] == owner_id)
    ).scalar_one()
    conn.execute(delete(tables.entries).where(e[tables.owner] == owner_id))
    conn.execute(delete(tables.versions).where(v[tables.owner] == owner_id))
    return int(count)
