"""Benchmark: the URL list. Checks against a loaded list beside ``urllib.parse.urlsplit`` of
the same URLs; the memory of the loaded list; log ingestion beside a bare ``line.split()``
of the same file. One process, one core; every figure beside its baseline, measured in the
same run. Times are the process's CPU time (``time.process_time``), the least of
``--repeat`` runs (3), so that other work on a shared machine counts as little as it can.
Prints one JSON line per measurement.

    python benchmarks/urls.py                              # 1,000,000 entries, 1,000,000 lines
    python benchmarks/urls.py --entries 100000 --lines 200000 --checks 50000   # quicker
    python benchmarks/urls.py --store-entries 100000       # also import into SQLite and load

Entries and URLs are generated (hosts under ``.invalid``): 60% page, 10% page+query, 10%
folder, 15% host and 5% host+subdomains entries over 200,000 hosts. Half the URLs checked
match an entry. In the log, 2% of the lines touch a listed host; the rest miss the list.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tipwatch.urls import Scope, UrlIndex, entry_key
from tipwatch.urls._accounting import BlockedAccounting


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _host(n: int) -> str:
    return f"h{n}.site{n % 997}.invalid"


def _entries(count: int, hosts: int, seed: int) -> Iterator[tuple[str, Scope]]:
    rnd = random.Random(seed)
    for i in range(count):
        host = _host(rnd.randrange(hosts))
        r = rnd.random()
        if r < 0.60:
            yield f"http://{host}/gallery/{i}/page{i}.html", Scope.PAGE
        elif r < 0.70:
            yield f"http://{host}/view.php?id={i}", Scope.PAGE_QUERY
        elif r < 0.80:
            yield f"http://{host}/dir{i}/", Scope.FOLDER
        elif r < 0.95:
            yield f"h{i}.host{i % 991}.invalid", Scope.HOST
        else:
            yield f"d{i}.zone{i % 983}.invalid", Scope.SUBDOMAINS


def build_index(count: int, seed: int) -> tuple[UrlIndex, float, int]:
    gc.collect()
    before = _rss()
    start = time.process_time()
    index = UrlIndex()
    for url, scope in _entries(count, 200_000, seed):
        index.add(entry_key(url, scope), "bench", "A1")
    seconds = time.process_time() - start
    gc.collect()
    return index, seconds, _rss() - before


def check_urls(count: int, entries: int, seed: int) -> list[str]:
    """Half of them match an entry (pages with other spellings, pages under listed hosts)."""
    rnd = random.Random(seed + 1)
    listed = [u for u, _ in _entries(min(entries, 200_000), 200_000, seed)]
    out = []
    for i in range(count):
        if i % 2 == 0:
            url = rnd.choice(listed)
            if "://" not in url:
                url = f"https://{url}/some/page.html?ref={i}"
            elif i % 4 == 0:
                url = url.replace("http://", "HTTP://").replace("/gallery/", "/./gallery/")
        else:
            url = f"http://{_host(rnd.randrange(400_000) + 200_000)}/other/{i}.html?q={i}"
        out.append(url)
    return out


def _best(run: object, repeat: int) -> float:
    """The least CPU time of ``repeat`` runs (other work on the machine only adds time)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()  # type: ignore[operator]
        times.append(time.process_time() - start)
    return min(times)


def bench_checks(index: UrlIndex, urls: list[str], repeat: int) -> dict[str, float]:
    def baseline() -> None:
        for url in urls:
            urlsplit(url)

    hits = 0

    def ours_run() -> None:
        nonlocal hits
        hits = 0
        for url in urls:
            hits += bool(index.check(url))

    base = _best(baseline, repeat)
    ours = _best(ours_run, repeat)
    return {
        "checks": len(urls),
        "listed": hits,
        "checks_per_s": round(len(urls) / ours),
        "urlsplit_per_s": round(len(urls) / base),
        "ratio_to_urlsplit": round(ours / base, 2),
    }


def write_log(path: Path, lines: int, seed: int, entries: int) -> None:
    rnd = random.Random(seed + 2)
    listed_hosts = [
        u for u, scope in _entries(min(entries, 200_000), 200_000, seed) if scope is Scope.HOST
    ]
    t = 1_585_562_400.0
    with path.open("w") as f:
        for i in range(lines):
            t += rnd.random() * 0.02
            client = f"198.51.100.{rnd.randrange(1, 255)}"
            if rnd.random() < 0.02:
                host = rnd.choice(listed_hosts)
                f.write(
                    f"{t:.3f}     12 {client} TCP_DENIED/403 3900 GET http://{host}/p{i}.html "
                    "- HIER_NONE/- text/html\n"
                )
            else:
                host = f"www.news{rnd.randrange(50_000)}.invalid"
                f.write(
                    f"{t:.3f}    120 {client} TCP_MISS/200 18230 GET http://{host}/a/{i}.html "
                    f"- HIER_DIRECT/{host} text/html\n"
                )


def bench_log(index: UrlIndex, path: Path, lines: int, repeat: int) -> dict[str, float]:
    def baseline() -> None:
        with path.open() as f:
            for line in f:
                line.split()

    counters: list[BlockedAccounting] = []

    def ours_run() -> None:
        counter = BlockedAccounting(
            index, "bench", "1", len(index), b"benchmark key", provider="isp", country="NL"
        )
        counter.read_file(path, "squid")
        counters.append(counter)

    base = _best(baseline, repeat)
    ours = _best(ours_run, repeat)
    counter = counters[-1]
    assert counter.errors == 0, counter.problems[:3]
    return {
        "lines": lines,
        "matched": counter.matched,
        "lines_per_s": round(lines / ours),
        "split_lines_per_s": round(lines / base),
        "ratio_to_split": round(ours / base, 2),
    }


def bench_store(entries: int, seed: int, folder: Path) -> dict[str, float]:
    from tipwatch import services
    from tipwatch.services import Actor, Role
    from tipwatch.store import Store
    from tipwatch.urls._versions import load_index

    listing = folder / "list.txt"
    with listing.open("w") as f:
        for url, scope in _entries(entries, 200_000, seed):
            f.write(f"{url} {scope.value}\n")
    store = Store.open(str(folder / "bench.db"))
    actor = Actor("bench", Role.ADMIN)
    start = time.process_time()
    services.urls.import_list(store, actor, listing, list_name="bench", version="1")
    imported = time.process_time() - start
    start = time.process_time()
    with store.read() as conn:
        index = load_index(conn, ["bench"])
    loaded = time.process_time() - start
    store.close()
    return {
        "store_entries": len(index),
        "import_s": round(imported, 1),
        "import_entries_per_s": round(entries / imported),
        "load_index_s": round(loaded, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=200_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--store-entries", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="Best of this many runs.")
    args = parser.parse_args()
    about = {"python": platform.python_version(), "machine": platform.machine()}
    index, seconds, memory = build_index(args.entries, args.seed)
    print(
        json.dumps(
            {
                "measure": "load",
                "entries": len(index),
                "build_s": round(seconds, 1),
                "memory_mb": round(memory / 1e6, 1),
                **about,
            }
        ),
        flush=True,
    )
    urls = check_urls(args.checks, args.entries, args.seed)
    print(json.dumps({"measure": "check", **bench_checks(index, urls, args.repeat)}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        write_log(log, args.lines, args.seed, args.entries)
        print(
            json.dumps({"measure": "ingest-log", **bench_log(index, log, args.lines, args.repeat)}),
            flush=True,
        )
        if args.store_entries:
            del index
            gc.collect()
            figures = bench_store(args.store_entries, args.seed, Path(tmp))
            print(json.dumps({"measure": "store", **figures}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
