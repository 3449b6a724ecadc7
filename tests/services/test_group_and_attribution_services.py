"""The services behind the Groups and Country pages: a link group's detail, a country's
attribution quality, and notes on a group edited as new versions. Each authorised, each
audited; bad input names the problem."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from tipwatch import services
from tipwatch.errors import AccessDenied, InputError, NotFoundError
from tipwatch.intake import ingest_paths
from tipwatch.services import Actor, Role
from tipwatch.store import Store
from tipwatch.store.schema import audit_events, link_groups
from tipwatch.triage.run import triage_store

from ..triage.mmdb import DOC_NETWORKS, write_mmdb
from ..triage.test_triage_store import REFERRALS, write_jsonl

ANALYST = Actor("ana", Role.ANALYST)
OTHER = Actor("bob", Role.ANALYST)
ADMIN = Actor("adm", Role.ADMIN)
LIAISON = Actor("lia", Role.LIAISON, country="NL")
AUDITOR = Actor("aud", Role.AUDITOR)


@pytest.fixture
def triaged(store: Store, tmp_path: Path) -> Store:
    ingest_paths(store, [write_jsonl(tmp_path / "in.jsonl", REFERRALS)])
    triage_store(store, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    return store


def _events(store: Store, action: str) -> list[tuple[str, str, list[str], str]]:
    e = audit_events.c
    with store.read() as conn:
        rows = conn.execute(
            select(e.actor, e.outcome, e.object_ids, e.object_type)
            .where(e.action == action)
            .order_by(e.id)
        ).all()
    return [(r.actor, r.outcome, json.loads(r.object_ids), r.object_type) for r in rows]


def _group(store: Store) -> int:
    with store.read() as conn:
        found: int = conn.execute(select(link_groups.c.id)).scalar_one()
    return found


def test_a_group_is_read_by_those_who_read_links_and_audited(triaged: Store) -> None:
    gid = _group(triaged)
    config = services.triage.load_triage_config()
    found = services.triage.group(triaged, ANALYST, gid, config=config)
    assert found["by_country"] == {"NL": 2, "FR": 1}
    assert [(x["a"], x["b"]) for x in found["links"]] == [
        ("r-nl-1", "r-nl-2"),
        ("r-fr-1", "r-nl-2"),
    ]
    listed = services.triage.link_groups(triaged, ANALYST)
    assert listed[0]["by_country"] == {"NL": 2, "FR": 1}
    for actor in (LIAISON, AUDITOR):
        with pytest.raises(AccessDenied):
            services.triage.group(triaged, actor, gid, config=config)
    with pytest.raises(NotFoundError, match="no link group 424242"):
        services.triage.group(triaged, ANALYST, 424242, config=config)
    assert _events(triaged, "links.read") == [
        ("ana", "ok", [str(gid)], "link_group"),
        ("ana", "ok", [], "link_group"),
        ("lia", "denied", [str(gid)], "link_group"),
        ("aud", "denied", [str(gid)], "link_group"),
        ("ana", "failed", ["424242"], "link_group"),
    ]


def test_attribution_quality_of_a_country(triaged: Store) -> None:
    got = services.triage.attribution_quality(triaged, ANALYST, "nl")
    assert got.country == "NL" and got.attributed == 2
    assert got.by_level == {"file_upload_ip": 1, "account_upload_ip": 1}
    assert got.by_confidence == {"high": 2, "medium": 0, "low": 0}
    assert (got.unattributed, got.not_triaged) == (1, 0)
    # An alpha-3 code is read as its alpha-2 code.
    assert services.triage.attribution_quality(triaged, ANALYST, "NLD") == got
    early = services.triage.attribution_quality(
        triaged, ANALYST, "NL", since=date(2020, 3, 21), until=date(2020, 3, 22)
    )
    assert early.attributed == 1 and early.unattributed == 0
    with pytest.raises(InputError, match="country: unknown country code 'XX'"):
        services.triage.attribution_quality(triaged, ANALYST, "XX")
    with pytest.raises(InputError, match=r"starts .* after it ends"):
        services.triage.attribution_quality(
            triaged, ANALYST, "NL", since=date(2020, 4, 1), until=date(2020, 3, 1)
        )
    for actor in (LIAISON, AUDITOR):
        with pytest.raises(AccessDenied):
            services.triage.attribution_quality(triaged, actor, "NL")
    assert [e[:3] for e in _events(triaged, "queue.read")] == [
        ("ana", "ok", ["NL"]),
        ("ana", "ok", ["NL"]),
        ("ana", "ok", ["NL"]),
        ("lia", "denied", ["NL"]),
        ("aud", "denied", ["NL"]),
    ]


def test_notes_on_a_group_are_versions_by_their_author(triaged: Store) -> None:
    gid = str(_group(triaged))
    note = services.cases.add_note(triaged, ANALYST, "group", gid, "Two accounts, one person?")
    assert (note["object_type"], note["object_id"], note["author"]) == ("group", gid, "ana")
    second = services.cases.edit_note(
        triaged, ANALYST, note["note_id"], "One person.", expected_version=1, of=("group", gid)
    )
    assert second["version"] == 2
    # Named on another object, the note is not there; only its author (or an administrator)
    # writes a new version.
    with pytest.raises(NotFoundError, match="on the referral 'r-nl-1'"):
        services.cases.edit_note(triaged, ANALYST, note["note_id"], "x", of=("referral", "r-nl-1"))
    with pytest.raises(AccessDenied):
        services.cases.edit_note(triaged, OTHER, note["note_id"], "mine", of=("group", gid))
    third = services.cases.edit_note(
        triaged, ADMIN, note["note_id"], "One person (checked).", of=("group", gid)
    )
    assert (third["version"], third["author"]) == (3, "adm")
    latest = services.cases.list_notes(triaged, ANALYST, "group", gid)
    assert [(n["version"], n["body"]) for n in latest] == [(3, "One person (checked).")]
    every = services.cases.list_notes(triaged, ANALYST, "group", gid, history=True)
    assert [n["author"] for n in every] == ["ana", "ana", "adm"]
    with pytest.raises(NotFoundError):
        services.cases.add_note(triaged, ANALYST, "group", "999999", "no such group")
    assert [e[:2] for e in _events(triaged, "note.write")] == [
        ("ana", "ok"),
        ("ana", "ok"),
        ("ana", "failed"),
        ("bob", "denied"),
        ("adm", "ok"),
        ("ana", "failed"),
    ]
