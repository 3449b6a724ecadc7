"""Hash lists in the store: import with versions, list, show, export, remove.

Each import of a list is a new *version*. By default a version states the whole list: entries
it no longer holds are retired (kept, marked with the version that dropped them), entries that
come back are reactivated, nothing is duplicated. ``full=False`` only adds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from tipwatch.errors import ConfigError, NotFoundError
from tipwatch.formats.hashlists import HashRecord
from tipwatch.matching.schemes import get_scheme
from tipwatch.store.database import Store
from tipwatch.store.schema import hash_entries, hash_list_versions, hash_lists

__all__ = [
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
) -> ImportSummary:
    """Import ``records`` as ``version`` of the list ``name`` (created when new)."""
    store.require_autonomy("a list import")
    category_scheme = get_scheme(scheme)
    summary = ImportSummary(name, version)
    now = _now()
    lc, e = hash_lists.c, hash_entries.c
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
                )
                .returning(lc.id)
            ).scalar_one()
        else:
            if row.scheme != scheme:
                raise ConfigError(
                    f"list {name!r} uses the {row.scheme} scheme; this import says {scheme}"
                )
            if conn.execute(
                select(func.count())
                .select_from(hash_list_versions)
                .where(
                    hash_list_versions.c.list_id == row.id,
                    hash_list_versions.c.version == version,
                )
            ).scalar_one():
                raise ConfigError(f"list {name!r} already has a version {version!r}")
            list_id = row.id
            changes: dict[str, Any] = {"version": version, "updated_at": now}
            if near_threshold is not None:
                changes["near_threshold"] = near_threshold
            if quality_floor is not None:
                changes["quality_floor"] = quality_floor
            conn.execute(update(hash_lists).where(lc.id == list_id).values(**changes))
        existing: dict[tuple[str, str], tuple[int, bool]] = {
            (r.algorithm, r.value): (r.id, r.retired_version is None)
            for r in conn.execute(
                select(e.id, e.algorithm, e.value, e.retired_version).where(e.list_id == list_id)
            )
        }
        seen: set[tuple[str, str]] = set()
        new_rows: list[dict[str, Any]] = []
        reactivate: list[int] = []
        for record in records:
            if record.error is not None:
                summary.rejected += 1
                if len(summary.problems) < 50:
                    summary.problems.append((record.location, record.error))
                continue
            try:
                category_scheme.label(record.category)
            except ConfigError as exc:
                summary.rejected += 1
                if len(summary.problems) < 50:
                    summary.problems.append((record.location, str(exc)))
                continue
            key = (record.algorithm, record.value)
            if key in seen:
                summary.kept += 1
                continue
            seen.add(key)
            known = existing.get(key)
            if known is None:
                new_rows.append(
                    {
                        "list_id": list_id,
                        "algorithm": record.algorithm,
                        "value": record.value,
                        "category": record.category,
                        "series": record.series,
                        "media_id": record.media_id,
                        "flags": json.dumps(record.flags, sort_keys=True),
                        "extra": json.dumps(record.extra, sort_keys=True, default=str),
                        "added_version": version,
                        "retired_version": None,
                    }
                )
                summary.added += 1
            elif not known[1]:
                reactivate.append(known[0])
                summary.reactivated += 1
            else:
                summary.kept += 1
        for start in range(0, len(new_rows), 5000):
            conn.execute(insert(hash_entries), new_rows[start : start + 5000])
        for start in range(0, len(reactivate), 5000):
            conn.execute(
                update(hash_entries)
                .where(e.id.in_(reactivate[start : start + 5000]))
                .values(retired_version=None)
            )
        if full:
            gone = [i for key, (i, active) in existing.items() if active and key not in seen]
            for start in range(0, len(gone), 5000):
                conn.execute(
                    update(hash_entries)
                    .where(e.id.in_(gone[start : start + 5000]))
                    .values(retired_version=version)
                )
            summary.retired = len(gone)
        conn.execute(
            insert(hash_list_versions).values(
                list_id=list_id,
                version=version,
                source_file=source_file,
                format=fmt,
                added=summary.added + summary.reactivated,
                retired=summary.retired,
                kept=summary.kept,
                rejected=summary.rejected,
                imported_at=now,
            )
        )
    return summary


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
    scheme = get_scheme(row.scheme)
    return {
        "name": row.name,
        "scheme": row.scheme,
        "scheme_name": scheme.name,
        "version": row.version,
        "source": row.source,
        "near_threshold": row.near_threshold,
        "quality_floor": row.quality_floor,
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
            )


def remove_list(store: Store, name: str) -> int:
    """Delete a list, its entries and the matches against them. Returns entries removed."""
    from tipwatch.store.schema import file_matches

    row = _list_row(store, name)
    with store.atomic() as conn:
        n = conn.execute(
            select(func.count()).select_from(hash_entries).where(hash_entries.c.list_id == row.id)
        ).scalar_one()
        conn.execute(delete(file_matches).where(file_matches.c.list_id == row.id))
        conn.execute(delete(hash_entries).where(hash_entries.c.list_id == row.id))
        conn.execute(delete(hash_list_versions).where(hash_list_versions.c.list_id == row.id))
        conn.execute(delete(hash_lists).where(hash_lists.c.id == row.id))
    return int(n)
