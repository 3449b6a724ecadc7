"""The quarantine: malformed records kept with their source, location and reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select, update

from tipwatch.errors import NotFoundError
from tipwatch.store.database import Store
from tipwatch.store.schema import quarantine

__all__ = [
    "QuarantineEntry",
    "count_quarantine",
    "dismiss_quarantine",
    "get_quarantine_entry",
    "list_quarantine",
]

Status = Literal["open", "resolved", "dismissed", "all"]


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    id: int
    source_file: str
    location: str
    record_index: int
    record_key: str | None
    format: str
    reason: str
    status: str
    times_seen: int
    created_at: datetime
    resolved_at: datetime | None
    note: str | None
    raw: str | None

    def as_dict(self, *, with_raw: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "source_file": self.source_file,
            "location": self.location,
            "record_key": self.record_key,
            "format": self.format,
            "reason": self.reason,
            "status": self.status,
            "times_seen": self.times_seen,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "note": self.note,
        }
        if with_raw:
            out["raw"] = self.raw
        return out


def _entry(row: Any) -> QuarantineEntry:
    return QuarantineEntry(
        id=row.id,
        source_file=row.source_file,
        location=row.location,
        record_index=row.record_index,
        record_key=row.record_key,
        format=row.format,
        reason=row.reason,
        status=row.status,
        times_seen=row.times_seen,
        created_at=row.created_at.replace(tzinfo=UTC),
        resolved_at=row.resolved_at.replace(tzinfo=UTC) if row.resolved_at else None,
        note=row.note,
        raw=row.raw,
    )


def list_quarantine(
    store: Store, *, status: Status = "open", source: str | None = None, limit: int | None = None
) -> list[QuarantineEntry]:
    """Quarantine entries, oldest first."""
    q = quarantine.c
    query = select(quarantine).order_by(q.id)
    if status != "all":
        query = query.where(q.status == status)
    if source is not None:
        query = query.where(q.source_file == source)
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        return [_entry(r) for r in conn.execute(query)]


def count_quarantine(store: Store, *, status: Status = "open") -> int:
    query = select(func.count()).select_from(quarantine)
    if status != "all":
        query = query.where(quarantine.c.status == status)
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def get_quarantine_entry(store: Store, entry_id: int) -> QuarantineEntry:
    with store.read() as conn:
        row = conn.execute(select(quarantine).where(quarantine.c.id == entry_id)).first()
    if row is None:
        raise NotFoundError(f"no quarantine entry {entry_id}")
    return _entry(row)


def dismiss_quarantine(store: Store, entry_ids: Sequence[int], *, reason: str) -> int:
    """Set open entries aside for good with ``reason`` (kept, never deleted). Returns how many.

    An id that does not exist is refused; entries already resolved or dismissed are left as
    they are. The same record read again later stays dismissed (it is counted, not reopened).
    """
    if not reason.strip():
        from tipwatch.errors import InputError

        raise InputError("a dismissal needs a reason", hint="say why the records are set aside")
    q = quarantine.c
    with store.atomic() as conn:
        found = {
            row.id: row.status
            for row in conn.execute(select(q.id, q.status).where(q.id.in_(list(entry_ids))))
        }
        missing = sorted(set(entry_ids) - set(found))
        if missing:
            raise NotFoundError(f"no quarantine entry {', '.join(map(str, missing))}")
        open_ids = [i for i, status in found.items() if status == "open"]
        if open_ids:
            conn.execute(
                update(quarantine)
                .where(q.id.in_(open_ids))
                .values(
                    status="dismissed",
                    resolved_at=datetime.now(UTC).replace(tzinfo=None),
                    note=f"dismissed: {reason.strip()}",
                )
            )
    return len(open_ids)
