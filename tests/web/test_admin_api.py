"""Users and API tokens over the REST API, for administrators, on SQLite and PostgreSQL:
adding (a TOTP secret shown once), listing (no secrets), disabling (its tokens die), tokens
created (the secret shown once), listed and revoked; each call audited, other roles refused."""

from __future__ import annotations

from typing import Any

from tipwatch import services

from .conftest import OPERATOR, World


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == response.status_code
    return body["error"]  # type: ignore[no-any-return]


def test_an_admin_adds_lists_and_disables_users(world: World) -> None:
    c, admin = world.client, world.auth("admin")
    added = c.post(
        "/api/v1/users",
        json={"name": "rita", "role": "reviewer", "password": "a long passphrase here"},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    user = added.json()
    assert (user["name"], user["role"], user["totp"], user["disabled"]) == (
        "rita",
        "reviewer",
        True,
        False,
    )
    enrolment = user["totp_enrolment"]
    assert len(enrolment["secret"]) >= 16 and enrolment["uri"].startswith("otpauth://totp/")
    assert "password_hash" not in user

    listed = c.get("/api/v1/users", headers=admin)
    assert listed.status_code == 200
    rows = {u["name"]: u for u in listed.json()}
    assert rows["rita"]["role"] == "reviewer" and "totp_enrolment" not in rows["rita"]
    assert enrolment["secret"] not in listed.text  # shown once, at enrolment only

    liaison = c.post(
        "/api/v1/users",
        json={"name": "lee", "role": "liaison", "password": "a long passphrase here"},
        headers=admin,
    )
    assert liaison.status_code == 422 and "needs a country" in _error(liaison)["message"]
    short = c.post(
        "/api/v1/users",
        json={"name": "sam", "role": "analyst", "password": "short"},
        headers=admin,
    )
    assert short.status_code == 422 and "at least 12 characters" in _error(short)["message"]
    again = c.post(
        "/api/v1/users",
        json={"name": "rita", "role": "analyst", "password": "a long passphrase here"},
        headers=admin,
    )
    assert again.status_code == 409

    # Disabling the analyst ends its token at once.
    assert c.get("/api/v1/me", headers=world.auth("analyst")).status_code == 200
    disabled = c.post("/api/v1/users/analyst/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert c.get("/api/v1/me", headers=world.auth("analyst")).status_code == 401
    assert c.post("/api/v1/users/nobody/disable", headers=admin).status_code == 404
    own = c.post("/api/v1/users/admin/disable", headers=admin)
    assert own.status_code == 409 and "its own account" in _error(own)["message"]

    writes = services.audit.list_events(world.store, OPERATOR, action="user.write", who="admin")
    outcomes = [(e.outcome, tuple(e.object_ids)) for e in reversed(writes)]
    assert outcomes == [
        ("ok", ("rita",)),
        ("failed", ("lee",)),
        ("failed", ("rita",)),
        ("ok", ("analyst",)),
        ("failed", ("nobody",)),
        ("failed", ("admin",)),
    ]
    reads = services.audit.list_events(world.store, OPERATOR, action="user.read", who="admin")
    assert [e.outcome for e in reads] == ["ok"]


def test_tokens_are_shown_once_listed_without_secrets_and_revoked(world: World) -> None:
    c, admin = world.client, world.auth("admin")
    made = c.post(
        "/api/v1/tokens",
        json={"user": "analyst", "name": "pipeline", "scopes": ["read", "match"], "days": 7},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    token = made.json()
    secret = token["token"]
    assert secret.startswith("tw_" + token["token_id"] + "_")
    assert (token["user"], token["name"], token["scopes"], token["state"]) == (
        "analyst",
        "pipeline",
        ["match", "read"],
        "active",
    )
    me = c.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()
    assert (me["name"], me["scopes"]) == ("analyst", ["match", "read"])

    listed = c.get("/api/v1/tokens", params={"user": "analyst"}, headers=admin)
    assert listed.status_code == 200
    ids = {t["token_id"]: t for t in listed.json()}
    assert token["token_id"] in ids and all(t["user"] == "analyst" for t in ids.values())
    assert secret.split("_", 2)[2] not in listed.text and "secret" not in listed.text

    revoked = c.post(f"/api/v1/tokens/{token['token_id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    twice = c.post(f"/api/v1/tokens/{token['token_id']}/revoke", headers=admin)
    assert twice.status_code == 409
    assert c.post("/api/v1/tokens/ffffffffffffffff/revoke", headers=admin).status_code == 404

    bad_scope = c.post(
        "/api/v1/tokens", json={"user": "analyst", "scopes": ["everything"]}, headers=admin
    )
    assert bad_scope.status_code == 422
    no_user = c.post("/api/v1/tokens", json={"user": "nobody", "scopes": ["read"]}, headers=admin)
    assert no_user.status_code == 404

    events = services.audit.list_events(world.store, OPERATOR, action="token.write", who="admin")
    assert [e.outcome for e in reversed(events)] == ["ok", "ok", "failed", "failed", "failed"]
    assert "(match read) for 7 days" in events[-1].detail
    # The secret is in no audit event.
    every = services.audit.list_events(world.store, OPERATOR, limit=1000)
    assert not any(secret in (e.detail or "") for e in every)


def test_other_roles_and_narrow_tokens_are_refused(world: World) -> None:
    c = world.client
    for role in ("analyst", "reviewer", "liaison", "auditor", "ingest"):
        for method, path, body in (
            ("GET", "/api/v1/users", None),
            ("POST", "/api/v1/users", {"name": "x", "role": "admin", "password": "p" * 12}),
            ("GET", "/api/v1/tokens", None),
            ("POST", "/api/v1/tokens", {"user": role, "scopes": ["admin"]}),
        ):
            answer = c.request(method, path, json=body, headers=world.auth(role))
            assert answer.status_code == 403, (role, method, path)
    # An admin's token without the admin scope cannot manage users either.
    secret, _ = services.identity.create_token(world.store, OPERATOR, "admin", "ro", ["read"])
    narrow = c.get("/api/v1/users", headers={"Authorization": f"Bearer {secret}"})
    assert narrow.status_code == 403 and "scope" in (_error(narrow)["hint"] or "")
    assert {u["name"] for u in services.identity.list_users(world.store, OPERATOR)} == {
        "admin",
        "analyst",
        "reviewer",
        "liaison",
        "auditor",
        "ingest",
    }


def test_the_identifier_backfill_runs_as_a_job(world: World) -> None:
    from sqlalchemy import delete, func, select

    from tipwatch.store.schema import referral_identifiers, referrals

    from .test_api import wait_for

    c, admin = world.client, world.auth("admin")

    def by_account() -> list[str]:
        found = c.get("/api/v1/referrals", params={"by": "account", "value": "u-1"}, headers=admin)
        assert found.status_code == 200
        return [r["report_id"] for r in found.json()["items"]]

    assert by_account() == ["r-nl-1", "r-nl-2"]
    with world.store.atomic() as conn:  # as a store written before the index existed
        rows = conn.execute(select(referral_identifiers)).all()
        conn.execute(delete(referral_identifiers))
        stored = conn.execute(select(func.count()).select_from(referrals)).scalar_one()
    assert by_account() == []
    assert c.post("/api/v1/referrals/reindex", headers=world.auth("analyst")).status_code == 403
    started = c.post("/api/v1/referrals/reindex", headers=admin)
    assert started.status_code == 202
    job = wait_for(world, started.json()["job_id"], "admin")
    assert job["status"] == "done", job
    assert job["result"] == {
        "missing": stored,
        "indexed": len({r.report_id for r in rows}),
        "rows": len(rows),
    }
    assert (job["done"], job["total"]) == (job["result"]["missing"],) * 2
    assert by_account() == ["r-nl-1", "r-nl-2"]
