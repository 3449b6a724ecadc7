"""Benchmark: syncing a hash list of ``--entries`` entries from a fake NCMEC hash sharing server.

A server process on 127.0.0.1 speaks NCMEC's v2 API and makes its entries up as it answers
(nothing held in memory): ``--entries`` image entries, each with an MD5 and a SHA-1, in pages
of 1,000, out of time order within each page, plus one deletion every 100 entries of an entry
never seen. A second process runs ``tipwatch``'s sync of them into a fresh SQLite store
(streamed parse, one transaction a page with its checkpoint) and reports its time and its peak
resident memory (``ru_maxrss``). Baseline in the same run, in a third process: the existing file
import (``import_list``) of the same entries' hashes from a hash-list CSV. Wall and CPU seconds
are printed (CPU time of the sync process, which runs SQLite too, is steadier on a busy
machine; the server's time is not in it).

    python benchmarks/exchange_sync.py                    # 1,000,000 entries
    python benchmarks/exchange_sync.py --entries 50000    # quicker
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import platform
import resource
import subprocess
import sys
import tempfile
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE = 1000
USER, PASSWORD = "bench", "bench-password"
NS = "https://hashsharing.ncmec.org/hashsharing/v2"


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def md5_of(n: int) -> str:
    return hashlib.md5(str(n).encode()).hexdigest()


def sha1_of(n: int) -> str:
    return hashlib.sha1(str(n).encode()).hexdigest()


def serve(entries: int, port_queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """The fake server: entry ``n`` (1-based) has timestamp ``n``; positions in the window
    are those numbers, each page's read backwards (out of time order)."""
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != auth:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            low, high = max(1, _epoch(query["from"])), min(entries, _epoch(query["to"]))
            start = int(query.get("start", "1"))
            first = low + start - 1
            last = min(high, first + PAGE - 1)
            parts = [f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}">']
            if first <= last:
                parts.append(f'<images count="{last - first + 1}" maxTimestamp="{_iso(last)}">')
                for n in range(last, first - 1, -1):
                    if n % 100 == 0:
                        parts.append(
                            f'<deletedImage><member id="7">M</member><id>gone{n}</id>'
                            f"<timestamp>{_iso(n)}</timestamp></deletedImage>"
                        )
                        continue
                    parts.append(
                        f'<image><member id="42">Member</member><timestamp>{_iso(n)}</timestamp>'
                        f"<id>img{n}</id><classification>A1</classification><fingerprints>"
                        f"<md5>{md5_of(n)}</md5><sha1>{sha1_of(n)}</sha1></fingerprints></image>"
                    )
                parts.append("</images>")
            if last < high:
                nxt = urllib.parse.urlencode(
                    {"from": query["from"], "to": query["to"], "start": start + PAGE, "size": PAGE}
                )
                parts.append(
                    f"<paging><next>/v2/entries?{nxt.replace('&', '&amp;')}</next></paging>"
                )
            parts.append("</queryResult>")
            body = "".join(parts).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


SYNC = """
import json, resource, sys, time
from tipwatch.store import Store
from tipwatch.matching.exchanges import configure_list, make_connector, sync_list
db, url, entries = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store.open(db)
configure_list(store, "ncmec", connector="ncmec", config={"base_url": url}, scheme="industry")
connector = make_connector("ncmec", {"base_url": url},
                           {"username": "bench", "password": "bench-password"},
                           now=lambda: float(entries + 1))
started, cpu = time.perf_counter(), time.process_time()
summary = sync_list(store, "ncmec", connector)
spent = time.perf_counter() - started
print(json.dumps({"seconds": spent, "cpu": time.process_time() - cpu,
                  "added": summary.added, "batches": summary.batches,
                  "unknown_tombstones": summary.unknown_tombstones,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IMPORT = """
import json, resource, sys, time
from pathlib import Path
from tipwatch.store import Store
from tipwatch.formats.hashlists import read_hash_csv
from tipwatch.matching.lists import import_list
db, csv = sys.argv[1], Path(sys.argv[2])
store = Store.open(db)
started, cpu = time.perf_counter(), time.process_time()
summary = import_list(store, "file", read_hash_csv(csv), version="1", fmt="csv",
                      scheme="industry")
spent = time.perf_counter() - started
print(json.dumps({"seconds": spent, "cpu": time.process_time() - cpu, "added": summary.added,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(script: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    entries = args.entries
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=serve, args=(entries, ports), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            csv = Path(folder) / "same.csv"
            with csv.open("w") as fh:
                fh.write("hash_type,hash,category\n")
                for n in range(1, entries + 1):
                    if n % 100:
                        fh.write(f"md5,{md5_of(n)},A1\nsha1,{sha1_of(n)},A1\n")
            baseline = _run(IMPORT, str(Path(folder) / "file.db"), str(csv))
            synced = _run(SYNC, str(Path(folder) / "sync.db"), url, str(entries))
    finally:
        server.terminate()
    print(
        json.dumps(
            {
                "entries": entries,
                "hashes": synced["added"],
                "machine": platform.machine(),
                "cpus": multiprocessing.cpu_count(),
                "file_import_seconds": round(baseline["seconds"], 1),
                "file_import_cpu_seconds": round(baseline["cpu"], 1),
                "file_import_peak_mib": round(baseline["peak_mib"]),
                "sync_seconds": round(synced["seconds"], 1),
                "sync_cpu_seconds": round(synced["cpu"], 1),
                "sync_peak_mib": round(synced["peak_mib"]),
                "sync_pages": synced["batches"],
                "sync_vs_file_import_time": round(synced["seconds"] / baseline["seconds"], 2),
                "ru_maxrss_self_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                ),
                "peak_under_300_mib": synced["peak_mib"] < 300,
            }
        )
    )


if __name__ == "__main__":
    main()
