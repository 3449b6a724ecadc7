"""Triage services: the triage pass, the queue, links, routing packages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipwatch.services._unit import batch, unit
from tipwatch.services.access import Actor
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.triage.config import TriageConfig
    from tipwatch.triage.queries import QueueEntry
    from tipwatch.triage.routing import RoutingPackage
    from tipwatch.triage.run import ProgressCallback, TriageSummary

__all__ = [
    "TIERS",
    "circulating",
    "link_groups",
    "links_of",
    "load_triage_config",
    "packages",
    "queue",
    "route",
    "run_triage",
]

TIERS = ("immediate", "high", "medium", "low")
"""The priority tiers, most urgent first (checked against the triage package by a test)."""


def load_triage_config(path: str | Path | None = None) -> TriageConfig:
    """The team's triage configuration (``path``), over the documented defaults."""
    from tipwatch.triage.config import load_config

    return load_config(path)


def run_triage(
    store: Store,
    actor: Actor,
    *,
    config: TriageConfig,
    geoip: Path | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> TriageSummary:
    """Attribute, link and score every referral (committed stage by stage)."""
    from tipwatch.triage.run import triage_store

    with batch(store, actor, "triage.run", object_type="store") as work:
        summary = triage_store(store, geoip=geoip, config=config, force=force, progress=progress)
        work.detail = (
            f"{summary.referrals} referrals, {summary.attributed} (re)attributed, "
            f"{summary.groups} groups"
        )
    return summary


def queue(
    store: Store,
    actor: Actor,
    *,
    country: str | None = None,
    tiers: Sequence[str] | None = None,
    include_sent: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 50,
) -> list[QueueEntry]:
    from tipwatch.triage.queries import queue as _queue

    with unit(store, actor, "queue.read", object_type="referral", writes=False) as work:
        entries = _queue(
            store,
            country=country,
            tiers=tiers,
            include_sent=include_sent,
            since=since,
            until=until,
            limit=limit,
        )
        work.detail = f"{len(entries)} listed" + (f" for {country}" if country else "")
    return entries


def links_of(
    store: Store, actor: Actor, report_id: str, *, config: TriageConfig
) -> list[dict[str, Any]]:
    from tipwatch.triage.queries import links_of as _links

    with unit(
        store, actor, "links.read", object_type="referral", object_ids=[report_id], writes=False
    ):
        return _links(store, report_id, settings=config.linking)


def link_groups(
    store: Store, actor: Actor, *, kind: str | None = None, min_size: int = 2, limit: int = 50
) -> list[dict[str, Any]]:
    from tipwatch.errors import InputError
    from tipwatch.triage.queries import list_groups

    if kind not in (None, "linked", "viral", "circulating"):
        raise InputError(f"a group kind is linked, viral or circulating, not {kind!r}")
    with unit(store, actor, "links.read", object_type="link_group", writes=False):
        return list_groups(store, kind=kind, min_size=min_size, limit=limit)


def circulating(store: Store, actor: Actor, *, limit: int = 50) -> list[dict[str, Any]]:
    """Files that circulate (listed, sent by many accounts, viral): referrals, accounts and
    countries per file."""
    from tipwatch.triage.queries import circulating_material

    with unit(store, actor, "links.read", object_type="link_group", writes=False):
        return circulating_material(store, limit=limit)


def route(
    store: Store,
    actor: Actor,
    country: str,
    out: Path,
    *,
    config: TriageConfig,
    since: datetime | None = None,
    until: datetime | None = None,
    include_sent: bool = False,
) -> RoutingPackage:
    """Write and record the package of ``country``'s open referrals, made by ``actor``."""
    from tipwatch.triage.routing import route_country

    with unit(store, actor, "route.create", object_type="package") as work:
        package = route_country(
            store,
            country,
            out,
            since=since,
            until=until,
            include_sent=include_sent,
            created_by=actor.name,
            config=config,
        )
        if package.package_id is not None:
            work.object_ids = [str(package.package_id)]
        work.detail = f"{package.referral_count} referrals for {package.country}"
    return package


def packages(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.triage.routing import packages as _packages

    with unit(store, actor, "package.read", object_type="package", writes=False):
        return _packages(store)
