"""Votes back to an exchange (NCMEC feedback, StopNCII feedback, ThreatExchange reactions),
under a two-person rule: one user proposes, a second approves, and only then is it sent.

A vote is ``proposed``; a second user ``rejects`` it or approves it, and it is then ``sent``
(with the exchange's answer) or ``failed`` (with the reason; a write is never retried, since it
might have been applied: a failed vote can be proposed again).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tipwatch.errors import ConfigError, ConflictError, NotFoundError
from tipwatch.store.schema import exchange_votes, hash_entries, hash_lists

__all__ = ["VOTES", "decide", "propose", "record_outcome", "vote_row", "votes"]

VOTES: dict[str, tuple[str, ...]] = {
    "ncmec": ("affirmative", "negative"),
    "stopncii": ("Blocked", "NotBlocked", "PendingReview", "QualityUnknown", "None"),
    "threatexchange": ("HELPFUL", "NOT_HELPFUL", "OUTDATED", "SAW_THIS_TOO", "WANT_MORE_INFO"),
}
"""The votes each exchange takes."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def propose(
    conn: Connection, list_name: str, entry_key: str, vote: str, reason: str | None, by: str
) -> int:
    """Record a proposed vote on the entry ``entry_key`` of ``list_name``; returns its id."""
    row = conn.execute(select(hash_lists).where(hash_lists.c.name == list_name)).first()
    if row is None:
        raise NotFoundError(f"no hash list named {list_name!r}")
    if not row.connector:
        raise ConfigError(f"list {list_name!r} is not fed by an exchange: there is no one to tell")
    allowed = VOTES.get(row.connector, ())
    if vote not in allowed:
        raise ConfigError(f"a vote to {row.connector} is one of {', '.join(allowed)}, not {vote!r}")
    e = hash_entries.c
    known = conn.execute(
        select(e.id).where(e.list_id == row.id, e.entry_key == entry_key).limit(1)
    ).first()
    if known is None:
        raise NotFoundError(f"list {list_name!r} has no entry {entry_key!r}")
    return int(
        conn.execute(
            insert(exchange_votes)
            .values(
                list_id=row.id,
                entry_key=entry_key,
                vote=vote,
                reason=reason,
                proposed_by=by,
                proposed_at=_now(),
                status="proposed",
            )
            .returning(exchange_votes.c.id)
        ).scalar_one()
    )


def vote_row(conn: Connection, vote_id: int) -> dict[str, Any]:
    v = exchange_votes.c
    row = conn.execute(
        select(
            exchange_votes, hash_lists.c.name, hash_lists.c.connector, hash_lists.c.connector_config
        )
        .join(hash_lists, hash_lists.c.id == v.list_id)
        .where(v.id == vote_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no vote {vote_id}")
    out = dict(row._mapping)
    out["connector_config"] = json.loads(out["connector_config"] or "{}")
    return out


def decide(conn: Connection, vote_id: int, *, by: str, approve: bool) -> dict[str, Any]:
    """Approve or reject a proposed vote. The proposer may not decide their own: the caller
    checks that (it knows the actor) before calling; here only the state is checked."""
    row = vote_row(conn, vote_id)
    if row["status"] != "proposed":
        raise ConflictError(f"vote {vote_id} is {row['status']}, not waiting for approval")
    status = "approved" if approve else "rejected"
    conn.execute(
        update(exchange_votes)
        .where(exchange_votes.c.id == vote_id)
        .values(status=status, approved_by=by, approved_at=_now())
    )
    row.update(status=status, approved_by=by)
    return row


def record_outcome(conn: Connection, vote_id: int, *, sent: bool, response: str) -> None:
    conn.execute(
        update(exchange_votes)
        .where(exchange_votes.c.id == vote_id)
        .values(
            status="sent" if sent else "failed",
            sent_at=_now() if sent else None,
            response=response[:2000],
        )
    )


def votes(conn: Connection, *, list_name: str | None = None) -> list[dict[str, Any]]:
    v = exchange_votes.c
    query = (
        select(exchange_votes, hash_lists.c.name)
        .join(hash_lists, hash_lists.c.id == v.list_id)
        .order_by(v.id)
    )
    if list_name is not None:
        query = query.where(hash_lists.c.name == list_name)

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.replace(tzinfo=UTC).isoformat()

    return [
        {
            "id": r.id,
            "list": r.name,
            "entry_key": r.entry_key,
            "vote": r.vote,
            "reason": r.reason,
            "status": r.status,
            "proposed_by": r.proposed_by,
            "proposed_at": iso(r.proposed_at),
            "approved_by": r.approved_by,
            "approved_at": iso(r.approved_at),
            "sent_at": iso(r.sent_at),
            "response": r.response,
        }
        for r in conn.execute(query)
    ]
