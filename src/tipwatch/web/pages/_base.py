"""What every page shares: the signed-in user, the CSRF check, templates and headers.

A page finds its user from the session cookie (the API's, ``HttpOnly; SameSite=Strict``,
``Secure`` when served over TLS). Every form carries the session's CSRF token in a hidden
field and a change without the right token is refused (403) before any service is called;
the sign-in form, which has no session yet, carries a token tied to a short-lived cookie of
its own. Errors are shown as pages: a missing or ended session sends the browser to sign in.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from typing import Annotated, Any, ParamSpec

import jinja2
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from tipwatch import services
from tipwatch.errors import AuthenticationError, TipwatchError, http_status_of
from tipwatch.services import Actor

__all__ = [
    "LOGIN_COOKIE",
    "SECURITY_HEADERS",
    "NoteText",
    "Page",
    "Token",
    "check_csrf",
    "page",
    "render",
    "signed_in",
]

Token = Annotated[str, Form(max_length=200)]
"""A form's CSRF token."""
NoteText = Annotated[str, Form(max_length=20_000)]
"""The text of a note on a referral or a group."""

SESSION_COOKIE = "tipwatch_session"
LOGIN_COOKIE = "tipwatch_login"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "media-src 'self'; "
        "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Sent with every page: no inline script or style, nothing from another origin, no framing,
no referrer, no caching of what a page shows."""


class SignInNeeded(Exception):
    """No live session: the browser goes to the sign-in page."""


class CsrfRefused(Exception):
    """A change without its form's CSRF token."""


@dataclass
class Page:
    """The signed-in user of a request and what its templates need."""

    request: Request
    actor: Actor
    csrf: str
    flash: list[str] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.request.app.state.tipwatch.store

    @property
    def config(self) -> Any:
        return self.request.app.state.tipwatch.config

    def may(self, action: str) -> bool:
        return services.access.may(self.actor, action)


def secure_request(request: Request) -> bool:
    """Whether the request came over TLS (cookies are then ``Secure``)."""
    return request.url.scheme == "https"


def signed_in(request: Request) -> Page:
    """The page context of the session cookie's user; :class:`SignInNeeded` without one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise SignInNeeded()
    store = request.app.state.tipwatch.store
    try:
        actor, csrf = services.identity.authenticate_session(store, cookie)
    except AuthenticationError:
        raise SignInNeeded() from None
    return Page(request, actor, csrf)


def check_csrf(page: Page, token: str | None) -> None:
    """Refuse a change whose form did not carry the session's CSRF token."""
    if not token or not hmac.compare_digest(token, page.csrf):
        raise CsrfRefused()


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def _when(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") + " UTC"
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if len(text) >= 16 and text[10] == "T":
        return text[:10] + " " + text[11:16] + " UTC"
    return text


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _environment() -> jinja2.Environment:
    folder = resources.files("tipwatch.web").joinpath("templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["number"] = _number
    return env


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


NAV = (
    ("today", "Today", "/today", "queue.read"),
    ("queue", "Queue", "/queue", "queue.read"),
    ("search", "Search", "/search", "referral.list"),
    ("countries", "Countries", "/countries", "signal.read"),
    ("alerts", "Alerts", "/alerts", "trends.read"),
    ("assessment", "Assessment", "/assessment", "assessment.create"),
    ("groups", "Groups", "/groups", "links.read"),
    ("lists", "Hash lists", "/lists", "list.read"),
    ("routing", "Routing", "/routing", "package.read"),
    ("audit", "Audit", "/audit", "audit.read"),
    ("users", "Users", "/users", "user.read"),
)


def render(
    template: str,
    page: Page | None,
    *,
    title: str,
    section: str = "",
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A template as a page. ``title`` is the window's title: never referral content."""
    nav = [] if page is None else [n for n in NAV if page.may(n[3])]
    html = (
        environment()
        .get_template(template)
        .render(
            page=page,
            title=title,
            section=section,
            nav=nav,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status)


P = ParamSpec("P")


def page(handler: Callable[P, Response]) -> Callable[P, Response]:
    """Show a handler's errors as pages: sign in again, refused, not found, bad input."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return handler(*args, **kwargs)
        except SignInNeeded:
            return RedirectResponse("/login", status_code=303)
        except CsrfRefused:
            return render(
                "pages/error.html",
                None,
                title="Refused",
                status=403,
                heading="Refused",
                message="The form was not sent with its security token, so nothing was done.",
                hint="Reload the page and send the form again.",
            )
        except TipwatchError as exc:
            status = http_status_of(exc)
            if isinstance(exc, AuthenticationError):
                return RedirectResponse("/login", status_code=303)
            request = kwargs.get("request")
            who: Page | None = None
            if isinstance(request, Request):
                try:
                    who = signed_in(request)
                except SignInNeeded:
                    who = None
            return render(
                "pages/error.html",
                who,
                title={403: "Not allowed", 404: "Not found"}.get(status, "Not done"),
                status=status,
                heading={403: "Not allowed", 404: "Not found", 409: "Changed meanwhile"}.get(
                    status, "Not done"
                ),
                message=str(exc),
                hint=exc.hint,
            )

    return wrapper


def hidden_csrf(page: Page) -> Markup:
    from html import escape

    return Markup(f'<input type="hidden" name="csrf_token" value="{escape(page.csrf)}">')
