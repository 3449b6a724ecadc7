"""Benchmark: bulk inserts on PostgreSQL, ``COPY`` against ``executemany``, in the same run.

``tipwatch.store.bulk.bulk_insert`` writes rows on PostgreSQL with ``COPY ... FROM STDIN``;
the baseline is the ``executemany`` it used before (``copy=False``). Rows shaped like the
quarantine's (text, integers, a time), written in batches of 64 (one compute batch) and of
2,000, each in its own transaction, in a fresh database that is dropped afterwards; best of 3.

    python benchmarks/bulk_copy.py [--url postgresql://postgres@127.0.0.1:5432/test] [--rows 50000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import uuid
from datetime import UTC, datetime
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()

    from sqlalchemy import create_engine, delete, text
    from sqlalchemy.engine import make_url

    from tipwatch.store import Store
    from tipwatch.store.bulk import bulk_insert
    from tipwatch.store.schema import quarantine

    base = make_url(args.url)
    name = f"tipwatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    out: dict[str, Any] = {"benchmark": "bulk_copy", "rows": args.rows}
    try:
        store = Store.open(base.set(database=name).render_as_string(hide_password=False))
        now = datetime(2026, 1, 1)
        rows = [
            {
                "source_file": "/data/referrals-2020-03.jsonl",
                "location": f"line {i}",
                "record_index": i,
                "record_key": f"r-{i}",
                "format": "jsonl",
                "reason": "incident_time: not a date",
                "raw": f'{{"report_id": "r-{i}"}}',
                "raw_hash": f"{i:064x}",
                "status": "open",
                "times_seen": 1,
                "created_at": now,
                "resolved_at": None,
                "note": None,
            }
            for i in range(args.rows)
        ]
        for batch in (64, 2000):
            for copy in (False, True):
                best = None
                for _ in range(3):
                    with store.atomic() as conn:
                        conn.execute(delete(quarantine))
                    start = time.perf_counter()
                    for s in range(0, len(rows), batch):
                        with store.atomic() as conn:
                            bulk_insert(conn, quarantine, rows[s : s + batch], copy=copy)
                    elapsed = time.perf_counter() - start
                    best = elapsed if best is None else min(best, elapsed)
                assert best is not None
                key = f"batch_{batch}_{'copy' if copy else 'executemany'}_rows_per_s"
                out[key] = round(args.rows / best)
            out[f"batch_{batch}_copy_speedup"] = round(
                out[f"batch_{batch}_copy_rows_per_s"]
                / out[f"batch_{batch}_executemany_rows_per_s"],
                2,
            )
        store.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    out["python"] = platform.python_version()
    out["date"] = datetime.now(UTC).date().isoformat()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
