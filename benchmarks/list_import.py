"""Benchmark: hash-list import with versions into an SQLite store.

Three versions of one list: the first of ``--entries`` MD5 hashes, the second dropping the first
tenth and adding as many new ones, the third bringing the dropped tenth back (so each version
adds, retires or reactivates). Prints one JSON line: the best CPU seconds of each version over
``--repeat`` runs (CPU time of this process, which runs SQLite too: steadier than wall time on a
busy machine).

    python benchmarks/list_import.py                     # 200,000 entries, best of 3
    python benchmarks/list_import.py --entries 1000000 --repeat 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tipwatch.formats.hashlists import HashRecord
from tipwatch.matching.lists import import_list
from tipwatch.store import Store


def records(first: int, last: int) -> Iterator[HashRecord]:
    """Hashes ``first`` to ``last`` (exclusive) of the benchmark's numbering."""
    for i in range(first, last):
        yield HashRecord("md5", hashlib.md5(str(i).encode()).hexdigest(), category="1")


def run(entries: int, repeat: int) -> dict[str, float]:
    tenth = entries // 10
    versions = {
        "v1": (0, entries),
        "v2": (tenth, entries + tenth),
        "v3": (0, entries + tenth),
    }
    best: dict[str, float] = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            store = Store.open(str(Path(folder) / "lists.db"))
            try:
                for label, (first, last) in versions.items():
                    started = time.process_time()
                    import_list(
                        store,
                        "benchmark",
                        records(first, last),
                        version=label,
                        fmt="plain",
                        scheme="projectvic_us",
                    )
                    spent = time.process_time() - started
                    best[label] = min(best.get(label, spent), spent)
            finally:
                store.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000, help="entries of the first version")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best of each is kept")
    args = parser.parse_args()
    if args.entries < 10 or args.repeat < 1:
        parser.error("--entries must be at least 10 and --repeat at least 1")
    best = run(args.entries, args.repeat)
    print(
        json.dumps(
            {
                "benchmark": "list_import",
                "entries": args.entries,
                "cpu_seconds": {k: round(v, 3) for k, v in best.items()},
                "total": round(sum(best.values()), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
