"""A scripted day through the API (log in, claim, note, route, recall, log out) leaves
exactly those six events in the audit log, in order, and `tipwatch audit verify` passes."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from tipwatch import services
from tipwatch.cli import app
from tipwatch.store.schema import audit_events

from .conftest import OPERATOR, PASSWORD, World


def test_a_scripted_day_is_exactly_its_events(world: World) -> None:
    c = world.client
    with world.store.read() as conn:
        start = conn.execute(select(func.max(audit_events.c.id))).scalar_one()

    login = c.post("/api/v1/session", json={"name": "analyst", "password": PASSWORD})
    assert login.status_code == 200
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    assert c.post("/api/v1/referrals/r-nl-1/claim", headers=csrf).status_code == 200
    note = c.post("/api/v1/referrals/r-nl-1/notes", json={"body": "seen; routing"}, headers=csrf)
    assert note.status_code == 201
    package = c.post(
        "/api/v1/routes", json={"country": "NL", "report_ids": ["r-nl-1"]}, headers=csrf
    )
    assert package.status_code == 201
    package_id = package.json()["package_id"]
    recall = c.post(
        f"/api/v1/packages/{package_id}/recall", json={"reason": "wrong recipient"}, headers=csrf
    )
    assert recall.status_code == 200
    assert c.delete("/api/v1/session", headers=csrf).status_code == 200

    events = [
        e
        for e in reversed(services.audit.list_events(world.store, OPERATOR, limit=50))
        if e.id > start
    ]
    day = [(e.actor, e.action, e.object_ids, e.outcome) for e in events]
    assert day == [
        ("analyst", "session.login", ["analyst"], "ok"),
        ("analyst", "case.claim", ["r-nl-1"], "ok"),
        ("analyst", "note.write", ["r-nl-1"], "ok"),
        ("analyst", "route.create", [str(package_id)], "ok"),
        ("analyst", "route.recall", [str(package_id)], "ok"),
        ("analyst", "session.logout", ["analyst"], "ok"),
    ]
    assert [e.id for e in events] == list(range(start + 1, start + 7))  # no gaps
    result = CliRunner().invoke(app, ["audit", "verify", "--db", world.store.url])
    assert result.exit_code == 0, result.output
    assert "audit log intact" in result.output
