"""The day's work: sign-in, Today, the Queue, a referral's dossier and Search."""

from __future__ import annotations

import base64
import binascii
import math
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from tipwatch import services
from tipwatch.errors import AuthenticationError, InputError, TipwatchError, TooManyAttempts
from tipwatch.web.pages._base import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    NoteText,
    Token,
    check_csrf,
    new_login_token,
    page,
    render,
    secure_request,
    signed_in,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


def _back(target: str, default: str) -> str:
    """A same-site path to return to (never another origin)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


# -- sign-in, sign-out, password ------------------------------------------------------------


@router.get("/")
@page
def home(request: Request) -> Response:
    """Each role's first page: the day's work, a liaison's packages, an auditor's log."""
    ctx = signed_in(request)
    for action, target in (
        ("queue.read", "/today"),
        ("package.read", "/routing"),
        ("audit.read", "/audit"),
    ):
        if ctx.may(action):
            return RedirectResponse(target, status_code=303)
    return RedirectResponse("/password", status_code=303)


def _login_cookie(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=900,
        httponly=True,
        samesite="strict",
        secure=secure_request(request),
        path="/login",
    )
    return response


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = new_login_token()
    response = render(
        "pages/login.html", None, title="Sign in", status=status, error=error, login_token=token
    )
    return _login_cookie(request, response, token)


def _code_page(request: Request, pending: str, error: str | None = None) -> Response:
    token = new_login_token()
    response = render(
        "pages/login_code.html",
        None,
        title="Sign in: one-time code",
        status=200,
        error=error,
        login_token=token,
        pending=pending,
    )
    return _login_cookie(request, response, token)


def _login_form_ok(request: Request, csrf_token: str) -> bool:
    import hmac

    expected = request.cookies.get(LOGIN_COOKIE, "")
    return bool(expected and csrf_token and hmac.compare_digest(expected, csrf_token))


_EXPIRED_FORM = "The form had expired or was not sent from this page: try again."


def _signed_in_response(request: Request, session: Any) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie,
        httponly=True,
        samesite="strict",
        secure=secure_request(request),
        expires=session.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def _refusal(exc: TipwatchError) -> tuple[str, int]:
    if isinstance(exc, TooManyAttempts):
        minutes = math.ceil(exc.retry_after / 60)
        return (
            "Too many failed sign-ins from this address: sign-ins from it are refused for "
            f"now. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            429,
        )
    if isinstance(exc, AuthenticationError):
        return "The name, password or one-time code is not right, or the account is locked.", 401
    return str(exc), 403


def _client(request: Request) -> str | None:
    """The caller's address, for counting failed sign-ins per address (behind a proxy,
    Uvicorn takes it from the proxy's forwarded header when the proxy is trusted)."""
    return request.client.host if request.client is not None else None


def _refused_page(request: Request, exc: TipwatchError) -> Response:
    response = _login_page(request, *_refusal(exc))
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Token = "",
) -> Response:
    """The first step: the password. A user with a second factor is asked for the code."""
    if not _login_form_ok(request, csrf_token):
        return _login_page(request, _EXPIRED_FORM, 403)
    store = request.app.state.tipwatch.store
    try:
        outcome = services.identity.begin_login(store, name, password, client=_client(request))
    except TipwatchError as exc:
        return _refused_page(request, exc)
    if isinstance(outcome, services.identity.SecondFactorNeeded):
        return _code_page(request, outcome.token)
    return _signed_in_response(request, outcome)


@router.post("/login/code")
def login_code(
    request: Request,
    pending: Annotated[str, Form(max_length=200)] = "",
    totp: Annotated[str, Form(max_length=12)] = "",
    csrf_token: Token = "",
) -> Response:
    """The second step: the one-time code, with the pending sign-in of the first. The
    pending sign-in is used once: after a wrong code the password is asked again."""
    if not _login_form_ok(request, csrf_token):
        return _login_page(request, _EXPIRED_FORM, 403)
    store = request.app.state.tipwatch.store
    try:
        session = services.identity.finish_login(
            store, pending, totp.strip(), client=_client(request)
        )
    except TipwatchError as exc:
        if isinstance(exc, AuthenticationError) and not isinstance(exc, TooManyAttempts):
            message = (
                "The one-time code is not right, or the sign-in had expired or was used "
                "already: sign in again."
            )
            return _login_page(request, message, 401)
        return _refused_page(request, exc)
    return _signed_in_response(request, session)


