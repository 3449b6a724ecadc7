"""Triage services: the triage pass, the queue, links, routing packages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tipwatch.services._unit import batch, unit
from tipwatch.services.access import Actor, bound_country
from tipwatch.store import Store
from tipwatch.triage.attribution import LEVEL_LABELS
from tipwatch.triage.counts import CONFIDENCE_BANDS as _BANDS
from tipwatch.triage.priority import TIERS as PRIORITY_TIERS

if TYPE_CHECKING:
    from datetime import date

    from tipwatch.triage.config import TriageConfig
    from tipwatch.triage.counts import CountryAttributionQuality
    from tipwatch.triage.queries import QueueEntry
    from tipwatch.triage.routing import RoutePreview, RoutingPackage
    from tipwatch.triage.run import ProgressCallback, TriageSummary

__all__ = [
    "CONFIDENCE_BANDS",
    "EVIDENCE_LEVELS",
    "TIERS",
    "acknowledge_package",
    "add_recipient",
    "attribution_quality",
    "circulating",
    "group",
    "link_groups",
    "links_of",
    "list_recipients",
    "load_triage_config",
    "packages",
    "preview_route",
    "queue",
    "recall_package",
    "route",
    "routed_count",
    "routing_latency",
    "run_triage",
]

TIERS = PRIORITY_TIERS
"""The priority tiers, most urgent first (the triage package's own)."""

CONFIDENCE_BANDS = _BANDS
"""An attribution's confidence bands (name, lowest confidence), highest first."""

EVIDENCE_LEVELS = dict(LEVEL_LABELS)
"""The kinds of attribution evidence in order of precedence, each with a readable name."""


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
    cluster: str | None = None,
    progress: ProgressCallback | None = None,
) -> TriageSummary:
    """Attribute, link and score every referral (committed stage by stage). Large stores are
    read on local processes, or on the Dask ``cluster`` (default: the cluster setting)."""
    from tipwatch.services._compute import compute_for
    from tipwatch.triage.run import triage_store

    compute = compute_for(cluster=cluster)
    with batch(store, actor, "triage.run", object_type="store") as work:
        summary = triage_store(
            store,
            geoip=geoip,
            config=config,
            force=force,
            compute=compute if compute.cluster else None,
            progress=progress,
        )
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


def group(
    store: Store, actor: Actor, group_id: int, *, config: TriageConfig, max_members: int = 60
) -> dict[str, Any]:
    """One link group: why linked, its members with their countries, its members by
    country, and the evidence of each link (see :func:`tipwatch.triage.queries.group_detail`)."""
    from tipwatch.triage.queries import group_detail

    with unit(
        store,
        actor,
        "links.read",
        object_type="link_group",
        object_ids=[str(group_id)],
        writes=False,
    ):
        return group_detail(store, group_id, settings=config.linking, max_members=max_members)


def attribution_quality(
    store: Store,
    actor: Actor,
    country: str,
    *,
    since: date | None = None,
    until: date | None = None,
) -> CountryAttributionQuality:
    """How ``country``'s referrals of a period (incident days, both ends included) were
    attributed: by which evidence, how confidently, how many through possible proxies; and
    how many of the period's referrals have no country."""
    from tipwatch.countries import require_country_code
    from tipwatch.errors import InputError
    from tipwatch.triage.counts import country_attribution_quality

    code = require_country_code(country)
    if since is not None and until is not None and since > until:
        raise InputError(f"the period starts ({since}) after it ends ({until})")
    with unit(
        store, actor, "queue.read", object_type="attribution", object_ids=[code], writes=False
    ):
        return country_attribution_quality(store, code, since=since, until=until)


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
    date_basis: str = "incident",
    report_ids: Sequence[str] | None = None,
    group_ids: Sequence[int] | None = None,
    recipient: str | None = None,
) -> RoutingPackage:
    """Write and record the package of ``country``'s open referrals (all, or those of
    ``report_ids``/``group_ids``), made by ``actor`` for ``recipient``, under the
    ``package_marking`` setting."""
    from tipwatch.settings import get_settings
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
            date_basis=date_basis,
            report_ids=report_ids,
            group_ids=group_ids,
            recipient=recipient,
            marking=get_settings().package_marking,
        )
        if package.package_id is not None:
            work.object_ids = [str(package.package_id)]
        work.detail = f"{package.referral_count} referrals for {package.country}"
    return package


