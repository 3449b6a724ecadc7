"""The event calendar: dated events per country (lockdowns, school closures, your own).

Shipped with tipwatch: each country's 2020 school-closure and stay-at-home dates and its daily
stringency, from the Oxford COVID-19 Government Response Tracker (OxCGRT, CC BY 4.0; see
``tipwatch/data/ATTRIBUTION.md``). The shipped kinds are

* ``stay-at-home``: first day staying at home was required in the whole country (C6 >= 2,
  OxCGRT's "general" flag): the **national** order;
* ``stay-at-home-regional``: first day it was required anywhere in the country, a region or
  all of it (C6 >= 2, targeted or general): Italy's 23 February 2020 measures in Lombardy and
  Veneto, where ``stay-at-home`` is its national order of 10 March;
* ``stay-at-home-recommended``: first day it was recommended (C6 >= 1; OxCGRT's first dates
  do not say whether nationally);
* ``school-closure``: first day school closing was required in the whole country (C1 >= 2,
  general); ``school-closure-regional``: first day anywhere (targeted or general).

Countries that never required staying at home (Sweden, Norway, Iceland in the first half of
2020) have no such event, and some (Germany, the United States) required it only regionally.
:func:`choose_events` gives each country the event an analysis counts from, falling back along
:data:`EVENT_FALLBACKS` when the country has no event of the kind asked for, and says so.

Users add their own events (``tipwatch events add|import``); they are kept in the store.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from tipwatch.countries import alpha3_to_alpha2, require_country
from tipwatch.errors import InputError
from tipwatch.store import Store
from tipwatch.store.schema import events as events_table

__all__ = [
    "EVENT_FALLBACKS",
    "OXCGRT_CREDIT",
    "ChosenEvent",
    "Event",
    "add_event",
    "choose_events",
    "event_name",
    "first_events",
    "import_events",
    "list_events",
    "shipped_events",
    "stringency",
]

OXCGRT_CREDIT = (
    "Oxford COVID-19 Government Response Tracker, Blavatnik School of Government, University "
    "of Oxford (CC BY 4.0)"
)

_SHIPPED_KINDS = {
    "school-closure": (
        "c1_first_ge2_general",
        "schools required to close in the whole country (OxCGRT C1 >= 2, general)",
    ),
    "school-closure-regional": (
        "c1_first_ge2",
        "schools required to close somewhere in the country (OxCGRT C1 >= 2)",
    ),
    "stay-at-home": (
        "c6_first_ge2_general",
        "staying at home required in the whole country (OxCGRT C6 >= 2, general)",
    ),
    "stay-at-home-regional": (
        "c6_first_ge2",
        "staying at home required somewhere in the country (OxCGRT C6 >= 2)",
    ),
    "stay-at-home-recommended": ("c6_first_ge1", "staying at home recommended (OxCGRT C6 >= 1)"),
}


EVENT_NAMES = {
    "stay-at-home": "stay-at-home order",
    "stay-at-home-regional": "first regional stay-at-home order",
    "stay-at-home-recommended": "stay-at-home recommendation",
    "school-closure": "school closures",
    "school-closure-regional": "first regional school closures",
}

EVENT_FALLBACKS = (
    "stay-at-home",
    "stay-at-home-regional",
    "stay-at-home-recommended",
    "school-closure",
    "school-closure-regional",
)
"""The documented order of event kinds: a country without the kind asked for counts from the
next kind it has (a national order before the same order in a region only)."""


def event_name(kind: str) -> str:
    """How a sentence names an event kind (``stay-at-home`` -> ``stay-at-home order``)."""
    return EVENT_NAMES.get(kind, kind.replace("-", " "))


@dataclass(frozen=True, slots=True)
class Event:
    country: str
    date: date
    kind: str
    label: str
    source: str


def first_events(events: Iterable[Event], kind: str) -> dict[str, Event]:
    """Each country's first event of ``kind``: the date its own analyses count from."""
    first: dict[str, Event] = {}
    for e in sorted(events, key=lambda e: e.date):
        if e.kind == kind:
            first.setdefault(e.country, e)
    return first


@dataclass(frozen=True, slots=True)
class ChosenEvent:
    """The event a country's analyses count from, and why when it is not the kind asked for."""

    event: Event
    requested: str

    @property
    def fallback(self) -> bool:
        return self.event.kind != self.requested

    def note(self) -> str | None:
        """The sentence that says a fallback was used (``None`` when none was)."""
        if not self.fallback:
            return None
        return (
            f"{self.event.country}: no {event_name(self.requested)} in the calendar; measured "
            f"from its {event_name(self.event.kind)} ({self.event.date:%d %b %Y}) instead"
        )


