"""Kept media on the workspace's pages, over HTTP, on SQLite and PostgreSQL: a reviewer's
dossier offers them blurred (never for a file needing legal process), the bytes are sent
uncached, a reveal needs the form's token and is counted; every other role gets none."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from tipwatch import services
from tipwatch.settings import reload_settings
from tipwatch.web.app import create_app

from ..services.test_media import KEY, RID, gradient_png, write_referral
from .conftest import OPERATOR, World
from .test_workspace_pages import _sign_in


@pytest.fixture
def image(tmp_path: Path) -> bytes:
    return gradient_png(seed=3)


@pytest.fixture
def with_media(world: World, tmp_path: Path, image: bytes) -> World:
    services.referrals.ingest(world.store, OPERATOR, [write_referral(tmp_path, image)])
    return world


def _keep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPWATCH_MEDIA_KEEP", "true")
    monkeypatch.setenv("TIPWATCH_MEDIA_KEY", KEY)
    reload_settings()


def _attach(world: World, tmp_path: Path, image: bytes, file_id: str) -> None:
    path = tmp_path / f"{file_id}.png"
    path.write_bytes(image)
    services.media.attach_media(world.store, OPERATOR, RID, file_id, path)


def _client(world: World, role: str) -> TestClient:
    client = TestClient(create_app(world.store))
    code = pyotp.TOTP(world.totp[role]).now() if role in world.totp else None
    cookie = _sign_in(client, role, code)
    client.cookies.set("tipwatch_session", cookie.split(";")[0].split("=", 1)[1])
    return client


MEDIA = f"/media?referral={RID}&file="
FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(64)
"""The first bytes of an MP4 file (enough to be taken for a video; it shows nothing)."""


def test_a_reviewer_sees_kept_media_blurred_and_reveals_them(
    with_media: World, tmp_path: Path, image: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = with_media
    _keep(monkeypatch)
    _attach(world, tmp_path, image, "seen")
    _attach(world, tmp_path, image, "legal")
    _attach(world, tmp_path, FAKE_MP4, "clip")
    client = _client(world, "reviewer")
    page = client.get(f"/referrals/{RID}")
    assert page.status_code == 200
    html = page.text
    assert re.search(r"<title>Referral media-1 · tipwatch</title>", html)
    assert '<img class="shrouded" src="/media?referral=media-1&amp;file=seen"' in html
    assert "file=legal" not in html  # needs legal process: never offered
    assert "this file needs legal process before viewing" in html
    assert '<strong id="exposure-count" aria-live="polite">0</strong>' in html
    # A video: muted, never playing by itself, no controls until revealed.
    (video,) = re.findall(r"<video [^>]*>", html)
    assert 'src="/media?referral=media-1&amp;file=clip"' in video and " muted" in video
    assert "autoplay" not in video and "controls" not in video
    assert client.get(MEDIA + "clip").headers["content-type"] == "video/mp4"
    assert '<script src="/static/media.js" defer></script>' in html
    assert "<script>" not in html and " style=" not in html
    assert "media-src 'self'" in page.headers["content-security-policy"]

    served = client.get(MEDIA + "seen")
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"].startswith("no-store")
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "filename" not in served.headers.get("content-disposition", "")
    assert client.get(MEDIA + "legal").status_code == 403

    token = re.search(r'data-csrf="([^"]+)"', html)
    assert token is not None
    form = {"referral": RID, "file": "seen"}
    refused = client.post("/media/reveal", data=form)  # no token
    assert refused.status_code == 403
    answer = client.post("/media/reveal", data={**form, "csrf_token": token[1]})
    assert answer.status_code == 200 and answer.json() == {"exposures_today": 1}
    assert answer.headers["cache-control"].startswith("no-store")
    legal = client.post("/media/reveal", data={**form, "file": "legal", "csrf_token": token[1]})
    assert legal.status_code == 403
    again = client.get(f"/referrals/{RID}").text
    assert '<strong id="exposure-count" aria-live="polite">1</strong>' in again


def test_other_roles_get_no_media(
    with_media: World, tmp_path: Path, image: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = with_media
    _keep(monkeypatch)
    _attach(world, tmp_path, image, "seen")
    for role in ("analyst", "admin", "auditor", "liaison"):
        client = _client(world, role)
        dossier = client.get(f"/referrals/{RID}")
        if role == "auditor":
            assert dossier.status_code == 403  # an auditor reads no dossier at all
        elif role == "liaison":
            assert dossier.status_code == 404  # not routed to the liaison's country
        else:
            assert dossier.status_code == 200
            assert "/media?" not in dossier.text and "exposure-count" not in dossier.text
            assert "No media are shown" in dossier.text
        served = client.get(MEDIA + "seen")
        assert served.status_code == 403 and served.content != image, role
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/password").text)
        assert token is not None
        reveal = {"referral": RID, "file": "seen", "csrf_token": token[1]}
        assert client.post("/media/reveal", data=reveal).status_code == 403, role


def test_by_default_a_reviewer_is_offered_no_media(
    with_media: World, tmp_path: Path, image: bytes
) -> None:
    world = with_media
    # Keeping is off: media handed in through the API are hashed and discarded.
    answer = world.client.put(
        f"/api/v1/referrals/{RID}/files/seen/media",
        files={"file": ("x.png", image, "image/png")},
        headers=world.auth("ingest"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["kept"] is False
    assert answer.json()["media"] == "hashed and discarded; not stored"
    client = _client(world, "reviewer")
    html = client.get(f"/referrals/{RID}").text
    assert "/media?" not in html and "No media are shown" in html
    assert client.get(MEDIA + "seen").status_code == 404
