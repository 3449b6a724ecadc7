"""Routing an analyst controls (SQLite and PostgreSQL): a preview that records nothing,
per-referral and per-group routing, periods by received date, named recipients, recall
until acknowledged, acknowledgement and outcome with the time they took."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from tipwatch import services
from tipwatch.errors import AccessDenied, ConflictError, InputError, NotFoundError
from tipwatch.intake import ingest_paths
from tipwatch.services.access import Actor, Role
from tipwatch.store import Store
from tipwatch.store.schema import audit_events, referral_links, referrals, routing_packages
from tipwatch.triage import routing
from tipwatch.triage.config import load_config
from tipwatch.triage.queries import queue, routed_count
from tipwatch.triage.routing import DETAIL_PAGE_ROWS, detail_page_name
from tipwatch.triage.run import triage_store

from .mmdb import DOC_NETWORKS, write_mmdb
from .test_triage_store import REFERRALS, write_jsonl

ANALYST = Actor("analyst-1", Role.ANALYST)
LIAISON = Actor("nl-liaison", Role.LIAISON, "NL")


@pytest.fixture
def triaged(store: Store, tmp_path: Path) -> Store:
    filled = store
    ingest_paths(filled, [write_jsonl(tmp_path / "in.jsonl", REFERRALS)])
    triage_store(filled, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    with filled.atomic() as conn:
        conn.execute(
            update(referrals)
            .where(referrals.c.report_id == "r-nl-1")
            .values(received_at=datetime(2020, 3, 21, 9, 0))
        )
        conn.execute(
            update(referrals)
            .where(referrals.c.report_id == "r-nl-2")
            .values(received_at=datetime(2020, 3, 30, 9, 0))
        )
    return filled


def _count(store: Store, table: object) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_preview_counts_and_records_nothing(triaged: Store) -> None:
    events = _count(triaged, audit_events)
    preview = services.triage.preview_route(triaged, ANALYST, "nl")
    assert preview.referral_count == 2 and preview.report_ids == ["r-nl-1", "r-nl-2"]
    assert preview.tiers["immediate"] == 1 and sum(preview.tiers.values()) == 2
    assert sum(preview.incident_types.values()) == 2
    assert sum(preview.services.values()) == 2
    with triaged.read() as conn:
        group = conn.execute(
            select(referral_links.c.group_id).where(referral_links.c.report_id == "r-nl-1")
        ).scalar_one()
    assert preview.groups == {group: 2}
    assert _count(triaged, routing_packages) == 0
    assert len(queue(triaged, country="NL")) == 2
    assert _count(triaged, audit_events) == events + 1  # the preview is audited, not recorded


def test_route_by_referral_group_and_received_date(triaged: Store, tmp_path: Path) -> None:
    config = load_config()
    one = services.triage.route(
        triaged, ANALYST, "NL", tmp_path / "a", config=config, report_ids=["r-nl-2"]
    )
    assert one.referral_count == 1
    assert [e.report_id for e in queue(triaged, country="NL")] == ["r-nl-1"]
    # received since 2020-03-25: r-nl-1 (received 21 March) is not in the period
    late = services.triage.preview_route(
        triaged, ANALYST, "NL", since=datetime(2020, 3, 25), date_basis="received"
    )
    assert late.referral_count == 0
    early = services.triage.preview_route(
        triaged, ANALYST, "NL", until=datetime(2020, 3, 25), date_basis="received"
    )
    assert early.report_ids == ["r-nl-1"]
    with pytest.raises(InputError, match="received"):
        services.triage.preview_route(triaged, ANALYST, "NL", date_basis="arrival")
    with triaged.read() as conn:
        group = conn.execute(
            select(referral_links.c.group_id).where(referral_links.c.report_id == "r-nl-1")
        ).scalar_one()
    by_group = services.triage.route(
        triaged, ANALYST, "NL", tmp_path / "b", config=config, group_ids=[group]
    )
    assert by_group.referral_count == 1
    assert routed_count(triaged, "NL")["referrals"] == 2
    assert routed_count(triaged, "NL")["packages"] == 2


def test_recipient_recall_and_ack(triaged: Store, tmp_path: Path) -> None:
    config = load_config()
    with pytest.raises(NotFoundError, match="no recipient"):
        services.triage.route(triaged, ANALYST, "NL", tmp_path / "x", config=config, recipient="?")
    services.triage.add_recipient(triaged, ANALYST, "NL liaison office", "NL")
    services.triage.add_recipient(triaged, ANALYST, "DE desk", "DE", kind="user")
    with pytest.raises(ConflictError):
        services.triage.add_recipient(triaged, ANALYST, "NL liaison office", "NL")
    with pytest.raises(InputError, match="receives for DE"):
        services.triage.route(
            triaged, ANALYST, "NL", tmp_path / "x", config=config, recipient="DE desk"
        )
    assert [r["name"] for r in services.triage.list_recipients(triaged, LIAISON)] == [
        "DE desk",
        "NL liaison office",
    ]
    first = services.triage.route(
        triaged, ANALYST, "NL", tmp_path / "p1", config=config, recipient="NL liaison office"
    )
    assert first.package_id is not None and queue(triaged, country="NL") == []
    listed = services.triage.packages(triaged, ANALYST)
    assert listed[0]["recipient"] == "NL liaison office" and listed[0]["status"] == "sent"
    with pytest.raises(AccessDenied):
        services.triage.recall_package(triaged, LIAISON, first.package_id, reason="wrong")
    with pytest.raises(InputError, match="reason"):
        services.triage.recall_package(triaged, ANALYST, first.package_id, reason=" ")
    assert (
        services.triage.recall_package(
            triaged, ANALYST, first.package_id, reason="sent before the deconfliction check"
        )
        == 2
    )
    assert [e.report_id for e in queue(triaged, country="NL")] == ["r-nl-1", "r-nl-2"]
    assert routed_count(triaged, "NL")["referrals"] == 0
    with triaged.read() as conn:
        row = conn.execute(select(routing_packages)).one()
        assert row.status == "recalled" and row.recalled_by == "analyst-1"
        assert row.recall_reason == "sent before the deconfliction check"
        actions = conn.execute(select(audit_events.c.action, audit_events.c.outcome)).all()
    assert ("route.recall", "ok") in actions and ("route.recall", "denied") in actions
    with pytest.raises(ConflictError, match="recalled"):
        services.triage.acknowledge_package(triaged, LIAISON, first.package_id)
    # routed again, then acknowledged by the recipient: no longer recallable
    second = services.triage.route(triaged, ANALYST, "NL", tmp_path / "p2", config=config)
    assert second.package_id is not None and second.referral_count == 2
    acked = services.triage.acknowledge_package(triaged, LIAISON, second.package_id)
    assert acked["acknowledged_by"] == "nl-liaison" and acked["status"] == "acknowledged"
    with pytest.raises(ConflictError, match="acknowledged"):
        services.triage.recall_package(triaged, ANALYST, second.package_id, reason="late")
    with pytest.raises(ConflictError, match="already"):
        services.triage.acknowledge_package(triaged, LIAISON, second.package_id)
    done = services.triage.acknowledge_package(
        triaged, LIAISON, second.package_id, outcome="account suspended, case opened"
    )
    assert done["outcome"] == "account suspended, case opened" and done["outcome_at"]
    latency = services.triage.routing_latency(triaged, ANALYST)
    assert [(x["country"], x["referrals"]) for x in latency] == [("NL", 2)]
    # received in March 2020, packaged now: years between, acknowledged within the minute
    assert latency[0]["median_hours_to_package"] > 24 * 365
    assert 0 <= latency[0]["median_hours_to_ack"] < 1
    assert latency[0]["median_hours_total"] >= latency[0]["median_hours_to_package"]


def test_summary_opens_with_the_summary_and_splits_the_detail(
    triaged: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipwatch.settings import reload_settings

    monkeypatch.setenv("TIPWATCH_PACKAGE_MARKING", "TLP:RED")
    reload_settings()
    services.triage.add_recipient(triaged, ANALYST, "NL liaison office", "NL")
    services.triage.route(
        triaged,
        ANALYST,
        "NL",
        tmp_path / "p",
        config=load_config(),
        recipient="NL liaison office",
        since=datetime(2020, 3, 1),
    )
    html = (tmp_path / "p" / "summary.html").read_text()
    top = html[html.index("<body>") :][:3000]
    for expected in ("TLP:RED", "NL liaison office", "incident date from 2020-03-01"):
        assert expected in top
    for caption in ("by priority", "by incident type", "by reporting service"):
        assert caption in html
    assert "legal-viewing status" in html and "needs legal process before viewing" in html
    assert "FR: 1 (0 routed)" in html  # the group's member elsewhere, and where it went
    detail = (tmp_path / "p" / detail_page_name(1)).read_text()
    assert "r-nl-1" in detail and "escalated to high priority by the sender" in detail
    assert DETAIL_PAGE_ROWS <= 500
    # groups past the summary's limit are counted, not dropped silently
    monkeypatch.setattr(routing, "PACKAGE_GROUPS_SHOWN", 0)
    services.triage.route(
        triaged, ANALYST, "NL", tmp_path / "q", config=load_config(), include_sent=True
    )
    assert "and 1 more group(s)" in (tmp_path / "q" / "summary.html").read_text()
    reload_settings()
