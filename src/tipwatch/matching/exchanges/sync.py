"""Syncing a hash list from its exchange: batch by batch, each batch and the checkpoint after
it in one transaction.

A sync interrupted at any moment (a crash, ``kill -9``) leaves the list as of its last
committed batch with that batch's checkpoint; the next sync fetches from there. A batch
fetched twice (it was being applied when the process died) changes nothing the second time:
an entry is identified by its source's key, and a change is applied only when it is newer
than what the list holds, so nothing is duplicated, and a deletion is remembered (even for an
entry never seen) so that an older upsert arriving later cannot bring the entry back.

A checkpoint never moves back: a batch whose checkpoint stands before the stored one (by the
connector's own ordering) is refused, and nothing of it is applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update

from tipwatch.errors import ConfigError, ExchangeError, NotFoundError
from tipwatch.matching.exchanges.base import Batch, Checkpoint, Connector, ExchangeEntry, Tombstone
from tipwatch.matching.schemes import get_scheme
from tipwatch.store.bulk import bulk_insert, chunks
from tipwatch.store.database import Store
from tipwatch.store.schema import (
    exchange_tombstones,
    hash_entries,
    hash_list_versions,
    hash_lists,
    list_sync_state,
)

__all__ = [
    "SyncSummary",
    "configure_list",
    "due_lists",
    "list_connector",
    "sync_health",
    "sync_list",
]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class SyncSummary:
    list_name: str
    version: str
    batches: int = 0
    added: int = 0
    """Hashes that became active (new, or back after a deletion)."""
    removed: int = 0
    """Hashes retired: deleted at the source, or no longer part of their entry."""
    updated: int = 0
    stale: int = 0
    """Changes ignored because the list already held a newer state of the entry."""
    unknown_tombstones: int = 0
    """Deletions of entries the list never held (remembered all the same)."""
    problems: list[tuple[str, str]] = field(default_factory=list)
    checkpoint: Checkpoint | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "version": self.version,
            "batches": self.batches,
            "added": self.added,
            "removed": self.removed,
            "updated": self.updated,
            "stale": self.stale,
            "unknown_tombstones": self.unknown_tombstones,
            "problems": [{"location": a, "reason": b} for a, b in self.problems[:50]],
            "checkpoint": self.checkpoint,
        }


def configure_list(
    store: Store,
    name: str,
    *,
    connector: str,
    config: dict[str, Any],
    scheme: str,
    purpose: str = "block",
    near_threshold: int = 31,
    quality_floor: int = 50,
) -> None:
    """Create the list ``name`` fed by ``connector`` (or point an existing one at it)."""
    get_scheme(scheme)
    if purpose not in ("block", "allow"):
        raise ConfigError(f"a list's purpose is block or allow, not {purpose!r}")
    now = _now()
    with store.atomic() as conn:
        row = conn.execute(select(hash_lists).where(hash_lists.c.name == name)).first()
        values = {
            "connector": connector,
            "connector_config": json.dumps(config, sort_keys=True),
            "purpose": purpose,
            "updated_at": now,
        }
        if row is None:
            conn.execute(
                insert(hash_lists).values(
                    name=name,
                    source=connector,
                    scheme=scheme,
                    version=None,
                    near_threshold=near_threshold,
                    quality_floor=quality_floor,
                    created_at=now,
                    **values,
                )
            )
        else:
            if row.scheme != scheme:
                raise ConfigError(f"list {name!r} uses the {row.scheme} scheme, not {scheme}")
            conn.execute(update(hash_lists).where(hash_lists.c.id == row.id).values(**values))


def _list_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(hash_lists).where(hash_lists.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no hash list named {name!r}")
    return row


def list_connector(store: Store, name: str) -> tuple[str, dict[str, Any]]:
    """The connector of the list ``name`` and its settings."""
    with store.read() as conn:
        row = _list_row(conn, name)
    if not row.connector:
        raise ConfigError(
            f"list {name!r} is not fed by an exchange",
            hint="connect it to an exchange first, or import its files",
        )
    return str(row.connector), json.loads(row.connector_config or "{}")


def _load_state(conn: Connection, list_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(list_sync_state).where(list_sync_state.c.list_id == list_id)).first()
    return None if row is None else dict(row._mapping)


def sync_list(
    store: Store,
    name: str,
    connector: Connector,
    *,
    max_batches: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> SyncSummary:
    """Fetch and apply batches until the source has no more (or ``max_batches``).

    ``progress`` is called with ``("syncing", hashes changed so far, 0)`` after each batch;
    ``after_batch`` with the batches committed so far (tests use it to interrupt a sync).
    A failure is recorded in the list's sync health and raised."""
    store.require_autonomy("a list sync")
    started = _now()
    label = "sync " + started.isoformat(timespec="seconds")
    with store.atomic() as conn:
        listed = _list_row(conn, name)
        list_id = int(listed.id)
        scheme = get_scheme(listed.scheme)
        state = _load_state(conn, list_id)
        if state is None:
            conn.execute(
                insert(list_sync_state).values(
                    list_id=list_id,
                    checkpoint=json.dumps({"connector": None}),
                    last_attempt_at=started,
                )
            )
        else:
            conn.execute(
                update(list_sync_state)
                .where(list_sync_state.c.list_id == list_id)
                .values(last_attempt_at=started)
            )
    summary = SyncSummary(name, label)
    try:
        while max_batches is None or summary.batches < max_batches:
            with store.read() as conn:
                state = _load_state(conn, list_id)
            stored = json.loads(state["checkpoint"]) if state else {"connector": None}
            checkpoint: Checkpoint | None = stored.get("connector")
            batch = connector.fetch(checkpoint)
            moment = _now()
            with store.atomic() as conn:
                # Read again, locked: another sync of the list may have moved on meanwhile
                # (SQLite's writers are serialised by BEGIN IMMEDIATE, PostgreSQL's by this lock).
                locked = conn.execute(
                    select(list_sync_state.c.checkpoint)
                    .where(list_sync_state.c.list_id == list_id)
                    .with_for_update()
                ).scalar_one()
                stored = json.loads(locked)
                current: Checkpoint | None = stored.get("connector")
                if current is not None and connector.position(batch.checkpoint) < (
                    connector.position(current)
                ):
                    raise ExchangeError(
                        f"{connector.kind}: the next checkpoint {batch.checkpoint} stands before "
                        f"the stored one {current}; the batch is refused"
                    )
                if batch.resync:
                    # Entries the resync sees are stamped from this moment on.
                    stored = {**stored, "resync_started": moment.isoformat()}
                counts = _apply(
                    conn,
                    list_id,
                    batch,
                    label=label,
                    scheme=scheme.categories,
                    stored=stored,
                    now=moment,
                )
                _record_batch(conn, list_id, batch, stored, counts, label, summary, now=moment)
            summary.batches += 1
            summary.added += counts.added
            summary.removed += counts.removed
            summary.updated += counts.updated
            summary.stale += counts.stale
            summary.unknown_tombstones += counts.unknown_tombstones
            summary.problems.extend(batch.problems[: max(0, 50 - len(summary.problems))])
            summary.checkpoint = batch.checkpoint
            if progress is not None:
                progress("syncing", summary.added + summary.removed + summary.updated, 0)
            if after_batch is not None:
                after_batch(summary.batches)
            if not batch.more:
                break
    except Exception as exc:
        with store.atomic() as conn:
            conn.execute(
                update(list_sync_state)
                .where(list_sync_state.c.list_id == list_id)
                .values(last_error=str(exc)[:2000])
            )
        raise
    with store.atomic() as conn:
        conn.execute(
            update(list_sync_state)
            .where(list_sync_state.c.list_id == list_id)
            .values(
                last_success_at=_now(),
                last_error=None,
                last_added=summary.added,
                last_removed=summary.removed,
                runs=list_sync_state.c.runs + 1,
            )
        )
    return summary


