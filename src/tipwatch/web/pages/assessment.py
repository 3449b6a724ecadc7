"""The threat assessment from the browser: choose a period, build it as a job, follow its
progress, read the HTML and download the PDF; or draft it under a name: the analyst's own
Markdown sections, a decision on each finding (accept, edit keeping its number, drop), publish
versions as jobs and read every published version as it was published.

The assessment is a self-contained document with its own inline stylesheet and one small
inline script (sortable tables). It is served on its own address with a policy of its own:
sandboxed (no same-origin access, no forms, no framing), no other origin reachable, the
stylesheet allowed inline and only that exact script allowed, by its SHA-256.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from tipwatch import services
from tipwatch.errors import ConflictError, InputError, NotFoundError
from tipwatch.settings import get_settings
from tipwatch.web.pages._base import Token, check_csrf, page, render, signed_in

__all__ = ["period_bounds", "router"]

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form(max_length=40)]
DraftName = Annotated[str, Form(max_length=200)]

PLACES = (
    ("summary", "Before the executive summary"),
    ("key-figures", "Before the key figures"),
    ("referrals", "Before the referrals"),
    ("blocked", "Before blocked access"),
    ("helplines", "Before the helplines"),
    ("forums", "Before the forums"),
    ("timing", "Before the timing by country"),
    ("caveats", "Before the caveats"),
    ("method", "Before the method"),
    ("end", "At the end"),
)
"""Where an analyst's section can go (a section named for one the assessment leaves out goes
before the executive summary)."""


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def period_bounds(kind: str, value: str, since: str = "", until: str = "") -> tuple[date, date]:
    """The first and last day of a period chosen on the form: a month (``2020-06``), a quarter
    (``2020-Q2``), a year (``2020``) or ``range`` from ``since`` to ``until``."""
    value = value.strip()
    if kind == "month":
        found = re.fullmatch(r"(\d{4})-(\d{2})", value)
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise InputError(f"month: {value!r} is not a month (YYYY-MM)")
        year, month = int(found.group(1)), int(found.group(2))
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    if kind == "quarter":
        found = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", value)
        if not found:
            raise InputError(f"quarter: {value!r} is not a quarter (YYYY-Qn)")
        year, first = int(found.group(1)), 3 * int(found.group(2)) - 2
        last = first + 2
        return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])
    if kind == "year":
        if not re.fullmatch(r"\d{4}", value):
            raise InputError(f"year: {value!r} is not a year (YYYY)")
        return date(int(value), 1, 1), date(int(value), 12, 31)
    if kind == "range":
        start, end = _day(since, "from"), _day(until, "to")
        if end < start:
            raise InputError(f"the period ends ({end}) before it begins ({start})")
        return start, end
    raise InputError(f"a period is a month, a quarter, a year or a range, not {kind!r}")


@router.get("/assessment")
@page
def assessment_form(request: Request) -> Response:
    ctx = signed_in(request)
    services.identity.require(ctx.store, ctx.actor, "assessment.create")
    drafts = (
        services.assessment.list_drafts(ctx.store, ctx.actor) if ctx.may("assessment.read") else []
    )
    return render(
        "pages/assessment.html",
        ctx,
        title="Assessment",
        section="assessment",
        error=None,
        drafts=drafts,
    )


@router.post("/assessment")
@page
def assessment_start(
    request: Request,
    kind: Field = "month",
    value: Field = "",
    since: Field = "",
    until: Field = "",
    countries: Annotated[str, Form(max_length=2000)] = "",
    pdf: Field = "",
    csrf_token: Token = "",
) -> Response:
    """Start building the assessment of the chosen period as a job."""
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.identity.require(ctx.store, ctx.actor, "assessment.create")
    start, end = period_bounds(kind, value, since, until)
    wanted = services.assessment.countries_of(countries.strip() or None, None)
    settings = get_settings()
    store, actor = ctx.store, ctx.actor
    with_pdf = pdf == "yes"

    def work(progress: Callable[[str, int, int], None]) -> Any:
        progress("assessment", 0, 1)
        stem = services.assessment.output_stem("assessment")
        written = services.assessment.write_assessment(
            store,
            actor,
            since=start,
            until=end,
            out=stem.with_suffix(".html"),
            countries=wanted,
            pdf=stem.with_suffix(".pdf") if with_pdf else None,
            chromium=settings.chromium,
        )
        progress("assessment", 1, 1)
        return {
            "html": str(written.html_path),
            "bytes": written.html_bytes,
            "pdf": str(written.pdf_path) if written.pdf_path else None,
            "since": start.isoformat(),
            "until": end.isoformat(),
        }

    job_id = services.jobs.submit(store, actor, "assessment", "assessment.create", work)
    return RedirectResponse(f"/assessment/jobs/{job_id}", status_code=303)


def _assessment_job(request: Request, job_id: str) -> tuple[Any, dict[str, Any]]:
    ctx = signed_in(request)
    job = services.jobs.get_job(ctx.store, ctx.actor, job_id)
    if job["kind"] != "assessment":
        raise NotFoundError(f"no assessment job {job_id!r}")
    return ctx, job


@router.get("/assessment/jobs/{job_id}")
@page
def assessment_job(request: Request, job_id: str) -> Response:
    """The job's progress (the page reloads itself while it runs), then the links."""
    ctx, job = _assessment_job(request, job_id)
    running = job["status"] not in ("done", "failed")
    return render(
        "pages/assessment_job.html",
        ctx,
        title="Assessment",
        section="assessment",
        job=job,
        running=running,
    )


