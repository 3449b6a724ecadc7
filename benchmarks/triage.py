"""Benchmark: attribution, linking and scoring of stored synthetic referrals (issue 4).

Prints one JSON line: the time of ``tipwatch.triage.run.triage_store`` over the whole store,
beside the baseline measured in the same run, a bare scan of the same rows (every referral and
file row with its JSON document, read and dropped).

    python benchmarks/triage.py --count 100000
    python benchmarks/triage.py --count 1000000          # the issue's figure (store kept)

The store is built through the real intake from a synthetic envelope file (two files per
referral, ``--pdq-fraction`` of the files with a PDQ hash; accounts drawn from 50,000, so
accounts repeat and link referrals) and kept in ``benchmarks/out/`` for later runs. The GeoIP
database is generated over the documentation ranges.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

OUT = Path(__file__).resolve().parent / "out"


def build_store(count: int, pdq_fraction: float) -> tuple[Path, float]:
    from tipwatch.demo.synthetic import write_envelope
    from tipwatch.intake import ingest_paths
    from tipwatch.store import Store

    OUT.mkdir(exist_ok=True)
    db = OUT / f"triage-{count}-{pdq_fraction}.db"
    if db.exists():
        return db, 0.0
    tmp_db = db.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp_db) + suffix).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "referrals.xml"
        with xml.open("wb") as fh:
            write_envelope(fh, count, seed=11, pdq_fraction=pdq_fraction)
        store = Store.open(str(tmp_db))
        start = time.perf_counter()
        summary = ingest_paths(store, [xml])
        elapsed = time.perf_counter() - start
        store.close()
    assert summary.ingested == count, summary.as_dict()
    os.replace(tmp_db, db)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp_db) + suffix).unlink(missing_ok=True)
    return db, elapsed


def geoip(path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    countries = ["NL", "DE", "FR", "BE", "PL", "ES", "IT", "GB", "SE", "US", "AT", "DK"]
    n = 0
    for prefix in ("192.0.2", "198.51.100", "203.0.113"):
        for block in range(0, 256, 32):
            code = countries[n % len(countries)]
            writer.insert_network(IPSet([f"{prefix}.{block}/27"]), {"country": {"iso_code": code}})
            n += 1
    writer.to_db_file(str(path))
    return path


def bare_scan(db: Path) -> tuple[int, float]:
    """The baseline: read every referral and file row with its document, in key order."""
    from tipwatch.store import Store
    from tipwatch.store.schema import referral_files, referrals

    store = Store.open(str(db))
    r, f = referrals.c, referral_files.c
    start = time.perf_counter()
    n = 0
    with store.read() as conn:
        for _row in conn.execute(
            select(r.report_id, r.incident_time, r.revision, r.document).order_by(r.report_id)
        ):
            n += 1
        for _row in conn.execute(
            select(f.report_id, f.document, f.match_status).order_by(f.report_id, f.position)
        ):
            pass
    elapsed = time.perf_counter() - start
    store.close()
    return n, elapsed


def run_triage(db: Path, geo: Path, jobs: int = 0) -> tuple[dict[str, object], float]:
    from sqlalchemy import delete

    from tipwatch.store import Store
    from tipwatch.store.schema import attribution_history, attributions, geoip_databases
    from tipwatch.triage.run import triage_store

    store = Store.open(str(db))
    with store.atomic() as conn:  # a first pass every time: nothing attributed yet
        for table in (attributions, attribution_history, geoip_databases):
            conn.execute(delete(table))
    start = time.perf_counter()
    summary = triage_store(store, geoip=geo, jobs=jobs)
    elapsed = time.perf_counter() - start
    store.close()
    return summary.as_dict(), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--pdq-fraction", type=float, default=0.2)
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0: one per CPU)")
    args = parser.parse_args()
    db, ingest_s = build_store(args.count, args.pdq_fraction)
    with tempfile.TemporaryDirectory() as tmp:
        geo = geoip(Path(tmp) / "geo.mmdb")
        rows, scan_s = bare_scan(db)
        summary, triage_s = run_triage(db, geo, args.jobs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "benchmark": "triage",
                "referrals": rows,
                "files_per_referral": 2,
                "pdq_fraction": args.pdq_fraction,
                "jobs": args.jobs or os.cpu_count(),
                "baseline_bare_scan_s": round(scan_s, 2),
                "tipwatch_triage_s": round(triage_s, 2),
                "triage_vs_scan": round(triage_s / scan_s, 1),
                "referrals_per_s": round(rows / triage_s),
                "stage_seconds": summary["stage_seconds"],
                "groups": summary["groups"],
                "linked_referrals": summary["linked_referrals"],
                "viral_groups": summary["viral_groups"],
                "tiers": summary["tiers"],
                "peak_rss_mb": round(peak_mb),
                "store_built_in_s": round(ingest_s, 1) if ingest_s else "earlier run",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "date": datetime.now(UTC).date().isoformat(),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
