"""Reading triage results back: attributions, links, priorities, the queue, where a referral
was sent. The CLI, the routing packages and (later) the web pages all use these."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, select

from tipwatch.errors import InputError, NotFoundError
from tipwatch.store import Store
from tipwatch.store.bulk import chunks
from tipwatch.store.referrals import naive_utc
from tipwatch.store.schema import (
    attribution_history,
    attributions,
    geoip_databases,
    link_group_events,
    link_groups,
    package_referrals,
    priorities,
    referral_files,
    referral_links,
    referrals,
    routing_packages,
)
from tipwatch.triage.config import LegalRule, TriageConfig
from tipwatch.triage.linking import LinkSettings, referral_keys, shared_ties
from tipwatch.triage.priority import TIERS

__all__ = [
    "QueueEntry",
    "attribution_of",
    "attributions_of",
    "circulating_material",
    "group_detail",
    "legal_status",
    "legal_statuses",
    "links_of",
    "links_of_many",
    "list_groups",
    "packages_of",
    "priorities_of",
    "priority_of",
    "queue",
    "routed_count",
    "routed_to",
    "sent_clause",
]

NEEDS_LEGAL_PROCESS = "needs legal process before viewing"
MAY_BE_VIEWED = "may be viewed"


def attribution_of(store: Store, report_id: str, *, history: bool = False) -> dict[str, Any] | None:
    """The current attribution of a referral (and, with ``history``, the ones it replaced)."""
    with store.read() as conn:
        return _attributions_of(conn, [report_id], history=history).get(report_id)


def attributions_of(store: Store, report_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The current attributions of many referrals at once (no history)."""
    with store.read() as conn:
        return _attributions_of(conn, report_ids)


def _attributions_of(
    conn: Connection, report_ids: Sequence[str], *, history: bool = False
) -> dict[str, dict[str, Any]]:
    """:func:`attributions_of` on an open connection; with ``history``, each attribution holds
    the ones it replaced, newest first."""
    a, g, h = attributions.c, geoip_databases.c, attribution_history.c
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(report_ids):
        for row in conn.execute(
            select(attributions, g.database_type, g.build_epoch)
            .outerjoin(geoip_databases, g.id == a.geoip_database_id)
            .where(a.report_id.in_(part))
        ):
            out[row.report_id] = _attribution_dict(row._mapping)
            if history:
                out[row.report_id]["history"] = []
        if not history:
            continue
        for row in conn.execute(
            select(attribution_history, g.database_type, g.build_epoch)
            .outerjoin(geoip_databases, g.id == h.geoip_database_id)
            .where(h.report_id.in_(part))
            .order_by(h.report_id, h.id.desc())
        ):
            if row.report_id in out:
                out[row.report_id]["history"].append(
                    {
                        **_attribution_dict(row._mapping),
                        "superseded_at": _utc(row.superseded_at),
                    }
                )
    return out


def priorities_of(store: Store, report_ids: list[str]) -> dict[str, dict[str, Any]]:
    """:func:`priority_of` of many referrals at once."""
    with store.read() as conn:
        return _priorities_of(conn, report_ids)