def _finished(request: Request, job_id: str) -> dict[str, Any]:
    _ctx, job = _assessment_job(request, job_id)
    if job["status"] != "done":
        raise ConflictError(f"the assessment job is {job['status']}", hint="wait for it")
    result: dict[str, Any] = job["result"]
    return result


def document_policy(html: str) -> str:
    """The Content-Security-Policy of an assessment document: sandboxed, nothing from any
    origin, its inline stylesheet, and only the inline scripts it holds, by hash."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    ]
    script = " ".join(hashes) if hashes else "'none'"
    return (
        f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'; sandbox allow-scripts"
    )


@router.get("/assessment/jobs/{job_id}/html")
@page
def assessment_html(request: Request, job_id: str) -> Response:
    result = _finished(request, job_id)
    html = Path(result["html"]).read_text(encoding="utf-8")
    response = Response(html, media_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = document_policy(html)
    return response


@router.get("/assessment/jobs/{job_id}/pdf")
@page
def assessment_pdf(request: Request, job_id: str) -> Response:
    result = _finished(request, job_id)
    if not result.get("pdf"):
        raise NotFoundError("this assessment was built without a PDF")
    name = f"assessment-{result['since']}-{result['until']}.pdf"
    return FileResponse(result["pdf"], media_type="application/pdf", filename=name)


# -- drafts: the analyst's sections, decisions on findings, published versions -----------------


def _draft_url(name: str, anchor: str = "") -> str:
    return f"/assessment/draft?name={quote(name, safe='')}" + (f"#{anchor}" if anchor else "")


@router.post("/assessment/drafts")
@page
def draft_create(
    request: Request,
    name: DraftName = "",
    kind: Field = "month",
    value: Field = "",
    since: Field = "",
    until: Field = "",
    countries: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Token = "",
) -> Response:
    """Start a draft of the chosen period under a name."""
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    start, end = period_bounds(kind, value, since, until)
    draft = services.assessment.create_draft(
        ctx.store,
        ctx.actor,
        name=name.strip(),
        since=start,
        until=end,
        countries=services.assessment.countries_of(countries.strip() or None, None),
    )
    return RedirectResponse(_draft_url(draft.name), status_code=303)


@router.get("/assessment/draft")
@page
def draft_page(request: Request, name: Annotated[str, Query(max_length=200)] = "") -> Response:
    """A draft: the analyst's sections (edit, remove, add), the findings of its assessment as
    the store stands with a decision on each, publishing, and the published versions."""
    ctx = signed_in(request)
    draft = services.assessment.show_draft(ctx.store, ctx.actor, name)
    findings = services.assessment.draft_findings(ctx.store, ctx.actor, name)
    versions = services.assessment.list_versions(ctx.store, ctx.actor, name)
    places = dict(PLACES)
    return render(
        "pages/assessment_draft.html",
        ctx,
        title=f"Draft {draft.name}",
        section="assessment",
        draft=draft,
        findings=findings,
        versions=versions,
        places=PLACES,
        place_of=lambda before: places.get(before, before),
        decided=sum(f.decision != "undecided" for f in findings),
    )


@router.post("/assessment/draft/section")
@page
def draft_section(
    request: Request,
    name: DraftName = "",
    title: Annotated[str, Form(max_length=300)] = "",
    markdown: Annotated[str, Form(max_length=100_000)] = "",
    before: Field = "summary",
    position: Field = "",
    csrf_token: Token = "",
) -> Response:
    """Add the analyst's section to the draft, or replace the one at ``position``."""
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if before not in dict(PLACES):
        raise InputError(f"a section goes before one of the assessment's parts, not {before!r}")
    at = None
    if position.strip():
        if not position.strip().isdigit():
            raise InputError(f"section position: {position!r} is not a number")
        at = int(position)
    number = services.assessment.add_section(
        ctx.store, ctx.actor, name, title=title.strip(), markdown=markdown, before=before,
        position=at,
    )  # fmt: skip
    return RedirectResponse(_draft_url(name, f"section-{number}"), status_code=303)


