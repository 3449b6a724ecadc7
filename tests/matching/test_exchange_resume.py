"""A sync killed at any moment (kill -9) resumes from its checkpoint with no duplicate and no
missed deletion: a sync subprocess against the fake NCMEC server is killed again and again,
each time at another point of its run, then finished; the list must be what the events say."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import func, select

from tipwatch.matching.exchanges import RetryPolicy, configure_list, make_connector, sync_list
from tipwatch.matching.lists import iter_entries
from tipwatch.store import Store
from tipwatch.store.schema import exchange_tombstones, hash_entries

from .exchange_fakes import FakeNcmec, NcmecEvent, md5_of, wait_until

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = textwrap.dedent(
    """
    import sys
    from tipwatch.store import Store
    from tipwatch.matching.exchanges import RetryPolicy, make_connector, sync_list

    db, url, user, password, now = sys.argv[1:6]
    store = Store.open(db)
    connector = make_connector(
        "ncmec",
        {"base_url": url},
        {"username": user, "password": password},
        retry=RetryPolicy(backoff=0.0, sleep=lambda s: None),
        now=lambda: float(now),
    )
    sync_list(store, "ncmec", connector)
    print("finished", flush=True)
    """
)


def _events(first: int, count: int, ts: int) -> list[NcmecEvent]:
    """Entries, later changes to some, deletions of others (and of entries never seen)."""
    events = [
        NcmecEvent(f"e{n}", ts + n, md5=md5_of(n), sha1=f"{n:040x}")
        for n in range(first, first + count)
    ]
    events += [
        NcmecEvent(f"e{n}", ts + 1000 + n, md5=md5_of(10_000 + n), classification="B1")
        for n in range(first, first + count, 11)
    ]
    events += [
        NcmecEvent(f"e{n}", ts + 2000 + n, deleted=True) for n in range(first, first + count, 7)
    ]
    events += [
        NcmecEvent(f"ghost{n}", ts + 3000 + n, deleted=True) for n in range(first, first + 30)
    ]
    return events


def _expected(events: list[NcmecEvent]) -> dict[str, tuple[str, ...]]:
    latest: dict[str, NcmecEvent] = {}
    for e in events:
        if e.id not in latest or e.ts > latest[e.id].ts:
            latest[e.id] = e
    return {
        k: tuple(sorted(v for v in (e.md5, e.sha1) if v))
        for k, e in latest.items()
        if not e.deleted
    }


def _state(store: Store) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for r in iter_entries(store, "ncmec"):
        out.setdefault(r.entry_key, []).append(r.value)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _kill_cycles(
    fake: FakeNcmec, db: Path, now: int, rng: random.Random, kills: int
) -> tuple[int, int]:
    """Start the sync in a subprocess and kill -9 it ``kills`` times; returns how many were
    killed in the middle of their run, and how many ran to their end (a sync can finish before
    its kill comes)."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    killed = 0
    for _ in range(kills):
        start = len(fake.requests)
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(db), fake.url, fake.user, fake.password, str(now)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        target = start + rng.randint(2, 6)

        def reached(proc: subprocess.Popen[bytes] = proc, target: int = target) -> bool:
            return len(fake.requests) >= target or proc.poll() is not None

        wait_until(reached, 60)
        # Somewhere in the run: fetching, parsing or writing the batch.
        time.sleep(rng.random() * 0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(30)
        assert proc.returncode in (-signal.SIGKILL, 0), proc.stderr.read() if proc.stderr else ""
    return killed, kills - killed


def test_a_sync_killed_again_and_again_resumes_without_duplicates_or_missed_deletions(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tipwatch.db"
    store = Store.open(str(db))
    rng = random.Random(17)
    events = _events(1, 400, 1_000)
    with FakeNcmec(list(events), page_size=5) as fake:
        configure_list(
            store, "ncmec", connector="ncmec", config={"base_url": fake.url}, scheme="industry"
        )
        killed, finished = _kill_cycles(fake, db, 10_000, rng, kills=6)
        assert killed >= 4  # most runs really died mid-way
        # Then a sync that is left to finish.
        connector = make_connector(
            "ncmec",
            {"base_url": fake.url},
            {"username": fake.user, "password": fake.password},
            retry=RetryPolicy(backoff=0.0, sleep=lambda s: None),
            now=lambda: 10_000.0,
        )
        sync_list(store, "ncmec", connector)
        assert _state(store) == _expected(events)
        pages = -(-len(events) // 5)
        # Each restart went on from its checkpoint: at most the page being read when killed
        # was read again. A run that starts with the list up to date asks once for what came
        # since (an empty window): the runs that finished before their kill, and the last.
        assert len(fake.requests) <= pages + killed + finished + 1

        # A second window, with deletions of entries of the first: killed and resumed again.
        more = _events(401, 120, 20_000) + [
            NcmecEvent(f"e{n}", 25_000 + n, deleted=True) for n in range(2, 400, 5)
        ]
        fake.events += more
        _kill_cycles(fake, db, 40_000, rng, kills=4)
        connector2 = make_connector(
            "ncmec",
            {"base_url": fake.url},
            {"username": fake.user, "password": fake.password},
            retry=RetryPolicy(backoff=0.0, sleep=lambda s: None),
            now=lambda: 40_000.0,
        )
        sync_list(store, "ncmec", connector2)
        assert _state(store) == _expected(events + more)

    e = hash_entries.c
    with store.read() as conn:
        # One active hash per entry and algorithm (an entry whose MD5 changed keeps its old
        # one retired, as history).
        repeated = conn.execute(
            select(e.entry_key, e.algorithm, func.count())
            .where(e.retired_version.is_(None))
            .group_by(e.entry_key, e.algorithm)
            .having(func.count() > 1)
        ).all()
        rows = conn.execute(select(func.count()).select_from(hash_entries)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(e.entry_key, e.algorithm, e.value).distinct().subquery()
            )
        ).scalar_one()
        ghosts = conn.execute(select(func.count()).select_from(exchange_tombstones)).scalar_one()
    assert repeated == [] and rows == distinct
    assert ghosts >= 60  # every deletion of an entry never seen is remembered
    store.close()
