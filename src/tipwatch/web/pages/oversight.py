"""Beyond the queue: countries and their charts, alerts, groups, hash lists, routing, the
audit log and users."""

from __future__ import annotations

import math
import tempfile
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from tipwatch import services
from tipwatch.errors import InputError, TipwatchError, UnsafeInputError
from tipwatch.settings import get_settings
from tipwatch.web.pages._base import NoteText, Token, check_csrf, page, render, signed_in
from tipwatch.web.pages.chart import Band, Marker, series_svg

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

GroupId = Annotated[int, PathParam(ge=0, le=2**31 - 1)]
Code = Annotated[str, Form(max_length=3)]


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} is a date as YYYY-MM-DD, not {value!r}") from None


def _midnight(value: date | None) -> datetime | None:
    return None if value is None else datetime.combine(value, datetime.min.time())


# -- countries ------------------------------------------------------------------------------


@router.get("/countries")
@page
def countries(
    request: Request, metric: Annotated[str, Query(min_length=1, max_length=120)] = "referrals"
) -> Response:
    ctx = signed_in(request)
    data = services.trends.series(ctx.store, ctx.actor, metric, attributed_only=True)
    rows = []
    for code, s in sorted(data.items()):
        values = [v for v in s.values.tolist() if math.isfinite(v)]
        rows.append(
            {
                "country": code,
                "start": s.start,
                "end": s.end,
                "days": len(values),
                "total": sum(values),
            }
        )
    metrics = sorted({m["metric"] for m in services.trends.list_signals(ctx.store, ctx.actor)})
    return render(
        "pages/countries.html",
        ctx,
        title="Countries",
        section="countries",
        rows=rows,
        metric=metric,
        metrics=["referrals", *[m for m in metrics if m != "referrals"]],
    )


