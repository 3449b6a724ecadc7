"""Store.atomic() and Store.read(): one unit of work, nested through SAVEPOINTs; one snapshot."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
from sqlalchemy import func, insert, select

from tipwatch.errors import StoreError
from tipwatch.intake import ingest_items
from tipwatch.store import Store
from tipwatch.store.schema import events


def _event(code: str) -> dict[str, object]:
    return {
        "country": "NL",
        "date": date(2020, 3, 23),
        "kind": f"test-{code}",
        "label": code,
        "source": "test",
        "created_at": datetime(2026, 1, 1),
    }


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_nested_atomic_blocks_roll_back_together(store: Store) -> None:
    with pytest.raises(RuntimeError), store.atomic() as outer:
        outer.execute(insert(events).values(**_event("outer")))
        with store.atomic() as inner:
            assert inner is outer  # one transaction, one connection
            inner.execute(insert(events).values(**_event("inner")))
        raise RuntimeError("the unit of work fails after the inner block committed its savepoint")
    assert _count(store) == 0


def test_inner_failure_undoes_only_the_inner_block_when_caught(store: Store) -> None:
    with store.atomic() as conn:
        conn.execute(insert(events).values(**_event("kept")))
        with pytest.raises(RuntimeError), store.atomic() as inner:
            inner.execute(insert(events).values(**_event("undone")))
            raise RuntimeError("inner fails")
        assert store.in_transaction
    assert not store.in_transaction
    with store.read() as conn:
        notes = [r.label for r in conn.execute(select(events.c.label))]
    assert notes == ["kept"]


def test_read_inside_atomic_sees_the_open_transaction(store: Store) -> None:
    with store.atomic() as conn:
        conn.execute(insert(events).values(**_event("pending")))
        assert _count(store) == 1
    assert _count(store) == 1


def test_read_is_one_snapshot(store: Store) -> None:
    """A write committed by another thread during a read is not seen by that read."""
    with store.read() as conn:
        before = int(conn.execute(select(func.count()).select_from(events)).scalar_one())

        def writer() -> None:
            with store.atomic() as wconn:
                wconn.execute(insert(events).values(**_event("concurrent")))

        t = threading.Thread(target=writer)
        t.start()
        t.join(timeout=30)
        assert not t.is_alive()
        again = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
        assert again == before == 0
    assert _count(store) == 1


def test_batch_writers_refuse_an_outer_transaction(store: Store) -> None:
    with store.atomic(), pytest.raises(StoreError, match="intake commits batch by batch"):
        ingest_items(store, [], source="x.jsonl", fmt="jsonl")


def test_the_engine_is_private() -> None:
    assert not hasattr(Store, "engine")
