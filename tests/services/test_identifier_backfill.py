"""The identifier index backfill, on SQLite and PostgreSQL: referrals stored without index rows
(as those stored before migration 0010 are) are missed by a search by account, e-mail, screen
name, IP or URL until ``referrals reindex`` writes their rows; a second run writes nothing;
the run reports progress, commits batch by batch, is audited and is for administrators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from tipwatch import services
from tipwatch.cli import app
from tipwatch.errors import AccessDenied
from tipwatch.services.access import Actor, Role
from tipwatch.store import Store
from tipwatch.store.schema import referral_identifiers

ADMIN = Actor("operator", Role.ADMIN)
ANALYST = Actor("ana", Role.ANALYST)
CP = "Child Pornography (possession, manufacture, and distribution)"


def _referral(n: int) -> dict[str, object]:
    return {
        "report_id": f"bf-{n:03d}",
        "incident_type": CP,
        "incident_time": f"2019-11-{1 + n % 28:02d}T10:00:00Z",
        "reported": [
            {
                "esp_identifier": f"acct-{n}",
                "screen_name": f"Screen{n}",
                "esp_service": "Example.invalid",
                "person": {"emails": [{"address": f"User{n}@Mail.invalid"}]},
                "ip_events": [{"ip_address": f"198.51.100.{n % 250}", "event_name": "Login"}],
            }
        ],
        "internet_details": [{"kind": "web_page", "urls": [f"https://site{n}.invalid/p"]}],
    }


def _store_old_referrals(store: Store, tmp_path: Path, count: int) -> None:
    """Ingest ``count`` referrals (and one naming nobody), then drop every index row: the
    state of a store whose referrals were written before the index existed."""
    path = tmp_path / "old.jsonl"
    lines = [json.dumps(_referral(n)) for n in range(count)]
    nobody = {
        "report_id": "bf-nobody",
        "incident_type": CP,
        "incident_time": "2019-12-01T10:00:00Z",
    }
    lines.append(json.dumps(nobody))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = services.referrals.ingest(store, ADMIN, [path])
    assert summary.ingested == count + 1
    with store.atomic() as conn:
        conn.execute(delete(referral_identifiers))


def _found(store: Store, by: str, value: str) -> list[str]:
    rows = services.referrals.search_referrals(store, ADMIN, by=by, value=value)
    return [r.report_id for r in rows]


def _index_rows(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(referral_identifiers)).scalar())


def test_referrals_without_index_rows_are_found_after_the_backfill(
    store: Store, tmp_path: Path
) -> None:
    _store_old_referrals(store, tmp_path, 25)
    searches = [
        ("account", "acct-7"),
        ("email", "user7@mail.invalid"),
        ("screen_name", "screen7"),
        ("ip", "198.51.100.7"),
        ("url", "https://site7.invalid/p"),
    ]
    for by, value in searches:
        assert _found(store, by, value) == [], (by, value)

    seen: list[tuple[str, int, int]] = []
    result = services.referrals.reindex_identifiers(
        store,
        ADMIN,
        batch_size=10,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert result.as_dict() == {"missing": 26, "indexed": 25, "rows": 25 * 5}
    # Progress at the start, then after each batch of 10 (the last holds 6).
    assert seen == [
        ("identifiers", 0, 26),
        ("identifiers", 10, 26),
        ("identifiers", 20, 26),
        ("identifiers", 26, 26),
    ]
    for by, value in searches:
        assert _found(store, by, value) == ["bf-007"], (by, value)
    assert _index_rows(store) == 125

    # Run again: only the referral that names nobody is looked at, and nothing is written.
    again = services.referrals.reindex_identifiers(store, ADMIN)
    assert again.as_dict() == {"missing": 1, "indexed": 0, "rows": 0}
    assert _index_rows(store) == 125

    events = services.audit.list_events(store, ADMIN, action="referral.reindex")
    assert [e.outcome for e in events] == ["ok", "ok"]
    assert events[1].detail.startswith("26 referrals without identifier rows; 25 indexed")


def test_the_backfill_leaves_indexed_referrals_alone(store: Store, tmp_path: Path) -> None:
    _store_old_referrals(store, tmp_path, 3)
    services.referrals.reindex_identifiers(store, ADMIN)
    # One referral loses its rows again (stored before the index, say); the others keep
    # theirs, and only the one is written.
    with store.atomic() as conn:
        conn.execute(
            delete(referral_identifiers).where(referral_identifiers.c.report_id == "bf-001")
        )
    result = services.referrals.reindex_identifiers(store, ADMIN)
    assert (result.indexed, result.rows) == (1, 5)
    assert _found(store, "account", "acct-1") == ["bf-001"]
    assert _index_rows(store) == 15


def test_only_administrators_reindex(store: Store) -> None:
    with pytest.raises(AccessDenied):
        services.referrals.reindex_identifiers(store, ANALYST)
    (event,) = services.audit.list_events(store, ADMIN, action="referral.reindex")
    assert (event.actor, event.outcome) == ("ana", "denied")


def test_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "cli.db")
    with Store.open(db) as store:
        _store_old_referrals(store, tmp_path, 4)
    monkeypatch.setenv("TIPWATCH_ROLE", "admin")
    from tipwatch.settings import reload_settings

    reload_settings()
    runner = CliRunner()
    first = runner.invoke(app, ["referrals", "reindex", "--db", db, "--format", "json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"missing": 5, "indexed": 4, "rows": 20}
    second = runner.invoke(app, ["referrals", "reindex", "--db", db])
    assert second.exit_code == 0, second.output
    assert "1 referrals had no identifier rows: 0 indexed (0 rows), 1 name no identifier" in (
        second.stdout.replace("\n", " ")
    )
    with Store.open(db) as store:
        assert _found(store, "email", "user3@mail.invalid") == ["bf-003"]
