"""Kept media in a real browser (Debian's Chromium through Playwright): a reviewer signs in
with the second factor, opens a dossier, sees a kept image greyscale and blurred, selects it,
and the image is shown in full while the day's exposure count goes up. Screenshots before
and after go with the workspace's (``test-artifacts/workspace/``), and axe-core checks the
page. The image is a generated gradient; the deployment keeps media with a test key."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tipwatch import services
from tipwatch.services.access import Actor, Role
from tipwatch.settings import reload_settings
from tipwatch.store import Store

from ..services.test_media import KEY, RID, gradient_png, write_referral
from .test_workspace_browser import CHROMIUM, PASSWORD, _free_port, check, sign_in

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

OPERATOR = Actor("operator", Role.ADMIN)
KEEPING = {"TIPWATCH_MEDIA_KEEP": "true", "TIPWATCH_MEDIA_KEY": KEY}


@dataclass
class Served:
    url: str
    store: Store
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn

    from tipwatch.web.app import create_app

    folder = tmp_path_factory.mktemp("media")
    os.environ.update(KEEPING)
    reload_settings()
    store = Store.open(str(folder / "tipwatch.db"))
    image = folder / "gradient.png"
    image.write_bytes(gradient_png(seed=11))
    services.referrals.ingest(store, OPERATOR, [write_referral(folder, image.read_bytes())])
    for file_id in ("seen", "legal"):
        done = services.media.attach_media(store, OPERATOR, RID, file_id, image)
        assert done.kept
    reviewer = services.identity.add_user(store, OPERATOR, "rev", "reviewer", PASSWORD)
    secrets = {"rev": reviewer["totp_enrolment"]["secret"]}
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", store, secrets)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
        for name in KEEPING:
            os.environ.pop(name, None)
        reload_settings()


@pytest.fixture(autouse=True)
def _keeping(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared settings fixture clears TIPWATCH_* for each test: keep media again.
    for name, value in KEEPING.items():
        monkeypatch.setenv(name, value)
    reload_settings()


@pytest.fixture
def tab() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            yield page
        finally:
            assert dialogs == []
            browser.close()


def _filter(page: Any, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).filter"))


def _reveals(store: Store) -> list[str]:
    from sqlalchemy import select

    from tipwatch.store.schema import audit_events

    c = audit_events.c
    with store.read() as conn:
        return [
            r.actor
            for r in conn.execute(
                select(c.actor).where(c.action == "media.reveal", c.outcome == "ok")
            )
        ]


def test_a_reviewer_reveals_a_blurred_image(tab: Any, served: Served) -> None:
    page = tab
    sign_in(page, served, "rev")
    page.wait_for_url("**/today")
    page.goto(f"{served.url}/referrals/{RID}")
    assert page.title() == f"Referral {RID} · tipwatch"
    image = page.locator("figure.kept-media img")
    assert image.count() == 1  # the file needing legal process offers no view
    assert "needs legal process before viewing" in page.locator("main").inner_text()
    # The image has loaded (the bytes came), and it is shown greyscale and blurred.
    page.wait_for_function(
        "() => { const i = document.querySelector('figure.kept-media img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    shown = _filter(page, "figure.kept-media img")
    assert "grayscale(1)" in shown and "blur(16px)" in shown
    assert page.locator("#exposure-count").inner_text() == "0"
    check(page, "27-dossier-kept-media-blurred")

    image.click()
    page.wait_for_selector("figure.kept-media.revealed")
    assert _filter(page, "figure.kept-media img") == "none"
    assert page.locator("#exposure-count").inner_text() == "1"
    assert _reveals(served.store) == ["rev"]
    check(page, "28-dossier-kept-media-revealed")

    # The count is the reviewer's for the day, as the server keeps it.
    page.reload()
    assert page.locator("#exposure-count").inner_text() == "1"
    assert "grayscale(1)" in _filter(page, "figure.kept-media img")  # blurred again
