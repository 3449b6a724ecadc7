"""Flood quarantine: an entry whose match rate jumps far above its history is held for review.

A hash of a common logo or a blank frame slipped into a list matches everything. Each day's
matches per entry are counted (``entry_match_counts``); when an entry's matches in one day
reach ``factor`` times its average day over the previous ``history_days`` days (and at least
``min_matches``), the entry is *held*: it takes no part in matching until a reviewer releases
it (it matches again, and is not held again that day) or retires it. Each hold is recorded
with its figures (``entry_holds``): that record is the alert.

Matching stored referrals counts and checks in the transaction that stores each batch's
matches. Matching media or a hash file stores no match: :class:`FloodCounter` counts their
block-list matches (every file matched counts, as nothing tells a file seen before) and checks
for floods every few hundred files and at the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from tipwatch.errors import ConflictError, NotFoundError
from tipwatch.store.bulk import chunks
from tipwatch.store.database import Store
from tipwatch.store.schema import entry_holds, entry_match_counts, hash_entries, hash_lists

__all__ = [
    "FloodCounter",
    "FloodRule",
    "check_floods",
    "count_and_hold",
    "holds",
    "record_matches",
    "review_hold",
]


@dataclass(frozen=True, slots=True)
class FloodRule:
    factor: float = 20.0
    min_matches: int = 50
    history_days: int = 28


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record_matches(conn: Connection, counts: Mapping[int, int], day: date) -> None:
    """Add ``counts`` (entry id -> matches) to the entries' counts of ``day``."""
    if not counts:
        return
    c = entry_match_counts.c
    ids = sorted(counts)
    known: dict[int, int] = {}
    for part in chunks(ids):
        for r in conn.execute(
            select(c.entry_id, c.matches).where(c.day == day, c.entry_id.in_(part))
        ):
            known[r.entry_id] = r.matches
    fresh = [{"entry_id": i, "day": day, "matches": counts[i]} for i in ids if i not in known]
    if fresh:
        conn.execute(insert(entry_match_counts), fresh)
    for i in ids:
        if i in known:
            conn.execute(
                update(entry_match_counts)
                .where(c.entry_id == i, c.day == day)
                .values(matches=known[i] + counts[i])
            )


def _touch_list(conn: Connection, list_id: int, now: datetime) -> None:
    """Mark the list changed, so that in-memory indexes of other processes (an API server's)
    see a hold or its release at their next check instead of at the list's next version."""
    conn.execute(update(hash_lists).where(hash_lists.c.id == list_id).values(updated_at=now))


def check_floods(
    conn: Connection, entry_ids: list[int], day: date, rule: FloodRule
) -> list[dict[str, Any]]:
    """Hold the entries of ``entry_ids`` whose matches on ``day`` are a flood; returns the
    holds made (entry id, list, matches, baseline)."""
    if not entry_ids:
        return []
    c, e, h = entry_match_counts.c, hash_entries.c, entry_holds.c
    first = day - timedelta(days=rule.history_days)
    today: dict[int, int] = {}
    history: dict[int, int] = {}
    for part in chunks(sorted(set(entry_ids))):
        for count in conn.execute(
            select(c.entry_id, c.matches).where(c.day == day, c.entry_id.in_(part))
        ):
            today[count.entry_id] = count.matches
    # Only an entry with at least ``min_matches`` today can be a flood: the history of the
    # others is not read (most checks, one per match request, stop here).
    busy = sorted(i for i, n in today.items() if n >= rule.min_matches)
    for part in chunks(busy):
        for past in conn.execute(
            select(c.entry_id, func.sum(c.matches))
            .where(c.day >= first, c.day < day, c.entry_id.in_(part))
            .group_by(c.entry_id)
        ):
            history[past[0]] = int(past[1] or 0)
    candidates = [
        i
        for i, n in today.items()
        if n >= rule.min_matches
        and n >= rule.factor * max(history.get(i, 0) / rule.history_days, 1.0)
    ]
    if not candidates:
        return []
    start = datetime.combine(day, datetime.min.time())
    spared = {
        released.entry_id
        for released in conn.execute(
            select(h.entry_id).where(
                h.entry_id.in_(candidates), h.released_at.is_not(None), h.released_at >= start
            )
        )
    }
    rows = conn.execute(
        select(e.id, e.list_id, e.algorithm, e.value, hash_lists.c.name)
        .join(hash_lists, hash_lists.c.id == e.list_id)
        .where(e.id.in_(candidates), e.held_at.is_(None), e.retired_version.is_(None))
    ).all()
    now = _now()
    made: list[dict[str, Any]] = []
    for r in rows:
        if r.id in spared:
            continue
        baseline = history.get(r.id, 0) / rule.history_days
        reason = (
            f"{today[r.id]} matches on {day.isoformat()} against {baseline:.1f} a day over "
            f"the {rule.history_days} days before"
        )
        conn.execute(
            update(hash_entries).where(e.id == r.id).values(held_at=now, held_reason=reason)
        )
        hold_id = conn.execute(
            insert(entry_holds)
            .values(
                entry_id=r.id,
                list_id=r.list_id,
                held_at=now,
                reason=reason,
                matches=today[r.id],
                baseline=baseline,
            )
            .returning(h.id)
        ).scalar_one()
        _touch_list(conn, r.list_id, now)
        made.append(
            {
                "hold": int(hold_id),
                "entry_id": int(r.id),
                "list": r.name,
                "algorithm": r.algorithm,
                "value": r.value,
                "matches": today[r.id],
                "baseline": round(baseline, 2),
                "reason": reason,
            }
        )
    return made


