"""The REST API: ``/api/v1``, described at ``/openapi.json``.

Every endpoint authenticates the caller (an API token as ``Authorization: Bearer ...``, or the
session cookie of ``POST /api/v1/session`` with its ``X-CSRF-Token`` header on changes),
checks that the caller's role and token scopes allow the endpoint's action, and calls one
service, which authorises again, runs one transaction and appends the audit event.

Errors have one body shape, ``{"error": {"type", "status", "message", "hint"}}``, and each
error class has one status (``tipwatch.errors.ERROR_STATUS``): 401 no valid credentials, 403
not allowed, 404 not found (also what a liaison officer gets for another country's
referral), 409 conflict, 422 bad input, 429 too many failed logins from the caller's address
(with ``Retry-After``), 503 store unavailable.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hmac
import io
import logging
import math
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tipwatch import __version__, services
from tipwatch.errors import (
    AuthenticationError,
    InputError,
    TipwatchError,
    TooManyAttempts,
    UnsafeInputError,
    http_status_of,
)
from tipwatch.services import Actor
from tipwatch.settings import get_settings

__all__ = ["SESSION_COOKIE", "create_app"]

_log = logging.getLogger("tipwatch.web")

SESSION_COOKIE = "tipwatch_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_ID = 2**31 - 1
"""The largest package or group id a store keeps (an INTEGER column, 32 bits on PostgreSQL):
a larger one names nothing."""
StoreId = Annotated[int, Field(ge=0, le=_MAX_ID)]


# -- the error body -------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    type: str = Field(description="The error class: NotFoundError, AccessDenied ...")
    status: int = Field(description="The HTTP status, the same as the response's.")
    message: str
    hint: str | None = Field(default=None, description="What the caller can do about it.")


class ErrorBody(BaseModel):
    """Every error response has this body."""

    error: ErrorDetail


def _error(
    status: int,
    kind: str,
    message: str,
    hint: str | None = None,
    *,
    retry_after: int | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(type=kind, status=status, message=message, hint=hint))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers or None)


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (401, "No valid credentials (none, unknown, expired or revoked)"),
        (403, "The role or the token's scopes do not allow it"),
        (404, "Not found, or not visible to the caller"),
        (409, "It exists already, or changed since it was read"),
        (422, "The request is not valid"),
    )
}


# -- plain JSON of service results ----------------------------------------------------------


def plain(value: Any) -> Any:
    """Service results as JSON values: dataclasses and ``as_dict()`` objects as objects,
    times in ISO 8601, NaN as null, numpy values as numbers and lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime):
        # The store keeps naive UTC: say so.
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return plain(as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return plain(tolist())
    return str(value)


def _obj(value: Any) -> dict[str, Any]:
    """:func:`plain` of a result that is one object."""
    found: dict[str, Any] = plain(value)
    return found


def _rows(value: Any) -> list[dict[str, Any]]:
    """:func:`plain` of a result that is a list of objects."""
    found: list[dict[str, Any]] = plain(value)
    return found


# -- request bodies -------------------------------------------------------------------------


class LoginBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)
    totp: str | None = Field(default=None, max_length=12, description="The one-time code.")


class UserBody(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="The login name.")
    role: Literal["admin", "analyst", "reviewer", "liaison", "auditor", "ingest"]
    password: str = Field(min_length=1, max_length=1000)
    country: str | None = Field(
        default=None,
        min_length=2,
        max_length=3,
        description="The country (ISO code) a liaison officer receives; needed for liaison.",
    )
    totp: bool = Field(
        default=False, description="Enrol a TOTP second factor (always for admin, reviewer)."
    )


class TokenBody(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="The user the token acts as.")
    name: str = Field(default="api", min_length=1, max_length=200, description="What it is for.")
    scopes: list[Literal["ingest", "read", "match", "route", "admin"]] = Field(
        min_length=1, max_length=5
    )
    days: int | None = Field(
        default=None, ge=1, le=3650, description="Days until it expires (default: token_days)."
    )


class StatusBody(BaseModel):
    status: Literal["new", "in_review", "routed", "actioned", "closed", "no_action"]
    reason: str | None = Field(default=None, max_length=2000)
    expected_version: int | None = Field(default=None, ge=0)


class VersionBody(BaseModel):
    expected_version: int | None = Field(default=None, ge=0)


class AssignBody(BaseModel):
    assignee: str | None = Field(default=None, max_length=200)
    expected_version: int | None = Field(default=None, ge=0)


class NoteBody(BaseModel):
    body: str = Field(min_length=1, max_length=20_000)


class NoteEditBody(BaseModel):
    body: str = Field(min_length=1, max_length=20_000)
    expected_version: int | None = Field(default=None, ge=1)


class SearchBody(BaseModel):
    query: dict[str, str | int | bool | None] = Field(
        description="The search's filters, as the referral search takes them."
    )


class RouteBody(BaseModel):
    country: str = Field(min_length=2, max_length=3)
    report_ids: list[str] | None = Field(default=None, max_length=10_000)
    group_ids: list[StoreId] | None = Field(default=None, max_length=10_000)
    since: datetime | None = None
    until: datetime | None = None
    include_sent: bool = False
    date_basis: Literal["incident", "received"] = "incident"
    recipient: str | None = Field(default=None, max_length=200)


class RecallBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AckBody(BaseModel):
    outcome: str | None = Field(default=None, max_length=2000)


