"""SQL expressions whose spelling depends on the database, so that no other package needs to
know the dialect."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, cast, func
from sqlalchemy.sql.elements import ColumnElement

from tipwatch.store.database import Store

__all__ = ["as_date", "calendar_day"]


def calendar_day(store: Store, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The calendar day of the timestamp ``column`` (to group by day)."""
    if store.dialect == "postgresql":
        return cast(column, Date)
    return func.date(column)


def as_date(value: Any) -> date:
    """A day read back from :func:`calendar_day` (a date, or ISO text on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value))
