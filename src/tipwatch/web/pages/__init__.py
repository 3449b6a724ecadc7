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

from fastapi import FastAPI, Request, Response
from starlette.middleware.base import RequestResponseEndpoint
from starlette.staticfiles import StaticFiles

from tipwatch.web.pages._base import SECURITY_HEADERS

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Serve the workspace pages from ``app`` (which already serves the API)."""
    from tipwatch.web.pages import assessment, media, oversight, work

    @app.middleware("http")
    async def _headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name == "Cache-Control" and request.url.path.startswith("/static/"):
                continue
            response.headers.setdefault(name, value)
        return response

    static = resources.files("tipwatch.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(work.router)
    app.include_router(oversight.router)
    app.include_router(assessment.router)
    app.include_router(media.router)