def count_and_hold(
    conn: Connection, counts: Mapping[int, int], day: date, rule: FloodRule | None
) -> list[dict[str, Any]]:
    """Record ``counts`` (matches per entry) towards ``day`` and, with a ``rule``, hold the
    floods among those entries; the holds made. Every way of matching ends here."""
    if not counts:
        return []
    record_matches(conn, counts, day)
    return check_floods(conn, list(counts), day, rule) if rule is not None else []


class FloodCounter:
    """Counts a run's matches per entry towards the entries' day and, with a ``rule``, holds
    the floods: every ``every`` files (and at :meth:`flush`), in one transaction.

    ``held_ids`` are the entries held during the run: a matcher that cannot see the store's
    holds (a worker's snapshot) has their hits dropped by the caller; ``held`` the holds made
    (the alerts)."""

    def __init__(
        self, store: Store, rule: FloodRule | None, day: date | None = None, *, every: int = 500
    ) -> None:
        self.store = store
        self.rule = rule
        self.day = day or datetime.now(UTC).date()
        self.every = every
        self.held_ids: set[int] = set()
        self.held: list[dict[str, Any]] = []
        self._counts: dict[int, int] = {}
        self._files = 0

    def add(self, entry_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Count one file's matched (block-list) entries, each once; the holds made when this
        file completes a round of ``every`` files (else none)."""
        for entry_id in set(entry_ids):
            self._counts[entry_id] = self._counts.get(entry_id, 0) + 1
        self._files += 1
        return self.flush() if self._files >= self.every else []

    def flush(self) -> list[dict[str, Any]]:
        """Record the counts so far and hold the floods among their entries; the holds made."""
        counts, self._counts, self._files = self._counts, {}, 0
        if not counts:
            return []
        with self.store.atomic() as conn:
            made = count_and_hold(conn, counts, self.day, self.rule)
        self.held.extend(made)
        self.held_ids.update(h["entry_id"] for h in made)
        return made


def holds(conn: Connection, *, open_only: bool = True) -> list[dict[str, Any]]:
    """The holds (the open ones by default), newest first."""
    h, e = entry_holds.c, hash_entries.c
    query = (
        select(entry_holds, e.algorithm, e.value, e.entry_key, hash_lists.c.name)
        .join(hash_entries, e.id == h.entry_id)
        .join(hash_lists, hash_lists.c.id == h.list_id)
        .order_by(h.id.desc())
    )
    if open_only:
        query = query.where(h.released_at.is_(None))
    return [
        {
            "hold": r.id,
            "list": r.name,
            "entry_id": r.entry_id,
            "entry_key": r.entry_key,
            "algorithm": r.algorithm,
            "value": r.value,
            "held_at": r.held_at.replace(tzinfo=UTC).isoformat(),
            "reason": r.reason,
            "matches": r.matches,
            "baseline": r.baseline,
            "decision": r.decision,
            "released_by": r.released_by,
        }
        for r in conn.execute(query)
    ]


def review_hold(conn: Connection, hold_id: int, *, by: str, retire: bool) -> dict[str, Any]:
    """Close a hold: the entry matches again (``retire=False``) or is retired."""
    h, e = entry_holds.c, hash_entries.c
    row = conn.execute(select(entry_holds).where(h.id == hold_id)).first()
    if row is None:
        raise NotFoundError(f"no hold {hold_id}")
    if row.released_at is not None:
        raise ConflictError(f"hold {hold_id} was already reviewed ({row.decision})")
    now = _now()
    decision = "retired" if retire else "released"
    values: dict[str, Any] = {"held_at": None, "held_reason": None}
    if retire:
        values["retired_version"] = f"retired on review {now.date().isoformat()}"
    conn.execute(update(hash_entries).where(e.id == row.entry_id).values(**values))
    _touch_list(conn, row.list_id, now)
    conn.execute(
        update(entry_holds)
        .where(h.id == hold_id)
        .values(released_at=now, released_by=by, decision=decision)
    )
    return {"hold": hold_id, "entry_id": row.entry_id, "decision": decision}