def _priorities_of(conn: Connection, report_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`priorities_of` on an open connection."""
    p = priorities.c
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(report_ids):
        for row in conn.execute(select(priorities).where(p.report_id.in_(part))):
            reasons = sorted(json.loads(row.reasons), key=lambda r: -r["points"])
            out[row.report_id] = {"tier": row.tier, "score": row.score, "reasons": reasons}
    return out


def _utc(value: datetime | None) -> datetime | None:
    """A stored (naive UTC) time as an aware one, so that it prints as ISO 8601 with its
    offset."""
    return None if value is None else value.replace(tzinfo=UTC)


def _attribution_dict(row: Any) -> dict[str, Any]:
    evidence = json.loads(row["evidence"])
    geo = None
    if row["database_type"]:
        built = datetime.fromtimestamp(row["build_epoch"]).strftime("%Y-%m-%d")
        geo = f"{row['database_type']} built {built}"
    return {
        "country": row["country"] or "unknown",
        "confidence": row["confidence"],
        "decided_by": row["level"],
        "warnings": evidence.get("warnings", []),
        "evidence": evidence.get("evidence", []),
        "geoip_database": geo,
        "attributed_at": _utc(row["attributed_at"]),
    }


def priority_of(store: Store, report_id: str) -> dict[str, Any] | None:
    """The priority of a referral: tier, score and reasons (largest first)."""
    return priorities_of(store, [report_id]).get(report_id)


def _keys_of(conn: Connection, report_ids: Sequence[str]) -> dict[str, Any]:
    r, f = referrals.c, referral_files.c
    docs = {
        row.report_id: (json.loads(row.document), row.incident_time)
        for row in conn.execute(
            select(r.report_id, r.document, r.incident_time).where(r.report_id.in_(report_ids))
        )
    }
    files: dict[str, list[dict[str, Any]]] = {}
    statuses: dict[str, list[str | None]] = {}
    for row in conn.execute(
        select(f.report_id, f.document, f.match_status)
        .where(f.report_id.in_(report_ids))
        .order_by(f.position)
    ):
        files.setdefault(row.report_id, []).append(json.loads(row.document))
        statuses.setdefault(row.report_id, []).append(row.match_status)
    return {
        rid: referral_keys(doc, files.get(rid, []), when.replace(tzinfo=UTC), statuses.get(rid))
        for rid, (doc, when) in docs.items()
    }


def links_of(
    store: Store,
    report_id: str,
    *,
    settings: LinkSettings | None = None,
    max_members: int = 200,
) -> list[dict[str, Any]]:
    """The groups a referral belongs to, each with its members and what each shares with it.

    For a group larger than ``max_members`` only that many members are listed.
    """
    with store.read() as conn:
        exists_row = conn.execute(
            select(referrals.c.report_id).where(referrals.c.report_id == report_id)
        ).first()
        if exists_row is None:
            raise NotFoundError(f"no referral with report id {report_id!r}")
        return _links_of_many(conn, [report_id], settings=settings, max_members=max_members).get(
            report_id, []
        )


def links_of_many(
    store: Store,
    report_ids: list[str],
    *,
    settings: LinkSettings | None = None,
    max_members: int = 50,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`links_of` of many referrals at once: the members of each group are read once,
    and the keys of each member once."""
    with store.read() as conn:
        return _links_of_many(conn, report_ids, settings=settings, max_members=max_members)


def _links_of_many(
    conn: Connection,
    report_ids: Sequence[str],
    *,
    settings: LinkSettings | None = None,
    max_members: int = 50,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`links_of_many` on an open connection, in a bounded number of queries."""
    settings = settings or LinkSettings()
    links, groups = referral_links.c, link_groups.c
    out: dict[str, list[dict[str, Any]]] = {}
    membership: dict[str, list[int]] = {}
    for part in chunks(report_ids):
        for row in conn.execute(
            select(links.report_id, links.group_id).where(links.report_id.in_(part))
        ):
            membership.setdefault(row.report_id, []).append(row.group_id)
    group_ids = sorted({g for gs in membership.values() for g in gs})
    info: dict[int, Any] = {}
    members: dict[int, list[str]] = {gid: [] for gid in group_ids}
    # The first max_members members of each group (by report id), all groups in one query.
    rank = (
        func.row_number()
        .over(partition_by=links.group_id, order_by=links.report_id)
        .label("member_rank")
    )
    for chunk in chunks(group_ids):
        for g in conn.execute(select(link_groups).where(groups.id.in_(chunk))):
            info[g.id] = g
        ranked = select(links.group_id, links.report_id, rank).where(links.group_id.in_(chunk))
        sub = ranked.subquery()
        for row in conn.execute(
            select(sub.c.group_id, sub.c.report_id)
            .where(sub.c.member_rank <= max_members)
            .order_by(sub.c.group_id, sub.c.report_id)
        ):
            members[row.group_id].append(row.report_id)
    wanted = sorted({m for ms in members.values() for m in ms} | set(membership))
    keys: dict[str, Any] = {}
    for part in chunks(wanted):
        keys.update(_keys_of(conn, part))
    countries = {rid: a["country"] for rid, a in _attributions_of(conn, wanted).items()}
    routed = {
        rid: sorted({p["country"] for p in packages})
        for rid, packages in _packages_of(conn, wanted).items()
    }
    history = _group_history(conn, group_ids)
    for report_id in report_ids:
        mine = keys.get(report_id)
        described_groups = []
        for gid in sorted(membership.get(report_id, [])):
            g = info[gid]
            described = []
            for other in members[gid]:
                if other == report_id:
                    continue
                ties = (
                    shared_ties(mine, keys[other], settings)
                    if mine is not None and other in keys
                    else []
                )
                if g.kind == "circulating" and mine is not None and other in keys:
                    # What a circulating group shares is its file, listed or not.
                    common = (mine.listed | mine.files) & (keys[other].listed | keys[other].files)
                    ties = [
                        {"kind": "circulating file", "evidence": k, "strength": 0.0}
                        for k in sorted(common)
                    ]
                described.append(
                    {
                        "report_id": other,
                        "country": countries.get(other, "unknown"),
                        "routed_to": routed.get(other, []),
                        "shares": [t["evidence"] for t in ties]
                        or ["linked through other members of the group"],
                        "ties": ties,
                    }
                )
            described_groups.append(
                {
                    "group_id": g.id,
                    "kind": g.kind,
                    "size": g.size,
                    "reasons": json.loads(g.reasons),
                    "first_incident": _utc(g.first_incident),
                    "last_incident": _utc(g.last_incident),
                    "country": countries.get(report_id, "unknown"),
                    "history": history.get(g.id, []),
                    "members": described,
                }
            )
        out[report_id] = described_groups
    return out


def _group_history(conn: Connection, group_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The recorded events of groups (created, merged, split), oldest first."""
    e = link_group_events.c
    out: dict[int, list[dict[str, Any]]] = {}
    for part in chunks(list(group_ids)):
        for row in conn.execute(
            select(link_group_events).where(e.group_id.in_(part)).order_by(e.id)
        ):
            out.setdefault(row.group_id, []).append(
                {"event": row.event, "from": json.loads(row.from_ids), "at": _utc(row.at)}
            )
    return out


def _countries_of_groups(conn: Connection, group_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Members of each group by attributed country (``unknown`` for none), most first."""
    lk, a = referral_links.c, attributions.c
    countries: dict[int, dict[str, int]] = {}
    for part in chunks(list(group_ids)):
        for r in conn.execute(
            select(lk.group_id, a.country, func.count())
            .select_from(referral_links.outerjoin(attributions, a.report_id == lk.report_id))
            .where(lk.group_id.in_(part))
            .group_by(lk.group_id, a.country)
        ):
            found = countries.setdefault(r.group_id, {})
            key = r.country or "unknown"
            found[key] = found.get(key, 0) + int(r[2])
    return {
        gid: dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))
        for gid, found in countries.items()
    }


def list_groups(
    store: Store, *, kind: str | None = None, min_size: int = 2, limit: int = 100
) -> list[dict[str, Any]]:
    """Link groups, largest first, each with all its members (report ids, in order) and its
    members by attributed country (``by_country``, most first)."""
    g = link_groups.c
    query = select(link_groups).where(g.size >= min_size)
    if kind:
        query = query.where(g.kind == kind)
    query = query.order_by(g.size.desc(), g.id).limit(limit)
    with store.read() as conn:
        rows = conn.execute(query).all()
        history = _group_history(conn, [row.id for row in rows])
        countries = _countries_of_groups(conn, [row.id for row in rows])
        out = []
        for row in rows:
            sample = [
                r.report_id
                for r in conn.execute(
                    select(referral_links.c.report_id)
                    .where(referral_links.c.group_id == row.id)
                    .order_by(referral_links.c.report_id)
                )
            ]
            reasons = json.loads(row.reasons)
            out.append(
                {
                    "group_id": row.id,
                    "kind": row.kind,
                    "size": row.size,
                    "linked_by": ", ".join(f"{k} ({v})" for k, v in sorted(reasons.items())),
                    "first_incident": _utc(row.first_incident),
                    "last_incident": _utc(row.last_incident),
                    "history": "; ".join(
                        f"{h['event']}"
                        + (f" from {', '.join(map(str, h['from']))}" if h["from"] else "")
                        for h in history.get(row.id, [])
                        if h["event"] != "created"
                    ),
                    "members": sample,
                    "by_country": countries.get(row.id, {}),
                }
            )
    return out


def group_detail(
    store: Store,
    group_id: int,
    *,
    settings: LinkSettings | None = None,
    max_members: int = 60,
    max_links: int = 300,
) -> dict[str, Any]:
    """One link group: why it was formed, its members (the first ``max_members`` by report
    id) with their attributed country and where they were routed, its members by country, and
    the evidence of each link.

    In an offender group (``linked``) a link is a pair of listed members that share something
    (an account, a new file, a near file, an address within the window), with every tie and
    its strength, strongest pairs first (at most ``max_links``); members joined only through
    others share nothing directly and form no pair. ``keys`` gives the same evidence by what
    is shared: each key (an address once, whatever the hours between its uses) with the
    listed members that share it in some link, strongest first. A circulating or viral group
    links no one: what its members share is the file, given as ``shared`` instead."""
    settings = settings or LinkSettings()
    g, lk, r = link_groups.c, referral_links.c, referrals.c
    with store.read() as conn:
        row = conn.execute(select(link_groups).where(g.id == group_id)).first()
        if row is None:
            raise NotFoundError(f"no link group {group_id}")
        ids = list(
            conn.execute(
                select(lk.report_id)
                .where(lk.group_id == group_id)
                .order_by(lk.report_id)
                .limit(max_members)
            ).scalars()
        )
        keys = _keys_of(conn, ids)
        attributed = _attributions_of(conn, ids)
        routed = {
            rid: sorted({p["country"] for p in found})
            for rid, found in _packages_of(conn, ids).items()
        }
        incidents = {
            x.report_id: x.incident_time
            for x in conn.execute(select(r.report_id, r.incident_time).where(r.report_id.in_(ids)))
        }
        by_country = _countries_of_groups(conn, [group_id]).get(group_id, {})
        history = _group_history(conn, [group_id]).get(group_id, [])
    members = []
    for rid in ids:
        found = attributed.get(rid)
        members.append(
            {
                "report_id": rid,
                "country": found["country"] if found else "unknown",
                "confidence": found["confidence"] if found else None,
                "incident_time": _utc(incidents.get(rid)),
                "routed_to": routed.get(rid, []),
            }
        )
    links: list[dict[str, Any]] = []
    by_key: list[dict[str, Any]] = []
    shared: list[str] = []
    if row.kind == "linked":
        for i, a_id in enumerate(ids):
            for b_id in ids[i + 1 :]:
                if a_id not in keys or b_id not in keys:
                    continue
                ties = shared_ties(keys[a_id], keys[b_id], settings)
                if ties:
                    links.append({"a": a_id, "b": b_id, "ties": ties})
        links.sort(key=lambda x: (-max(float(t["strength"]) for t in x["ties"]), x["a"], x["b"]))
        holders: dict[tuple[str, str], tuple[float, set[str]]] = {}
        for link in links:
            for tie in link["ties"]:
                # An address is one key whatever the hours between its two uses.
                text = tie["evidence"].split(" (")[0] if tie["kind"] == "ip" else tie["evidence"]
                _strength, holding = holders.setdefault(
                    (tie["kind"], text), (float(tie["strength"]), set())
                )
                holding.update((link["a"], link["b"]))
        by_key = [
            {"kind": kind, "evidence": text, "strength": strength, "members": sorted(held)}
            for (kind, text), (strength, held) in holders.items()
        ]
        by_key.sort(key=lambda k: (-k["strength"], -len(k["members"]), k["kind"], k["evidence"]))
    else:
        held = [keys[rid].listed | keys[rid].files for rid in ids if rid in keys]
        shared = sorted(set.intersection(*held)) if held else []
    return {
        "group_id": row.id,
        "kind": row.kind,
        "size": row.size,
        "reasons": json.loads(row.reasons),
        "first_incident": _utc(row.first_incident),
        "last_incident": _utc(row.last_incident),
        "history": history,
        "by_country": by_country,
        "members": members,
        "keys": by_key,
        "links": links[:max_links],
        "links_left_out": max(len(links) - max_links, 0),
        "shared": shared,
    }


def circulating_material(store: Store, *, limit: int = 100) -> list[dict[str, Any]]:
    """Files that circulate (on a hash list, sent by many accounts, or viral), most shared
    first: how many referrals, accounts and countries share each. For victim identification
    and for spotting viral batches; these files link no offenders."""
    g, lk = link_groups.c, referral_links.c
    query = (
        select(link_groups)
        .where(g.kind.in_(["circulating", "viral"]))
        .order_by(g.size.desc(), g.id)
        .limit(limit)
    )
    out: list[dict[str, Any]] = []
    with store.read() as conn:
        rows = conn.execute(query).all()
        ids = [row.id for row in rows]
        countries = _countries_of_groups(conn, ids)
        firsts: dict[int, list[str]] = {}
        for part in chunks(ids):
            rank = (
                func.row_number()
                .over(partition_by=lk.group_id, order_by=lk.report_id)
                .label("member_rank")
            )
            sub = select(lk.group_id, lk.report_id, rank).where(lk.group_id.in_(part)).subquery()
            for r in conn.execute(
                select(sub.c.group_id, sub.c.report_id).where(sub.c.member_rank <= 2)
            ):
                firsts.setdefault(r.group_id, []).append(r.report_id)
        wanted = sorted({rid for pair in firsts.values() for rid in pair})
        keys: dict[str, Any] = {}
        for part in chunks(wanted):
            keys.update(_keys_of(conn, part))
    for row in rows:
        reasons = json.loads(row.reasons)
        pair = [keys[r] for r in sorted(firsts.get(row.id, [])) if r in keys]
        files: list[str] = []
        if len(pair) == 2:
            files = sorted((pair[0].listed | pair[0].files) & (pair[1].listed | pair[1].files))
        by_country = countries.get(row.id, {})
        out.append(
            {
                "group_id": row.id,
                "kind": row.kind,
                "file": files[0] if files else "",
                "listed": bool(reasons.get("listed")),
                "referrals": row.size,
                "accounts": reasons.get("accounts"),
                "countries": len([c for c in by_country if c != "unknown"]),
                "by_country": dict(sorted(by_country.items(), key=lambda kv: -kv[1])),
                "first_incident": _utc(row.first_incident),
                "last_incident": _utc(row.last_incident),
            }
        )
    return out


def legal_status(
    store: Store, report_id: str, config: TriageConfig, country: str | None
) -> dict[str, str]:
    """``file id -> needs legal process before viewing | may be viewed`` under the rule of the
    referral's jurisdiction."""
    return legal_statuses(store, {report_id: country}, config).get(report_id, {})


def legal_statuses(
    store: Store, countries: dict[str, str | None], config: TriageConfig
) -> dict[str, dict[str, str]]:
    """:func:`legal_status` of many referrals at once (``report id -> country``)."""
    with store.read() as conn:
        return _legal_statuses(conn, countries, config)


def _legal_statuses(
    conn: Connection, countries: dict[str, str | None], config: TriageConfig
) -> dict[str, dict[str, str]]:
    """:func:`legal_statuses` on an open connection."""
    f = referral_files.c
    out: dict[str, dict[str, str]] = {}
    for part in chunks(list(countries)):
        for r in conn.execute(
            select(f.report_id, f.file_id, f.viewed_by_service, f.publicly_available)
            .where(f.report_id.in_(part))
            .order_by(f.report_id, f.position)
        ):
            rule: LegalRule = config.legal_rule(countries[r.report_id])
            out.setdefault(r.report_id, {})[r.file_id] = (
                NEEDS_LEGAL_PROCESS
                if rule.needs_legal_process(r.viewed_by_service, r.publicly_available)
                else MAY_BE_VIEWED
            )
    return out


def packages_of(store: Store, report_id: str) -> list[dict[str, Any]]:
    """The routing packages a referral was sent in."""
    with store.read() as conn:
        return _packages_of(conn, [report_id]).get(report_id, [])


def _packages_of(conn: Connection, report_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """:func:`packages_of` of many referrals on an open connection."""
    p, pr = routing_packages.c, package_referrals.c
    out: dict[str, list[dict[str, Any]]] = {}
    for part in chunks(report_ids):
        for row in conn.execute(
            select(routing_packages, pr.report_id)
            .join(package_referrals, pr.package_id == p.id)
            .where(pr.report_id.in_(part))
            .order_by(p.id)
        ):
            out.setdefault(row.report_id, []).append(
                {
                    "package_id": row.id,
                    "country": row.country,
                    "sent_by": row.created_by,
                    "sent_at": row.created_at,
                    "status": row.status,
                    "path": row.path,
                }
            )
    return out


DATE_BASES = ("incident", "received")
"""What a routing period or queue period is counted by: the incident's or the receipt's time."""


def sent_clause(report_id: Any) -> Any:
    """SQL: ``report_id`` is in a package still standing (one not recalled)."""
    pr, rp = package_referrals.c, routing_packages.c
    return exists().where(
        and_(
            pr.report_id == report_id,
            pr.package_id == rp.id,
            rp.status != "recalled",
        )
    )


def routed_to(store: Store, report_ids: Sequence[str], country: str) -> set[str]:
    """Which of ``report_ids`` are in a standing (not recalled) package for ``country``."""
    pr, rp = package_referrals.c, routing_packages.c
    found: set[str] = set()
    with store.read() as conn:
        for chunk in chunks(list(report_ids)):
            found.update(
                conn.execute(
                    select(pr.report_id)
                    .join(routing_packages, rp.id == pr.package_id)
                    .where(
                        pr.report_id.in_(chunk),
                        rp.country == country.upper(),
                        rp.status != "recalled",
                    )
                ).scalars()
            )
    return found


def routed_count(store: Store, country: str) -> dict[str, Any]:
    """How many of ``country``'s referrals were routed in standing packages, how many
    packages, and when the last was made: what an empty queue for the country says."""
    pr, rp = package_referrals.c, routing_packages.c
    with store.read() as conn:
        row = conn.execute(
            select(
                func.count(func.distinct(pr.report_id)).label("referrals"),
                func.count(func.distinct(rp.id)).label("packages"),
                func.max(rp.created_at).label("last_at"),
            )
            .select_from(routing_packages.join(package_referrals, pr.package_id == rp.id))
            .where(and_(rp.country == country.upper(), rp.status != "recalled"))
        ).one()
    return {"referrals": row.referrals, "packages": row.packages, "last_at": row.last_at}


@dataclass(frozen=True, slots=True)
class QueueEntry:
    report_id: str
    tier: str
    score: float
    country: str | None
    confidence: float | None
    incident_time: datetime
    incident_type: str
    file_count: int
    reasons: str
    linked: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "tier": self.tier,
            "score": self.score,
            "country": self.country or "unknown",
            "confidence": self.confidence,
            "incident_time": self.incident_time,
            "incident_type": self.incident_type,
            "file_count": self.file_count,
            "reasons": self.reasons,
            "linked": self.linked,
        }


def queue(
    store: Store,
    *,
    country: str | None = None,
    tiers: Sequence[str] | None = None,
    include_sent: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = 100,
    date_basis: str = "incident",
    report_ids: Sequence[str] | None = None,
    group_ids: Sequence[int] | None = None,
) -> list[QueueEntry]:
    """Open referrals (not in a routing package still standing) by tier, then score, highest
    first. A recalled package's referrals are open again.

    ``country="unknown"`` lists the referrals no evidence placed. ``since``/``until`` apply
    to the incident time, or with ``date_basis="received"`` to the time the referral was
    received. ``report_ids`` and ``group_ids`` (link groups) keep only those referrals.
    """
    if date_basis not in DATE_BASES:
        raise InputError(f"a period is by {' or '.join(DATE_BASES)} date, not {date_basis!r}")
    p, a, r = priorities.c, attributions.c, referrals.c
    tier_order = {t: i for i, t in enumerate(TIERS)}
    from sqlalchemy import case

    rank = case(tier_order, value=p.tier, else_=len(TIERS))
    query = (
        select(
            p.report_id,
            p.tier,
            p.score,
            p.reasons,
            a.country,
            a.confidence,
            r.incident_time,
            r.incident_type,
            r.file_count,
        )
        .join(referrals, r.report_id == p.report_id)
        .outerjoin(attributions, a.report_id == p.report_id)
    )
    if country is not None:
        if country.lower() == "unknown":
            query = query.where(a.country.is_(None))
        else:
            query = query.where(a.country == country.upper())
    if tiers:
        query = query.where(p.tier.in_(list(tiers)))
    when = r.received_at if date_basis == "received" else r.incident_time
    if since is not None:
        query = query.where(when >= naive_utc(since))
    if until is not None:
        query = query.where(when < naive_utc(until))
    if report_ids is not None:
        query = query.where(p.report_id.in_(list(report_ids)))
    if group_ids is not None:
        in_group = exists().where(
            and_(
                referral_links.c.report_id == p.report_id,
                referral_links.c.group_id.in_(list(group_ids)),
            )
        )
        query = query.where(in_group)
    if not include_sent:
        query = query.where(~sent_clause(p.report_id))
    query = query.order_by(rank, p.score.desc(), r.incident_time, p.report_id)
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        rows = conn.execute(query).all()
        ids = [row.report_id for row in rows]
        linked: set[str] = set()
        for chunk in chunks(ids):
            linked.update(
                x.report_id
                for x in conn.execute(
                    select(referral_links.c.report_id).where(
                        and_(
                            referral_links.c.report_id.in_(chunk), referral_links.c.kind == "linked"
                        )
                    )
                )
            )
    return [
        QueueEntry(
            report_id=row.report_id,
            tier=row.tier,
            score=row.score,
            country=row.country,
            confidence=row.confidence,
            incident_time=row.incident_time,
            incident_type=row.incident_type,
            file_count=row.file_count,
            reasons="; ".join(
                x["detail"] for x in sorted(json.loads(row.reasons), key=lambda r: -r["points"])[:3]
            ),
            linked=row.report_id in linked,
        )
        for row in rows
    ]
