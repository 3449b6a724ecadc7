"""What the audit log says was done to one object, read by action.

The audit log lists every read as well as every change, so reads far outnumber the changes
to any one case. Looking a referral's history up by the few actions that change a case (an
equality on the indexed action column) reads those entries only, however many views and
queue reads the log holds; a scan for the object's id over the whole log grows with the log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, select

from tipwatch.store.schema import audit_events

__all__ = ["action_events", "object_events"]


def object_events(
    conn: Connection, object_id: str, actions: Sequence[str], *, limit: int = 200
) -> list[dict[str, Any]]:
    """Successful audit entries of ``actions`` that name ``object_id``, newest first."""
    c = audit_events.c
    quoted = json.dumps(str(object_id))
    needle = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # No ORDER BY in SQL: ordering by id would lead the planner to walk the whole log by its
    # key instead of the action index; the few entries found are ordered here.
    found = conn.execute(
        select(c.id, c.at, c.actor, c.role, c.action, c.detail).where(
            c.action.in_(list(actions)),
            c.outcome == "ok",
            c.object_ids.like(f"%{needle}%", escape="\\"),
        )
    ).all()
    rows = sorted(found, key=lambda r: -int(r.id))
    return [
        {
            "id": r.id,
            "at": r.at.replace(tzinfo=UTC),
            "actor": r.actor,
            "role": r.role,
            "action": r.action,
            "detail": r.detail,
        }
        for r in rows[:limit]
    ]


def action_events(conn: Connection, action: str, *, limit: int = 5000) -> list[dict[str, Any]]:
    """The latest successful audit entries of one action (through the action index), newest
    first, with the ids each names."""
    c = audit_events.c
    found = conn.execute(
        select(c.id, c.at, c.actor, c.object_ids, c.detail)
        .where(c.action == action, c.outcome == "ok")
        .order_by(c.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "at": r.at.replace(tzinfo=UTC),
            "actor": r.actor,
            "object_ids": json.loads(r.object_ids),
            "detail": r.detail,
        }
        for r in found
    ]
