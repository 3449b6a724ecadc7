"""The audit log: append-only entries in a hash chain that shows any edit, deletion or move."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from tipwatch.store import Store
from tipwatch.store.audit import (
    MAX_OBJECT_IDS,
    AuditEvent,
    append_event,
    canonical_form,
    list_events,
    verify_chain,
)
from tipwatch.store.schema import audit_events, audit_head

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _fill(store: Store, n: int = 6) -> None:
    for i in range(n):
        with store.atomic() as conn:
            append_event(
                conn,
                AuditEvent(
                    actor="analyst1" if i % 2 == 0 else "analyst2",
                    role="analyst",
                    action="referral.show" if i % 3 else "intake.ingest",
                    object_type="referral",
                    object_ids=[f"R-{i}"],
                    detail=f"event {i}",
                ),
                at=T0 + timedelta(minutes=i),
            )


@contextmanager
def _as_attacker(store: Store) -> Iterator[Connection]:
    """A transaction with the append-only triggers out of the way, as someone with rights over
    the database would do it. PostgreSQL's store is shared by the tests, so its triggers are
    disabled for this transaction only; each SQLite store is a new file, and they are dropped."""
    with store.atomic() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        yield conn
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))


def test_appended_entries_verify_and_chain(store: Store) -> None:
    _fill(store)
    result = verify_chain(store)
    assert result.ok, result.problem
    assert (result.checked, result.first_bad_id, result.problem) == (6, None, "")
    with store.read() as conn:
        rows = conn.execute(select(audit_events).order_by(audit_events.c.id)).all()
        head = conn.execute(select(audit_head)).one()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    assert (head.last_id, head.last_hash, head.entry_count) == (6, rows[-1].hash, 6)
    # The stored hash is the SHA-256 of the documented canonical form.
    first = rows[0]
    expected = canonical_form(
        id=1,
        at=T0,
        actor="analyst1",
        role="analyst",
        action="intake.ingest",
        object_type="referral",
        object_ids=["R-0"],
        outcome="ok",
        detail="event 0",
        prev_hash="0" * 64,
    )
    assert first.hash == hashlib.sha256(expected).hexdigest()
    assert b" " not in expected.replace(b"event 0", b"")
    assert b'"at":"2026-03-01T09:00:00.000000+00:00"' in expected


def test_an_empty_log_verifies(store: Store) -> None:
    assert verify_chain(store).ok
    assert verify_chain(store).checked == 0


@pytest.mark.parametrize("column", ["actor", "action", "detail", "object_ids", "at", "outcome"])
def test_editing_any_entry_is_found_and_named(store: Store, column: str) -> None:
    _fill(store)
    values: dict[str, Any] = {
        "actor": "someone-else",
        "action": "referral.list",
        "detail": "nothing to see",
        "object_ids": '["R-99"]',
        "at": datetime(2026, 3, 1, 9, 3, 1),
        "outcome": "failed",
    }
    with _as_attacker(store) as conn:
        conn.execute(
            update(audit_events).where(audit_events.c.id == 4).values({column: values[column]})
        )
    result = verify_chain(store)
    assert not result.ok
    assert result.first_bad_id == 4
    assert result.checked == 3
    assert result.problem == "entry 4 was edited (its hash does not match its contents)"


def test_an_edit_with_its_hash_rewritten_is_found(store: Store) -> None:
    _fill(store)
    with store.read() as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.id == 3)).one()
    forged = hashlib.sha256(
        canonical_form(
            id=3,
            at=row.at,
            actor="someone-else",
            role=row.role,
            action=row.action,
            object_type=row.object_type,
            object_ids=["R-2"],
            outcome=row.outcome,
            detail=row.detail,
            prev_hash=row.prev_hash,
        )
    ).hexdigest()
    with _as_attacker(store) as conn:
        conn.execute(
            update(audit_events)
            .where(audit_events.c.id == 3)
            .values(actor="someone-else", hash=forged)
        )
    result = verify_chain(store)
    assert not result.ok
    assert result.first_bad_id == 3
    assert "entry 3 was edited" in result.problem


def test_deleting_a_middle_entry_is_named(store: Store) -> None:
    _fill(store)
    with _as_attacker(store) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == 3))
    result = verify_chain(store)
    assert not result.ok
    assert result.first_bad_id == 4
    assert result.problem == "entry 4 follows entry 2: entry 3 was deleted"


def test_deleting_the_first_entries_is_named(store: Store) -> None:
    _fill(store)
    with _as_attacker(store) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id <= 2))
    result = verify_chain(store)
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert "entries before it were deleted" in result.problem


def test_deleting_the_last_entries_is_detected(store: Store) -> None:
    _fill(store)
    with _as_attacker(store) as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id >= 5))
    result = verify_chain(store)
    assert not result.ok
    assert result.checked == 4
    assert result.first_bad_id == 5
    assert result.problem == "entries after 4 were deleted (the head records 6 entries)"


def test_deleting_every_entry_is_detected(store: Store) -> None:
    _fill(store, 3)
    with _as_attacker(store) as conn:
        conn.execute(delete(audit_events))
    result = verify_chain(store)
    assert (result.ok, result.checked, result.first_bad_id) == (False, 0, 1)
    assert result.problem == "all 3 entries were deleted"


def test_reordered_entries_are_named(store: Store) -> None:
    _fill(store)
    c = audit_events.c
    with store.read() as conn:
        third, fourth = conn.execute(select(audit_events).where(c.id.in_([3, 4])).order_by(c.id))
    moved = [k for k in third._mapping if k != "id"]
    with _as_attacker(store) as conn:
        conn.execute(
            update(audit_events).where(c.id == 3).values({k: fourth._mapping[k] for k in moved})
        )
        conn.execute(
            update(audit_events).where(c.id == 4).values({k: third._mapping[k] for k in moved})
        )
    result = verify_chain(store)
    assert not result.ok
    assert result.first_bad_id == 3
    assert result.problem.startswith("entry 3 is out of order")


def test_the_database_refuses_update_and_delete(store: Store) -> None:
    _fill(store, 2)
    with pytest.raises(DBAPIError, match="append-only"), store.atomic() as conn:
        conn.execute(update(audit_events).where(audit_events.c.id == 1).values(actor="x"))
    with pytest.raises(DBAPIError, match="append-only"), store.atomic() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == 2))
    assert verify_chain(store).ok
    assert [e.actor for e in list_events(store)] == ["analyst2", "analyst1"]


def test_a_rolled_back_append_leaves_no_entry(store: Store) -> None:
    _fill(store, 2)
    with pytest.raises(RuntimeError), store.atomic() as conn:
        assert append_event(conn, AuditEvent("analyst1", "analyst", "referral.show")) == 3
        raise RuntimeError("the action fails, and its entry goes with it")
    assert len(list_events(store)) == 2
    with store.atomic() as conn:
        assert append_event(conn, AuditEvent("analyst1", "analyst", "referral.show")) == 3
    result = verify_chain(store)
    assert (result.ok, result.checked) == (True, 3)


def test_concurrent_appenders_keep_one_chain(store: Store) -> None:
    per_thread = 25
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def append_many(actor: str) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with store.atomic() as conn:
                    append_event(
                        conn, AuditEvent(actor, "analyst", "referral.show", "referral", [str(i)])
                    )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=append_many, args=(f"a{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify_chain(store)
    assert (result.ok, result.checked) == (True, 3 * per_thread), result.problem
    with store.read() as conn:
        actors = conn.execute(select(audit_events.c.actor, func.count()).group_by("actor"))
        assert dict(actors.all()) == {f"a{n}": per_thread for n in range(3)}


def test_list_events_filters(store: Store) -> None:
    _fill(store)
    assert [e.id for e in list_events(store)] == [6, 5, 4, 3, 2, 1]
    assert [e.id for e in list_events(store, actor="analyst2")] == [6, 4, 2]
    assert [e.id for e in list_events(store, action="referral.")] == [6, 5, 3, 2]
    assert [e.id for e in list_events(store, action="intake")] == [4, 1]
    assert list_events(store, action="referral%") == []  # a prefix, not a pattern
    assert [e.id for e in list_events(store, object_id="R-3")] == [4]
    assert list_events(store, object_id="R-") == []
    assert [e.id for e in list_events(store, object_type="referral", limit=2)] == [6, 5]
    # since inclusive, until exclusive, as for referrals
    window = list_events(store, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
    assert [e.id for e in window] == [4, 3]
    naive = list_events(store, since=datetime(2026, 3, 1, 9, 5))
    assert [e.id for e in naive] == [6]
    record = list_events(store, limit=1)[0].as_dict()
    assert record["at"] == "2026-03-01T09:05:00+00:00"
    assert record["object_ids"] == ["R-5"]
    assert set(record) == {
        "id",
        "at",
        "actor",
        "role",
        "action",
        "object_type",
        "object_ids",
        "outcome",
        "detail",
        "prev_hash",
        "hash",
    }


def test_long_id_lists_are_capped_and_counted(store: Store) -> None:
    ids = [f"R-{i}" for i in range(MAX_OBJECT_IDS + 250)]
    with store.atomic() as conn:
        append_event(conn, AuditEvent("analyst1", "analyst", "triage.route", "referral", ids))
    entry = list_events(store)[0]
    assert entry.object_ids == ids[:MAX_OBJECT_IDS]
    assert f"{MAX_OBJECT_IDS + 250} objects" in entry.detail
    assert verify_chain(store).ok


def test_an_unknown_outcome_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="outcome"), store.atomic() as conn:
        append_event(conn, AuditEvent("analyst1", "analyst", "referral.show", outcome="maybe"))
    assert list_events(store) == []
