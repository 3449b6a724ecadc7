"""Audit services: read the log and verify its chain. Reading the log is itself audited."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.store.audit import AuditRecord, AuditVerification

__all__ = ["list_events", "verify"]


def list_events(
    store: Store,
    actor: Actor,
    *,
    who: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 100,
) -> list[AuditRecord]:
    from tipwatch.store.audit import list_events as _list

    with unit(store, actor, "audit.read", object_type="audit", writes=False) as work:
        found = _list(
            store,
            actor=who,
            action=action,
            object_type=object_type,
            object_id=object_id,
            since=since,
            until=until,
            limit=limit,
        )
        work.detail = f"{len(found)} listed"
    return found


def verify(store: Store, actor: Actor) -> AuditVerification:
    """Check every entry's hash and the chain between them; the first bad entry is named."""
    from tipwatch.store.audit import verify_chain

    with unit(store, actor, "audit.verify", object_type="audit", writes=False) as work:
        result = verify_chain(store)
        work.detail = "chain intact" if result.ok else f"chain broken: {result.problem}"
    return result
