"""The triage pass over a store (SQLite and PostgreSQL): attribution history, GeoIP reloads,
priorities and re-scoring, the queue, routing packages."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tipwatch.errors import ConfigError, InputError
from tipwatch.intake import ingest_paths
from tipwatch.store import Store
from tipwatch.store.schema import (
    attribution_history,
    geoip_databases,
    package_referrals,
    routing_packages,
)
from tipwatch.triage.config import load_config
from tipwatch.triage.queries import (
    attribution_of,
    group_detail,
    legal_status,
    links_of,
    priority_of,
    queue,
)
from tipwatch.triage.routing import route_country
from tipwatch.triage.run import triage_store

from .mmdb import (
    DOC_NETWORKS,
    NON_COUNTRY_DATABASES,
    maxmind_record,
    write_broken_mmdb,
    write_mmdb,
)

CP = "Child Pornography (possession, manufacture, and distribution)"
ENTICE = "Online Enticement of Children for Sexual Acts"


def referral(report_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "report_id": report_id,
        "incident_type": CP,
        "incident_time": "2020-03-20T10:00:00Z",
    }
    base.update(fields)
    return base


def account(ident: str, *ips: str, **fields: Any) -> dict[str, Any]:
    return {
        "esp_identifier": ident,
        "esp_service": "Example Photo Service",
        "ip_events": [{"ip_address": ip, "event_name": "Upload"} for ip in ips],
        **fields,
    }


REFERRALS = [
    # NL by file upload IP; escalated; new material (matched later as new), live streaming
    referral(
        "r-nl-1",
        escalation_reason="imminent meeting",
        reported=[account("u-1")],
        files=[
            {
                "file_id": "a",
                "hashes": {"md5": "1" * 32},
                "viewed_by_service": "yes",
                "annotations": ["liveStreaming"],
                "upload_ip": {"ip_address": "192.0.2.10", "event_name": "Upload"},
            },
            {"file_id": "b", "hashes": {"md5": "2" * 32}, "publicly_available": "no"},
        ],
    ),
    # NL again, same account as r-nl-1 later: linked and a repeat account
    referral(
        "r-nl-2",
        incident_time="2020-03-22T10:00:00Z",
        reported=[account("u-1", "192.0.2.20")],
        files=[{"file_id": "c", "hashes": {"md5": "3" * 32}}],
    ),
    # DE by verified estimated location; enticement with a young victim
    referral(
        "r-de-1",
        incident_type=ENTICE,
        reported=[account("u-2", estimated_location={"country_code": "DE", "verified": True})],
        victims=[{"person": {"age": 11}}],
    ),
    # Nothing to act on: informational, country unknown
    referral("r-none", internet_details=[{"kind": "online_gaming", "game_name": "Quest"}]),
    # FR, shares file md5 3 with r-nl-2 -> linked with the NL pair
    referral(
        "r-fr-1",
        reported=[account("u-3", "198.51.100.7")],
        files=[{"file_id": "d", "hashes": {"md5": "3" * 32}}],
    ),
]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def filled(store: Store, tmp_path: Path) -> Store:
    summary = ingest_paths(store, [write_jsonl(tmp_path / "in.jsonl", REFERRALS)])
    assert summary.ingested == len(REFERRALS) and summary.quarantined == 0
    return store


def test_triage_attributes_links_and_scores(filled: Store, tmp_path: Path) -> None:
    geo = write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS)
    summary = triage_store(filled, geoip=geo)
    assert summary.referrals == 5 and summary.attributed == 5
    assert summary.countries == {"NL": 2, "DE": 1, "FR": 1, "unknown": 1}
    assert attribution_of(filled, "r-nl-1")["decided_by"] == "file_upload_ip"  # type: ignore[index]
    assert attribution_of(filled, "r-de-1")["decided_by"] == "estimated_verified"  # type: ignore[index]
    none = attribution_of(filled, "r-none")
    assert none is not None and none["country"] == "unknown" and none["warnings"]
    # one linked group: r-nl-1 ~ r-nl-2 (account), r-nl-2 ~ r-fr-1 (file)
    assert summary.groups == 1 and summary.linked_referrals == 3
    groups = links_of(filled, "r-nl-2")
    assert len(groups) == 1
    shares = {m["report_id"]: m["shares"] for m in groups[0]["members"]}
    assert any(s.startswith("account:") for s in shares["r-nl-1"])
    assert shares["r-fr-1"] == ["md5:" + "3" * 32]
    # priorities with reasons
    p1 = priority_of(filled, "r-nl-1")
    assert p1 is not None and p1["tier"] == "immediate"
    assert {r["reason"] for r in p1["reasons"]} >= {"escalated", "live_streaming"}
    p2 = priority_of(filled, "r-nl-2")
    assert p2 is not None and "repeat_account" in {r["reason"] for r in p2["reasons"]}
    p3 = priority_of(filled, "r-de-1")
    assert p3 is not None
    assert {r["reason"] for r in p3["reasons"]} >= {"enticement_or_sextortion", "victim_under_age"}
    assert priority_of(filled, "r-none")["tier"] == "informational"  # type: ignore[index]


def test_same_database_again_attributes_nothing_new(filled: Store, tmp_path: Path) -> None:
    geo = write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS)
    triage_store(filled, geoip=geo)
    again = triage_store(filled, geoip=geo)
    assert again.attributed == 0 and not again.reattributed_all
    # without --geoip the last database is used again
    third = triage_store(filled)
    assert third.attributed == 0 and third.geoip is not None


def test_newer_database_reattributes_all_and_keeps_history(filled: Store, tmp_path: Path) -> None:
    old = write_mmdb(tmp_path / "old.mmdb", DOC_NETWORKS, build_epoch=1_600_000_000)
    triage_store(filled, geoip=old)
    moved = dict(DOC_NETWORKS)
    moved["192.0.2.0/25"] = maxmind_record("BE")  # the NL block moved to BE
    new = write_mmdb(tmp_path / "new.mmdb", moved, build_epoch=1_700_000_000)
    summary = triage_store(filled, geoip=new)
    assert summary.reattributed_all and summary.attributed == 5
    now = attribution_of(filled, "r-nl-1", history=True)
    assert now is not None and now["country"] == "BE"
    assert [h["country"] for h in now["history"]] == ["NL"]
    # Times carry their offset: ISO 8601 that no reader takes for local time.
    assert now["attributed_at"].isoformat().endswith("+00:00")
    assert now["history"][0]["superseded_at"].isoformat().endswith("+00:00")
    with filled.read() as conn:
        assert conn.execute(select(func.count()).select_from(attribution_history)).scalar() == 5
    # an older database is refused unless forced
    with pytest.raises(ConfigError, match="older"):
        triage_store(filled, geoip=old)
    assert attribution_of(filled, "r-nl-1")["country"] == "BE"  # type: ignore[index]
    forced = triage_store(filled, geoip=old, force=True)
    assert forced.attributed == 5
    assert attribution_of(filled, "r-nl-1")["country"] == "NL"  # type: ignore[index]


@pytest.mark.parametrize("content", [b"", b"garbage" * 50])
def test_corrupt_or_missing_geoip_changes_nothing(
    filled: Store, tmp_path: Path, content: bytes
) -> None:
    triage_store(filled, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(content)
    with pytest.raises(ConfigError):
        triage_store(filled, geoip=bad)
    with pytest.raises(ConfigError, match="does not exist"):
        triage_store(filled, geoip=tmp_path / "absent.mmdb")
    assert attribution_of(filled, "r-nl-1")["country"] == "NL"  # type: ignore[index]
    with filled.read() as conn:
        assert conn.execute(select(func.count()).select_from(attribution_history)).scalar() == 0


def test_revised_referral_is_reattributed(filled: Store, tmp_path: Path) -> None:
    geo = write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS)
    triage_store(filled, geoip=geo)
    revised = referral("r-de-1", incident_type=ENTICE, reported=[account("u-2", "198.51.100.9")])
    ingest_paths(filled, [write_jsonl(tmp_path / "rev.jsonl", [revised])])
    summary = triage_store(filled, geoip=geo)
    assert summary.attributed == 1
    now = attribution_of(filled, "r-de-1", history=True)
    assert now is not None and now["country"] == "FR"
    assert [h["country"] for h in now["history"]] == ["DE"]


def test_changed_weights_rescore(filled: Store, tmp_path: Path) -> None:
    triage_store(filled, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    before = priority_of(filled, "r-de-1")
    settings = tmp_path / "triage.toml"
    settings.write_text(
        "[priority.weights]\nenticement_or_sextortion = 100\n[priority.tiers]\nimmediate = 90\n"
    )
    triage_store(filled, config=load_config(settings))
    after = priority_of(filled, "r-de-1")
    assert before is not None and after is not None
    assert after["score"] == before["score"] + 75
    assert before["tier"] == "high" and after["tier"] == "immediate"


def test_queue_order_filters_and_legal_status(filled: Store, tmp_path: Path) -> None:
    triage_store(filled, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    entries = queue(filled)
    tiers = [e.tier for e in entries]
    assert tiers == sorted(tiers, key=["immediate", "high", "normal", "informational"].index)
    assert entries[0].report_id == "r-nl-1" and entries[-1].report_id == "r-none"
    assert [e.report_id for e in queue(filled, country="nl")] == ["r-nl-1", "r-nl-2"]
    assert [e.report_id for e in queue(filled, country="unknown")] == ["r-none"]
    assert [e.report_id for e in queue(filled, tiers=["high"])] == ["r-de-1"]
    config = load_config()
    legal = legal_status(filled, "r-nl-1", config, "NL")
    assert legal == {"a": "may be viewed", "b": "needs legal process before viewing"}


def test_route_package(filled: Store, tmp_path: Path) -> None:
    triage_store(filled, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    package = route_country(filled, "NL", tmp_path / "pkg", created_by="analyst-1")
    assert package.package_id is not None and package.referral_count == 2
    lines = [json.loads(x) for x in (tmp_path / "pkg" / "referrals.jsonl").read_text().splitlines()]
    assert [x["referral"]["report_id"] for x in lines] == ["r-nl-1", "r-nl-2"]
    first = lines[0]
    assert first["attribution"]["country"] == "NL" and first["attribution"]["evidence"]
    assert first["legal"]["b"] == "needs legal process before viewing"
    assert {r["reason"] for r in first["priority"]["reasons"]} >= {"escalated"}
    assert first["links"] and first["links"][0]["kind"] == "linked"
    rows = list(csv.DictReader((tmp_path / "pkg" / "summary.csv").open()))
    assert rows[0]["report_id"] == "r-nl-1" and "escalated" in rows[0]["reasons"]
    assert rows[0]["files_needing_legal_process"] == "1"
    html = (tmp_path / "pkg" / "detail-001.html").read_text()
    assert "r-nl-1" in html and "escalated to high priority by the sender" in html
    assert "need legal process before viewing" in html
    with filled.read() as conn:
        rec = conn.execute(select(routing_packages)).one()
        assert rec.created_by == "analyst-1" and rec.referral_count == 2
        sent = conn.execute(select(package_referrals.c.report_id)).scalars().all()
        assert sorted(sent) == ["r-nl-1", "r-nl-2"]
    # sent referrals leave the queue and are not sent again
    assert [e.report_id for e in queue(filled, country="NL")] == []
    again = route_country(filled, "NL", tmp_path / "pkg2", created_by="analyst-1")
    assert again.package_id is None and not (tmp_path / "pkg2").exists()
    with pytest.raises(ConfigError, match="not empty"):
        route_country(filled, "NL", tmp_path / "pkg", include_sent=True, created_by="a")
    with pytest.raises(InputError, match="country"):
        route_country(filled, "Netherlands", tmp_path / "pkg3", created_by="a")


def test_html_escapes_sender_text(store: Store, tmp_path: Path) -> None:
    hostile = referral(
        "<script>alert(1)</script>",
        escalation_reason="x",
        supplied_geolocation={"country_code": "NL"},
        reported=[account("<b>u</b>")],
    )
    ingest_paths(store, [write_jsonl(tmp_path / "h.jsonl", [hostile])])
    triage_store(store)
    route_country(store, "NL", tmp_path / "pkg", created_by="analyst-1")
    for page in ("summary.html", "detail-001.html"):
        html = (tmp_path / "pkg" / page).read_text()
        assert "<script>alert" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("engine", ["local-processes", "dask-localcluster"])
def test_worker_processes_give_the_same_results(
    filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    import tipwatch.triage.run as run
    from tipwatch.compute import Compute

    if engine == "dask-localcluster":
        pytest.importorskip("distributed")

    geo = write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS)
    one = triage_store(filled, geoip=geo, jobs=1)
    first = {
        r["report_id"]: (
            attribution_of(filled, r["report_id"]),
            priority_of(filled, r["report_id"]),
        )
        for r in REFERRALS
    }
    with filled.atomic() as conn:
        conn.execute(attribution_history.delete())
        from tipwatch.store.schema import attributions

        conn.execute(attributions.delete())
    monkeypatch.setattr(run, "_PARALLEL_FROM", 0)
    compute = Compute(cluster="local:2") if engine == "dask-localcluster" else None
    two = triage_store(filled, geoip=geo, jobs=2, compute=compute)
    assert two.attributed == one.attributed == 5
    assert (two.countries, two.tiers, two.groups) == (one.countries, one.tiers, one.groups)
    for report_id, (attribution, priority) in first.items():
        again = attribution_of(filled, report_id)
        assert again is not None and attribution is not None
        assert (again["country"], again["evidence"]) == (
            attribution["country"],
            attribution["evidence"],
        )
        assert priority_of(filled, report_id) == priority


@pytest.mark.parametrize("fault", ["tree", "pointer", "nesting", "build-time", "asn"])
def test_a_failing_geoip_database_is_not_registered_and_cannot_poison_later_runs(
    filled: Store, tmp_path: Path, fault: str
) -> None:
    good = write_mmdb(tmp_path / "good.mmdb", DOC_NETWORKS)
    triage_store(filled, geoip=good)
    if fault == "asn":
        bad = write_mmdb(
            tmp_path / "bad.mmdb",
            {"192.0.2.0/24": NON_COUNTRY_DATABASES["GeoLite2-ASN"]},
            database_type="GeoLite2-ASN",
            build_epoch=1_700_000_000,  # newer than the good one
        )
    else:
        bad = write_broken_mmdb(tmp_path / "bad.mmdb", fault)
    with pytest.raises(ConfigError, match=r"GeoIP database \S*bad\.mmdb "):
        triage_store(filled, geoip=bad)
    with filled.read() as conn:
        registered = conn.execute(select(geoip_databases.c.path)).scalars().all()
    assert [Path(p).name for p in registered] == ["good.mmdb"]
    # The next run without a database uses the good one, and a newer good one is accepted.
    later = triage_store(filled)
    assert later.geoip is not None and "good.mmdb" in later.geoip
    assert attribution_of(filled, "r-nl-1")["country"] == "NL"  # type: ignore[index]
    newer = write_mmdb(tmp_path / "newer.mmdb", DOC_NETWORKS, build_epoch=1_650_000_000)
    assert triage_store(filled, geoip=newer).reattributed_all


def test_a_listed_file_links_no_one_and_shows_as_circulating(filled: Store, tmp_path: Path) -> None:
    from sqlalchemy import update

    from tipwatch.store.schema import referral_files
    from tipwatch.triage.queries import circulating_material

    # The md5 r-nl-2 and r-fr-1 share (accounts u-1 and u-3) is found on a hash list.
    f = referral_files.c
    with filled.atomic() as conn:
        conn.execute(
            update(referral_files).where(f.document.contains("3" * 32)).values(match_status="known")
        )
    summary = triage_store(filled, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    assert summary.groups == 1 and summary.linked_referrals == 2  # r-nl-1 ~ r-nl-2 by account
    assert [g["kind"] for g in links_of(filled, "r-fr-1")] == ["circulating"]
    (item,) = circulating_material(filled)
    assert item["file"] == "md5:" + "3" * 32 and item["listed"]
    assert (item["referrals"], item["accounts"], item["countries"]) == (2, 2, 2)
    assert item["by_country"] == {"NL": 1, "FR": 1}
    # The circulating group's detail: what its members share is the file, and no pair of
    # them is a link.
    detail = group_detail(filled, item["group_id"])
    assert detail["kind"] == "circulating" and detail["links"] == []
    assert detail["shared"] == ["md5:" + "3" * 32]
    assert [m["report_id"] for m in detail["members"]] == ["r-fr-1", "r-nl-2"]
    assert detail["by_country"] == {"FR": 1, "NL": 1}


def test_group_detail_members_countries_and_the_evidence_of_each_link(
    filled: Store, tmp_path: Path
) -> None:
    from tipwatch.errors import NotFoundError
    from tipwatch.triage.queries import list_groups

    triage_store(filled, geoip=write_mmdb(tmp_path / "geo.mmdb", DOC_NETWORKS))
    (listed,) = list_groups(filled)
    assert listed["members"] == ["r-fr-1", "r-nl-1", "r-nl-2"]
    assert listed["by_country"] == {"NL": 2, "FR": 1}
    detail = group_detail(filled, listed["group_id"])
    assert (detail["kind"], detail["size"], detail["reasons"]) == (
        "linked",
        3,
        {"account": 1, "new file": 1},
    )
    assert detail["by_country"] == {"NL": 2, "FR": 1}
    assert [(m["report_id"], m["country"], m["routed_to"]) for m in detail["members"]] == [
        ("r-fr-1", "FR", []),
        ("r-nl-1", "NL", []),
        ("r-nl-2", "NL", []),
    ]
    assert all(m["confidence"] > 0.5 for m in detail["members"])
    # Only pairs that share something directly, strongest tie first: r-nl-1 and r-fr-1 are
    # in the group through r-nl-2 alone.
    assert [(x["a"], x["b"]) for x in detail["links"]] == [
        ("r-nl-1", "r-nl-2"),
        ("r-fr-1", "r-nl-2"),
    ]
    account, new_file = (x["ties"] for x in detail["links"])
    assert [(t["kind"], t["strength"]) for t in account] == [("account", 1.0)]
    assert account[0]["evidence"] == "account:example photo service|u-1"
    assert new_file == [{"kind": "new file", "evidence": "md5:" + "3" * 32, "strength": 0.8}]
    assert detail["shared"] == [] and detail["links_left_out"] == 0
    # The same evidence by what is shared, with the members sharing it.
    assert detail["keys"] == [
        {
            "kind": "account",
            "evidence": "account:example photo service|u-1",
            "strength": 1.0,
            "members": ["r-nl-1", "r-nl-2"],
        },
        {
            "kind": "new file",
            "evidence": "md5:" + "3" * 32,
            "strength": 0.8,
            "members": ["r-fr-1", "r-nl-2"],
        },
    ]
    # Bounded: the first members by report id, and the strongest links.
    small = group_detail(filled, listed["group_id"], max_members=2, max_links=1)
    assert [m["report_id"] for m in small["members"]] == ["r-fr-1", "r-nl-1"]
    assert small["links"] == small["keys"] == [] and small["size"] == 3  # nothing shared
    capped = group_detail(filled, listed["group_id"], max_links=1)
    assert [(x["a"], x["b"]) for x in capped["links"]] == [("r-nl-1", "r-nl-2")]
    assert capped["links_left_out"] == 1 and len(capped["keys"]) == 2  # keys of every pair
    with pytest.raises(NotFoundError, match="no link group 999"):
        group_detail(filled, 999)
