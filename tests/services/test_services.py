"""Services: every action is authorised, one transaction, and audited in that transaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

import tipwatch.services
from tipwatch import services
from tipwatch.cli import app
from tipwatch.demo import sample_files
from tipwatch.errors import AccessDenied, InputError, NotFoundError
from tipwatch.services import Actor, Role
from tipwatch.services.access import ACTIONS, MEDIA_VIEWING, PERMISSIONS
from tipwatch.store import Store
from tipwatch.store.audit import list_events, verify_chain
from tipwatch.store.schema import audit_events, quarantine, referrals

ANALYST = Actor("ana", Role.ANALYST)
LIAISON = Actor("lia", Role.LIAISON)
AUDITOR = Actor("aud", Role.AUDITOR)


def _count(store: Store, table: object) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_the_public_names_are_pinned() -> None:
    assert tipwatch.services.__all__ == [
        "Actor",
        "Role",
        "access",
        "assessment",
        "audit",
        "cases",
        "demo",
        "exchanges",
        "exports",
        "forums",
        "identity",
        "jobs",
        "matching",
        "media",
        "referrals",
        "stores",
        "trends",
        "triage",
        "urls",
        "workspace",
    ]
    for name in tipwatch.services.__all__:
        assert getattr(tipwatch.services, name) is not None


def test_every_role_is_in_the_table_and_admin_may_do_everything_but_view_media() -> None:
    assert set(PERMISSIONS) == set(Role)
    assert PERMISSIONS[Role.ADMIN] == frozenset(ACTIONS) - MEDIA_VIEWING
    # Kept media are seen by reviewers alone.
    assert {"media.view", "media.reveal"} == MEDIA_VIEWING
    assert [r for r in Role if MEDIA_VIEWING & PERMISSIONS[r]] == [Role.REVIEWER]
    assert PERMISSIONS[Role.REVIEWER] >= MEDIA_VIEWING
    for allowed in PERMISSIONS.values():
        assert allowed <= frozenset(ACTIONS)
    # Least privilege: a liaison officer reads, an auditor reads the log; neither writes.
    assert "route.create" not in PERMISSIONS[Role.LIAISON]
    assert "intake.ingest" not in PERMISSIONS[Role.AUDITOR]
    assert "audit.verify" not in PERMISSIONS[Role.ANALYST]


def test_an_unknown_role_is_a_clear_error() -> None:
    from tipwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown role 'boss'; the roles are admin"):
        Actor.of("x", "boss")


def test_a_batch_action_is_audited_once_with_its_outcome(store: Store) -> None:
    summary = services.referrals.ingest(store, ANALYST, sample_files())
    assert summary.ingested == 7
    (event,) = list_events(store, action="intake.ingest")
    assert (event.actor, event.role, event.outcome) == ("ana", "analyst", "ok")
    assert "7 ingested" in event.detail and len(event.object_ids) == len(sample_files())
    assert verify_chain(store).ok


def test_reading_a_dossier_is_audited_with_the_report_id(store: Store) -> None:
    services.referrals.ingest(store, ANALYST, sample_files())
    config = services.triage.load_triage_config()
    reviewer = Actor("rev", Role.REVIEWER)
    dossier = services.referrals.show_referral(store, reviewer, "9100001", config=config)
    assert dossier.report_id == "9100001"
    (event,) = list_events(store, action="referral.show")
    assert event.actor == "rev" and event.object_ids == ["9100001"] and event.outcome == "ok"


def test_a_denied_action_writes_nothing_but_its_refusal(store: Store, tmp_path: Path) -> None:
    services.referrals.ingest(store, ANALYST, sample_files())
    before = _count(store, referrals)
    with pytest.raises(AccessDenied, match=r"lia \(role liaison\) may not read referral files"):
        services.referrals.ingest(store, LIAISON, sample_files())
    with pytest.raises(AccessDenied):
        services.triage.route(
            store, LIAISON, "NL", tmp_path / "p", config=services.triage.load_triage_config()
        )
    assert not (tmp_path / "p").exists()
    assert _count(store, referrals) == before
    denied = list_events(store, actor="lia")  # newest first
    assert [(e.action, e.outcome) for e in denied] == [
        ("route.create", "denied"),
        ("intake.ingest", "denied"),
    ]


def test_a_failed_action_is_rolled_back_and_audited_as_failed(store: Store) -> None:
    services.referrals.ingest(store, ANALYST, sample_files())
    (entry,) = services.referrals.list_quarantined(store, ANALYST)
    # One id exists, one does not: the dismissal is one unit of work, so neither is dismissed.
    with pytest.raises(NotFoundError, match="no quarantine entry 999"):
        services.referrals.dismiss_quarantined(store, ANALYST, [entry.id, 999], reason="spam")
    with store.read() as conn:
        assert conn.execute(select(quarantine.c.status)).scalar_one() == "open"
    (event,) = list_events(store, action="quarantine.dismiss")
    assert event.outcome == "failed" and "no quarantine entry 999" in event.detail
    assert (
        services.referrals.dismiss_quarantined(store, ANALYST, [entry.id], reason="a test record")
        == 1
    )
    (kept,) = services.referrals.list_quarantined(store, ANALYST, status="dismissed")
    assert kept.note == "dismissed: a test record"
    with pytest.raises(InputError, match="needs a reason"):
        services.referrals.dismiss_quarantined(store, ANALYST, [entry.id], reason="  ")


def test_a_dismissed_record_read_again_stays_dismissed(store: Store) -> None:
    services.referrals.ingest(store, ANALYST, sample_files())
    (entry,) = services.referrals.list_quarantined(store, ANALYST)
    services.referrals.dismiss_quarantined(store, ANALYST, [entry.id], reason="known bad")
    # The same file again (a new run of it): the bad record is counted, not reopened.
    services.referrals.ingest(store, ANALYST, sample_files())
    assert services.referrals.list_quarantined(store, ANALYST) == []
    (again,) = services.referrals.list_quarantined(store, ANALYST, status="dismissed")
    assert again.times_seen == 2


def test_the_audit_event_is_part_of_the_action_s_transaction(store: Store) -> None:
    """An outer unit of work that fails takes the inner action and its audit event with it."""
    services.referrals.ingest(store, ANALYST, sample_files())
    (entry,) = services.referrals.list_quarantined(store, ANALYST)
    events_before = _count(store, audit_events)
    with pytest.raises(RuntimeError), store.atomic():
        services.referrals.dismiss_quarantined(store, ANALYST, [entry.id], reason="x")
        raise RuntimeError("the caller's unit of work fails")
    assert _count(store, audit_events) == events_before
    (still,) = services.referrals.list_quarantined(store, ANALYST)
    assert still.status == "open"


def test_referrals_list_filters_on_the_attributed_country(store: Store) -> None:
    services.referrals.ingest(store, ANALYST, sample_files())
    with store.atomic() as conn:
        conn.execute(
            text(
                "INSERT INTO attributions (report_id, country, confidence, level, evidence, "
                "referral_revision, attributed_at) VALUES ('9100001', 'DE', 0.9, 'ip', '[]', 0, "
                "'2026-01-01 00:00:00')"
            )
        )
    found = services.referrals.list_referrals(store, ANALYST, country="de")
    assert [r.report_id for r in found] == ["9100001"]
    assert found[0].attributed_country == "DE" and found[0].country != "DE"
    unknown = services.referrals.list_referrals(store, ANALYST, country="unknown")
    assert "9100001" not in {r.report_id for r in unknown} and len(unknown) == 6
    assert services.referrals.list_referrals(store, ANALYST, status="sent") == []
    assert len(services.referrals.list_referrals(store, ANALYST, status="open")) == 7
    with pytest.raises(InputError, match="unknown country code 'Atlantis'"):
        services.referrals.list_referrals(store, ANALYST, country="Atlantis")


def test_the_cli_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = tmp_path / "typo.db"
    result = runner.invoke(app, ["referrals", "list", "--db", str(missing)])
    said = " ".join(result.output.split())
    assert result.exit_code == 69 and f"there is no store at {missing}" in said
    assert not missing.exists()
    result = runner.invoke(app, ["init", "--db", str(missing)])
    assert result.exit_code == 0 and missing.exists()
    result = runner.invoke(app, ["referrals", "list", "--db", str(missing), "-f", "json"])
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_the_cli_actor_comes_from_the_settings(
    db_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipwatch.settings import reload_settings

    monkeypatch.setenv("TIPWATCH_ACTOR", "officer-12")
    monkeypatch.setenv("TIPWATCH_ROLE", "liaison")
    reload_settings()
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "--db", db_url, str(sample_files()[0])])
    assert result.exit_code == 77, result.output  # AccessDenied
    assert "officer-12 (role liaison) may not read referral files into the store" in result.output
    (event,) = list_events(store)
    assert (event.actor, event.role, event.outcome) == ("officer-12", "liaison", "denied")


def test_a_read_action_does_not_hold_the_write_lock(store: Store) -> None:
    """A long read (an assessment, a trend analysis) must not stall intake on SQLite."""
    import threading

    from tipwatch.services._unit import unit

    services.referrals.ingest(store, ANALYST, sample_files())
    wrote = threading.Event()

    def writer() -> None:
        with store.atomic() as conn:
            conn.execute(update(quarantine).values(note="touched"))
        wrote.set()

    with unit(store, ANALYST, "referral.list", writes=False) as work:
        assert work.conn is not None
        t = threading.Thread(target=writer)
        t.start()
        # The writer commits while the read is still open (SQLite's busy timeout is 10 s).
        assert wrote.wait(timeout=5)
        t.join()
    (event,) = list_events(store, action="referral.list")
    assert event.outcome == "ok"


def test_matching_the_stored_referrals_reports_progress(store: Store) -> None:
    services.referrals.ingest(store, ANALYST, sample_files())
    seen: list[tuple[str, int, int]] = []
    summary = services.matching.match_referrals(store, ANALYST, progress=lambda *a: seen.append(a))
    assert summary.files == 7
    assert seen[0] == ("matching", 0, 7) and seen[-1] == ("matching", 7, 7)


def test_the_tiers_offered_are_the_triage_tiers(store: Store) -> None:
    """`--tier normal` was refused once: the services held a copy of the tiers that drifted."""
    from tipwatch.triage.priority import TIERS

    assert services.triage.TIERS == TIERS
    services.referrals.ingest(store, ANALYST, sample_files())
    assert (
        services.referrals.list_referrals(store, ANALYST, tiers=["normal", "informational"]) == []
    )
