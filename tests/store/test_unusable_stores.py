"""Stores that cannot be used say why, in one line with a hint, and nothing is written: a text
file or random bytes given as the store, a damaged SQLite file, a read-only store file, a store
in a read-only folder, a store with a newer schema (SQLite and PostgreSQL), a read-only
PostgreSQL database.

``tipwatch`` runs in a child process. A read-only file or folder is made with ``chmod`` for an
ordinary user; the superuser ignores file modes, so as root the file or folder is bind-mounted
read-only in a private mount namespace (``unshare -m``) that only the child sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from tipwatch.store import Store
from tipwatch.store.schema import audit_events

_CLI = [sys.executable, "-c", "from tipwatch.cli import app; app(prog_name='tipwatch')"]

Run = Callable[..., subprocess.CompletedProcess[str]]


def _tipwatch(
    *args: str, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # COLUMNS: no wrapping, so a message is one line or it is not.
    return subprocess.run(
        [*prefix, *_CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "1000", **(env or {})},
    )


def _refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 69 (the store cannot be used), one error line naming ``message``, one hint."""
    assert done.returncode == 69, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert lines[1].startswith("hint: "), done.stderr


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _new_store(path: Path) -> Path:
    Store.open(str(path)).close()
    return path


@pytest.fixture
def read_only(tmp_path: Path) -> Run:
    """Run tipwatch with ``path`` read-only (and ``writable`` inside it left writable)."""
    root = os.geteuid() == 0
    if root:
        probe = tmp_path / "probe"
        probe.mkdir()
        mounted = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", _RO_MOUNT + "; exit 0"],
            capture_output=True,
            text=True,
            env={**os.environ, "RO": str(probe), "RW": ""},
        )
        if shutil.which("unshare") is None or mounted.returncode != 0:
            pytest.skip(f"running as root without read-only bind mounts: {mounted.stderr}")
        probe.rmdir()

    def run(
        path: Path, *args: str, writable: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        if root:
            shell = ("unshare", "-m", "--propagation", "private", "sh", "-c")
            return _tipwatch(
                *args,
                prefix=(*shell, _RO_MOUNT + ' && exec "$@"', "sh"),
                env={"RO": str(path), "RW": str(writable or "")},
            )
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            return _tipwatch(*args)
        finally:
            path.chmod(mode)

    return run


_RO_MOUNT = (
    'mount --bind "$RO" "$RO" && { [ -z "$RW" ] || mount --bind "$RW" "$RW"; } '
    '&& mount -o remount,ro,bind "$RO" "$RO"'
)


@pytest.mark.parametrize(
    "content", [b"case notes, not a store\n", os.urandom(8192)], ids=["text", "random"]
)
def test_a_file_that_is_not_a_store(tmp_path: Path, content: bytes) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    before = _snapshot(tmp_path)
    _refused(_tipwatch("referrals", "list", "--db", str(notes)), "is not a tipwatch store")
    assert _snapshot(tmp_path) == before


def test_a_damaged_sqlite_store(tmp_path: Path) -> None:
    path = _new_store(tmp_path / "tipwatch.db")
    data = bytearray(path.read_bytes())
    data[100:4100] = b"\xff" * 4000  # the schema's page, past the file header
    path.write_bytes(bytes(data))
    before = _snapshot(tmp_path)
    _refused(_tipwatch("referrals", "list", "--db", str(path)), "is damaged")
    assert _snapshot(tmp_path) == before


def test_a_read_only_store_file(tmp_path: Path, read_only: Run) -> None:
    path = _new_store(tmp_path / "tipwatch.db")
    before = _snapshot(tmp_path)
    _refused(read_only(path, "referrals", "list", "--db", str(path)), "is read-only")
    assert _snapshot(tmp_path) == before


def test_a_store_in_a_read_only_folder(tmp_path: Path, read_only: Run) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    path = _new_store(folder / "tipwatch.db")
    before = _snapshot(folder)
    done = read_only(folder, "referrals", "list", "--db", str(path), writable=path)
    _refused(done, "read-only folder")
    assert _snapshot(folder) == before


def test_a_store_with_a_newer_schema(store: Store, db_url: str) -> None:
    with store.read() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        events = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
    with store.atomic() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    try:
        done = _tipwatch("referrals", "list", "--db", db_url)
        _refused(done, "newer schema (revision 9999_future)")
        with store.read() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == (
                "9999_future"
            )
            assert conn.execute(select(func.count()).select_from(audit_events)).scalar_one() == (
                events
            )
    finally:
        with store.atomic() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_read_only_postgresql_store(postgres_url: str | None) -> None:
    if postgres_url is None:
        pytest.skip("PostgreSQL not configured (set TIPWATCH_TEST_POSTGRES)")
    # What a standby server or `default_transaction_read_only` gives every session.
    url = make_url(postgres_url).update_query_dict(
        {"options": "-c default_transaction_read_only=on"}
    )
    done = _tipwatch("referrals", "list", "--db", url.render_as_string(hide_password=False))
    _refused(done, "is read-only")
