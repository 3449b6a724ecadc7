"""Matching stored referrals through the compute seam: the PDQ search on local processes or
on a Dask LocalCluster (`match --referrals --cluster local:2`) stores the same matches and
statuses as one process, and the flood quarantine still holds an entry mid-run."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tipwatch.cli import app
from tipwatch.compute import Compute
from tipwatch.formats.hashlists import read_hash_csv
from tipwatch.intake import ingest_paths
from tipwatch.matching.flood import FloodRule
from tipwatch.matching.lists import import_list
from tipwatch.matching.matcher import (
    file_matches_of,
    file_statuses_of,
    match_referrals,
)
from tipwatch.store import Store

REPORTS = 40


def _pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _flip(value: str, bits: int, rng: random.Random) -> str:
    n = int(value, 16)
    for bit in rng.sample(range(256), bits):
        n ^= 1 << bit
    return f"{n:064x}"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(str(tmp_path / "tipwatch.db"))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def referrals(sqlite_store: Store, tmp_path: Path) -> list[str]:
    """40 referrals of 2 files each (an MD5 and a PDQ each, PDQs repeated across referrals);
    a block list holds some MD5s and near copies of some PDQs, an allow-list one PDQ."""
    rng = random.Random(20)
    pdqs = [_pdq(rng) for _ in range(25)]
    lines = []
    for i in range(REPORTS):
        files = [
            {"file_id": f"f{j}", "hashes": {"md5": f"{i * 2 + j:032x}", "pdq": pdqs[(i + j) % 25]}}
            for j in range(2)
        ]
        lines.append(
            json.dumps(
                {
                    "report_id": f"r{i:03d}",
                    "source": "ESP-direct",
                    "received_at": "2020-03-28T10:00:00Z",
                    "incident_time": "2020-03-28T09:00:00Z",
                    "incident_type": "Child Pornography (possession, manufacture, and "
                    "distribution)",
                    "files": files,
                }
            )
        )
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    ingest_paths(sqlite_store, [tmp_path / "r.jsonl"])
    block = ["hash_type,hash,category"]
    block += [f"md5,{n:032x},1" for n in range(0, 2 * REPORTS, 7)]
    block += [f"pdq,{_flip(p, 3 + k % 20, rng)},2" for k, p in enumerate(pdqs[:12])]
    (tmp_path / "block.csv").write_text("\n".join(block) + "\n")
    import_list(
        sqlite_store, "block", read_hash_csv(tmp_path / "block.csv"), version="1", fmt="csv",
        scheme="projectvic_us",
    )  # fmt: skip
    (tmp_path / "allow.csv").write_text(f"hash_type,hash\npdq,{pdqs[3]}\n")
    import_list(
        sqlite_store, "allow", read_hash_csv(tmp_path / "allow.csv"), version="1", fmt="csv",
        scheme="none", purpose="allow",
    )  # fmt: skip
    return [f"r{i:03d}" for i in range(REPORTS)]


def _stored(store: Store, report_ids: list[str]) -> tuple[Any, Any]:
    return file_matches_of(store, report_ids), file_statuses_of(store, report_ids)


def _wipe(store: Store) -> None:
    from sqlalchemy import delete, update

    from tipwatch.store.schema import file_matches, referral_files

    with store.atomic() as conn:
        conn.execute(delete(file_matches))
        conn.execute(update(referral_files).values(match_status=None, matched_at=None))


def test_local_processes_and_a_local_cluster_store_what_one_process_stores(
    sqlite_store: Store, referrals: list[str]
) -> None:
    seen: list[tuple[str, int, int]] = []
    one = match_referrals(
        sqlite_store, batch_size=16, compute=Compute(workers=1), progress=lambda *a: seen.append(a)
    )
    assert seen == [("matching", 0, 80)] + [("matching", n, 80) for n in (16, 32, 48, 64, 80)]
    expected = _stored(sqlite_store, referrals)
    matches, statuses = expected
    kinds = {(m["algorithm"], m["kind"]) for ms in matches.values() for m in ms}
    assert kinds == {("md5", "exact"), ("pdq", "near")}
    assert one.cleared > 0 and one.known > 0 and one.new > 0
    assert sum(len(s) for s in statuses.values()) == 80

    _wipe(sqlite_store)
    assert _stored(sqlite_store, referrals) == ({}, {})
    local = match_referrals(sqlite_store, batch_size=16, compute=Compute(workers=2))
    assert local == one
    assert _stored(sqlite_store, referrals) == expected

    pytest.importorskip("distributed")
    _wipe(sqlite_store)
    result = CliRunner().invoke(
        app,
        ["match", "--referrals", "--db", sqlite_store.url, "--cluster", "local:2"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert f"80 file(s): {one.known} known, {one.new} new" in result.output
    assert _stored(sqlite_store, referrals) == expected


def test_an_entry_held_mid_run_matches_nothing_after_on_the_workers(
    sqlite_store: Store, tmp_path: Path
) -> None:
    rng = random.Random(7)
    logo = _pdq(rng)
    lines = [
        json.dumps(
            {
                "report_id": f"flood-{i:03d}",
                "source": "ESP-direct",
                "received_at": "2020-03-28T10:00:00Z",
                "incident_time": "2020-03-28T09:00:00Z",
                "incident_type": "Child Pornography (possession, manufacture, and distribution)",
                "files": [{"file_id": "f1", "hashes": {"pdq": _flip(logo, i % 5, rng)}}],
            }
        )
        for i in range(60)
    ]
    (tmp_path / "flood.jsonl").write_text("\n".join(lines) + "\n")
    ingest_paths(sqlite_store, [tmp_path / "flood.jsonl"])
    (tmp_path / "l.csv").write_text(f"hash_type,hash\npdq,{logo}\n")
    import_list(
        sqlite_store, "l", read_hash_csv(tmp_path / "l.csv"), version="1", fmt="csv",
        scheme="none",
    )  # fmt: skip
    rule = FloodRule(factor=10, min_matches=20, history_days=28)
    summary = match_referrals(
        sqlite_store, batch_size=20, flood=rule, today=date(2020, 3, 29), compute=Compute(workers=2)
    )
    (held,) = summary.held
    assert held["value"] == logo and held["matches"] == 20
    # Held after the first batch of 20: the two batches after match it no more, though the
    # workers' snapshot still holds it.
    assert (summary.known, summary.new) == (20, 40)
