"""The analyst's worklist: triaged referrals with their case, filtered, sorted and paged.

The triage queue (:func:`tipwatch.triage.queries.queue`) orders open referrals by tier and
score; the worklist adds each referral's case (status, assignee, due time) and the filters an
analyst works by. Sorted by priority, each tier is read in turn along the ``(tier, score)``
index, so the first pages of a large store cost what they show, not the size of the store.
Other sorts order the whole selection.

Counts for the day's overview (:func:`overview_counts`) are here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, not_, or_, select

from tipwatch.errors import InputError
from tipwatch.store.schema import (
    attributions,
    case_states,
    package_referrals,
    priorities,
    referral_files,
    referrals,
    routing_packages,
)
from tipwatch.triage.priority import TIERS
from tipwatch.workflow.cases import OPEN_STATUSES, STATUSES

__all__ = [
    "MATERIAL",
    "SORTS",
    "WorklistFilter",
    "WorklistRow",
    "overview_counts",
    "worklist",
]

SORTS = ("priority", "received", "incident", "due")
"""How the worklist can be ordered: tier then score (most urgent first), newest received,
newest incident, or soonest due."""
MATERIAL = ("known", "new")
"""``known``: a file matched a hash list; ``new``: a file matched none (possible new abuse)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class WorklistFilter:
    """What the worklist keeps. Every field left ``None`` (or empty) keeps everything."""

    country: str | None = None
    """Attributed country (ISO alpha-2) or ``unknown``."""
    tiers: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    assignee: str | None = None
    """A user's name, or ``-`` for the unassigned."""
    service: str | None = None
    """The platform the referral names."""
    incident_type: str | None = None
    received_since: datetime | None = None
    received_until: datetime | None = None
    material: str | None = None
    include_sent: bool = False
    """Keep referrals already in a standing routing package."""

    def check(self) -> None:
        for tier in self.tiers:
            if tier not in TIERS:
                raise InputError(f"no tier {tier!r}; the tiers are {', '.join(TIERS)}")
        for status in self.statuses:
            if status not in STATUSES:
                raise InputError(f"a case status is one of {', '.join(STATUSES)}, not {status!r}")
        if self.material not in (None, *MATERIAL):
            raise InputError(f"material is known or new, not {self.material!r}")


@dataclass(frozen=True, slots=True)
class WorklistRow:
    report_id: str
    tier: str
    score: float
    reasons: str
    """The three largest reasons, largest first."""
    country: str | None
    confidence: float | None
    incident_type: str
    incident_time: datetime
    received_at: datetime | None
    platform: str | None
    file_count: int
    status: str
    assignee: str | None
    version: int
    due_at: datetime | None
    overdue: bool

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _sent(report_id: Any) -> Any:
    pr, rp = package_referrals.c, routing_packages.c
    return exists().where(
        and_(pr.report_id == report_id, pr.package_id == rp.id, rp.status != "recalled")
    )


def _material(report_id: Any, status: str) -> Any:
    f = referral_files.c
    return exists().where(and_(f.report_id == report_id, f.match_status == status))


def _query(flt: WorklistFilter) -> Any:
    p, a, r, c = priorities.c, attributions.c, referrals.c, case_states.c
    query = (
        select(
            p.report_id,
            p.tier,
            p.score,
            p.reasons,
            a.country,
            a.confidence,
            r.incident_type,
            r.incident_time,
            r.received_at,
            r.ingested_at,
            r.platform,
            r.file_count,
            c.status,
            c.assignee,
            c.version,
        )
        .join(referrals, r.report_id == p.report_id)
        .outerjoin(attributions, a.report_id == p.report_id)
        .outerjoin(case_states, c.report_id == p.report_id)
    )
    if flt.country is not None:
        if flt.country.lower() == "unknown":
            query = query.where(a.country.is_(None))
        else:
            query = query.where(a.country == flt.country.upper())
    if flt.tiers:
        query = query.where(p.tier.in_(list(flt.tiers)))
    if flt.statuses:
        wanted = [s for s in flt.statuses if s != "new"]
        clause: Any = c.status.in_(wanted)
        if "new" in flt.statuses:
            clause = or_(c.status.is_(None), c.status == "new", clause)
        query = query.where(clause)
    if flt.assignee is not None:
        if flt.assignee == "-":
            query = query.where(c.assignee.is_(None))
        else:
            query = query.where(c.assignee == flt.assignee)
    if flt.service:
        query = query.where(r.platform == flt.service)
    if flt.incident_type:
        query = query.where(r.incident_type == flt.incident_type)
    if flt.received_since is not None:
        query = query.where(r.received_at >= flt.received_since)
    if flt.received_until is not None:
        query = query.where(r.received_at < flt.received_until)
    if flt.material is not None:
        query = query.where(_material(p.report_id, flt.material))
    if not flt.include_sent:
        query = query.where(not_(_sent(p.report_id)))
    return query


