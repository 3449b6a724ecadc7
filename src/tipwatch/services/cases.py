"""Case workflow services: a referral's status, assignee and due time; notes; saved searches.

Every change is an audited service call. A liaison officer reads the cases and notes of the
referrals routed to its country only (others are not found); it changes none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor, bound_country
from tipwatch.settings import get_settings
from tipwatch.store import Store

__all__ = [
    "CASE_STATUSES",
    "add_note",
    "assign",
    "claim",
    "delete_search",
    "edit_note",
    "latest_notes",
    "list_cases",
    "list_notes",
    "list_searches",
    "release",
    "save_search",
    "set_status",
    "show_case",
]

CASE_STATUSES = ("new", "in_review", "routed", "actioned", "closed", "no_action")
"""A case's statuses (``closed`` and ``no_action`` need a reason)."""


def _due() -> dict[str, float]:
    return get_settings().due_hours


def _visible(store: Store, actor: Actor, report_id: str) -> None:
    from tipwatch.services.referrals import require_visible

    require_visible(store, actor, [report_id])


def show_case(store: Store, actor: Actor, report_id: str) -> dict[str, Any]:
    """A referral's case: status, reason, assignee, version, tier, due time, overdue flag."""
    from tipwatch.workflow.cases import get_case

    with unit(
        store, actor, "case.read", object_type="referral", object_ids=[report_id], writes=False
    ) as work:
        _visible(store, actor, report_id)
        return get_case(work.conn, report_id, due_hours=_due())  # type: ignore[arg-type]


