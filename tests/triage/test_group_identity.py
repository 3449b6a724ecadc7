"""Link groups keep their ids across triage runs; merges and splits are recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tipwatch.intake import ingest_paths
from tipwatch.store import Store
from tipwatch.store.schema import link_group_events
from tipwatch.triage.queries import links_of
from tipwatch.triage.run import triage_store

CP = "Child Pornography (possession, manufacture, and distribution)"


def referral(report_id: str, *accounts: str, md5: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "report_id": report_id,
        "incident_type": CP,
        "incident_time": "2020-03-20T10:00:00Z",
        "reported": [
            {"esp_identifier": a, "esp_service": "Example Photo Service"} for a in accounts
        ],
    }
    if md5:
        out["files"] = [{"file_id": "f", "hashes": {"md5": md5}}]
    return out


def ingest(store: Store, path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert ingest_paths(store, [path]).ingested == len(records)


def group_of(store: Store, report_id: str) -> int:
    groups = [g for g in links_of(store, report_id) if g["kind"] == "linked"]
    assert len(groups) == 1, groups
    return int(groups[0]["group_id"])


def events(store: Store) -> list[tuple[int, str, list[int]]]:
    e = link_group_events.c
    with store.read() as conn:
        rows = conn.execute(select(e.group_id, e.event, e.from_ids).order_by(e.id)).all()
    return [(r.group_id, r.event, json.loads(r.from_ids)) for r in rows]


NEW_FILE = "9" * 32


def test_group_ids_survive_reruns_with_additions(store: Store, tmp_path: Path) -> None:
    ingest(
        store,
        tmp_path / "first.jsonl",
        [
            referral("a-1", "acct-a"),
            referral("a-2", "acct-a"),
            referral("b-1", "acct-b"),
            referral("b-2", "acct-b"),
            referral("c-1", "acct-c"),
            referral("c-2", "acct-c"),
            # e-group: two accounts tied by one new file
            referral("e-1", "acct-e1", md5=NEW_FILE),
            referral("e-2", "acct-e1"),
            referral("e-3", "acct-e2", md5=NEW_FILE),
            referral("e-4", "acct-e2"),
        ],
    )
    triage_store(store)
    first = {r: group_of(store, r) for r in ("a-1", "b-1", "c-1", "e-1")}
    assert len(set(first.values())) == 4
    assert group_of(store, "e-3") == first["e-1"]

    # Run 1 again with nothing new: every id stays, nothing more is recorded.
    before = events(store)
    triage_store(store)
    assert {r: group_of(store, r) for r in first} == first
    assert events(store) == before

    ingest(
        store,
        tmp_path / "second.jsonl",
        [
            referral("a-3", "acct-a"),  # joins group a
            referral("bc-1", "acct-b", "acct-c"),  # merges groups b and c
            referral("d-1", "acct-d"),  # a new group
            referral("d-2", "acct-d"),
            # Two more accounts send the e-file: it circulates now and links no one, so the
            # e-group splits in two.
            referral("x-1", "acct-x", md5=NEW_FILE),
            referral("y-1", "acct-y", md5=NEW_FILE),
        ],
    )
    triage_store(store)
    assert group_of(store, "a-3") == group_of(store, "a-1") == first["a-1"]
    merged = group_of(store, "bc-1")
    assert merged == group_of(store, "b-1") == group_of(store, "c-1") == first["b-1"]
    new = group_of(store, "d-1")
    assert new not in first.values(), "an id is never handed out twice"
    kept, split_off = group_of(store, "e-1"), group_of(store, "e-3")
    assert first["e-1"] in (kept, split_off) and kept != split_off
    other = split_off if kept == first["e-1"] else kept
    assert other not in first.values() and other != new
    later = events(store)[len(before) :]
    assert (first["b-1"], "merged", [first["b-1"], first["c-1"]]) in later
    assert (other, "split", [first["e-1"]]) in later
    assert (new, "created", []) in later
