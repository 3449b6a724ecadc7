"""Shared fixtures. The store fixture runs each test against SQLite and PostgreSQL.

PostgreSQL is used when ``TIPWATCH_TEST_POSTGRES`` names a server (``make test`` sets it).
When ``TIPWATCH_REQUIRE_POSTGRES=1`` (``make test`` and CI) an unreachable server fails the
run instead of skipping the PostgreSQL half, and ``TIPWATCH_REQUIRE_SHARED=1`` makes a test that
reads ``../shared`` (the XSD, conformance data) fail rather than skip when it is missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tipwatch.settings import CONFIG_ENV_VAR, Settings, reload_settings
from tipwatch.store import Store
from tipwatch.store.schema import metadata

# pytest-xdist's workers start with COLUMNS set (80 here, no terminal); the command line's
# consoles, made when tipwatch.cli is imported, would keep that width for good. Without it they
# follow each invocation's COLUMNS, as in a run without workers.
os.environ.pop("COLUMNS", None)

SHARED = Path(
    os.environ.get("TIPWATCH_SHARED") or Path(__file__).resolve().parents[1].parent / "shared"
)
"""The shared folder beside the repository (formats and data), when present;
``TIPWATCH_SHARED`` names it when the checkout is elsewhere (a second worktree)."""


def require_shared(relative: str) -> Path:
    """``SHARED / relative``, or a skip when it is missing: a checkout alone runs the tests.

    With ``TIPWATCH_REQUIRE_SHARED=1`` (``make test``, hence CI) a missing path fails the test
    instead, so the XSD and conformance checks cannot silently stop running."""
    path = SHARED / relative
    if not path.exists():
        message = f"../shared/{relative} is not present"
        if os.environ.get("TIPWATCH_REQUIRE_SHARED") == "1":
            pytest.fail(f"{message} (TIPWATCH_REQUIRE_SHARED=1)")
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _machine_settings_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every test reads tipwatch's settings afresh from an empty settings file and no
    ``TIPWATCH_*`` setting variable, whatever the machine running the tests has."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TIPWATCH_{name.upper()}", raising=False)
    empty = tmp_path_factory.getbasetemp() / "empty-tipwatch.toml"
    empty.touch()
    monkeypatch.setenv(CONFIG_ENV_VAR, str(empty))
    reload_settings()


def _postgres_base_url() -> str | None:
    return os.environ.get("TIPWATCH_TEST_POSTGRES") or None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    base = _postgres_base_url()
    required = os.environ.get("TIPWATCH_REQUIRE_POSTGRES") == "1"
    if base is None:
        if required:
            pytest.fail("TIPWATCH_REQUIRE_POSTGRES=1 but TIPWATCH_TEST_POSTGRES is not set")
        yield None
        return
    url = make_url(base)
    name = f"tipwatch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if required:
            pytest.fail(f"PostgreSQL required but unreachable at {base}: {exc}")
        yield None
        return
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_pg_store: dict[str, Store] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> Iterator[Store]:
    """An empty, migrated store: an SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        s = Store.open(str(tmp_path / "tipwatch.db"))
        try:
            yield s
        finally:
            s.close()
        return
    if postgres_url is None:
        pytest.skip("PostgreSQL not configured (set TIPWATCH_TEST_POSTGRES)")
    s = _pg_store.get(postgres_url)
    if s is None:
        s = Store.open(postgres_url)
        _pg_store[postgres_url] = s
    names = ", ".join(f'"{t.name}"' for t in reversed(metadata.sorted_tables))
    with s.atomic() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    from tipwatch.services.matching import forget_index

    forget_index(s)  # the ids restart: an index kept from an earlier test would mislead
    yield s


@pytest.fixture
def db_url(store: Store) -> str:
    """The URL of the ``store`` fixture, for CLI tests (``--db``)."""
    return store.url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for s in _pg_store.values():
        s.close()
    _pg_store.clear()
