"""Benchmark: the cost of the quarantine as the number of bad records grows.

Ingests files made only of bad records (junk JSON Lines, and XML of ``<x/>`` elements) into a
fresh SQLite store (and PostgreSQL when $TIPWATCH_TEST_POSTGRES or --postgres names a server),
then prints one JSON line per size: seconds, seconds per 1,000 bad records, and the peak
memory of the process. The baseline is the smallest size: seconds per 1,000 should stay flat
beside it as the file grows (linear time), and the peak memory should not grow with it.

    python benchmarks/quarantine.py                           # 2,500 / 40,000 lines
    python benchmarks/quarantine.py --sizes 2500 40000 1000000
    python benchmarks/quarantine.py --kind xml --sizes 2500 40000
    python benchmarks/quarantine.py --max-bad-share 1.0       # quarantine all, refuse none
    python benchmarks/quarantine.py --once ...                # skip the second run over a file

The second run over a file (``seconds_again``) looks up the earlier entries once per batch, a
range of records at a time on the quarantine's (source_file, record_index) index: linear too.

With the default share limit a file of nothing but bad records is refused after its first
records; ``--max-bad-share 1.0`` makes every record go to the quarantine instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def make_file(folder: Path, kind: str, count: int) -> Path:
    path = folder / f"junk_{count}.{'jsonl' if kind == 'jsonl' else 'xml'}"
    with path.open("wb") as fh:
        if kind == "jsonl":
            line = b"this line is not JSON at all, number %d\n"
            for start in range(0, count, 10_000):
                fh.write(b"".join(line % i for i in range(start, min(count, start + 10_000))))
        else:
            fh.write(b"<referrals>\n")
            for start in range(0, count, 10_000):
                fh.write(b"<x/>\n" * (min(count, start + 10_000) - start))
            fh.write(b"</referrals>\n")
    return path


def ingest_once(
    path: Path, db: str, max_bad_share: float | None, again: bool = True
) -> dict[str, object]:
    """Ingest in this process (run as a child, so that its peak memory is its own)."""
    from tipwatch.intake import ingest_paths
    from tipwatch.store import Store

    store = Store.open(db)
    try:
        kwargs: dict[str, object] = {}
        if max_bad_share is not None:
            kwargs["max_bad_record_share"] = max_bad_share
        start = time.perf_counter()
        summary = ingest_paths(store, [path], **kwargs)  # type: ignore[arg-type]
        first = time.perf_counter() - start
        seconds_again = None
        if again:
            start = time.perf_counter()
            ingest_paths(store, [path], **kwargs)  # type: ignore[arg-type]
            seconds_again = round(time.perf_counter() - start, 2)
    finally:
        store.close()
    return {
        "seconds": round(first, 2),
        "seconds_again": seconds_again,
        "quarantined": summary.quarantined,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def postgres_db(base: str) -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"tipwatch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def measure(path: Path, db: str, max_bad_share: float | None, again: bool) -> dict[str, object]:
    args = [sys.executable, __file__, "--child", str(path), db]
    if not again:
        args.append("--once")
    if max_bad_share is not None:
        args += ["--max-bad-share", str(max_bad_share)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_500, 40_000])
    parser.add_argument("--kind", choices=["jsonl", "xml"], default="jsonl")
    parser.add_argument("--max-bad-share", type=float, default=None)
    parser.add_argument("--postgres", default=os.environ.get("TIPWATCH_TEST_POSTGRES"))
    parser.add_argument(
        "--once", action="store_true", help="ingest each file once (skip the run over it again)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_path, db = Path(args.child[0]), args.child[1]
        print(json.dumps(ingest_once(child_path, db, args.max_bad_share, not args.once)))
        return
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for backend in backends:
            baseline: float | None = None
            for count in sorted(args.sizes):
                path = make_file(folder, args.kind, count)
                drop = None
                if backend == "sqlite":
                    db = str(folder / f"bench_{count}.db")
                else:
                    db, drop = postgres_db(args.postgres)
                try:
                    result = measure(path, db, args.max_bad_share, not args.once)
                finally:
                    if drop is not None:
                        drop()  # type: ignore[operator]
                per_1000 = float(result["seconds"]) / count * 1000  # type: ignore[arg-type]
                baseline = per_1000 if baseline is None else baseline
                print(
                    json.dumps(
                        {
                            "benchmark": "quarantine",
                            "kind": args.kind,
                            "backend": backend,
                            "bad_records": count,
                            "file_mb": round(path.stat().st_size / 1e6, 1),
                            **result,
                            "seconds_per_1000": round(per_1000, 3),
                            "baseline_seconds_per_1000": round(baseline, 3),
                        }
                    ),
                    flush=True,
                )
                path.unlink()


if __name__ == "__main__":
    main()