@router.post("/logout")
@page
def logout(request: Request, csrf_token: Token = "") -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.identity.logout(ctx.store, ctx.actor, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password")
@page
def password_form(request: Request) -> Response:
    ctx = signed_in(request)
    return render("pages/password.html", ctx, title="Change password", error=None)


@router.post("/password")
@page
def change_password(
    request: Request,
    current: Annotated[str, Form(max_length=1000)] = "",
    new: Annotated[str, Form(max_length=1000)] = "",
    repeat: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    error: str | None = None
    if new != repeat:
        error = "The new password and its repetition differ."
    else:
        try:
            services.workspace.change_password(ctx.store, ctx.actor, current, new)
        except (AuthenticationError, InputError) as exc:
            error = str(exc)
    if error is not None:
        return render("pages/password.html", ctx, title="Change password", error=error, status=422)
    response = render("pages/password_changed.html", None, title="Password changed")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- Today ----------------------------------------------------------------------------------


@router.get("/today")
@page
def today(
    request: Request, metric: Annotated[str, Query(max_length=120)] = "referrals"
) -> Response:
    ctx = signed_in(request)
    counts = services.workspace.overview(ctx.store, ctx.actor)
    mine = services.cases.list_cases(
        ctx.store, ctx.actor, assignee=ctx.actor.name, statuses=("new", "in_review"), limit=20
    )
    overdue = services.cases.list_cases(ctx.store, ctx.actor, overdue=True, limit=20)
    waiting = [
        p
        for p in services.triage.packages(ctx.store, ctx.actor)
        if p.get("status") not in ("recalled",) and not p.get("acknowledged_at")
    ][:20]
    metrics = ["referrals"]
    if ctx.may("signal.read"):
        signals = services.trends.list_signals(ctx.store, ctx.actor)
        metrics += sorted({m["metric"] for m in signals} - {"referrals"})
    episodes: list[Any] = []
    surges: list[Any] = []
    problem: str | None = None
    if ctx.may("trends.read"):
        try:
            result = services.trends.alerts(ctx.store, ctx.actor, metric=metric, quality=False)
            done = services.workspace.alert_acknowledgements(
                ctx.store, ctx.actor, [(e.country, e.metric, e.start) for e in result.surge]
            )
            open_episodes = [e for e in result.surge if (e.country, e.metric, e.start) not in done]
            episodes = sorted(open_episodes, key=lambda e: e.start, reverse=True)[:10]
            trends = services.trends.trends(ctx.store, ctx.actor, metric=metric, align=False)
            surges = sorted(
                (t for t in trends.countries if t.surge is not None),
                key=lambda t: -(t.surge.factor if t.surge else 0),
            )[:15]
        except TipwatchError as exc:
            problem = str(exc)
    return render(
        "pages/today.html",
        ctx,
        title="Today",
        section="today",
        counts=counts,
        mine=mine,
        overdue=overdue,
        waiting=waiting,
        episodes=episodes,
        surges=surges,
        metric=metric,
        metrics=metrics,
        problem=problem,
    )


# -- the Queue ------------------------------------------------------------------------------

FILTERS = (
    "country",
    "tier",
    "status",
    "assignee",
    "service",
    "incident_type",
    "received_since",
    "received_until",
    "material",
)


def _query_of(request: Request) -> services.workspace.WorklistQuery:
    params = request.query_params
    values: dict[str, Any] = {k: params.get(k, "")[:200] for k in FILTERS}
    values["include_sent"] = params.get("include_sent", "") in ("1", "on", "true")
    return services.workspace.WorklistQuery(**values)


@router.get("/queue")
@page
def queue(
    request: Request,
    sort: Annotated[str, Query(max_length=20)] = "priority",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    saved: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    ctx = signed_in(request)
    searches = services.cases.list_searches(ctx.store, ctx.actor) if ctx.may("search.read") else []
    if saved:
        chosen = next((s for s in searches if s["name"] == saved), None)
        if chosen is None:
            raise InputError(f"no saved search named {saved!r}")
        query = services.workspace.WorklistQuery.of(dict(chosen["query"]))
        sort = str(chosen["query"].get("sort", sort))
    else:
        query = _query_of(request)
    rows = services.workspace.worklist(
        ctx.store,
        ctx.actor,
        query,
        sort=sort,
        offset=(page_number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE + 1,
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    current = {**query.as_dict(), "sort": sort}
    here = "/queue?" + urlencode({**current, "page": page_number})
    users = (
        [u["name"] for u in services.identity.list_users(ctx.store, ctx.actor)]
        if ctx.may("user.read")
        else []
    )
    return render(
        "pages/queue.html",
        ctx,
        title="Queue",
        section="queue",
        rows=rows,
        query=query,
        sort=sort,
        sorts=services.workspace.SORTS,
        tiers=services.triage.TIERS,
        statuses=services.cases.CASE_STATUSES,
        page_number=page_number,
        previous_url=(
            "/queue?" + urlencode({**current, "page": page_number - 1}) if page_number > 1 else None
        ),
        next_url="/queue?" + urlencode({**current, "page": page_number + 1}) if more else None,
        here=here,
        searches=searches,
        users=users,
    )


@router.post("/queue/claim/{report_id:path}")
@page
def claim(
    request: Request, report_id: str, csrf_token: Token = "", back: Token = "/queue"
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    case = services.cases.claim(ctx.store, ctx.actor, report_id)
    if request.headers.get("HX-Request") == "true":
        return render("pages/_claimed.html", ctx, title="", case=case)
    return RedirectResponse(_back(back, "/queue"), status_code=303)


@router.post("/queue/assign")
@page
def bulk_assign(
    request: Request,
    report_id: Annotated[list[str] | None, Form(max_length=500)] = None,
    assignee: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Token = "",
    back: Token = "/queue",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if not report_id:
        raise InputError("choose the referrals to assign (tick their boxes)")
    for rid in report_id:
        services.cases.assign(ctx.store, ctx.actor, rid, assignee or None)
    return RedirectResponse(_back(back, "/queue"), status_code=303)


@router.post("/queue/searches")
@page
def save_search(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    query: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Token = "",
) -> Response:
    from urllib.parse import parse_qsl

    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    fields = dict(parse_qsl(query))
    kept: dict[str, str | bool] = {k: v for k, v in fields.items() if k in (*FILTERS, "sort")}
    if fields.get("include_sent"):
        kept["include_sent"] = True
    services.cases.save_search(ctx.store, ctx.actor, name.strip(), kept)
    return RedirectResponse("/queue?" + urlencode({"saved": name.strip()}), status_code=303)


@router.post("/queue/searches/delete")
@page
def delete_search(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.cases.delete_search(ctx.store, ctx.actor, name)
    return RedirectResponse("/queue", status_code=303)


# -- the dossier ----------------------------------------------------------------------------


@router.get("/referrals/{report_id:path}")
@page
def dossier(request: Request, report_id: str) -> Response:
    ctx = signed_in(request)
    view = services.workspace.dossier_page(ctx.store, ctx.actor, report_id, config=ctx.config)
    found = view.dossier
    notes = view.notes or []
    case, history = view.case, view.history or []
    whole = found.as_dict()
    # Kept media, for a reviewer only (and only where the deployment keeps media).
    media = (
        services.media.kept_for_dossier(ctx.store, ctx.actor, report_id, config=ctx.config)
        if ctx.may("media.view")
        else None
    )
    return render(
        "pages/dossier.html",
        ctx,
        title=f"Referral {report_id}",
        section="queue",
        report_id=report_id,
        d=found,
        whole=whole,
        referral={k: v for k, v in whole["referral"].items() if k != "files"},
        case=case,
        notes=services.cases.latest_notes(notes),
        versions=notes,
        history=history,
        statuses=services.cases.CASE_STATUSES,
        media=media,
    )


def _to_dossier(report_id: str) -> Response:
    from urllib.parse import quote

    return RedirectResponse(f"/referrals/{quote(report_id, safe='')}", status_code=303)


@router.post("/referrals/{report_id:path}/status")
@page
def set_status(
    request: Request,
    report_id: str,
    status: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    expected_version: Annotated[int | None, Form()] = None,
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.cases.set_status(
        ctx.store,
        ctx.actor,
        report_id,
        status,
        reason=reason or None,
        expected_version=expected_version,
    )
    return _to_dossier(report_id)


@router.post("/referrals/{report_id:path}/claim")
@page
def claim_one(request: Request, report_id: str, csrf_token: Token = "") -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.cases.claim(ctx.store, ctx.actor, report_id)
    return _to_dossier(report_id)


@router.post("/referrals/{report_id:path}/release")
@page
def release_one(request: Request, report_id: str, csrf_token: Token = "") -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    services.cases.release(ctx.store, ctx.actor, report_id)
    return _to_dossier(report_id)


@router.post("/referrals/{report_id:path}/notes")
@page
def add_note(
    request: Request, report_id: str, body: NoteText = "", csrf_token: Token = ""
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if not body.strip():
        raise InputError("a note needs some text")
    services.cases.add_note(ctx.store, ctx.actor, "referral", report_id, body)
    return _to_dossier(report_id)


@router.post("/referrals/{report_id:path}/notes/{note_id}")
@page
def edit_note(
    request: Request,
    report_id: str,
    note_id: str,
    body: NoteText = "",
    expected_version: Annotated[int | None, Form()] = None,
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    if not body.strip():
        raise InputError("a note needs some text")
    services.cases.edit_note(ctx.store, ctx.actor, note_id, body, expected_version=expected_version)
    return _to_dossier(report_id)


# -- Search ---------------------------------------------------------------------------------
# A search term can be referral content (an account, an address): it travels in a POST body,
# never in the URL.


def _cursor(row: dict[str, Any]) -> str:
    raw = f"{row['incident_time']}|{row['report_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(cursor: str) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        when, _, report_id = base64.urlsafe_b64decode(cursor).decode().partition("|")
        return datetime.fromisoformat(when), report_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputError("the page marker is not one this page gave") from None


@router.get("/search")
@page
def search_form(request: Request) -> Response:
    ctx = signed_in(request)
    return render(
        "pages/search.html",
        ctx,
        title="Search",
        section="search",
        q="",
        kind="",
        detected=None,
        rows=None,
        next_cursor=None,
        kinds=services.workspace.SEARCH_KINDS,
        pages=[],
    )


@router.post("/search")
@page
def search(
    request: Request,
    q: Annotated[str, Form(max_length=400)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    cursor: Annotated[str, Form(max_length=600)] = "",
    pages: Annotated[str, Form(max_length=6000)] = "",
    csrf_token: Token = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    term = q.strip()
    if not term:
        raise InputError("type a report id, account, e-mail, screen name, IP, hash or URL")
    detected = kind or services.workspace.detect_kind(term)
    tried = [detected]
    rows = services.referrals.search_referrals(
        ctx.store, ctx.actor, by=detected, value=term, after=_after(cursor), limit=PAGE_SIZE
    )
    if not rows and not kind and not cursor and detected == "report_id":
        # Not a report id: try it as an account, then as a screen name.
        for other in ("account", "screen_name"):
            tried.append(other)
            rows = services.referrals.search_referrals(
                ctx.store, ctx.actor, by=other, value=term, limit=PAGE_SIZE
            )
            if rows:
                detected = other
                break
    items = [r.as_dict() for r in rows]
    trail = [p for p in pages.split(",") if p] + ([cursor] if cursor else [])
    return render(
        "pages/search.html",
        ctx,
        title="Search",
        section="search",
        q=term,
        kind=kind,
        detected=detected,
        tried=tried,
        rows=items,
        next_cursor=_cursor(items[-1]) if len(items) == PAGE_SIZE else None,
        kinds=services.workspace.SEARCH_KINDS,
        pages=trail,
    )
