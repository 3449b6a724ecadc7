"""A routing package counts as sent only once complete (SQLite and PostgreSQL): a route that
runs out of file space, or is killed at any stage, leaves its referrals open and no package.

Each fault is real: ``tipwatch route`` runs in a child process, under a file-size limit
(``RLIMIT_FSIZE``, what ``ulimit -f`` sets) or killed with SIGKILL at a known point.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tipwatch.intake import ingest_paths
from tipwatch.store import Store
from tipwatch.store.schema import package_referrals, routing_packages
from tipwatch.triage.queries import queue
from tipwatch.triage.routing import package_files, route_country
from tipwatch.triage.run import triage_store

from .test_triage_store import account, referral, write_jsonl

COUNT = 300
"""Referrals routed: their package (about 1 MB of JSON Lines) is far above the write limit."""

WRITE_LIMIT = 256 * 1024
"""Bytes a file may grow to under the limit: room for the store's own journal, not a package."""


@pytest.fixture
def nl_store(store: Store, tmp_path: Path) -> Store:
    records = [
        referral(
            f"r-{i:04d}",
            supplied_geolocation={"country_code": "NL"},
            escalation_reason="meeting arranged " * 20,
            reported=[account(f"u-{i}", "192.0.2.10", "192.0.2.11")],
            files=[
                {"file_id": f"f{i}-{n}", "hashes": {"md5": f"{i:04d}{n:028d}"}} for n in range(4)
            ],
        )
        for i in range(COUNT)
    ]
    summary = ingest_paths(store, [write_jsonl(tmp_path / "nl.jsonl", records)])
    assert summary.ingested == COUNT
    triage_store(store)
    assert len(queue(store, country="NL", limit=None)) == COUNT
    if store.dialect == "sqlite":
        # The child's writes to the store start at the head of an empty journal, within the
        # write limit (the journal otherwise grows from where earlier writes left it).
        path = make_url(store.url).database
        assert path
        with sqlite3.connect(path) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store


def _route_command(store: Store, out: Path) -> list[str]:
    args = ["route", "--country", "NL", "--db", store.url, "--out", str(out)]
    return [sys.executable, "-c", "from tipwatch.cli import app; app(prog_name='tipwatch')", *args]


def _assert_nothing_sent(store: Store, out: Path) -> None:
    """The referrals are open, no package is recorded, and ``out`` holds no package."""
    assert len(queue(store, country="NL", limit=None)) == COUNT
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(routing_packages)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(package_referrals)).scalar() == 0
    assert not out.exists() or not any(out.iterdir()), sorted(os.listdir(out))


def _assert_routes_whole(store: Store, out: Path) -> None:
    """A route afterwards into the same folder sends every referral, complete."""
    package = route_country(store, "NL", out, created_by="analyst-1")
    assert package.referral_count == COUNT
    assert sorted(p.name for p in out.iterdir()) == sorted(package_files(COUNT))
    lines = (out / "referrals.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == COUNT and json.loads(lines[-1])["referral"]["report_id"] == "r-0299"
    assert (out / "summary.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == []


def test_route_under_a_write_limit_sends_nothing(nl_store: Store, tmp_path: Path) -> None:
    out = tmp_path / "packages" / "nl"

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (WRITE_LIMIT, WRITE_LIMIT))

    done = subprocess.run(
        _route_command(nl_store, out),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size,
    )
    assert done.returncode == 78, done.stdout + done.stderr  # ConfigError
    assert "Traceback" not in done.stderr
    assert "could not be written" in done.stderr and "referrals stay open" in done.stderr
    _assert_nothing_sent(nl_store, out)
    assert [p.name for p in out.parent.iterdir()] == []  # the staging folder is removed
    _assert_routes_whole(nl_store, out)


# Where the child pauses to be killed: while writing referrals.jsonl, with the JSON Lines and
# CSV written but not the HTML, and with every file written just before the commit.
_PAUSES = {
    "writing": "tipwatch.triage.routing._records",
    "before-html": "tipwatch.triage.routing._write_html",
    "before-commit": "tipwatch.services._unit.append_event",
}

_PAUSING_ROUTE = """
import importlib, sys, time
from pathlib import Path

marker, target = Path(sys.argv[1]), sys.argv[2]
module_name, _, name = target.rpartition(".")
module = importlib.import_module(module_name)
original = getattr(module, name)

def pause():
    marker.write_text("paused")
    time.sleep(120)

if name == "_records":
    def paused(*args, **kwargs):
        for n, record in enumerate(original(*args, **kwargs)):
            if n == 100:
                pause()
            yield record
else:
    def paused(*args, **kwargs):
        pause()
        return original(*args, **kwargs)

setattr(module, name, paused)
from tipwatch.cli import app
app(prog_name="tipwatch", args=sys.argv[3:])
"""


@pytest.mark.parametrize("stage", sorted(_PAUSES))
def test_route_killed_sends_nothing(nl_store: Store, tmp_path: Path, stage: str) -> None:
    out = tmp_path / "packages" / "nl"
    marker = tmp_path / "paused"
    command = _route_command(nl_store, out)
    child = subprocess.Popen(
        [sys.executable, "-c", _PAUSING_ROUTE, str(marker), _PAUSES[stage], *command[3:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the route never reached its pause"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    _assert_nothing_sent(nl_store, out)
    _assert_routes_whole(nl_store, out)  # and the killed route's staging folder is cleared