def list_cases(
    store: Store,
    actor: Actor,
    *,
    assignee: str | None = None,
    statuses: Sequence[str] = (),
    overdue: bool | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Cases with a recorded state, newest change first (``assignee``: someone's work)."""
    from tipwatch.errors import InputError
    from tipwatch.workflow.cases import list_cases as _list

    for status in statuses:
        if status not in CASE_STATUSES:
            raise InputError(f"a case status is one of {', '.join(CASE_STATUSES)}, not {status!r}")
    with unit(store, actor, "case.read", object_type="referral", writes=False) as work:
        cases = _list(
            work.conn,  # type: ignore[arg-type]
            due_hours=_due(),
            assignee=assignee,
            statuses=statuses,
            overdue=overdue,
            limit=limit,
        )
        country = bound_country(actor)
        if country is not None:
            from tipwatch.triage.queries import routed_to

            visible = routed_to(store, [c["report_id"] for c in cases], country)
            cases = [c for c in cases if c["report_id"] in visible]
        work.detail = f"{len(cases)} listed"
    return cases


def set_status(
    store: Store,
    actor: Actor,
    report_id: str,
    status: str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Move a case to ``status`` (``closed`` and ``no_action`` need a ``reason``)."""
    from tipwatch.workflow.cases import set_status as _set

    with unit(store, actor, "case.write", object_type="referral", object_ids=[report_id]) as work:
        case = _set(
            work.conn,  # type: ignore[arg-type]
            report_id,
            status,
            by=actor.name,
            reason=reason,
            expected_version=expected_version,
            due_hours=_due(),
        )
        work.detail = f"status {status}" + (f": {case['reason']}" if case["reason"] else "")
    return case


def claim(
    store: Store, actor: Actor, report_id: str, *, expected_version: int | None = None
) -> dict[str, Any]:
    """Take a case for oneself; refused when someone else holds it."""
    from tipwatch.workflow.cases import assign as _assign

    with unit(store, actor, "case.claim", object_type="referral", object_ids=[report_id]) as work:
        case = _assign(
            work.conn,  # type: ignore[arg-type]
            report_id,
            actor.name,
            by=actor.name,
            only_if_free=True,
            expected_version=expected_version,
            due_hours=_due(),
        )
        work.detail = "claimed"
    return case


def release(store: Store, actor: Actor, report_id: str) -> dict[str, Any]:
    """Give back a case one holds."""
    from tipwatch.workflow.cases import assign as _assign

    with unit(store, actor, "case.claim", object_type="referral", object_ids=[report_id]) as work:
        case = _assign(
            work.conn,  # type: ignore[arg-type]
            report_id,
            None,
            by=actor.name,
            only_if_mine=True,
            due_hours=_due(),
        )
        work.detail = "released"
    return case


def assign(
    store: Store,
    actor: Actor,
    report_id: str,
    assignee: str | None,
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Assign a case to ``assignee`` (a user; ``None`` leaves it unassigned)."""
    from tipwatch.workflow.cases import assign as _assign
    from tipwatch.workflow.identity import get_user

    with unit(store, actor, "case.assign", object_type="referral", object_ids=[report_id]) as work:
        if assignee is not None:
            get_user(work.conn, assignee)  # type: ignore[arg-type]
        case = _assign(
            work.conn,  # type: ignore[arg-type]
            report_id,
            assignee,
            by=actor.name,
            expected_version=expected_version,
            due_hours=_due(),
        )
        work.detail = f"assigned to {assignee}" if assignee else "unassigned"
    return case


def add_note(
    store: Store, actor: Actor, object_type: str, object_id: str, body: str
) -> dict[str, Any]:
    """Write a note on a referral or a link group."""
    from tipwatch.workflow.cases import add_note as _add

    with unit(store, actor, "note.write", object_type=object_type, object_ids=[object_id]) as w:
        if object_type == "referral":
            _visible(store, actor, object_id)
        note = _add(w.conn, object_type, object_id, body, author=actor.name)  # type: ignore[arg-type]
        w.detail = f"note {note['note_id']} version 1"
    return note


def edit_note(
    store: Store,
    actor: Actor,
    note_id: str,
    body: str,
    *,
    expected_version: int | None = None,
    of: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A new version of a note (only its author, or an administrator, may write one).

    ``of`` (object type and id): the note must be on that referral or link group, else it is
    not found there (a page that edits a group's note names the group)."""
    from tipwatch.errors import AccessDenied, NotFoundError
    from tipwatch.services.access import Role
    from tipwatch.workflow.cases import edit_note as _edit
    from tipwatch.workflow.cases import note_target

    with unit(store, actor, "note.write", object_type="note", object_ids=[note_id]) as w:
        on_type, on_id, author = note_target(w.conn, note_id)  # type: ignore[arg-type]
        if of is not None and (on_type, on_id) != tuple(of):
            raise NotFoundError(f"no note {note_id!r} on the {of[0]} {of[1]!r}")
        if author != actor.name and actor.role is not Role.ADMIN:
            raise AccessDenied(
                actor.name,
                actor.role.value,
                "note.write",
                what=f"edit a note written by {author}",
                hint="write a note of your own instead",
            )
        note = _edit(
            w.conn,  # type: ignore[arg-type]
            note_id,
            body,
            author=actor.name,
            expected_version=expected_version,
        )
        w.detail = f"version {note['version']}"
    return note


def list_notes(
    store: Store, actor: Actor, object_type: str, object_id: str, *, history: bool = False
) -> list[dict[str, Any]]:
    """The notes on a referral or link group (latest versions, or with ``history`` all)."""
    from tipwatch.workflow.cases import list_notes as _list
    from tipwatch.workflow.cases import note_object

    with unit(
        store, actor, "note.read", object_type=object_type, object_ids=[object_id], writes=False
    ) as work:
        if object_type == "referral":
            _visible(store, actor, object_id)
        elif bound_country(actor) is not None:
            from tipwatch.errors import NotFoundError

            raise NotFoundError(f"no link group {object_id!r}")
        note_object(work.conn, object_type, object_id)  # type: ignore[arg-type]
        return _list(work.conn, object_type, object_id, history=history)  # type: ignore[arg-type]


def latest_notes(versions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The latest version of each note among ``versions`` (from :func:`list_notes` with
    ``history``), oldest first: what a page shows above the full history."""
    latest: dict[str, Mapping[str, Any]] = {}
    for note in versions:
        key = note["note_id"]
        if key not in latest or note["version"] > latest[key]["version"]:
            latest[key] = note
    return sorted((dict(n) for n in latest.values()), key=lambda n: n["created_at"])


def save_search(store: Store, actor: Actor, name: str, query: Mapping[str, Any]) -> dict[str, Any]:
    """Save (or replace) one's own search under ``name``."""
    from tipwatch.workflow.cases import save_search as _save

    with unit(store, actor, "search.write", object_type="search", object_ids=[name]) as work:
        return _save(work.conn, actor.name, name, query)  # type: ignore[arg-type]


def list_searches(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.workflow.cases import list_searches as _list

    with unit(store, actor, "search.read", object_type="search", writes=False) as work:
        return _list(work.conn, actor.name)  # type: ignore[arg-type]


def delete_search(store: Store, actor: Actor, name: str) -> None:
    from tipwatch.workflow.cases import delete_search as _delete

    with unit(store, actor, "search.write", object_type="search", object_ids=[name]) as work:
        _delete(work.conn, actor.name, name)  # type: ignore[arg-type]
        work.detail = "deleted"
