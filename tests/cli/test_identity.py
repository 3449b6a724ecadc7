"""users and tokens commands: add, list, roles, disable, reset-password, unlock; create, list,
revoke; and serve's refusal of several processes over an SQLite store."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tipwatch import services
from tipwatch.cli import app
from tipwatch.errors import AuthenticationError
from tipwatch.store import Store

runner = CliRunner()
PASSWORD = "a long enough password"


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def test_users_lifecycle(store: Store, db_url: str) -> None:
    code, out = run(
        "users",
        "add",
        "ana",
        "--role",
        "analyst",
        "--password-stdin",
        "--db",
        db_url,
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "user ana: role analyst" in out and "TOTP" not in out
    code, out = run(
        "users",
        "add",
        "root",
        "--role",
        "admin",
        "--password-stdin",
        "--db",
        db_url,
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "TOTP secret (shown once" in out and "otpauth://totp/tipwatch:root" in out
    code, out = run(
        "users",
        "add",
        "x",
        "--role",
        "analyst",
        "--password-stdin",
        "--db",
        db_url,
        stdin="short\n",
    )
    assert code == 65 and "at least 12 characters" in out
    code, out = run(
        "users",
        "add",
        "lia",
        "--role",
        "liaison",
        "--password-stdin",
        "--db",
        db_url,
        stdin=PASSWORD + "\n",
    )
    assert code == 65 and "needs a country" in out
    code, out = run(
        "users",
        "add",
        "lia",
        "--role",
        "liaison",
        "--country",
        "nld",
        "--password-stdin",
        "--db",
        db_url,
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "country NL" in out
    code, out = run(
        "users",
        "add",
        "ana",
        "--role",
        "analyst",
        "--password-stdin",
        "--db",
        db_url,
        stdin=PASSWORD + "\n",
    )
    assert code == 73  # ConflictError
    code, out = run("users", "list", "--db", db_url, "-f", "json")
    users = {u["name"]: u for u in json.loads(out)}
    assert set(users) == {"ana", "root", "lia"} and users["root"]["totp"] is True
    assert "password_hash" not in users["ana"] and users["lia"]["country"] == "NL"
    code, out = run("users", "roles", "ana", "--role", "reviewer", "--db", db_url)
    assert code == 0 and "TOTP secret" in out  # a reviewer needs a second factor
    # failed logins lock; unlock (audited) ends it
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            services.identity.login(store, "lia", "wrong")
    with pytest.raises(AuthenticationError):
        services.identity.login(store, "lia", PASSWORD)
    assert run("users", "unlock", "lia", "--db", db_url)[0] == 0
    assert services.identity.login(store, "lia", PASSWORD).actor.country == "NL"
    code, _ = run(
        "users",
        "reset-password",
        "lia",
        "--password-stdin",
        "--db",
        db_url,
        stdin="another long password\n",
    )
    assert code == 0
    with pytest.raises(AuthenticationError):
        services.identity.login(store, "lia", PASSWORD)
    assert run("users", "disable", "lia", "--db", db_url)[0] == 0
    with pytest.raises(AuthenticationError):
        services.identity.login(store, "lia", "another long password")
    assert run("users", "disable", "nobody", "--db", db_url)[0] == 66
    actions = [
        e.action
        for e in services.audit.list_events(
            store, services.Actor("t", services.Role.ADMIN), limit=100
        )
    ]
    assert "user.unlock" in actions and actions.count("user.write") >= 6


def test_tokens_create_list_revoke(store: Store, db_url: str) -> None:
    run(
        "users",
        "add",
        "feed",
        "--role",
        "ingest",
        "--password-stdin",
        "--db",
        db_url,
        stdin=PASSWORD + "\n",
    )
    result = runner.invoke(
        app, ["tokens", "create", "feed", "--scope", "ingest", "--days", "7", "--db", db_url]
    )
    assert result.exit_code == 0
    secret = result.stdout.strip()
    assert secret.startswith("tw_") and len(secret) > 40 and "\n" not in secret
    actor = services.identity.authenticate_token(store, secret)
    assert (actor.name, actor.role.value, actor.scopes) == ("feed", "ingest", frozenset({"ingest"}))
    _code, out = run("tokens", "list", "--db", db_url, "-f", "json")
    (row,) = json.loads(out)
    assert row["state"] == "active" and row["scopes"] == ["ingest"] and secret not in out
    assert secret.split("_", 2)[2] not in out  # the secret part is never shown again
    assert run("tokens", "create", "feed", "--scope", "everything", "--db", db_url)[0] == 65
    assert run("tokens", "revoke", row["token_id"], "--db", db_url)[0] == 0
    with pytest.raises(AuthenticationError):
        services.identity.authenticate_token(store, secret)
    assert run("tokens", "revoke", row["token_id"], "--db", db_url)[0] == 73
    _code, out = run("tokens", "list", "--db", db_url, "-f", "json")
    assert json.loads(out)[0]["state"] == "revoked"


def test_only_an_admin_manages_users(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipwatch.settings import reload_settings

    monkeypatch.setenv("TIPWATCH_ROLE", "analyst")
    reload_settings()
    code, out = run(
        "users",
        "add",
        "x",
        "--role",
        "admin",
        "--password-stdin",
        "--db",
        db_url,
        stdin=PASSWORD + "\n",
    )
    assert code == 77 and "may not add, change or disable users" in out


def test_serve_refuses_several_processes_over_sqlite(tmp_path: object) -> None:
    from pathlib import Path

    db = Path(str(tmp_path)) / "t.db"
    assert run("init", "--db", str(db))[0] == 0
    code, out = run("serve", "--workers", "2", "--db", str(db))
    assert code == 78 and "need a PostgreSQL store" in out
