"""Concurrent writers (issue 12, point 7), with real separate processes, on SQLite and
PostgreSQL: two intakes revising the same referrals keep every version, numbered once; the
same file ingested twice at once is stored once; two processes creating one store both open it;
on SQLite a writer kept waiting says so, and gives up with a one-line error, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

import tipwatch
from tipwatch.intake import ingest_paths
from tipwatch.store import Store
from tipwatch.store.referrals import count_referrals
from tipwatch.store.schema import referrals, revisions

_SRC = str(Path(tipwatch.__file__).resolve().parents[1])

_INGEST = """
import json, sys, time
from pathlib import Path
from tipwatch.intake import ingest_paths
from tipwatch.store import Store
url, path, go = sys.argv[1:4]
store = Store.open(url)
while not Path(go).exists():
    time.sleep(0.005)
print(json.dumps(ingest_paths(store, [Path(path)], batch_size=40).as_dict()))
"""

_OPEN = """
import sys, time
from pathlib import Path
from tipwatch.store import Store
url, go = sys.argv[1:3]
while not Path(go).exists():
    time.sleep(0.001)
Store.open(url).close()
"""

_HOLD_WRITE_LOCK = """
import sys, time
from pathlib import Path
from tipwatch.store import Store
url, holding, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
store = Store.open(url)
with store.atomic():
    holding.touch()
    time.sleep(seconds)
"""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _start(script: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[str, str]]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        outputs.append((out, err))
    return outputs


def _write(path: Path, count: int, platform: str) -> Path:
    with path.open("w") as fh:
        for i in range(count):
            record = {
                "report_id": f"c-{i}",
                "incident_type": "child-pornography",
                "incident_time": "2020-03-28T14:02:11Z",
                "platform": platform,
            }
            fh.write(json.dumps(record) + "\n")
    return path


def _run_together(store: Store, tmp_path: Path, paths: list[Path]) -> list[dict[str, Any]]:
    go = tmp_path / "go"
    procs = [_start(_INGEST, store.url, str(p), str(go)) for p in paths]
    time.sleep(1.0)  # both have opened the store and wait for the start
    go.touch()
    return [json.loads(out) for out, _err in _finish(procs)]


def test_two_intakes_revising_the_same_referrals_keep_every_version(
    store: Store, tmp_path: Path
) -> None:
    count = 400
    ingest_paths(store, [_write(tmp_path / "v0.jsonl", count, "zero")])
    a = _write(tmp_path / "va.jsonl", count, "alpha")
    b = _write(tmp_path / "vb.jsonl", count, "beta")
    results = _run_together(store, tmp_path, [a, b])
    assert [r["revised"] for r in results] == [count, count]
    with store.read() as conn:
        current = {
            row.report_id: (row.revision, row.platform)
            for row in conn.execute(
                select(referrals.c.report_id, referrals.c.revision, referrals.c.platform)
            )
        }
        kept: dict[str, list[tuple[int, str]]] = {}
        for row in conn.execute(
            select(revisions.c.report_id, revisions.c.revision, revisions.c.document)
        ):
            kept.setdefault(row.report_id, []).append(
                (row.revision, json.loads(row.document)["platform"])
            )
    assert len(current) == count
    for report_id, (revision, platform) in current.items():
        versions = sorted(kept.get(report_id, []))
        # Three versions in all: two kept as revisions 1 and 2, the last one current as 3.
        assert [n for n, _ in versions] == [1, 2], (report_id, versions)
        assert revision == 3
        assert versions[0][1] == "zero"
        assert {versions[1][1], platform} == {"alpha", "beta"}


def test_the_same_file_ingested_by_two_processes_at_once_is_stored_once(
    store: Store, tmp_path: Path
) -> None:
    count = 400
    source = _write(tmp_path / "same.jsonl", count, "web")
    first, second = _run_together(store, tmp_path, [source, source])
    assert first["ingested"] + second["ingested"] == count
    assert first["quarantined"] == second["quarantined"] == 0
    assert count_referrals(store) == count
    with store.read() as conn:
        assert conn.execute(select(revisions.c.id)).first() is None
        assert {r for (r,) in conn.execute(select(referrals.c.revision))} == {1}


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> Iterator[str]:
    """The URL of a store that does not exist yet (an empty PostgreSQL database)."""
    if request.param == "sqlite":
        yield str(tmp_path / "new.db")
        return
    if postgres_url is None:
        pytest.skip("PostgreSQL not configured (set TIPWATCH_TEST_POSTGRES)")
    url = make_url(postgres_url)
    name = f"tipwatch_new_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_processes_creating_one_store_at_once_all_open_it(
    new_store_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go-open"
    procs = [_start(_OPEN, new_store_url, str(go)) for _ in range(4)]
    time.sleep(1.0)
    go.touch()
    _finish(procs)
    with Store.open(new_store_url, migrate=False) as store:
        with store.read() as conn:
            heads = [v for (v,) in conn.execute(text("SELECT version_num FROM alembic_version"))]
        assert len(heads) == 1
        assert count_referrals(store) == 0


def _hold_sqlite_write_lock(db: Path, seconds: float, tmp_path: Path) -> subprocess.Popen[str]:
    Store.open(str(db)).close()
    holding = tmp_path / "holding"
    holder = _start(_HOLD_WRITE_LOCK, str(db), str(holding), str(seconds))
    deadline = time.monotonic() + 30
    while not holding.exists():
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return holder


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tipwatch.cli", *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=120,
    )


def test_sqlite_a_writer_kept_waiting_says_so_then_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    holder = _hold_sqlite_write_lock(db, 4.0, tmp_path)
    source = _write(tmp_path / "some.jsonl", 5, "web")
    result = _cli("ingest", str(source), "--db", str(db), "--format", "json")
    _finish([holder])
    assert result.returncode == 0, result.stderr
    assert "the store is busy: waiting for another process's write" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["ingested"] == 5


def test_sqlite_a_writer_kept_waiting_too_long_stops_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    holder = _hold_sqlite_write_lock(db, 8.0, tmp_path)
    source = _write(tmp_path / "some.jsonl", 5, "web")
    started = time.monotonic()
    result = _cli("ingest", str(source), "--db", str(db), TIPWATCH_STORE_BUSY_TIMEOUT="3")
    waited = time.monotonic() - started
    _finish([holder])
    assert result.returncode == 69, result.stderr
    assert "Traceback" not in result.stderr
    assert "database is locked" not in result.stderr
    assert "the store is busy: another process has been writing" in result.stderr
    assert waited < 7.5
    with Store.open(str(db)) as store:
        assert count_referrals(store) == 0
