"""Opening the store: an SQLite file by default (WAL mode), or PostgreSQL for teams."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from tipwatch import __version__
from tipwatch.errors import StoreError

__all__ = ["DEFAULT_BUSY_TIMEOUT", "DEFAULT_DB", "Store", "resolve_db_url"]

DEFAULT_DB = "tipwatch.db"
"""The default store: an SQLite file in the working folder."""

DEFAULT_BUSY_TIMEOUT = 120.0
"""Seconds an SQLite write waits for another process's write before giving up."""

_MIGRATIONS = Path(__file__).with_name("migrations")


def resolve_db_url(value: str | None = None) -> str:
    """The database URL for ``value``: a URL, a file path, or ``None`` for the default.

    ``None`` means ``./tipwatch.db``. A plain ``postgresql://`` URL is given the psycopg 3
    driver. The store reads no environment: callers pass the store the settings name.
    """
    value = value or DEFAULT_DB
    if "://" not in value:
        return "sqlite:///" + str(Path(value).expanduser().resolve())
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {value!r} ({exc})") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_sqlite_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a store file tipwatch could not use: one that is not an
    SQLite database, or one it may not write (nor the folder SQLite keeps its journal in)."""
    if path.is_dir():
        raise StoreError(f"the store {path} is a folder, not an SQLite file")
    if path.exists():
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
        if head and head != _SQLITE_HEADER:
            raise StoreError(
                f"{path} is not a tipwatch store: it is not an SQLite database",
                hint="check the path: a store is the SQLite file made by init, ingest or demo",
            )
        if not os.access(path, os.W_OK):
            raise StoreError(
                f"the store {path} is read-only",
                hint="make it writable for this user: every action is written to its audit log",
            )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(
            f"the store {path} is in a read-only folder ({path.parent}), where SQLite must "
            "keep its journal beside it",
            hint="make the folder writable for this user, or move the store",
        )


def _one_line(exc: BaseException) -> str:
    """The first line of a database error, without the SQL and links SQLAlchemy appends."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unusable(url: str, exc: DBAPIError) -> StoreError:
    """The reason a store could not be opened, in one line, with what to do."""
    reason = _one_line(exc)
    lowered = reason.lower()
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        return StoreError(
            f"the store {url} is damaged: {reason}",
            hint="restore it from a backup (sqlite3's .recover may save part of it)",
        )
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(
            f"the store {url} is read-only: {reason}",
            hint="make it and its folder writable: every action is written to its audit log",
        )
    return StoreError(f"cannot open the store {url}: {reason}")


_BUSY_NOTICE_MS = 2000
"""How long a write waits for the write lock before saying that it waits."""

_log = logging.getLogger("tipwatch.store")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_timeout_ms: int) -> None:
    cur = dbapi_conn.cursor()
    # First, so that even these pragmas wait for another process creating the same new store.
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    # Takes effect only on a new, empty file: 16 KiB pages make bulk intake ~10% faster
    # than the 4 KiB default (measured with benchmarks/intake_xml.py).
    cur.execute("PRAGMA page_size=16384")
    # Switching a new file to WAL while another process creates the same store can be refused
    # at once (SQLite does not wait on that lock): try again until the busy timeout.
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # A write transaction waits this long before it says it waits (see _sqlite_begin).
    cur.execute(f"PRAGMA busy_timeout={min(_BUSY_NOTICE_MS, busy_timeout_ms)}")
    cur.close()
    # Transactions are begun by tipwatch, not by the driver (see _sqlite_begin): the sqlite3
    # module's own handling neither begins a transaction for reads nor supports SAVEPOINTs.
    dbapi_conn.isolation_level = None


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(exc)


def _sqlite_begin(conn: Connection, busy_timeout_ms: int, path: str) -> None:
    # A read snapshot begins deferred (in WAL mode it never waits); a write transaction takes
    # the write lock at once, so two writers queue instead of one failing when it upgrades a
    # read lock. A writer kept waiting says so, then waits up to the store's busy timeout.
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    if conn.info.get(_READ_ONLY):
        raw.execute("BEGIN")
        return
    try:
        raw.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as exc:
        if not _is_busy(exc) or busy_timeout_ms <= _BUSY_NOTICE_MS:
            if _is_busy(exc):
                raise _busy_error(path, busy_timeout_ms) from None
            raise
    _log.warning(
        "the store is busy: waiting for another process's write to %s to finish (up to %s s)",
        path,
        f"{busy_timeout_ms / 1000:g}",
    )
    raw.execute(f"PRAGMA busy_timeout={busy_timeout_ms - _BUSY_NOTICE_MS}")
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise _busy_error(path, busy_timeout_ms) from None
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={_BUSY_NOTICE_MS}")