def packages(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.triage.routing import packages as _packages

    with unit(store, actor, "package.read", object_type="package", writes=False):
        country = bound_country(actor)
        found = _packages(store)
        return [p for p in found if country is None or p["country"] == country]


def preview_route(
    store: Store,
    actor: Actor,
    country: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    include_sent: bool = False,
    date_basis: str = "incident",
    report_ids: Sequence[str] | None = None,
    group_ids: Sequence[int] | None = None,
) -> RoutePreview:
    """What :func:`route` would send with the same choice; no package is recorded."""
    from tipwatch.triage.routing import preview_route as _preview

    with unit(store, actor, "route.preview", object_type="referral", writes=False) as work:
        preview = _preview(
            store,
            country,
            since=since,
            until=until,
            include_sent=include_sent,
            date_basis=date_basis,
            report_ids=report_ids,
            group_ids=group_ids,
        )
        work.detail = f"{preview.referral_count} referrals would go to {preview.country}"
    return preview


def recall_package(store: Store, actor: Actor, package_id: int, *, reason: str) -> int:
    """Recall an unacknowledged package; its referrals return to the queue."""
    from tipwatch.triage.routing import recall_package as _recall

    with unit(
        store, actor, "route.recall", object_type="package", object_ids=[str(package_id)]
    ) as work:
        returned = _recall(store, package_id, reason=reason, by=actor.name)
        work.detail = f"{returned} referrals returned to the queue: {reason}"
    return returned


def acknowledge_package(
    store: Store, actor: Actor, package_id: int, *, outcome: str | None = None
) -> dict[str, Any]:
    """Record the recipient's acknowledgement of a package (and its outcome, if given)."""
    from tipwatch.triage.routing import acknowledge_package as _ack

    with unit(
        store, actor, "route.ack", object_type="package", object_ids=[str(package_id)]
    ) as work:
        _require_package_visible(store, actor, package_id)
        row = _ack(store, package_id, by=actor.name, outcome=outcome)
        work.detail = "acknowledged" + (f"; outcome: {outcome}" if outcome else "")
    return row


def routing_latency(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.triage.routing import routing_latency as _latency

    with unit(store, actor, "package.read", object_type="package", writes=False):
        country = bound_country(actor)
        return [r for r in _latency(store) if country is None or r["country"] == country]


def _require_package_visible(store: Store, actor: Actor, package_id: int) -> None:
    """A package made for another country is, to a country-bound actor, not there."""
    from tipwatch.errors import NotFoundError
    from tipwatch.triage.routing import package_country

    country = bound_country(actor)
    if country is not None and package_country(store, package_id) != country:
        raise NotFoundError(f"no routing package {package_id}")


def routed_count(store: Store, actor: Actor, country: str) -> dict[str, Any]:
    """How many of ``country``'s referrals are in standing packages, and the last one's time."""
    from tipwatch.errors import NotFoundError
    from tipwatch.triage.queries import routed_count as _routed

    with unit(store, actor, "package.read", object_type="package", writes=False):
        bound = bound_country(actor)
        if bound is not None and bound != country.upper():
            raise NotFoundError(f"no packages for {country.upper()}")
        return _routed(store, country)


def add_recipient(
    store: Store,
    actor: Actor,
    name: str,
    country: str,
    *,
    kind: str = "office",
    contact: str | None = None,
) -> dict[str, Any]:
    from tipwatch.triage.routing import add_recipient as _add

    with unit(store, actor, "recipient.write", object_type="recipient") as work:
        row = _add(store, name, country, kind=kind, contact=contact, created_by=actor.name)
        work.object_ids = [str(row["id"])]
        work.detail = f"{row['name']} ({row['kind']}, {row['country']})"
    return row


def list_recipients(store: Store, actor: Actor) -> list[dict[str, Any]]:
    from tipwatch.triage.routing import list_recipients as _list

    with unit(store, actor, "recipient.read", object_type="recipient", writes=False):
        return _list(store)
