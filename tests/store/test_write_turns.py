"""Threads of one process that write one store take turns: every write lands, the audit
chain they append to stays whole, and on SQLite a thread kept waiting past the busy timeout
stops with one clear error instead of the driver's."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tipwatch.errors import StoreError
from tipwatch.services._unit import unit
from tipwatch.services.access import Actor, Role
from tipwatch.store import Store
from tipwatch.store.audit import verify_chain

ANALYST = Actor("alice", Role.ANALYST)


def test_concurrent_audited_actions_all_land_in_one_chain(store: Store) -> None:
    threads, each = 8, 40
    failures: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        start.wait()
        try:
            for i in range(each):
                with unit(store, ANALYST, "match.run", object_type="hash") as w:
                    w.detail = f"thread {n} action {i}"
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert failures == []
    result = verify_chain(store)
    assert result.ok, result.problem
    assert result.checked == threads * each


def test_sqlite_a_thread_kept_waiting_too_long_gets_one_clear_error(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "t.db"), busy_timeout=0.5)
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.atomic():
            holding.set()
            release.wait(timeout=30)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert holding.wait(timeout=30)
        started = time.monotonic()
        with pytest.raises(StoreError, match="another write of this process"), store.atomic():
            pass
        assert 0.4 < time.monotonic() - started < 10
    finally:
        release.set()
        t.join()
    with store.atomic():  # the store is free again
        pass
    store.close()


def test_a_checkpoint_copies_the_log_without_a_write(store: Store) -> None:
    for i in range(20):
        with unit(store, ANALYST, "match.run", object_type="hash") as w:
            w.detail = f"action {i}"
    done = store.checkpoint()
    if store.dialect != "sqlite":
        assert done is None
        return
    assert done is not None
    frames, copied = done
    assert frames > 0 and copied == frames
    assert verify_chain(store).ok
