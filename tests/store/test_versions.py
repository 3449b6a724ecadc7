"""Versioned lists (store.versions): add, retire and reactivate across versions, on the hash-list
tables and on another entry table of the same shape, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from tipwatch.store import Store
from tipwatch.store.schema import hash_entries, hash_list_versions, hash_lists
from tipwatch.store.versions import (
    VersionChanges,
    VersionedTables,
    apply_version,
    delete_versioned,
    has_version,
)

HASHES = VersionedTables(hash_entries, hash_list_versions, key=("algorithm", "value"))
NOW = datetime(2024, 5, 1, 12, 0)


def _new_list(store: Store, name: str = "L") -> int:
    with store.atomic() as conn:
        return int(
            conn.execute(
                insert(hash_lists)
                .values(
                    name=name,
                    scheme="projectvic_us",
                    near_threshold=31,
                    quality_floor=50,
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(hash_lists.c.id)
            ).scalar_one()
        )


def _md5s(*values: str) -> list[tuple[tuple[str, str], str]]:
    return [(("md5", v), v) for v in values]


def _hash_row(category: str) -> dict[str, Any]:
    return {"category": category, "flags": "{}", "extra": "{}"}


def _version(store: Store, list_id: int, version: str, values: list[str], **kw: Any) -> Any:
    with store.atomic() as conn:
        return apply_version(
            conn,
            HASHES,
            list_id,
            version,
            _md5s(*values),
            new_row=lambda v: _hash_row("1"),
            version_columns={"format": "plain", "rejected": 0, "imported_at": NOW},
            **kw,
        )


def _entries(store: Store, list_id: int) -> dict[str, tuple[str, str | None]]:
    e = hash_entries.c
    with store.read() as conn:
        return {
            r.value: (r.added_version, r.retired_version)
            for r in conn.execute(
                select(e.value, e.added_version, e.retired_version).where(e.list_id == list_id)
            )
        }


def _version_rows(store: Store, list_id: int) -> list[tuple[str, int, int, int]]:
    v = hash_list_versions.c
    with store.read() as conn:
        return [
            (r.version, r.added, r.retired, r.kept)
            for r in conn.execute(
                select(v.version, v.added, v.retired, v.kept)
                .where(v.list_id == list_id)
                .order_by(v.id)
            )
        ]


def test_three_versions_add_retire_and_reactivate(store: Store) -> None:
    list_id = _new_list(store)
    first = _version(store, list_id, "v1", ["a", "b", "c"])
    assert first == VersionChanges(added=3)
    second = _version(store, list_id, "v2", ["b", "c", "d"])
    assert second == VersionChanges(added=1, retired=1, kept=2, active_before=3)
    third = _version(store, list_id, "v3", ["a", "c", "d", "d"])
    assert third == VersionChanges(reactivated=1, retired=1, kept=2, repeated=1, active_before=3)
    assert _entries(store, list_id) == {
        "a": ("v1", None),
        "b": ("v1", "v3"),
        "c": ("v1", None),
        "d": ("v2", None),
    }
    # A version row counts new and reactivated entries as added, repeats as kept.
    assert _version_rows(store, list_id) == [("v1", 3, 0, 0), ("v2", 1, 1, 2), ("v3", 1, 1, 3)]
    with store.read() as conn:
        assert has_version(conn, HASHES, list_id, "v2")
        assert not has_version(conn, HASHES, list_id, "v4")
        # One row per key: reactivation never duplicates an entry.
        assert len(conn.execute(select(hash_entries.c.id)).all()) == 4


def test_a_partial_version_only_adds(store: Store) -> None:
    list_id = _new_list(store)
    _version(store, list_id, "v1", ["a", "b"])
    changes = _version(store, list_id, "v2", ["c"], full=False)
    assert changes == VersionChanges(added=1, active_before=2)
    assert {k: r for k, (_, r) in _entries(store, list_id).items()} == {
        "a": None,
        "b": None,
        "c": None,
    }


def test_lists_are_versioned_apart_and_deleted_alone(store: Store) -> None:
    one, two = _new_list(store, "one"), _new_list(store, "two")
    _version(store, one, "v1", ["a", "b"])
    _version(store, two, "v1", ["a"])
    # Retiring in one list leaves the same key in another list alone.
    assert _version(store, one, "v2", ["b"]).retired == 1
    e = hash_entries.c
    with store.read() as conn:
        rows = conn.execute(select(e.list_id, e.value, e.retired_version).order_by(e.id)).all()
    assert [tuple(r) for r in rows] == [(one, "a", "v2"), (one, "b", None), (two, "a", None)]
    with store.atomic() as conn:
        assert delete_versioned(conn, HASHES, one) == 2
    with store.read() as conn:
        assert conn.execute(select(e.list_id)).scalars().all() == [two]
        assert not has_version(conn, HASHES, one, "v1")
        assert has_version(conn, HASHES, two, "v1")


def test_new_row_is_asked_for_new_entries_only(store: Store) -> None:
    list_id = _new_list(store)
    asked: list[str] = []

    def row(value: str) -> dict[str, Any]:
        asked.append(value)
        return _hash_row("2")

    columns = {"format": "plain", "rejected": 0, "imported_at": NOW}
    with store.atomic() as conn:
        apply_version(conn, HASHES, list_id, "v1", _md5s("a"), new_row=row, version_columns=columns)
    assert asked == ["a"]
    asked.clear()
    with store.atomic() as conn:
        apply_version(
            conn, HASHES, list_id, "v2", _md5s("a", "b"), new_row=row, version_columns=columns
        )
    assert asked == ["b"]


def test_spared_keys_are_not_retired(store: Store) -> None:
    list_id = _new_list(store)
    _version(store, list_id, "v1", ["a", "b", "c"])
    # The iterable fills ``spare`` while it is read: "b" was named by an unreadable record.
    spare: set[tuple[str, str]] = set()

    def entries() -> Iterator[tuple[tuple[str, str], str]]:
        spare.add(("md5", "b"))
        yield ("md5", "c"), "c"

    with store.atomic() as conn:
        changes = apply_version(
            conn,
            HASHES,
            list_id,
            "v2",
            entries(),
            new_row=lambda v: _hash_row("1"),
            version_columns={"format": "plain", "rejected": 1, "imported_at": NOW},
            spare=spare,
        )
    assert changes == VersionChanges(retired=1, kept=1, spared=1, active_before=3)
    assert changes.active_after == 2
    assert {k: r for k, (_, r) in _entries(store, list_id).items()} == {
        "a": "v2",
        "b": None,
        "c": None,
    }
    assert _version_rows(store, list_id)[-1] == ("v2", 0, 1, 2)


class _Refused(Exception):
    pass


def test_check_sees_the_changes_before_anything_is_written(store: Store) -> None:
    list_id = _new_list(store)
    _version(store, list_id, "v1", ["a", "b"])
    seen: list[VersionChanges] = []

    def refuse(changes: VersionChanges) -> None:
        seen.append(changes)
        raise _Refused

    try:
        with store.atomic() as conn:
            apply_version(
                conn,
                HASHES,
                list_id,
                "v2",
                _md5s("c"),
                new_row=lambda v: _hash_row("1"),
                version_columns={"format": "plain", "rejected": 0, "imported_at": NOW},
                check=refuse,
            )
    except _Refused:
        pass
    assert seen == [VersionChanges(added=1, retired=2, active_before=2)]
    assert seen[0].active_after == 1
    assert _entries(store, list_id) == {"a": ("v1", None), "b": ("v1", None)}
    assert [r[0] for r in _version_rows(store, list_id)] == ["v1"]


# A table of another shape: one key column, its own owner column, its own version columns.
_other = MetaData()
url_entries = Table(
    "test_versioned_url_entries",
    _other,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url_list_id", Integer, nullable=False),
    Column("url", String(400), nullable=False),
    Column("note", String(100)),
    Column("added_version", String(100), nullable=False),
    Column("retired_version", String(100)),
)
url_versions = Table(
    "test_versioned_url_versions",
    _other,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url_list_id", Integer, nullable=False),
    Column("version", String(100), nullable=False),
    Column("added", Integer, nullable=False),
    Column("retired", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
)
URLS = VersionedTables(url_entries, url_versions, key=("url",), owner="url_list_id")


@contextmanager
def _url_tables(store: Store) -> Iterator[None]:
    with store.atomic() as conn:
        _other.create_all(conn)
    try:
        yield
    finally:
        with store.atomic() as conn:
            _other.drop_all(conn)


def test_any_entry_table_of_the_same_shape(store: Store) -> None:
    with _url_tables(store):
        counts = {"skipped": 0}

        def urls(*items: str) -> Iterator[tuple[tuple[str], str]]:
            # Counts made while the entries are read reach the version row.
            for item in items:
                if not item.startswith("http"):
                    counts["skipped"] += 1
                    continue
                yield (item,), item

        versions = [
            ["http://a.invalid/", "http://b.invalid/", "junk"],
            ["http://b.invalid/", "http://c.invalid/"],
            ["http://a.invalid/", "http://c.invalid/", "bad", "worse"],
        ]
        results = []
        for number, items in enumerate(versions, start=1):
            counts["skipped"] = 0
            with store.atomic() as conn:
                results.append(
                    apply_version(
                        conn,
                        URLS,
                        7,
                        f"v{number}",
                        urls(*items),
                        new_row=lambda url: {"note": url.removeprefix("http://")},
                        version_columns=lambda: dict(counts),
                    )
                )
        assert results == [
            VersionChanges(added=2),
            VersionChanges(added=1, retired=1, kept=1, active_before=2),
            VersionChanges(reactivated=1, retired=1, kept=1, active_before=2),
        ]
        u, v = url_entries.c, url_versions.c
        with store.read() as conn:
            entries = conn.execute(
                select(u.url, u.note, u.added_version, u.retired_version).order_by(u.id)
            ).all()
            rows = conn.execute(
                select(v.version, v.added, v.retired, v.kept, v.skipped).order_by(v.id)
            ).all()
        assert [tuple(r) for r in entries] == [
            ("http://a.invalid/", "a.invalid/", "v1", None),
            ("http://b.invalid/", "b.invalid/", "v1", "v3"),
            ("http://c.invalid/", "c.invalid/", "v2", None),
        ]
        assert [tuple(r) for r in rows] == [
            ("v1", 2, 0, 0, 1),
            ("v2", 1, 1, 1, 0),
            ("v3", 1, 1, 1, 2),
        ]
        with store.atomic() as conn:
            assert delete_versioned(conn, URLS, 7) == 3
