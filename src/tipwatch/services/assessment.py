"""The assessment service: build the threat assessment and write it as HTML (and PDF); draft
one under a name with the analyst's own sections and decisions on its findings, and publish
numbered versions that the store keeps as published."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from tipwatch.services._unit import unit
from tipwatch.services.access import Actor
from tipwatch.store import Store

if TYPE_CHECKING:
    from tipwatch.report.assessment import Assessment
    from tipwatch.report.render import Drafting
    from tipwatch.store.assessments import DraftRecord, VersionRecord

__all__ = [
    "DraftFinding",
    "PublishedVersion",
    "WrittenAssessment",
    "add_section",
    "countries_of",
    "create_draft",
    "decide_finding",
    "draft_findings",
    "list_drafts",
    "list_versions",
    "output_stem",
    "publish",
    "published_version",
    "remove_section",
    "show_draft",
    "write_assessment",
]


def output_stem(prefix: str) -> Path:
    """A new path stem (no suffix) for an assessment built for the API or the workspace: in
    the deployment's ``assessments`` folder under the ``api_package_dir`` setting, made if
    missing; the job adds ``.html`` (and ``.pdf``)."""
    import uuid

    from tipwatch.settings import get_settings

    folder = Path(get_settings().api_package_dir) / "assessments"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{prefix}-{uuid.uuid4().hex}"


def countries_of(countries: str | None, region: str | None) -> list[str] | None:
    """The countries asked for: comma-separated ISO codes, or a region such as EU27."""
    from tipwatch.report.assessment import countries_of as _countries_of

    return _countries_of(countries, region)


@dataclass
class WrittenAssessment:
    assessment: Assessment
    html_path: Path
    html_bytes: int
    pdf_path: Path | None


def write_assessment(
    store: Store,
    actor: Actor,
    *,
    since: date,
    until: date,
    out: Path,
    countries: Sequence[str] | None = None,
    event: str = "stay-at-home",
    title: str | None = None,
    pdf: Path | None = None,
    chromium: str | Path | None = None,
    marking: str | None = None,
    author: str | None = None,
) -> WrittenAssessment:
    """Build the assessment of ``since``..``until`` (both inclusive) and write it. The
    marking and the author default to the ``assessment_marking`` and ``assessment_author``
    settings (the author, failing that, to the actor)."""
    from tipwatch.report.assessment import build_assessment
    from tipwatch.report.render import write_report
    from tipwatch.settings import get_settings

    settings = get_settings()
    with unit(store, actor, "assessment.create", object_type="assessment", writes=False) as work:
        assessment = build_assessment(
            store,
            start=since,
            end=until,
            countries=countries,
            event_kind=event,
            title=title,
            marking=marking or settings.assessment_marking,
            author=author or settings.assessment_author or actor.name,
        )
        html = write_report(assessment, out, pdf, title=title, chromium=chromium)
        work.object_ids = [str(out)] + ([str(pdf)] if pdf else [])
        work.detail = (
            f"{since.isoformat()} to {until.isoformat()}, {len(assessment.findings)} findings"
        )
    return WrittenAssessment(assessment, out, len(html.encode()), pdf)


# -- drafts: the analyst's text, decisions on findings, published versions -------------------


@dataclass
class DraftFinding:
    """A finding of the draft's assessment as it stands, with the analyst's decision."""

    id: str
    text: str
    section: str
    confidence: str
    decision: str
    """``accept``, ``edit``, ``drop`` or ``undecided``."""
    edited: str
    number: str = ""
    """The finding's main number: an edit must keep it (it ties the sentence to its
    source)."""


@dataclass
class PublishedVersion:
    draft: str
    version: int
    html_path: Path
    pdf_path: Path | None
    inputs_sha256: str
    html_sha256: str
    findings: int


def _drafting(draft: DraftRecord, version: int | None = None) -> Drafting:
    from tipwatch.report.render import AnalystSection, Decision, Drafting

    return Drafting(
        sections=[AnalystSection(s.title, s.markdown, s.before) for s in draft.sections],
        decisions={d.finding_id: Decision(d.action, d.text) for d in draft.decisions},
        version=version,
    )


def _build_for(store: Store, draft: DraftRecord, actor: Actor) -> Assessment:
    from tipwatch.report.assessment import build_assessment
    from tipwatch.settings import get_settings

    settings = get_settings()
    return build_assessment(
        store,
        start=draft.start,
        end=draft.end,
        countries=draft.countries or None,
        event_kind=draft.event_kind,
        title=draft.title,
        marking=settings.assessment_marking,
        author=settings.assessment_author or draft.created_by or actor.name,
    )


def create_draft(
    store: Store,
    actor: Actor,
    *,
    name: str,
    since: date,
    until: date,
    countries: Sequence[str] | None = None,
    event: str = "stay-at-home",
    title: str | None = None,
) -> DraftRecord:
    """Start a draft of the assessment of ``since``..``until`` under ``name``."""
    from tipwatch.errors import InputError
    from tipwatch.store import assessments as drafts

    if until <= since:
        raise InputError(
            f"the assessment's end ({until}) is not after its start ({since})",
            hint="give an end date after the start date",
        )
    if not name.strip() or len(name) > 200:
        raise InputError("a draft's name must be 1 to 200 characters")
    with unit(store, actor, "assessment.edit", object_type="assessment_draft") as work:
        assert work.conn is not None
        drafts.create_draft(
            work.conn,
            name=name,
            start=since,
            end=until,
            countries=[c.upper() for c in countries] if countries else None,
            event_kind=event,
            title=title,
            by=actor.name,
        )
        work.object_ids = [name]
        work.detail = f"new draft {since.isoformat()} to {until.isoformat()}"
        return drafts.draft_named(work.conn, name)


def list_drafts(store: Store, actor: Actor) -> list[DraftRecord]:
    from tipwatch.store import assessments as drafts

    with unit(store, actor, "assessment.read", object_type="assessment_draft", writes=False) as w:
        assert w.conn is not None
        return drafts.list_drafts(w.conn)


def show_draft(store: Store, actor: Actor, name: str) -> DraftRecord:
    """The draft ``name``: its period, the analyst's sections in order, the decisions on its
    findings and how many versions were published."""
    from tipwatch.store import assessments as drafts

    with unit(store, actor, "assessment.read", object_type="assessment_draft", writes=False) as w:
        assert w.conn is not None
        w.object_ids = [name]
        return drafts.draft_named(w.conn, name)


def add_section(
    store: Store,
    actor: Actor,
    name: str,
    *,
    title: str,
    markdown: str,
    before: str = "summary",
    position: int | None = None,
) -> int:
    """Add the analyst's Markdown section ``title`` to the draft (or replace the one at
    ``position``), placed before the section ``before``; returns its position."""
    from tipwatch.errors import InputError
    from tipwatch.store import assessments as drafts

    if not title.strip():
        raise InputError("a section needs a title")
    with unit(store, actor, "assessment.edit", object_type="assessment_draft") as work:
        assert work.conn is not None
        number = drafts.add_draft_section(
            work.conn, name, title=title, markdown=markdown, before=before, by=actor.name,
            position=position,
        )  # fmt: skip
        work.object_ids = [name]
        work.detail = f"section {number}: {title[:100]}"
        return number


def remove_section(store: Store, actor: Actor, name: str, position: int) -> None:
    from tipwatch.store import assessments as drafts

    with unit(store, actor, "assessment.edit", object_type="assessment_draft") as work:
        assert work.conn is not None
        drafts.remove_draft_section(work.conn, name, position)
        work.object_ids = [name]
        work.detail = f"removed section {position}"


def draft_findings(store: Store, actor: Actor, name: str) -> list[DraftFinding]:
    """The findings of the draft's assessment as the store stands now, each with the
    analyst's decision."""
    from tipwatch.report.render import headline_number
    from tipwatch.store import assessments as drafts

    with unit(store, actor, "assessment.read", object_type="assessment_draft", writes=False) as w:
        assert w.conn is not None
        draft = drafts.draft_named(w.conn, name)
        assessment = _build_for(store, draft, actor)
        w.object_ids = [name]
    decided = {d.finding_id: d for d in draft.decisions}
    return [
        DraftFinding(
            f.id,
            f.text,
            f.section,
            f.confidence,
            decided[f.id].action if f.id in decided else "undecided",
            decided[f.id].text if f.id in decided else "",
            headline_number(f) or "",
        )
        for f in assessment.findings
    ]


