"""The guards on logging in, through the real app on SQLite and PostgreSQL: a TOTP code is
accepted once (the API's one-step login and the workspace's two steps), and failed logins
from one client address over many accounts refuse that address for a while (429 with
Retry-After), audited, settings-driven, while other addresses still log in."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from tipwatch import services
from tipwatch.errors import AuthenticationError, TooManyAttempts
from tipwatch.settings import reload_settings
from tipwatch.store import Store
from tipwatch.store.throttle import address_key
from tipwatch.web.app import create_app
from tipwatch.workflow.identity import login as check_login

from .conftest import OPERATOR, PASSWORD, World


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == response.status_code
    return body["error"]  # type: ignore[no-any-return]


def _login(client: TestClient, name: str, password: str, totp: str | None = None) -> Any:
    body = {"name": name, "password": password} | ({"totp": totp} if totp else {})
    return client.post("/api/v1/session", json=body)


# -- a TOTP code is accepted once -----------------------------------------------------------


def test_a_totp_code_is_refused_the_second_time(world: World) -> None:
    code = pyotp.TOTP(world.totp["admin"]).now()
    first = _login(world.client, "admin", PASSWORD, code)
    assert first.status_code == 200
    again = _login(world.client, "admin", PASSWORD, code)
    assert again.status_code == 401
    assert _error(again)["message"].startswith("the user name, password or one-time code")
    (replayed, accepted) = services.audit.list_events(
        world.store, OPERATOR, action="session.login", who="admin", limit=2
    )
    assert (replayed.outcome, replayed.detail) == ("failed", "TOTP code already used")
    assert accepted.outcome == "ok"
    # The replay counts as a failed login, like any wrong code.
    (admin,) = [
        u for u in services.identity.list_users(world.store, OPERATOR) if u["name"] == "admin"
    ]
    assert admin["failed_logins"] == 1


def test_a_code_of_an_earlier_step_is_refused_after_a_later_one(store: Store) -> None:
    """The store keeps the last step accepted: a code from before it (still inside the
    one-step window) is refused too, and the next step's code is accepted."""
    user = services.identity.add_user(store, OPERATOR, "rev", "reviewer", PASSWORD)
    totp = pyotp.TOTP(user["totp_enrolment"]["secret"])
    at = datetime(2026, 3, 1, 12, 0, 10)
    step = totp.timecode(at.replace(tzinfo=UTC))

    def attempt(code: str, when: datetime) -> str:
        with store.atomic() as conn:
            result = check_login(
                conn, "rev", PASSWORD, code, max_failures=5, lockout=timedelta(minutes=1), now=when
            )
        return result.reason

    assert attempt(totp.generate_otp(step), at) == "ok"
    assert attempt(totp.generate_otp(step), at) == "TOTP code already used"
    assert attempt(totp.generate_otp(step - 1), at) == "TOTP code already used"
    assert attempt("123456" if totp.generate_otp(step) != "123456" else "654321", at) == (
        "wrong or missing TOTP code"
    )
    assert attempt(totp.generate_otp(step + 1), at) == "ok"


def test_the_workspace_second_step_takes_a_code_once(world: World) -> None:
    def token(html: str, field: str = "csrf_token") -> str:
        found = re.search(rf'name="{field}" value="([^"]+)"', html)
        assert found, html[:500]
        return found.group(1)

    client = TestClient(create_app(world.store))
    code = pyotp.TOTP(world.totp["admin"]).now()
    answers = []
    for _ in range(2):
        form = client.get("/login").text
        asked = client.post(
            "/login", data={"name": "admin", "password": PASSWORD, "csrf_token": token(form)}
        )
        assert asked.status_code == 200 and 'action="/login/code"' in asked.text
        answers.append(
            client.post(
                "/login/code",
                data={
                    "pending": token(asked.text, "pending"),
                    "totp": code,
                    "csrf_token": token(asked.text),
                },
                follow_redirects=False,
            )
        )
    assert answers[0].status_code == 303  # signed in
    assert answers[1].status_code == 401 and "sign in again" in answers[1].text
    assert "tipwatch_session" not in answers[1].headers.get("set-cookie", "")


# -- failed logins per client address -------------------------------------------------------


def _limit(monkeypatch: pytest.MonkeyPatch, failures: int, block_minutes: float = 15) -> None:
    monkeypatch.setenv("TIPWATCH_LOGIN_ADDRESS_MAX_FAILURES", str(failures))
    monkeypatch.setenv("TIPWATCH_LOGIN_ADDRESS_BLOCK_MINUTES", str(block_minutes))
    reload_settings()


