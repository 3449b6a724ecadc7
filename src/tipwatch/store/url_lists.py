"""URL lists in the store: lists, versions (each with the SHA-256 of its full state), entries
keyed by scope and canonical key, and each version's changes, so that any version's state can
be rebuilt. Every reader and writer of the ``url_*`` tables goes through this module.

Versions are applied through :func:`tipwatch.store.versions.apply_version`, as hash lists are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from tipwatch.errors import ConflictError, NotFoundError
from tipwatch.store.schema import url_changes, url_entries, url_list_versions, url_lists
from tipwatch.store.versions import VersionChanges, VersionedTables, apply_version

__all__ = [
    "StoredEntry",
    "UrlListVersion",
    "UrlState",
    "active_entries",
    "apply_url_version",
    "iter_active",
    "key_hash",
    "list_generation",
    "list_summaries",
    "require_url_list",
    "state_at",
    "url_list_versions_of",
]

TABLES = VersionedTables(url_entries, url_list_versions, ("scope", "key"))


@dataclass(frozen=True, slots=True)
class UrlState:
    """What a version states about one entry."""

    category: str | None = None
    source: str | None = None
    added_on: date | None = None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    id: int
    scope: str
    key: str
    category: str | None
    list_name: str
    added_version: str


@dataclass(frozen=True, slots=True)
class UrlListVersion:
    list_name: str
    version: str
    seq: int
    delta: bool
    format: str
    source_file: str | None
    added: int
    retired: int
    kept: int
    rejected: int
    entries: int
    state_sha256: str
    imported_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def key_hash(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\t{key}".encode("utf-8", "surrogateescape")).hexdigest()


def require_url_list(conn: Connection, name: str) -> int:
    """The id of the URL list ``name``; :class:`NotFoundError` when there is none."""
    found = conn.execute(select(url_lists.c.id).where(url_lists.c.name == name)).scalar()
    if found is None:
        known = conn.execute(select(url_lists.c.name).order_by(url_lists.c.name)).scalars()
        names = ", ".join(list(known)[:20]) or "none yet"
        raise NotFoundError(
            f"no URL list named {name!r} (lists: {names})", hint="import a version of it first"
        )
    return int(found)


def _list_for_import(conn: Connection, name: str, source: str | None, now: datetime) -> int:
    found = conn.execute(select(url_lists.c.id).where(url_lists.c.name == name)).scalar()
    if found is not None:
        return int(found)
    result = conn.execute(
        insert(url_lists).values(
            name=name, source=source, version=None, created_at=now, updated_at=now
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def active_entries(conn: Connection, list_id: int) -> dict[tuple[str, str], tuple[int, str | None]]:
    """The active entries of a list: ``(scope, key) -> (id, category)``."""
    e = url_entries.c
    query = select(e.id, e.scope, e.key, e.category).where(
        e.list_id == list_id, e.retired_version.is_(None)
    )
    return {(r.scope, r.key): (r.id, r.category) for r in conn.execute(query)}


def apply_url_version(
    conn: Connection,
    name: str,
    version: str,
    state: Mapping[tuple[str, str], UrlState],
    *,
    state_sha256: str,
    fmt: str,
    source_file: str | None,
    delta: bool,
    rejected: int,
    source: str | None,
    now: datetime,
) -> tuple[VersionChanges, int]:
    """Bring the list ``name`` (created when new) to ``version``, whose full state is
    ``state``; record its changes. Returns the changes and the version's ``seq``."""
    list_id = _list_for_import(conn, name, source, now)
    v = url_list_versions.c
    if conn.execute(
        select(func.count()).where(v.list_id == list_id, v.version == version)
    ).scalar_one():
        raise ConflictError(
            f"URL list {name!r} already has a version {version!r}",
            hint="give the new version another label",
        )
    seq = (
        int(
            conn.execute(
                select(func.coalesce(func.max(v.seq), 0)).where(v.list_id == list_id)
            ).scalar_one()
        )
        + 1
    )
    before = {k: i for k, (i, _) in active_entries(conn, list_id).items()}

    def new_row(item: tuple[tuple[str, str], UrlState]) -> dict[str, Any]:
        (scope, key), about = item
        return {
            "key_hash": key_hash(scope, key),
            "category": about.category,
            "source": about.source,
            "added_on": about.added_on or now.date(),
        }

    changes = apply_version(
        conn,
        TABLES,
        list_id,
        version,
        ((k, (k, about)) for k, about in state.items()),
        new_row=new_row,
        full=True,
        version_columns={
            "seq": seq,
            "delta": delta,
            "source_file": source_file,
            "format": fmt,
            "rejected": rejected,
            "entries": len(state),
            "state_sha256": state_sha256,
            "imported_at": now,
        },
    )
    after = {k: i for k, (i, _) in active_entries(conn, list_id).items()}
    rows = [
        {"list_id": list_id, "seq": seq, "entry_id": i, "added": True}
        for k, i in after.items()
        if k not in before
    ] + [
        {"list_id": list_id, "seq": seq, "entry_id": i, "added": False}
        for k, i in before.items()
        if k not in after
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(insert(url_changes), rows[start : start + 5000])
    conn.execute(
        update(url_lists).where(url_lists.c.id == list_id).values(version=version, updated_at=now)
    )
    return changes, seq


def url_list_versions_of(conn: Connection, name: str) -> list[UrlListVersion]:
    list_id = require_url_list(conn, name)
    v = url_list_versions.c
    rows = conn.execute(
        select(url_list_versions).where(v.list_id == list_id).order_by(v.seq)
    ).mappings()
    return [
        UrlListVersion(
            name,
            r["version"],
            r["seq"],
            bool(r["delta"]),
            r["format"],
            r["source_file"],
            r["added"],
            r["retired"],
            r["kept"],
            r["rejected"],
            r["entries"],
            r["state_sha256"],
            r["imported_at"],
        )
        for r in rows
    ]


def list_summaries(conn: Connection) -> list[dict[str, Any]]:
    """Each URL list with its newest version, active entries and state hash."""
    lists = conn.execute(select(url_lists).order_by(url_lists.c.name)).mappings().all()
    out = []
    v = url_list_versions.c
    for row in lists:
        latest = conn.execute(
            select(v.version, v.seq, v.entries, v.state_sha256, v.imported_at)
            .where(v.list_id == row["id"])
            .order_by(v.seq.desc())
            .limit(1)
        ).first()
        out.append(
            {
                "name": row["name"],
                "source": row["source"],
                "version": None if latest is None else latest.version,
                "versions": 0 if latest is None else latest.seq,
                "entries": 0 if latest is None else latest.entries,
                "state_sha256": None if latest is None else latest.state_sha256,
                "imported_at": None if latest is None else latest.imported_at,
            }
        )
    return out


def state_at(
    conn: Connection, name: str, version: str | None = None
) -> tuple[UrlListVersion, list[StoredEntry]]:
    """The version ``version`` of the list ``name`` (default: the newest) and its entries,
    rebuilt from the changes of every version up to it."""
    versions = url_list_versions_of(conn, name)
    if not versions:
        raise NotFoundError(f"URL list {name!r} has no version")
    chosen = (
        versions[-1]
        if version is None
        else next((x for x in versions if x.version == version), None)
    )
    if chosen is None:
        labels = ", ".join(x.version for x in versions[-10:])
        raise NotFoundError(f"URL list {name!r} has no version {version!r} (last: {labels})")
    list_id = require_url_list(conn, name)
    c, e = url_changes.c, url_entries.c
    active: set[int] = set()
    query = (
        select(c.entry_id, c.added)
        .where(c.list_id == list_id, c.seq <= chosen.seq)
        .order_by(c.seq, c.id)
    )
    for entry_id, added in conn.execute(query):
        if added:
            active.add(entry_id)
        else:
            active.discard(entry_id)
    entries = [
        StoredEntry(r.id, r.scope, r.key, r.category, name, r.added_version)
        for r in conn.execute(
            select(e.id, e.scope, e.key, e.category, e.added_version).where(e.list_id == list_id)
        )
        if r.id in active
    ]
    return chosen, entries


def iter_active(conn: Connection, names: Sequence[str] | None = None) -> Iterator[StoredEntry]:
    """The active entries of the lists ``names`` (default: every list)."""
    e, lst = url_entries.c, url_lists.c
    query = (
        select(e.id, e.scope, e.key, e.category, e.added_version, lst.name)
        .select_from(url_entries.join(url_lists, lst.id == e.list_id))
        .where(e.retired_version.is_(None))
    )
    if names:
        query = query.where(lst.name.in_(list(names)))
    for r in conn.execute(query):
        yield StoredEntry(r.id, r.scope, r.key, r.category, r.name, r.added_version)


def list_generation(conn: Connection, names: Sequence[str] | None = None) -> tuple[Any, ...]:
    """What changes whenever a version of one of the lists ``names`` (default: all) is
    imported or a list removed: each list's id and number of versions."""
    v, lst = url_list_versions.c, url_lists.c
    query = (
        select(lst.id, lst.name, func.count(v.id))
        .select_from(url_lists.outerjoin(url_list_versions, v.list_id == lst.id))
        .group_by(lst.id, lst.name)
        .order_by(lst.id)
    )
    if names:
        query = query.where(lst.name.in_(list(names)))
    return tuple(tuple(row) for row in conn.execute(query))
