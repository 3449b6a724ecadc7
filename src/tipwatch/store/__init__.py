"""The store: SQLAlchemy tables, queries and Alembic migrations."""

from tipwatch.store.database import DEFAULT_DB, ENV_VAR, Store, resolve_db_url

__all__ = ["DEFAULT_DB", "ENV_VAR", "Store", "resolve_db_url"]