def test_many_failures_from_one_address_over_many_accounts_are_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit(monkeypatch, 4)
    attacker = TestClient(create_app(world.store), client=("203.0.113.9", 40000))
    # One wrong password for each of four accounts: no account reaches its own lockout (5).
    for name in ("analyst", "reviewer", "auditor", "nobody"):
        assert _login(attacker, name, "a wrong guess").status_code == 401
    refused = _login(attacker, "analyst", PASSWORD)  # even the right password
    assert refused.status_code == 429
    error = _error(refused)
    assert error["type"] == "TooManyAttempts"
    assert "too many failed logins from this address" in error["message"]
    retry = int(refused.headers["retry-after"])
    assert 14 * 60 < retry <= 15 * 60
    assert error["hint"] == f"wait {retry} seconds, then try again"
    # Another address is not held back, and the account itself is not locked.
    office = TestClient(create_app(world.store), client=("198.51.100.20", 40000))
    assert _login(office, "analyst", PASSWORD).status_code == 200

    events = services.audit.list_events(world.store, OPERATOR, action="session.login", limit=10)
    assert events[1].outcome == "denied" and events[1].role == "unknown"
    assert events[1].detail.startswith("client address 203.0.113.9 refused until")
    # The failure that reached the limit says so in its own event.
    assert "client address 203.0.113.9 refused until" in events[2].detail
    assert "after 4 failed logins from it" in events[2].detail
    # None of the failures before it does.
    assert all("client address" not in e.detail for e in events[3:6])


def test_the_refusal_ends_after_the_block(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _limit(monkeypatch, 2, block_minutes=0.02)  # 1.2 seconds
    client = TestClient(create_app(world.store), client=("192.0.2.44", 40000))
    for name in ("analyst", "auditor"):
        assert _login(client, name, "wrong").status_code == 401
    assert _login(client, "analyst", PASSWORD).status_code == 429
    time.sleep(1.4)
    assert _login(client, "analyst", PASSWORD).status_code == 200
    # Within the same window, one more failure refuses the address again at once.
    assert _login(client, "auditor", "wrong").status_code == 401
    assert _login(client, "auditor", PASSWORD).status_code == 429


def test_a_zero_limit_turns_the_address_check_off(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit(monkeypatch, 0)
    client = TestClient(create_app(world.store), client=("192.0.2.45", 40000))
    # 24 failures from one address, more than the default limit of 20; each account stays
    # under its own lockout of 5.
    for name in ("analyst", "reviewer", "auditor", "liaison", "nobody", "other") * 4:
        assert _login(client, name, "wrong").status_code == 401
    assert _login(client, "analyst", PASSWORD).status_code == 200


def test_the_workspace_sign_in_is_held_back_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit(monkeypatch, 3)
    client = TestClient(create_app(world.store), client=("2001:db8:5:6::1", 40000))

    def sign_in(name: str, password: str) -> Any:
        form = client.get("/login").text
        found = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert found
        data = {"name": name, "password": password, "csrf_token": found.group(1)}
        return client.post("/login", data=data, follow_redirects=False)

    for name in ("analyst", "auditor", "liaison"):
        assert sign_in(name, "wrong").status_code == 401
    page = sign_in("analyst", PASSWORD)
    assert page.status_code == 429 and "Too many failed sign-ins from this address" in page.text
    assert int(page.headers["retry-after"]) > 0
    assert "tipwatch_session" not in page.headers.get("set-cookie", "")
    # The API's login from another host of the same IPv6 /64 is held back as well.
    neighbour = TestClient(create_app(world.store), client=("2001:db8:5:6::beef", 40000))
    assert _login(neighbour, "analyst", PASSWORD).status_code == 429
    # A host of another /64 is not.
    other = TestClient(create_app(world.store), client=("2001:db8:5:7::1", 40000))
    assert _login(other, "analyst", PASSWORD).status_code == 200


def test_the_service_raises_too_many_attempts(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limit(monkeypatch, 1)
    services.identity.add_user(store, OPERATOR, "ana", "analyst", PASSWORD)
    with pytest.raises(AuthenticationError):
        services.identity.login(store, "ana", "wrong", client="192.0.2.9")
    with pytest.raises(TooManyAttempts) as refused:
        services.identity.login(store, "ana", PASSWORD, client="192.0.2.9")
    assert refused.value.retry_after > 0
    # Without a client address (the command line, a library caller) nothing is counted.
    assert services.identity.login(store, "ana", PASSWORD).actor.name == "ana"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::9", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
        ("", None),
        (None, None),
    ],
)
def test_address_keys(address: str | None, key: str | None) -> None:
    assert address_key(address) == key