@router.post("/assessment/draft/section/remove")
@page
def draft_section_remove(
    request: Request, name: DraftName = "", position: Field = "", csrf_token: Token = ""
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if not position.strip().isdigit():
        raise InputError(f"section position: {position!r} is not a number")
    services.assessment.remove_section(ctx.store, ctx.actor, name, int(position))
    return RedirectResponse(_draft_url(name, "sections"), status_code=303)


@router.post("/assessment/draft/finding")
@page
def draft_decide(
    request: Request,
    name: DraftName = "",
    finding: Annotated[str, Form(max_length=200)] = "",
    action: Field = "",
    text: Annotated[str, Form(max_length=5000)] = "",
    csrf_token: Token = "",
) -> Response:
    """Accept, edit (the sentence must keep the finding's number) or drop a finding."""
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.assessment.decide_finding(ctx.store, ctx.actor, name, finding, action, text.strip())
    return RedirectResponse(_draft_url(name, f"finding-{finding}"), status_code=303)


@router.post("/assessment/draft/publish")
@page
def draft_publish(
    request: Request, name: DraftName = "", pdf: Field = "", csrf_token: Token = ""
) -> Response:
    """Publish a new version of the draft as a job; its page follows it."""
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    draft = services.assessment.show_draft(ctx.store, ctx.actor, name)
    settings = get_settings()
    store, actor = ctx.store, ctx.actor
    with_pdf = pdf == "yes"

    def work(progress: Callable[[str, int, int], None]) -> Any:
        progress("publishing", 0, 1)
        stem = services.assessment.output_stem("draft")
        done = services.assessment.publish(
            store,
            actor,
            draft.name,
            out=stem.with_suffix(".html"),
            pdf=stem.with_suffix(".pdf") if with_pdf else None,
            chromium=settings.chromium,
        )
        progress("publishing", 1, 1)
        return {
            "html": str(done.html_path),
            "bytes": done.html_path.stat().st_size,
            "pdf": str(done.pdf_path) if done.pdf_path else None,
            "since": draft.start.isoformat(),
            "until": draft.end.isoformat(),
            "draft": draft.name,
            "version": done.version,
            "findings": done.findings,
        }

    job_id = services.jobs.submit(store, actor, "assessment", "assessment.publish", work)
    return RedirectResponse(f"/assessment/jobs/{job_id}", status_code=303)


@router.get("/assessment/draft/version")
@page
def draft_version(
    request: Request,
    name: Annotated[str, Query(max_length=200)] = "",
    version: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """A published version's page, exactly as it was published."""
    ctx = signed_in(request)
    found = services.assessment.published_version(ctx.store, ctx.actor, name, version)
    response = Response(found.html, media_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = document_policy(found.html)
    return response