def _busy_error(path: str, busy_timeout_ms: int) -> StoreError:
    return StoreError(
        f"the store is busy: another process has been writing to {path} for more than "
        f"{busy_timeout_ms / 1000:g} s",
        hint=(
            "run this again once the other tipwatch command has finished, or raise the "
            "store_busy_timeout setting"
        ),
    )


_READ_ONLY = "tipwatch_read_only"
_AFTER = "tipwatch_after_transaction"
"""``conn.info`` key of the (on_commit, on_rollback) callbacks of the open transaction."""

_Hook = tuple[Callable[[], None], Callable[[], None] | None]


def _run_rollback_hooks(hooks: list[_Hook]) -> None:
    # Newest first, like the undo they stand for; every one runs even if an earlier one fails.
    failures: list[BaseException] = []
    for _, on_rollback in reversed(hooks):
        if on_rollback is not None:
            try:
                on_rollback()
            except Exception as exc:
                failures.append(exc)
    if failures:
        raise failures[0]


_MIGRATION_LOCK = 0x7469_7077_6D69_6772  # "tipwmigr": one key for every tipwatch database
"""PostgreSQL advisory lock held while a process migrates the store."""


class Store:
    """A tipwatch store. ``Store.open()`` connects and brings the schema up to date.

    All access goes through two context managers, each yielding a SQLAlchemy connection:

    - :meth:`atomic` for a unit of work that writes: one transaction, committed when the block
      ends and rolled back when it raises. Nested ``atomic()`` blocks (in the same thread or
      task) join the outer transaction through SAVEPOINTs, so an inner failure undoes only the
      inner block when caught, and an outer failure undoes everything.
    - :meth:`read` for one consistent snapshot over several queries. Inside ``atomic()`` it
      reads the open transaction (and sees its writes).

    Batch writers that must commit as they go (intake, the triage pass, list import) call
    :meth:`require_autonomy` first: they cannot run inside an outer transaction.
    """

    def __init__(self, engine: Engine, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self._engine = engine
        self._current: ContextVar[Connection | None] = ContextVar(
            f"tipwatch_store_{id(self)}", default=None
        )
        self._busy_timeout = busy_timeout
        # SQLite has one writer at a time. Threads of this process (a server's requests) queue
        # for it here, and each is woken the moment the one before commits; left to SQLite,
        # a waiting thread sleeps in steps of up to 100 ms between tries, which a server
        # under load turned into waits far longer than the writes themselves.
        self._writer = threading.Lock() if engine.dialect.name == "sqlite" else None

    def __reduce__(self) -> Any:
        # Worker processes (local or on a cluster) never get the store: the process that
        # hands out the work reads and writes it, so no worker ever writes an SQLite file.
        raise StoreError(
            f"the store {self.url} cannot be sent to another process",
            hint="read what the workers need first and send that; write their results here",
        )

    @property
    def url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def where(self) -> str:
        """The store as a person names it: the file of an SQLite store, else its URL."""
        if self.dialect == "sqlite" and self._engine.url.database:
            return self._engine.url.database
        return self.url

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def in_transaction(self) -> bool:
        """True inside an :meth:`atomic` block."""
        return self._current.get() is not None

    @contextmanager
    def atomic(self) -> Iterator[Connection]:
        """One transaction; nested calls share it through SAVEPOINTs."""
        conn = self._current.get()
        if conn is not None:
            hooks: list[_Hook] = conn.info.setdefault(_AFTER, [])
            mark = len(hooks)
            try:
                with conn.begin_nested():
                    yield conn
            except BaseException:
                undone = hooks[mark:]
                del hooks[mark:]
                _run_rollback_hooks(undone)
                raise
            return
        with self._engine.connect() as conn:
            token = self._current.set(conn)
            conn.info[_AFTER] = []
            try:
                with self._write_turn(), conn.begin():
                    yield conn
            except BaseException:
                _run_rollback_hooks(conn.info.pop(_AFTER, []))
                raise
            else:
                hooks = conn.info.pop(_AFTER, [])
            finally:
                self._current.reset(token)
        for on_commit, _ in hooks:
            on_commit()

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """This process's turn to write an SQLite store (nothing on PostgreSQL): waits up to
        the busy timeout for the other threads' write transactions, as SQLite waits for other
        processes'."""
        if self._writer is None:
            yield
            return
        if not self._writer.acquire(timeout=self._busy_timeout):
            raise StoreError(
                f"the store is busy: another write of this process has held {self.where} for "
                f"more than {self._busy_timeout:g} s",
                hint="raise the store_busy_timeout setting, or run the long write on its own",
            )
        try:
            yield
        finally:
            self._writer.release()

    def after_transaction(
        self, on_commit: Callable[[], None], on_rollback: Callable[[], None] | None = None
    ) -> None:
        """Call ``on_commit`` once the open transaction has committed, or ``on_rollback`` when
        it (or the SAVEPOINT this is called in) is rolled back.

        For work outside the store that must follow its record: a routing package is moved into
        place only once it is recorded, and removed if its record is not kept. Only inside
        :meth:`atomic`; ``on_commit`` runs after the transaction, outside any.
        """
        conn = self._current.get()
        if conn is None:
            raise StoreError("after_transaction() is called inside Store.atomic() only")
        conn.info.setdefault(_AFTER, []).append((on_commit, on_rollback))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One consistent snapshot for a read of several queries."""
        conn = self._current.get()
        if conn is not None:
            yield conn
            return
        with self._engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            conn.info[_READ_ONLY] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(_READ_ONLY, None)

    def require_autonomy(self, what: str) -> None:
        """Refuse to run ``what`` (a batch writer that commits per batch) inside a transaction."""
        if self.in_transaction:
            raise StoreError(
                f"{what} commits batch by batch and cannot run inside another transaction"
            )

    @classmethod
    def open(
        cls,
        db: str | None = None,
        *,
        migrate: bool = True,
        create: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> Store:
        """Open the store named by ``db`` (see :func:`resolve_db_url`).

        Without ``create``, an SQLite file that does not exist is refused instead of created.
        On SQLite a write kept waiting by another process's write says so (a warning on the
        ``tipwatch.store`` logger) after two seconds and gives up with :class:`StoreError`
        after ``busy_timeout`` seconds.
        """
        url = resolve_db_url(db)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path and path != ":memory:":
                parent = Path(path).parent
                if not create and not Path(path).exists():
                    raise StoreError(
                        f"there is no store at {path}",
                        hint="check the path, or create a store there (init, ingest or demo)",
                    )
                if not parent.exists():
                    raise StoreError(f"cannot create the store {path}: folder {parent} is missing")
                _check_sqlite_file(Path(path))
        else:
            kwargs["pool_pre_ping"] = True
        try:
            engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use database {url!r}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            wait_ms = max(1, round(busy_timeout * 1000))
            where = make_url(url).database or url

            def on_connect(dbapi_conn: Any, record: Any) -> None:
                _sqlite_pragmas(dbapi_conn, record, wait_ms)

            def on_begin(conn: Connection) -> None:
                _sqlite_begin(conn, wait_ms, where)

            event.listen(engine, "connect", on_connect)
            event.listen(engine, "begin", on_begin)
        store = cls(engine, busy_timeout=busy_timeout)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Apply any migrations the database lacks (Alembic ``upgrade head``)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.atomic() as conn:
                if self.dialect == "postgresql" and (
                    conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
                ):
                    raise StoreError(
                        f"the store {self.where} is read-only (a standby server, or a database "
                        "set to read-only transactions)",
                        hint="use the primary server: every action is written to the audit log",
                    )
                if self.dialect == "postgresql":
                    # Two processes opening a new store at once: the second waits here until
                    # the first has committed its migration, then finds nothing to do. (On
                    # SQLite the write transaction's lock already queues them.)
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                    )
                known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
                unknown = set(MigrationContext.configure(conn).get_current_heads()) - known
                if unknown:
                    raise StoreError(
                        f"the store {self.where} has a newer schema (revision "
                        f"{', '.join(sorted(unknown))}) than tipwatch {__version__} knows",
                        hint="use the tipwatch version that last wrote this store, or a newer one",
                    )
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except DBAPIError as exc:
            raise _unusable(self.where, exc) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate the store {self.where}: {_one_line(exc)}") from exc

    def checkpoint(self) -> tuple[int, int] | None:
        """On SQLite, copy what the write-ahead log holds into the database file without
        waiting for, or holding up, readers and writers (a passive checkpoint); returns the
        log's frames and those now copied. ``None`` on PostgreSQL.

        Otherwise SQLite checkpoints inside the commit that takes the log past 1,000 pages,
        and that commit, and every write queued behind it, waits for the copy and its sync:
        a long-running server calls this from a thread of its own."""
        if self.dialect != "sqlite":
            return None
        raw = self._engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            row = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            raw.close()
        return int(row[1]), int(row[2])

    def table_names(self) -> list[str]:
        return sorted(inspect(self._engine).get_table_names())

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
