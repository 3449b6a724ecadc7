"""The audit log: who did what to which objects, when, and with what outcome.

Entries are append-only (database triggers refuse UPDATE and DELETE) and form a hash chain:
each entry stores the SHA-256 of the entry before it and its own SHA-256, taken over its
canonical form (:func:`canonical_form`). ``audit_head`` records the last entry and the count,
so :func:`verify_chain` finds an entry that was edited, deleted or moved, and entries deleted
from the end. Someone with rights over the database can drop the triggers; the chain still shows
what they changed.

Entries are numbered 1, 2, 3 ... without gaps: :func:`append_event` takes the next number from
the head under a lock, so a number missing from the table is an entry deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, select, text, update

from tipwatch.errors import StoreError
from tipwatch.store.database import Store
from tipwatch.store.referrals import naive_utc
from tipwatch.store.schema import audit_events, audit_head

__all__ = [
    "GENESIS_HASH",
    "MAX_OBJECT_IDS",
    "OUTCOMES",
    "AuditEvent",
    "AuditRecord",
    "AuditVerification",
    "append_event",
    "canonical_form",
    "list_events",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""
MAX_OBJECT_IDS = 1000
"""At most this many object ids are kept with an entry; the detail gives the full count."""
MAX_DETAIL = 2000
"""Characters of detail kept with an entry."""
OUTCOMES = ("ok", "denied", "failed")

_HEAD_ID = 1
# Any fixed 64-bit number: the transaction-level advisory lock that serialises appenders on
# PostgreSQL (SQLite serialises write transactions itself: tipwatch begins them IMMEDIATE).
_PG_LOCK_KEY = 0x7469707761746368  # "tipwatch"
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An event to record. ``object_ids`` name the objects acted on (report ids ...)."""

    actor: str
    role: str
    action: str
    object_type: str | None = None
    object_ids: Sequence[str] = ()
    outcome: str = "ok"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored entry of the audit log."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    object_type: str | None
    object_ids: list[str]
    outcome: str
    detail: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values; the time in ISO 8601 (UTC)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "object_type": self.object_type,
            "object_ids": list(self.object_ids),
            "outcome": self.outcome,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """What :func:`verify_chain` found. ``problem`` is empty when ``ok``."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""


def canonical_form(
    *,
    id: int,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    object_type: str | None,
    object_ids: Sequence[str],
    outcome: str,
    detail: str,
    prev_hash: str,
) -> bytes:
    """The bytes an entry's hash is taken over: JSON with sorted keys and no whitespace, UTF-8,
    the time as ISO 8601 UTC with microseconds, the previous entry's hash included."""
    when = (naive_utc(at) or at).replace(tzinfo=UTC).isoformat(timespec="microseconds")
    doc = {
        "id": id,
        "at": when,
        "actor": actor,
        "role": role,
        "action": action,
        "object_type": object_type,
        "object_ids": list(object_ids),
        "outcome": outcome,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(row: Any, object_ids: list[str]) -> str:
    return hashlib.sha256(
        canonical_form(
            id=row.id,
            at=row.at,
            actor=row.actor,
            role=row.role,
            action=row.action,
            object_type=row.object_type,
            object_ids=object_ids,
            outcome=row.outcome,
            detail=row.detail,
            prev_hash=row.prev_hash,
        )
    ).hexdigest()


# Built once: every audited action runs these three statements, and building a statement
# (with its values) cost about as much as running it.
_READ_HEAD = select(audit_head).where(audit_head.c.id == _HEAD_ID)
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_INSERT_EVENT = insert(audit_events)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == _HEAD_ID)
    .values(
        last_id=bindparam("new_last_id"),
        last_hash=bindparam("new_last_hash"),
        entry_count=bindparam("new_entry_count"),
    )
)