@dataclass
class _Counts:
    added: int = 0
    removed: int = 0
    updated: int = 0
    stale: int = 0
    unknown_tombstones: int = 0


def _record_batch(
    conn: Connection,
    list_id: int,
    batch: Batch,
    stored: dict[str, Any],
    counts: _Counts,
    label: str,
    summary: SyncSummary,
    *,
    now: datetime,
) -> None:
    """The checkpoint after ``batch``, and the run's version row, in the batch's transaction."""
    state = {"connector": batch.checkpoint, "resync_started": stored.get("resync_started")}
    if batch.complete:
        state["resync_started"] = None
    conn.execute(
        update(list_sync_state)
        .where(list_sync_state.c.list_id == list_id)
        .values(
            checkpoint=json.dumps(state, sort_keys=True),
            checkpoint_at=now,
            total_added=list_sync_state.c.total_added + counts.added,
            total_removed=list_sync_state.c.total_removed + counts.removed,
        )
    )
    v = hash_list_versions.c
    if summary.batches == 0:
        conn.execute(
            insert(hash_list_versions).values(
                list_id=list_id,
                version=label,
                source_file=None,
                format="exchange",
                added=counts.added,
                retired=counts.removed,
                kept=counts.updated,
                rejected=len(batch.problems),
                imported_at=now,
            )
        )
    else:
        conn.execute(
            update(hash_list_versions)
            .where(v.list_id == list_id, v.version == label)
            .values(
                added=v.added + counts.added,
                retired=v.retired + counts.removed,
                kept=v.kept + counts.updated,
                rejected=v.rejected + len(batch.problems),
            )
        )
    conn.execute(
        update(hash_lists).where(hash_lists.c.id == list_id).values(version=label, updated_at=now)
    )


