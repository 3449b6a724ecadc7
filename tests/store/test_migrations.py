"""The Alembic migrations build exactly the tables of store/schema.py, on SQLite and PostgreSQL.

A column, index or constraint added to schema.py without a migration (or the other way round)
shows up here as a non-empty autogenerate diff: tables, columns (name, nullability, type
family), indexes, unique constraints and foreign keys.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, MetaData, String, Text, inspect

from tipwatch.store import Store
from tipwatch.store.schema import metadata


def _compare_type(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """The default comparison, except that SQLite's VARCHAR(n) and TEXT are one type there (TEXT
    affinity, no length enforced): migration 0006 widens such columns on PostgreSQL only."""
    if context.dialect.name == "sqlite" and all(
        isinstance(t, String) for t in (inspected_type, metadata_type)
    ):
        return False
    return None


def _diff(store: Store, target: MetaData) -> list[Any]:
    with store.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": _compare_type})
        return list(compare_metadata(context, target))


def test_migrated_store_has_exactly_the_schema_tables(store: Store) -> None:
    with store.read() as conn:
        tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)


def test_migrations_match_the_schema(store: Store) -> None:
    assert _diff(store, metadata) == []


def test_the_comparison_sees_drift(store: Store) -> None:
    """The empty diff above means something: a schema that drifted from the migrations (a new
    column, a nullability change, a dropped index) is reported."""
    drifted = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    name = next(t.name for t in metadata.sorted_tables if t.indexes)
    table = drifted.tables[name]
    table.append_column(Column("added_without_migration", Text, nullable=True))
    column = next(c for c in table.columns if not c.primary_key and c.nullable)
    column.nullable = False
    dropped = sorted(table.indexes, key=lambda i: str(i.name))[0]
    table.indexes.discard(dropped)
    Index("ix_added_without_migration", table.c.added_without_migration)

    kinds = set()
    for entry in _diff(store, drifted):
        for op in entry if isinstance(entry, list) else [entry]:
            kinds.add(op[0])
    assert {"add_column", "modify_nullable", "remove_index", "add_index"} <= kinds, kinds
