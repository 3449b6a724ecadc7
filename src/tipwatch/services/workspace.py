"""Workspace services: what the analyst's pages need beyond the other services.

The worklist (triaged referrals with their case, filtered, sorted and paged), the day's
counts, the dossier page (the dossier with its case, notes and case history, read and
audited as one view), the search box's guess of what a term is, changing one's own
password, and acknowledging an alert episode. Each is authorised and audited like every
service call.

An alert acknowledgement is kept as its audit event (action ``alert.ack``, the episode as
``country:metric:start``, the note as the detail): the audit log is already the append-only
record of who did what, and the acknowledgements are read back from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor
from tipwatch.settings import get_settings
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.triage.config import TriageConfig
    from tipwatch.triage.dossier import Dossier
    from tipwatch.workflow.worklist import WorklistRow

__all__ = [
    "CASE_ACTIONS",
    "SEARCH_KINDS",
    "SORTS",
    "DossierPage",
    "WorklistQuery",
    "acknowledge_alert",
    "alert_acknowledgements",
    "change_password",
    "detect_kind",
    "dossier_page",
    "overview",
    "worklist",
]

SORTS = ("priority", "received", "incident", "due")
"""How the worklist can be ordered (see :mod:`tipwatch.workflow.worklist`)."""

CASE_ACTIONS = ("case.write", "case.claim", "case.assign", "note.write")
"""The audited actions a referral's case history lists (its routing history is the
dossier's packages)."""


@dataclass(frozen=True, slots=True)
class WorklistQuery:
    """The worklist's filters as a page or a saved search gives them (text, not yet
    checked): empty strings keep everything."""

    country: str = ""
    tier: str = ""
    status: str = ""
    assignee: str = ""
    service: str = ""
    incident_type: str = ""
    received_since: str = ""
    received_until: str = ""
    material: str = ""
    include_sent: bool = False

    @classmethod
    def of(cls, values: dict[str, Any]) -> WorklistQuery:
        """From a mapping (a saved search's query): unknown keys are ignored."""
        known = {f for f in cls.__slots__}
        kept: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known or value is None:
                continue
            kept[key] = bool(value) if key == "include_sent" else str(value)
        return cls(**kept)

    def as_dict(self) -> dict[str, str | bool]:
        return {f: getattr(self, f) for f in self.__slots__ if getattr(self, f) not in ("", False)}


def _day(value: str, name: str) -> datetime | None:
    from tipwatch.errors import InputError

    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time())
    except ValueError:
        raise InputError(f"{name} is a date as YYYY-MM-DD, not {value!r}") from None


def _filter(query: WorklistQuery) -> Any:
    from datetime import timedelta

    from tipwatch.countries import require_country_code
    from tipwatch.errors import InputError
    from tipwatch.models import IncidentType
    from tipwatch.workflow.worklist import WorklistFilter

    country: str | None = None
    if query.country:
        country = (
            "unknown" if query.country.lower() == "unknown" else require_country_code(query.country)
        )
    itype: str | None = None
    if query.incident_type:
        try:
            itype = IncidentType.parse(query.incident_type).value
        except ValueError as exc:
            raise InputError(str(exc)) from None
    until = _day(query.received_until, "received until")
    return WorklistFilter(
        country=country,
        tiers=(query.tier,) if query.tier else (),
        statuses=(query.status,) if query.status else (),
        assignee=query.assignee or None,
        service=query.service or None,
        incident_type=itype,
        received_since=_day(query.received_since, "received since"),
        received_until=until + timedelta(days=1) if until else None,
        material=query.material or None,
        include_sent=query.include_sent,
    )


def worklist(
    store: Store,
    actor: Actor,
    query: WorklistQuery,
    *,
    sort: str = "priority",
    offset: int = 0,
    limit: int = 50,
) -> list[WorklistRow]:
    """One page of triaged referrals with their case (status, assignee, due time)."""
    from tipwatch.workflow.worklist import worklist as _worklist

    flt = _filter(query)
    with unit(store, actor, "queue.read", object_type="referral", writes=False) as work:
        rows = _worklist(
            work.conn,  # type: ignore[arg-type]
            flt,
            due_hours=get_settings().due_hours,
            sort=sort,
            offset=offset,
            limit=limit,
        )
        work.detail = f"{len(rows)} listed from {offset}"
    return rows


def overview(store: Store, actor: Actor) -> dict[str, Any]:
    """The day's counts: received today and this week, open referrals per tier, cases per
    status, overdue cases per tier."""
    from tipwatch.workflow.worklist import overview_counts

    with unit(store, actor, "queue.read", object_type="referral", writes=False) as work:
        return overview_counts(work.conn, due_hours=get_settings().due_hours)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class DossierPage:
    """Everything the dossier page shows, read in one snapshot and audited as one view.

    ``case``, ``notes`` and ``history`` are ``None`` for a role that may not read them. Who
    viewed a dossier is not here: it is the audit log's ``referral.show`` entries, which the
    audit log's readers (administrators, auditors) look up there."""

    dossier: Dossier
    case: dict[str, Any] | None
    notes: list[dict[str, Any]] | None
    """Every version of every note, oldest first."""
    history: list[dict[str, Any]] | None
    """Status changes, claims, assignments and notes, newest first (from the audit log)."""