def choose_events(
    events: Iterable[Event], kind: str, *, fallback: bool = True
) -> dict[str, ChosenEvent]:
    """Each country's event of ``kind`` (its first), or, with ``fallback`` and ``kind`` one of
    :data:`EVENT_FALLBACKS`, its first event of the next kind in that order that it has."""
    events = list(events)
    chain = [kind]
    if fallback and kind in EVENT_FALLBACKS:
        chain = list(EVENT_FALLBACKS[EVENT_FALLBACKS.index(kind) :])
    out: dict[str, ChosenEvent] = {}
    for each in chain:
        for country, event in first_events(events, each).items():
            out.setdefault(country, ChosenEvent(event, kind))
    return out


def _data(name: str) -> str:
    return (resources.files("tipwatch") / "data" / name).read_text(encoding="utf-8")


@cache
def shipped_events() -> tuple[Event, ...]:
    """The OxCGRT 2020 events of the 32 countries shipped with tipwatch."""
    out: list[Event] = []
    for row in csv.DictReader(io.StringIO(_data("oxcgrt_lockdown_dates_2020.csv"))):
        country = alpha3_to_alpha2(row["iso3"])
        if country is None:
            continue
        for kind, (column, label) in _SHIPPED_KINDS.items():
            if row.get(column):
                out.append(Event(country, date.fromisoformat(row[column]), kind, label, "OxCGRT"))
    return tuple(out)


@cache
def stringency() -> dict[str, dict[date, float]]:
    """Daily OxCGRT stringency (0-100) by country, 1 February to 30 June 2020."""
    out: dict[str, dict[date, float]] = {}
    name = "oxcgrt_stringency_daily_2020-02-01_2020-06-30.csv"
    for row in csv.DictReader(io.StringIO(_data(name))):
        country = alpha3_to_alpha2(row["iso3"])
        if country and row["stringency_index"]:
            out.setdefault(country, {})[date.fromisoformat(row["date"])] = float(
                row["stringency_index"]
            )
    return out


def _kind(value: str, where: str) -> str:
    kind = value.strip().lower()
    if not kind or len(kind) > 60 or not all(c.isalnum() or c in "-_" for c in kind):
        raise InputError(f"{where}: event kind must be a short name such as stay-at-home")
    return kind


def add_event(
    store: Store, country: str, day: date, kind: str, label: str = "", source: str = "user"
) -> Event:
    """Add (or replace) one event of the store's calendar."""
    event = Event(require_country(country, "country"), day, _kind(kind, "kind"), label, source)
    _upsert(store, [event])
    return event


def _upsert(store: Store, items: list[Event]) -> None:
    if not items:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "country": e.country,
            "date": e.date,
            "kind": e.kind,
            "label": e.label,
            "source": e.source,
            "created_at": now,
        }
        for e in items
    ]
    insert = postgresql.insert if store.dialect == "postgresql" else sqlite.insert
    stmt = insert(events_table).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["country", "date", "kind"],
        set_={"label": stmt.excluded.label, "source": stmt.excluded.source},
    )
    with store.atomic() as conn:
        conn.execute(stmt)


def import_events(store: Store, path: Path) -> tuple[int, list[str]]:
    """Events from a CSV file with columns ``country,date,kind`` (and optional ``label``,
    ``source``). Returns (events stored, problems); a bad row is reported with its line and
    the others are stored."""
    problems: list[str] = []
    good: list[Event] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = {"country", "date", "kind"} - set(reader.fieldnames or [])
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    for line, row in enumerate(reader, start=2):
        where = f"{path}, line {line}"
        try:
            day = date.fromisoformat((row.get("date") or "").strip())
        except ValueError:
            problems.append(f"{where}: date must be YYYY-MM-DD, got {row.get('date')!r}")
            continue
        try:
            good.append(
                Event(
                    require_country(row.get("country") or "", where),
                    day,
                    _kind(row.get("kind") or "", where),
                    (row.get("label") or "").strip(),
                    (row.get("source") or str(path.name)).strip(),
                )
            )
        except InputError as exc:
            problems.append(str(exc))
    _upsert(store, good)
    return len(good), problems


def list_events(
    store: Store | None = None,
    *,
    country: str | None = None,
    kind: str | None = None,
    shipped: bool = True,
) -> list[Event]:
    """The calendar: shipped events and the store's own, by country and date. A user's event
    of the same country and kind replaces the shipped one."""
    own: list[Event] = []
    if store is not None:
        e = events_table.c
        with store.read() as conn:
            own = [
                Event(r.country, r.date, r.kind, r.label or "", r.source or "")
                for r in conn.execute(select(events_table).order_by(e.country, e.date))
            ]
    overridden = {(x.country, x.kind) for x in own}
    merged = (
        [x for x in shipped_events() if (x.country, x.kind) not in overridden] if shipped else []
    )
    merged += own
    if country:
        merged = [x for x in merged if x.country == country.upper()]
    if kind:
        merged = [x for x in merged if x.kind == kind]
    return sorted(merged, key=lambda x: (x.country, x.date, x.kind))