class HashItem(BaseModel):
    md5: str | None = Field(default=None, max_length=32)
    sha1: str | None = Field(default=None, max_length=40)
    sha256: str | None = Field(default=None, max_length=64)
    pdq: str | None = Field(default=None, max_length=64)
    pdq_quality: int | None = Field(default=None, ge=0, le=100)


class MatchBody(BaseModel):
    items: list[HashItem] = Field(min_length=1, max_length=1000)


class AssessmentBody(BaseModel):
    since: date
    until: date
    countries: list[str] | None = Field(default=None, max_length=300)
    event: str = Field(default="stay-at-home", max_length=60)
    title: str | None = Field(default=None, max_length=300)


class Accepted(BaseModel):
    job_id: str
    status_url: str


# -- the app --------------------------------------------------------------------------------


class _State:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.config = services.triage.load_triage_config(get_settings().triage_config)


_CHECKPOINT_SECONDS = 0.1
"""How often a server over an SQLite store copies the write-ahead log into the database file
(see ``Store.checkpoint``): often enough that the log stays far below the 1,000 pages at
which a request's own commit would have to do it."""


def _checkpoint_until(store: Any, stop: threading.Event) -> None:
    while not stop.wait(_CHECKPOINT_SECONDS):
        try:
            store.checkpoint()
        except Exception:  # a failed copy is retried; requests checkpoint themselves meanwhile
            _log.warning("checkpoint of the store failed", exc_info=True)
            stop.wait(5.0)


