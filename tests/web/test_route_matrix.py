"""Every route of the OpenAPI document, called as every role, with no credentials, and with
an expired and a revoked token, gets the status its action allows.

The routes are listed here by hand with the action each performs; a route added to the app
and not listed here fails the test, and so does a listed route the app no longer has.
"""

from __future__ import annotations

import pytest

from tipwatch.services.access import PERMISSIONS, Role

from .conftest import ROLES, World

PUBLIC = "public"
"""No credentials needed."""
ANY_USER = "any user"
"""Any valid credentials, whatever the role."""

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/health"): PUBLIC,
    ("POST", "/api/v1/session"): PUBLIC,
    ("DELETE", "/api/v1/session"): ANY_USER,
    ("GET", "/api/v1/me"): ANY_USER,
    ("GET", "/api/v1/users"): "user.read",
    ("POST", "/api/v1/users"): "user.write",
    ("POST", "/api/v1/users/{name}/disable"): "user.write",
    ("GET", "/api/v1/tokens"): "token.read",
    ("POST", "/api/v1/tokens"): "token.write",
    ("POST", "/api/v1/tokens/{token_id}/revoke"): "token.write",
    ("GET", "/api/v1/jobs/{job_id}"): "job.read",
    ("POST", "/api/v1/ingest"): "intake.ingest",
    ("POST", "/api/v1/triage"): "triage.run",
    ("GET", "/api/v1/referrals"): "referral.list",
    ("POST", "/api/v1/referrals/reindex"): "referral.reindex",
    ("GET", "/api/v1/referrals/{report_id}"): "referral.show",
    ("PUT", "/api/v1/referrals/{report_id}/files/{file_id}/media"): "media.attach",
    ("GET", "/api/v1/referrals/{report_id}/case"): "case.read",
    ("POST", "/api/v1/referrals/{report_id}/status"): "case.write",
    ("POST", "/api/v1/referrals/{report_id}/claim"): "case.claim",
    ("POST", "/api/v1/referrals/{report_id}/release"): "case.claim",
    ("POST", "/api/v1/referrals/{report_id}/assign"): "case.assign",
    ("GET", "/api/v1/referrals/{report_id}/notes"): "note.read",
    ("POST", "/api/v1/referrals/{report_id}/notes"): "note.write",
    ("PUT", "/api/v1/notes/{note_id}"): "note.write",
    ("GET", "/api/v1/cases"): "case.read",
    ("GET", "/api/v1/queue"): "queue.read",
    ("GET", "/api/v1/searches"): "search.read",
    ("PUT", "/api/v1/searches/{name}"): "search.write",
    ("DELETE", "/api/v1/searches/{name}"): "search.write",
    ("GET", "/api/v1/groups"): "links.read",
    ("GET", "/api/v1/groups/circulating"): "links.read",
    ("GET", "/api/v1/groups/{group_id}"): "links.read",
    ("GET", "/api/v1/groups/{group_id}/notes"): "note.read",
    ("POST", "/api/v1/groups/{group_id}/notes"): "note.write",
    ("POST", "/api/v1/routes/preview"): "route.preview",
    ("POST", "/api/v1/routes"): "route.create",
    ("GET", "/api/v1/packages"): "package.read",
    ("POST", "/api/v1/packages/{package_id}/recall"): "route.recall",
    ("POST", "/api/v1/packages/{package_id}/ack"): "route.ack",
    ("GET", "/api/v1/lists"): "list.read",
    ("GET", "/api/v1/lists/{name}/export"): "list.export",
    ("POST", "/api/v1/lists/{name}/versions"): "list.import",
    ("POST", "/api/v1/match"): "match.run",
    ("POST", "/api/v1/match/media"): "match.run",
    ("GET", "/api/v1/series"): "signal.read",
    ("GET", "/api/v1/signals"): "signal.read",
    ("GET", "/api/v1/countries/{country}/attribution"): "queue.read",
    ("GET", "/api/v1/trends"): "trends.read",
    ("GET", "/api/v1/alerts"): "trends.read",
    ("POST", "/api/v1/assessment"): "assessment.create",
    ("GET", "/api/v1/assessment/{job_id}"): "job.read",
    ("GET", "/api/v1/audit"): "audit.read",
    ("GET", "/api/v1/audit/verify"): "audit.verify",
}

PATH_VALUES = {
    "job_id": "00000000-0000-0000-0000-000000000000",
    "report_id": "r-nl-1",
    "note_id": "00000000-0000-0000-0000-000000000001",
    "name": "watch-list",
    "group_id": "1",
    "package_id": "999",
    "file_id": "no-such-file",
    "country": "NL",
    "token_id": "0000000000000000",
}

BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/api/v1/session"): {"json": {"name": "nobody", "password": "not-the-one"}},
    ("POST", "/api/v1/ingest"): {"content": b"{}\n"},
    ("POST", "/api/v1/users"): {
        "json": {"name": "matrix-user", "role": "analyst", "password": "a long passphrase"}
    },
    ("POST", "/api/v1/tokens"): {"json": {"user": "analyst", "scopes": ["read"]}},
    ("POST", "/api/v1/referrals/{report_id}/status"): {"json": {"status": "in_review"}},
    ("POST", "/api/v1/referrals/{report_id}/assign"): {"json": {"assignee": "analyst"}},
    ("POST", "/api/v1/referrals/{report_id}/notes"): {"json": {"body": "a note"}},
    ("PUT", "/api/v1/notes/{note_id}"): {"json": {"body": "an edit"}},
    ("PUT", "/api/v1/searches/{name}"): {"json": {"query": {"by": "account", "value": "u-1"}}},
    ("POST", "/api/v1/groups/{group_id}/notes"): {"json": {"body": "a group note"}},
    ("POST", "/api/v1/routes/preview"): {"json": {"country": "NL"}},
    ("POST", "/api/v1/routes"): {"json": {"country": "FR"}},
    ("POST", "/api/v1/packages/{package_id}/recall"): {"json": {"reason": "sent in error"}},
    ("POST", "/api/v1/lists/{name}/versions"): {
        "content": b"md5\n" + b"a" * 32 + b"\n",
        "params": {"version": "1"},
    },
    ("POST", "/api/v1/match"): {"json": {"items": [{"md5": "1" * 32}]}},
    ("POST", "/api/v1/match/media"): {"files": {"file": ("x.txt", b"not an image", "text/plain")}},
    ("PUT", "/api/v1/referrals/{report_id}/files/{file_id}/media"): {
        "files": {"file": ("x.txt", b"not an image", "text/plain")}
    },
    ("POST", "/api/v1/assessment"): {"json": {"since": "2020-03-01", "until": "2020-03-31"}},
}


PUBLIC_STATUS = {
    ("GET", "/api/v1/health"): 200,
    ("POST", "/api/v1/session"): 401,  # whoever asks: the name and password are wrong
}


def _documented(world: World) -> set[tuple[str, str]]:
    doc = world.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}


def _call(world: World, method: str, path: str, headers: dict[str, str]) -> int:
    url = path
    for key, value in PATH_VALUES.items():
        url = url.replace("{" + key + "}", value)
    kwargs = dict(BODIES.get((method, path), {}))
    response = world.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else None
    )
    if response.status_code >= 400:
        # One documented error shape for every error.
        assert body is not None and set(body) == {"error"}, (method, path, body)
        assert body["error"]["status"] == response.status_code
    return response.status_code


def test_every_route_is_listed(world: World) -> None:
    assert _documented(world) == set(ROUTES)


def test_every_route_as_every_caller(world: World) -> None:
    bad_tokens = {"none": {}, "expired": world.expired, "revoked": world.revoked}
    checked = 0
    for (method, path), action in ROUTES.items():
        for label, token in bad_tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            status = _call(world, method, path, headers)
            if action == PUBLIC:
                assert status == PUBLIC_STATUS[(method, path)], (method, path, label, status)
            else:
                assert status == 401, (method, path, label, status)
            checked += 1
        for role in ROLES:
            status = _call(world, method, path, world.auth(role))
            allowed = action == ANY_USER or action in PERMISSIONS.get(Role(role), ())
            if action == PUBLIC:
                assert status == PUBLIC_STATUS[(method, path)], (method, path, role, status)
            elif allowed:
                # Allowed: an answer, or a refusal of the request itself (not found, a
                # conflict, bad input), never 401/403 and never a server error.
                assert status in (200, 201, 202, 404, 409, 422), (method, path, role, status)
            else:
                assert status == 403, (method, path, role, status)
            checked += 1
    assert checked == len(ROUTES) * (len(ROLES) + len(bad_tokens))


@pytest.mark.parametrize("role", ["liaison"])
def test_a_liaison_gets_not_found_for_another_countrys_referral(world: World, role: str) -> None:
    # NL's referrals are routed; DE's are not routed to NL (nor anywhere).
    routed = world.client.post(
        "/api/v1/routes", json={"country": "NL"}, headers=world.auth("analyst")
    )
    assert routed.status_code == 201
    for path in ("/api/v1/referrals/{}", "/api/v1/referrals/{}/case", "/api/v1/referrals/{}/notes"):
        mine = world.client.get(path.format("r-nl-1"), headers=world.auth(role))
        other = world.client.get(path.format("r-de-1"), headers=world.auth(role))
        missing = world.client.get(path.format("no-such-referral"), headers=world.auth(role))
        assert mine.status_code == 200, path
        assert other.status_code == missing.status_code == 404, path
        assert other.json()["error"]["message"] == "no referral with report id 'r-de-1'"
    listed = world.client.get("/api/v1/referrals", headers=world.auth(role)).json()["items"]
    assert {r["report_id"] for r in listed} == {"r-nl-1", "r-nl-2"}