@router.get("/countries/{code}")
@page
def country(
    request: Request,
    code: str,
    metric: Annotated[str, Query(min_length=1, max_length=120)] = "referrals",
    event: Annotated[str, Query(max_length=60)] = "stay-at-home",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    ctx = signed_in(request)
    code = code.upper()[:3]
    data = services.trends.series(
        ctx.store, ctx.actor, metric, countries=[code], attributed_only=True
    )
    if code not in data:
        raise InputError(f"no {metric} series for {code}", hint="see the countries page")
    series = data[code]
    metrics = sorted(
        {
            m["metric"]
            for m in services.trends.list_signals(ctx.store, ctx.actor)
            if m["country"] == code and m["metric"] != "referrals"
        }
    )
    events = services.trends.list_events(ctx.store, ctx.actor, country=code)
    trend = None
    problem: str | None = None
    try:
        found = services.trends.trends(
            ctx.store, ctx.actor, metric=metric, country=code, event=event, align=False
        )
        trend = found.countries[0] if found.countries else None
    except TipwatchError as exc:
        problem = str(exc)
    alerts = services.trends.alerts(ctx.store, ctx.actor, metric=metric, countries=[code])
    bands: list[Band] = []
    if trend is not None and trend.surge is not None:
        s = trend.surge
        window_days = (s.window_end - s.window_start).days + 1
        level = s.expected / max(window_days, 1)
        spread = 2 * math.sqrt(max(s.dispersion, 1.0) * max(level, 0.0))
        bands.append(
            Band(
                s.baseline_start,
                s.window_end,
                max(level - spread, 0.0),
                level + spread,
                f"Baseline level {level:,.1f} a day, ±2 standard deviations",
            )
        )
    markers = [Marker(e.date, e.label or e.kind, short=e.kind) for e in events]
    markers += [
        Marker(a.start, f"{a.level} alert to {a.end.isoformat()}", "#9a6a00")
        for a in alerts.surge[:12]
    ]
    chart = series_svg(
        f"{metric} in {code}, daily",
        series.start,
        series.values.tolist(),
        unit=f"{metric} a day",
        bands=bands,
        markers=markers,
    )
    # Attribution quality of the period asked for, else of the days the chart shows.
    quality = None
    period = {"since": since, "until": until}
    if ctx.may("queue.read"):
        first = _date(since, "since") or series.start
        last = _date(until, "until") or series.end
        quality = services.triage.attribution_quality(
            ctx.store, ctx.actor, code, since=first, until=last
        )
        period = {"since": first.isoformat(), "until": last.isoformat()}
    routed: dict[str, Any] | None = None
    packages: list[dict[str, Any]] = []
    if ctx.may("package.read"):
        routed = services.triage.routed_count(ctx.store, ctx.actor, code)
        packages = [
            p for p in services.triage.packages(ctx.store, ctx.actor) if p["country"] == code
        ]
    return render(
        "pages/country.html",
        ctx,
        title=f"Country {code}",
        section="countries",
        code=code,
        metric=metric,
        metrics=["referrals", *metrics],
        event=event,
        chart=chart,
        trend=trend,
        problem=problem,
        events=events,
        alerts=alerts,
        quality=quality,
        bands=services.triage.CONFIDENCE_BANDS,
        level_labels=services.triage.EVIDENCE_LEVELS,
        period=period,
        routed=routed,
        packages=packages[:20],
        sent=len(packages),
        acknowledged=sum(1 for p in packages if p.get("acknowledged_at")),
        recalled=sum(1 for p in packages if p.get("status") == "recalled"),
    )


# -- alerts ---------------------------------------------------------------------------------


@router.get("/alerts")
@page
def alerts(
    request: Request,
    metric: Annotated[str, Query(min_length=1, max_length=120)] = "referrals",
    country: Annotated[str, Query(max_length=3)] = "",
    level: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    ctx = signed_in(request)
    found = services.trends.alerts(
        ctx.store, ctx.actor, metric=metric, countries=[country.upper()] if country else None
    )
    episodes = [e for e in found.surge if not level or e.level == level]
    episodes.sort(key=lambda e: (e.start, e.country), reverse=True)
    acks = services.workspace.alert_acknowledgements(
        ctx.store, ctx.actor, [(e.country, e.metric, e.start) for e in episodes]
    )
    return render(
        "pages/alerts.html",
        ctx,
        title="Alerts",
        section="alerts",
        episodes=episodes[:200],
        more=max(len(episodes) - 200, 0),
        quality=found.data_quality[:50],
        acks=acks,
        metric=metric,
        country=country.upper(),
        level=level,
    )


@router.post("/alerts/ack")
@page
def acknowledge_alert(
    request: Request,
    country: Code,
    metric: Annotated[str, Form(max_length=120)],
    start: Annotated[str, Form(max_length=10)],
    note: Annotated[str, Form(max_length=450)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    day = _date(start, "start")
    assert day is not None
    services.workspace.acknowledge_alert(ctx.store, ctx.actor, country, metric, day, note)
    return RedirectResponse("/alerts?" + urlencode({"metric": metric}), status_code=303)


# -- groups ---------------------------------------------------------------------------------


@router.get("/groups")
@page
def groups(
    request: Request,
    kind: Annotated[str, Query(max_length=20)] = "linked",
    min_size: Annotated[int, Query(ge=2, le=100_000)] = 2,
) -> Response:
    ctx = signed_in(request)
    found = services.triage.link_groups(
        ctx.store, ctx.actor, kind=kind or None, min_size=min_size, limit=100
    )
    spread = services.triage.circulating(ctx.store, ctx.actor, limit=50)
    return render(
        "pages/groups.html",
        ctx,
        title="Groups",
        section="groups",
        groups=found,
        circulating=spread,
        kind=kind,
        min_size=min_size,
    )


@router.get("/groups/{group_id}")
@page
def group(request: Request, group_id: GroupId) -> Response:
    ctx = signed_in(request)
    found = services.triage.group(ctx.store, ctx.actor, group_id, config=ctx.config)
    versions: list[dict[str, Any]] = []
    if ctx.may("note.read"):
        versions = services.cases.list_notes(
            ctx.store, ctx.actor, "group", str(group_id), history=True
        )
    return render(
        "pages/group.html",
        ctx,
        title=f"Group {group_id}",
        section="groups",
        g=found,
        notes=services.cases.latest_notes(versions),
        versions=versions,
    )


@router.post("/groups/{group_id}/notes")
@page
def add_group_note(
    request: Request,
    group_id: GroupId,
    body: NoteText = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if not body.strip():
        raise InputError("a note needs some text")
    services.cases.add_note(ctx.store, ctx.actor, "group", str(group_id), body)
    return RedirectResponse(f"/groups/{group_id}#h-notes", status_code=303)


@router.post("/groups/{group_id}/notes/{note_id}")
@page
def edit_group_note(
    request: Request,
    group_id: GroupId,
    note_id: Annotated[str, PathParam(max_length=64)],
    body: NoteText = "",
    expected_version: Annotated[int | None, Form()] = None,
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if not body.strip():
        raise InputError("a note needs some text")
    services.cases.edit_note(
        ctx.store,
        ctx.actor,
        note_id,
        body,
        expected_version=expected_version,
        of=("group", str(group_id)),
    )
    return RedirectResponse(f"/groups/{group_id}#h-notes", status_code=303)


# -- hash lists -----------------------------------------------------------------------------


@router.get("/lists")
@page
def lists(request: Request, job: Annotated[str, Query(max_length=64)] = "") -> Response:
    ctx = signed_in(request)
    found = services.matching.list_lists(ctx.store, ctx.actor)
    detail = [services.matching.show_list(ctx.store, ctx.actor, x["name"]) for x in found]
    job_state = services.jobs.get_job(ctx.store, ctx.actor, job) if job else None
    return render(
        "pages/lists.html",
        ctx,
        title="Hash lists",
        section="lists",
        lists=detail,
        job=job_state,
    )


@router.post("/lists/import")
@page
def import_list(
    request: Request,
    upload: Annotated[UploadFile, File()],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    version: Annotated[str, Form(min_length=1, max_length=100)],
    list_format: Annotated[str, Form(max_length=10)] = "csv",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.identity.require(ctx.store, ctx.actor, "list.import")
    if list_format not in ("csv", "vics"):
        raise InputError(f"a list is imported as csv or vics, not {list_format!r}")
    limit = get_settings().api_max_body_bytes
    folder = Path(tempfile.mkdtemp(prefix="tipwatch-list-"))
    path = folder / ("list.json" if list_format == "vics" else "list.csv")
    size = 0
    with path.open("wb") as fh:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                path.unlink(missing_ok=True)
                folder.rmdir()
                raise UnsafeInputError(f"the file is larger than {limit:,} bytes")
            fh.write(chunk)
    store, actor = ctx.store, ctx.actor

    def work(_progress: Callable[[str, int, int], None]) -> Any:
        try:
            summary = services.matching.import_list(
                store, actor, path, name=name, version=version, list_format=list_format
            )
            return {"name": name, "version": version, "summary": str(summary)}
        finally:
            path.unlink(missing_ok=True)
            folder.rmdir()

    job_id = services.jobs.submit(store, actor, "list.import", "list.import", work)
    return RedirectResponse("/lists?" + urlencode({"job": job_id}), status_code=303)


# -- routing --------------------------------------------------------------------------------


def _routing_page(ctx: Any, **values: Any) -> Response:
    packages = services.triage.packages(ctx.store, ctx.actor)
    recipients = (
        services.triage.list_recipients(ctx.store, ctx.actor) if ctx.may("recipient.read") else []
    )
    base: dict[str, Any] = {
        "packages": packages[:100],
        "recipients": recipients,
        "preview": None,
        "sent": None,
        "form": {"country": "", "since": "", "until": "", "recipient": ""},
    }
    base.update(values)
    return render("pages/routing.html", ctx, title="Routing", section="routing", **base)


@router.get("/routing")
@page
def routing(request: Request) -> Response:
    return _routing_page(signed_in(request))


@router.post("/routing")
@page
def route(
    request: Request,
    country: Code,
    action: Annotated[str, Form(max_length=10)] = "preview",
    since: Annotated[str, Form(max_length=10)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
    recipient: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    start = _midnight(_date(since, "since"))
    end_day = _date(until, "until")
    end = _midnight(end_day + timedelta(days=1)) if end_day else None
    form = {"country": country, "since": since, "until": until, "recipient": recipient}
    if action == "send":
        folder = Path(get_settings().api_package_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        out = folder / f"{country.upper()}-{stamp}-{uuid.uuid4().hex[:8]}"
        package = services.triage.route(
            ctx.store,
            ctx.actor,
            country,
            out,
            config=ctx.config,
            since=start,
            until=end,
            recipient=recipient or None,
        )
        return _routing_page(ctx, sent=package, form=form)
    preview = services.triage.preview_route(ctx.store, ctx.actor, country, since=start, until=end)
    return _routing_page(ctx, preview=preview, form=form)


@router.post("/routing/{package_id}/recall")
@page
def recall(
    request: Request,
    package_id: int,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if not reason.strip():
        raise InputError("a recall needs a reason")
    services.triage.recall_package(ctx.store, ctx.actor, package_id, reason=reason.strip())
    return RedirectResponse(f"/routing#package-{package_id}", status_code=303)


@router.post("/routing/{package_id}/ack")
@page
def acknowledge(
    request: Request,
    package_id: int,
    outcome: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.triage.acknowledge_package(
        ctx.store, ctx.actor, package_id, outcome=outcome.strip() or None
    )
    return RedirectResponse(f"/routing#package-{package_id}", status_code=303)


# -- the audit log --------------------------------------------------------------------------


@router.get("/audit")
@page
def audit(
    request: Request,
    who: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    object_id: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    ctx = signed_in(request)
    end = _date(until, "until")
    found = services.audit.list_events(
        ctx.store,
        ctx.actor,
        who=who or None,
        action=action or None,
        object_id=object_id or None,
        since=_midnight(_date(since, "since")),
        until=_midnight(end + timedelta(days=1)) if end else None,
        limit=200,
    )
    return render(
        "pages/audit.html",
        ctx,
        title="Audit log",
        section="audit",
        events=found,
        form={"who": who, "action": action, "object_id": object_id, "since": since, "until": until},
        verified=None,
    )


@router.post("/audit/verify")
@page
def audit_verify(request: Request, csrf_token: Token = "") -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    result = services.audit.verify(ctx.store, ctx.actor)
    found = services.audit.list_events(ctx.store, ctx.actor, limit=50)
    return render(
        "pages/audit.html",
        ctx,
        title="Audit log",
        section="audit",
        events=found,
        form={"who": "", "action": "", "object_id": "", "since": "", "until": ""},
        verified=result,
    )


# -- users ----------------------------------------------------------------------------------


@router.get("/users")
@page
def users(request: Request) -> Response:
    ctx = signed_in(request)
    return render(
        "pages/users.html",
        ctx,
        title="Users",
        section="users",
        users=services.identity.list_users(ctx.store, ctx.actor),
        roles=[r.value for r in services.Role],
        added=None,
    )


@router.post("/users")
@page
def add_user(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    role: Annotated[str, Form(max_length=20)],
    password: Annotated[str, Form(max_length=1000)],
    country: Annotated[str, Form(max_length=3)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    added = services.identity.add_user(
        ctx.store, ctx.actor, name.strip(), role, password, country=country or None
    )
    return render(
        "pages/users.html",
        ctx,
        title="Users",
        section="users",
        users=services.identity.list_users(ctx.store, ctx.actor),
        roles=[r.value for r in services.Role],
        added=added,
    )


@router.post("/users/{name}/{change}")
@page
def change_user(request: Request, name: str, change: str, csrf_token: Token = "") -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if change == "disable":
        services.identity.disable_user(ctx.store, ctx.actor, name)
    elif change == "unlock":
        services.identity.unlock_user(ctx.store, ctx.actor, name)
    else:
        raise InputError(f"a user is disabled or unlocked here, not {change!r}")
    return RedirectResponse("/users", status_code=303)