def dossier_page(
    store: Store, actor: Actor, report_id: str, *, config: TriageConfig
) -> DossierPage:
    """A referral's dossier with its case, notes and case history: one read, one audit
    event (``referral.show``)."""
    from tipwatch.services.access import may
    from tipwatch.services.referrals import require_visible
    from tipwatch.triage.dossier import load_dossier
    from tipwatch.workflow.cases import get_case, list_notes
    from tipwatch.workflow.history import object_events

    reads_case = may(actor, "case.read")
    with unit(
        store, actor, "referral.show", object_type="referral", object_ids=[report_id], writes=False
    ) as work:
        conn = work.conn
        assert conn is not None
        require_visible(store, actor, [report_id])
        found = load_dossier(store, report_id, config=config)
        case = get_case(conn, report_id, due_hours=get_settings().due_hours) if reads_case else None
        notes = (
            list_notes(conn, "referral", report_id, history=True)
            if may(actor, "note.read")
            else None
        )
        history = object_events(conn, report_id, CASE_ACTIONS, limit=200) if reads_case else None
    return DossierPage(found, case, notes, history)


def change_password(store: Store, actor: Actor, current: str, new: str) -> None:
    """Change one's own password, given the current one. Every session of the user ends
    (this one too): the user signs in again with the new password."""
    from tipwatch.errors import AuthenticationError, InputError
    from tipwatch.store.schema import users
    from tipwatch.workflow.identity import check_password, update_user, verify_password

    if actor.scopes is not None:
        raise InputError("a password is changed in a signed-in session, not with a token")
    check_password(new, min_length=get_settings().password_min_length)
    if new == current:
        raise InputError("the new password is the same as the current one")
    with unit(store, actor, "password.change", object_type="user", object_ids=[actor.name]) as w:
        from sqlalchemy import select

        conn = w.conn
        assert conn is not None
        encoded = conn.execute(
            select(users.c.password_hash).where(users.c.name == actor.name)
        ).scalar_one_or_none()
        if encoded is None or not verify_password(encoded, current):
            raise AuthenticationError(
                "the current password is not right", hint="type the password you signed in with"
            )
        update_user(conn, actor.name, password=new)
        w.detail = "password changed; sessions ended"


def _episode_key(country: str, metric: str, start: date) -> str:
    return f"{country}:{metric}:{start.isoformat()}"


def acknowledge_alert(
    store: Store, actor: Actor, country: str, metric: str, start: date, note: str
) -> None:
    """Acknowledge a surge episode (``country``, ``metric``, first day) with a note."""
    from tipwatch.errors import InputError

    note = note.strip()
    if not note:
        raise InputError("an acknowledgement needs a note: what was done or why none is needed")
    if len(note) > 450:
        raise InputError("an acknowledgement's note is at most 450 characters")
    key = _episode_key(country, metric, start)
    with unit(store, actor, "alert.ack", object_type="alert", object_ids=[key]) as work:
        work.detail = note


def alert_acknowledgements(
    store: Store, actor: Actor, keys: Sequence[tuple[str, str, date]]
) -> dict[tuple[str, str, date], dict[str, Any]]:
    """The latest acknowledgement of each episode asked for (who, when, note)."""
    from tipwatch.workflow.history import action_events

    wanted = {_episode_key(*k): k for k in keys}
    out: dict[tuple[str, str, date], dict[str, Any]] = {}
    with unit(store, actor, "trends.read", object_type="alert", writes=False) as work:
        events = action_events(work.conn, "alert.ack")  # type: ignore[arg-type]
    for event in events:
        for key in event["object_ids"]:
            if key in wanted and wanted[key] not in out:
                out[wanted[key]] = {
                    "by": event["actor"],
                    "at": event["at"],
                    "note": event["detail"],
                }
    return out


SEARCH_KINDS = ("report_id", "account", "screen_name", "email", "ip", "url", "hash")
"""What the one search box looks referrals up by (:func:`detect_kind` guesses which)."""


def detect_kind(value: str) -> str:
    """What a search term most likely is: an IP address, an e-mail address, a URL, a file
    hash (hexadecimal of an MD5, SHA-1, SHA-256 or PDQ length), else a report id (an
    account or screen name is chosen explicitly, or tried when no report id matches)."""
    import ipaddress
    import re

    text = value.strip()
    try:
        ipaddress.ip_address(text)
        return "ip"
    except ValueError:
        pass
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        return "email"
    if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", text) or re.match(r"(?i)^www\.", text):
        return "url"
    if re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", text):
        return "hash"
    return "report_id"