def _latest(batch: Batch) -> dict[str, ExchangeEntry | Tombstone]:
    """Per entry key, the newest change of the batch (an entry may appear twice in a page)."""
    out: dict[str, ExchangeEntry | Tombstone] = {}
    everything: list[ExchangeEntry | Tombstone] = [*batch.upserts, *batch.tombstones]
    for change in everything:
        known = out.get(change.key)
        if known is None or _newer(change, known):
            out[change.key] = change
    return out


def _newer(a: ExchangeEntry | Tombstone, b: ExchangeEntry | Tombstone) -> bool:
    if a.time is None or b.time is None:
        return True  # no times to compare: the later in the answer wins
    if a.time == b.time:
        return isinstance(a, Tombstone)  # a deletion at the same moment wins
    return a.time > b.time


def _apply(
    conn: Connection,
    list_id: int,
    batch: Batch,
    *,
    label: str,
    scheme: dict[str, str],
    stored: dict[str, Any],
    now: datetime,
) -> _Counts:
    counts = _Counts()
    e = hash_entries.c
    t = exchange_tombstones.c
    changes = _latest(batch)
    keys = sorted(changes)
    rows: dict[str, list[Any]] = {}
    deleted: dict[str, datetime | None] = {}
    for part in chunks(keys):
        for r in conn.execute(
            select(e.id, e.entry_key, e.algorithm, e.value, e.source_time, e.retired_version).where(
                e.list_id == list_id, e.entry_key.in_(part)
            )
        ):
            rows.setdefault(r.entry_key, []).append(r)
        for tomb in conn.execute(
            select(t.entry_key, t.source_time).where(t.list_id == list_id, t.entry_key.in_(part))
        ):
            deleted[tomb.entry_key] = tomb.source_time
    new_rows: list[dict[str, Any]] = []
    retire: list[int] = []
    updates: list[dict[str, Any]] = []
    forget: list[str] = []
    tombstone_rows: list[dict[str, Any]] = []
    for key in keys:
        change = changes[key]
        held = rows.get(key, [])
        held_time = max((r.source_time for r in held if r.source_time is not None), default=None)
        if isinstance(change, Tombstone):
            if change.time is not None and held_time is not None and held_time > change.time:
                counts.stale += 1  # the entry changed after this deletion
                continue
            active = [r.id for r in held if r.retired_version is None]
            retire.extend(active)
            counts.removed += len(active)
            if not held:
                counts.unknown_tombstones += 1
            if key in deleted:
                old = deleted[key]
                if change.time is not None and (old is None or change.time > old):
                    updates.append({"_kind": "tomb", "k": key, "st": change.time})
            else:
                tombstone_rows.append(
                    {"list_id": list_id, "entry_key": key, "source_time": change.time}
                )
            continue
        gone_at = deleted.get(key)
        if change.time is not None and (
            (held_time is not None and change.time < held_time)
            or (key in deleted and gone_at is not None and change.time <= gone_at)
        ):
            counts.stale += 1
            continue
        if key in deleted:
            forget.append(key)
        category = change.category if change.category in scheme or not scheme else None
        extra = json.dumps(change.extra, sort_keys=True, default=str)
        wanted = dict(change.hashes.items())
        for r in held:
            if wanted.get(r.algorithm) == r.value:
                wanted.pop(r.algorithm)
                if r.retired_version is not None:
                    counts.added += 1
                else:
                    counts.updated += 1
                updates.append(
                    {
                        "_kind": "row",
                        "i": r.id,
                        "c": category,
                        "x": extra,
                        "st": change.time,
                        "ls": now,
                    }
                )
            elif r.retired_version is None:
                retire.append(r.id)
                counts.removed += 1
        for algorithm, value in wanted.items():
            new_rows.append(
                {
                    "list_id": list_id,
                    "algorithm": algorithm,
                    "value": value,
                    "category": category,
                    "series": None,
                    "media_id": None,
                    "flags": "{}",
                    "extra": extra,
                    "added_version": label,
                    "retired_version": None,
                    "entry_key": key,
                    "held_at": None,
                    "held_reason": None,
                    "source_time": change.time,
                    "last_seen": now,
                }
            )
            counts.added += 1
    bulk_insert(conn, hash_entries, new_rows)
    row_updates = [u for u in updates if u["_kind"] == "row"]
    if row_updates:
        conn.execute(
            update(hash_entries)
            .where(e.id == bindparam("i"))
            .values(
                category=bindparam("c"),
                extra=bindparam("x"),
                source_time=bindparam("st"),
                last_seen=bindparam("ls"),
                retired_version=None,
            ),
            [{k: v for k, v in u.items() if k != "_kind"} for u in row_updates],
        )
    for ids in chunks(retire):
        conn.execute(update(hash_entries).where(e.id.in_(ids)).values(retired_version=label))
    for names in chunks(forget):
        conn.execute(
            delete(exchange_tombstones).where(t.list_id == list_id, t.entry_key.in_(names))
        )
    if tombstone_rows:
        conn.execute(insert(exchange_tombstones), tombstone_rows)
    for u in updates:
        if u["_kind"] == "tomb":
            conn.execute(
                update(exchange_tombstones)
                .where(t.list_id == list_id, t.entry_key == u["k"])
                .values(source_time=u["st"])
            )
    if batch.complete and stored.get("resync_started"):
        since = datetime.fromisoformat(stored["resync_started"])
        gone = conn.execute(
            update(hash_entries)
            .where(
                e.list_id == list_id,
                e.retired_version.is_(None),
                or_(e.last_seen.is_(None), e.last_seen < since),
            )
            .values(retired_version=label)
        )
        counts.removed += int(gone.rowcount or 0)
    return counts


