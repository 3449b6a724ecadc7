"""Kept media in the dossier, for reviewers: the bytes (blurred on the page) and the reveal.

Both go through :mod:`tipwatch.services.media`, which refuses every role but the reviewer's
and every file that needs legal process before viewing. The page shows a kept image
greyscale and blurred (a CSS filter) and a video muted, never playing by itself; the
reviewer's click posts the reveal (with the session's CSRF token) from the vendored
``/static/media.js``, and only once the server has recorded and counted it is the filter
taken off. The media's URL names the referral and the file by their ids only, and the bytes
are sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, Response

from tipwatch import services
from tipwatch.web.pages._base import check_csrf, page, signed_in

__all__ = ["MEDIA_HEADERS", "router"]

router = APIRouter(include_in_schema=False)

MEDIA_HEADERS = {
    "Cache-Control": "no-store, private, max-age=0",
    "Pragma": "no-cache",
    "Content-Disposition": "inline",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Sent with kept media: never cached, never offered under a file name, same origin only."""

ReportId = Annotated[str, Query(min_length=1, max_length=128)]
FileId = Annotated[str, Query(min_length=1, max_length=200)]


@router.get("/media")
@page
def kept_media(request: Request, referral: ReportId, file: FileId) -> Response:
    ctx = signed_in(request)
    content = services.media.media_content(ctx.store, ctx.actor, referral, file, config=ctx.config)
    return Response(content.data, media_type=content.media_type, headers=MEDIA_HEADERS)


@router.post("/media/reveal")
@page
def reveal(
    request: Request,
    referral: Annotated[str, Form(min_length=1, max_length=128)],
    file: Annotated[str, Form(min_length=1, max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = signed_in(request)
    check_csrf(ctx, csrf_token)
    count = services.media.reveal_media(ctx.store, ctx.actor, referral, file, config=ctx.config)
    return JSONResponse({"exposures_today": count}, headers={"Cache-Control": "no-store"})
