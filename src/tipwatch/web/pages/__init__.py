"""The analyst's workspace: server-rendered pages over the same services as the API.

:func:`mount` adds the pages, their static files (the stylesheet and the vendored htmx and
axe-core, each with its licence) and the security headers to the app. The pages hold no
logic of their own: each calls services, which authorise the signed-in user and audit.

Wellbeing by default: no page shows media. Files are described by their hashes, the lists
they match, categories, algorithms and distances; tipwatch keeps no media unless a deployment
turns that on (``media_keep``). Where it does, a reviewer's dossier (and only a reviewer's)
offers the kept media greyscale and blurred until clicked, never for a file that needs legal
process before viewing; each reveal is audited and counted (:mod:`.media`).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tipwatch.web.pages._base import SECURITY_HEADERS

__all__ = ["mount"]


class _SecurityHeaders:
    """Adds the security headers to every HTTP response that does not set them itself (the
    static files keep their own caching). A plain ASGI middleware: it only edits the start of
    each response, where a request-and-response middleware would cost every API request the
    copying of its body through a stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name == "Cache-Control" and static:
                        continue
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount(app: FastAPI) -> None:
    """Serve the workspace pages from ``app`` (which already serves the API)."""
    from tipwatch.web.pages import assessment, media, oversight, work

    app.add_middleware(_SecurityHeaders)

    static = resources.files("tipwatch.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(work.router)
    app.include_router(oversight.router)
    app.include_router(assessment.router)
    app.include_router(media.router)
