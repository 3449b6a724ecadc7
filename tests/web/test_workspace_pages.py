"""The workspace pages over HTTP, on SQLite and PostgreSQL: the headers every page carries,
the session cookie's flags, the sign-in form's token, CSRF refusals before any change, and
what a page may say in its title and URL."""

from __future__ import annotations

import re

import pyotp
from fastapi.testclient import TestClient

from tipwatch import services
from tipwatch.services.access import Actor, Role
from tipwatch.web.app import create_app

from .conftest import OPERATOR, PASSWORD, World


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _sign_in(client: TestClient, name: str, code: str | None = None) -> str:
    form = client.get("/login")
    data = {"name": name, "password": PASSWORD, "csrf_token": _token(form.text)}
    if code:
        data["totp"] = code
    answer = client.post("/login", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    (session,) = [
        c for c in answer.headers.get_list("set-cookie") if c.startswith("tipwatch_session=")
    ]
    return session


def test_headers_cookies_and_tokens(world: World) -> None:
    client = TestClient(create_app(world.store), base_url="https://testserver")
    page = client.get("/login")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    for rule in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert rule in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text and " style=" not in page.text  # no inline script or style

    # Admins need the second factor; the refusal says nothing of which part was wrong.
    refused = client.post(
        "/login",
        data={"name": "admin", "password": PASSWORD, "csrf_token": _token(page.text)},
    )
    assert refused.status_code == 401 and "not right" in refused.text
    cookie = _sign_in(client, "admin", pyotp.TOTP(world.totp["admin"]).now())
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "secure", "path=/"} <= flags

    # Over plain HTTP the cookie cannot be Secure (the browser would drop it).
    plain = TestClient(create_app(world.store))
    assert "secure" not in _sign_in(plain, "analyst").lower()


def test_changes_need_the_form_token_and_roles_fail_closed(world: World) -> None:
    rows = services.referrals.search_referrals(world.store, OPERATOR, limit=5)
    report_id = rows[0].report_id
    client = TestClient(create_app(world.store))
    _sign_in(client, "analyst")
    dossier = client.get(f"/referrals/{report_id}")
    assert dossier.status_code == 200
    assert f"<title>Referral {report_id} · tipwatch</title>" in dossier.text
    token = _token(dossier.text)
    before = services.cases.show_case(world.store, OPERATOR, report_id)
    for data in ({"status": "in_review"}, {"status": "in_review", "csrf_token": "forged"}):
        answer = client.post(f"/referrals/{report_id}/status", data=data)
        assert answer.status_code == 403 and "security token" in answer.text
    assert services.cases.show_case(world.store, OPERATOR, report_id) == before
    answer = client.post(
        f"/referrals/{report_id}/status", data={"status": "in_review", "csrf_token": token}
    )
    assert answer.status_code == 200  # followed to the dossier
    assert services.cases.show_case(world.store, OPERATOR, report_id)["status"] == "in_review"
    # The status history (read from the audit log by action) shows the change, and only once.
    assert answer.text.count("case.write: status in_review") == 1

    # The search term travels in the body: the results page's URL is /search alone.
    found = client.post("/search", data={"q": report_id, "csrf_token": token})
    assert found.status_code == 200 and str(found.url).endswith("/search")
    assert "Looked up as <strong>report_id</strong>" in found.text

    # An auditor has no queue; a liaison officer (NL) does not see what was not routed there.
    auditor = TestClient(create_app(world.store))
    _sign_in(auditor, "auditor")
    assert auditor.get("/queue").status_code == 403
    assert auditor.get(f"/referrals/{report_id}").status_code == 403
    liaison = TestClient(create_app(world.store))
    _sign_in(liaison, "liaison")
    assert liaison.get(f"/referrals/{report_id}").status_code == 404
    assert liaison.get("/users").status_code == 403
    # Without a session, every page sends the browser to sign in.
    anonymous = TestClient(create_app(world.store))
    answer = anonymous.get("/queue", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_saved_searches_and_bulk_assignment(world: World) -> None:
    client = TestClient(create_app(world.store))
    _sign_in(client, "analyst")
    queue = client.get("/queue", params={"status": "new", "sort": "received"})
    assert queue.status_code == 200
    token = _token(queue.text)
    picked = re.findall(r'name="report_id" value="([^"]+)"', queue.text)[:2]
    assert len(picked) == 2, queue.text[:2000]
    answer = client.post(
        "/queue/assign",
        data={"report_id": picked, "assignee": "reviewer", "csrf_token": token, "back": "/queue"},
    )
    assert answer.status_code == 200
    for report_id in picked:
        assert services.cases.show_case(world.store, OPERATOR, report_id)["assignee"] == "reviewer"
    mine = client.get("/queue", params={"assignee": "reviewer"})
    assert sorted(re.findall(r'name="report_id" value="([^"]+)"', mine.text)) == sorted(picked)

    saved = client.post(
        "/queue/searches",
        data={
            "name": "high, newest",
            "query": "status=new&sort=received&page=3",
            "csrf_token": token,
        },
    )
    assert saved.status_code == 200 and "high, newest" in saved.text
    searches = services.cases.list_searches(world.store, Actor("analyst", Role.ANALYST))
    assert searches[0]["query"] == {"status": "new", "sort": "received"}
    again = client.get("/queue", params={"saved": "high, newest"})
    assert re.findall(r'name="report_id" value="([^"]+)"', again.text) == re.findall(
        r'name="report_id" value="([^"]+)"', queue.text
    )
    gone = client.post("/queue/searches/delete", data={"name": "high, newest", "csrf_token": token})
    assert gone.status_code == 200 and "high, newest" not in gone.text
