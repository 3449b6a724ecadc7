"""Assessment drafts in the store: the period, the analyst's sections and decisions on the
findings, and every published version (kept as published, never changed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from tipwatch.errors import InputError, NotFoundError
from tipwatch.store.schema import (
    assessment_decisions,
    assessment_drafts,
    assessment_sections,
    assessment_versions,
)

__all__ = [
    "DraftDecision",
    "DraftRecord",
    "DraftSection",
    "VersionRecord",
    "add_draft_section",
    "create_draft",
    "draft_named",
    "list_drafts",
    "list_versions",
    "record_version",
    "remove_draft_section",
    "set_decision",
    "version_of",
]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class DraftSection:
    position: int
    title: str
    markdown: str
    before: str
    written_by: str
    written_at: datetime


@dataclass(frozen=True)
class DraftDecision:
    finding_id: str
    action: str
    text: str
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True)
class DraftRecord:
    id: int
    name: str
    start: date
    end: date
    countries: list[str]
    event_kind: str
    title: str | None
    created_by: str
    created_at: datetime
    sections: list[DraftSection]
    decisions: list[DraftDecision]
    versions: int


@dataclass(frozen=True)
class VersionRecord:
    draft: str
    version: int
    published_by: str
    published_at: datetime
    marking: str
    inputs_sha256: str
    html_sha256: str
    html: str
    findings: str


def create_draft(
    conn: Connection,
    *,
    name: str,
    start: date,
    end: date,
    countries: list[str] | None,
    event_kind: str,
    title: str | None,
    by: str,
) -> int:
    """A new draft named ``name`` (unique); returns its id."""
    d = assessment_drafts.c
    if conn.execute(select(d.id).where(d.name == name)).first() is not None:
        raise InputError(
            f"an assessment draft named {name!r} already exists",
            hint="choose another name, or add to the existing draft",
        )
    result = conn.execute(
        insert(assessment_drafts).values(
            name=name,
            period_start=start,
            period_end=end,
            countries=",".join(countries or []),
            event_kind=event_kind,
            title=title,
            created_by=by,
            created_at=_now(),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _draft_id(conn: Connection, name: str) -> int:
    d = assessment_drafts.c
    found = conn.execute(select(d.id).where(d.name == name)).scalar()
    if found is None:
        raise NotFoundError(
            f"no assessment draft named {name!r}",
            hint="`tipwatch assessment list` shows the drafts",
        )
    return int(found)


def draft_named(conn: Connection, name: str) -> DraftRecord:
    """The draft ``name`` with its sections (in order) and decisions."""
    draft_id = _draft_id(conn, name)
    d, s, k, v = (
        assessment_drafts.c,
        assessment_sections.c,
        assessment_decisions.c,
        assessment_versions.c,
    )
    row = conn.execute(select(assessment_drafts).where(d.id == draft_id)).one()
    sections = [
        DraftSection(r.position, r.title, r.markdown, r.before, r.written_by, r.written_at)
        for r in conn.execute(
            select(assessment_sections).where(s.draft_id == draft_id).order_by(s.position)
        )
    ]
    decisions = [
        DraftDecision(r.finding_id, r.action, r.text, r.decided_by, r.decided_at)
        for r in conn.execute(
            select(assessment_decisions).where(k.draft_id == draft_id).order_by(k.finding_id)
        )
    ]
    versions = conn.execute(
        select(func.count()).select_from(assessment_versions).where(v.draft_id == draft_id)
    ).scalar_one()
    return DraftRecord(
        id=draft_id,
        name=row.name,
        start=row.period_start,
        end=row.period_end,
        countries=[c for c in row.countries.split(",") if c],
        event_kind=row.event_kind,
        title=row.title,
        created_by=row.created_by,
        created_at=row.created_at,
        sections=sections,
        decisions=decisions,
        versions=int(versions),
    )


def list_drafts(conn: Connection) -> list[DraftRecord]:
    d = assessment_drafts.c
    names = conn.execute(select(d.name).order_by(d.created_at, d.id)).scalars().all()
    return [draft_named(conn, n) for n in names]


def add_draft_section(
    conn: Connection,
    name: str,
    *,
    title: str,
    markdown: str,
    before: str,
    by: str,
    position: int | None = None,
) -> int:
    """Add (or, at an existing ``position``, replace) a section of the analyst's; returns its
    position. New sections go after the draft's others."""
    draft_id = _draft_id(conn, name)
    s = assessment_sections.c
    if position is None:
        last = conn.execute(select(func.max(s.position)).where(s.draft_id == draft_id)).scalar()
        position = int(last or 0) + 1
    values = {
        "title": title,
        "markdown": markdown,
        "before": before,
        "written_by": by,
        "written_at": _now(),
    }
    done = conn.execute(
        update(assessment_sections)
        .where(s.draft_id == draft_id, s.position == position)
        .values(**values)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(assessment_sections).values(draft_id=draft_id, position=position, **values)
        )
    return position


