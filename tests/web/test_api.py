"""The REST API through the real app, on SQLite and PostgreSQL: credentials, sessions and
lockout, token scopes, search and pagination, the case workflow, notes, saved searches,
routing, hash lists and matching (by hash and by upload), jobs, and the error shape."""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from tipwatch import services
from tipwatch.errors import AccessDenied
from tipwatch.services.access import Actor, Role
from tipwatch.store.schema import audit_events

from .conftest import OPERATOR, PASSWORD, World


def wait_for(world: World, job_id: str, role: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = world.client.get(
            f"/api/v1/jobs/{job_id}", headers=world.auth(role)
        ).json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == response.status_code
    return body["error"]  # type: ignore[no-any-return]


def test_health_needs_no_credentials_and_the_rest_does(world: World) -> None:
    assert world.client.get("/api/v1/health").json()["status"] == "ok"
    response = world.client.get("/api/v1/referrals")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert error_of(response)["type"] == "AuthenticationError"
    for header in ("Basic abc", "Bearer ", "Bearer tw_nothing", "Bearer tw_a_b"):
        bad = world.client.get("/api/v1/me", headers={"Authorization": header})
        assert bad.status_code == 401, header


def test_login_session_csrf_and_logout(world: World) -> None:
    c = world.client
    login = c.post("/api/v1/session", json={"name": "analyst", "password": PASSWORD})
    assert login.status_code == 200 and login.json()["role"] == "analyst"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    csrf = login.json()["csrf_token"]
    assert c.get("/api/v1/me").json() == {
        "name": "analyst",
        "role": "analyst",
        "country": None,
        "scopes": None,
    }
    # a change with the cookie alone is refused: another site could send the cookie
    refused = c.post("/api/v1/referrals/r-nl-1/claim")
    assert refused.status_code == 401 and "X-CSRF-Token" in error_of(refused)["message"]
    assert (
        c.post("/api/v1/referrals/r-nl-1/claim", headers={"X-CSRF-Token": csrf}).status_code == 200
    )
    assert c.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 200
    c.cookies.clear()
    c.cookies.set("tipwatch_session", cookie.split(";")[0].split("=", 1)[1])
    assert c.get("/api/v1/me").status_code == 401  # the ended session is dead server-side


def test_totp_is_required_for_admin_and_reviewer(world: World) -> None:
    c = world.client
    for name in ("admin", "reviewer"):
        assert name in world.totp
        without = c.post("/api/v1/session", json={"name": name, "password": PASSWORD})
        assert without.status_code == 401
        wrong = c.post(
            "/api/v1/session", json={"name": name, "password": PASSWORD, "totp": "000000"}
        )
        assert wrong.status_code == 401
        code = pyotp.TOTP(world.totp[name]).now()
        ok = c.post("/api/v1/session", json={"name": name, "password": PASSWORD, "totp": code})
        assert ok.status_code == 200 and ok.json()["role"] == name
    # an ingest account logs in with tokens only
    service = c.post("/api/v1/session", json={"name": "ingest", "password": PASSWORD})
    assert service.status_code == 403


def test_lockout_after_failures_and_audited_unlock(world: World) -> None:
    c = world.client
    for _ in range(5):
        assert (
            c.post("/api/v1/session", json={"name": "analyst", "password": "wrong"}).status_code
            == 401
        )
    # locked: even the right password is refused, with the same answer
    locked = c.post("/api/v1/session", json={"name": "analyst", "password": PASSWORD})
    assert locked.status_code == 401
    assert error_of(locked)["message"].startswith("the user name, password or one-time code")
    services.identity.unlock_user(world.store, OPERATOR, "analyst")
    assert (
        c.post("/api/v1/session", json={"name": "analyst", "password": PASSWORD}).status_code == 200
    )
    events = services.audit.list_events(world.store, OPERATOR, action="session.login", limit=20)
    outcomes = [e.outcome for e in reversed(events)]
    assert outcomes == ["failed"] * 6 + ["ok"]
    assert "locked after 5 failures" in events[-5].detail
    assert (
        services.audit.list_events(world.store, OPERATOR, action="user.unlock")[0].outcome == "ok"
    )
    # an unknown name is audited too, with no role
    c.post("/api/v1/session", json={"name": "mallory", "password": "x"})
    (unknown,) = services.audit.list_events(world.store, OPERATOR, who="mallory")
    assert (unknown.role, unknown.outcome, unknown.detail) == ("unknown", "failed", "unknown user")


def test_token_scopes_narrow_the_role(world: World) -> None:
    secret, _ = services.identity.create_token(world.store, OPERATOR, "analyst", "ro", ["read"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert world.client.get("/api/v1/referrals", headers=headers).status_code == 200
    denied = world.client.post("/api/v1/referrals/r-nl-1/claim", headers=headers)
    assert denied.status_code == 403 and error_of(denied)["hint"] == (
        "use a token with a scope that allows it"
    )
    assert (
        world.client.post(
            "/api/v1/match", json={"items": [{"md5": "1" * 32}]}, headers=headers
        ).status_code
        == 403
    )
    # a disabled user's tokens stop at once
    services.identity.disable_user(world.store, OPERATOR, "analyst")
    assert world.client.get("/api/v1/referrals", headers=headers).status_code == 401
    assert world.client.get("/api/v1/me", headers=world.auth("analyst")).status_code == 401


def test_search_by_identifier_filters_and_cursor(world: World) -> None:
    c, h = world.client, world.auth("analyst")
    by_account = c.get("/api/v1/referrals", params={"by": "account", "value": "U-1"}, headers=h)
    assert [r["report_id"] for r in by_account.json()["items"]] == ["r-nl-1", "r-nl-2"]
    by_ip = c.get("/api/v1/referrals", params={"by": "ip", "value": "192.0.2.20"}, headers=h)
    assert [r["report_id"] for r in by_ip.json()["items"]] == ["r-nl-2"]
    by_hash = c.get("/api/v1/referrals", params={"by": "hash", "value": "3" * 32}, headers=h)
    assert {r["report_id"] for r in by_hash.json()["items"]} == {"r-nl-2", "r-fr-1"}
    by_id = c.get("/api/v1/referrals", params={"by": "report_id", "value": "r-de-1"}, headers=h)
    assert [r["report_id"] for r in by_id.json()["items"]] == ["r-de-1"]
    nl = c.get("/api/v1/referrals", params={"country": "NL", "tier": "immediate"}, headers=h)
    assert [r["report_id"] for r in nl.json()["items"]] == ["r-nl-1"]
    # pages of two, each after the last: every referral once, in order
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = c.get("/api/v1/referrals", params=params, headers=h).json()
        seen += [r["report_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = c.get("/api/v1/referrals", params={"limit": 100}, headers=h).json()["items"]
    assert seen == [r["report_id"] for r in everything] and len(seen) == 5
    bad = c.get("/api/v1/referrals", params={"cursor": "!!"}, headers=h)
    assert bad.status_code == 422 and error_of(bad)["type"] == "InputError"
    half = c.get("/api/v1/referrals", params={"by": "account"}, headers=h)
    assert half.status_code == 422


def test_case_workflow_status_claim_assign_and_versions(world: World) -> None:
    c, ana, rev = world.client, world.auth("analyst"), world.auth("reviewer")
    case = c.get("/api/v1/referrals/r-nl-1/case", headers=ana).json()
    # immediate tier: due 24 hours after receipt (2020-03-21 09:00), long overdue
    assert case["status"] == "new" and case["version"] == 0 and case["tier"] == "immediate"
    assert case["due_at"] == "2020-03-22T09:00:00Z" and case["overdue"] is True
    claimed = c.post("/api/v1/referrals/r-nl-1/claim", headers=ana).json()
    assert claimed["assignee"] == "analyst" and claimed["version"] == 1
    taken = c.post("/api/v1/referrals/r-nl-1/claim", headers=rev)
    assert taken.status_code == 409 and "assigned to analyst" in error_of(taken)["message"]
    assert c.post("/api/v1/referrals/r-nl-1/release", headers=rev).status_code == 409
    stale = c.post(
        "/api/v1/referrals/r-nl-1/status",
        json={"status": "in_review", "expected_version": 0},
        headers=ana,
    )
    assert stale.status_code == 409
    moved = c.post(
        "/api/v1/referrals/r-nl-1/status",
        json={"status": "in_review", "expected_version": 1},
        headers=ana,
    ).json()
    assert moved["status"] == "in_review" and moved["version"] == 2 and moved["overdue"]
    no_reason = c.post("/api/v1/referrals/r-nl-1/status", json={"status": "closed"}, headers=ana)
    assert no_reason.status_code == 422 and "needs a reason" in error_of(no_reason)["message"]
    closed = c.post(
        "/api/v1/referrals/r-nl-1/status",
        json={"status": "closed", "reason": "duplicate of an earlier case"},
        headers=ana,
    ).json()
    assert closed["reason"] == "duplicate of an earlier case" and closed["overdue"] is False
    assigned = c.post(
        "/api/v1/referrals/r-nl-2/assign", json={"assignee": "reviewer"}, headers=ana
    ).json()
    assert assigned["assignee"] == "reviewer"
    nobody = c.post("/api/v1/referrals/r-nl-2/assign", json={"assignee": "ghost"}, headers=ana)
    assert nobody.status_code == 404
    mine = c.get("/api/v1/cases", params={"mine": True}, headers=rev).json()
    assert [x["report_id"] for x in mine] == ["r-nl-2"]
    overdue = c.get("/api/v1/cases", params={"overdue": True}, headers=ana).json()
    assert [x["report_id"] for x in overdue] == ["r-nl-2"]
    by_status = c.get("/api/v1/referrals", params={"status": "closed"}, headers=ana).json()
    assert [r["report_id"] for r in by_status["items"]] == ["r-nl-1"]
    fresh = c.get("/api/v1/referrals", params={"status": "new"}, headers=ana).json()
    assert "r-nl-1" not in {r["report_id"] for r in fresh["items"]}
    assert c.get("/api/v1/referrals/nope/case", headers=ana).status_code == 404


def test_notes_are_versions_never_edits(world: World) -> None:
    c, ana, rev = world.client, world.auth("analyst"), world.auth("reviewer")
    note = c.post("/api/v1/referrals/r-nl-1/notes", json={"body": "first look"}, headers=ana)
    assert note.status_code == 201
    key = note.json()["note_id"]
    edit = c.put(
        f"/api/v1/notes/{key}", json={"body": "second look", "expected_version": 1}, headers=ana
    )
    assert edit.json()["version"] == 2
    stale = c.put(f"/api/v1/notes/{key}", json={"body": "x", "expected_version": 1}, headers=ana)
    assert stale.status_code == 409
    someone_else = c.put(f"/api/v1/notes/{key}", json={"body": "mine now"}, headers=rev)
    assert someone_else.status_code == 403
    latest = c.get("/api/v1/referrals/r-nl-1/notes", headers=rev).json()
    assert [(n["version"], n["body"]) for n in latest] == [(2, "second look")]
    history = c.get("/api/v1/referrals/r-nl-1/notes", params={"history": True}, headers=rev).json()
    assert [(n["version"], n["body"], n["author"]) for n in history] == [
        (1, "first look", "analyst"),
        (2, "second look", "analyst"),
    ]
    group = c.post("/api/v1/groups/1/notes", json={"body": "one offender"}, headers=ana)
    assert group.status_code == 201
    assert [n["body"] for n in c.get("/api/v1/groups/1/notes", headers=ana).json()] == [
        "one offender"
    ]
    assert c.post("/api/v1/groups/999/notes", json={"body": "x"}, headers=ana).status_code == 404
    blank = c.post("/api/v1/referrals/r-nl-1/notes", json={"body": "   "}, headers=ana)
    assert blank.status_code == 422


def test_saved_searches_are_each_users_own(world: World) -> None:
    c, ana, rev = world.client, world.auth("analyst"), world.auth("reviewer")
    query = {"by": "account", "value": "u-1"}
    assert c.put("/api/v1/searches/u1", json={"query": query}, headers=ana).status_code == 200
    assert (
        c.put("/api/v1/searches/u1", json={"query": {"country": "NL"}}, headers=ana).status_code
        == 200
    )
    assert [s["query"] for s in c.get("/api/v1/searches", headers=ana).json()] == [
        {"country": "NL"}
    ]
    assert c.get("/api/v1/searches", headers=rev).json() == []
    assert c.delete("/api/v1/searches/u1", headers=rev).status_code == 404
    assert c.delete("/api/v1/searches/u1", headers=ana).status_code == 200


def test_route_recall_and_acknowledge(world: World) -> None:
    c, ana, lia = world.client, world.auth("analyst"), world.auth("liaison")
    preview = c.post("/api/v1/routes/preview", json={"country": "NL"}, headers=ana).json()
    assert preview["referrals"] == 2 and preview["report_ids"] == ["r-nl-1", "r-nl-2"]
    first = c.post("/api/v1/routes", json={"country": "NL"}, headers=ana)
    assert first.status_code == 201 and first.json()["referral_count"] == 2
    package_id = first.json()["package_id"]
    assert (
        c.post(
            f"/api/v1/packages/{package_id}/recall", json={"reason": "wrong desk"}, headers=lia
        ).status_code
        == 403
    )
    recalled = c.post(
        f"/api/v1/packages/{package_id}/recall", json={"reason": "wrong desk"}, headers=ana
    )
    assert recalled.json() == {"package_id": package_id, "returned": 2}
    # recalled: the liaison sees neither the package's referrals nor can acknowledge it
    assert c.get("/api/v1/referrals/r-nl-1", headers=lia).status_code == 404
    again = c.post("/api/v1/routes", json={"country": "NL"}, headers=ana).json()
    assert c.get("/api/v1/referrals/r-nl-1", headers=lia).status_code == 200
    assert [p["id"] for p in c.get("/api/v1/packages", headers=lia).json()] == [
        again["package_id"],
        package_id,
    ]
    de = c.post("/api/v1/routes", json={"country": "DE"}, headers=ana).json()
    assert de["package_id"] not in {p["id"] for p in c.get("/api/v1/packages", headers=lia).json()}
    assert c.post(f"/api/v1/packages/{de['package_id']}/ack", headers=lia).status_code == 404
    acked = c.post(
        f"/api/v1/packages/{again['package_id']}/ack", json={"outcome": "case opened"}, headers=lia
    )
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "liaison"
    late = c.post(
        f"/api/v1/packages/{again['package_id']}/recall", json={"reason": "late"}, headers=ana
    )
    assert late.status_code == 409


def _import_list(world: World, csv_text: str, version: str) -> dict[str, Any]:
    response = world.client.post(
        "/api/v1/lists/known/versions",
        params={"version": version, "format": "csv"},
        content=csv_text.encode(),
        headers=world.auth("ingest"),
    )
    assert response.status_code == 202
    return wait_for(world, response.json()["job_id"], "ingest")


def test_lists_and_match_by_hash_refresh_with_new_versions(world: World) -> None:
    from tipwatch.demo.images import generated_image
    from tipwatch.media.hashing import hash_file

    c, ana = world.client, world.auth("analyst")
    pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23"
    job = _import_list(world, f"hash_type,hash,category\nmd5,{'1' * 32},1\npdq,{pdq},2\n", "1")
    assert job["status"] == "done" and job["result"]["added"] == 2
    one_bit = pdq[:-1] + "2"  # ...23 -> ...22: one bit away
    found = c.post(
        "/api/v1/match",
        json={"items": [{"md5": "1" * 32}, {"pdq": one_bit}, {"sha256": "a" * 64}]},
        headers=ana,
    ).json()["results"]
    assert found[0]["status"] == "known" and found[0]["matches"][0]["kind"] == "exact"
    near = found[1]["matches"][0]
    assert (near["list"], near["algorithm"], near["kind"], near["distance"]) == (
        "known",
        "pdq",
        "near",
        1,
    )
    assert near["entry_id"] and near["category"] == "2"
    assert found[2] == {"status": "new", "matches": []}
    # a new version is seen by the same process's index without a restart
    buffer = io.BytesIO()
    generated_image(7, (320, 240), kind="noise").save(buffer, format="PNG")
    image = buffer.getvalue()
    assert (
        c.post(
            "/api/v1/match/media", files={"file": ("x.png", image, "image/png")}, headers=ana
        ).json()["result"]["status"]
        == "new"
    )
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "x.png"
        saved.write_bytes(image)
        image_pdq = hash_file(saved).pdq
    job = _import_list(
        world,
        f"hash_type,hash,category\nmd5,{'1' * 32},1\npdq,{pdq},2\npdq,{image_pdq},1\n",
        "2",
    )
    assert job["status"] == "done", job
    upload = c.post(
        "/api/v1/match/media", files={"file": ("x.png", image, "image/png")}, headers=ana
    ).json()
    assert upload["media"] == "hashed and discarded; not stored"
    assert upload["result"]["status"] == "known" and upload["hashes"]["pdq"] == image_pdq
    assert upload["result"]["matches"][0]["distance"] == 0
    # what is not an image gets its reason, not a match
    text = c.post(
        "/api/v1/match/media", files={"file": ("x.txt", b"hello", "text/plain")}, headers=ana
    ).json()
    assert text["result"] is None and "not an image or video" in text["error"]
    bad = c.post("/api/v1/match", json={"items": [{"md5": "xyz"}]}, headers=ana)
    assert bad.status_code == 422 and "item 0" in error_of(bad)["message"]
    export = c.get("/api/v1/lists/known/export", params={"format": "csv"}, headers=ana)
    assert export.status_code == 200 and image_pdq in export.text


def test_ingest_is_a_job_with_the_intake_summary(world: World) -> None:
    from ..triage.test_triage_store import REFERRALS, referral

    body = "".join(
        json.dumps(r) + "\n" for r in [referral("r-api-1"), REFERRALS[0], {"not": "a referral"}]
    )
    c = world.client
    started = c.post(
        "/api/v1/ingest?format=jsonl", content=body.encode(), headers=world.auth("ingest")
    )
    assert started.status_code == 202
    job = wait_for(world, started.json()["job_id"], "ingest")
    assert job["status"] == "done" and job["kind"] == "ingest"
    assert (
        job["result"]["ingested"],
        job["result"]["duplicates"],
        job["result"]["quarantined"],
    ) == (1, 1, 1)
    # another user does not see someone else's job
    assert c.get(f"/api/v1/jobs/{job['id']}", headers=world.auth("analyst")).status_code == 404
    assert c.get(f"/api/v1/jobs/{job['id']}", headers=world.auth("admin")).status_code == 200
    empty = c.post("/api/v1/ingest", content=b"", headers=world.auth("ingest"))
    assert empty.status_code == 422
    # the ingest role writes referrals and lists only
    assert c.get("/api/v1/referrals", headers=world.auth("ingest")).status_code == 403


def test_ingest_body_limit(world: World, monkeypatch: Any) -> None:
    from tipwatch.settings import reload_settings

    monkeypatch.setenv("TIPWATCH_API_MAX_BODY_BYTES", "100")
    reload_settings()
    big = world.client.post("/api/v1/ingest", content=b"x" * 1000, headers=world.auth("ingest"))
    assert big.status_code == 422 and error_of(big)["type"] == "UnsafeInputError"


def test_every_api_action_is_audited_and_the_chain_holds(world: World) -> None:
    with world.store.read() as conn:
        before = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
    world.client.get("/api/v1/referrals/r-nl-1", headers=world.auth("analyst"))
    world.client.get("/api/v1/audit", headers=world.auth("analyst"))  # denied: analyst
    with world.store.read() as conn:
        after = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
    assert after == before + 2
    events = services.audit.list_events(world.store, OPERATOR, limit=2)
    assert [(e.action, e.actor, e.outcome) for e in events] == [
        ("audit.read", "analyst", "denied"),
        ("referral.show", "analyst", "ok"),
    ]
    verified = world.client.get("/api/v1/audit/verify", headers=world.auth("auditor")).json()
    assert verified["ok"] is True


def test_a_liaison_without_a_country_sees_nothing(world: World) -> None:
    stray = Actor("stray", Role.LIAISON)

    with pytest.raises(AccessDenied):
        services.referrals.list_referrals(world.store, stray)
    with pytest.raises(AccessDenied):
        services.triage.packages(world.store, stray)


def test_the_index_is_built_once_and_refreshed_in_place(world: World) -> None:
    from tipwatch.services.matching import _INDEXES

    c, ana = world.client, world.auth("analyst")
    first = "0" * 63 + "1"
    _import_list(world, f"hash_type,hash\npdq,{first}\n", "1")
    assert (
        c.post("/api/v1/match", json={"items": [{"pdq": first}]}, headers=ana).json()["results"][0][
            "status"
        ]
        == "known"
    )
    matcher = _INDEXES._matchers[id(world.store)][1]
    second = "f" * 63 + "e"
    _import_list(world, f"hash_type,hash\npdq,{first}\npdq,{second}\n", "2")
    found = c.post(
        "/api/v1/match", json={"items": [{"pdq": second}, {"pdq": first}]}, headers=ana
    ).json()["results"]
    assert [r["status"] for r in found] == ["known", "known"]
    assert _INDEXES._matchers[id(world.store)][1] is matcher  # the same index, brought up to date
    _import_list(world, f"hash_type,hash\npdq,{second}\n", "3")  # a full version retires `first`
    found = c.post("/api/v1/match", json={"items": [{"pdq": first}]}, headers=ana).json()
    assert found["results"][0]["status"] == "new"


def test_the_assessment_is_a_job(world: World) -> None:
    c, ana = world.client, world.auth("analyst")
    started = c.post(
        "/api/v1/assessment", json={"since": "2020-03-01", "until": "2020-03-31"}, headers=ana
    )
    assert started.status_code == 202
    job = wait_for(world, started.json()["job_id"], "analyst", timeout=180)
    assert (job["kind"], job["status"], job["error"]) == ("assessment", "done", None)
    assert job["result"]["bytes"] > 1000
    fetched = c.get(f"/api/v1/assessment/{job['id']}", headers=ana)
    assert fetched.status_code == 200 and fetched.text.lstrip().startswith("<!")
    assert fetched.headers["content-type"].startswith("text/html")
    # another user's job is not there for them
    assert (
        c.get(f"/api/v1/assessment/{job['id']}", headers=world.auth("reviewer")).status_code == 404
    )


def test_ids_too_large_for_the_store_are_bad_input(world: World) -> None:
    c, ana = world.client, world.auth("analyst")
    huge = str(10**22)
    for response in (
        c.post(f"/api/v1/packages/{huge}/ack", headers=world.auth("liaison")),
        c.post(f"/api/v1/packages/{huge}/recall", json={"reason": "x"}, headers=ana),
        c.get(f"/api/v1/groups/{huge}/notes", headers=ana),
        c.post(
            "/api/v1/routes/preview", json={"country": "NL", "group_ids": [10**22]}, headers=ana
        ),
    ):
        assert response.status_code == 422 and error_of(response)["type"] == "InputError"
    assert (
        c.post(
            "/api/v1/packages/9223372036854775807/ack", headers=world.auth("liaison")
        ).status_code
        == 404
    )
