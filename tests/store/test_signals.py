"""Signal values (store.signals): written as upserts through a store or an open transaction,
read back by metric, country, dimensions and dates, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tipwatch.store import Store
from tipwatch.store.signals import (
    SignalValue,
    StoredSignalValue,
    signal_dimensions,
    signal_summary,
    signal_values_of,
    write_signal_values,
)

DAY1, DAY2 = date(2021, 1, 4), date(2021, 1, 5)


def _contacts(day: date, band: str, value: float, country: str = "NL") -> SignalValue:
    dims = {"helpline": "line-1", "age_band": band}
    return SignalValue("helpline", country, "helpline_contacts", "day", day, value, dims, "h.csv")


def test_write_read_and_replace(store: Store) -> None:
    written = write_signal_values(
        store,
        [
            _contacts(DAY1, "12-15", 10),
            _contacts(DAY1, "16-17", 20),
            _contacts(DAY2, "12-15", 11),
            _contacts(DAY2, "12-15", 4, country="BE"),
        ],
    )
    assert written == 4
    teen = signal_values_of(
        store, "helpline_contacts", countries=["nl"], where={"age_band": "12-15"}
    )
    dims = {"helpline": "line-1", "age_band": "12-15"}
    assert sorted(teen, key=lambda v: v.period_start) == [
        StoredSignalValue("NL", "day", DAY1, 10.0, dims),
        StoredSignalValue("NL", "day", DAY2, 11.0, dims),
    ]
    later = signal_values_of(store, "helpline_contacts", start=DAY2)
    assert sorted((v.country, v.value) for v in later) == [("BE", 4.0), ("NL", 11.0)]
    # The same key again replaces the value; it never adds a second row.
    write_signal_values(store, [_contacts(DAY1, "12-15", 12)])
    nl = signal_values_of(store, "helpline_contacts", countries=["NL"], end=DAY1)
    assert sorted(v.value for v in nl) == [12.0, 20.0]
    assert signal_dimensions(store, "helpline_contacts") == [
        {"age_band": "12-15", "helpline": "line-1"},
        {"age_band": "16-17", "helpline": "line-1"},
    ]
    summary = {
        (r["country"], r["metric"]): (r["values"], r["total"]) for r in signal_summary(store)
    }
    assert summary == {
        ("BE", "helpline_contacts"): (1, 4.0),
        ("NL", "helpline_contacts"): (3, 43.0),
    }


def test_writes_join_an_open_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.atomic() as conn:
        write_signal_values(conn, [_contacts(DAY1, "12-15", 10)], now=datetime(2021, 2, 1))
        assert len(signal_values_of(store, "helpline_contacts")) == 1
        raise RuntimeError("undo")
    # Written on the transaction's connection, so undone with it.
    assert signal_values_of(store, "helpline_contacts") == []