def _lock_head(conn: Connection) -> Any:
    """The head row, held so that no other appender can read it until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK, {"key": _PG_LOCK_KEY})
    head = conn.execute(_READ_HEAD).first()
    if head is not None:
        return head
    if conn.execute(select(func.count()).select_from(audit_events)).scalar_one():
        raise StoreError(
            "the audit log's head record is missing while entries exist; "
            "the log may have been tampered with (verify the audit chain)"
        )
    conn.execute(
        insert(audit_head).values(id=_HEAD_ID, last_id=0, last_hash=GENESIS_HASH, entry_count=0)
    )
    return conn.execute(select(audit_head).where(audit_head.c.id == _HEAD_ID)).one()


def append_event(conn: Connection, event: AuditEvent, *, at: datetime | None = None) -> int:
    """Append ``event`` to the audit log inside the caller's transaction; returns its id.

    Call it in the same ``store.atomic()`` block as the action it records, so that the action
    and its entry are committed, or rolled back, together. Appenders queue on a lock until the
    appending transaction ends, so keep that transaction short.
    """
    if event.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {event.outcome!r}")
    ids = [str(x) for x in event.object_ids]
    detail = event.detail
    if len(ids) > MAX_OBJECT_IDS:
        note = f"{len(ids)} objects; the first {MAX_OBJECT_IDS} are listed"
        detail = f"{detail} ({note})" if detail else note
        ids = ids[:MAX_OBJECT_IDS]
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    when = datetime.now(UTC).replace(tzinfo=None) if at is None else (naive_utc(at) or at)
    head = _lock_head(conn)
    entry_id = int(head.last_id) + 1
    values: dict[str, Any] = {
        "id": entry_id,
        "at": when,
        "actor": event.actor,
        "role": event.role,
        "action": event.action,
        "object_type": event.object_type,
        "outcome": event.outcome,
        "detail": detail,
        "prev_hash": head.last_hash,
    }
    digest = hashlib.sha256(canonical_form(object_ids=ids, **values)).hexdigest()
    conn.execute(_INSERT_EVENT, {**values, "object_ids": json.dumps(ids), "hash": digest})
    conn.execute(
        _MOVE_HEAD,
        {
            "new_last_id": entry_id,
            "new_last_hash": digest,
            "new_entry_count": head.entry_count + 1,
        },
    )
    return entry_id


def _bad(checked: int, first_bad_id: int, problem: str) -> AuditVerification:
    return AuditVerification(False, checked, first_bad_id, problem)


def _break_at(conn: Connection, row: Any, previous_id: int, checked: int) -> AuditVerification:
    """Name the problem when ``row`` does not link to the entry before it."""
    holder = conn.execute(
        select(audit_events.c.id).where(audit_events.c.hash == row.prev_hash).limit(1)
    ).scalar()
    if holder is not None and holder != previous_id:
        return _bad(
            checked,
            row.id,
            f"entry {row.id} is out of order (it was written after the entry now numbered "
            f"{holder})",
        )
    if previous_id == 0:
        return _bad(checked, row.id, f"entry {row.id} was edited (it does not start the chain)")
    return _bad(
        checked,
        previous_id,
        f"entry {row.id} does not follow entry {previous_id}: entry {previous_id} was edited "
        "and its hash rewritten, or an entry between them was deleted",
    )


def verify_chain(store: Store) -> AuditVerification:
    """Check every entry of the audit log against its hash, its predecessor and the head.

    Reads one snapshot and streams the entries, so a long log is not held in memory. Stops at
    the first problem, naming the first bad entry.
    """
    c = audit_events.c
    query = select(audit_events).order_by(c.id).execution_options(yield_per=_BATCH)
    checked = 0
    previous_id = 0
    previous_hash = GENESIS_HASH
    with store.read() as conn:
        for row in conn.execute(query):
            if row.id != previous_id + 1:
                if previous_id == 0:
                    problem = f"entry {row.id} is the first: entries before it were deleted"
                elif row.id == previous_id + 2:
                    problem = (
                        f"entry {row.id} follows entry {previous_id}: "
                        f"entry {previous_id + 1} was deleted"
                    )
                else:
                    problem = (
                        f"entry {row.id} follows entry {previous_id}: entries "
                        f"{previous_id + 1} to {row.id - 1} were deleted"
                    )
                return _bad(checked, row.id, problem)
            if row.prev_hash != previous_hash:
                return _break_at(conn, row, previous_id, checked)
            try:
                object_ids = json.loads(row.object_ids)
            except ValueError:
                object_ids = None
            if not isinstance(object_ids, list) or _digest(row, object_ids) != row.hash:
                return _bad(
                    checked,
                    row.id,
                    f"entry {row.id} was edited (its hash does not match its contents)",
                )
            checked += 1
            previous_id, previous_hash = row.id, row.hash
        head = conn.execute(select(audit_head).where(audit_head.c.id == _HEAD_ID)).first()
    if head is None:
        if checked:
            return _bad(checked, previous_id, "the audit head is missing (it records the end)")
        return AuditVerification(True, 0)
    if head.entry_count > checked or head.last_id > previous_id:
        if checked == 0:
            return _bad(0, 1, f"all {head.entry_count} entries were deleted")
        return _bad(
            checked,
            previous_id + 1,
            f"entries after {previous_id} were deleted "
            f"(the head records {head.entry_count} entries)",
        )
    if head.entry_count < checked or head.last_id < previous_id:
        return _bad(
            checked,
            head.last_id + 1,
            f"entry {head.last_id + 1} and those after it were added outside the audit log "
            f"(the head records {head.entry_count} entries)",
        )
    if head.last_hash != previous_hash:
        return _bad(
            checked,
            previous_id,
            f"entry {previous_id} was replaced (its hash differs from the one the head records)",
        )
    return AuditVerification(True, checked)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_events(
    store: Store,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 100,
) -> list[AuditRecord]:
    """Audit entries, newest first.

    ``action`` matches a prefix (``referral.`` matches every referral action); ``object_id``
    matches entries that list that id. Times bound the entry's time as everywhere in tipwatch:
    ``since`` <= at < ``until`` (``since`` inclusive, ``until`` exclusive); a time without a
    zone is taken as UTC.
    """
    c = audit_events.c
    query: Select[Any] = select(audit_events)
    if actor is not None:
        query = query.where(c.actor == actor)
    if action is not None:
        query = query.where(c.action.like(_escape_like(action) + "%", escape="\\"))
    if object_type is not None:
        query = query.where(c.object_type == object_type)
    if object_id is not None:
        # The ids are stored as a JSON list of strings: an element is the quoted id.
        quoted = json.dumps(str(object_id))
        query = query.where(c.object_ids.like("%" + _escape_like(quoted) + "%", escape="\\"))
    if since is not None:
        query = query.where(c.at >= naive_utc(since))
    if until is not None:
        query = query.where(c.at < naive_utc(until))
    query = query.order_by(c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [
        AuditRecord(
            id=r.id,
            at=r.at.replace(tzinfo=UTC),
            actor=r.actor,
            role=r.role,
            action=r.action,
            object_type=r.object_type,
            object_ids=json.loads(r.object_ids),
            outcome=r.outcome,
            detail=r.detail,
            prev_hash=r.prev_hash,
            hash=r.hash,
        )
        for r in rows
    ]