def remove_draft_section(conn: Connection, name: str, position: int) -> None:
    draft_id = _draft_id(conn, name)
    s = assessment_sections.c
    done = conn.execute(
        delete(assessment_sections).where(s.draft_id == draft_id, s.position == position)
    )
    if done.rowcount == 0:
        raise NotFoundError(f"draft {name!r} has no section {position}")


def set_decision(
    conn: Connection, name: str, finding_id: str, action: str, text: str, by: str
) -> None:
    """Record the analyst's decision on one finding (replacing an earlier one)."""
    if action not in ("accept", "edit", "drop"):
        raise InputError(f"unknown decision {action!r}: accept, edit or drop")
    draft_id = _draft_id(conn, name)
    k = assessment_decisions.c
    conn.execute(
        delete(assessment_decisions).where(k.draft_id == draft_id, k.finding_id == finding_id)
    )
    conn.execute(
        insert(assessment_decisions).values(
            draft_id=draft_id,
            finding_id=finding_id,
            action=action,
            text=text,
            decided_by=by,
            decided_at=_now(),
        )
    )


def record_version(
    conn: Connection,
    name: str,
    *,
    by: str,
    marking: str,
    inputs_sha256: str,
    html_sha256: str,
    html: str,
    findings: str,
) -> int:
    """Keep a published version; returns its number (1, 2, ...)."""
    draft_id = _draft_id(conn, name)
    v = assessment_versions.c
    last = conn.execute(select(func.max(v.version)).where(v.draft_id == draft_id)).scalar()
    number = int(last or 0) + 1
    conn.execute(
        insert(assessment_versions).values(
            draft_id=draft_id,
            version=number,
            published_by=by,
            published_at=_now(),
            marking=marking,
            inputs_sha256=inputs_sha256,
            html_sha256=html_sha256,
            html=html,
            findings=findings,
        )
    )
    return number


def _version(name: str, row: object) -> VersionRecord:
    return VersionRecord(
        draft=name,
        version=row.version,  # type: ignore[attr-defined]
        published_by=row.published_by,  # type: ignore[attr-defined]
        published_at=row.published_at,  # type: ignore[attr-defined]
        marking=row.marking,  # type: ignore[attr-defined]
        inputs_sha256=row.inputs_sha256,  # type: ignore[attr-defined]
        html_sha256=row.html_sha256,  # type: ignore[attr-defined]
        html=row.html,  # type: ignore[attr-defined]
        findings=row.findings,  # type: ignore[attr-defined]
    )


def list_versions(conn: Connection, name: str) -> list[VersionRecord]:
    draft_id = _draft_id(conn, name)
    v = assessment_versions.c
    rows = conn.execute(
        select(assessment_versions).where(v.draft_id == draft_id).order_by(v.version)
    )
    return [_version(name, r) for r in rows]


def version_of(conn: Connection, name: str, version: int) -> VersionRecord:
    draft_id = _draft_id(conn, name)
    v = assessment_versions.c
    row = conn.execute(
        select(assessment_versions).where(v.draft_id == draft_id, v.version == version)
    ).first()
    if row is None:
        raise NotFoundError(f"draft {name!r} has no published version {version}")
    return _version(name, row)