def create_app(store: Any = None) -> FastAPI:
    """The API over ``store`` (default: the store the settings name, opened now)."""
    owned = store is None
    if store is None:
        store = services.stores.open_store(get_settings().db)
    state = _State(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        checkpoints = threading.Thread(
            target=_checkpoint_until, args=(store, stop), name="tipwatch-checkpoint", daemon=True
        )
        if store.dialect == "sqlite":
            checkpoints.start()
        try:
            yield
        finally:
            stop.set()
            if checkpoints.is_alive():
                checkpoints.join(timeout=30)
        services.jobs.shutdown(wait=True)
        if owned:
            store.close()

    app = FastAPI(
        title="tipwatch",
        version=__version__,
        description=(
            "Referral intake, hash matching, triage, routing and trends. Authenticate with an "
            "API token (`Authorization: Bearer tw_...`) or the session cookie of "
            '`POST /api/v1/session`. Every error has the body `{"error": {"type", '
            '"status", "message", "hint"}}`.'
        ),
        lifespan=lifespan,
        responses=_ERRORS,
        # No documentation pages: they load their scripts from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.tipwatch = state

    @app.exception_handler(TipwatchError)
    async def _tipwatch_error(_request: Request, exc: TipwatchError) -> JSONResponse:
        retry = exc.retry_after if isinstance(exc, TooManyAttempts) else None
        return _error(
            http_status_of(exc), type(exc).__name__, str(exc), exc.hint, retry_after=retry
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "InputError", f"{where}: {first.get('msg')}", None)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # A fault of tipwatch's own, not of the request: logged with its traceback; the
        # caller gets the one error shape and no internals.
        _log.error("unexpected error", exc_info=exc)
        return _error(500, "TipwatchError", "an unexpected error; it has been logged", None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFoundError", 405: "InputError"}.get(exc.status_code, "HTTPError")
        return _error(exc.status_code, kind, str(exc.detail), None)

    _routes(app, state)
    from tipwatch.web.pages import mount as mount_pages  # the workspace pages

    mount_pages(app)
    return app


async def _authenticate(request: Request) -> Actor:
    """The caller: a bearer token, else the session cookie (with its CSRF header on a
    change). No credentials, or bad ones: :class:`AuthenticationError` (401).

    Runs on the event loop: a token this process resolved within ``api_token_cache_seconds``
    is taken from memory; any look-up in the store runs on a worker thread."""
    state: _State = request.app.state.tipwatch
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header is not 'Bearer <token>'")
        raw = token.strip()
        reuse = get_settings().api_token_cache_seconds
        if reuse > 0:
            known = services.identity.cached_token_actor(state.store, raw)
            if known is not None:
                return known
        return await run_in_threadpool(
            services.identity.authenticate_token, state.store, raw, reuse_seconds=reuse
        )
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        actor, csrf = await run_in_threadpool(
            services.identity.authenticate_session, state.store, cookie
        )
        sent = request.headers.get(CSRF_HEADER, "")
        if request.method not in _SAFE_METHODS and not hmac.compare_digest(
            sent.encode("utf-8", "surrogateescape"), csrf.encode()
        ):
            raise AuthenticationError(
                f"a change made with a session cookie needs the {CSRF_HEADER} header of its login",
                hint="send the csrf_token the login returned",
            )
        return actor
    raise AuthenticationError(
        "no credentials: send an API token or log in",
        hint="send 'Authorization: Bearer <token>' (tokens come from an administrator)",
    )


CurrentActor = Annotated[Actor, Depends(_authenticate)]


def _permit(action: str) -> Callable[[Request, Actor], Awaitable[Actor]]:
    """A dependency: the caller, once its role and scopes allow ``action`` (checked before
    the request's body and parameters are judged). Runs on the event loop; only a refusal,
    which is audited, goes to a worker thread."""

    async def check(request: Request, actor: CurrentActor) -> Actor:
        if not services.access.may(actor, action):
            # Raises AccessDenied once the refusal is recorded.
            await run_in_threadpool(
                services.identity.require, request.app.state.tipwatch.store, actor, action
            )
        return actor

    check.__name__ = f"permit_{action.replace('.', '_')}"
    return check


def _encode_cursor(row: dict[str, Any]) -> str:
    raw = f"{row['incident_time']}|{row['report_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, report_id = raw.partition("|")
        return datetime.fromisoformat(when), report_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputError("the cursor is not one this API gave") from None


@contextlib.contextmanager
def _spooled(suffix: str) -> Iterator[Path]:
    """A private temporary file, in memory-backed /dev/shm where there is one, removed
    whatever happens."""
    shm = Path("/dev/shm")
    folder = tempfile.mkdtemp(prefix="tipwatch-", dir=shm if shm.is_dir() else None)
    path = Path(folder) / f"upload{suffix}"
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            Path(folder).rmdir()


def _routes(app: FastAPI, state: _State) -> None:
    store = state.store
    v1 = "/api/v1"

    # -- health and identity ----------------------------------------------------------------

    @app.get(f"{v1}/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Whether the server answers; no credentials needed, no store access."""
        return {"status": "ok", "version": __version__}

    @app.post(
        f"{v1}/session",
        tags=["identity"],
        responses={
            429: {
                "model": ErrorBody,
                "description": "Too many failed logins from the caller's address: refused "
                "for the seconds the Retry-After header gives",
            }
        },
    )
    def log_in(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
        """Log in with a password (and a TOTP code for admins and reviewers; a code is
        accepted once). Sets the session cookie; changes made with it need the returned
        ``csrf_token`` in the X-CSRF-Token header. Too many failed logins from one client
        address, over any accounts, refuse its logins for a while (429, Retry-After)."""
        session = services.identity.login(
            store,
            body.name,
            body.password,
            body.totp,
            client=request.client.host if request.client is not None else None,
        )
        response.set_cookie(
            SESSION_COOKIE,
            session.cookie,
            httponly=True,
            samesite="strict",
            secure=get_settings().api_secure_cookies,
            expires=session.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            path="/",
        )
        return {
            "user": session.actor.name,
            "role": session.actor.role.value,
            "country": session.actor.country,
            "csrf_token": session.csrf_token,
            "expires_at": session.expires_at.isoformat() + "Z",
        }

    @app.delete(f"{v1}/session", tags=["identity"])
    def log_out(request: Request, response: Response, actor: CurrentActor) -> dict[str, str]:
        """End the session of the cookie sent."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise InputError("log out ends a cookie session; a token is revoked instead")
        services.identity.logout(store, actor, cookie)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"status": "logged out"}

    @app.get(f"{v1}/me", tags=["identity"])
    def me(actor: CurrentActor) -> dict[str, Any]:
        """Who the credentials stand for: name, role, country and token scopes."""
        return {
            "name": actor.name,
            "role": actor.role.value,
            "country": actor.country,
            "scopes": sorted(actor.scopes) if actor.scopes is not None else None,
        }

    # -- users and tokens (administrators) -------------------------------------------------

    @app.get(f"{v1}/users", tags=["identity"])
    def users(actor: Actor = Depends(_permit("user.read"))) -> list[dict[str, Any]]:
        """The users: role, country, whether disabled, TOTP enrolled, locked (never a
        password hash or a TOTP secret)."""
        return _rows(services.identity.list_users(store, actor))

    @app.post(f"{v1}/users", tags=["identity"], status_code=201)
    def add_user(body: UserBody, actor: Actor = Depends(_permit("user.write"))) -> dict[str, Any]:
        """Add a user. An admin or reviewer (or a user added with ``totp``) is enrolled in
        TOTP: the secret and its ``otpauth://`` URI come back once, under
        ``totp_enrolment``, and are never shown again."""
        user = services.identity.add_user(
            store,
            actor,
            body.name,
            body.role,
            body.password,
            country=body.country,
            totp=body.totp,
        )
        return _obj(user)

    @app.post(f"{v1}/users/{{name}}/disable", tags=["identity"])
    def disable_user(
        name: Annotated[str, PathParam(min_length=1, max_length=200)],
        actor: Actor = Depends(_permit("user.write")),
    ) -> dict[str, Any]:
        """Disable a user: its sessions end and its tokens are revoked."""
        return _obj(services.identity.disable_user(store, actor, name))

    @app.get(f"{v1}/tokens", tags=["identity"])
    def tokens(
        actor: Actor = Depends(_permit("token.read")),
        user: Annotated[str | None, Query(max_length=200, description="Only this user's.")] = None,
    ) -> list[dict[str, Any]]:
        """API tokens (never their secrets): active, expired or revoked."""
        return _rows(services.identity.list_tokens(store, actor, user=user))

    @app.post(f"{v1}/tokens", tags=["identity"], status_code=201)
    def create_token(
        body: TokenBody, actor: Actor = Depends(_permit("token.write"))
    ) -> dict[str, Any]:
        """Create an API token. Its secret comes back this once, as ``token``: the store
        keeps only its hash, and no call shows it again."""
        secret, row = services.identity.create_token(
            store, actor, body.user, body.name, body.scopes, days=body.days
        )
        return {"token": secret, **_obj(row)}

    @app.post(f"{v1}/tokens/{{token_id}}/revoke", tags=["identity"])
    def revoke_token(
        token_id: Annotated[str, PathParam(min_length=1, max_length=32)],
        actor: Actor = Depends(_permit("token.write")),
    ) -> dict[str, Any]:
        """Revoke an API token at once (409 when it was revoked already)."""
        return _obj(services.identity.revoke_token(store, actor, token_id))

    # -- jobs -------------------------------------------------------------------------------

    @app.get(f"{v1}/jobs/{{job_id}}", tags=["jobs"])
    def job(job_id: str, actor: Actor = Depends(_permit("job.read"))) -> dict[str, Any]:
        """A job's status (queued, running, done, failed), progress and result."""
        return _obj(services.jobs.get_job(store, actor, job_id))

    def _accepted(response: Response, job_id: str) -> Accepted:
        response.status_code = 202
        return Accepted(job_id=job_id, status_url=f"{v1}/jobs/{job_id}")

    # -- intake -----------------------------------------------------------------------------

    @app.post(f"{v1}/ingest", tags=["intake"], status_code=202)
    async def ingest(
        request: Request,
        response: Response,
        actor: Actor = Depends(_permit("intake.ingest")),
        format: Annotated[Literal["xml", "jsonl", "csv"], Query()] = "jsonl",
    ) -> Accepted:
        """Ingest a body of referrals (CyberTipline XML, JSON Lines or CSV), streamed to a
        private temporary file up to the api_max_body_bytes setting. Returns a job; its
        result is the intake summary."""
        limit = get_settings().api_max_body_bytes
        folder = Path(tempfile.mkdtemp(prefix="tipwatch-ingest-"))
        path = folder / f"body-{uuid.uuid4().hex[:8]}.{format}"
        size = 0
        try:
            with path.open("wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise UnsafeInputError(
                            f"the body is larger than the limit of {limit:,} bytes",
                            hint="send the referrals in several smaller bodies",
                        )
                    fh.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            folder.rmdir()
            raise
        if size == 0:
            path.unlink(missing_ok=True)
            folder.rmdir()
            raise InputError("the body is empty: send the referrals as the request's body")

        def work(progress: Callable[[str, int, int], None]) -> Any:
            try:
                summary = services.referrals.ingest(
                    store,
                    actor,
                    [path],
                    input_format=format,
                    progress=lambda _source, done, total: progress("ingest", done, total),
                )
                return plain(summary.as_dict())
            finally:
                path.unlink(missing_ok=True)
                folder.rmdir()

        job_id = services.jobs.submit(store, actor, "ingest", "intake.ingest", work)
        return _accepted(response, job_id)

    @app.post(f"{v1}/triage", tags=["triage"], status_code=202)
    def triage(response: Response, actor: Actor = Depends(_permit("triage.run"))) -> Accepted:
        """Attribute, link and score every referral, as a job."""

        def work(progress: Callable[[str, int, int], None]) -> Any:
            return plain(
                services.triage.run_triage(store, actor, config=state.config, progress=progress)
            )

        return _accepted(response, services.jobs.submit(store, actor, "triage", "triage.run", work))

    @app.post(f"{v1}/referrals/reindex", tags=["referrals"], status_code=202)
    def reindex(
        response: Response, actor: Actor = Depends(_permit("referral.reindex"))
    ) -> Accepted:
        """Index the identifiers (accounts, e-mail addresses, screen names, IPs, URLs) of
        referrals that have no index rows, such as those stored before the identifier
        search existed, as a job; its result counts them. Safe to run again."""

        def work(progress: Callable[[str, int, int], None]) -> Any:
            return services.referrals.reindex_identifiers(store, actor, progress=progress).as_dict()

        job_id = services.jobs.submit(store, actor, "reindex", "referral.reindex", work)
        return _accepted(response, job_id)

    # -- referrals and cases ----------------------------------------------------------------

    @app.get(f"{v1}/referrals", tags=["referrals"])
    def referrals(
        actor: Actor = Depends(_permit("referral.list")),
        by: Annotated[
            Literal["account", "screen_name", "email", "ip", "url", "report_id", "hash"] | None,
            Query(description="What value names: an account, e-mail, IP ..."),
        ] = None,
        value: Annotated[str | None, Query(max_length=400)] = None,
        country: Annotated[str | None, Query(max_length=7, description="Attributed.")] = None,
        tier: Annotated[list[str] | None, Query()] = None,
        status: Annotated[
            Literal["new", "in_review", "routed", "actioned", "closed", "no_action"] | None,
            Query(),
        ] = None,
        assignee: Annotated[str | None, Query(max_length=200)] = None,
        service: Annotated[str | None, Query(max_length=200)] = None,
        incident_type: Annotated[str | None, Query(max_length=100)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: Annotated[str | None, Query(max_length=600)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        """Search referrals by an identifier and filters, oldest incident first, a page at a
        time: pass ``next_cursor`` back as ``cursor`` for the next page."""
        rows = services.referrals.search_referrals(
            store,
            actor,
            by=by,
            value=value,
            country=country,
            tiers=tier or (),
            case_status=status,
            assignee=assignee,
            service=service,
            incident_type=incident_type,
            since=since,
            until=until,
            after=_decode_cursor(cursor) if cursor else None,
            limit=limit,
        )
        items = [r.as_dict() for r in rows]
        return {
            "items": items,
            "next_cursor": _encode_cursor(items[-1]) if len(items) == limit else None,
        }

    @app.get(f"{v1}/referrals/{{report_id}}", tags=["referrals"])
    def dossier(report_id: str, actor: Actor = Depends(_permit("referral.show"))) -> dict[str, Any]:
        """A referral's dossier: the referral, attribution, priority, matches, links."""
        found = services.referrals.show_referral(store, actor, report_id, config=state.config)
        return _obj(found)

    @app.put(f"{v1}/referrals/{{report_id}}/files/{{file_id}}/media", tags=["referrals"])
    async def attach_media(
        report_id: str,
        file_id: str,
        file: Annotated[UploadFile, File(description="The file's image or video.")],
        actor: Actor = Depends(_permit("media.attach")),
    ) -> dict[str, Any]:
        """Hand in the media of a referral's file. They are hashed and checked against the
        hashes the referral states, then discarded (a private temporary file in /dev/shm
        where there is one, while they are hashed), unless the deployment keeps media: then
        they are kept encrypted at rest, for reviewers to view in the workspace."""
        limit = get_settings().api_max_upload_bytes
        suffix = Path(file.filename or "upload").suffix[:10]
        with _spooled(suffix) as path:
            size = 0
            with path.open("wb") as fh:
                while chunk := await file.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise UnsafeInputError(
                            f"the upload is larger than the limit of {limit:,} bytes"
                        )
                    fh.write(chunk)
            await file.close()
            done = services.media.attach_media(store, actor, report_id, file_id, path)
        return done.as_dict()

    @app.get(f"{v1}/referrals/{{report_id}}/case", tags=["cases"])
    def case(report_id: str, actor: Actor = Depends(_permit("case.read"))) -> dict[str, Any]:
        """A referral's case: status, reason, assignee, version, tier, due time, overdue."""
        return _obj(services.cases.show_case(store, actor, report_id))

    @app.post(f"{v1}/referrals/{{report_id}}/status", tags=["cases"])
    def set_status(
        report_id: str,
        body: StatusBody,
        actor: Actor = Depends(_permit("case.write")),
    ) -> dict[str, Any]:
        """Move a case to a status (closed and no_action need a reason)."""
        found = services.cases.set_status(
            store,
            actor,
            report_id,
            body.status,
            reason=body.reason,
            expected_version=body.expected_version,
        )
        return _obj(found)

    @app.post(f"{v1}/referrals/{{report_id}}/claim", tags=["cases"])
    def claim(
        report_id: str,
        actor: Actor = Depends(_permit("case.claim")),
        body: VersionBody | None = None,
    ) -> dict[str, Any]:
        """Take the case for oneself (409 when someone else holds it)."""
        version = body.expected_version if body else None
        found = services.cases.claim(store, actor, report_id, expected_version=version)
        return _obj(found)

    @app.post(f"{v1}/referrals/{{report_id}}/release", tags=["cases"])
    def release(report_id: str, actor: Actor = Depends(_permit("case.claim"))) -> dict[str, Any]:
        """Give back a case one holds."""
        return _obj(services.cases.release(store, actor, report_id))

    @app.post(f"{v1}/referrals/{{report_id}}/assign", tags=["cases"])
    def assign(
        report_id: str,
        body: AssignBody,
        actor: Actor = Depends(_permit("case.assign")),
    ) -> dict[str, Any]:
        """Assign the case to a user (null: to no one)."""
        found = services.cases.assign(
            store, actor, report_id, body.assignee, expected_version=body.expected_version
        )
        return _obj(found)

    @app.get(f"{v1}/referrals/{{report_id}}/notes", tags=["notes"])
    def referral_notes(
        report_id: str,
        actor: Actor = Depends(_permit("note.read")),
        history: bool = False,
    ) -> list[dict[str, Any]]:
        """The notes on a referral: latest versions, or every version with ``history``."""
        found = services.cases.list_notes(store, actor, "referral", report_id, history=history)
        return _rows(found)

    @app.post(f"{v1}/referrals/{{report_id}}/notes", tags=["notes"], status_code=201)
    def add_referral_note(
        report_id: str,
        body: NoteBody,
        actor: Actor = Depends(_permit("note.write")),
    ) -> dict[str, Any]:
        """Write a note on a referral."""
        return _obj(services.cases.add_note(store, actor, "referral", report_id, body.body))

    @app.put(f"{v1}/notes/{{note_id}}", tags=["notes"])
    def edit_note(
        note_id: str,
        body: NoteEditBody,
        actor: Actor = Depends(_permit("note.write")),
    ) -> dict[str, Any]:
        """Write a new version of one's note (earlier versions stay)."""
        found = services.cases.edit_note(
            store, actor, note_id, body.body, expected_version=body.expected_version
        )
        return _obj(found)

    @app.get(f"{v1}/cases", tags=["cases"])
    def cases(
        actor: Actor = Depends(_permit("case.read")),
        assignee: Annotated[str | None, Query(max_length=200)] = None,
        mine: bool = False,
        status: Annotated[
            list[Literal["new", "in_review", "routed", "actioned", "closed", "no_action"]] | None,
            Query(),
        ] = None,
        overdue: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Cases with a recorded state, newest change first (``mine``: the caller's)."""
        found = services.cases.list_cases(
            store,
            actor,
            assignee=actor.name if mine else assignee,
            statuses=status or (),
            overdue=overdue,
            limit=limit,
        )
        return _rows(found)

    @app.get(f"{v1}/queue", tags=["triage"])
    def queue(
        actor: Actor = Depends(_permit("queue.read")),
        country: Annotated[str | None, Query(max_length=7)] = None,
        tier: Annotated[list[str] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[dict[str, Any]]:
        """Open referrals by tier then score, highest first."""
        found = services.triage.queue(store, actor, country=country, tiers=tier, limit=limit)
        return _rows(found)

    # -- saved searches ---------------------------------------------------------------------

    @app.get(f"{v1}/searches", tags=["searches"])
    def searches(actor: Actor = Depends(_permit("search.read"))) -> list[dict[str, Any]]:
        """The caller's saved searches."""
        return _rows(services.cases.list_searches(store, actor))

    @app.put(f"{v1}/searches/{{name}}", tags=["searches"])
    def save_search(
        name: Annotated[str, PathParam(min_length=1, max_length=200)],
        body: SearchBody,
        actor: Actor = Depends(_permit("search.write")),
    ) -> dict[str, Any]:
        """Save (or replace) a search under a name."""
        return _obj(services.cases.save_search(store, actor, name, body.query))

    @app.delete(f"{v1}/searches/{{name}}", tags=["searches"])
    def delete_search(name: str, actor: Actor = Depends(_permit("search.write"))) -> dict[str, str]:
        """Delete one of the caller's saved searches."""
        services.cases.delete_search(store, actor, name)
        return {"status": "deleted"}

    # -- link groups ------------------------------------------------------------------------

    @app.get(f"{v1}/groups", tags=["groups"])
    def groups(
        actor: Actor = Depends(_permit("links.read")),
        kind: Literal["linked", "viral", "circulating"] | None = None,
        min_size: Annotated[int, Query(ge=1, le=100_000)] = 2,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[dict[str, Any]]:
        """Groups of linked referrals (one offender, viral material, circulating files)."""
        found = services.triage.link_groups(store, actor, kind=kind, min_size=min_size, limit=limit)
        return _rows(found)

    @app.get(f"{v1}/groups/circulating", tags=["groups"])
    def circulating(
        actor: Actor = Depends(_permit("links.read")),
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[dict[str, Any]]:
        """Files that circulate: listed, shared by many accounts, or viral."""
        return _rows(services.triage.circulating(store, actor, limit=limit))

    @app.get(f"{v1}/groups/{{group_id}}", tags=["groups"])
    def group(
        group_id: Annotated[int, PathParam(ge=0, le=_MAX_ID)],
        actor: Actor = Depends(_permit("links.read")),
        max_members: Annotated[int, Query(ge=2, le=500)] = 60,
    ) -> dict[str, Any]:
        """One link group: why linked, its members with their countries, its members by
        country, what they share and the evidence of each linked pair."""
        found = services.triage.group(
            store, actor, group_id, config=state.config, max_members=max_members
        )
        return _obj(found)

    @app.get(f"{v1}/groups/{{group_id}}/notes", tags=["notes"])
    def group_notes(
        group_id: Annotated[int, PathParam(ge=0, le=_MAX_ID)],
        actor: Actor = Depends(_permit("note.read")),
        history: bool = False,
    ) -> list[dict[str, Any]]:
        """The notes on a link group."""
        found = services.cases.list_notes(store, actor, "group", str(group_id), history=history)
        return _rows(found)

    @app.post(f"{v1}/groups/{{group_id}}/notes", tags=["notes"], status_code=201)
    def add_group_note(
        group_id: Annotated[int, PathParam(ge=0, le=_MAX_ID)],
        body: NoteBody,
        actor: Actor = Depends(_permit("note.write")),
    ) -> dict[str, Any]:
        """Write a note on a link group."""
        return _obj(services.cases.add_note(store, actor, "group", str(group_id), body.body))

    # -- routing ----------------------------------------------------------------------------

    @app.post(f"{v1}/routes/preview", tags=["routing"])
    def route_preview(
        body: RouteBody, actor: Actor = Depends(_permit("route.preview"))
    ) -> dict[str, Any]:
        """What a route would send; nothing is recorded."""
        found = services.triage.preview_route(
            store,
            actor,
            body.country,
            since=body.since,
            until=body.until,
            include_sent=body.include_sent,
            date_basis=body.date_basis,
            report_ids=body.report_ids,
            group_ids=body.group_ids,
        )
        return _obj(found)

    @app.post(f"{v1}/routes", tags=["routing"], status_code=201)
    def route(body: RouteBody, actor: Actor = Depends(_permit("route.create"))) -> dict[str, Any]:
        """Make and record the routing package of a country's open referrals."""
        folder = Path(get_settings().api_package_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        out = folder / f"{body.country.upper()}-{stamp}-{uuid.uuid4().hex[:8]}"
        package = services.triage.route(
            store,
            actor,
            body.country,
            out,
            config=state.config,
            since=body.since,
            until=body.until,
            include_sent=body.include_sent,
            date_basis=body.date_basis,
            report_ids=body.report_ids,
            group_ids=body.group_ids,
            recipient=body.recipient,
        )
        return _obj(package)

    @app.get(f"{v1}/packages", tags=["routing"])
    def packages(actor: Actor = Depends(_permit("package.read"))) -> list[dict[str, Any]]:
        """Routing packages, newest first (a liaison officer: its country's only)."""
        return _rows(services.triage.packages(store, actor))

    @app.post(f"{v1}/packages/{{package_id}}/recall", tags=["routing"])
    def recall(
        package_id: Annotated[int, PathParam(ge=0, le=_MAX_ID)],
        body: RecallBody,
        actor: Actor = Depends(_permit("route.recall")),
    ) -> dict[str, Any]:
        """Recall an unacknowledged package; its referrals return to the queue."""
        returned = services.triage.recall_package(store, actor, package_id, reason=body.reason)
        return {"package_id": package_id, "returned": returned}

    @app.post(f"{v1}/packages/{{package_id}}/ack", tags=["routing"])
    def acknowledge(
        package_id: Annotated[int, PathParam(ge=0, le=_MAX_ID)],
        actor: Actor = Depends(_permit("route.ack")),
        body: AckBody | None = None,
    ) -> dict[str, Any]:
        """Acknowledge a package received (and record its outcome)."""
        found = services.triage.acknowledge_package(
            store, actor, package_id, outcome=body.outcome if body else None
        )
        return _obj(found)

    # -- hash lists and matching ------------------------------------------------------------

    @app.get(f"{v1}/lists", tags=["lists"])
    def lists(actor: Actor = Depends(_permit("list.read"))) -> list[dict[str, Any]]:
        """The hash lists, with their versions and entry counts."""
        return _rows(services.matching.list_lists(store, actor))

    @app.get(f"{v1}/lists/{{name}}/export", tags=["lists"])
    def export_list(
        name: str,
        actor: Actor = Depends(_permit("list.export")),
        format: Literal["vics", "csv", "plain"] = "csv",
    ) -> PlainTextResponse:
        """A list's active entries as VICS JSON, hash CSV or plain text."""
        sink = io.StringIO()
        services.matching.export_list(store, actor, name, sink, list_format=format)
        media = {"vics": "application/json", "csv": "text/csv"}.get(format, "text/plain")
        return PlainTextResponse(sink.getvalue(), media_type=media)

    @app.post(f"{v1}/lists/{{name}}/versions", tags=["lists"], status_code=202)
    async def import_list(
        name: Annotated[str, PathParam(min_length=1, max_length=200)],
        request: Request,
        response: Response,
        version: Annotated[str, Query(min_length=1, max_length=100)],
        actor: Actor = Depends(_permit("list.import")),
        format: Literal["vics", "csv"] = "csv",
        full: bool = True,
    ) -> Accepted:
        """Import a version of a hash list from the body (VICS JSON or hash CSV), as a job.
        A full version retires the entries it leaves out."""
        limit = get_settings().api_max_body_bytes
        folder = Path(tempfile.mkdtemp(prefix="tipwatch-list-"))
        path = folder / ("list.json" if format == "vics" else "list.csv")
        size = 0
        try:
            with path.open("wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise UnsafeInputError(f"the body is larger than {limit:,} bytes")
                    fh.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            folder.rmdir()
            raise

        def work(_progress: Callable[[str, int, int], None]) -> Any:
            try:
                summary = services.matching.import_list(
                    store, actor, path, name=name, version=version, list_format=format, full=full
                )
                return plain(summary)
            finally:
                path.unlink(missing_ok=True)
                folder.rmdir()

        return _accepted(
            response, services.jobs.submit(store, actor, "list.import", "list.import", work)
        )

    def _verdict(verdict: Any) -> dict[str, Any]:
        return {
            "status": verdict.status,
            "matches": [m.as_dict() for m in verdict.matches],
        }

    @app.post(f"{v1}/match", tags=["matching"])
    def match(body: MatchBody, actor: Actor = Depends(_permit("match.run"))) -> dict[str, Any]:
        """Match files by their hashes. Each result says known (with every match: list,
        category, algorithm, kind exact or near, distance, entry id) or new. A near (PDQ)
        match is a lead, not proof."""
        items = [
            {k: v for k, v in item.model_dump().items() if k != "pdq_quality" and v is not None}
            for item in body.items
        ]
        verdicts = services.matching.match_hashes(
            store, actor, items, qualities=[item.pdq_quality for item in body.items]
        )
        return {"results": [_verdict(v) for v in verdicts]}

    @app.post(f"{v1}/match/media", tags=["matching"])
    async def match_media(
        file: Annotated[UploadFile, File(description="An image or a video.")],
        actor: Actor = Depends(_permit("match.run")),
    ) -> dict[str, Any]:
        """Hash an uploaded image or video and match it. The upload is kept only in memory
        (a private temporary file in /dev/shm where there is one) while it is hashed, then
        discarded: nothing of it is stored."""
        limit = get_settings().api_max_upload_bytes
        suffix = Path(file.filename or "upload").suffix[:10]
        with _spooled(suffix) as path:
            size = 0
            with path.open("wb") as fh:
                while chunk := await file.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise UnsafeInputError(
                            f"the upload is larger than the limit of {limit:,} bytes"
                        )
                    fh.write(chunk)
            await file.close()
            hashes, verdict = services.matching.match_upload(store, actor, path)
        return {
            "media": "hashed and discarded; not stored",
            "kind": hashes.kind,
            "hashes": {
                a: getattr(hashes, a)
                for a in ("md5", "sha1", "sha256", "pdq")
                if getattr(hashes, a) is not None
            },
            "pdq_quality": hashes.pdq_quality,
            "error": hashes.error,
            "result": _verdict(verdict) if verdict is not None else None,
        }

    # -- signals, trends, alerts, assessment ------------------------------------------------

    @app.get(f"{v1}/series", tags=["trends"])
    def series(
        actor: Actor = Depends(_permit("signal.read")),
        metric: Annotated[str, Query(min_length=1, max_length=120)] = "referrals",
        country: Annotated[list[str] | None, Query()] = None,
        since: date | None = None,
        until: date | None = None,
    ) -> dict[str, Any]:
        """Daily series of a metric per country (null: a day without data)."""
        found = services.trends.series(
            store, actor, metric, countries=country, since=since, until=until
        )
        return {
            code: {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "values": plain(s.values),
            }
            for code, s in found.items()
        }

    @app.get(f"{v1}/countries/{{country}}/attribution", tags=["trends"])
    def attribution_quality(
        country: Annotated[str, PathParam(min_length=2, max_length=3)],
        actor: Actor = Depends(_permit("queue.read")),
        since: date | None = None,
        until: date | None = None,
    ) -> dict[str, Any]:
        """How a country's referrals of a period (incident days, both ends included) were
        attributed: by which evidence, in which confidence band, how many through possible
        proxies; and how many of the period's referrals have no country."""
        found = services.triage.attribution_quality(store, actor, country, since=since, until=until)
        return {**_obj(found), "confidence_bands": dict(services.triage.CONFIDENCE_BANDS)}

    @app.get(f"{v1}/signals", tags=["trends"])
    def signals(actor: Actor = Depends(_permit("signal.read"))) -> list[dict[str, Any]]:
        """The signal feeds imported: feed, country, metric, days."""
        return _rows(services.trends.list_signals(store, actor))

    @app.get(f"{v1}/trends", tags=["trends"])
    def trends(
        actor: Actor = Depends(_permit("trends.read")),
        metric: Annotated[str, Query(min_length=1, max_length=120)] = "referrals",
        country: Annotated[str | None, Query(max_length=3)] = None,
        event: Annotated[str, Query(max_length=60)] = "stay-at-home",
        since: date | None = None,
        until: date | None = None,
    ) -> dict[str, Any]:
        """Surge factors after each country's event, against its baseline."""
        found = services.trends.trends(
            store, actor, metric=metric, country=country, event=event, since=since, until=until
        )
        return _obj(found)

    @app.get(f"{v1}/alerts", tags=["trends"])
    def alerts(
        actor: Actor = Depends(_permit("trends.read")),
        metric: Annotated[str, Query(min_length=1, max_length=120)] = "referrals",
        country: Annotated[list[str] | None, Query()] = None,
        since: date | None = None,
        until: date | None = None,
    ) -> dict[str, Any]:
        """Surge alerts (yellow, red) as episodes, and data-quality alerts apart."""
        found = services.trends.alerts(
            store, actor, metric=metric, countries=country, since=since, until=until
        )
        return {"surge": plain(found.surge), "data_quality": plain(found.data_quality)}

    @app.post(f"{v1}/assessment", tags=["assessment"], status_code=202)
    def assessment(
        body: AssessmentBody,
        response: Response,
        actor: Actor = Depends(_permit("assessment.create")),
    ) -> Accepted:
        """Build the threat assessment as a job; fetch it at /api/v1/assessment/{job_id}."""
        def work(progress: Callable[[str, int, int], None]) -> Any:
            progress("assessment", 0, 1)
            out = services.assessment.output_stem("assessment").with_suffix(".html")
            written = services.assessment.write_assessment(
                store,
                actor,
                since=body.since,
                until=body.until,
                out=out,
                countries=body.countries,
                event=body.event,
                title=body.title,
            )
            return {"html": str(written.html_path), "bytes": written.html_bytes}

        return _accepted(
            response,
            services.jobs.submit(store, actor, "assessment", "assessment.create", work),
        )

    @app.get(f"{v1}/assessment/{{job_id}}", tags=["assessment"], response_class=Response)
    def assessment_result(job_id: str, actor: Actor = Depends(_permit("job.read"))) -> Response:
        """The assessment a finished job wrote (HTML, self-contained)."""
        found = services.jobs.get_job(store, actor, job_id)
        if found["kind"] != "assessment":
            raise InputError(f"job {job_id} is not an assessment")
        if found["status"] != "done":
            from tipwatch.errors import ConflictError

            raise ConflictError(f"the assessment job is {found['status']}", hint="poll the job")
        html = Path(found["result"]["html"]).read_text(encoding="utf-8")
        return Response(html, media_type="text/html; charset=utf-8")

    # -- audit ------------------------------------------------------------------------------

    @app.get(f"{v1}/audit", tags=["audit"])
    def audit(
        actor: Actor = Depends(_permit("audit.read")),
        who: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[str | None, Query(max_length=100)] = None,
        object_id: Annotated[str | None, Query(max_length=200)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        """Audit events, newest first."""
        found = services.audit.list_events(
            store,
            actor,
            who=who,
            action=action,
            object_id=object_id,
            since=since,
            until=until,
            limit=limit,
        )
        return _rows([e.as_dict() for e in found])

    @app.get(f"{v1}/audit/verify", tags=["audit"])
    def audit_verify(actor: Actor = Depends(_permit("audit.verify"))) -> dict[str, Any]:
        """Check the audit log's hash chain; the first bad entry is named."""
        result = services.audit.verify(store, actor)
        return {
            "ok": result.ok,
            "checked": result.checked,
            "first_bad_id": result.first_bad_id,
            "problem": result.problem,
        }