def sync_health(store: Store, name: str) -> dict[str, Any] | None:
    """The list's sync health: last attempt and success, entries added and removed, last
    error, and the checkpoint; ``None`` for a list never synced."""
    with store.read() as conn:
        row = _list_row(conn, name)
        state = _load_state(conn, int(row.id))
    if state is None:
        return None

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.replace(tzinfo=UTC).isoformat()

    return {
        "connector": row.connector,
        "last_attempt": iso(state["last_attempt_at"]),
        "last_success": iso(state["last_success_at"]),
        "last_error": state["last_error"],
        "last_added": state["last_added"],
        "last_removed": state["last_removed"],
        "total_added": state["total_added"],
        "total_removed": state["total_removed"],
        "runs": state["runs"],
        "checkpoint_at": iso(state["checkpoint_at"]),
        "checkpoint": json.loads(state["checkpoint"]).get("connector"),
    }


def due_lists(store: Store, every_minutes: float, *, now: datetime | None = None) -> list[str]:
    """Lists fed by an exchange whose last successful sync is older than ``every_minutes``
    (or that were never synced), by name."""
    moment = now or _now()
    lst, s = hash_lists.c, list_sync_state.c
    query = (
        select(lst.name, s.last_success_at)
        .select_from(hash_lists.outerjoin(list_sync_state, s.list_id == lst.id))
        .where(lst.connector.is_not(None))
        .order_by(lst.name)
    )
    with store.read() as conn:
        return [
            r.name
            for r in conn.execute(query)
            if r.last_success_at is None
            or (moment - r.last_success_at).total_seconds() >= every_minutes * 60
        ]
