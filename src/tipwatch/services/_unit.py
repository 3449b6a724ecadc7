"""The shape of every service call: authorise, one transaction, the audit event inside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection

from tipwatch.errors import AccessDenied, TipwatchError
from tipwatch.services.access import Actor, authorise
from tipwatch.store import Store
from tipwatch.store.audit import AuditEvent, append_event

__all__ = ["Work", "batch", "record", "unit"]


@dataclass(slots=True)
class Work:
    """What a service has done so far, for its audit event: the objects it touched and a note.

    ``conn`` is the unit's connection inside :func:`unit`; ``None`` in a :func:`batch`.
    """

    conn: Connection | None
    object_type: str | None
    object_ids: list[str] = field(default_factory=list)
    detail: str = ""


def _event(actor: Actor, action: str, work: Work, outcome: str, detail: str) -> AuditEvent:
    return AuditEvent(
        actor=actor.name,
        role=actor.role.value,
        action=action,
        object_type=work.object_type,
        object_ids=tuple(work.object_ids),
        outcome=outcome,
        detail=detail[:500],
    )


def _record_refusal(store: Store, actor: Actor, action: str, work: Work, exc: Exception) -> None:
    # A refused or failed action is recorded in a transaction of its own: the action's own
    # transaction was never begun or has been rolled back.
    outcome = "denied" if isinstance(exc, AccessDenied) else "failed"
    if store.in_transaction:
        return  # the caller's unit of work records its own outcome
    with store.atomic() as conn:
        append_event(conn, _event(actor, action, work, outcome, str(exc)))


def _authorised(store: Store, actor: Actor, action: str, work: Work) -> Work:
    """``work``, once ``actor`` may perform ``action``; a refusal is recorded and raised."""
    try:
        authorise(actor, action)
    except AccessDenied as exc:
        _record_refusal(store, actor, action, work, exc)
        raise
    return work


def require(store: Store, actor: Actor, action: str, *, object_type: str | None = None) -> None:
    """Authorise ``action`` ahead of a unit that decides later whether it writes; a refusal is
    recorded and raised as :func:`unit` does."""
    _authorised(store, actor, action, Work(None, object_type, [], ""))


@contextmanager
def unit(
    store: Store,
    actor: Actor,
    action: str,
    *,
    object_type: str | None = None,
    object_ids: Sequence[str] = (),
    detail: str = "",
    writes: bool = True,
) -> Iterator[Work]:
    """Authorise ``action``, open one transaction, and append its audit event in it.

    The block's reads and writes (through ``store.read()``/``store.atomic()`` or
    ``work.conn``) all belong to that transaction; if the block raises, nothing it wrote
    remains and the failure is audited apart.

    An action that only reads (``writes=False``) reads one snapshot and appends its event in
    a short transaction of its own as the block ends, before the service returns anything: a
    long read (an assessment, a trend analysis) must not hold SQLite's write lock, and still
    nothing read reaches the caller unless its audit event is stored.
    """
    work = _authorised(store, actor, action, Work(None, object_type, list(object_ids), detail))
    try:
        if writes or store.in_transaction:
            with store.atomic() as conn:
                work.conn = conn
                yield work
                append_event(conn, _event(actor, action, work, "ok", work.detail))
        else:
            with store.read() as conn:
                work.conn = conn
                yield work
            with store.atomic() as conn:
                append_event(conn, _event(actor, action, work, "ok", work.detail))
    except TipwatchError as exc:
        _record_refusal(store, actor, action, work, exc)
        raise
    finally:
        work.conn = None


@contextmanager
def batch(
    store: Store,
    actor: Actor,
    action: str,
    *,
    object_type: str | None = None,
    object_ids: Sequence[str] = (),
    detail: str = "",
) -> Iterator[Work]:
    """Authorise a long action that commits batch by batch (intake, the triage pass...).

    It cannot be one transaction; its audit event is appended when it ends, with the outcome:
    ``ok``, or ``failed`` with the reason (an interrupted run is recorded as failed too).
    """
    work = _authorised(store, actor, action, Work(None, object_type, list(object_ids), detail))
    store.require_autonomy(action)
    try:
        yield work
    except BaseException as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, KeyboardInterrupt):
            reason = "interrupted"
        with store.atomic() as conn:
            append_event(conn, _event(actor, action, work, "failed", reason))
        raise
    with store.atomic() as conn:
        append_event(conn, _event(actor, action, work, "ok", work.detail))


def record(
    store: Store,
    actor: Actor,
    action: str,
    *,
    outcome: str,
    detail: str = "",
    object_type: str | None = None,
    object_ids: Sequence[str] = (),
    write: Callable[[Connection], None] | None = None,
    role: str | None = None,
) -> None:
    """Append one event with the given outcome, and ``write``'s changes, in one transaction.

    For what must be kept even when the action fails: a failed login raises the account's
    failure count and is audited as ``failed`` together. ``role`` replaces the actor's role
    in the event (``unknown`` for a name that is no user).
    """
    work = Work(None, object_type, list(object_ids), detail)
    event = _event(actor, action, work, outcome, detail)
    if role is not None:
        from dataclasses import replace

        event = replace(event, role=role)
    with store.atomic() as conn:
        if write is not None:
            write(conn)
        append_event(conn, event)
