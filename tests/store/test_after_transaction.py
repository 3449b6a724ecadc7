"""Store.after_transaction(): work outside the store that follows its transaction's outcome."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, insert, select

from tipwatch.errors import StoreError
from tipwatch.store import Store
from tipwatch.store.schema import events


def _insert(store: Store, label: str) -> None:
    with store.atomic() as conn:
        conn.execute(
            insert(events).values(
                country="NL",
                date=date(2020, 3, 23),
                kind=f"test-{label}",
                label=label,
                source="test",
                created_at=datetime(2026, 1, 1),
            )
        )


def test_commit_hooks_run_after_the_outermost_commit(store: Store) -> None:
    seen: list[str] = []

    def committed() -> None:
        # Runs outside the transaction, once its writes are visible to everyone.
        assert not store.in_transaction
        with store.read() as conn:
            seen.append(
                f"committed {conn.execute(select(func.count()).select_from(events)).scalar()}"
            )

    with store.atomic():
        _insert(store, "a")
        with store.atomic():
            store.after_transaction(committed, lambda: seen.append("rolled back"))
        assert seen == []  # an inner block's end is not the commit
    assert seen == ["committed 1"]


def test_rollback_hooks_run_for_the_undone_part_only(store: Store) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError), store.atomic():
        store.after_transaction(
            lambda: seen.append("outer committed"), lambda: seen.append("outer undone")
        )
        with pytest.raises(ValueError), store.atomic():
            store.after_transaction(
                lambda: seen.append("inner committed"), lambda: seen.append("inner undone")
            )
            raise ValueError("the savepoint is rolled back")
        assert seen == ["inner undone"]
        raise RuntimeError("and then the whole transaction")
    assert seen == ["inner undone", "outer undone"]


def test_only_inside_a_transaction(store: Store) -> None:
    with pytest.raises(StoreError, match=r"inside Store\.atomic"):
        store.after_transaction(lambda: None)
    with store.read(), pytest.raises(StoreError):
        store.after_transaction(lambda: None)