def decide_finding(
    store: Store, actor: Actor, name: str, finding_id: str, action: str, text: str = ""
) -> None:
    """Accept, edit (with ``text``, which must keep the finding's number) or drop a finding of
    the draft before publishing."""
    from tipwatch.errors import InputError
    from tipwatch.report.render import Decision, apply_decisions
    from tipwatch.store import assessments as drafts

    if action == "edit" and not text.strip():
        raise InputError("an edit needs the new sentence", hint="give the edited text")
    with unit(store, actor, "assessment.edit", object_type="assessment_draft") as work:
        assert work.conn is not None
        draft = drafts.draft_named(work.conn, name)
        assessment = _build_for(store, draft, actor)
        known = {f.id: f for f in assessment.findings}
        if finding_id not in known:
            raise InputError(
                f"draft {name!r} has no finding {finding_id!r}",
                hint=f"`tipwatch assessment findings {name}` lists them",
            )
        apply_decisions([known[finding_id]], {finding_id: Decision(action, text)})
        drafts.set_decision(
            work.conn, name, finding_id, action, text if action == "edit" else "", actor.name
        )
        work.object_ids = [name, finding_id]
        work.detail = f"{action} finding {finding_id}"


def publish(
    store: Store,
    actor: Actor,
    name: str,
    *,
    out: Path,
    pdf: Path | None = None,
    chromium: str | Path | None = None,
) -> PublishedVersion:
    """Publish the draft: build its assessment from the store as it stands, merge the
    analyst's sections and decisions, write the page (and PDF), and keep the page as a new
    numbered version in the store."""
    import hashlib
    import json

    from tipwatch.report.render import write_report
    from tipwatch.store import assessments as drafts

    with unit(store, actor, "assessment.publish", object_type="assessment_draft") as work:
        assert work.conn is not None
        draft = drafts.draft_named(work.conn, name)
        assessment = _build_for(store, draft, actor)
        drafting = _drafting(draft, version=draft.versions + 1)
        html = write_report(
            assessment, out, pdf, title=draft.title, drafting=drafting, chromium=chromium
        )
        from tipwatch.report.render import apply_decisions

        published = apply_decisions(assessment.findings, drafting.decisions)
        findings = json.dumps(
            [
                {"id": f.id, "text": f.text, "section": f.section, "numbers": f.numbers}
                for f in published
            ],
            default=str,
            sort_keys=True,
        )
        html_sha = hashlib.sha256(html.encode()).hexdigest()
        number = drafts.record_version(
            work.conn,
            name,
            by=actor.name,
            marking=assessment.title_page.marking,
            inputs_sha256=assessment.provenance["inputs_sha256"],
            html_sha256=html_sha,
            html=html,
            findings=findings,
        )
        work.object_ids = [name, f"v{number}"]
        work.detail = f"published version {number}, {len(published)} findings"
    return PublishedVersion(
        name,
        number,
        out,
        pdf,
        assessment.provenance["inputs_sha256"],
        html_sha,
        len(published),
    )


def list_versions(store: Store, actor: Actor, name: str) -> list[VersionRecord]:
    from tipwatch.store import assessments as drafts

    with unit(store, actor, "assessment.read", object_type="assessment_draft", writes=False) as w:
        assert w.conn is not None
        w.object_ids = [name]
        return drafts.list_versions(w.conn, name)


def published_version(store: Store, actor: Actor, name: str, version: int) -> VersionRecord:
    """A published version as it was published."""
    from tipwatch.store import assessments as drafts

    with unit(store, actor, "assessment.read", object_type="assessment_draft", writes=False) as w:
        assert w.conn is not None
        w.object_ids = [name, f"v{version}"]
        return drafts.version_of(w.conn, name, version)
