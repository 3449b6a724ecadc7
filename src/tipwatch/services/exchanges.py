"""Exchange services: lists fed by NCMEC, StopNCII and ThreatExchange; their syncs, the votes
sent back to them (two-person rule), and the entries held by the flood quarantine.

Credentials come from the settings (``ncmec_*``, ``stopncii_*``, ``threatexchange_*``) unless a
caller passes its own; they are never stored with a list, never written in an audit event and
never shown in an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tipwatch.errors import AccessDenied, ConfigError, TipwatchError
from tipwatch.services._unit import batch, unit
from tipwatch.services.access import Actor, authorise
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.matching.exchanges import RetryPolicy, SyncSummary

__all__ = [
    "approve_vote",
    "connect_list",
    "holds",
    "large_fingerprint",
    "list_votes",
    "propose_vote",
    "reject_vote",
    "review_hold",
    "sync_due",
    "sync_health",
    "sync_list",
]

_SECRET_WORDS = ("password", "secret", "token", "key")


def credentials_from_settings(kind: str) -> dict[str, str]:
    """The credentials of exchange ``kind`` from the settings (only those that are set)."""
    from tipwatch.settings import get_settings

    s = get_settings()

    def secret(value: Any) -> str | None:
        return None if value is None else str(value.get_secret_value())

    values: dict[str, str | None]
    if kind == "ncmec":
        values = {"username": s.ncmec_username, "password": secret(s.ncmec_password)}
    elif kind == "stopncii":
        values = {
            "subscription_key": secret(s.stopncii_subscription_key),
            "fetch_key": secret(s.stopncii_fetch_key),
            "feedback_key": secret(s.stopncii_feedback_key),
        }
    elif kind == "threatexchange":
        values = {"access_token": secret(s.threatexchange_access_token)}
    else:
        values = {}
    return {k: v for k, v in values.items() if v}


def _retry() -> RetryPolicy:
    from tipwatch.matching.exchanges import RetryPolicy
    from tipwatch.settings import get_settings

    return RetryPolicy(attempts=get_settings().exchange_read_attempts)


def connect_list(
    store: Store,
    actor: Actor,
    name: str,
    *,
    connector: str,
    config: Mapping[str, Any],
    scheme: str,
    purpose: str = "block",
) -> dict[str, Any]:
    """Feed the list ``name`` (created when new) from an exchange. ``config`` holds the
    connector's settings (see docs/lists.md); credentials are refused there: they belong in
    the settings."""
    from tipwatch.matching.exchanges import CONNECTORS, configure_list

    if connector not in CONNECTORS:
        raise ConfigError(
            f"unknown exchange {connector!r}; the exchanges are {', '.join(CONNECTORS)}"
        )
    secret = [k for k in config if any(w in k.lower() for w in _SECRET_WORDS)]
    if secret:
        raise ConfigError(
            f"a list's connector settings may not hold credentials ({', '.join(secret)})",
            hint="put credentials in the settings (ncmec_password, stopncii_*_key, ...)",
        )
    with unit(store, actor, "list.connect", object_type="hash_list", object_ids=[name]) as work:
        configure_list(
            store, name, connector=connector, config=dict(config), scheme=scheme, purpose=purpose
        )
        work.detail = f"fed by {connector} ({', '.join(sorted(config)) or 'default settings'})"
    return {"list": name, "connector": connector, "config": dict(config), "scheme": scheme}


def sync_list(
    store: Store,
    actor: Actor,
    name: str,
    *,
    credentials: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    now: Callable[[], float] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> SyncSummary:
    """Sync the list ``name`` from its exchange, batch by batch (each committed with its
    checkpoint); an interrupted sync resumes where it stopped."""
    from tipwatch.matching.exchanges import list_connector, make_connector
    from tipwatch.matching.exchanges import sync_list as _sync

    with batch(store, actor, "list.sync", object_type="hash_list", object_ids=[name]) as work:
        kind, config = list_connector(store, name)
        connector = make_connector(
            kind,
            config,
            credentials if credentials is not None else credentials_from_settings(kind),
            retry=retry or _retry(),
            now=now,
        )
        summary = _sync(store, name, connector, progress=progress)
        work.detail = (
            f"{kind}: {summary.batches} batches, {summary.added} added, {summary.removed} "
            f"removed, {summary.updated} updated, {summary.stale} older changes ignored, "
            f"{len(summary.problems)} problems"
        )
    return summary


def sync_due(
    store: Store,
    actor: Actor,
    *,
    every_minutes: float | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Sync every list whose last successful sync is older than ``every_minutes`` (the
    ``list_sync_every_minutes`` setting); one list's failure does not stop the others."""
    from tipwatch.matching.exchanges import due_lists
    from tipwatch.settings import get_settings

    authorise(actor, "list.sync")
    minutes = every_minutes if every_minutes is not None else get_settings().list_sync_every_minutes
    out: list[dict[str, Any]] = []
    for name in due_lists(store, minutes):
        try:
            summary = sync_list(store, actor, name, progress=progress)
        except TipwatchError as exc:
            out.append({"list": name, "error": str(exc)})
            continue
        out.append(summary.as_dict())
    return out


