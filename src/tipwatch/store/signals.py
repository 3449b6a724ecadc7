"""Signal values in the store: values per country, metric, period and dimensions, from feeds
(and later the URL list and forum monitoring). Every writer and reader of ``signal_values``
goes through this module.

A value is replaced when the same key (feed, country, metric, period, start, dimensions) is
written again, so writing a corrected feed is safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from tipwatch.store.database import Store
from tipwatch.store.schema import signal_values

__all__ = [
    "SignalValue",
    "StoredSignalValue",
    "delete_signal_values",
    "signal_dimensions",
    "signal_summary",
    "signal_values_of",
    "write_signal_values",
]

_KEY = ["feed", "country", "metric", "period", "period_start", "dims_key"]
_BATCH = 2000


@dataclass(frozen=True)
class SignalValue:
    """A value to write."""

    feed: str
    """Where it comes from: ``blocked``, ``helpline``, ``metric`` ..."""
    country: str
    metric: str
    period: str
    """``day``, ``week`` or ``month``."""
    period_start: date
    value: float
    dims: Mapping[str, str]
    source_file: str | None = None


@dataclass(frozen=True)
class StoredSignalValue:
    """A value as read back."""

    country: str
    period: str
    period_start: date
    value: float
    dims: dict[str, str]


def write_signal_values(
    target: Store | Connection, values: Iterable[SignalValue], *, now: datetime | None = None
) -> int:
    """Write ``values`` (upsert on their key) through ``target``: a store (one transaction of
    its own) or the connection of an open transaction. Returns the number written."""
    imported_at = now or datetime.now(UTC).replace(tzinfo=None)
    rows = [_row(v, imported_at) for v in values]
    if isinstance(target, Store):
        with target.atomic() as conn:
            _upsert(conn, rows)
    else:
        _upsert(target, rows)
    return len(rows)


def _row(value: SignalValue, imported_at: datetime) -> dict[str, Any]:
    dims = json.dumps(dict(value.dims), sort_keys=True)
    return {
        "feed": value.feed,
        "country": value.country,
        "metric": value.metric,
        "period": value.period,
        "period_start": value.period_start,
        "value": value.value,
        "dims": dims,
        "dims_key": dims[:400],
        "source_file": value.source_file,
        "imported_at": imported_at,
    }


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(rows), _BATCH):
        stmt = insert(signal_values).values(rows[start : start + _BATCH])
        stmt = stmt.on_conflict_do_update(
            index_elements=_KEY,
            set_={
                "value": stmt.excluded.value,
                "source_file": stmt.excluded.source_file,
                "imported_at": stmt.excluded.imported_at,
            },
        )
        conn.execute(stmt)


def delete_signal_values(
    conn: Connection, *, feed: str, metrics: Sequence[str], days: Iterable[date]
) -> int:
    """Delete the daily values of ``feed``'s ``metrics`` starting on ``days`` (for a source
    that recounts whole days, so that a count that fell to nothing does not linger)."""
    s = signal_values.c
    wanted = sorted(set(days))
    removed = 0
    for start in range(0, len(wanted), 500):
        result = conn.execute(
            delete(signal_values).where(
                s.feed == feed,
                s.metric.in_(list(metrics)),
                s.period == "day",
                s.period_start.in_(wanted[start : start + 500]),
            )
        )
        removed += int(result.rowcount or 0)
    return removed


def signal_values_of(
    store: Store,
    metric: str,
    *,
    countries: Sequence[str] | None = None,
    where: Mapping[str, str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[StoredSignalValue]:
    """The stored values of ``metric``: of ``countries`` (ISO codes, any case) when given,
    whose dimensions match ``where`` (e.g. ``{"age_band": "13-15"}``), starting between
    ``start`` and ``end`` (both inclusive)."""
    s = signal_values.c
    query = select(s.country, s.period, s.period_start, s.value, s.dims).where(s.metric == metric)
    if countries:
        query = query.where(s.country.in_([c.upper() for c in countries]))
    if start is not None:
        query = query.where(s.period_start >= start)
    if end is not None:
        query = query.where(s.period_start <= end)
    out = []
    with store.read() as conn:
        for row in conn.execute(query):
            dims = json.loads(row.dims)
            if where and any(dims.get(k) != v for k, v in where.items()):
                continue
            out.append(
                StoredSignalValue(row.country, row.period, row.period_start, row.value, dims)
            )
    return out


def signal_dimensions(store: Store, metric: str) -> list[dict[str, str]]:
    """Each distinct set of dimensions the values of ``metric`` carry."""
    s = signal_values.c
    with store.read() as conn:
        found = conn.execute(select(s.dims).where(s.metric == metric).distinct()).scalars()
        return [json.loads(d) for d in sorted(found)]


def signal_summary(store: Store) -> list[dict[str, Any]]:
    """Each stored feed, metric, country and period with its number of values (``values``),
    first and last period start (``first``, ``last``) and sum (``total``)."""
    s = signal_values.c
    query = (
        select(
            s.feed,
            s.metric,
            s.country,
            s.period,
            func.count().label("values"),
            func.min(s.period_start).label("first"),
            func.max(s.period_start).label("last"),
            func.sum(s.value).label("total"),
        )
        .group_by(s.feed, s.metric, s.country, s.period)
        .order_by(s.feed, s.metric, s.country)
    )
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
