"""The dossier of a referral: every part, read in one snapshot and in few queries, and the same
record the routing package carries."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, update

from tipwatch.errors import NotFoundError
from tipwatch.formats.hashlists import read_hash_csv
from tipwatch.intake import ingest_paths
from tipwatch.matching.lists import import_list
from tipwatch.matching.matcher import match_referrals
from tipwatch.store import Store
from tipwatch.store.schema import package_referrals, priorities, routing_packages
from tipwatch.triage.config import load_config
from tipwatch.triage.dossier import DOSSIER_KEYS, PACKAGE_KEYS, load_dossier, load_dossiers
from tipwatch.triage.routing import PACKAGE_LINK_MEMBERS, route_country
from tipwatch.triage.run import triage_store

from .mmdb import DOC_NETWORKS, write_mmdb
from .test_triage_store import REFERRALS, account, referral, write_jsonl

LISTED_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23"
NEAR_PDQ = LISTED_PDQ[:-1] + "2"  # one bit away


@pytest.fixture
def routed(store: Store, tmp_path: Path) -> Store:
    """A store whose referrals were matched, triaged (r-nl-1 twice, after a revision) and the
    NL referrals routed."""
    first = dict(REFERRALS[0])
    first["files"] = [
        *REFERRALS[0]["files"],
        {"file_id": "p", "hashes": {"pdq": NEAR_PDQ}, "viewed_by_service": "yes"},
    ]
    ingest_paths(store, [write_jsonl(tmp_path / "in.jsonl", [first, *REFERRALS[1:]])])
    (tmp_path / "list.csv").write_text(
        f"hash_type,hash,category\nmd5,{'1' * 32},1\npdq,{LISTED_PDQ},2\n"
    )
    import_list(
        store,
        "team-list",
        read_hash_csv(tmp_path / "list.csv"),
        version="2026-01",
        fmt="csv",
        scheme="projectvic_us",
    )
    match_referrals(store)
    geo = write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS)
    triage_store(store, geoip=geo)
    revised = {**first, "platform": "Example Photo Service (web)"}
    ingest_paths(store, [write_jsonl(tmp_path / "rev.jsonl", [revised])])
    triage_store(store, geoip=geo)
    route_country(store, "NL", tmp_path / "pkg", created_by="analyst-1")
    return store


def test_the_dossier_holds_every_part(routed: Store, tmp_path: Path) -> None:
    dossier = load_dossier(routed, "r-nl-1", config=load_config(), revisions=True)
    assert dossier.referral.report_id == "r-nl-1"
    assert dossier.referral.platform == "Example Photo Service (web)"
    assert [f.file_id for f in dossier.files] == ["a", "b", "p"]
    a, b, p = dossier.files
    assert a.hashes == {"md5": "1" * 32} and p.hashes == {"pdq": NEAR_PDQ}
    assert (a.match_status, b.match_status, p.match_status) == ("known", "new", "known")
    # exact and near matches kept apart, each with list, version, entry, category, distance
    assert [m["algorithm"] for m in a.exact_matches] == ["md5"] and a.near_matches == ()
    assert p.exact_matches == () and len(p.near_matches) == 1
    near = p.near_matches[0]
    assert near["list"] == "team-list" and near["list_version"] == "2026-01"
    assert near["distance"] == 1 and near["category"] == "2"
    assert isinstance(near["entry_id"], int) and near["entry_id"] != a.exact_matches[0]["entry_id"]
    # attribution, its evidence and the attribution it replaced
    attribution = dossier.attribution
    assert attribution is not None and attribution["country"] == "NL"
    assert attribution["decided_by"] == "file_upload_ip" and attribution["evidence"]
    assert [h["country"] for h in attribution["history"]] == ["NL"]
    assert dossier.legal == {
        "a": "may be viewed",
        "b": "needs legal process before viewing",
        "p": "may be viewed",
    }
    assert [g["kind"] for g in dossier.links] == ["linked"]
    shares = {m["report_id"]: m["shares"] for m in dossier.links[0]["members"]}
    assert any(s.startswith("account:") for s in shares["r-nl-2"])
    assert dossier.priority is not None and dossier.priority["tier"] == "immediate"
    assert {r["reason"] for r in dossier.priority["reasons"]} >= {"escalated", "live_streaming"}
    assert [(s["country"], s["sent_by"]) for s in dossier.sent_in] == [("NL", "analyst-1")]
    assert dossier.revisions is not None and [r["revision"] for r in dossier.revisions] == [1]

    whole = dossier.as_dict()
    assert tuple(whole) == DOSSIER_KEYS
    assert json.loads(json.dumps(whole)) == whole  # JSON-ready as it is
    assert whole["referral"]["report_id"] == "r-nl-1"
    assert whole["match_status"] == {"a": "known", "b": "new", "p": "known"}
    assert [m["file_id"] for m in whole["matches"]["exact"]] == ["a"]
    assert [m["file_id"] for m in whole["matches"]["near"]] == ["p"]
    assert whole["files"][2]["near_matches"] == whole["matches"]["near"]
    assert whole["sent_in"][0]["sent_at"] == dossier.sent_in[0]["sent_at"].isoformat()
    assert load_dossier(routed, "r-nl-1", config=load_config()).as_dict()["revisions"] is None


def test_a_dossier_before_triage_and_a_missing_referral(store: Store, tmp_path: Path) -> None:
    ingest_paths(store, [write_jsonl(tmp_path / "in.jsonl", REFERRALS)])
    dossier = load_dossier(store, "r-de-1", config=load_config())
    assert dossier.attribution is None and dossier.priority is None
    assert (dossier.links, dossier.sent_in, dossier.matches) == ((), (), ())
    with pytest.raises(NotFoundError, match="r-absent"):
        load_dossier(store, "r-absent", config=load_config())
    found = load_dossiers(store, ["r-nl-2", "r-absent", "r-de-1", "r-nl-2"], config=load_config())
    assert [d.report_id for d in found] == ["r-nl-2", "r-de-1"]


def test_the_package_record_is_the_dossier(routed: Store, tmp_path: Path) -> None:
    lines = (tmp_path / "pkg" / "referrals.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["report_id"] for r in records] == ["r-nl-1", "r-nl-2"]
    dossiers = load_dossiers(
        routed,
        ["r-nl-1", "r-nl-2"],
        config=load_config(),
        max_link_members=PACKAGE_LINK_MEMBERS,
    )
    for record, dossier in zip(records, dossiers, strict=True):
        assert tuple(record) == PACKAGE_KEYS
        assert record == dossier.package_record()
        whole = dossier.as_dict()
        assert all(record[key] == whole[key] for key in PACKAGE_KEYS)


def _many_referrals(n: int) -> list[dict[str, Any]]:
    """``n`` referrals; every ten share an account, so they form link groups."""
    return [
        referral(
            f"r-{i:04d}",
            incident_time=f"2020-04-{1 + i % 28:02d}T10:00:00Z",
            reported=[account(f"u-{i // 10}", "192.0.2.10")],
            files=[{"file_id": "f", "hashes": {"md5": f"{i:032x}"}}],
        )
        for i in range(n)
    ]


def _count_queries(store: Store, action: Any) -> int:
    executed: list[str] = []

    def count(*args: Any) -> None:
        executed.append(args[2])

    engine = store._engine  # the test watches every statement the store sends
    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(executed)


def test_many_dossiers_take_a_bounded_number_of_queries(store: Store, tmp_path: Path) -> None:
    ingest_paths(store, [write_jsonl(tmp_path / "many.jsonl", _many_referrals(200))])
    triage_store(store, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS), jobs=1)
    ids = [f"r-{i:04d}" for i in range(200)]
    config = load_config()
    loaded: list[Any] = []
    few = _count_queries(
        store, lambda: loaded.extend(load_dossiers(store, ids[:10], config=config))
    )
    many = _count_queries(store, lambda: loaded.extend(load_dossiers(store, ids, config=config)))
    assert len(loaded) == 210
    assert many == few  # the count does not grow with the referrals
    assert many <= 20
    linked = loaded[10:]
    assert all(len(d.links) == 1 and len(d.links[0]["members"]) == 9 for d in linked)
    assert all(d.priority is not None and d.attribution is not None for d in linked)


def test_a_dossier_is_one_snapshot(routed: Store) -> None:
    """A write committed by another connection while the dossier is read is not seen."""
    before = load_dossier(routed, "r-nl-2", config=load_config())
    seen: list[int] = []
    writer_errors: list[BaseException] = []

    def write() -> None:
        try:
            with routed.atomic() as conn:
                conn.execute(
                    update(priorities)
                    .where(priorities.c.report_id == "r-nl-2")
                    .values(tier="informational", score=0.0)
                )
                package_id = conn.execute(
                    insert(routing_packages).values(
                        country="NL",
                        created_by="analyst-2",
                        created_at=before.sent_in[0]["sent_at"],
                        path="/elsewhere",
                        referral_count=1,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                conn.execute(
                    insert(package_referrals).values(package_id=package_id, report_id="r-nl-2")
                )
        except BaseException as exc:  # reported by the reading thread
            writer_errors.append(exc)

    reader = threading.get_ident()

    def midway(*_args: Any) -> None:
        if threading.get_ident() != reader:
            return
        seen.append(1)
        if len(seen) == 3:  # the snapshot has begun: the first queries have run
            writer = threading.Thread(target=write)
            writer.start()
            writer.join()

    engine = routed._engine  # the test injects a write between two of the dossier's queries
    event.listen(engine, "before_cursor_execute", midway)
    try:
        during = load_dossier(routed, "r-nl-2", config=load_config())
    finally:
        event.remove(engine, "before_cursor_execute", midway)
    assert writer_errors == []
    assert len(seen) > 3
    assert during.priority == before.priority
    assert during.sent_in == before.sent_in
    after = load_dossier(routed, "r-nl-2", config=load_config())
    assert after.priority is not None and after.priority["tier"] == "informational"
    assert [s["sent_by"] for s in after.sent_in] == ["analyst-1", "analyst-2"]
