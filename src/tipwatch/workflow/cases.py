"""Each referral's case: status, assignee, due time; notes; saved searches.

A referral without a recorded case is ``new`` and unassigned. ``closed`` and ``no_action``
need a reason. Every change raises the case's version by one; a caller that read version ``n``
may say so, and a change made since is refused (:class:`ConflictError`) rather than lost.

The due time is the time the referral was received (else ingested) plus the hours its
priority tier allows (a setting per tier); a case is overdue while it is still open
(``new`` or ``in_review``) past that time. A referral not yet triaged has no tier, so no due
time.

Notes belong to a referral or a link group; an edit is a new version of the note, never a
change in place, so what was written and when stays readable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from tipwatch.errors import ConflictError, InputError, NotFoundError
from tipwatch.store.schema import (
    case_states,
    link_groups,
    notes,
    priorities,
    referrals,
    saved_searches,
)

__all__ = [
    "NOTE_OBJECTS",
    "OPEN_STATUSES",
    "REASON_STATUSES",
    "STATUSES",
    "add_note",
    "assign",
    "delete_search",
    "edit_note",
    "get_case",
    "list_cases",
    "list_notes",
    "list_searches",
    "note_object",
    "note_target",
    "save_search",
    "set_status",
]

STATUSES = ("new", "in_review", "routed", "actioned", "closed", "no_action")
"""A case's statuses, in the order work usually moves through them."""
REASON_STATUSES = frozenset({"closed", "no_action"})
"""Statuses that need a reason."""
OPEN_STATUSES = frozenset({"new", "in_review"})
"""Statuses in which a case can be overdue."""
NOTE_OBJECTS = ("referral", "group")
MAX_NOTE = 20_000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _referral(conn: Connection, report_id: str) -> Any:
    r, p = referrals.c, priorities.c
    row = conn.execute(
        select(r.report_id, r.received_at, r.ingested_at, p.tier)
        .outerjoin(priorities, p.report_id == r.report_id)
        .where(r.report_id == report_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no referral with report id {report_id!r}")
    return row


def _case(ref: Any, state: Any, due_hours: Mapping[str, float], now: datetime) -> dict[str, Any]:
    status = state.status if state is not None else "new"
    base = ref.received_at or ref.ingested_at
    due = (
        base + timedelta(hours=due_hours[ref.tier])
        if ref.tier in due_hours and base is not None
        else None
    )
    return {
        "report_id": ref.report_id,
        "status": status,
        "reason": state.reason if state is not None else None,
        "assignee": state.assignee if state is not None else None,
        "version": state.version if state is not None else 0,
        "updated_by": state.updated_by if state is not None else None,
        "updated_at": state.updated_at if state is not None else None,
        "tier": ref.tier,
        "due_at": due,
        "overdue": bool(due is not None and status in OPEN_STATUSES and now > due),
    }


def get_case(conn: Connection, report_id: str, *, due_hours: Mapping[str, float]) -> dict[str, Any]:
    ref = _referral(conn, report_id)
    state = conn.execute(select(case_states).where(case_states.c.report_id == report_id)).first()
    return _case(ref, state, due_hours, _now())


def _change(
    conn: Connection,
    report_id: str,
    by: str,
    expected_version: int | None,
    due_hours: Mapping[str, float],
    **values: Any,
) -> dict[str, Any]:
    current = get_case(conn, report_id, due_hours=due_hours)
    if expected_version is not None and expected_version != current["version"]:
        raise ConflictError(
            f"the case of {report_id} changed since it was read (version "
            f"{current['version']}, not {expected_version})",
            hint="read it again and repeat the change if it still applies",
        )
    now = _now()
    row = {"updated_by": by, "updated_at": now, "version": current["version"] + 1, **values}
    if current["version"] == 0:
        base = {"status": "new", "reason": None, "assignee": None}
        conn.execute(insert(case_states).values(report_id=report_id, **{**base, **row}))
    else:
        updated = conn.execute(
            update(case_states)
            .where(
                case_states.c.report_id == report_id,
                case_states.c.version == current["version"],
            )
            .values(**row)
        )
        if updated.rowcount != 1:
            raise ConflictError(f"the case of {report_id} changed while it was being changed")
    return get_case(conn, report_id, due_hours=due_hours)


def set_status(
    conn: Connection,
    report_id: str,
    status: str,
    *,
    by: str,
    reason: str | None = None,
    expected_version: int | None = None,
    due_hours: Mapping[str, float],
) -> dict[str, Any]:
    if status not in STATUSES:
        raise InputError(f"a case status is one of {', '.join(STATUSES)}, not {status!r}")
    reason = (reason or "").strip() or None
    if status in REASON_STATUSES and reason is None:
        raise InputError(f"a case set to {status} needs a reason")
    return _change(conn, report_id, by, expected_version, due_hours, status=status, reason=reason)


def assign(
    conn: Connection,
    report_id: str,
    assignee: str | None,
    *,
    by: str,
    only_if_free: bool = False,
    only_if_mine: bool = False,
    expected_version: int | None = None,
    due_hours: Mapping[str, float],
) -> dict[str, Any]:
    """Set (or with ``None`` clear) the assignee. ``only_if_free``: a claim, refused when
    someone else holds the case; ``only_if_mine``: a release, refused unless ``by`` holds it."""
    current = get_case(conn, report_id, due_hours=due_hours)
    holder = current["assignee"]
    if only_if_free and holder not in (None, assignee):
        raise ConflictError(
            f"{report_id} is assigned to {holder}", hint="ask them, or a lead, to reassign it"
        )
    if only_if_mine and holder != by:
        raise ConflictError(
            f"{report_id} is not assigned to {by}"
            + (f" but to {holder}" if holder else " (nor to anyone)")
        )
    return _change(conn, report_id, by, expected_version, due_hours, assignee=assignee)


def list_cases(
    conn: Connection,
    *,
    due_hours: Mapping[str, float],
    assignee: str | None = None,
    statuses: Sequence[str] = (),
    overdue: bool | None = None,
    report_ids: Sequence[str] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Cases with a recorded state (claimed, assigned or moved on), newest change first;
    ``overdue`` filters on the flag after the query."""
    c, r, p = case_states.c, referrals.c, priorities.c
    query = (
        select(r.report_id, r.received_at, r.ingested_at, p.tier, case_states)
        .join(referrals, r.report_id == c.report_id)
        .outerjoin(priorities, p.report_id == c.report_id)
    )
    if assignee is not None:
        query = query.where(c.assignee == assignee)
    if statuses:
        query = query.where(c.status.in_(list(statuses)))
    if report_ids is not None:
        query = query.where(c.report_id.in_(list(report_ids)))
    now = _now()
    out = []
    for row in conn.execute(query.order_by(c.updated_at.desc(), c.report_id)):
        case = _case(row, row, due_hours, now)
        if overdue is None or case["overdue"] == overdue:
            out.append(case)
        if len(out) >= limit:
            break
    return out


def note_object(conn: Connection, object_type: str, object_id: str) -> None:
    """Refuse a note on an object that does not exist."""
    if object_type == "referral":
        _referral(conn, object_id)
    elif object_type == "group":
        try:
            gid = int(object_id)
        except ValueError:
            raise NotFoundError(f"no link group {object_id!r}") from None
        if conn.execute(select(link_groups.c.id).where(link_groups.c.id == gid)).first() is None:
            raise NotFoundError(f"no link group {object_id!r}")
    else:
        raise InputError(f"a note is on a {' or a '.join(NOTE_OBJECTS)}, not {object_type!r}")


def _note_dict(row: Any) -> dict[str, Any]:
    return {
        "note_id": row.note_key,
        "version": row.version,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "author": row.author,
        "body": row.body,
        "created_at": row.created_at,
    }


def _body(body: str) -> str:
    text = body.strip()
    if not text:
        raise InputError("a note has some text")
    if len(text) > MAX_NOTE:
        raise InputError(f"a note has at most {MAX_NOTE:,} characters, not {len(text):,}")
    return text


def add_note(
    conn: Connection, object_type: str, object_id: str, body: str, *, author: str
) -> dict[str, Any]:
    note_object(conn, object_type, object_id)
    row = {
        "note_key": str(uuid.uuid4()),
        "version": 1,
        "object_type": object_type,
        "object_id": object_id,
        "author": author,
        "body": _body(body),
        "created_at": _now(),
    }
    conn.execute(insert(notes).values(**row))
    return _note_dict(SimpleNamespace(**row))


def _latest(conn: Connection, note_key: str) -> Any:
    row = conn.execute(
        select(notes).where(notes.c.note_key == note_key).order_by(notes.c.version.desc())
    ).first()
    if row is None:
        raise NotFoundError(f"no note {note_key!r}")
    return row


def note_target(conn: Connection, note_key: str) -> tuple[str, str, str]:
    """(object type, object id, first author) of a note."""
    row = _latest(conn, note_key)
    first = conn.execute(
        select(notes.c.author).where(notes.c.note_key == note_key, notes.c.version == 1)
    ).scalar_one()
    return row.object_type, row.object_id, first


def edit_note(
    conn: Connection, note_key: str, body: str, *, author: str, expected_version: int | None
) -> dict[str, Any]:
    """A new version of a note; the earlier ones stay."""
    latest = _latest(conn, note_key)
    if expected_version is not None and expected_version != latest.version:
        raise ConflictError(
            f"the note {note_key} has version {latest.version}, not {expected_version}",
            hint="read it again and repeat the edit if it still applies",
        )
    row = {
        "note_key": note_key,
        "version": latest.version + 1,
        "object_type": latest.object_type,
        "object_id": latest.object_id,
        "author": author,
        "body": _body(body),
        "created_at": _now(),
    }
    conn.execute(insert(notes).values(**row))
    return _note_dict(SimpleNamespace(**row))


def list_notes(
    conn: Connection, object_type: str, object_id: str, *, history: bool = False
) -> list[dict[str, Any]]:
    """The notes on an object, oldest first: their latest versions, or every version."""
    n = notes.c
    query = select(notes).where(n.object_type == object_type, n.object_id == object_id)
    if not history:
        newest = (
            select(n.note_key, func.max(n.version).label("v"))
            .where(n.object_type == object_type, n.object_id == object_id)
            .group_by(n.note_key)
            .subquery()
        )
        query = query.join(newest, and_(newest.c.note_key == n.note_key, newest.c.v == n.version))
    rows = conn.execute(query.order_by(n.id)).all()
    return [_note_dict(r) for r in rows]


def save_search(
    conn: Connection, owner: str, name: str, query: Mapping[str, Any]
) -> dict[str, Any]:
    """Save (or replace) ``owner``'s search called ``name``."""
    if not name.strip() or len(name) > 200:
        raise InputError("a saved search's name has 1 to 200 characters")
    s = saved_searches.c
    text = json.dumps(dict(query), sort_keys=True, default=str)
    now = _now()
    done = conn.execute(
        update(saved_searches)
        .where(s.owner == owner, s.name == name)
        .values(query=text, updated_at=now)
    )
    if not done.rowcount:
        conn.execute(
            insert(saved_searches).values(
                owner=owner, name=name, query=text, created_at=now, updated_at=now
            )
        )
    return {"owner": owner, "name": name, "query": json.loads(text), "updated_at": now}


def list_searches(conn: Connection, owner: str) -> list[dict[str, Any]]:
    s = saved_searches.c
    return [
        {
            "owner": r.owner,
            "name": r.name,
            "query": json.loads(r.query),
            "updated_at": r.updated_at,
        }
        for r in conn.execute(select(saved_searches).where(s.owner == owner).order_by(s.name))
    ]


def delete_search(conn: Connection, owner: str, name: str) -> None:
    s = saved_searches.c
    done = conn.execute(delete(saved_searches).where(s.owner == owner, s.name == name))
    if not done.rowcount:
        raise NotFoundError(f"no saved search {name!r}")
