"""The store: SQLAlchemy tables, queries and Alembic migrations."""

from tipwatch.store.database import DEFAULT_DB, Store, resolve_db_url

__all__ = ["DEFAULT_DB", "Store", "resolve_db_url"]
