"""The audit commands: list and verify, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import text, update
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.store import Store
from tipwatch.store.schema import audit_events


def test_audit_verify_on_the_command_line_names_the_edited_entry(store: Store, db_url: str) -> None:
    runner = CliRunner()
    for _ in range(3):
        result = runner.invoke(app, ["referrals", "list", "--db", db_url])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["audit", "verify", "--db", db_url])
    assert result.exit_code == 0 and "audit log intact: 3 entries verified" in result.output
    result = runner.invoke(app, ["audit", "list", "--db", db_url, "-f", "json"])
    listed = json.loads(result.output)
    assert [e["action"] for e in listed] == ["audit.verify"] + ["referral.list"] * 3  # newest first
    with store.atomic() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(update(audit_events).where(audit_events.c.id == 2).values(actor="mallory"))
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    result = runner.invoke(app, ["audit", "verify", "--db", db_url])
    assert result.exit_code == 1
    assert "entry 2 was edited" in result.output


def test_audit_verify_names_a_deleted_entry_and_list_filters(store: Store, db_url: str) -> None:
    runner = CliRunner()
    for args in (["referrals", "list"], ["quarantine", "list"], ["packages"], ["lists", "list"]):
        assert runner.invoke(app, [*args, "--db", db_url]).exit_code == 0
    result = runner.invoke(
        app, ["audit", "list", "--db", db_url, "--action", "quarantine.", "-f", "json"]
    )
    assert [e["action"] for e in json.loads(result.output)] == ["quarantine.list"]
    with store.atomic() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        conn.execute(audit_events.delete().where(audit_events.c.id == 3))
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    result = runner.invoke(app, ["audit", "verify", "--db", db_url, "-f", "json"])
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False and verdict["first_bad_id"] == 4
    assert "entry 3 was deleted" in verdict["problem"]