def _row(row: Any, due_hours: Mapping[str, float], now: datetime) -> WorklistRow:
    status = row.status or "new"
    base = row.received_at or row.ingested_at
    due = base + timedelta(hours=due_hours[row.tier]) if row.tier in due_hours else None
    reasons = sorted(json.loads(row.reasons), key=lambda x: -x["points"])[:3]
    return WorklistRow(
        report_id=row.report_id,
        tier=row.tier,
        score=row.score,
        reasons="; ".join(str(x["detail"]) for x in reasons),
        country=row.country,
        confidence=row.confidence,
        incident_type=row.incident_type,
        incident_time=row.incident_time,
        received_at=row.received_at,
        platform=row.platform,
        file_count=row.file_count,
        status=status,
        assignee=row.assignee,
        version=row.version or 0,
        due_at=due,
        overdue=bool(due is not None and status in OPEN_STATUSES and now > due),
    )


def worklist(
    conn: Connection,
    flt: WorklistFilter,
    *,
    due_hours: Mapping[str, float],
    sort: str = "priority",
    offset: int = 0,
    limit: int = 50,
) -> list[WorklistRow]:
    """One page of the worklist: ``limit`` rows after the first ``offset``."""
    flt.check()
    if sort not in SORTS:
        raise InputError(f"the worklist sorts by {', '.join(SORTS)}, not {sort!r}")
    if not 1 <= limit <= 500 or offset < 0:
        raise InputError("a page holds 1 to 500 rows from an offset of 0 or more")
    p, r = priorities.c, referrals.c
    now = _now()
    query = _query(flt)
    rows: list[Any] = []
    if sort == "priority":
        # Tier by tier along the (tier, score) index: a page reads about what it shows.
        wanted = offset + limit
        for tier in flt.tiers or TIERS:
            if tier not in TIERS:
                continue
            need = wanted - len(rows)
            if need <= 0:
                break
            found = conn.execute(
                query.where(p.tier == tier).order_by(p.score.desc(), p.report_id).limit(need)
            ).all()
            rows.extend(found)
        rows = rows[offset : offset + limit]
    else:
        order = {
            "received": (r.received_at.desc(), p.report_id),
            "incident": (r.incident_time.desc(), p.report_id),
            "due": (r.received_at, p.report_id),
        }[sort]
        rows = list(conn.execute(query.order_by(*order).offset(offset).limit(limit)).all())
    out = [_row(row, due_hours, now) for row in rows]
    if sort == "due":
        out.sort(key=lambda x: (x.due_at is None, x.due_at or now, x.report_id))
    return out


def overview_counts(
    conn: Connection, *, due_hours: Mapping[str, float], now: datetime | None = None
) -> dict[str, Any]:
    """The day's figures: referrals received today and in the last 7 days, open referrals
    per tier (not in a standing package), cases per status, and open cases past their due
    time per tier (not in a standing package either)."""
    now = now or _now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    r, p, c = referrals.c, priorities.c, case_states.c

    def received_since(when: datetime) -> int:
        return int(conn.execute(select(func.count()).where(r.received_at >= when)).scalar_one())

    tiers = {
        row.tier: int(row.n)
        for row in conn.execute(
            select(p.tier, func.count().label("n")).where(not_(_sent(p.report_id))).group_by(p.tier)
        )
    }
    recorded = {
        row.status: int(row.n)
        for row in conn.execute(select(c.status, func.count().label("n")).group_by(c.status))
    }
    triaged = int(conn.execute(select(func.count()).select_from(priorities)).scalar_one())
    statuses = {s: recorded.get(s, 0) for s in STATUSES}
    statuses["new"] = triaged - sum(v for k, v in recorded.items() if k != "new")
    overdue: dict[str, int] = {}
    for tier, hours in due_hours.items():
        late = now - timedelta(hours=hours)
        base = func.coalesce(r.received_at, r.ingested_at)
        overdue[tier] = int(
            conn.execute(
                select(func.count())
                .select_from(priorities)
                .join(referrals, r.report_id == p.report_id)
                .outerjoin(case_states, c.report_id == p.report_id)
                .where(
                    p.tier == tier,
                    base < late,
                    not_(_sent(p.report_id)),
                    or_(c.status.is_(None), c.status.in_(sorted(OPEN_STATUSES))),
                )
            ).scalar_one()
        )
    return {
        "received_today": received_since(midnight),
        "received_week": received_since(midnight - timedelta(days=6)),
        "open_by_tier": {t: tiers.get(t, 0) for t in TIERS},
        "cases_by_status": statuses,
        "overdue_by_tier": overdue,
    }