def sync_health(store: Store, actor: Actor, name: str) -> dict[str, Any] | None:
    from tipwatch.matching.exchanges import sync_health as _health

    with unit(store, actor, "list.read", object_type="hash_list", object_ids=[name], writes=False):
        return _health(store, name)


def propose_vote(
    store: Store,
    actor: Actor,
    name: str,
    entry_key: str,
    vote: str,
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    """Propose a vote on an entry, to be sent to its exchange once another user approves."""
    from tipwatch.matching.exchanges.votes import propose, vote_row

    with unit(
        store, actor, "list.vote", object_type="hash_list", object_ids=[name, entry_key]
    ) as work:
        assert work.conn is not None
        vote_id = propose(work.conn, name, entry_key, vote, reason, actor.name)
        work.detail = f"vote {vote_id}: {vote} on {entry_key}, waiting for a second user"
        row = vote_row(work.conn, vote_id)
    return {"id": vote_id, "list": name, "entry_key": entry_key, "vote": vote, **_public(row)}


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("status", "proposed_by", "approved_by") if k in row}


def approve_vote(
    store: Store,
    actor: Actor,
    vote_id: int,
    *,
    credentials: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Approve another user's proposed vote and send it (once: a write is never retried).

    The proposer may not approve their own vote (two-person rule). Returns the vote with its
    status: ``sent`` with the exchange's answer, or ``failed`` with the reason."""
    from tipwatch.matching.exchanges import make_connector
    from tipwatch.matching.exchanges.votes import decide, record_outcome, vote_row

    with batch(
        store, actor, "list.vote.approve", object_type="vote", object_ids=[str(vote_id)]
    ) as work:
        with store.atomic() as conn:
            row = vote_row(conn, vote_id)
            if row["proposed_by"] == actor.name:
                raise AccessDenied(
                    actor.name,
                    actor.role.value,
                    "list.vote.approve",
                    what="approve a vote they proposed themselves",
                    hint="another user must approve it (two-person rule)",
                )
            row = decide(conn, vote_id, by=actor.name, approve=True)
        kind = str(row["connector"])
        try:
            connector = make_connector(
                kind,
                row["connector_config"],
                credentials if credentials is not None else credentials_from_settings(kind),
                retry=retry or _retry(),
            )
            response = connector.send_vote(dict(row), str(row["vote"]), row["reason"])
            sent = True
        except TipwatchError as exc:
            response, sent = str(exc), False
        with store.atomic() as conn:
            record_outcome(conn, vote_id, sent=sent, response=response)
        status = "sent" if sent else "failed"
        work.detail = (
            f"vote {vote_id} ({row['vote']} on {row['entry_key']}, proposed by "
            f"{row['proposed_by']}) approved; {status}" + ("" if sent else f": {response}")
        )
    return {
        "id": vote_id,
        "list": row["name"],
        "entry_key": row["entry_key"],
        "vote": row["vote"],
        "status": status,
        "proposed_by": row["proposed_by"],
        "approved_by": actor.name,
        "response": response[:500],
    }


def reject_vote(store: Store, actor: Actor, vote_id: int) -> dict[str, Any]:
    """Reject (or, for its proposer, withdraw) a proposed vote: it is never sent."""
    from tipwatch.matching.exchanges.votes import decide

    with unit(
        store, actor, "list.vote.approve", object_type="vote", object_ids=[str(vote_id)]
    ) as work:
        assert work.conn is not None
        row = decide(work.conn, vote_id, by=actor.name, approve=False)
        work.detail = f"vote {vote_id} rejected"
    return {"id": vote_id, "status": "rejected", "proposed_by": row["proposed_by"]}


def list_votes(store: Store, actor: Actor, *, name: str | None = None) -> list[dict[str, Any]]:
    from tipwatch.matching.exchanges.votes import votes

    with unit(store, actor, "list.read", object_type="vote", writes=False) as work:
        assert work.conn is not None
        return votes(work.conn, list_name=name)


def holds(store: Store, actor: Actor, *, open_only: bool = True) -> list[dict[str, Any]]:
    """Entries held by the flood quarantine (the alerts), newest first."""
    from tipwatch.matching.flood import holds as _holds

    with unit(store, actor, "list.read", object_type="hold", writes=False) as work:
        assert work.conn is not None
        return _holds(work.conn, open_only=open_only)


def review_hold(store: Store, actor: Actor, hold_id: int, *, retire: bool) -> dict[str, Any]:
    """Close a hold: release the entry (it matches again) or retire it."""
    from tipwatch.matching.flood import review_hold as _review

    with unit(store, actor, "list.hold", object_type="hold", object_ids=[str(hold_id)]) as work:
        assert work.conn is not None
        result = _review(work.conn, hold_id, by=actor.name, retire=retire)
        work.detail = f"entry {result['entry_id']} {result['decision']}"
    return result


def large_fingerprint(
    store: Store,
    actor: Actor,
    name: str,
    entry_key: str,
    fingerprint: str,
    *,
    credentials: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> str:
    """A large fingerprint (TMK+PDQF, Videntifier) that an entry names but that is not stored,
    fetched from the exchange now (NCMEC lists)."""
    import json

    from sqlalchemy import select

    from tipwatch.errors import NotFoundError
    from tipwatch.matching.exchanges import list_connector, make_connector
    from tipwatch.store.schema import hash_entries, hash_lists

    with unit(
        store,
        actor,
        "list.read",
        object_type="hash_list",
        object_ids=[name, entry_key],
        writes=False,
    ) as work:
        assert work.conn is not None
        e = hash_entries.c
        row = work.conn.execute(
            select(e.extra)
            .join(hash_lists, hash_lists.c.id == e.list_id)
            .where(hash_lists.c.name == name, e.entry_key == entry_key)
            .limit(1)
        ).first()
        if row is None:
            raise NotFoundError(f"list {name!r} has no entry {entry_key!r}")
        links = json.loads(row.extra).get("large_fingerprints") or {}
        href = links.get(fingerprint)
        if not href or href == "present":
            known = ", ".join(links) or "none"
            raise NotFoundError(
                f"entry {entry_key!r} names no fetchable {fingerprint!r} fingerprint "
                f"(it names: {known})"
            )
        kind, config = list_connector(store, name)
        connector = make_connector(
            kind,
            config,
            credentials if credentials is not None else credentials_from_settings(kind),
            retry=retry or _retry(),
        )
        fetch = getattr(connector, "fingerprint", None)
        if fetch is None:
            raise ConfigError(f"{kind} has no large fingerprints to fetch")
        value = str(fetch(str(href)))
        work.detail = f"{fingerprint} of {entry_key} fetched ({len(value):,} characters)"
    return value
