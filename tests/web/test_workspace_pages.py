"""The workspace pages over HTTP, on SQLite and PostgreSQL: the headers every page carries,
the session cookie's flags, the sign-in form's token, CSRF refusals before any change, and
what a page may say in its title and URL."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from tipwatch import services
from tipwatch.services.access import Actor, Role
from tipwatch.web.app import create_app

from .conftest import OPERATOR, PASSWORD, World


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _pending(html: str) -> str:
    found = re.search(r'name="pending" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _sign_in(client: TestClient, name: str, code: str | None = None) -> str:
    form = client.get("/login")
    data = {"name": name, "password": PASSWORD, "csrf_token": _token(form.text)}
    answer = client.post("/login", data=data, follow_redirects=False)
    if code:
        # The password was accepted: the second step asks for the one-time code.
        assert answer.status_code == 200 and 'action="/login/code"' in answer.text, answer.text
        second = {"pending": _pending(answer.text), "totp": code}
        answer = client.post(
            "/login/code",
            data={**second, "csrf_token": _token(answer.text)},
            follow_redirects=False,
        )
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

    # Admins need the second factor: the password alone opens no session, and a wrong code
    # is refused without saying which part was wrong.
    asked = client.post(
        "/login",
        data={"name": "admin", "password": PASSWORD, "csrf_token": _token(page.text)},
    )
    assert asked.status_code == 200 and "tipwatch_session" not in asked.headers.get(
        "set-cookie", ""
    )
    refused = client.post(
        "/login/code",
        data={"pending": _pending(asked.text), "totp": "000000", "csrf_token": _token(asked.text)},
    )
    assert refused.status_code == 401 and "not right" in refused.text
    cookie = _sign_in(client, "admin", pyotp.TOTP(world.totp["admin"]).now())
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "secure", "path=/"} <= flags

    # Over plain HTTP the cookie cannot be Secure (the browser would drop it).
    plain = TestClient(create_app(world.store))
    assert "secure" not in _sign_in(plain, "analyst").lower()


def _failures(world: World, name: str) -> int:
    (user,) = [u for u in services.identity.list_users(world.store, OPERATOR) if u["name"] == name]
    count: int = user["failed_logins"]
    return count


def _password_step(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    form = client.get("/login")
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": _token(form.text)},
        follow_redirects=False,
    )


def test_two_step_sign_in(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(world.store))
    code = pyotp.TOTP(world.totp["admin"])
    # A wrong password fails at the first step and counts towards the lockout.
    wrong = _password_step(client, "admin", "not the password")
    assert wrong.status_code == 401 and "not right" in wrong.text
    assert 'action="/login/code"' not in wrong.text
    assert _failures(world, "admin") == 1

    # The right password gives the code form with a pending sign-in, not a session.
    asked = _password_step(client, "admin")
    assert asked.status_code == 200 and 'action="/login/code"' in asked.text
    pending = _pending(asked.text)
    assert "tipwatch_session" not in asked.headers.get("set-cookie", "")
    # The pending sign-in is no session: as a cookie it opens nothing.
    probe = TestClient(create_app(world.store))
    probe.cookies.set("tipwatch_session", pending)
    assert probe.get("/today", follow_redirects=False).headers["location"] == "/login"
    # A wrong code is a failed login and uses the pending sign-in up.
    answer = client.post(
        "/login/code",
        data={"pending": pending, "totp": "000000", "csrf_token": _token(asked.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 401 and "sign in again" in answer.text
    assert _failures(world, "admin") == 2
    replay = client.post(
        "/login/code",
        data={"pending": pending, "totp": code.now(), "csrf_token": _token(answer.text)},
        follow_redirects=False,
    )
    assert replay.status_code == 401 and "tipwatch_session" not in replay.headers.get(
        "set-cookie", ""
    )

    # The right code with a fresh pending sign-in opens the session and resets the count;
    # the same pending sign-in cannot be used a second time.
    asked = _password_step(client, "admin")
    pending = _pending(asked.text)
    done = client.post(
        "/login/code",
        data={"pending": pending, "totp": code.now(), "csrf_token": _token(asked.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "tipwatch_session=" in done.headers["set-cookie"]
    assert _failures(world, "admin") == 0
    again = TestClient(create_app(world.store))
    form = again.get("/login")
    replay = again.post(
        "/login/code",
        data={"pending": pending, "totp": code.now(), "csrf_token": _token(form.text)},
        follow_redirects=False,
    )
    assert replay.status_code == 401

    # A pending sign-in that has expired is refused even with the right code.
    monkeypatch.setattr(services.identity, "SECOND_FACTOR_MINUTES", -1)
    asked = _password_step(client, "admin")
    expired = client.post(
        "/login/code",
        data={
            "pending": _pending(asked.text),
            "totp": code.now(),
            "csrf_token": _token(asked.text),
        },
        follow_redirects=False,
    )
    assert expired.status_code == 401
    # The second form, too, needs the token its page gave.
    forged = client.post(
        "/login/code", data={"pending": pending, "totp": code.now(), "csrf_token": "x"}
    )
    assert forged.status_code == 403

    # Each step is in the audit log: the failures with their reasons, and the session opened.
    events = services.audit.list_events(world.store, OPERATOR, who="admin", limit=50)
    details = [e.detail for e in events if e.action == "session.login"]
    assert "wrong password" in details
    assert "wrong or missing TOTP code" in details
    assert "second-factor token used" in details
    assert "second-factor token expired" in details
    assert details.count("password accepted; second factor pending") == 3
    assert "session opened" in details

    # A user without a second factor is signed in by the password alone.
    plain = TestClient(create_app(world.store))
    assert _password_step(plain, "analyst").status_code == 303


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
